// pkg/README.md's Node.js examples (```js node blocks) run under Node, as a user's script would:
// each is written to a folder whose node_modules/@datahub/wasm is pkg/ (so `exports` picks the
// node build), with DATAHUB_KEY naming a key file written by `datahub keygen` (no 0x), and run
// with `node`. The one that needs a relay runs against `datahub dev`.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bin, root, startDev } from "../www/dev.mjs";

const readme = await readFile(join(root, "pkg/README.md"), "utf8");
const blocks = [...readme.matchAll(/^```js node\n([\s\S]*?)^```$/gm)].map((m) => m[1]);

let dir;
let dev;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "datahub-readme-node-"));
  await mkdir(join(dir, "node_modules/@datahub"), { recursive: true });
  await symlink(join(root, "pkg"), join(dir, "node_modules/@datahub/wasm"), "dir");
  execFileSync(bin, ["keygen", "-o", join(dir, "me.key")]);
  dev = await startDev({ nodes: 1 });
});
after(async () => {
  await dev?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Runs `code` as an ES module under Node in `dir`; its standard output. */
async function run(code, i) {
  const file = join(dir, `example-${i}.mjs`);
  await writeFile(file, code);
  return execFileSync(process.execPath, [file], {
    cwd: dir,
    encoding: "utf8",
    env: { ...process.env, DATAHUB_KEY: join(dir, "me.key"), DATAHUB_RELAY: dev.origin },
  });
}

test("the README has Node.js examples, one with a relay", () => {
  assert.equal(blocks.length, 2);
  assert.equal(blocks.filter((b) => b.startsWith("// needs a relay")).length, 1);
  for (const code of blocks) assert.ok(!code.includes("init()") || code.includes("no init() in Node"), code);
});

for (const [i, code] of blocks.entries()) {
  test(`README Node.js example ${i + 1} runs under node`, async () => {
    const out = await run(code, i);
    if (code.startsWith("// needs a relay")) {
      // "accepted 0.05 USDT" or, when the task was a golden item answered wrong, "rejected 0 USDT".
      assert.match(out, /^(accepted|rejected|pending) [0-9.]+ USDT$/m, out);
    } else {
      const keyShow = execFileSync(bin, ["key", "show", join(dir, "me.key"), "--json"], { encoding: "utf8" });
      const { address, public_key } = JSON.parse(keyShow);
      assert.ok(out.includes(`${address} 0x${public_key}`), out);
    }
  });
}
