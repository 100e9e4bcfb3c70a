// README.md's examples, run as a new user runs them. test/types.test.mjs compiles the
// TypeScript/JS snippets; this runs them. The `sh` blocks of the CLI section (and the deep
// mark's CLI lines) go line by line through bash, in a fresh folder outside the repository, with
// `modelmark` on PATH as the repository's bin/modelmark.js and the README's placeholder files
// (photo.jpg, photos/, screenshot.png, ...) made from the real photos by the PLACEHOLDERS table;
// each command's exit status, the files it names as outputs and the JSON it is shown printing
// (a `# {...}` line under it: keys present, booleans and strings as shown) are checked. The Node
// JS blocks run as ES modules (top-level await) with their free names (image, images, wm, ...)
// filled in by JS_BLOCKS. A README block that nothing here classifies fails the test: add it to
// a table, so that a new example is run (or its reason not to be is written down).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PHOTOS = path.join(ROOT, '..', 'shared', 'photos');
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'modelmark-readme-'));
const photo = (name) => path.join(PHOTOS, name);
const MATE = fs.readdirSync(PHOTOS).filter((f) => /^mate-.*\.jpg$/.test(f)).sort();

// ---- Reading the README ----

/** Every fenced block: { lang, code, line, section } (section: the `## ` heading above it). */
function fencedBlocks(markdown) {
  const out = [];
  let section = '';
  let open = null;
  markdown.split('\n').forEach((text, i) => {
    const fence = /^( *)```(\w*)\s*$/.exec(text);
    if (open) {
      if (fence && fence[1].length === open.indent && !fence[2]) { out.push({ lang: open.lang, code: open.lines.join('\n'), line: open.line, section }); open = null; }
      else open.lines.push(text.slice(open.indent));
    } else if (fence) open = { indent: fence[1].length, lang: fence[2], line: i + 1, lines: [] };
    else if (/^## /.test(text)) section = text.slice(3).trim();
  });
  return out;
}

/** A shell line without its trailing comment (a `#` that starts a word outside quotes). */
function stripComment(line) {
  let quote = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) { if (c === quote) quote = null; }
    else if (c === "'" || c === '"') quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]))) return line.slice(0, i).trimEnd();
  }
  return line.trimEnd();
}

/** Commands of an sh block: { cmd, comment, shown: [JSON sketches on `# {` lines below it] }. */
function shCommands(code) {
  const cmds = [];
  for (const raw of code.split('\n')) {
    const t = raw.trim();
    if (!t) continue;
    if (t.startsWith('#')) {
      const sketch = t.slice(1).trim();
      if (sketch.startsWith('{') && cmds.length) cmds.at(-1).shown.push(sketch);
      continue;
    }
    const cmd = stripComment(raw);
    cmds.push({ cmd, comment: raw.slice(cmd.length).replace(/^\s*#\s*/, ''), shown: [] });
  }
  return cmds;
}

/**
 * The README's sketch of a JSON value as an object: `{...}` is any object, `...` leaves out keys,
 * a JS sketch's unquoted keys, 'strings' and bare names (`score,`: any value) are accepted.
 */
function parseSketch(text) {
  let s = text.trim()
    .replace(/\{\.\.\.\}/g, '{"__any__":1}')
    .replace(/,\s*\.\.\./g, '').replace(/\.\.\.\s*,/g, '')
    .replace(/'([^']*)'/g, (_, v) => JSON.stringify(v))
    .replace(/([{,]\s*)([A-Za-z_$][\w$]*)(?=\s*[,}])/g, '$1"$2":{"__any__":1}') // a bare name
    .replace(/([{,]\s*)([A-Za-z_$][\w$]*)\s*:/g, '$1"$2":');
  return JSON.parse(s);
}

/** Where `actual` differs from the sketch: a missing key, another type, another boolean or string. */
function shapeProblems(sketch, actual, at = '') {
  if (sketch && typeof sketch === 'object' && '__any__' in sketch) return actual === undefined ? [`${at}: missing`] : [];
  if (sketch === null || typeof sketch !== 'object') {
    if (typeof actual !== typeof sketch) return [`${at}: ${JSON.stringify(actual)}, not a ${typeof sketch} like ${JSON.stringify(sketch)}`];
    if (typeof sketch !== 'number' && actual !== sketch) return [`${at}: ${JSON.stringify(actual)}, not ${JSON.stringify(sketch)}`];
    return [];
  }
  if (!actual || typeof actual !== 'object') return [`${at}: ${JSON.stringify(actual)}, not an object`];
  return Object.keys(sketch).flatMap((k) => (k in actual ? shapeProblems(sketch[k], actual[k], `${at}.${k}`) : [`${at}.${k}: missing`]));
}

// ---- What the shell blocks need ----

const sharp = (await import('sharp')).default;
const { readImage, encodeImage, writeImage } = await import('../dist/node/index.js');
const { createWatermarker } = await import('../dist/index.js');

/**
 * The README's placeholder names, made (before the first command that names them) from the real
 * photos. `env` holds the block's exported variables (MODELMARK_KEY).
 */
const PLACEHOLDERS = {
  'photo.jpg': (dir) => fs.copyFileSync(photo('mate-Storm.jpg'), path.join(dir, 'photo.jpg')),
  'photo.png': (dir) => fs.copyFileSync(photo('skimage-astronaut.png'), path.join(dir, 'photo.png')),
  'photos/': (dir) => {
    fs.mkdirSync(path.join(dir, 'photos'));
    for (const f of [...MATE.slice(0, 3), 'skimage-coins.png']) fs.copyFileSync(photo(f), path.join(dir, 'photos', f));
  },
  // What a screenshot of the marked image is: a crop of it, smaller, as PNG.
  'screenshot.png': async (dir) => {
    const src = path.join(dir, 'marked.jpg');
    assert.ok(fs.existsSync(src), 'screenshot.png is made from marked.jpg, which an earlier command writes');
    await sharp(src).extract({ left: 200, top: 100, width: 1200, height: 900 }).resize(960).png().toFile(path.join(dir, 'screenshot.png'));
  },
  // A dataset made from marked images and recompressed hard: the README's case for the pooled
  // evidence (marked at strength 0.25 with the exported key, saved as JPEG q10), none found alone.
  'suspect-dataset/': async (dir, env) => {
    assert.ok(env.MODELMARK_KEY, 'the suspect dataset is marked with the key the README exports');
    const wm = await createWatermarker({ key: env.MODELMARK_KEY, strength: 0.25 });
    fs.mkdirSync(path.join(dir, 'suspect-dataset'));
    for (const f of MATE) {
      const img = await readImage(photo(f));
      await writeImage(path.join(dir, 'suspect-dataset', f), wm.embed(img, 'c0ffee0000000001'), { quality: 10 });
    }
  },
};

/** Lines that need the network, a cloud account or a tool a bare machine may lack: replaced by their local equivalent. */
const SUBSTITUTIONS = [
  { from: 'curl -s https://example.com/in.jpg |', to: 'cat photo.jpg |', why: 'network' },
  { from: 'openssl rand -hex 16 > mm.key', to: `node -e "process.stdout.write(require('node:crypto').randomBytes(16).toString('hex') + '\\n')" > mm.key`, why: 'openssl (a CI machine may not have it): the same 32 hex digits and a newline' },
  { from: '| aws s3 cp - s3://bucket/p.webp', to: '> p.webp', why: 'an AWS account' },
];
/** Lines not run, and why. */
const SKIPPED = [
  { match: /^modelmark train-deep /, why: 'trains for --minutes 60 (test/deep-cli.test.mjs runs short trainings)' },
  { match: /--models my-models$/, why: 'needs the models train-deep writes' },
];
/** Exit statuses other than 0 that a line is documented to give. */
const STATUS = [
  // "detect 0 all found, 1 some not found": none of the suspect files is found alone (pipefail).
  { match: /^modelmark detect suspect-dataset\//, status: 1 },
];
/** Files written by a line, checked by their first bytes. */
const MAGIC = { '.jpg': [0xff, 0xd8, 0xff], '.png': [0x89, 0x50, 0x4e, 0x47], '.webp': [0x52, 0x49, 0x46, 0x46] };

/** The files a command says it writes: embed's OUT, --map, --out, --manifest and `> FILE`. */
function outputsOf(cmd) {
  const words = cmd.split(/\s+/);
  const out = [];
  const embed = words.indexOf('embed');
  if (embed >= 0 && words[1] === 'embed' && words[embed + 2] && words[embed + 2] !== '-') out.push(words[embed + 2]);
  for (const flag of ['--map', '--out', '--manifest', '>']) {
    const i = words.indexOf(flag);
    if (i >= 0 && words[i + 1]) out.push(words[i + 1]);
  }
  return out;
}

const bin = path.join(work, 'bin');
fs.mkdirSync(bin);
fs.symlinkSync(path.join(ROOT, 'bin', 'modelmark.js'), path.join(bin, 'modelmark'));
const used = new Set();

/** Run the sh blocks `blocks` in a new folder, as one user session (exports carry over). */
async function runShell(name, blocks) {
  const dir = path.join(work, name);
  fs.mkdirSync(dir);
  const env = {};
  const ran = [];
  for (const block of blocks) {
    for (const { cmd: written, shown } of shCommands(block.code)) {
      const where = `README.md:${block.line} \`${written}\``;
      const exp = /^export (\w+)=(?:'([^']*)'|"([^"]*)"|(\S*))$/.exec(written);
      if (exp) { env[exp[1]] = exp[2] ?? exp[3] ?? exp[4]; continue; }
      if (SKIPPED.some((s) => s.match.test(written))) continue;
      let cmd = written;
      for (const s of SUBSTITUTIONS) if (cmd.includes(s.from)) { cmd = cmd.replace(s.from, s.to); used.add(s.from); }
      assert.not.match(cmd, /https?:\/\/|\baws\b|wrangler/, `${where} needs the network or an account: add it to SUBSTITUTIONS or SKIPPED`);
      for (const [file, make] of Object.entries(PLACEHOLDERS)) {
        const named = cmd.split(/\s+/).some((w) => w === file || w === file.replace(/\/$/, ''));
        if (named && !fs.existsSync(path.join(dir, file))) await make(dir, env);
      }
      const r = spawnSync('bash', ['-o', 'pipefail', '-c', cmd], {
        cwd: dir, encoding: 'utf8', timeout: 120_000,
        env: { PATH: `${bin}:${process.env.PATH}`, HOME: process.env.HOME ?? dir, NO_COLOR: '1', ...env },
      });
      const status = STATUS.find((s) => s.match.test(cmd))?.status ?? 0;
      assert.is(r.status, status, `${where}: exit ${r.status}, expected ${status}\n${r.stderr}`);
      for (const file of outputsOf(cmd)) {
        const f = path.join(dir, file);
        assert.ok(fs.existsSync(f) && fs.statSync(f).size > 0, `${where} wrote no ${file}`);
        const magic = MAGIC[path.extname(file)];
        if (magic) assert.equal([...fs.readFileSync(f).subarray(0, magic.length)], magic, `${where}: ${file} is not a ${path.extname(file)} file`);
      }
      for (const sketch of shown) {
        const lines = r.stdout.trim().split('\n');
        let actual;
        try { actual = JSON.parse(lines.at(-1)); } catch { assert.unreachable(`${where} is shown printing ${sketch}, but its output's last line is ${lines.at(-1)}`); }
        assert.equal(shapeProblems(parseSketch(sketch), actual), [], `${where} printed ${lines.at(-1)}, not ${sketch}`);
      }
      ran.push(cmd);
    }
  }
  return { dir, ran };
}

const blocks = fencedBlocks(README);
const cliBlocks = blocks.filter((b) => b.lang === 'sh' && b.section === 'CLI');
const deepBlocks = blocks.filter((b) => b.lang === 'sh' && b.section === 'Deep (logo) watermark');

test('the README checker: sketches, comments and shapes are read as written (and a wrong shape is seen)', () => {
  assert.equal(stripComment(`export K='a # b'   # c`), `export K='a # b'`);
  assert.equal(parseSketch('{"a":true,"b":{...},...}'), { a: true, b: { '__any__': 1 } });
  assert.equal(parseSketch("{ count: 27, score, found: true, p: 'x' }"), { count: 27, score: { '__any__': 1 }, found: true, p: 'x' });
  assert.equal(parseSketch('{"summary":{...,"n":0,"e":{"t":8.3,...}}}'), { summary: { n: 0, e: { t: 8.3 } } });
  const sketch = parseSketch('{"found":true,"payload":"c0ffee","pValue":1e-9,"transform":{...}}');
  assert.equal(shapeProblems(sketch, { found: true, payload: 'c0ffee', pValue: 0.5, transform: {}, extra: 1 }), []);
  assert.equal(shapeProblems(sketch, { found: false, payload: 'c0ffee', pValue: '1', transform: null }),
    ['.found: false, not true', '.pValue: "1", not a number like 1e-9']);
  assert.equal(shapeProblems(sketch, { found: true, payload: 'c0ffee', pValue: 1 }), ['.transform: missing']);
  assert.equal(outputsOf('modelmark embed photo.jpg - --payload 1 --format webp > p.webp'), ['p.webp']);
  assert.equal(outputsOf('modelmark detect x.png --map where.png'), ['where.png']);
});

test('README CLI section: every sh command runs (exit status, outputs, JSON shown)', async () => {
  assert.ok(cliBlocks.length >= 2, `${cliBlocks.length} sh blocks under ## CLI`);
  const { dir, ran } = await runShell('cli', cliBlocks);
  assert.ok(ran.length >= 10, `only ${ran.length} commands ran:\n${ran.join('\n')}`);
  for (const s of SUBSTITUTIONS) assert.ok(used.has(s.from), `no README line has "${s.from}" any more: update SUBSTITUTIONS`);
  // The marks the commands made are there (what "found" above meant).
  const { createWatermarker: create } = await import('../dist/index.js');
  const wm = await create({ key: 'my secret key' });
  assert.is(wm.detect(await readImage(path.join(dir, 'marked.jpg'))).payload, 'c0ffee00deadbeef');
  assert.is(wm.detect(await readImage(path.join(dir, 'p.webp'))).payload, 'c0ffee00deadbeef');
  assert.is(fs.readdirSync(path.join(dir, 'marked')).filter((f) => !f.startsWith('.')).length, 4);
});

test('README deep mark: its CLI lines run (embed --deep, extract --json), train-deep left out', async () => {
  assert.ok(deepBlocks.length >= 1);
  const { ran } = await runShell('deep', deepBlocks);
  assert.equal(ran.map((c) => c.split(' ').slice(0, 2).join(' ')), ['modelmark embed', 'modelmark extract']);
});

// ---- The JS blocks ----

const js = path.join(work, 'js');
fs.mkdirSync(path.join(js, 'node_modules'), { recursive: true });
fs.writeFileSync(path.join(js, 'package.json'), JSON.stringify({ type: 'module', private: true }));
fs.symlinkSync(ROOT, path.join(js, 'node_modules', 'modelmark'));
for (const n of fs.readdirSync(path.join(ROOT, 'node_modules'))) if (!n.startsWith('.')) fs.symlinkSync(path.join(ROOT, 'node_modules', n), path.join(js, 'node_modules', n));
for (const [name, src] of [['photo.jpg', 'mate-Storm.jpg'], ['in.png', 'skimage-astronaut.png'], ['a.jpg', MATE[0]], ['b.jpg', MATE[1]], ['c.jpg', MATE[2]]]) fs.copyFileSync(photo(src), path.join(js, name));

const PHOTO = JSON.stringify(photo('mate-Storm.jpg'));
const print = (expr) => `\nconsole.log(JSON.stringify(${expr}, (k, v) => (typeof v === 'bigint' ? String(v) : ArrayBuffer.isView(v) ? v.length : v)));\n`;

/**
 * Each Node JS block of the README, found by a string in it: what its free names are bound to
 * (`before`), what it leaves to look at (`after`, printed as JSON) and the check of that.
 * Browser-only blocks name the Chromium test that runs the same code.
 */
const JS_BLOCKS = [
  {
    name: 'API', marker: "createWatermarker({ key: 'my secret key' })",
    before: `import { readImage as __read } from 'modelmark/node';\nconst image = await __read(${PHOTO});\n`,
    after: print('{ result, inPlace: wm.detect(image, { search: false }).found }'),
    check: (out, block) => {
      const sketch = parseSketch(/\/\/ (\{ found:[^\n]+)/.exec(block.code)[1]);
      assert.equal(shapeProblems(sketch, out.result), []);
      assert.is(out.inPlace, false);
    },
  },
  {
    name: 'a set of images', marker: 'combineEvidence(images.map',
    // The README's case (bench/evidence.mjs): the 27 photos marked at strength 0.25, saved as JPEG q10.
    before: `import { readdirSync as __ls } from 'node:fs';
import { readImage as __read, encodeImage as __enc, decodeImageFile as __dec } from 'modelmark/node';
import { createWatermarker as __create } from 'modelmark';
const wm = await __create({ key: 'evidence bench key' });
const __weak = await __create({ key: 'evidence bench key', strength: 0.25 });
const images = [];
for (const f of __ls(${JSON.stringify(PHOTOS)}).filter((f) => /\\.(jpe?g|png)$/.test(f)).sort()) {
  const { data } = await __enc(__weak.embed(await __read(${JSON.stringify(PHOTOS)} + '/' + f), 'c0ffee00deadbeef'), { format: 'jpeg', quality: 10 });
  images.push(await __dec(data, f));
}
const image = images[0];
`,
    after: print('{ result, found: images.filter((i) => wm.detect(i).found).length, r: { found: r.found, evidence: !!r.evidence } }'),
    check: (out, block) => {
      const sketch = parseSketch(/\/\/ (\{ count:[^\n]+)/.exec(block.code)[1]);
      assert.equal(shapeProblems(sketch, out.result), []);
      assert.is(out.result.count, 27);
      assert.is(out.found, 0, 'the README: none of the 27 is found by detect');
      assert.equal(out.r, { found: false, evidence: true });
    },
  },
  {
    name: 'modelmark/lite in Node', marker: "from 'modelmark/lite'",
    after: `const { createWatermarker: __c } = await import('modelmark/lite');
const { readImage: __read } = await import('modelmark/node');
const __wm = await __c({ key: 'k' });${print(`__wm.detect(__wm.embed(await __read(${PHOTO}), 'c0ffee')).payload`)}`,
    check: (out) => assert.is(out, '0000000000c0ffee'),
  },
  {
    name: 'deep', marker: 'createDeepWatermarker();',
    before: `import { readImage as __read } from 'modelmark/node';\nconst image = await __read(${PHOTO});\n`,
    after: print('{ found, nc, logo: [logo.width, logo.height, logo.channels ?? 1] }'),
    check: (out) => {
      assert.is(out.found, true);
      assert.ok(out.nc >= 0.95, `nc ${out.nc}, the README says about 0.98`);
      assert.equal(out.logo, [32, 32, 1]);
    },
  },
  {
    name: 'sharp', marker: "from 'modelmark/sharp'",
    after: `${print(`{ found, payload, pooled, out: (await detect(sharp('out.png'), { key: opts.key })).payload, width: (await sharp('marked.jpg').metadata()).width }`)}`,
    check: (out) => {
      assert.equal([out.found, out.payload, out.out, out.width], [true, 'c0ffee0000000001', 'c0ffee0000000001', 1600]);
      assert.is(out.pooled.count, 3);
      assert.is(out.pooled.found, false, 'a.jpg, b.jpg and c.jpg are unmarked photos');
    },
  },
  {
    name: 'canvas (@napi-rs/canvas in Node)', marker: "from 'modelmark/canvas';",
    before: `import { createCanvas as __cc, loadImage as __li } from '@napi-rs/canvas';
const photo = await __li(${PHOTO});
const canvas = __cc(photo.width, photo.height);
const ctx = canvas.getContext('2d');
`,
    after: print('{ found, payload, pValue, also: typeof watermarkImageData }'),
    check: (out) => assert.equal([out.found, out.payload, out.also], [true, 'c0ffee0000000001', 'function']),
  },
  { name: 'Web Worker', marker: "from 'modelmark/canvas/worker'", browser: 'plugin-canvas.test.mjs' },
  { name: 'Konva', marker: "from 'modelmark/konva'", browser: 'plugin-konva.test.mjs' },
  { name: 'Fabric', marker: "from 'modelmark/fabric'", browser: 'plugin-fabric.test.mjs' },
  { name: 'Pintura', marker: "from 'modelmark/pintura'", browser: 'plugin-pintura.test.mjs' },
];

const jsBlocks = blocks.filter((b) => b.lang === 'js' || b.lang === 'javascript' || b.lang === 'mjs');

test('every JS block of README.md is either run here or run in Chromium by a named test', () => {
  for (const b of jsBlocks) {
    const hits = JS_BLOCKS.filter((e) => b.code.includes(e.marker)).map((e) => e.name);
    assert.is(hits.length, 1, `README.md:${b.line}: matched by ${JSON.stringify(hits)} in JS_BLOCKS: classify it`);
  }
  for (const e of JS_BLOCKS) {
    assert.is(jsBlocks.filter((b) => b.code.includes(e.marker)).length, 1, `JS_BLOCKS "${e.name}": no README block holds ${e.marker}`);
    if (e.browser) assert.ok(fs.existsSync(path.join(ROOT, 'test', e.browser)), e.browser);
  }
});

for (const entry of JS_BLOCKS.filter((e) => !e.browser)) {
  test(`README JS block "${entry.name}" runs in Node as written`, () => {
    const block = jsBlocks.find((b) => b.code.includes(entry.marker));
    assert.ok(block, `no README block holds ${entry.marker}`);
    const file = path.join(js, `block-${block.line}.mjs`);
    fs.writeFileSync(file, `${entry.before ?? ''}// ---- README.md:${block.line}\n${block.code}\n// ----\n${entry.after}`);
    const r = spawnSync(process.execPath, [file], {
      cwd: js, encoding: 'utf8', timeout: 120_000,
      env: { PATH: process.env.PATH, HOME: process.env.HOME ?? js, MODELMARK_KEY: 'my secret key' },
    });
    assert.is(r.status, 0, `README.md:${block.line} (${entry.name}) failed:\n${r.stderr}`);
    entry.check(JSON.parse(r.stdout.trim().split('\n').at(-1)), block);
  });
}

test.after(() => fs.rmSync(work, { recursive: true, force: true }));

test.run();
