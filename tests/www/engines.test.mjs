// The mini-app on the engines other than Chromium (app.test.mjs covers Chromium in depth):
// WebKit, which every iOS wallet's dApp browser is (WKWebView), and Firefox. Each one, on the
// page `datahub dev` serves and against its real relay and storage nodes: continues without a
// wallet, answers a task (the relay receives exactly the choice clicked and credits the
// reward), then seals a picture in the page with the wasm client and uploads it to the storage
// nodes; the requester's export decrypts exactly those bytes.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { LocalSigner } from "@datahub/wasm";
import { startDev, root } from "./dev.mjs";
import { png } from "./png.mjs";
import { webkit, firefox } from "./engines.mjs";

const shots = join(root, "target/e2e");
let net;
let info;
let scratch;
let requester;
const TEXT_CAMPAIGN = "engines-verify";

before(async () => {
  net = await startDev();
  info = await (await fetch(`${net.origin}/v1/info`)).json();
  scratch = await mkdtemp(join(tmpdir(), "datahub-engines-"));
  await mkdir(shots, { recursive: true });
  // A campaign without golden items, so any clicked answer is paid at once (overlap 1).
  requester = LocalSigner.generate();
  const spec = {
    id: TEXT_CAMPAIGN, kind: "content_verification", title: "Engines", instructions: "Answer.",
    items: Array.from({ length: 6 }, (_, i) => ({ text: `Item ${i}`, claim: "It is an item." })),
    reward: "0.01", token: "USDT", budget: "1", min_task_seconds: 0,
    encryption_key: requester.compressedPublicKey.slice(2), chains: [info.chains[0].id],
  };
  net.grant(requester.address, spec.chains[0], spec.budget);
  const body = new TextEncoder().encode(JSON.stringify(spec));
  const time = Date.now();
  const made = await fetch(`${net.origin}/v1/campaigns`, {
    method: "POST", body,
    headers: {
      "content-type": "application/json", "x-datahub-time": String(time),
      "x-datahub-signature": requester.signRequest("POST", "/v1/campaigns", body, time, info.relay_address),
    },
  });
  assert.equal(made.status, 201, await made.text());
});

after(async () => {
  await net?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** The balance the page shows, in millionths of a token. */
async function balance(browser) {
  const text = await browser.evaluate(() => document.querySelector("#dh-balance")?.textContent ?? "");
  const match = /([0-9]+)(?:\.([0-9]+))?/.exec(text);
  assert.ok(match, `a balance is shown: ${JSON.stringify(text)}`);
  return BigInt(match[1]) * 1_000_000n + BigInt((match[2] ?? "").padEnd(6, "0").slice(0, 6));
}

/** Submits the task on screen and waits for the balance to change; what it rose by. */
async function submitAndWaitForCredit(browser) {
  const before = await balance(browser);
  const shown = await browser.evaluate(() => document.querySelector("#dh-balance").textContent.trim());
  await browser.click("#dh-submit");
  await browser.waitFor((shown) => document.querySelector("#dh-balance")?.textContent.trim() !== shown, shown);
  return (await balance(browser)) - before;
}

/** The whole journey on one engine; `seed` makes its picture its own. */
async function journey(browser, seed) {
  const tag = browser.name.toLowerCase();
  try {
    await browser.goto(net.origin);
    // The connect screen as a contributor sees it once the page has looked for wallets.
    await browser.waitFor(() => document.querySelector("#dh-no-wallet") !== null);
    await browser.click("#dh-connect-local");
    await browser.waitFor(() => document.querySelector("[data-screen=campaigns] .dh-card") !== null);

    // A text task: the choice clicked is the answer the relay stores.
    await browser.click(`[data-action='campaign:${TEXT_CAMPAIGN}']`);
    await browser.waitFor(() => document.querySelector(".dh-task[data-kind=content_verification]") !== null && document.querySelector("[data-busy=false]") !== null);
    const text = await browser.evaluate(() => document.querySelector(".dh-task").textContent);
    const index = Number(/Item ([0-9])/.exec(text)?.[1]);
    assert.ok(Number.isInteger(index), `${browser.name}: the task shows its item: ${text}`);
    await browser.click("[data-action='choose:1']");
    await browser.screenshot(join(shots, `${tag}-content_verification.png`));
    assert.equal(await submitAndWaitForCredit(browser), 10_000n, `${browser.name}: credited exactly the reward`);
    const record = (await results()).find((r) => r.index === index);
    assert.deepEqual(record?.answer, { verdict: "false" }, `${browser.name}: the relay stored the clicked choice (false) for item ${index}`);

    // An upload: sealed in the page, shards to the nodes, paid once it is complete.
    await browser.waitFor(() => document.querySelector("[data-busy=false]") !== null);
    await browser.click("[data-action=back]");
    await browser.click("[data-action='campaign:demo-image-upload']");
    await browser.waitFor(() => document.querySelector(".dh-task[data-kind=image_upload]") !== null && document.querySelector("[data-busy=false]") !== null);
    const picture = png(200 + seed, 150, seed);
    const file = join(scratch, `${tag}.png`);
    await writeFile(file, picture);
    await browser.upload("#dh-file", file);
    await browser.waitFor(() => document.querySelector("#dh-preview") !== null);
    await browser.screenshot(join(shots, `${tag}-image_upload.png`));
    const demo = (await (await fetch(`${net.origin}/v1/campaigns`)).json()).campaigns.find((c) => c.id === "demo-image-upload");
    const reward = BigInt(Math.round(Number(demo.reward) * 1e6));
    assert.equal(await submitAndWaitForCredit(browser), reward, `${browser.name}: the upload is paid its reward`);
    return picture;
  } catch (error) {
    await browser.screenshot(join(shots, `failed-${tag}.png`)).catch(() => {});
    throw error;
  }
}

/** The campaign's results, as its requester reads them (a signed GET). */
async function results() {
  const path = `/v1/campaigns/${TEXT_CAMPAIGN}/results`;
  const time = Date.now();
  const response = await fetch(`${net.origin}${path}`, {
    headers: {
      "x-datahub-time": String(time),
      "x-datahub-signature": requester.signRequest("GET", path, new Uint8Array(), time, info.relay_address),
    },
  });
  assert.equal(response.status, 200, await response.clone().text());
  return (await response.json()).records;
}

/** The requester's export of the demo upload campaign holds exactly `picture`. */
async function exported(picture, tag) {
  const out = join(scratch, `uploads-${tag}`);
  net.datahub(["campaign", "results", "demo-image-upload", "-o", out, "-k", join(net.data, "requester.key"), "--relay", net.origin]);
  const objects = await readdir(join(out, "objects"));
  const bodies = await Promise.all(objects.map((f) => readFile(join(out, "objects", f))));
  return bodies.some((b) => b.equals(picture));
}

for (const [name, start, seed] of [["WebKit", webkit, 1], ["Firefox", firefox, 2]]) {
  test(`${name}: continue without a wallet, answer a task, seal and upload a picture`, async () => {
    const browser = await start();
    try {
      const picture = await journey(browser, seed);
      assert.ok(await exported(picture, name.toLowerCase()), `${name}: the requester decrypts exactly the picture uploaded`);
      assert.deepEqual(browser.errors ?? [], [], `${name}: no page errors`);
    } finally {
      await browser.close();
    }
  });
}
