// The mini-app on the three browser engines: Chromium, WebKit (which every iOS wallet's dApp
// browser is: WKWebView) and Firefox, through one journey (`journey` below) and one small driver
// interface (engines.mjs). Each engine, on the page `datahub dev` serves and against its real
// relay and storage nodes: continues without a wallet, answers one task of each labeling type
// (in Chinese: the requester's results hold exactly the choices clicked, and the balance rises by
// each reward), seals a picture in the page with the wasm client and uploads it to the storage
// nodes (the requester's export decrypts exactly those bytes), then reads its balance and claims
// it as a voucher the relay's treasury signed. app.test.mjs covers Chromium in depth (wallets,
// the recording, touch, the errors); screenshots of every step go to target/e2e/<engine>-*.png.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { verifyTypedData } from "ethers";
import { LocalSigner } from "@datahub/wasm";
import { startDev, root } from "./dev.mjs";
import { png } from "./png.mjs";
import { chromium, webkit, firefox } from "./engines.mjs";

const shots = join(root, "target/e2e");
const REWARD = "0.01";
let net;
let info;
let scratch;
let requester;

/**
 * One campaign of each labeling type, without golden items, so that any answer is accepted and
 * paid at once (overlap 1); their items and labels are Chinese, so the screenshots show CJK text.
 * `clicks` are the taps a contributor makes; `answer` what the relay must then store.
 */
const LABELING = [
  {
    kind: "image_categorization",
    spec: { title: "引擎：这是什么形状？", labels: ["圆形", "方形", "三角形", "星形"], multi_label: false, items: ["red-circle", "blue-square", "green-triangle", "yellow-star", "orange-circle", "purple-square"].map((n) => ({ image_url: `/demo/${n}.svg` })) },
    clicks: ["choose:2"],
    answer: { labels: ["三角形"] },
  },
  {
    kind: "content_verification",
    spec: { title: "引擎：这句话对吗？", items: ["长城很长。", "北京是中国的首都。", "水在零度结冰。", "太阳从东方升起。", "猫会飞。", "上海在海边。"].map((text) => ({ text, claim: "这句话是真的。" })) },
    clicks: ["choose:1"],
    answer: { verdict: "false" },
  },
  {
    // Each CJK character is a word: the first two taps mark the two-character name first in
    // every item.
    kind: "text_labeling",
    spec: { title: "引擎：人名和地名", labels: ["人名", "地名", "机构", "无"], items: ["李白住在长安。", "王维去了洛阳。", "杜甫来到成都。", "苏轼游览杭州。", "白居易住在洛阳。", "孟浩然回到襄阳。"].map((text) => ({ text })) },
    clicks: ["word:0", "word:1", "mark:0", "choose:1"],
    answer: { label: "地名", spans: [{ start: 0, end: 2, label: "人名" }] },
  },
  {
    kind: "content_moderation",
    spec: { title: "引擎：这条消息违规吗？", labels: ["垃圾信息", "辱骂", "个人信息", "误导"], items: ["恭喜你中奖了，点击链接领取！", "谢谢你昨天的帮助。", "我的电话是 555-0134。", "喝水可以治百病。", "明天见。", "今天天气很好。"].map((text) => ({ text })) },
    clicks: ["choose:0", "choose:2"],
    // The relay keeps flags sorted.
    answer: { flags: ["个人信息", "垃圾信息"] },
  },
];

before(async () => {
  net = await startDev();
  info = await (await fetch(`${net.origin}/v1/info`)).json();
  scratch = await mkdtemp(join(tmpdir(), "datahub-engines-"));
  await mkdir(shots, { recursive: true });
  requester = LocalSigner.generate();
  net.grant(requester.address, info.chains[0].id, "10");
  for (const { kind, spec } of LABELING) {
    const full = {
      id: campaignId(kind), kind, instructions: "请回答。", reward: REWARD, token: "USDT",
      budget: "1", min_task_seconds: 0, encryption_key: requester.compressedPublicKey.slice(2),
      chains: [info.chains[0].id], ...spec,
    };
    const body = new TextEncoder().encode(JSON.stringify(full));
    const time = Date.now();
    const made = await fetch(`${net.origin}/v1/campaigns`, {
      method: "POST", body,
      headers: {
        "content-type": "application/json", "x-datahub-time": String(time),
        "x-datahub-signature": requester.signRequest("POST", "/v1/campaigns", body, time, info.relay_address),
      },
    });
    assert.equal(made.status, 201, await made.text());
  }
});

after(async () => {
  await net?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

function campaignId(kind) {
  return `engines-${kind.replaceAll("_", "-")}`;
}

/** A decimal token amount in millionths of a token. */
function units(text) {
  const [whole, fraction = ""] = text.split(".");
  return BigInt(whole || "0") * 1_000_000n + BigInt(fraction.padEnd(6, "0").slice(0, 6) || "0");
}

/** The balance the page's header shows, in millionths of a token. */
async function balance(browser) {
  const text = await browser.evaluate(() => document.querySelector("#dh-balance")?.textContent ?? "");
  const match = /([0-9]+(?:\.[0-9]+)?) USDT/.exec(text);
  return units(match ? match[1] : "0");
}

/** Waits until the task screen shows a task of `kind` and nothing is under way. */
async function taskReady(browser, kind) {
  await browser.waitFor((kind) => document.querySelector(`.dh-task[data-kind=${kind}]`) !== null && document.querySelector("[data-busy=false]") !== null, kind);
}

/** Submits the task on screen and waits for the balance to change; what it rose by. */
async function submitAndWaitForCredit(browser) {
  const before = await balance(browser);
  const shown = await browser.evaluate(() => document.querySelector("#dh-balance").textContent.trim());
  await browser.click("#dh-submit");
  await browser.waitFor((shown) => document.querySelector("#dh-balance")?.textContent.trim() !== shown, shown);
  return (await balance(browser)) - before;
}

/**
 * A requester's signed GET of `path`, as JSON. `GET /v1/campaigns/{id}/results` lists each
 * answer with the item it was given on and who gave it.
 */
async function signedGet(path) {
  const time = Date.now();
  const response = await fetch(`${net.origin}${path}`, {
    headers: {
      "x-datahub-time": String(time),
      "x-datahub-signature": requester.signRequest("GET", path, new Uint8Array(), time, info.relay_address),
    },
  });
  assert.equal(response.status, 200, await response.clone().text());
  return response.json();
}

/** The whole journey on one engine; `seed` makes its picture its own. Returns what it checked. */
async function journey(browser, seed) {
  const tag = browser.name.toLowerCase();
  const shot = (step) => browser.screenshot(join(shots, `${tag}-${step}.png`));
  try {
    await browser.goto(net.origin);
    // The connect screen as a contributor sees it once the page has looked for wallets.
    await browser.waitFor(() => document.querySelector("#dh-no-wallet") !== null);
    // In Chinese from here to the upload: the switch, and CJK text on every engine's screen.
    await browser.click("[data-action=lang]");
    await browser.waitFor(() => document.documentElement.lang === "zh-CN");
    await shot("connect");
    await browser.click("#dh-connect-local");
    await browser.waitFor(() => document.querySelector("[data-screen=campaigns] .dh-card") !== null);
    const wallet = await browser.evaluate(() => document.querySelector(".dh-who")?.title ?? "");
    assert.match(wallet, /^0x[0-9a-fA-F]{40}$/, `${browser.name}: signed in with a local key`);

    let earned = 0n;
    for (const { kind, clicks, answer } of LABELING) {
      await browser.click(`[data-action='campaign:${campaignId(kind)}']`);
      await taskReady(browser, kind);
      const lease = await browser.evaluate(() => document.querySelector(".dh-task").dataset.lease);
      for (const action of clicks) {
        await browser.click(`[data-action='${action}']`);
        // A tap re-renders the screen: the next one finds the new buttons.
        if (action.startsWith("mark:")) await browser.waitFor(() => document.querySelector(".dh-spans li") !== null);
      }
      await shot(kind);
      assert.equal(await submitAndWaitForCredit(browser), units(REWARD), `${browser.name} ${kind}: credited exactly the reward`);
      earned += units(REWARD);
      const { records } = await signedGet(`/v1/campaigns/${campaignId(kind)}/results`);
      const mine = records.filter((r) => r.contributors.some((c) => c.toLowerCase() === wallet.toLowerCase()));
      assert.equal(mine.length, 1, `${browser.name} ${kind}: one answer of this contributor: ${JSON.stringify(records)}`);
      assert.deepEqual(mine[0].answer, answer, `${browser.name} ${kind}: the relay stored the choices clicked (lease ${lease})`);
      await browser.waitFor(() => document.querySelector("[data-busy=false]") !== null);
      await browser.click("[data-action=back]");
      await browser.waitFor(() => document.querySelector("[data-screen=campaigns] .dh-card") !== null);
    }

    // An upload: sealed in the page, shards to the nodes, paid once it is complete.
    await browser.click("[data-action=lang]");
    await browser.waitFor(() => document.documentElement.lang === "en");
    await browser.click("[data-action='campaign:demo-image-upload']");
    await taskReady(browser, "image_upload");
    const picture = png(200 + seed, 150, seed);
    const file = join(scratch, `${tag}.png`);
    await writeFile(file, picture);
    await browser.upload("#dh-file", file);
    await browser.waitFor(() => document.querySelector("#dh-preview") !== null);
    await shot("image_upload");
    const demo = (await (await fetch(`${net.origin}/v1/campaigns`)).json()).campaigns.find((c) => c.id === "demo-image-upload");
    assert.equal(await submitAndWaitForCredit(browser), units(demo.reward), `${browser.name}: the upload is paid its reward`);
    earned += units(demo.reward);

    // The balance: the header and the wallet panel say what was earned, all of it claimable on
    // the chain; the claim is a voucher for exactly that, signed by the relay's treasury.
    await browser.waitFor(() => document.querySelector("[data-busy=false]") !== null);
    await browser.click("[data-action=back]");
    await browser.waitFor(() => document.querySelector("[data-screen=campaigns] .dh-amount[data-token=USDT]") !== null);
    assert.equal(await balance(browser), earned, `${browser.name}: the header shows every reward`);
    const panel = await browser.evaluate(() => document.querySelector(".dh-amount[data-token=USDT]").textContent);
    assert.equal(units(/([0-9.]+) USDT/.exec(panel)?.[1] ?? "0"), earned, `${browser.name}: the balance panel: ${panel}`);
    await browser.click("#dh-claim");
    await browser.waitFor(() => document.querySelector("#dh-voucher-json") !== null);
    await shot("balance");
    const voucher = JSON.parse(await browser.evaluate(() => document.querySelector("#dh-voucher-json").textContent));
    assert.equal(units(voucher.amount_tokens), earned, `${browser.name}: the voucher pays what was earned`);
    const { domain, types, message } = voucher.typed_data;
    const { EIP712Domain: _, ...structs } = types;
    assert.equal(verifyTypedData(domain, structs, message, voucher.signature), info.treasury_address, `${browser.name}: signed by the treasury`);
    assert.equal(String(message.recipient).toLowerCase(), wallet.toLowerCase(), `${browser.name}: to this contributor`);
    return picture;
  } catch (error) {
    await browser.screenshot(join(shots, `failed-${tag}.png`)).catch(() => {});
    throw error;
  }
}

/** The requester's export of the demo upload campaign holds exactly `picture`. */
async function exported(picture, tag) {
  const out = join(scratch, `uploads-${tag}`);
  net.datahub(["campaign", "results", "demo-image-upload", "-o", out, "-k", join(net.data, "requester.key"), "--relay", net.origin]);
  const objects = await readdir(join(out, "objects"));
  const bodies = await Promise.all(objects.map((f) => readFile(join(out, "objects", f))));
  return bodies.some((b) => b.equals(picture));
}

const ENGINES = [["Chromium", chromium, 3], ["WebKit", webkit, 1], ["Firefox", firefox, 2]];

// The engines at once, each with its own browser and contributor: together they take about as
// long as the slowest alone (they mostly wait on the relay and on each other's pages), which
// keeps the js gate's time small.
test("the journey on every engine", { concurrency: ENGINES.length }, async (t) => {
  await Promise.all(ENGINES.map(([name, start, seed]) =>
    t.test(`${name}: without a wallet, one task of each labeling type, an upload, the balance`, async () => {
      const started = Date.now();
      const browser = await start();
      try {
        const picture = await journey(browser, seed);
        assert.ok(await exported(picture, name.toLowerCase()), `${name}: the requester decrypts exactly the picture uploaded`);
        assert.deepEqual(browser.errors ?? [], [], `${name}: no page errors`);
      } finally {
        await browser.close();
      }
      t.diagnostic(`${name}: the journey in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    })));
});
