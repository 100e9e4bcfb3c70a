// Build the package when build/ or dist/ is missing or older than its sources; used before
// `npm run demo`, `npm run bench` and `npm run measure`. Exits non-zero when the build fails.

import { buildIfStale } from './build-if-stale.mjs';

const { ok } = buildIfStale();
if (!ok) process.exit(1);
