// One of several processes racing to take manifest locks (test/batch.test.mjs): for each round r
// it waits until START + r * PERIOD ms (epoch), then calls takeLock on ROOT/r/m.json, whose
// lock was planted stale (a dead process's id). A lock taken is kept (never released) until this
// process ends, so two processes that both take one round's lock both hold it at once. Prints the
// rounds whose lock it took, as JSON, then stays until its standard input ends (while other racers
// are still at their last rounds, its locks are not a dead process's).
import { takeLock } from '../../dist/node/batch.js';

const [root, rounds, start, period] = process.argv.slice(2);
const held = [];
const errors = {};
for (let r = 0; r < Number(rounds); r++) {
  const wait = Number(start) + r * Number(period) - Date.now();
  if (wait > 0) await new Promise((ok) => setTimeout(ok, wait));
  try {
    await takeLock(`${root}/${r}/m.json`);
    held.push(r);
  } catch (err) {
    const kind = /using the manifest|keeps taking it/.test(err.message) ? 'refused' : err.message;
    errors[kind] = (errors[kind] ?? 0) + 1;
  }
}
process.stdout.write(JSON.stringify({ pid: process.pid, held, errors }) + '\n');
process.stdin.resume().on('end', () => process.exit(0));
