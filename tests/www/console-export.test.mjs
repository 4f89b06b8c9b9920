// The console's dataset writer (www/console/export.js) on its own, in Node: what the browser test
// cannot reach with a fresh relay — answers stored before receipts were kept (receipt null), an
// item's several records at a shard's end, upload records. The relay's pages are given as the
// relay words them (docs/relay.md §4f); the browser test runs the same code against a real relay.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wallet, verifyMessage } from "ethers";
import { exportDataset, PSEUDONYM_MESSAGE } from "../../www/console/export.js";

const wallet = new Wallet(`0x${"05".repeat(32)}`);
const summary = { kind: "text_labeling", title: "Label", instructions: "Pick one.", licence: "CC0-1.0", items: 3 };

/** Records as the relay's results pages give them: `{index, contributors, receipts, …}`. */
function record(index, receipt) {
  return {
    index, item: { text: `item ${index}` }, answer: { label: "a" }, confidence: 0.9, method: "majority",
    contributors: ["0x00000000000000000000000000000000000000Cc"],
    receipts: [{ contributor: "0x00000000000000000000000000000000000000Cc", receipt }],
  };
}

async function exported(layout, pages) {
  const asked = [];
  const out = await exportDataset({
    layout, campaign: "cats", summary, seed: wallet.signMessageSync(PSEUDONYM_MESSAGE), requester: wallet.address,
    relay: "http://127.0.0.1:1/",
    get: async (path) => {
      asked.push(path);
      return pages.shift();
    },
    signMessage: async (bytes) => wallet.signMessageSync(bytes),
  });
  const dir = await mkdtemp(join(tmpdir(), "datahub-console-export-"));
  await writeFile(join(dir, out.name), new Uint8Array(await out.blob.arrayBuffer()));
  execFileSync("tar", ["-xf", join(dir, out.name), "-C", dir]);
  return { out, asked, dir, folder: join(dir, `cats-${layout}`) };
}

test("answers without a receipt are counted in the manifest, the card and croissant.json", async () => {
  const receipt = { signer: "0x1", signature: "0x2", answer: "{}", domain: {}, message: {} };
  const { out, asked, dir, folder } = await exported("hf", [
    { records: [record(0, null), record(1, receipt)], next: 1, withdrawn: 2 },
    { records: [record(2, null)], next: null, withdrawn: 2 },
  ]);
  try {
    assert.deepEqual(asked, ["/v1/campaigns/cats/results?limit=1000", "/v1/campaigns/cats/results?after=1&limit=1000"]);
    assert.equal(out.missingReceipts, 2);
    const manifestBytes = await readFile(join(folder, "manifest.json"));
    const manifest = JSON.parse(manifestBytes);
    assert.equal(verifyMessage(manifestBytes, (await readFile(join(folder, "manifest.sig"), "utf8")).trim()), wallet.address);
    assert.equal(manifest.format, "datahub-export/1");
    assert.equal(manifest.records, 3);
    assert.equal(manifest.withdrawn.records, 2);
    assert.equal(manifest.missing_receipts.answers, 2);
    assert.match(manifest.missing_receipts.reason, /migration 0015/);
    assert.deepEqual(manifest.files.map((f) => f.path), ["README.md", "croissant.json", "data/train-00000.parquet"]);
    const card = await readFile(join(folder, "README.md"), "utf8");
    assert.match(card, /Answers without a receipt: 2\./);
    assert.match(card, /^license: cc0-1\.0$/m);
    const croissant = JSON.parse(await readFile(join(folder, "croissant.json"), "utf8"));
    assert.match(croissant["rai:dataLimitations"], /2 answer\(s\) have no signed receipt/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("an upload campaign is refused, naming the CLI command", async () => {
  const upload = { ...record(0, null), object: "ab".repeat(32) };
  await assert.rejects(exported("webdataset", [{ records: [upload], next: null }]),
    /record 0 is an upload: export upload campaigns with the CLI \(datahub campaign results cats --format webdataset -o DIR\)/);
});

test("an item's several records stay in one shard, keyed by their place", async () => {
  // 10,000 rows fill a shard; the next record of the same index stays in it, the next index
  // opens a second.
  const records = Array.from({ length: 10_000 }, (_, i) => record(i, null));
  records.push(record(9_999, null), record(10_000, null));
  const { out, dir, folder } = await exported("webdataset", [{ records, next: null }]);
  try {
    assert.equal(out.shards, 2);
    const names = (tar) => execFileSync("tar", ["-tf", join(folder, tar)], { encoding: "utf8" }).trim().split("\n");
    const first = names("data/train-000000.tar");
    assert.equal(first.length, 10_001);
    assert.deepEqual(first.slice(-2), ["000000009999_000.json", "000000009999_001.json"]);
    assert.deepEqual(names("data/train-000001.tar"), ["000000010000_000.json"]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
