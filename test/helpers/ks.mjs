// The Kolmogorov-Smirnov check of p-value honesty shared by the false-positive and evidence
// suites.

/** Kolmogorov-Smirnov distance of a sample from the uniform distribution on [0, 1]. */
export function ksUniform(ps) {
  const s = [...ps].sort((a, b) => a - b);
  let d = 0;
  for (let i = 0; i < s.length; i++) d = Math.max(d, (i + 1) / s.length - s[i], s[i] - i / s.length);
  return d;
}

/** Critical value of D at significance 0.001: 1.95 / sqrt(n). */
export const ksBound = (n) => 1.95 / Math.sqrt(n);
