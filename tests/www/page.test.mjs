// The host page in headless Chromium: www/ and pkg/ served as `datahub dev` serves them (here
// through Playwright's request routing, so no relay is needed): the mini-app mounts, and with
// no relay behind the page it says so and offers to retry.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = fileURLToPath(new URL("../..", import.meta.url));
const types = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm", ".css": "text/css" };
const origin = "http://datahub.test";

// The flags Chromium needs here: root (no sandbox), no GPU, no network of its own.
const args = [
  "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

test("the page mounts the mini-app; without a relay it says so and offers a retry", async () => {
  const { version } = JSON.parse(await readFile(join(root, "pkg/package.json"), "utf8"));
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    chromiumSandbox: false,
    args,
  });
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (err) => errors.push(err));
    await page.route(`${origin}/**`, async (route) => {
      let path = new URL(route.request().url()).pathname;
      if (path === "/") path = "/index.html";
      const file = path.startsWith("/pkg/")
        ? normalize(join(root, path))
        : normalize(join(root, "www", path));
      try {
        await route.fulfill({
          body: await readFile(file),
          contentType: types[extname(file)] ?? "application/octet-stream",
        });
      } catch {
        await route.fulfill({ status: 404 });
      }
    });
    await page.goto(`${origin}/`);
    await page.waitForSelector("body[data-ready]");
    assert.deepEqual(errors, []);
    assert.equal(await page.getAttribute("body", "data-version"), version);
    await page.waitForSelector("#app [data-action=retry-relay]");
    assert.match(await page.textContent("#app .dh-status"), /relay cannot be reached/);
  } finally {
    await browser.close();
  }
});
