// Peak memory of a folder batch of large files under memory budgets: `modelmark detect DIR`'s
// runBatch, `--jobs 2`, over N noise PNGs of SIDE x SIDE (incompressible, so each file is about
// its decoded size: 28.5 MB at the default 3000, 27 MB of samples), each budget in a fresh child process whose peak
// RSS (process.resourceUsage().maxRSS: the main thread, the workers and sharp together) is printed
// with the batch's time. A file over 16 MiB asks the batch's gate for its bytes before it is read
// (src/node/gate.ts); a budget of 1 byte runs one file at a time.
//
//   node bench/batch-memory.mjs [--files N] [--side SIDE] [--budgets 1,120000000,250000000]
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values: args } = parseArgs({ options: { files: { type: 'string', default: '8' }, side: { type: 'string', default: '3000' }, budgets: { type: 'string', default: '1,120000000,250000000' }, child: { type: 'string' } } });

if (args.child) {
  // One run: the folder and budget from the parent.
  const [dir, budget] = JSON.parse(args.child);
  const { runBatch } = await import(path.join(ROOT, 'dist/node/batch.js'));
  const t = performance.now();
  const s = await runBatch({ command: 'detect', input: dir, key: 'bench key', jobs: 2, memoryBudget: budget, manifest: null });
  console.log(JSON.stringify({ done: s.done, seconds: (performance.now() - t) / 1000, peakMB: process.resourceUsage().maxRSS / 1024 }));
} else {
  const sharp = (await import('sharp')).default;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelmark-batch-memory-'));
  try {
    const side = Number(args.side), files = Number(args.files);
    for (let i = 0; i < files; i++) {
      await sharp(randomBytes(side * side * 3), { raw: { width: side, height: side, channels: 3 } }).png({ compressionLevel: 1 }).toFile(path.join(dir, `n${i}.png`));
    }
    const mb = fs.statSync(path.join(dir, 'n0.png')).size / 1e6;
    console.log(`${files} noise PNGs of ${side}x${side} (${mb.toFixed(1)} MB each), --jobs 2`);
    console.log('| budget (bytes) | files | seconds | peak RSS (MB) |');
    console.log('|---|---|---|---|');
    for (const budget of args.budgets.split(',').map(Number)) {
      const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', JSON.stringify([dir, budget])], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`run with budget ${budget} failed: ${r.stderr}`);
      const o = JSON.parse(r.stdout.trim().split('\n').pop());
      console.log(`| ${budget} | ${o.done} | ${o.seconds.toFixed(2)} | ${o.peakMB.toFixed(0)} |`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
