// Measures what the payload code buys: frame success (all 64 payload bits + CRC right) of the
// K=7 rate-1/2 convolutional code with soft Viterbi against sending the same 80 information bits
// uncoded with the same total energy (each bit repeated over 172/80 of the symbol energy), over
// an additive white Gaussian noise channel. Prints the symbol SNR each needs for 95% success.
// Run: node bench/ecc.mjs
import { convEncode, infoBits, viterbi, checkInfo, CODED_BITS, INFO_BITS } from '../dist/payload.js';
import { gaussian } from './attacks.mjs';

const g = gaussian(99);
const TRIALS = 2000;
function success(sigma, coded) {
  let ok = 0;
  for (let t = 0; t < TRIALS; t++) {
    const bytes = Uint8Array.from({ length: 8 }, () => (Math.abs(g()) * 1e6) & 255);
    if (coded) {
      const soft = Array.from(convEncode(infoBits(bytes)), (b) => (b ? 1 : -1) + sigma * g());
      const out = checkInfo(viterbi(soft));
      if (out.crcOk && out.bytes.every((b, i) => b === bytes[i])) ok++;
    } else {
      const amp = Math.sqrt(CODED_BITS / INFO_BITS);
      if (Array.from(infoBits(bytes)).every((b) => ((b ? amp : -amp) + sigma * g() > 0) === !!b)) ok++;
    }
  }
  return ok / TRIALS;
}
const needed = (coded) => {
  for (let db = -4; db <= 12; db += 0.25) {
    const sigma = Math.pow(10, -db / 20);
    if (success(sigma, coded) >= 0.95) return db;
  }
  return NaN;
};
const c = needed(true), u = needed(false);
console.log(`coded symbol SNR for 95% frames: ${c.toFixed(2)} dB; uncoded (same energy): ${u.toFixed(2)} dB; gain ${(u - c).toFixed(2)} dB`);
