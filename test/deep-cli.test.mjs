// The deep watermark on the command line (spawned as `node bin/modelmark.js`): embed --deep then
// extract (exit 0, found, one JSON line, the --out picture), extract on an unmarked photo
// (exit 1), errors (exit 2 with a message), train-deep fine-tuning for a few seconds from
// existing models (never from scratch) into a models folder that loads; and readOnnxWeights,
// the inverse of the ONNX export that --init rests on.
//
// Models: the shipped ones in models/. While they are being trained, MODELMARK_TEST_MODELS=DIR
// points the file at another models folder (e.g. the random-weight development models of
// bench/deep-dev-models.mjs): the plumbing is then checked, but not that marked photos are found.
// Without either, the first test fails saying so and the others run on development models.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { DEFAULT_MODELS_DIR, loadDeepModels } from '../dist/node/index.js';
import { buildH, buildR, parameterShapes } from '../dist/deep/spec.js';
import { exportOnnx } from '../dist/train/onnx-export.js';
import { readOnnxWeights } from '../dist/train/onnx-import.js';
import { HELD_OUT } from '../dist/train/data.js';
import { randomWeights, writeDevModels } from '../bench/deep-dev-models.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = path.join(ROOT, 'bin', 'modelmark.js');
const PHOTOS = path.join(ROOT, '..', 'shared', 'photos');
const SHIPPED = path.join(ROOT, 'models');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelmark-deep-cli-'));
const file = (name) => path.join(dir, name);

const override = process.env.MODELMARK_TEST_MODELS;
const shippedThere = fs.existsSync(path.join(SHIPPED, 'deep.json'));
/** Whether the models are the trained ones, so that marked photos must be found. */
const REAL = !override && shippedThere;
let MODELS;
if (override) MODELS = path.resolve(override);
else if (shippedThere) MODELS = SHIPPED;
else MODELS = await writeDevModels(file('dev-models'));

// Held-out photos only (never seen in training): a JPEG to mark, a PNG left clean.
const MARK = 'mate-LadyBird.jpg', CLEAN = 'skimage-coffee.png';
assert.ok(HELD_OUT.includes('mate-LadyBird') && HELD_OUT.includes('skimage-coffee'), 'the test photos are held out of training');
const photo = (name) => path.join(PHOTOS, name);

/** Run CLI invocations concurrently; each resolves to { code, stdout, stderr }. */
function cliAll(argsList) {
  return Promise.all(argsList.map((args) => new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, MODELMARK_DEBUG: '' } });
    let stdout = '', stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  })));
}
const cli = async (args) => (await cliAll([args]))[0];

/** The single JSON line a --json run prints. */
function jsonLine(stdout) {
  const lines = stdout.split('\n').filter((l) => l !== '');
  assert.is(lines.length, 1, `expected exactly one line, got ${JSON.stringify(stdout)}`);
  assert.ok(stdout.endsWith('\n'));
  return JSON.parse(lines[0]);
}

/** The keys of train-deep --json's summary line, unchanged by the progress lines before it. */
const TRAIN_SUMMARY_KEYS = ['ok', 'out', 'work', 'logo', 'photos', 'init', 'seconds', 'minutes', 'targetPsnr', 'steps', 'elapsedS', 'seed', 'trainPsnr', 'trainNc', 'threshold', 'markedSamples', 'markedBelowThreshold'];
const INTERRUPTED_SUMMARY_KEYS = ['ok', 'interrupted', 'signal', 'out', 'work', 'calibrating', 'checkpointed', 'steps', 'elapsedS'];

/**
 * The standard output of train-deep --json: every line JSON; a "start" line first, then
 * "progress" (steps increasing), "phase" and "stopping" lines, each with an "event" field; the
 * summary (no "event", an "ok") last.
 */
function trainJson(stdout) {
  assert.ok(stdout.endsWith('\n'), JSON.stringify(stdout));
  const lines = stdout.slice(0, -1).split('\n').map((l) => {
    try { return JSON.parse(l); } catch { return assert.unreachable(`not a JSON line: ${JSON.stringify(l)}`); }
  });
  const summary = lines.at(-1), events = lines.slice(0, -1);
  assert.type(summary.ok, 'boolean', JSON.stringify(summary));
  assert.not.ok('event' in summary, 'the summary is the last line');
  assert.is(events[0]?.event, 'start', stdout);
  for (const e of events) assert.ok(['start', 'progress', 'phase', 'stopping'].includes(e.event), JSON.stringify(e));
  const progress = events.filter((e) => e.event === 'progress');
  for (const [i, p] of progress.entries()) {
    assert.ok([1, 2].includes(p.stage), JSON.stringify(p));
    for (const k of ['step', 'elapsedS', 'totalS', 'etaS', 'percent']) assert.type(p[k], 'number', `${k} in ${JSON.stringify(p)}`);
    for (const k of ['psnr', 'nc', 'ncClean']) assert.ok(p[k] === null || typeof p[k] === 'number', `${k} in ${JSON.stringify(p)}`);
    if (i > 0) assert.ok(p.step > progress[i - 1].step && p.stage >= progress[i - 1].stage, `steps increase: ${JSON.stringify(progress.map((q) => q.step))}`);
  }
  return { events, progress, summary };
}

/** An error run: exit 2, `modelmark: ...` on stderr without a stack trace, mentioning each string. */
function failed(r, ...mentions) {
  assert.is(r.code, 2, `expected exit 2, got ${r.code}; stdout: ${r.stdout} stderr: ${r.stderr}`);
  assert.match(r.stderr, /^modelmark: \S/m);
  assert.not.match(r.stderr, /\n\s+at /, 'no stack trace');
  for (const m of mentions) assert.ok(r.stderr.includes(m), `stderr ${JSON.stringify(r.stderr)} should mention ${m}`);
}

test('the shipped models are there (models/deep.json), or MODELMARK_TEST_MODELS names others', () => {
  assert.ok(override || shippedThere, `${SHIPPED} has no deep.json: train the models (npm run train:deep), or set MODELMARK_TEST_MODELS=DIR while developing`);
});

test('readOnnxWeights reads back exactly the weights exportOnnx wrote (H and R), and names a missing or mis-shaped weight', () => {
  for (const [spec, seed] of [[buildH(), 11], [buildR(), 12]]) {
    const w = randomWeights(spec, parameterShapes, seed);
    const back = readOnnxWeights(exportOnnx(spec, w), spec);
    assert.equal(Object.keys(back).sort(), Object.keys(w).sort());
    for (const { name, shape } of parameterShapes(spec)) {
      assert.instance(back[name], Float32Array);
      assert.is(back[name].length, shape.reduce((a, b) => a * b, 1));
      for (let i = 0; i < w[name].length; i++) if (!Object.is(back[name][i], w[name][i])) assert.unreachable(`${spec.name} ${name}[${i}]: ${back[name][i]} != ${w[name][i]}`);
    }
  }
  // R's weights read as H: the first conv of H is not in R's model.
  const r = exportOnnx(buildR(), randomWeights(buildR(), parameterShapes, 1));
  assert.throws(() => readOnnxWeights(r, buildH()), (e) => /H: weight c\d+\.w .*missing/.test(e.message));
  // Other widths: same names, other shapes.
  const wide = buildR({ w1: 8 });
  assert.throws(() => readOnnxWeights(exportOnnx(wide, randomWeights(wide, parameterShapes, 1)), buildR()), (e) => /weight c0\.w has shape \[8, 3, 3, 3\], expected \[16, 3, 3, 3\]/.test(e.message));
  assert.throws(() => readOnnxWeights(new Uint8Array([1, 2, 3, 4, 5]), buildR()), (e) => /R: not an ONNX model/.test(e.message));
});

test(`embed --deep then extract: found${REAL ? '' : ' (not asserted: development models)'}, one JSON line, --out picture; a clean photo: exit 1`, async () => {
  const marked = file('marked.jpg');
  const e = await cli(['embed', photo(MARK), marked, '--deep', '--models', MODELS, '--json']);
  assert.is(e.code, 0, e.stderr);
  const ej = jsonLine(e.stdout);
  assert.is(ej.ok, true);
  assert.is(ej.format, 'jpeg', 'the input format is kept');
  assert.is(ej.output, marked);
  const meta = await sharp(marked).metadata();
  const src = await sharp(photo(MARK)).metadata();
  assert.equal([meta.format, meta.width, meta.height], ['jpeg', src.width, src.height]);
  if (REAL) assert.ok(ej.psnr >= 35, `PSNR ${ej.psnr}`);

  const logoOut = file('logo.png'), logoSmall = file('logo-small.png');
  const [x, c, plain, small] = await cliAll([
    ['extract', marked, '--models', MODELS, '--json', '--out', logoOut],
    ['extract', photo(CLEAN), '--models', MODELS, '--json'],
    ['extract', marked, '--models', MODELS],
    ['extract', marked, '--models', MODELS, '--out', logoSmall, '--scale', '1', '--threshold=-1'],
  ]);
  const xj = jsonLine(x.stdout);
  assert.type(xj.found, 'boolean');
  assert.type(xj.nc, 'number');
  assert.type(xj.threshold, 'number');
  assert.is(x.code, xj.found ? 0 : 1, 'exit status follows found');
  assert.is(xj.found, xj.nc >= xj.threshold);
  if (REAL) {
    assert.is(x.code, 0, x.stderr);
    assert.ok(xj.found && xj.nc >= xj.threshold, `NC ${xj.nc}, threshold ${xj.threshold}`);
  } else {
    console.log(`  (development models: NC of the marked photo ${xj.nc}, found ${xj.found})`);
  }
  const lm = await sharp(logoOut).metadata();
  assert.equal([lm.format, lm.width, lm.height, xj.out, xj.outWidth], ['png', 256, 256, logoOut, 256], 'the 32x32 logo enlarged 8 times');

  const cj = jsonLine(c.stdout);
  assert.is(c.code, 1, c.stderr);
  assert.is(cj.found, false);
  assert.ok(cj.nc < cj.threshold);

  assert.is(plain.code, x.code);
  assert.match(plain.stdout, REAL ? /^found: .* \(NC [\d.]+, threshold [\d.]+\)\n$/ : /^(not )?found: .*NC -?[\d.]+/);
  assert.is(small.code, 0, 'threshold -1: always found');
  assert.match(small.stdout, /^found: .*logo written to .*\(32x32\)/);
  const sm = await sharp(logoSmall).metadata();
  assert.equal([sm.width, sm.height], [32, 32]);
});

test(`embed --deep on a grey photo: written as RGB (the mark is a colour pattern)${REAL ? ' and found' : ''}; the clean photo is not`, async () => {
  const marked = file('grey-marked.png');
  const e = await cli(['embed', photo('skimage-camera.png'), marked, '--deep', '--models', MODELS, '--json']);
  assert.is(e.code, 0, e.stderr);
  const ej = jsonLine(e.stdout);
  assert.is(ej.channels, 3);
  assert.type(ej.psnr, 'number', 'measured against the grey photo made RGB');
  assert.is((await sharp(marked).metadata()).channels, 3);
  const [x, c] = await cliAll([
    ['extract', marked, '--models', MODELS, '--json'],
    ['extract', photo('skimage-camera.png'), '--models', MODELS, '--json'],
  ]);
  if (REAL) {
    assert.is(jsonLine(x.stdout).found, true, `NC ${jsonLine(x.stdout).nc}`);
    assert.is(jsonLine(c.stdout).found, false);
  }
});

test('deep CLI errors: exit 2 and a message (missing file, corrupt image, incomplete --models, --payload with --deep, OUT == IN, animated input)', async () => {
  const corrupt = file('corrupt.jpg');
  const jpeg = fs.readFileSync(photo(MARK));
  fs.writeFileSync(corrupt, jpeg.subarray(0, 2000));
  const noise = file('noise.png');
  fs.writeFileSync(noise, Buffer.from('this is not an image at all'));
  const partial = file('partial-models');
  fs.mkdirSync(partial);
  fs.copyFileSync(path.join(MODELS, 'deep.json'), path.join(partial, 'deep.json'));
  fs.copyFileSync(path.join(MODELS, 'r.onnx'), path.join(partial, 'r.onnx'));
  const same = file('same.jpg');
  fs.copyFileSync(photo(MARK), same);
  const before = fs.readFileSync(same);
  const anim = file('anim.webp');
  const { data: still, info } = await sharp(photo(MARK)).resize(320).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const brighter = still.map((v) => Math.min(255, v + 40)); // two different frames (an encoder merges equal ones)
  await sharp(Buffer.concat([still, brighter]), { raw: { width: info.width, height: 2 * info.height, channels: 3, pageHeight: info.height } }).webp().toFile(anim);

  const [missing, missingJson, trunc, notImage, models, payload, key, sameOut, badThreshold, scaleAlone, noModelsDir, modelsNoDeep, folder, animated] = await cliAll([
    ['extract', file('nope.jpg'), '--models', MODELS],
    ['extract', file('nope.jpg'), '--models', MODELS, '--json'],
    ['extract', corrupt, '--models', MODELS],
    ['embed', noise, file('noise-out.png'), '--deep', '--models', MODELS],
    ['embed', photo(MARK), file('m.jpg'), '--deep', '--models', partial],
    ['embed', photo(MARK), file('p.jpg'), '--deep', '--payload', 'c0ffee'],
    ['embed', photo(MARK), file('k.jpg'), '--deep', '--key', 'k'],
    ['embed', same, same, '--deep', '--models', MODELS],
    ['extract', photo(CLEAN), '--threshold', '2', '--models', MODELS],
    ['extract', photo(CLEAN), '--scale', '4', '--models', MODELS],
    ['extract', photo(CLEAN), '--models', file('no-such-models')],
    ['embed', photo(MARK), file('n.jpg'), '--models', MODELS, '--payload', '1', '--key', 'k'],
    ['extract', PHOTOS, '--models', MODELS],
    ['embed', anim, file('anim-out.webp'), '--deep', '--models', MODELS, '--json'],
  ]);
  failed(missing, 'nope.jpg', 'no such file');
  assert.is(jsonLine(missingJson.stdout).error.code, 'ERR_FILE');
  failed(trunc, 'corrupt.jpg');
  failed(notImage, 'noise.png');
  failed(models, 'h.onnx');
  failed(payload, '--payload', '--deep');
  failed(key, '--key');
  failed(sameOut, 'Refusing to overwrite the input file');
  assert.ok(fs.readFileSync(same).equals(before), 'the input is unchanged');
  assert.equal(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'no temporary files left');
  failed(badThreshold, '--threshold', '-1 and 1');
  failed(scaleAlone, '--scale', '--out');
  failed(noModelsDir, '--models', 'does not exist');
  failed(modelsNoDeep, '--models', '--deep');
  failed(folder, 'folder');
  failed(animated, 'animated (2 frames)', 'still images', 'without --deep');
  assert.is(jsonLine(animated.stdout).error.code, 'ERR_ANIMATED');
  for (const name of ['m.jpg', 'p.jpg', 'k.jpg', 'n.jpg', 'noise-out.png', 'anim-out.webp']) assert.not.ok(fs.existsSync(file(name)), `${name} not written`);
});

// train-deep: a temporary photos folder of 3 small training photos (not held out) and a logo.
const trainPhotos = file('train-photos');
fs.mkdirSync(trainPhotos);
for (const name of ['mate-Aqua.jpg', 'mate-Garden.jpg', 'skimage-chelsea.png']) {
  assert.not.ok(HELD_OUT.includes(name.replace(/\.\w+$/, '')));
  await sharp(photo(name)).resize(384, 288, { fit: 'cover' }).jpeg({ quality: 92 }).toFile(path.join(trainPhotos, name.replace(/\.\w+$/, '.jpg')));
}
// And one too small to train on (under 256 a side): left out and named, not a reason to stop.
await sharp(photo('skimage-coins.png')).resize(200, 150, { fit: 'cover' }).jpeg({ quality: 92 }).toFile(path.join(trainPhotos, 'tiny.jpg'));
/** A 96x64 RGBA logo: a white triangle and bar on transparency (contained in 32x32 on black). */
async function writeLogo(path_, variant = 0) {
  const w = 96, h = 64, px = Buffer.alloc(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const tri = y > 8 && Math.abs(x - 30) < (y - 8) / 1.4;
      const bar = variant === 0 ? x > 62 && x < 74 && y > 6 && y < 58 : y > 40 && y < 50 && x > 50;
      if (tri || bar) px.set([255, 255, 255, 255], (y * w + x) * 4);
    }
  }
  await sharp(px, { raw: { width: w, height: h, channels: 4 } }).png().toFile(path_);
}
const logoFile = file('my-logo.png');
await writeLogo(logoFile);

test('train-deep: fine-tunes from existing models for a few seconds into a models folder that loads, with progress lines', async () => {
  const out = file('trained');
  const r = await cli(['train-deep', '--logo', logoFile, '--photos', trainPhotos, '--minutes', '0.15', '--init', MODELS, '--out', out, '--seed', '3']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /fine-tuning the models in /);
  assert.match(r.stderr, /leaving out 1 photo under 256x256 .*: tiny\.jpg \(200x150\)/);
  assert.match(r.stderr, /training on 3 photos /);
  assert.not.match(r.stderr, /from scratch/);
  assert.match(r.stderr, /train-deep: stage [12] step \d+, .* PSNR [\d.-]+ dB, NC -?[\d.-]+ .*ETA /, 'a plain progress line (stderr is not a terminal)');
  // The work outside --minutes and the ETA is announced (it takes minutes on a 200-photo folder),
  // and a short run is told how long the package's own models trained.
  assert.match(r.stderr, /stage 2: marking and re-encoding the 3 training photos .*not counted in --minutes nor in the ETA/);
  assert.match(r.stderr, /calibrating the threshold on clean images \(3 photos/);
  assert.match(r.stderr, /--minutes 0\.15 is a short run: expect weak marks \(the package's own models trained 81 minutes/);
  assert.match(r.stdout, /^models written to .*trained/);
  assert.is(r.stdout.split('\n').filter(Boolean).length, 1, 'without --json, one human line on stdout (no JSON progress)');
  for (const f of ['h.onnx', 'r.onnx', 'deep.json', 'logo.png']) assert.ok(fs.existsSync(path.join(out, f)), f);
  assert.ok(fs.existsSync(path.join(out, '.checkpoints', 'checkpoint.json')), 'checkpoints in OUT/.checkpoints');
  assert.not.ok(fs.existsSync(path.join(out, '.checkpoints', 'train-deep.lock')), 'the folder\'s lock released');
  const models = await loadDeepModels(out);
  assert.is(models.meta.logoSize, 32);
  // The logo as trained: contained on black, bright ink; its top-left corner is background.
  const logo = Buffer.from(models.meta.logo, 'base64');
  assert.is(logo.length, 32 * 32);
  assert.is(logo[0], 0);
  assert.ok(Math.max(...logo) > 200, 'the ink is bright');
  // And the CLI runs on them.
  const x = await cli(['extract', photo(CLEAN), '--models', out, '--json']);
  assert.ok(x.code === 0 || x.code === 1, x.stderr);
  assert.type(jsonLine(x.stdout).nc, 'number');

  // The same --out with another logo: its checkpoints are refused (they were made for the first).
  const other = file('other-logo.png');
  await writeLogo(other, 1);
  failed(await cli(['train-deep', '--logo', other, '--photos', trainPhotos, '--minutes', '0.15', '--init', MODELS, '--out', out]), 'another logo');

  // A larger --minutes resumes from the checkpoint (for a run this short, the one written when
  // stage 2 began, whose optimiser had not yet stepped: resuming from it used to crash).
  const more = await cli(['train-deep', '--logo', logoFile, '--photos', trainPhotos, '--minutes', '0.2', '--init', MODELS, '--out', out, '--seed', '3']);
  assert.is(more.code, 0, more.stderr);
  assert.match(more.stderr, /resuming from the checkpoint/);
  assert.is((await loadDeepModels(out)).meta.logoSize, 32);

  // The API takes the logo file train-deep was given (reduced the same way), refuses another.
  const { createDeepWatermarker, readImage } = await import('../dist/node/index.js');
  const trained = await loadDeepModels(out);
  const deep = await createDeepWatermarker({ models: trained, logo: await readImage(logoFile) });
  await deep.dispose();
  const refused = await createDeepWatermarker({ models: trained, logo: await readImage(other) }).then(() => null, (e) => e);
  assert.is(refused?.code, 'ERR_INVALID_ARGUMENT', refused?.message);
  assert.match(refused.message, /logo\.png of the models folder/);
  const nullModels = await createDeepWatermarker({ models: null }).then(() => null, (e) => e);
  assert.is(nullModels?.code, 'ERR_INVALID_ARGUMENT');
});

test('train-deep: Ctrl-C finishes the step, writes a checkpoint and exits 130 (no models written); the rerun resumes; the package\'s own models folder is refused as --out', async () => {
  const out = file('interrupted');
  // --minutes 1: stage 1 (the first 80% of the time) must still be on at the second progress line
  // (step 20) when steps are slow; with 0.5 a busy machine (npm test runs two processes at once)
  // left stage 1 after one progress line, at 1.2 s a step.
  const child = spawn(process.execPath, [BIN, 'train-deep', '--logo', logoFile, '--photos', trainPhotos, '--minutes', '1', '--init', MODELS, '--out', out, '--seed', '4', '--json'], { cwd: ROOT });
  let stderr = '', stdout = '';
  const exited = new Promise((resolve) => child.on('close', (code) => resolve(code)));
  child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
  child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
  // Stopped at its second progress line (--json: on stdout, as JSON), in stage 1 (the first
  // checkpoint is minutes away).
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no progress lines: ${stdout} ${stderr}`)), 90_000);
    child.stdout.on('data', () => { if ((stdout.match(/"event":"progress","stage":1,/g) ?? []).length >= 2) { clearTimeout(timer); resolve(); } });
  });
  assert.not.match(stderr, /train-deep: stage \d step/, 'with --json, progress is on stdout, not as plain lines');
  const sent = performance.now();
  // Twice, a few ms apart, as under npm/npx (npm passes the terminal's Ctrl-C on to its child,
  // which also gets it from the terminal): one press, not "quit at once".
  child.kill('SIGINT');
  setTimeout(() => child.kill('SIGINT'), 5);
  const code = await exited;
  assert.is(code, 130, stderr);
  // Not a timing test of the library: before, the signal waited for the next checkpoint (about
  // 20 s in here); one training step takes well under a second.
  assert.ok(performance.now() - sent < 15_000, `stopped ${Math.round(performance.now() - sent)} ms after the signal`);
  assert.match(stderr, /interrupted; checkpoint written/);
  assert.ok(fs.existsSync(path.join(out, '.checkpoints', 'checkpoint.json')), 'a checkpoint');
  const { step } = JSON.parse(fs.readFileSync(path.join(out, '.checkpoints', 'checkpoint.json'), 'utf8'));
  assert.ok(stderr.includes(`checkpoint written to ${path.join(out, '.checkpoints')} (step ${step})`), 'the message names the step written');
  // --json: progress lines, then the summary line last for an interrupted run too.
  const { events, progress, summary: j } = trainJson(stdout);
  assert.equal(Object.keys(j), INTERRUPTED_SUMMARY_KEYS);
  assert.equal([j.ok, j.interrupted, j.signal, j.checkpointed, j.calibrating, j.steps], [false, true, 'SIGINT', true, false, step]);
  assert.ok(progress.length >= 2 && progress.every((p) => p.stage === 1 && p.totalS === 60 && p.step <= step), JSON.stringify(progress));
  assert.equal([events[0].photos, events[0].totalS, events[0].seed, events[0].resumed], [3, 60, 4, null]);
  assert.is(events.filter((e) => e.event === 'stopping').map((e) => e.signal).join(), 'SIGINT');
  // Resuming with another --seed would mix two seeds' data streams in one model: refused.
  failed(await cli(['train-deep', '--logo', logoFile, '--photos', trainPhotos, '--minutes', '0.2', '--init', MODELS, '--out', out, '--seed', '5']),
    'made with --seed 4', 'without --seed');
  assert.not.ok(fs.existsSync(path.join(out, 'deep.json')), 'no models from an interrupted run');
  assert.not.ok(fs.existsSync(path.join(out, '.checkpoints', 'train-deep.lock')), 'the folder\'s lock released');
  // Without --seed, the rerun goes on with the seed the checkpoints were made with; --minutes 0.5
  // (30 s in all) leaves it some steps after the 10-25 s the first run trained.
  const rest = await cli(['train-deep', '--logo', logoFile, '--photos', trainPhotos, '--minutes', '0.5', '--init', MODELS, '--out', out, '--json']);
  assert.is(rest.code, 0, rest.stderr);
  assert.match(rest.stderr, new RegExp(`resuming from the checkpoint .*\\(step ${step}, .*--seed 4\\)`));
  // --json, a whole run: the summary (as before) last, after the phases of its end.
  const done = trainJson(rest.stdout);
  assert.equal(Object.keys(done.summary), TRAIN_SUMMARY_KEYS);
  assert.equal([done.summary.ok, done.summary.seed, done.summary.threshold], [true, 4, JSON.parse(fs.readFileSync(path.join(out, 'deep.json'), 'utf8')).threshold]);
  assert.is(done.events[0].resumed.step, step);
  assert.ok(done.progress.length >= 1 && done.progress.every((p) => p.step >= step), JSON.stringify(done.progress));
  const phases = done.events.filter((e) => e.event === 'phase').map((e) => e.phase);
  assert.equal(phases.slice(-2), ['calibrating', 'calibrated'], JSON.stringify(phases));
  assert.equal(done.events.find((e) => e.phase === 'calibrating').photos, 3);
  assert.is(done.events.at(-1).threshold, done.summary.threshold);
  assert.ok(fs.existsSync(path.join(out, 'deep.json')));
  failed(await cli(['train-deep', '--logo', logoFile, '--photos', trainPhotos, '--minutes', '0.1', '--out', DEFAULT_MODELS_DIR]), 'own models folder');
});

test('train-deep --json: a second signal quits at once and still ends with the summary line (quit: true), the lock released', async () => {
  const out = file('quit');
  const child = spawn(process.execPath, [BIN, 'train-deep', '--logo', logoFile, '--photos', trainPhotos, '--minutes', '0.5', '--init', MODELS, '--out', out, '--seed', '6', '--json'], { cwd: ROOT });
  let stderr = '', stdout = '';
  const exited = new Promise((resolve) => child.on('close', (code) => resolve(code)));
  child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
  child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
  // The run's start (its signal handlers in place from the "start" line on; before --json printed
  // progress, the note that training begins).
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start: ${stdout} ${stderr}`)), 90_000);
    const check = () => { if (/"event":"start"|train-deep: stage \d step/.test(stdout + stderr)) { clearTimeout(timer); resolve(); } };
    child.stdout.on('data', check);
    child.stderr.on('data', check);
  });
  // Two different signals at once: both are delivered (two SIGINTs could merge into one), the
  // first stops the run, the second quits before the step in progress ends.
  child.kill('SIGTERM');
  child.kill('SIGHUP');
  const code = await exited;
  assert.ok(code === 143 || code === 129, `exit ${code}: ${stderr}`);
  const { events, summary } = trainJson(stdout);
  assert.equal(Object.keys(summary), [...INTERRUPTED_SUMMARY_KEYS, 'quit']);
  assert.equal([summary.ok, summary.interrupted, summary.quit, summary.checkpointed, summary.calibrating, summary.signal],
    [false, true, true, false, false, code === 143 ? 'SIGTERM' : 'SIGHUP']);
  assert.is(events.at(-1).event, 'stopping');
  assert.is(events.at(-1).signal, summary.signal);
  assert.not.ok(fs.existsSync(path.join(out, '.checkpoints', 'train-deep.lock')), 'the folder\'s lock released');
  assert.not.ok(fs.existsSync(path.join(out, 'deep.json')), 'no models');
});

test('train-deep --json: standard output closed by its reader stops the run as Ctrl-C does (checkpoint, lock released), quietly, with 141', async () => {
  const out = file('closed');
  const child = spawn(process.execPath, [BIN, 'train-deep', '--logo', logoFile, '--photos', trainPhotos, '--minutes', '0.5', '--init', MODELS, '--out', out, '--seed', '7', '--json'], { cwd: ROOT });
  let stderr = '', stdout = '';
  const exited = new Promise((resolve) => child.on('close', (code) => resolve(code)));
  child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
  // The reader leaves after the first line (as `| head -1` would): the next, the first progress line, cannot be written.
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start line: ${stdout} ${stderr}`)), 90_000);
    child.stdout.setEncoding('utf8').on('data', (d) => {
      stdout += d;
      if (stdout.includes('\n')) { clearTimeout(timer); child.stdout.destroy(); resolve(); }
    });
  });
  const code = await exited;
  assert.is(code, 141, stderr);
  assert.match(stderr, /interrupted; checkpoint written/);
  assert.not.match(stderr, /cannot write|EPIPE/, 'quietly');
  assert.ok(fs.existsSync(path.join(out, '.checkpoints', 'checkpoint.json')), 'a checkpoint');
  assert.not.ok(fs.existsSync(path.join(out, '.checkpoints', 'train-deep.lock')), 'the folder\'s lock released');
  assert.not.ok(fs.existsSync(path.join(out, 'deep.json')), 'no models');
});

test('train-deep: killed (SIGKILL) in stage 2, the rerun resumes from the checkpoint written when stage 2 began', async () => {
  const out = file('killed');
  const args = ['train-deep', '--logo', logoFile, '--photos', trainPhotos, '--minutes', '0.3', '--init', MODELS, '--out', out, '--seed', '5'];
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT });
  let stderr = '';
  const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve(signal)));
  child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no stage 2 progress: ${stderr}`)), 120_000);
    child.stderr.on('data', () => { if (/stage 2 step \d+/.test(stderr)) { clearTimeout(timer); resolve(); } });
  });
  child.kill('SIGKILL');
  assert.is(await exited, 'SIGKILL');
  const ck = JSON.parse(fs.readFileSync(path.join(out, '.checkpoints', 'checkpoint.json'), 'utf8'));
  assert.is(ck.stage, 2, 'the checkpoint of the stage change');
  assert.ok(fs.existsSync(path.join(out, '.checkpoints', 'train-deep.lock')), 'a killed run leaves its lock (the rerun takes it over)');
  // What a kill during a checkpoint's write leaves (writeFileAtomic's temporary name, the dead pid): swept by the rerun.
  const leftover = path.join(out, '.checkpoints', `.checkpoint-${ck.step + 1}-x.bin.${child.pid}.0123456789ab.tmp`);
  fs.writeFileSync(leftover, Buffer.alloc(1000));
  assert.equal(fs.readdirSync(path.join(out, '.checkpoints')).filter((f) => f.endsWith('.bin')).length, 1, 'one checkpoint blob, named by its index');
  const again = await cli(args);
  assert.is(again.code, 0, again.stderr);
  assert.match(again.stderr, /resuming from the checkpoint/);
  assert.not.match(again.stderr, /PSNR 0\.0 dB/, 'the resumed run reports the checkpoint\'s last measurements, not zeros');
  assert.not.ok(fs.existsSync(leftover), 'the killed write\'s temporary file removed');
  assert.match(again.stderr, /removed 1 temporary file left in .* by a run that was killed while writing/);
  assert.ok(fs.existsSync(path.join(out, 'deep.json')));
});

test('train-deep errors: exit 2 before any training (minutes, photos, logo, --init)', async () => {
  const one = file('one-photo');
  fs.mkdirSync(one);
  fs.copyFileSync(path.join(trainPhotos, 'mate-Aqua.jpg'), path.join(one, 'a.jpg'));
  fs.copyFileSync(path.join(trainPhotos, 'tiny.jpg'), path.join(one, 'tiny.jpg'));
  const blank = file('blank.png');
  await sharp({ create: { width: 40, height: 40, channels: 3, background: '#000000' } }).png().toFile(blank);
  const brokenLogo = file('broken-logo.png');
  fs.writeFileSync(brokenLogo, Buffer.from('not a png'));
  const base = ['--photos', trainPhotos, '--minutes', '0.1', '--out', file('never')];
  const linkToPhotos = file('photos-link');
  fs.symlinkSync(trainPhotos, linkToPhotos);
  const rs = await cliAll([
    ['train-deep', '--logo', logoFile, '--photos', trainPhotos, '--minutes', '0', '--out', file('never')],
    ['train-deep', '--logo', logoFile, '--photos', one, '--minutes', '1', '--out', file('never')],
    ['train-deep', '--logo', logoFile, '--photos', file('nowhere'), '--minutes', '1', '--out', file('never')],
    ['train-deep', '--logo', brokenLogo, ...base],
    ['train-deep', '--logo', blank, ...base],
    ['train-deep', '--logo', logoFile, ...base, '--init', file('no-models')],
    ['train-deep', '--photos', trainPhotos, '--minutes', '1'],
    // --out is the photos folder through a link to it: its logo.png would land among the photos.
    ['train-deep', '--logo', logoFile, '--photos', trainPhotos, '--minutes', '1', '--out', linkToPhotos],
  ]);
  failed(rs[0], '--minutes', 'above 0');
  failed(rs[1], '--photos', 'at least 2 photos', 'has 1 (and 1 smaller, left out)');
  failed(rs[2], '--photos', 'does not exist');
  failed(rs[3], 'broken-logo.png');
  failed(rs[4], '--logo', 'nearly uniform');
  failed(rs[5], '--init', 'does not exist');
  failed(rs[6], '--logo');
  failed(rs[7], '--out may not be the --photos folder');
  assert.not.ok(fs.existsSync(path.join(trainPhotos, 'logo.png')), 'no logo written among the photos');
  assert.not.ok(fs.existsSync(file('never')), 'nothing written');
});

test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('train-deep samples at most 200 photos of a larger folder (each takes memory while training), and says so', async () => {
  const many = file('many-photos');
  fs.mkdirSync(many);
  const one = await sharp({ create: { width: 256, height: 256, channels: 3, background: '#708090' } }).jpeg().toBuffer();
  for (let i = 0; i < 203; i++) fs.writeFileSync(path.join(many, `p${String(i).padStart(3, '0')}.jpg`), one);
  const blank = file('blank-for-many.png');
  await sharp({ create: { width: 32, height: 32, channels: 3, background: '#000' } }).png().toFile(blank);
  // Stopped by the blank logo right after the photos are chosen: no training.
  const r = await cli(['train-deep', '--logo', blank, '--photos', many, '--minutes', '1', '--out', file('never-many')]);
  assert.is(r.code, 2, r.stderr);
  assert.match(r.stderr, /training on 200 of the 203 photos, sampled by --seed/);
});

test('trainAndExport stopped while the photos load says that no checkpoint was written; stopped as calibration begins, it writes no models, and the rerun calibrates', async () => {
  const { trainAndExport } = await import('../dist/train/pipeline.js');
  const read = (name, spec) => { const b = fs.readFileSync(path.join(MODELS, name)); return readOnnxWeights(new Uint8Array(b.buffer, b.byteOffset, b.byteLength), spec); };
  const initFrom = { h: read('h.onnx', buildH()), r: read('r.onnx', buildR()) };
  const files = ['mate-Aqua.jpg', 'mate-Garden.jpg', 'skimage-chelsea.jpg'].map((n) => path.join(trainPhotos, n));
  const out = file('pipe-out'), work = file('pipe-work');
  const base = { photos: trainPhotos, files, out, work, minutes: 0.15, seed: 6, holdOut: false, initFrom };
  // Already stopped: no step, and no checkpoint (the command line said "checkpoint written").
  const early = await trainAndExport({ ...base, signal: AbortSignal.abort() });
  assert.is(early.summary.interrupted, true);
  assert.is(early.summary.checkpointed, false);
  assert.not.ok(fs.existsSync(path.join(work, 'checkpoint.json')), 'no checkpoint');
  // Stopped when calibration begins (it used to run to its end, minutes on a large folder).
  const ac = new AbortController(), lines = [];
  const cut = await trainAndExport({ ...base, signal: ac.signal, onLog: (l) => { lines.push(l); if (l.startsWith('calibrating the threshold')) ac.abort(); } });
  assert.is(cut.summary.interrupted, true, JSON.stringify(cut.summary));
  assert.is(cut.summary.calibrating, true);
  assert.is(cut.summary.checkpointed, true);
  assert.ok(lines.some((l) => /^stage 2: marking and re-encoding the 3 training photos/.test(l)), lines.join('\n'));
  assert.not.ok(fs.existsSync(path.join(out, 'deep.json')), 'no models');
  // The rerun has nothing left to train: it calibrates the same weights and writes the models.
  const again = await trainAndExport(base);
  assert.is(again.summary.steps, cut.summary.steps);
  assert.type(again.summary.threshold, 'number');
  assert.is((await loadDeepModels(out)).meta.logoSize, 32);
});

test('train-deep errors: a logo over the pixel limit (no --max-pixels to offer), a training photo that does not decode past its header (named)', async () => {
  const huge = file('huge-logo.png');
  await sharp({ create: { width: 5000, height: 4000, channels: 3, background: '#000' } })
    .composite([{ input: { create: { width: 2000, height: 2000, channels: 3, background: '#fff' } }, left: 1500, top: 1000 }])
    .png({ compressionLevel: 1 }).toFile(huge);
  const damaged = file('damaged-photos');
  fs.mkdirSync(damaged);
  for (const f of ['mate-Aqua.jpg', 'mate-Garden.jpg']) fs.copyFileSync(path.join(trainPhotos, f), path.join(damaged, f));
  const whole = fs.readFileSync(path.join(trainPhotos, 'skimage-chelsea.jpg'));
  fs.writeFileSync(path.join(damaged, 'a-cut.jpg'), whole.subarray(0, Math.floor(whole.length / 2))); // the header decodes, the pixels do not
  const [big, cut] = await cliAll([
    ['train-deep', '--logo', huge, '--photos', trainPhotos, '--minutes', '0.1', '--init', MODELS, '--out', file('never-huge')],
    ['train-deep', '--logo', logoFile, '--photos', damaged, '--minutes', '0.1', '--init', MODELS, '--out', file('never-cut')],
  ]);
  failed(big, '--logo', '5000x4000', 'smaller copy');
  assert.not.match(big.stderr, /max-pixels|maxPixels/, 'train-deep has no such option');
  failed(cut, 'a-cut.jpg', 'remove it');
  assert.not.ok(fs.existsSync(path.join(file('never-cut'), 'deep.json')), 'no models');
  assert.not.ok(fs.existsSync(file('never-huge')), 'nothing written');
});

test('train-deep: a damaged checkpoint (blob missing, index cut short) is an error naming the folder before any work, not a fresh start then a raw ENOENT or JSON error', async () => {
  const source = path.join(file('killed'), '.checkpoints');
  const noBlob = file('ck-no-blob'), cutIndex = file('ck-cut-index');
  for (const d of [noBlob, cutIndex]) fs.cpSync(source, d, { recursive: true });
  for (const f of fs.readdirSync(noBlob)) if (f.endsWith('.bin')) fs.rmSync(path.join(noBlob, f));
  fs.writeFileSync(path.join(cutIndex, 'checkpoint.json'), fs.readFileSync(path.join(cutIndex, 'checkpoint.json')).subarray(0, 40));
  const args = (work) => ['train-deep', '--logo', logoFile, '--photos', trainPhotos, '--minutes', '0.3', '--init', MODELS, '--out', file('never-ck'), '--work', work, '--seed', '5'];
  const [a, b] = await cliAll([args(noBlob), args(cutIndex)]);
  failed(a, noBlob, 'cannot be resumed', '.bin cannot be read (ENOENT)', 'delete that folder');
  failed(b, cutIndex, 'cannot be resumed', 'checkpoint.json does not parse', 'delete that folder');
  for (const r of [a, b]) assert.not.match(r.stderr, /fine-tuning|training on/, 'stopped before any work');
  assert.not.ok(fs.existsSync(path.join(file('never-ck'), 'deep.json')), 'no models');
});

test('train-deep: a checkpoint folder another live train-deep holds is refused (the two would mix their checkpoints); the lock is released at the end', async () => {
  const out = file('killed'), work = path.join(out, '.checkpoints');
  const before = fs.readFileSync(path.join(work, 'checkpoint.json'), 'utf8');
  // This test's own process stands for the other run.
  fs.writeFileSync(path.join(work, 'train-deep.lock'), `${process.pid}\n`);
  const r = await cli(['train-deep', '--logo', logoFile, '--photos', trainPhotos, '--minutes', '0.3', '--init', MODELS, '--out', out, '--seed', '5']);
  failed(r, `another train-deep (process ${process.pid})`, work, 'another --work');
  assert.is(fs.readFileSync(path.join(work, 'checkpoint.json'), 'utf8'), before, 'its checkpoint untouched');
  assert.ok(fs.existsSync(path.join(work, 'train-deep.lock')), 'the holder\'s lock is not removed');
  fs.rmSync(path.join(work, 'train-deep.lock'));
});

test('writeModels failing part-way (a full disk, weights that do not export) leaves the models already in the folder as they were', async () => {
  const { writeModels } = await import('../dist/train/export.js');
  const dir = file('kept-models');
  fs.mkdirSync(dir);
  for (const f of ['h.onnx', 'r.onnx', 'deep.json', 'logo.png']) fs.copyFileSync(path.join(MODELS, f), path.join(dir, f));
  const before = fs.readFileSync(path.join(dir, 'deep.json'), 'utf8');
  // No weights at all: the export of H fails after the write began (deep.json used to be removed first).
  const err = await writeModels(dir, { h: {}, r: {} }, new Uint8Array(32 * 32), 0.5).then(() => null, (e) => e);
  assert.ok(err, 'the write failed');
  assert.is(fs.readFileSync(path.join(dir, 'deep.json'), 'utf8'), before, 'deep.json kept');
  assert.equal(fs.readdirSync(dir).sort(), ['deep.json', 'h.onnx', 'logo.png', 'r.onnx'], 'nothing left over');
  assert.is((await loadDeepModels(dir)).meta.logoSize, 32);
});

test('embed --deep refuses --max-aspect and --no-follow-links (it has no aspect limit and takes one file): exit 2, nothing written', async () => {
  // Both were accepted by the parser and silently ignored: --max-aspect 1 marked a 1.6:1 photo.
  const [aspect, links] = await cliAll([
    ['embed', photo(MARK), file('aspect.jpg'), '--deep', '--models', MODELS, '--max-aspect', '1'],
    ['embed', photo(MARK), file('links.jpg'), '--deep', '--models', MODELS, '--no-follow-links'],
  ]);
  failed(aspect, '--max-aspect', '--deep');
  failed(links, '--no-follow-links', 'folder');
  for (const name of ['aspect.jpg', 'links.jpg']) assert.not.ok(fs.existsSync(file(name)), `${name} not written`);
});

test.run();
