// Shared by the browser tests of the package: a static server for the repository on loopback
// (pkg/ at /pkg/, these pages at /pages/, tests/node_modules at /node_modules/) and Chromium
// started through playwright-core with the flags this machine needs.
import { createServer } from "node:http";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { extname, join, normalize, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = fileURLToPath(new URL("../..", import.meta.url));
const types = {
  ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript",
  ".wasm": "application/wasm", ".json": "application/json",
};
const mounts = {
  "/pkg/": join(root, "pkg"),
  "/pages/": join(root, "tests/pkg/pages"),
  "/node_modules/": join(root, "tests/node_modules"),
};

/** Serves `mounts` on 127.0.0.1 (a free port); resolves to {origin, close}. */
export async function serve(extra = {}) {
  const table = Object.fromEntries(
    Object.entries({ ...mounts, ...extra }).map(([url, dir]) => [url, dir.replace(/[\\/]+$/, "")]),
  );
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    const mount = Object.keys(table).find((m) => path.startsWith(m));
    const file = mount && normalize(join(table[mount], path.slice(mount.length)));
    if (!file || !(file === table[mount] || file.startsWith(table[mount] + sep))) {
      res.writeHead(404).end();
      return;
    }
    try {
      const body = await readFile(file.endsWith(sep) ? join(file, "index.html") : file);
      res.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream" }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return { origin, close: () => new Promise((resolve) => server.close(resolve)) };
}

// Root (no sandbox), no GPU, no network of its own.
const args = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

/**
 * A fresh Chromium with its own empty profile; `close()` removes the profile. `options.args`
 * adds flags; the other options are Playwright's context options (viewport, hasTouch, locale…).
 */
export async function launch(options = {}) {
  const { args: extra = [], ...context_options } = options;
  const profile = await mkdtemp(join(tmpdir(), "datahub-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    chromiumSandbox: false,
    args: [...args, ...extra],
    ...context_options,
  });
  return {
    context,
    async page() {
      const page = await context.newPage();
      page.errors = [];
      page.on("pageerror", (err) => page.errors.push(err));
      return page;
    },
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
