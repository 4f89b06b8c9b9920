// The page's security headers, in headless Chromium (Debian's) against the real relay of
// `datahub dev`: the mini-app starts and reaches its relay under the Content-Security-Policy
// (nothing it needs is refused), and a page of another site cannot frame it — the claim screen
// cannot be overlaid and clicked through. A control frame of the attacker's own shows that a
// frame which is allowed does load, so the refusal is the relay's headers and not the harness.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { launch } from "../pkg/browser.mjs";
import { startDev } from "./dev.mjs";

let net;
let attacker;

before(async () => {
  net = await startDev({ nodes: 0 });
  // Another site: a page that frames the relay's page, and a harmless page of its own.
  const server = createServer((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    if (path === "/frame-relay.html") {
      res.writeHead(200, { "content-type": "text/html" });
      res.end(`<!doctype html><iframe id="victim" src="${net.origin}/" width="400" height="600"></iframe>`);
    } else if (path === "/frame-own.html") {
      res.writeHead(200, { "content-type": "text/html" });
      res.end(`<!doctype html><iframe id="own" src="/inner.html"></iframe>`);
    } else if (path === "/inner.html") {
      res.writeHead(200, { "content-type": "text/html" });
      res.end(`<!doctype html><p id="inner">framed</p>`);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  // `localhost` is another origin than the relay's `127.0.0.1`.
  attacker = { origin: `http://localhost:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
});

after(async () => {
  await attacker?.close();
  await net?.stop();
});

test("the mini-app runs under its Content-Security-Policy", async () => {
  const browser = await launch();
  try {
    const page = await browser.page();
    const refused = [];
    page.on("console", (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) refused.push(m.text());
    });
    const response = await page.goto(`${net.origin}/`);
    const csp = response.headers()["content-security-policy"];
    assert.match(csp, /frame-ancestors 'none'/);
    assert.match(csp, /script-src 'self' 'wasm-unsafe-eval'/);
    assert.equal(response.headers()["x-frame-options"], "DENY");
    assert.equal(response.headers()["x-content-type-options"], "nosniff");
    assert.equal(response.headers()["referrer-policy"], "no-referrer");
    await page.waitForSelector("body[data-ready]");
    assert.equal(await page.getAttribute("body", "data-ready"), "true");
    // It reached the relay (a fetch under connect-src) and offers the sign-in buttons.
    await page.waitForSelector("#app [data-action=local]");
    assert.deepEqual(page.errors, []);
    assert.deepEqual(refused, []);
    // Its own stylesheet applied (style-src): the injected <style> is in force.
    const styled = await page.evaluate(() => [...document.styleSheets].some((s) => s.ownerNode?.id === "datahub-style" && s.cssRules.length > 0));
    assert.ok(styled);
  } finally {
    await browser.close();
  }
});

test("another site cannot frame the page", async () => {
  const browser = await launch();
  try {
    const page = await browser.page();
    const messages = [];
    page.on("console", (m) => messages.push(m.text()));
    // Control: the attacker's own frame loads.
    await page.goto(`${attacker.origin}/frame-own.html`);
    const own = await (await page.$("#own")).contentFrame();
    await own.waitForSelector("#inner");

    await page.goto(`${attacker.origin}/frame-relay.html`);
    const iframe = await page.$("#victim");
    await page.waitForFunction(() => document.readyState === "complete");
    // Give a page that did load the time to start its app.
    await page.waitForTimeout(1500);
    const frame = await iframe.contentFrame();
    // Chromium replaces a refused frame with its error page: nothing of the relay's runs.
    assert.ok(frame, "the iframe has a frame");
    assert.notEqual(frame.url(), `${net.origin}/`, `the relay's page loaded in the frame: ${frame.url()}`);
    assert.equal(await frame.$("#app"), null, "the mini-app is in the attacker's frame");
    assert.ok(
      messages.some((m) => /frame-ancestors 'none'/.test(m)),
      `Chromium did not report the frame-ancestors refusal: ${JSON.stringify(messages)}`,
    );
  } finally {
    await browser.close();
  }
});
