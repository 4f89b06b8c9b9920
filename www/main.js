// The host page stays thin: it loads the WebAssembly client (pkg/, web build) and lets it work.
import init, { version } from "/pkg/web/datahub_wasm.js";

const out = document.getElementById("version");
try {
  await init();
  out.textContent = `v${version()}`;
  document.body.dataset.ready = "true";
} catch (err) {
  out.textContent = `failed to load: ${err}`;
  document.body.dataset.ready = "error";
  throw err;
}
