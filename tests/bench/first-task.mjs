// Time to the first task, as a newcomer on a slow phone meets it: Chromium with its CPU slowed
// 4× (DevTools' throttling), a cold cache and a fresh profile each run, on the page `datahub
// dev` serves. Marks, from the navigation's start: the mini-app ready (its connect screen), and
// the first task rendered after "continue without a wallet" (a key made, one sign-in) and the
// first demo campaign opened (the clicks are made the moment their buttons appear). Then the
// page's weight: every file it loaded, as sent (the relay gzips) and raw.
//
//   node tests/bench/first-task.mjs [--runs 5] [--throttle 4] [--json FILE]
import { writeFile } from "node:fs/promises";
import { gzipSync } from "node:zlib";
import { launch } from "../pkg/browser.mjs";
import { startDev } from "../www/dev.mjs";

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const runs = Number(arg("runs", 5));
const throttle = Number(arg("throttle", 4));
const jsonOut = arg("json", null);

// Records when the connect screen and the first task first appear, from navigation start.
function marks() {
  window.benchMarks = {};
  const seen = (name, selector) => !window.benchMarks[name] && document.querySelector(selector) &&
    (window.benchMarks[name] = performance.now());
  new MutationObserver(() => {
    seen("ready", "#dh-connect-local");
    seen("task", ".dh-task");
  }).observe(document, { childList: true, subtree: true });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

const net = await startDev();
const results = [];
let weight;
try {
  for (let run = 0; run < runs; run++) {
    const browser = await launch();
    try {
      const page = await browser.page();
      const cdp = await page.context().newCDPSession(page);
      await cdp.send("Emulation.setCPUThrottlingRate", { rate: throttle });
      await page.addInitScript(marks);
      const files = [];
      page.on("response", async (response) => {
        const url = new URL(response.url());
        if (url.origin !== net.origin || url.pathname.startsWith("/v1/")) return;
        try {
          const body = await response.body();
          const sent = Number((await response.allHeaders())["content-length"] ?? NaN);
          files.push({ path: url.pathname, raw: body.length, gzip: gzipSync(body).length, encoding: response.headers()["content-encoding"] ?? "", sent });
        } catch {}
      });
      await page.goto(net.origin);
      await page.click("#dh-connect-local");
      await page.click(".dh-card[data-kind=image_categorization]");
      await page.waitForSelector(".dh-task");
      const m = await page.evaluate(() => window.benchMarks);
      results.push(m);
      console.log(`run ${run + 1}: ready ${m.ready.toFixed(0)} ms, first task ${m.task.toFixed(0)} ms`);
      weight ??= files;
    } finally {
      await browser.close();
    }
  }
} finally {
  await net.stop();
}

const wasm = weight.find((f) => f.path.endsWith(".wasm"));
const total = (key) => weight.reduce((sum, f) => sum + f[key], 0);
const summary = {
  date: new Date().toISOString(),
  throttle,
  runs,
  ready_ms: median(results.map((r) => r.ready)),
  first_task_ms: median(results.map((r) => r.task)),
  wasm_bytes: wasm?.raw,
  wasm_gzip_bytes: wasm?.gzip,
  page_bytes: total("raw"),
  page_gzip_bytes: total("gzip"),
  files: weight,
};
console.log(`\nChromium, CPU ${throttle}× slower, cold cache, median of ${runs}:`);
console.log(`| measure | value |\n|---|---|`);
console.log(`| mini-app ready (connect screen) | ${summary.ready_ms.toFixed(0)} ms |`);
console.log(`| first task rendered (local key, sign-in, campaign opened) | ${summary.first_task_ms.toFixed(0)} ms |`);
console.log(`| .wasm | ${(summary.wasm_bytes / 1024).toFixed(0)} KiB (${(summary.wasm_gzip_bytes / 1024).toFixed(0)} KiB gzip) |`);
console.log(`| whole page (${weight.length} files) | ${(summary.page_bytes / 1024).toFixed(0)} KiB (${(summary.page_gzip_bytes / 1024).toFixed(0)} KiB gzip) |`);
for (const f of weight) console.log(`  ${f.path}: ${f.raw} B, ${f.gzip} B gzip, sent as ${f.encoding || "identity"}`);
if (jsonOut) await writeFile(jsonOut, JSON.stringify(summary, null, 2));
