// Measures what the payload code buys: frame success (all 64 payload bits + CRC right) of the
// K=7 rate-1/2 convolutional code, decoded by soft Viterbi and by the list decoder the detector
// uses (the best 1, 2, 4, 8, 16 paths checked against the CRC, in WebAssembly), against sending
// the same 80 information bits uncoded with the same total energy (each bit repeated over
// 172/80 of the symbol energy), over an additive white Gaussian noise channel. Prints the
// symbol SNR each needs for 95% success (steps of 0.25 dB), and how often a list decoder
// returns a wrong payload with a valid CRC there.
// Run: node bench/ecc.mjs [--trials N]
import { parseArgs } from 'node:util';
import { init } from '../dist/index.js';
import { Arena } from '../dist/wasm.js';
import { convEncode, infoBits, viterbi, checkInfo, decodePayload, CODED_BITS, INFO_BITS } from '../dist/payload.js';
import { gaussian } from './attacks.mjs';

const { values } = parseArgs({ options: { trials: { type: 'string' } } });
const TRIALS = Number(values.trials ?? 2000);
const k = await init();
const g = gaussian(99);

/** Success rate and wrong-payload rate at noise sigma: list size L (0 = uncoded). */
function success(sigma, L) {
  let ok = 0, wrong = 0;
  const a = new Arena(k);
  try {
    for (let t = 0; t < TRIALS; t++) {
      const bytes = Uint8Array.from({ length: 8 }, () => (Math.abs(g()) * 1e6) & 255);
      if (L === 0) {
        const amp = Math.sqrt(CODED_BITS / INFO_BITS);
        if (Array.from(infoBits(bytes)).every((b) => ((b ? amp : -amp) + sigma * g() > 0) === !!b)) ok++;
        continue;
      }
      const soft = Float64Array.from(convEncode(infoBits(bytes)), (b) => (b ? 1 : -1) + sigma * g());
      const out = L === 1 ? checkInfo(viterbi(soft)) : decodePayload(a, soft, L);
      if (out.crcOk && out.bytes.every((b, i) => b === bytes[i])) ok++;
      else if (out.crcOk) wrong++;
    }
  } finally { a.release(); }
  return { ok: ok / TRIALS, wrong: wrong / TRIALS };
}
const needed = (L) => {
  for (let db = -4; db <= 12; db += 0.25) {
    const s = success(Math.pow(10, -db / 20), L);
    if (s.ok >= 0.95) return { db, wrong: s.wrong };
  }
  return { db: NaN, wrong: NaN };
};
const u = needed(0).db;
console.log(`${TRIALS} frames of 80 bits per point; symbol SNR for 95% exact frames:`);
console.log(`  uncoded (same energy): ${u.toFixed(2)} dB`);
for (const L of [1, 2, 4, 8, 16]) {
  const c = needed(L);
  console.log(`  ${L === 1 ? 'Viterbi (best path)' : `list of ${L} + CRC`}: ${c.db.toFixed(2)} dB, gain ${(u - c.db).toFixed(2)} dB; wrong payloads with a valid CRC there: ${(c.wrong * 100).toFixed(2)}%`);
}
