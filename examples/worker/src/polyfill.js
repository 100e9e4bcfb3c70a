// jSquash's PNG glue (wasm-bindgen) builds its results with `new ImageData(...)`. It installs a
// stand-in only where it recognises Cloudflare (a `caches.default`) or Node, so make sure one
// exists before the codecs run (workerd without a cache service, other edge runtimes). This
// module is imported first by index.js.
if (typeof globalThis.ImageData === 'undefined') {
  globalThis.ImageData = class ImageData {
    constructor(data, width, height) {
      this.data = data;
      this.width = width;
      this.height = height;
    }
  };
}
