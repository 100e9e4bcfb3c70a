// The default entry's built-in kernels: the wasm inlined as base64 (src/generated, written by
// the build), registered with the loader so that init() needs no argument. `modelmark/lite`
// leaves this module out, and with it the 33 KB of base64 that a runtime given a pre-compiled
// module (Cloudflare Workers) would never use.
import { WASM_BASE64 } from './generated/wasm-bytes.js';
import { decodeTrustedBase64, setBuiltInKernels } from './wasm.js';

setBuiltInKernels(() => decodeTrustedBase64(WASM_BASE64) as Uint8Array<ArrayBuffer>);
