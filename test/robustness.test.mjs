// Issue 2's quality and robustness thresholds, measured on every real photo in ../shared/photos/.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CLASSICAL_ATTACKS } from '../bench/attacks.mjs';
import { measure } from '../bench/measure.mjs';
import { photoPaths, samplePhotos } from '../bench/photos.mjs';

const photos = await samplePhotos();
// The AVIF attacks (bench/attacks.mjs AVIF_ATTACKS) are measured by `npm run measure`, not here: seconds a photo.
const { summary } = await measure(photos, { attacks: ['none', ...CLASSICAL_ATTACKS] });
const pct = (x) => `${(100 * x).toFixed(1)}%`;

test('the shared photos are all there (27, see SOURCES.md)', () => {
  assert.ok(photoPaths().length >= 27, `found ${photoPaths().length} photos`);
});

test('quality at the default strength: PSNR >= 42 dB mean, >= 38 dB worst; SSIM >= 0.985 mean', () => {
  assert.ok(summary.psnrMean >= 42, `PSNR mean ${summary.psnrMean.toFixed(2)} dB`);
  assert.ok(summary.psnrMin >= 38, `PSNR worst ${summary.psnrMin.toFixed(2)} dB`);
  assert.ok(summary.ssimMean >= 0.985, `SSIM mean ${summary.ssimMean.toFixed(4)}`);
});

test('exact 64-bit payload on 100% of photos with no attack', () => {
  assert.equal(summary.failures.none, [], `failed: ${summary.failures.none.join(', ')}`);
});

for (const attack of CLASSICAL_ATTACKS) {
  test(`exact payload on >= 95% of photos after ${attack}`, () => {
    assert.ok(summary.recovery[attack] >= 0.95, `${pct(summary.recovery[attack])}; failed: ${summary.failures[attack].join(', ')}`);
  });
}

test.run();
