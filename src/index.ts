// The package's main entry (`modelmark`): the whole core API, with the WebAssembly kernels
// built in. `modelmark/lite` (src/lite.ts) is the same API without them, for runtimes that are
// handed a pre-compiled module anyway (Cloudflare Workers resolve to it by the "workerd"
// export condition).
import './inline.js';
export * from './lite.js';
