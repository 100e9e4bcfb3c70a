// `node bench/geometry.mjs`: exact-payload recovery of the classical mark on every shared photo
// under the geometric attacks of bench/attacks.mjs (issue 3), with detection times and a margin:
// the sum of -log10 p over the photos found (a change that keeps the counts can still move it).
// Prints Markdown. `--only NAME` (repeatable substring) restricts the attacks, PHOTOS=a.png,b.jpg
// (names in ../shared/photos/) the photos.
import { GEOMETRIC_ATTACKS } from './attacks.mjs';
import { attackTableMain, measureAttacks } from './measure.mjs';

export const measureGeometry = (photos, names = Object.keys(GEOMETRIC_ATTACKS)) => measureAttacks(photos, GEOMETRIC_ATTACKS, names);

if (import.meta.url === `file://${process.argv[1]}`) await attackTableMain(GEOMETRIC_ATTACKS);
