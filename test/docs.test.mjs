// The public API's documentation: every function and class that a package entry (package.json
// "exports") offers carries a JSDoc @example, as the brief asks (sharp's style). Read from the
// built declarations with TypeScript's compiler API, following re-exports to where each value
// is declared; type-only exports are not values and are left out.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(ROOT + 'package.json', 'utf8'));
const entries = Object.entries(pkg.exports)
  .filter(([, v]) => typeof v === 'object' && v.types)
  .map(([name, v]) => ({ name, types: ROOT + v.types.replace(/^\.\//, '') }));

/** Names of the callable values an entry exports whose declaration has no @example. */
function missingExamples(program, file) {
  const checker = program.getTypeChecker();
  const mod = checker.getSymbolAtLocation(program.getSourceFile(file));
  const missing = [];
  for (const sym of checker.getExportsOfModule(mod)) {
    const spec = sym.declarations?.[0];
    if (spec && (spec.isTypeOnly || spec.parent?.parent?.isTypeOnly)) continue; // export type { ... }
    const real = sym.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(sym) : sym;
    if (!(real.flags & (ts.SymbolFlags.Function | ts.SymbolFlags.Class | ts.SymbolFlags.Variable))) continue;
    const decl = real.declarations?.[0];
    if (!decl) continue;
    if (!(real.flags & (ts.SymbolFlags.Function | ts.SymbolFlags.Class))) {
      const type = checker.getTypeOfSymbolAtLocation(real, decl);
      if (!type.getCallSignatures().length && !type.getConstructSignatures().length) continue; // a constant
    }
    if (!real.getJsDocTags(checker).some((t) => t.name === 'example')) missing.push(sym.name);
  }
  return missing;
}

test('the package has entries to check (package.json exports with types)', () => {
  assert.ok(entries.length >= 10, JSON.stringify(entries.map((e) => e.name)));
});

const program = ts.createProgram(entries.map((e) => e.types), { noEmit: true, skipLibCheck: true });
for (const { name, types } of entries) {
  test(`every function and class exported by '${name}' has an @example in its JSDoc`, () => {
    const missing = missingExamples(program, types);
    assert.equal(missing, [], `${name}: no @example on ${missing.join(', ')}`);
  });
}

test('the check sees a missing @example (a declaration without one)', () => {
  const file = '/virtual/entry.d.ts';
  const text = '/** Documented.\n * @example\n * a()\n */\nexport declare function a(): void;\n/** Not. */\nexport declare function b(): void;\nexport declare const c = 3;\nexport declare class D {}\n';
  const host = ts.createCompilerHost({ noEmit: true });
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (f, lang) => (f === file ? ts.createSourceFile(f, text, lang, true) : getSourceFile(f, lang));
  host.fileExists = ((exists) => (f) => f === file || exists(f))(host.fileExists.bind(host));
  const p = ts.createProgram([file], { noEmit: true }, host);
  assert.equal(missingExamples(p, file), ['b', 'D']);
});

// ---- The parameters README.md and docs/*.md state, pinned to the code that implements them ----
// A change to one of these constants fails here, so the docs are changed with it.

const readme = readFileSync(ROOT + 'README.md', 'utf8');
const doc = (name) => readFileSync(ROOT + 'docs/' + name, 'utf8');

test('README API: the defaults it states (strength 1, threshold 1e-6, 100 megapixels, 32:1 up to 128:1, 128 px to embed, 48 to detect) and the option names it lists', async () => {
  const lib = await import('../dist/index.js');
  assert.equal(lib.checkWatermarkerOptions({ key: 'k' }), { strength: 1, threshold: 1e-6, maxPixels: 100_000_000, maxAspect: 32 });
  assert.equal([lib.DEFAULT_THRESHOLD, lib.DEFAULT_MAX_PIXELS, lib.DEFAULT_MAX_ASPECT, lib.MAX_ASPECT_LIMIT, lib.MIN_SIDE, lib.MIN_DETECT_SIDE], [1e-6, 100_000_000, 32, 128, 128, 48]);
  // "createWatermarker({ key: 'my secret key' });   // strength?, threshold?, ..., module?"
  const line = /createWatermarker\(\{ key: 'my secret key' \}\);\s*\/\/ ([^\n]+)/.exec(readme);
  assert.ok(line, 'README shows createWatermarker with its optional options');
  const listed = line[1].split(',').map((o) => o.trim().replace(/\?$/, ''));
  assert.equal(['key', ...listed].sort(), [...lib.WATERMARKER_OPTION_NAMES].sort());
  assert.equal(lib.REFERENCE_PATTERNS, 63);
});

test('README API: every ModelmarkError code is in its list of codes (ERR_INTERNAL, a batch record\'s, is not a ModelmarkError\'s)', () => {
  const union = readFileSync(ROOT + 'dist/errors.d.ts', 'utf8').match(/export type (?:ModelmarkErrorCode|ImageSizeCode) = [^;]+;/g).join(' ');
  const codes = new Set(union.match(/'ERR_[A-Z_]+'/g).map((c) => c.slice(1, -1)));
  const start = readme.indexOf('- Every error is a `ModelmarkError`');
  assert.ok(start >= 0);
  const listed = new Set(readme.slice(start, readme.indexOf('\n- ', start + 1)).match(/`ERR_[A-Z_]+`/g).map((c) => c.slice(1, -1)));
  assert.equal([...codes].filter((c) => !listed.has(c)), [], 'codes missing from README');
  assert.equal([...listed].filter((c) => !codes.has(c)), ['ERR_INTERNAL']);
});

test('combineEvidence without a threshold uses 1e-6: a set at p = 5e-6 is not found, and is with { threshold: 1e-5 }', async () => {
  const { combineEvidence } = await import('../dist/index.js');
  const { studentUpperTail } = await import('../dist/stats.js');
  // One image whose 63 references are all 1: spread 1, so t is its score and p = P(T63 >= score).
  let lo = 0, hi = 20;
  for (let i = 0; i < 100; i++) { const mid = (lo + hi) / 2; if (studentUpperTail(mid, 63) > 5e-6) lo = mid; else hi = mid; }
  const e = { score: hi, reference: new Array(63).fill(1) };
  const r = combineEvidence([e]);
  assert.ok(Math.abs(r.pValue / 5e-6 - 1) < 1e-3, String(r.pValue));
  assert.is(r.found, false);
  assert.is(combineEvidence([e], { threshold: 1e-5 }).found, true);
});

test('docs/classical.md layout and code: the band, the tile, the pilot halves, the ECC, the mask, the informed gains, the chroma share, the list decoder\'s weights', async () => {
  const { init } = await import('../dist/index.js');
  await init();
  const scheme = await import('../dist/scheme.js');
  const payload = await import('../dist/payload.js');
  const stats = await import('../dist/stats.js');
  const informed = await import('../dist/informed.js');
  // "Sixteen coefficients per block ... (u, v) with 1 <= sqrt(u^2 + v^2) <= 4"
  const band = [];
  for (let v = 0; v < 8; v++) for (let u = 0; u < 8; u++) { const r = Math.hypot(u, v); if (r >= 1 && r <= 4) band.push(v * 8 + u); }
  assert.equal([...scheme.BAND].sort((a, b) => a - b), band);
  assert.equal([scheme.FRAME, scheme.TILE * 8, scheme.NSLOTS, scheme.NPILOT, payload.CODED_BITS], [256, 64, 1024, 192, 172]);
  // "3/16 of the slots to a pilot (half A, 64 slots, and half B, 128 slots) ... 4 or 5 slots each"
  const { code } = scheme.makeLayout(new Uint32Array([1, 2, 3, 4, 5, 6, 7, 8]));
  const count = new Map();
  for (const c of code) count.set(c, (count.get(c) ?? 0) + 1);
  assert.is(count.get(scheme.PILOT), 64);
  assert.is(count.get(scheme.PILOT_B) + count.get(scheme.PILOT_B2), 128);
  for (let c = 0; c < scheme.PILOT; c++) assert.ok(count.get(c) === 4 || count.get(c) === 5, `bit ${c}: ${count.get(c)} slots`);
  // "64 bits + CRC-16/CCITT-FALSE ..., K = 7 rate-1/2 convolutional code (133, 171)": the
  // encoder's impulse response is the two generators, bit by bit; "the 8 best paths".
  assert.is(payload.INFO_BITS, 80);
  const impulse = payload.convEncode(Uint8Array.from({ length: 80 }, (_, i) => (i === 0 ? 1 : 0)));
  for (let i = 0; i < 7; i++) assert.equal([impulse[2 * i], impulse[2 * i + 1]], [(0o133 >> i) & 1, (0o171 >> i) & 1], `tap ${i}`);
  assert.is(payload.LIST_SIZE, 8);
  // "w(1) = 1.25 ... (w(2) = 17.2, w(8) = 68.7)"; "q = 2^-16"
  assert.equal([stats.rankWeight(1, 8), +stats.rankWeight(2, 8).toFixed(1), +stats.rankWeight(8, 8).toFixed(1)], [1.25, 17.2, 68.7]);
  assert.is(stats.CRC_CHANCE, 2 ** -16);
  // "mask = clamp(((act + 4) / 60)^0.35, 0.55, 1.85)", "mask / (local power + 2)", "gain = clamp(1 - b h / R, 0.5, 3)"
  assert.equal(scheme.MASK, { a0: 4, aref: 60, gamma: 0.35, lo: 0.55, hi: 1.85, p0: 2 });
  assert.equal([informed.LAMBDA, informed.G_MIN, informed.G_MAX], [1, 0.5, 3]);
  // "92% of its squared error on Y and 8% on Cb, everything at 0.9 ... 0.863, 0.779 and 1.296"
  assert.equal([scheme.LUMA_SHARE, scheme.CHROMA_AMP], [0.92, 0.9]);
  assert.equal(scheme.channelGains(3).rgb.map((k) => +k.toFixed(3)), [0.863, 0.779, 1.296]);
  assert.is(scheme.channelGains(1), undefined);
  const text = doc('classical.md');
  for (const s of ['64 slots', '128 slots', '172 coded bits', 'w(1) = 1.25', '0.863, 0.779 and 1.296', '63 reference patterns']) assert.ok(text.includes(s), s);
});

test('docs/geometry.md: the search\'s thresholds and its candidate count m (19 grey, 20 colour; 21 and 24 with two neighbour frames)', async () => {
  const sync = await import('../dist/sync.js');
  assert.equal([sync.COMB_MIN_Z, sync.REFINE_MIN, sync.ASPECT_MIN_SCORE], [6.5, 2.5, 4]);
  assert.is(sync.orientations(448, 256).length, 7);
  // As watermarker.ts counts them: the canonical frames (twice in colour), the 7 views, the
  // aspect search's decode, and each lattice (4 pairs and the comb's) located then refined.
  const m = (frames, colour) => frames * (colour ? 2 : 1) + 7 + sync.ASPECT_DECODES + (sync.SEARCH_LATTICES + sync.COMB_LATTICES) * sync.DECODES_PER_LATTICE;
  assert.equal([m(1, false), m(1, true), m(3, false), m(3, true)], [19, 20, 21, 24]);
  const text = doc('geometry.md');
  for (const s of ['m = 19', 'm =\n  20', 'up to 21 and 24', 'z is 6.5 or more', 'at 2.5 or more', 'scores 4 or more']) assert.ok(text.includes(s), JSON.stringify(s));
});

test('README and docs/geometry.md: detect\'s per-call options shown (one example each), --pieces in the CLI line, and the Pieces section\'s windows and candidate count', async () => {
  const { DETECT_OPTION_NAMES, WINDOW_CANDIDATES, candidateCount } = await import('../dist/watermarker.js');
  const { pieceWindows, PIECE_FRACTION, MAX_BOXES } = await import('../dist/pieces.js');
  for (const name of DETECT_OPTION_NAMES) assert.match(readme, new RegExp(`wm\\.detect\\(image, \\{ ${name}: (true|false) \\}\\)`), name);
  assert.ok(readme.includes('`detect IN [--threshold P] [--pieces | --all-pieces] [--map OUT.png] [--json]`'));
  assert.ok(readme.includes("wm.detect(image, { pieces: 'all' })"));
  const text = doc('geometry.md');
  assert.ok(text.includes('### Pieces: a marked photo inside a larger image'));
  // 60% of each side, a 3 x 3 grid; m for a 1920 x 1080 colour image, with and without the search.
  const windows = pieceWindows(1920, 1080);
  assert.is(PIECE_FRACTION, 0.6);
  assert.equal([windows.length, windows[0].width, windows[0].height], [9, 1152, 648]);
  const whole = candidateCount(1920, 1080, true, true), inPlace = candidateCount(1920, 1080, true, false);
  assert.equal([whole, WINDOW_CANDIDATES, inPlace], [20, 10, 2]);
  assert.is(MAX_BOXES, 2);
  const reads = 9 + MAX_BOXES, m = whole + reads * WINDOW_CANDIDATES;
  for (const s of ['60%\nof each side', `(9 + 2) × ${WINDOW_CANDIDATES}`, `${whole} +\n${reads} × ${WINDOW_CANDIDATES} = ${m}`, `${inPlace} + ${reads} ×\n${WINDOW_CANDIDATES} = ${inPlace + reads * WINDOW_CANDIDATES}`, `(0.016 for m = ${m})`, `${m / whole} times its p-value`, `adds its lattice search's ${WINDOW_CANDIDATES} decodes`]) assert.ok(text.includes(s), JSON.stringify(s));
  assert.is(Math.round(m * 8 * 2 ** -16 * 1000) / 1000, 0.016);
  // pieces: 'all': its second reading is one more family of the boxes' and windows' candidates.
  const { MAX_PIECES } = await import('../dist/pieces.js');
  for (const s of [`at most ${reads * WINDOW_CANDIDATES} / ${m} of the threshold`, `of at most ${reads * WINDOW_CANDIDATES} candidates`, `At most ${MAX_PIECES} pieces are listed`]) assert.ok(text.includes(s), JSON.stringify(s));
  // Under the 48-pixel minimum, no window: 79 pixels a side reads none, 80 reads nine of 48.
  assert.equal([pieceWindows(79, 79).length, pieceWindows(80, 80).length], [0, 9]);
});

test('docs/deep.md: the networks as its table gives them (parameters 52 k, 52 k, 14 k; 3x3 convolutions but D\'s last; linear only at the outputs and in R\'s residual blocks)', async () => {
  const { buildH, buildR, buildD, parameterShapes, LRELU_ALPHA } = await import('../dist/deep/spec.js');
  const table = doc('deep.md');
  assert.is(LRELU_ALPHA, 0.2);
  for (const [name, net] of [['H', buildH()], ['R', buildR()], ['D', buildD()]]) {
    const params = parameterShapes(net).reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 1), 0);
    const row = new RegExp(`^\\| ${name} \\|.*\\| (\\d+) k \\|$`, 'm').exec(table);
    assert.ok(row, `docs/deep.md has a row for ${name}`);
    assert.is(Math.round(params / 1000), Number(row[1]), `${name}: ${params} parameters`);
    const convs = net.nodes.filter((n) => n.op === 'conv');
    const last = convs[convs.length - 1];
    for (const c of convs) assert.is(c.k, name === 'D' && c === last ? 1 : 3, `${name} ${c.out}`);
    const linear = convs.filter((c) => c.act === 'linear');
    assert.ok(linear.includes(last), `${name}'s last convolution is linear`);
    // R: two residual blocks, whose second convolution is linear; nothing else is.
    assert.is(linear.length, name === 'R' ? 3 : 1, `${name}: ${linear.map((c) => c.out)}`);
    assert.ok(convs.every((c) => c.act === 'linear' || c.act === 'lrelu'));
  }
  assert.ok(table.includes('0.1·tanh') && buildH().nodes.some((n) => n.op === 'scaledTanh' && n.scale === 0.1));
  const meta = JSON.parse(readFileSync(ROOT + 'models/deep.json', 'utf8'));
  assert.equal([meta.workSize, meta.tile, meta.logoSize, meta.threshold], [256, 64, 32, 0.563]);
  assert.ok(table.includes('threshold 0.563') && readme.includes('threshold of 0.563'));
});

test.run();
