// The built package (pkg/, linked as @datahub/wasm) as a consumer loads it: each build
// instantiates after wasm-opt and reports the version pkg/package.json declares.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { version: declared } = require("@datahub/wasm/package.json");

test("the node build loads through the package's exports", async () => {
  const { version } = await import("@datahub/wasm");
  assert.equal(version(), declared);
});

test("the node build loads with require()", () => {
  const { version } = require("@datahub/wasm");
  assert.equal(version(), declared);
});

test("the web build instantiates from the .wasm bytes", async () => {
  const { default: init, version } = await import("@datahub/wasm/web");
  const wasm = await readFile(require.resolve("@datahub/wasm/web/datahub_wasm_bg.wasm"));
  await init({ module_or_path: wasm });
  assert.equal(version(), declared);
});
