// The sealing pipeline (encrypt + erasure-code + hash) and its parts, and signing and
// recovery, in one Node.js process: the wasm build of @datahub/wasm (pkg/node) side by side
// with libsodium-wrappers, @noble/ciphers, hash-wasm, @digitaldefiance/reed-solomon-erasure.wasm,
// ethers v6 and @noble/curves (the suite is pipeline-suite.mjs). A benchmark, not a test.
//
// Run from tests/ after `cargo xtask pkg`: node bench/pipeline.mjs
// BENCH_SECONDS (default 2) is the time spent on each figure; BENCH_MIB (default 64) the size
// sealed; BENCH_K, BENCH_M and BENCH_SEGMENT_MIB (default 10, 4 and 8) the coding parameters;
// BENCH_CLOCK=cpu times with the process's CPU time instead of the wall clock (for a machine
// others are using; Node.js only). Prints MiB/s or ops/s and, for each of ours, the ratio to the best peer (>1: ahead).
// `--json FILE` also writes every figure there, {group, name, value, unit, ours} (cargo xtask bench).
// bench/pipeline-chromium.mjs runs the same suite in headless Chromium.
import { createRequire } from "node:module";
import { readFileSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { run, params, cpuClock } from "./pipeline-suite.mjs";

const require = createRequire(import.meta.url);
const dh = require("@datahub/wasm");
const wasm = readFileSync(require.resolve("@datahub/wasm/web/datahub_wasm_bg.wasm"));
// Its ES module build cannot find its .wasm on its own in Node.js (it uses __dirname).
const rsWasm = readFileSync(
  new URL("../node_modules/@digitaldefiance/reed-solomon-erasure.wasm/dist/reed_solomon_erasure_bg.wasm", import.meta.url),
);

const rows = await run({
  dh,
  rsWasm,
  log: (line) => console.log(line),
  header: `node ${process.version}; datahub_wasm_bg.wasm ${wasm.length} bytes (${gzipSync(wasm, { level: 9 }).length} gzip -9)`,
  ...params(),
  ...(process.env.BENCH_CLOCK === "cpu" ? { clock: cpuClock } : {}),
});
const jsonAt = process.argv.indexOf("--json");
if (jsonAt > 0) writeFileSync(process.argv[jsonAt + 1], JSON.stringify(rows, null, 2));
