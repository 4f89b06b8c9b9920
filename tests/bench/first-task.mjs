// Time to the first task, as a newcomer on a slow phone meets it: Chromium with its CPU slowed
// 4× (DevTools' throttling), a cold cache and a fresh profile each run, on the page `datahub
// dev` serves; once on loopback at a desktop's size, once as a phone (390×844, touch) on a
// "Fast 3G" network (DevTools' network emulation: 1.6 Mbps down, 750 kbps up, 150 ms RTT).
// Marks, from the navigation's start: the connect screen (drawn by the page's script before the
// wasm arrives), the campaigns to browse on it, the mini-app mounted (its wasm fetched and
// compiled), and the first task rendered after "continue without a wallet" (a key made, one
// sign-in) and the first demo campaign opened (the clicks are made the moment their buttons
// appear). Then the page's weight: every file it loaded, as sent (the relay gzips) and raw.
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

// Records when each screen first appears, from navigation start.
function marks() {
  window.benchMarks = {};
  const seen = (name, selector) => !window.benchMarks[name] && document.querySelector(selector) &&
    (window.benchMarks[name] = performance.now());
  new MutationObserver(() => {
    seen("ready", "#dh-connect-local");
    seen("browse", ".dh-offer");
    seen("mounted", "body[data-ready=true]");
    seen("task", ".dh-task");
  }).observe(document, { childList: true, subtree: true, attributes: true });
}

// DevTools' "Fast 3G" as the issue states it: 1.6 Mbps down, 750 kbps up, 150 ms round trip.
const FAST_3G = { offline: false, latency: 150, downloadThroughput: 1.6e6 / 8, uploadThroughput: 750e3 / 8 };
const PROFILES = [
  { name: "loopback", launch: {}, network: null },
  {
    name: "phone, Fast 3G",
    launch: { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true },
    network: FAST_3G,
  },
];

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

const net = await startDev();
const results = Object.fromEntries(PROFILES.map((p) => [p.name, []]));
let weight;
try {
  for (const profile of PROFILES) {
    for (let run = 0; run < runs; run++) {
      const browser = await launch(profile.launch);
      try {
        const page = await browser.page();
        const cdp = await page.context().newCDPSession(page);
        await cdp.send("Emulation.setCPUThrottlingRate", { rate: throttle });
        if (profile.network) {
          await cdp.send("Network.enable");
          await cdp.send("Network.emulateNetworkConditions", profile.network);
        }
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
        await page.goto(net.origin, { waitUntil: "commit" });
        await page.click("#dh-connect-local");
        await page.click(".dh-card[data-kind=image_categorization]");
        await page.waitForSelector(".dh-task");
        const m = await page.evaluate(() => window.benchMarks);
        results[profile.name].push(m);
        const ms = (x) => (x === undefined ? "-" : `${x.toFixed(0)} ms`);
        console.log(`${profile.name}, run ${run + 1}: connect screen ${ms(m.ready)}, campaigns ${ms(m.browse)}, app mounted ${ms(m.mounted)}, first task ${ms(m.task)}`);
        if (!profile.network) weight ??= files;
      } finally {
        await browser.close();
      }
    }
  }
} finally {
  await net.stop();
}

const wasm = weight.find((f) => f.path.endsWith(".wasm"));
const total = (key) => weight.reduce((sum, f) => sum + f[key], 0);
const mark = (profile, key) => median(results[profile].map((r) => r[key] ?? NaN));
const [loopback, phone] = PROFILES.map((p) => p.name);
const summary = {
  date: new Date().toISOString(),
  throttle,
  runs,
  network: FAST_3G,
  ready_ms: mark(loopback, "ready"),
  browse_ms: mark(loopback, "browse"),
  mounted_ms: mark(loopback, "mounted"),
  first_task_ms: mark(loopback, "task"),
  phone_ready_ms: mark(phone, "ready"),
  phone_browse_ms: mark(phone, "browse"),
  phone_mounted_ms: mark(phone, "mounted"),
  phone_first_task_ms: mark(phone, "task"),
  wasm_bytes: wasm?.raw,
  wasm_gzip_bytes: wasm?.gzip,
  page_bytes: total("raw"),
  page_gzip_bytes: total("gzip"),
  files: weight,
};
console.log(`\nChromium, CPU ${throttle}× slower, cold cache, median of ${runs}:`);
console.log(`| measure | loopback | phone, Fast 3G |\n|---|---:|---:|`);
for (const [label, key] of [["connect screen", "ready"], ["campaigns to browse", "browse"], ["mini-app mounted", "mounted"], ["first task rendered", "task"]]) {
  console.log(`| ${label} | ${mark(loopback, key).toFixed(0)} ms | ${mark(phone, key).toFixed(0)} ms |`);
}
console.log(`| .wasm | ${(summary.wasm_bytes / 1024).toFixed(0)} KiB (${(summary.wasm_gzip_bytes / 1024).toFixed(0)} KiB gzip) | |`);
console.log(`| whole page (${weight.length} files) | ${(summary.page_bytes / 1024).toFixed(0)} KiB (${(summary.page_gzip_bytes / 1024).toFixed(0)} KiB gzip) | |`);
for (const f of weight) console.log(`  ${f.path}: ${f.raw} B, ${f.gzip} B gzip, sent as ${f.encoding || "identity"}`);
if (jsonOut) await writeFile(jsonOut, JSON.stringify(summary, null, 2));
