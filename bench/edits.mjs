// `node bench/edits.mjs`: exact-payload recovery of the classical mark on every shared photo
// under the other edits of bench/attacks.mjs (EDIT_ATTACKS: blur, median, sharpening, strong
// noise, colour changes, overlaid captions and a badge, and chains of them with JPEG), with the
// full search on, detection times and the margin (sum of -log10 p over the photos found).
// Prints Markdown. `--only NAME` (repeatable substring) restricts the attacks.
import { EDIT_ATTACKS } from './attacks.mjs';
import { attackTable, measureAttacks } from './measure.mjs';
import { samplePhotos } from './photos.mjs';

export const measureEdits = (photos, names = Object.keys(EDIT_ATTACKS)) => measureAttacks(photos, EDIT_ATTACKS, names);

if (import.meta.url === `file://${process.argv[1]}`) {
  const only = process.argv.flatMap((a, i) => (process.argv[i - 1] === '--only' ? [a] : []));
  const names = Object.keys(EDIT_ATTACKS).filter((n) => !only.length || only.some((o) => n.includes(o)));
  const photos = await samplePhotos();
  console.log(attackTable(await measureEdits(photos, names), photos.length));
}
