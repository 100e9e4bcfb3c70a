# Runs the example Worker locally with the open-source Workers runtime:
#
#   node examples/worker/build.mjs                        # bundle into dist/worker/
#   npx workerd serve examples/worker/config.capnp        # http://127.0.0.1:8787
#
# `--socket-addr http=127.0.0.1:PORT` picks another port. Paths below are relative to this file.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [ (name = "modelmark", worker = .modelmarkWorker) ],
  sockets = [ (name = "http", address = "127.0.0.1:8787", http = (), service = "modelmark") ],
);

const modelmarkWorker :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "../../dist/worker/worker.js"),
    # Each .wasm the bundle imports is a wasm module: the code receives a compiled
    # WebAssembly.Module, as on Cloudflare, where compiling wasm from bytes is refused.
    (name = "modelmark.wasm", wasm = embed "../../dist/worker/modelmark.wasm"),
    (name = "squoosh_png_bg.wasm", wasm = embed "../../dist/worker/squoosh_png_bg.wasm"),
    (name = "mozjpeg_dec.wasm", wasm = embed "../../dist/worker/mozjpeg_dec.wasm"),
    (name = "mozjpeg_enc.wasm", wasm = embed "../../dist/worker/mozjpeg_enc.wasm"),
  ],
  compatibilityDate = "2026-11-01",
  bindings = [
    # For the example and its test only: in production the key is a secret
    # (`wrangler secret put MODELMARK_KEY`), never a value in a config file.
    (name = "MODELMARK_KEY", text = "modelmark worker example key"),
    # Clients send it as Authorization: Bearer TOKEN (in production: wrangler secret put API_TOKEN).
    (name = "API_TOKEN", text = "example-token-for-local-tests-only"),
    (name = "MAX_BODY_BYTES", text = "16777216"),
    (name = "MAX_PIXELS", text = "8000000"),
    (name = "MAX_EMBED_PIXELS", text = "2100000"),
    (name = "MAX_ASPECT", text = "4"),
  ],
);
