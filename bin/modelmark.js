#!/usr/bin/env node
// The modelmark command line; the implementation is src/cli/main.ts (built into dist/).
process.stdout.on('error', (err) => {
  // A closed pipe (e.g. `modelmark detect x.jpg | head -c1`) is not an error worth reporting.
  if (err.code !== 'EPIPE') throw err;
});

let main;
try {
  ({ main } = await import('../dist/cli/main.js'));
} catch (err) {
  process.stderr.write(`modelmark: cannot load dist/cli/main.js (${err.message}); run "npm run build" first\n`);
  process.exit(2);
}
try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`modelmark: ${err?.message ?? err}\n`);
  process.exitCode = 2;
}
