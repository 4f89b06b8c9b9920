// pkg/README.md's examples run: each ```js block is loaded as a module in headless Chromium,
// with an import map sending @datahub/wasm to the web build and @datahub/wasm/worker to
// pkg/worker, and must finish without an error.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serve, launch } from "./browser.mjs";

const readme = await readFile(new URL("../../pkg/README.md", import.meta.url), "utf8");
// Examples that start with `// needs a relay` run in relay.test.mjs, against `datahub dev`.
const blocks = [...readme.matchAll(/^```js\n([\s\S]*?)^```$/gm)]
  .map((m) => m[1])
  .filter((code) => !code.startsWith("// needs a relay"));

const page = `<!doctype html>
<meta charset="utf-8">
<script type="importmap">
{ "imports": { "@datahub/wasm": "/pkg/web/datahub_wasm.js", "@datahub/wasm/worker": "/pkg/worker/index.js" } }
</script>
<body></body>`;

let dir;
let server;
let browser;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "datahub-readme-"));
  await writeFile(join(dir, "index.html"), page);
  for (const [i, code] of blocks.entries()) await writeFile(join(dir, `block-${i}.js`), code);
  server = await serve({ "/readme/": dir });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

test("the README has examples", () => assert.ok(blocks.length >= 5, `${blocks.length} blocks`));

for (const [i, code] of blocks.entries()) {
  const title = code.split("\n").find((l) => !l.startsWith("import") && l.trim() && !l.startsWith("await init")) ?? "";
  test(`README example ${i + 1} runs: ${title.trim().slice(0, 60)}`, async () => {
    const p = await browser.page();
    const logs = [];
    p.on("console", (m) => logs.push(m.text()));
    await p.goto(`${server.origin}/readme/index.html`);
    const outcome = await p.evaluate(async (url) => {
      try {
        await import(url);
        return null;
      } catch (e) {
        return `${e.name}: ${e.message}`;
      }
    }, `/readme/block-${i}.js`);
    assert.equal(outcome, null, logs.join("\n"));
    assert.deepEqual(p.errors, []);
    await p.close();
  });
}
