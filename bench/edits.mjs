// `node bench/edits.mjs`: exact-payload recovery of the classical mark on every shared photo
// under the other edits of bench/attacks.mjs (EDIT_ATTACKS: blur, median, sharpening, strong
// noise, colour changes, overlaid captions and a badge, and chains of them with JPEG), with the
// full search on, detection times and the margin (sum of -log10 p over the photos found).
// Prints Markdown. `--only NAME` (repeatable substring) restricts the attacks, PHOTOS=a.png,b.jpg
// (names in ../shared/photos/) the photos.
import { EDIT_ATTACKS } from './attacks.mjs';
import { attackTableMain, measureAttacks } from './measure.mjs';

export const measureEdits = (photos, names = Object.keys(EDIT_ATTACKS)) => measureAttacks(photos, EDIT_ATTACKS, names);

if (import.meta.url === `file://${process.argv[1]}`) await attackTableMain(EDIT_ATTACKS);
