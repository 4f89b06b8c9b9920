// The three browser engines behind one small interface, so that the same journey runs on each:
// Chromium (Debian's) through playwright-core; WebKit (what iOS wallets, Binance Wallet on iPhone
// included, render dApps with) through Debian's WebKitWebDriver under Xvfb, spoken to in plain
// W3C WebDriver; Firefox (Debian's firefox-esr) through puppeteer-core over WebDriver BiDi.
//
// A driver has: name, goto(url), click(css), upload(css, path), waitFor(fn, arg), evaluate(fn,
// arg), screenshot(path), close(), and `errors` (the page's uncaught errors) where the engine
// reports them. Functions run in the page, so they may only use their one argument, and return
// what serializes as JSON (a DOM node does not: `waitFor` predicates return booleans).
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import puppeteer from "puppeteer-core";
import { launch } from "../pkg/browser.mjs";

const WAIT_MS = 60_000;

/** A free TCP port on loopback. */
async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Polls `check` until it returns a truthy value, or fails after `ms` saying `what`. */
async function poll(check, what, ms = WAIT_MS) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${last.message}` : ""}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

// The W3C WebDriver element reference key.
const ELEMENT = "element-6066-11e4-a52e-4f735466cecf";

/** Chromium: Debian's, headless, through playwright-core (tests/pkg/browser.mjs). */
export async function chromium() {
  const browser = await launch({ viewport: { width: 1024, height: 800 } });
  const page = await browser.page();
  return {
    name: "Chromium",
    errors: page.errors,
    goto: (url) => page.goto(url),
    // Playwright waits for the element to be there, visible and still before it clicks.
    click: (css) => page.click(css, { timeout: WAIT_MS }),
    upload: (css, path) => page.setInputFiles(css, path, { timeout: WAIT_MS }),
    // Playwright passes one argument to a page function; the journey needs no more.
    evaluate: (fn, arg) => page.evaluate(fn, arg),
    waitFor: (fn, arg) => poll(() => page.evaluate(fn, arg), String(fn)),
    screenshot: (path) => page.screenshot({ path, fullPage: true }),
    close: () => browser.close(),
  };
}

/** WebKit: `xvfb-run -a WebKitWebDriver --port=N` and a W3C session with default capabilities. */
export async function webkit() {
  const port = await freePort();
  const server = spawn("xvfb-run", ["-a", "WebKitWebDriver", `--port=${port}`], {
    stdio: ["ignore", "ignore", "pipe"],
    detached: true,
  });
  let stderr = "";
  server.stderr.on("data", (chunk) => (stderr += chunk));
  const base = `http://127.0.0.1:${port}`;
  const call = async (method, path, body) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: body ? { "content-type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    const json = await response.json();
    if (!response.ok) throw new Error(`WebDriver ${method} ${path}: ${json.value?.error}: ${json.value?.message}`);
    return json.value;
  };
  const kill = () => {
    // xvfb-run starts Xvfb and the driver: end the whole group.
    try {
      process.kill(-server.pid, "SIGTERM");
    } catch {}
  };
  let session;
  try {
    await poll(async () => (await fetch(`${base}/status`)).ok, `WebKitWebDriver on port ${port} (${stderr.trim()})`, 30_000);
    session = (await call("POST", "/session", { capabilities: {} })).sessionId;
  } catch (error) {
    kill();
    throw error;
  }
  const s = `/session/${session}`;
  const find = async (css) => (await call("POST", `${s}/element`, { using: "css selector", value: css }))[ELEMENT];
  const evaluate = async (fn, ...args) => {
    // An async function's promise is awaited through execute/async's callback.
    const body = `const done = arguments[arguments.length - 1];
      Promise.resolve((${fn}).apply(null, Array.prototype.slice.call(arguments, 0, -1)))
        .then((v) => done({ ok: v === undefined ? null : v }), (e) => done({ error: String(e && e.message || e) }));`;
    const result = await call("POST", `${s}/execute/async`, { script: body, args });
    if (result && "error" in result) throw new Error(result.error);
    return result?.ok;
  };
  return {
    name: "WebKit",
    async goto(url) {
      await call("POST", `${s}/url`, { url });
    },
    async click(css) {
      // The app draws each screen anew: an element found may be replaced before the click
      // lands ("stale element reference"); find it again. WebDriver scrolls an element just
      // into view, where the task screen's sticky Skip/Submit bar may cover it ("element click
      // intercepted"): to the middle first.
      await poll(async () => {
        const id = await find(css);
        await call("POST", `${s}/execute/sync`, { script: "arguments[0].scrollIntoView({ block: 'center' })", args: [{ [ELEMENT]: id }] });
        await call("POST", `${s}/element/${id}/click`, {});
        return true;
      }, css);
    },
    async upload(css, path) {
      const id = await poll(() => find(css), css);
      await call("POST", `${s}/element/${id}/value`, { text: path });
    },
    evaluate,
    waitFor: (fn, ...args) => poll(() => evaluate(fn, ...args), String(fn)),
    async screenshot(path) {
      await writeFile(path, Buffer.from(await call("GET", `${s}/screenshot`), "base64"));
    },
    async close() {
      await call("DELETE", s).catch(() => {});
      kill();
    },
  };
}

/** Firefox: Debian's firefox-esr through puppeteer-core over WebDriver BiDi, headless. */
export async function firefox() {
  const profile = await mkdtemp(join(tmpdir(), "datahub-firefox-"));
  const browser = await puppeteer.launch({
    browser: "firefox",
    protocol: "webDriverBiDi",
    executablePath: "/usr/bin/firefox-esr",
    headless: true,
    userDataDir: profile,
    // Firefox 140's BiDi has no screen-orientation override, which setting a viewport sends.
    defaultViewport: null,
    // No updates, telemetry or other network of its own.
  });
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  return {
    name: "Firefox",
    errors,
    goto: (url) => page.goto(url),
    async click(css) {
      // The app renders each screen anew: an element found may be replaced before the click
      // lands ("detached"); find it again.
      await poll(async () => {
        await page.click(css);
        return true;
      }, css);
    },
    async upload(css, path) {
      const input = await page.waitForSelector(css, { timeout: WAIT_MS });
      await input.uploadFile(path);
    },
    evaluate: (fn, ...args) => page.evaluate(fn, ...args),
    waitFor: (fn, ...args) => poll(() => page.evaluate(fn, ...args), String(fn)),
    screenshot: (path) => page.screenshot({ path }),
    async close() {
      await browser.close().catch(() => {});
      await rm(profile, { recursive: true, force: true });
    },
  };
}
