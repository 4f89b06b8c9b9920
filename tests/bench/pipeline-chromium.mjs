// The same suite as pipeline.mjs (pipeline-suite.mjs), in headless Chromium: the web build of
// @datahub/wasm and the peers' browser builds, loaded through an import map from
// tests/node_modules. A benchmark, not a test.
//
// Run from tests/ after `cargo xtask pkg`: node bench/pipeline-chromium.mjs
// (BENCH_SECONDS, BENCH_MIB, BENCH_K, BENCH_M and BENCH_SEGMENT_MIB as for pipeline.mjs, and
// `--json FILE` too: the same parameters give the same figures in both).
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { serve, launch } from "../pkg/browser.mjs";
import { params } from "./pipeline-suite.mjs";

const bench = fileURLToPath(new URL(".", import.meta.url));
const n = "/node_modules";
const imports = {
  "@datahub/wasm": "/pkg/web/datahub_wasm.js",
  "libsodium-wrappers": `${n}/libsodium-wrappers/dist/modules-esm/libsodium-wrappers.mjs`,
  libsodium: `${n}/libsodium/dist/modules-esm/libsodium.mjs`,
  "hash-wasm": `${n}/hash-wasm/dist/index.esm.js`,
  "@noble/ciphers/": `${n}/@noble/ciphers/`,
  "@noble/curves/": `${n}/@noble/curves/`,
  "@noble/hashes/": `${n}/@noble/curves/node_modules/@noble/hashes/`,
  "@digitaldefiance/reed-solomon-erasure.wasm": `${n}/@digitaldefiance/reed-solomon-erasure.wasm/browser/browser.js`,
  ethers: `${n}/ethers/dist/ethers.min.js`,
};
const html = `<!doctype html><meta charset="utf-8">
<script type="importmap">${JSON.stringify({ imports })}</script><body></body>`;

const server = await serve({ "/bench/": bench });
const browser = await launch();
try {
  const page = await browser.page();
  await page.route(`${server.origin}/bench/index.html`, (route) => route.fulfill({ body: html, contentType: "text/html" }));
  page.on("console", (m) => console.log(m.text()));
  page.on("response", (r) => r.status() >= 400 && console.error(`${r.status()} ${r.url()}`));
  await page.goto(`${server.origin}/bench/index.html`);
  const rows = await page.evaluate(
    async (params) => {
      const { default: init, ...dh } = await import("@datahub/wasm");
      await init();
      const { run } = await import("/bench/pipeline-suite.mjs");
      const rsWasm = new Uint8Array(await (await fetch("/node_modules/@digitaldefiance/reed-solomon-erasure.wasm/browser/reed_solomon_erasure_bg.wasm")).arrayBuffer());
      return await run({ dh, rsWasm, log: (line) => console.log(line), header: navigator.userAgent.match(/Chrome\/[\d.]+/)?.[0] ?? "Chromium", ...params });
    },
    params(),
  );
  if (page.errors.length) throw page.errors[0];
  const jsonAt = process.argv.indexOf("--json");
  if (jsonAt > 0) writeFileSync(process.argv[jsonAt + 1], JSON.stringify(rows, null, 2));
} finally {
  await browser.close();
  await server.close();
}
