// `modelmark/modelmark.wasm`: the compiled kernels, as a runtime or bundler that imports .wasm
// files hands them to code (Cloudflare Workers, esbuild's wasm loader): a WebAssembly.Module,
// to pass to createWatermarker's `module` option or to init().
import type { WasmModule } from '../dist/wasm.js';

declare const kernels: WasmModule;
export default kernels;
