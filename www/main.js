// The host page stays thin: it loads the WebAssembly client (pkg/, web build) and mounts the
// mini-app, which talks to the relay that serves this page.
import init, { mount, version } from "/pkg/web/datahub_wasm.js";

const root = document.getElementById("app");
try {
  await init();
  mount(root);
  document.body.dataset.version = version();
  document.body.dataset.ready = "true";
} catch (err) {
  root.textContent = `DataHub could not start: ${err}`;
  document.body.dataset.ready = "error";
  throw err;
}
