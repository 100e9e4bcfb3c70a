// `node bench/worker-latency.mjs`: request latency of the example Cloudflare Worker
// (examples/worker) on workerd, on loopback, for a 1920x1080 JPEG (q90): POST /detect three
// times (the first in a fresh isolate pays the start-up: codec and kernel instantiation, first
// calls), then POST /embed twice as sequential JPEG (the default) and twice as progressive JPEG.
// Two fresh workerd processes. Wall time per request as the client sees it (the work is the
// Worker's: decode, mark or detect, encode).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { buildWorker } from '../examples/worker/build.mjs';
import { photoInput } from './photos.mjs';

// The API token the example config binds (clients must send it).
const TOKEN = /name = "API_TOKEN", text = "([^"]*)"/.exec(readFileSync(new URL('../examples/worker/config.capnp', import.meta.url), 'utf8'))[1];

const ROOT = fileURLToPath(new URL('..', import.meta.url));
await buildWorker();
const src = sharp((await photoInput('mate-Storm.jpg', [960, 540])).input);
const jpg = new Uint8Array(await src.resize(1920, 1080, { fit: 'cover' }).jpeg({ quality: 90 }).toBuffer());
const requests = [['/detect', 'detect'], ['/detect', 'detect'], ['/detect', 'detect'],
  ['/embed?payload=c0ffee0000000001', 'embed sequential'], ['/embed?payload=c0ffee0000000001', 'embed sequential'],
  ['/embed?payload=c0ffee0000000001&progressive=1', 'embed progressive'], ['/embed?payload=c0ffee0000000001&progressive=1', 'embed progressive']];
console.log(`| workerd process | ${requests.map(([, n]) => n).join(' | ')} |`);
console.log(`|---|${requests.map(() => '---').join('|')}|`);
for (let run = 1; run <= 2; run++) {
  const w = spawn(`${ROOT}node_modules/.bin/workerd`, ['serve', `${ROOT}examples/worker/config.capnp`, '--socket-addr', 'http=127.0.0.1:0', '--control-fd', '3'],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit', 'pipe'] });
  try {
    const port = await new Promise((resolve, reject) => {
      let buf = '';
      w.stdio[3].on('data', (d) => {
        buf += d;
        for (const line of buf.split('\n')) {
          try { const m = JSON.parse(line); if (m.event === 'listen') resolve(m.port); } catch { /* partial line */ }
        }
      });
      w.once('exit', (code) => reject(new Error(`workerd exited with ${code}`)));
    });
    const cells = [];
    for (const [path] of requests) {
      const t = performance.now();
      const r = await fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', body: jpg, headers: { authorization: `Bearer ${TOKEN}` } });
      await r.arrayBuffer();
      if (r.status !== 200) throw new Error(`${path}: ${r.status}`);
      cells.push(`${(performance.now() - t).toFixed(0)} ms`);
    }
    console.log(`| ${run} | ${cells.join(' | ')} |`);
  } finally {
    w.kill();
  }
}
