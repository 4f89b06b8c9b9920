// The npm package as a user gets it: `npm pack` of pkg/, installed into a fresh Vite app in a
// temporary folder (the tarball has no dependencies, so this needs no network), built with
// `vite build`, served with `vite preview` and run in headless Chromium, where it seals, opens,
// signs and seals in the package's Web Worker.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cp, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build, preview } from "vite";
import { verifyMessage } from "ethers";
import { launch } from "../pkg/browser.mjs";

const pkg = fileURLToPath(new URL("../../pkg/", import.meta.url));
const app = fileURLToPath(new URL("./app/", import.meta.url));

test("the packed package works in a fresh Vite app", { timeout: 300_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "datahub-vite-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const npm = (args, cwd) => execFileSync("npm", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });

  const [tarball] = JSON.parse(npm(["pack", "--json", "--pack-destination", dir], pkg)).map((p) => p.filename);
  const project = join(dir, "app");
  await cp(app, project, { recursive: true });
  await writeFile(join(project, "package.json"), JSON.stringify({ name: "datahub-vite-app", private: true, type: "module" }));
  npm(["install", "--no-audit", "--no-fund", "--offline", join(dir, tarball)], project);
  const installed = await readdir(join(project, "node_modules/@datahub/wasm"));
  assert.ok(installed.includes("web") && installed.includes("worker"), installed.join());

  await build({ root: project, logLevel: "warn", build: { outDir: "dist", target: "es2022" } });
  const server = await preview({ root: project, logLevel: "warn", preview: { port: 0, host: "127.0.0.1" } });
  t.after(() => server.httpServer.close());
  const url = server.resolvedUrls.local[0];

  const browser = await launch();
  t.after(() => browser.close());
  const page = await browser.page();
  await page.goto(url);
  await page.waitForFunction(() => window.result, null, { timeout: 60_000 });
  const result = await page.evaluate(() => window.result);
  assert.equal(result.error, undefined);
  assert.equal(result.opened, true);
  assert.equal(result.worker, true);
  assert.ok(result.segments > 1);
  assert.equal(verifyMessage(result.message, result.signature), result.address);
  assert.deepEqual(page.errors, []);
});
