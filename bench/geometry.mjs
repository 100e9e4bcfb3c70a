// `node bench/geometry.mjs`: exact-payload recovery of the classical mark on every shared photo
// under the geometric attacks of bench/attacks.mjs (issue 3), with detection times and a margin:
// the sum of -log10 p over the photos found (a change that keeps the counts can still move it).
// Prints Markdown. `--only NAME` (repeatable substring) restricts the attacks.
import { GEOMETRIC_ATTACKS } from './attacks.mjs';
import { attackTable, measureAttacks } from './measure.mjs';
import { samplePhotos } from './photos.mjs';

export const measureGeometry = (photos, names = Object.keys(GEOMETRIC_ATTACKS)) => measureAttacks(photos, GEOMETRIC_ATTACKS, names);

if (import.meta.url === `file://${process.argv[1]}`) {
  const only = process.argv.flatMap((a, i) => (process.argv[i - 1] === '--only' ? [a] : []));
  const names = Object.keys(GEOMETRIC_ATTACKS).filter((n) => !only.length || only.some((o) => n.includes(o)));
  const photos = await samplePhotos();
  console.log(attackTable(await measureGeometry(photos, names), photos.length));
}
