// The same computation in Node and in a browser page (test/plugin-canvas.test.mjs): the p-value
// functions detect() and combineEvidence() use, and src/libm.ts, over fixed arguments (made with
// arithmetic only, so both sides start from the same bits). Any engine's Math.exp, log, sin, ...
// may round differently in the last place; what these return must not.

/**
 * { name: [results] } over a few thousand arguments each.
 * @example
 * mathSweeps({ normalUpperTail, studentUpperTail }, libm).normalUpperTail.length; // 4601
 */
export function mathSweeps({ normalUpperTail, studentUpperTail }, libm) {
  const range = (from, to, step) => Array.from({ length: Math.round((to - from) / step) + 1 }, (_, i) => from + i * step);
  const out = {
    normalUpperTail: range(-6, 40, 0.01).map(normalUpperTail),
    studentUpperTail: range(-12, 12, 0.01).flatMap((t) => [studentUpperTail(t, 31), studentUpperTail(t, 7)]),
  };
  if (libm) {
    const x = range(-40, 40, 0.0173);
    Object.assign(out, {
      exp: x.map((v) => libm.exp(v * 18)),
      log: x.map((v) => libm.log((v + 40.5) * 1.37)),
      log1p: x.map((v) => libm.log1p(-(v + 40) / 80.1)),
      sin: x.map(libm.sin),
      cos: x.map(libm.cos),
      atan2: x.map((v, i) => libm.atan2(v, ((i * 7919) % 201) - 100.5)),
    });
  }
  return out;
}
