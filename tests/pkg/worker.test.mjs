// Sealing in a Web Worker (pkg/worker) in headless Chromium: a large generated Blob is sealed
// off the main thread with bounded WebAssembly memory while the page keeps running, a small
// one comes back byte-exact, and 1 GiB streamed through sealBlob stays under 64 MiB of memory.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { serve, launch } from "./browser.mjs";

const MIB = Number(process.env.SEAL_WORKER_MIB ?? 256);
let server;
let browser;
before(async () => {
  server = await serve();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.close();
});

async function open() {
  const page = await browser.page();
  await page.goto(`${server.origin}/pages/worker.html`);
  await page.waitForSelector("body[data-ready]", { state: "attached" });
  return page;
}

test("a worker seals a small Blob that opens byte-exact on the main thread", async () => {
  const page = await open();
  const r = await page.evaluate(() => window.roundTrip(1_000_000));
  assert.deepEqual(r, { segments: 4, opened: true, reopened: true, error: { name: "KeyError", code: "InvalidPublicKey" } });
  assert.deepEqual(page.errors, []);
});

test(`a worker seals ${MIB} MiB under 64 MiB of wasm memory while the page stays responsive`, { timeout: 600_000 }, async (t) => {
  const page = await open();
  const r = await page.evaluate((mib) => window.sealLarge(mib), MIB);
  t.diagnostic(JSON.stringify(r));
  console.log(`worker: sealed ${MIB} MiB in ${r.seconds.toFixed(2)} s (${r.mibPerSecond.toFixed(0)} MiB/s), ` +
    `wasm memory ≤ ${(r.maxWasmMemory / 1048576).toFixed(1)} MiB, main thread: longest timer gap ${r.maxTimerGap.toFixed(0)} ms, ` +
    `longest frame gap ${r.maxFrameGap.toFixed(0)} ms over ${r.frames} frames`);
  assert.deepEqual(page.errors, []);
  // The sealed stream is the plaintext plus its header and 16 bytes per 64 KiB chunk.
  const sealedLen = MIB * 1048576 + 135 + (MIB * 16) * 16;
  assert.equal(r.segmentCount, Math.ceil(sealedLen / (4 * 1048576)));
  assert.ok(r.shardBytes >= sealedLen * 1.5, `shard bytes ${r.shardBytes}`);
  assert.ok(r.maxWasmMemory < 64 * 1048576, `wasm memory ${r.maxWasmMemory}`);
  assert.ok(r.progressEvents >= MIB / 4);
  // Generous: a main thread that sealed itself would stall for the whole sealing (seconds).
  assert.ok(r.maxTimerGap < 1000, `timer gap ${r.maxTimerGap} ms`);
  assert.ok(r.frames > 0);
});

test("sealBlob over 1 GiB keeps the wasm memory under 64 MiB", { timeout: 600_000 }, async (t) => {
  const page = await open();
  const r = await page.evaluate((mib) => window.sealSynthetic(mib), 1024);
  t.diagnostic(JSON.stringify(r));
  console.log(`sealBlob: 1 GiB in ${r.seconds.toFixed(2)} s (${r.mibPerSecond.toFixed(0)} MiB/s), wasm memory ≤ ${(r.maxWasmMemory / 1048576).toFixed(1)} MiB`);
  assert.deepEqual(page.errors, []);
  const sealedLen = 1024 * 1048576 + 135 + 1024 * 16 * 16;
  assert.equal(r.segmentCount, Math.ceil(sealedLen / (4 * 1048576)));
  assert.ok(r.maxWasmMemory < 64 * 1048576, `wasm memory ${r.maxWasmMemory}`);
});
