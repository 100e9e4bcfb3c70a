// Build the Photopea plug-in as a self-contained static page: dist/photopea/index.html and
// plugin.js (the core and its inlined WebAssembly bundled in). Host the folder on any HTTPS
// server and add its URL as a Photopea plug-in. Needs `npm run build:ts` first.
//
//   node scripts/build-photopea.mjs [--out DIR]
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** esbuild plug-in: `modelmark` and `modelmark/<entry>` resolve through package.json's exports to dist/. */
export const selfReference = {
  name: 'modelmark-self-reference',
  setup(b) {
    b.onResolve({ filter: /^modelmark(\/.*)?$/ }, async (args) => {
      const { exports } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'));
      const target = exports['.' + args.path.slice('modelmark'.length)];
      if (!target) return { errors: [{ text: `modelmark has no export ${args.path}` }] };
      return { path: join(ROOT, typeof target === 'string' ? target : target.import) };
    });
  },
};

const HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>modelmark for Photopea</title>
<style>html,body{margin:0;background:#2b2b2b}@media (prefers-color-scheme: light){html,body{background:#f2f2f2}}</style>
</head>
<body>
<main id="app"></main>
<noscript>This plug-in needs JavaScript.</noscript>
<script type="module" src="./plugin.js"></script>
</body>
</html>
`;

// Options from the page's query string: ?placement=layer&strength=1.5
const ENTRY = `
import { startPhotopeaPlugin } from 'modelmark/photopea';
const q = new URLSearchParams(location.search);
const options = {};
if (q.has('placement')) options.placement = q.get('placement');
if (q.has('strength')) options.strength = q.get('strength').trim() === '' ? NaN : Number(q.get('strength'));
const app = document.getElementById('app');
try {
  // For a local stand-in of Photopea only (tests, development): a loopback origin. Never '*' or
  // another site from the URL: a page framing the plug-in could then answer in Photopea's place.
  if (q.has('photopeaOrigin')) {
    const o = q.get('photopeaOrigin');
    if (!/^http:\\/\\/(127\\.0\\.0\\.1|localhost)(:\\d+)?$/.test(o)) throw new Error('photopeaOrigin must be a loopback origin such as http://127.0.0.1:8080 (for a local stand-in of Photopea)');
    options.origin = o;
  }
  startPhotopeaPlugin(app, options);
} catch (err) {
  // A bad option in the plug-in's URL: said in the panel, not a blank page.
  const p = document.createElement('p');
  p.setAttribute('role', 'alert');
  p.style.cssText = 'font: 13px system-ui, sans-serif; color: #b00020; padding: 8px';
  p.textContent = 'modelmark: this plug-in URL has a bad option: ' + (err && err.message ? err.message : err) +
    '. Use ?placement=document or layer and ?strength=0.25 to 4.';
  app.replaceChildren(p);
}
`;

/**
 * Build the plug-in page into `outDir` (default dist/photopea). Returns the folder.
 * @example
 * await buildPhotopea('/tmp/photopea');
 */
export async function buildPhotopea(outDir = join(ROOT, 'dist', 'photopea')) {
  await mkdir(outDir, { recursive: true });
  await build({
    stdin: { contents: ENTRY, resolveDir: ROOT, sourcefile: 'photopea-entry.js', loader: 'js' },
    outfile: join(outDir, 'plugin.js'), bundle: true, format: 'esm', platform: 'browser', target: 'chrome110',
    minify: true, sourcemap: 'linked', logLevel: 'warning', absWorkingDir: ROOT, plugins: [selfReference],
  });
  await writeFile(join(outDir, 'index.html'), HTML);
  return outDir;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const i = process.argv.indexOf('--out');
  const out = await buildPhotopea(i > 0 ? resolve(process.argv[i + 1]) : undefined);
  console.log(`Photopea plug-in page: ${out}/index.html`);
}
