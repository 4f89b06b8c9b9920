// The mini-app end to end, as contributors use it: headless Chromium (Debian's) on the page
// `datahub dev` serves, against the real relay and storage nodes, on the demo campaigns it
// seeds. A wallet (an EIP-1193 provider backed by a real key, announced by EIP-6963 on a
// desktop, or Binance Wallet's `window.binancew3w.ethereum` on a phone) signs in once and does
// one task of each type; the balance rises by exactly the rewards; the voucher verifies with
// ethers; the uploads decrypt byte-exact with the requester's key through the CLI. Then the
// errors a contributor meets. Screenshots of every task type go to target/e2e/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Contract, JsonRpcProvider, Wallet, verifyTypedData } from "ethers";
import { LocalSigner } from "@datahub/wasm";
import { launch } from "../pkg/browser.mjs";
import { startDev, root } from "./dev.mjs";
import { png } from "./png.mjs";

const KINDS = [
  "image_categorization", "content_verification", "text_labeling",
  "content_moderation", "image_upload", "voice_recording",
];
const UPLOADS = ["image_upload", "voice_recording"];
// The text a new wallet sees when an answer is accepted but its reward held (docs/relay.md §4a,
// "Pay on a known record").
const HELD_NOTICE = "Held until your record is known";
const shots = join(root, "target/e2e");
// A microphone that plays a generated tone, granted without a prompt.
const MEDIA_FLAGS = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"];

let net;
let info;
let demo;
// The demo campaigns as shipped: their golden items are the known truth a careful contributor
// would match (a wrong golden answer is not paid).
const shipped = {};
for (const kind of KINDS) {
  const file = join(root, "crates/cli/demo", `${kind.replaceAll("_", "-")}.json`);
  shipped[kind] = JSON.parse(await readFile(file, "utf8"));
}

/** `value` as JSON with object keys sorted: the relay need not keep the file's key order. */
function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** The choices (indexes) a careful contributor makes on `item`: golden ones right, others any. */
function choicesFor(kind, item) {
  const spec = shipped[kind];
  const golden = (spec.golden ?? []).find((g) => canonical(g.item) === canonical(item));
  const answer = golden?.answer;
  switch (kind) {
    case "image_categorization":
      return answer ? answer.labels.map((l) => spec.labels.indexOf(l)) : [0];
    case "content_verification":
      return [answer ? ["true", "false", "unsure"].indexOf(answer.verdict) : 0];
    case "text_labeling":
      return [answer ? spec.labels.indexOf(answer.label) : 0];
    case "content_moderation":
      return answer ? answer.flags.map((f) => spec.labels.indexOf(f)) : [0];
    default:
      return [];
  }
}

/**
 * Where a tap on words lands, as the app's instructions describe it: runs of letters, digits and
 * apostrophes; each CJK character, and each other visible character, on its own. Offsets are in
 * characters (code points).
 */
function words(text) {
  const out = [];
  const cjk = /[\u3040-\u30FF\u3400-\u4DBF\u4E00-\u9FFF\uF900-\uFAFF\uAC00-\uD7AF]/u;
  let run = null;
  for (const [i, c] of Array.from(text).entries()) {
    if ((/[\p{L}\p{N}]/u.test(c) && !cjk.test(c)) || c === "'" || c === "\u2019") {
      if (run && run.end === i) run.end = i + 1;
      else {
        if (run) out.push(run);
        run = { start: i, end: i + 1 };
      }
      continue;
    }
    if (run) out.push(run);
    run = null;
    if (/\S/u.test(c)) out.push({ start: i, end: i + 1 });
  }
  if (run) out.push(run);
  return out;
}

/**
 * The answer the relay must receive for the taps `everyTask` makes on `item`: the clicked choices
 * named by the campaign file's labels, in the relay's answer format (docs/relay.md §3). Written
 * from the clicks, not from the app's code, so an app that sends another choice than the one
 * clicked fails here even where any answer is paid (overlap-1 campaigns).
 */
function expectedAnswer(kind, item, choices) {
  const { labels = [], multi_label: multi } = shipped[kind];
  switch (kind) {
    case "image_categorization":
      // One label unless several may be chosen: then a later tap replaces an earlier one.
      return { labels: (multi ? choices : choices.slice(-1)).map((c) => labels[c]) };
    case "content_verification":
      return { verdict: ["true", "false", "unsure"][choices[0]] };
    case "text_labeling": {
      // Words 0 and 1 are tapped and marked with label 0 (see `everyTask`).
      const [first, second] = words(item.text);
      return { label: labels[choices[0]], spans: [{ start: first.start, end: second.end, label: labels[0] }] };
    }
    case "content_moderation":
      return { flags: choices.map((c) => labels[c]) };
    default:
      throw new Error(`${kind} has no labeling answer`);
  }
}

before(async () => {
  net = await startDev();
  info = await (await fetch(`${net.origin}/v1/info`)).json();
  const { campaigns } = await (await fetch(`${net.origin}/v1/campaigns`)).json();
  demo = Object.fromEntries(KINDS.map((kind) => [kind, campaigns.find((c) => c.kind === kind && c.id.startsWith("demo-"))]));
  for (const kind of KINDS) assert.ok(demo[kind], `datahub dev seeds a demo ${kind} campaign`);
  await mkdir(shots, { recursive: true });
});

after(async () => {
  await net?.stop();
});

/** A decimal token amount in millionths, as a BigInt. */
function units(text) {
  const [whole, fraction = ""] = String(text ?? "0").trim().split(".");
  return BigInt(whole || "0") * 1_000_000n + BigInt(fraction.padEnd(6, "0").slice(0, 6) || "0");
}

/** The USDT balance the page shows. */
async function shownBalance(page) {
  const text = await page.textContent("#dh-balance");
  const match = /([0-9.]+) USDT/.exec(text);
  return units(match ? match[1] : "0");
}

/** The USDT the page shows as held until the wallet's record is known (none: 0). */
async function shownHeld(page) {
  const text = (await page.locator("#dh-held").count()) ? await page.textContent("#dh-held") : "";
  const match = /([0-9.]+) USDT/.exec(text);
  return units(match ? match[1] : "0");
}

/**
 * Whether the header's USDT balance and held amount add up to `expected` millionths (run in the
 * page). The balance comes with the submission's answer, the held amount a moment later: waiting
 * for their sum waits for both.
 */
function headerTotalIs(expected) {
  const amount = (selector) => /([0-9.]+) USDT/.exec(document.querySelector(selector)?.textContent ?? "")?.[1] ?? "0";
  const units = (text) => {
    const [whole, fraction = ""] = text.split(".");
    return Number(whole) * 1e6 + Number(fraction.padEnd(6, "0").slice(0, 6));
  };
  return units(amount("#dh-balance")) + units(amount("#dh-held")) === expected;
}

/**
 * Installs an EIP-1193 wallet in the page before its scripts run: ethers' Wallet over `key`,
 * answering the methods a wallet answers; every call is logged in `window.walletCalls`.
 */
async function injectWallet(page, key, where) {
  await page.route("**/__test/ethers.js", (route) =>
    route.fulfill({ path: join(root, "tests/node_modules/ethers/dist/ethers.min.js"), contentType: "text/javascript" }));
  // The wallet's chain is the local network's anvil: what the wallet sends is really mined. A
  // wallet talks to its node from outside the page (the page's CSP does not bind it), so the
  // chain calls go through Node.js here.
  const chain = info.chains[0];
  const node = chainProvider();
  const signer = new Wallet(key, node);
  await page.exposeFunction("__walletSend", async (tx) => (await signer.sendTransaction({ to: tx.to, data: tx.data })).hash);
  await page.exposeFunction("__walletRpc", async (method, params) => node.send(method, params));
  await page.addInitScript(({ key, where, chainId }) => {
    const calls = [];
    window.walletCalls = calls;
    let ethers;
    // A wallet starts on some other chain (BNB Smart Chain) and is asked to switch.
    let current = 56;
    const provider = {
      async request({ method, params }) {
        calls.push(method);
        ethers ??= await import("/__test/ethers.js");
        const wallet = new ethers.Wallet(key);
        switch (method) {
          case "eth_requestAccounts":
          case "eth_accounts":
            return [wallet.address];
          case "eth_chainId":
            return `0x${current.toString(16)}`;
          case "wallet_switchEthereumChain":
            if (Number(params[0].chainId) !== chainId) {
              throw Object.assign(new Error("unknown chain"), { code: 4902 });
            }
            current = chainId;
            return null;
          case "personal_sign":
            return wallet.signMessage(ethers.getBytes(params[0]));
          case "eth_sendTransaction":
            // Signed by the wallet's own key and sent to the chain, as a wallet does.
            if (current !== chainId) throw Object.assign(new Error("wrong chain"), { code: 4901 });
            return window.__walletSend(params[0]);
          case "eth_getTransactionReceipt":
          case "eth_call":
            return window.__walletRpc(method, params);
          default:
            throw Object.assign(new Error(`${method} is not supported`), { code: 4200 });
        }
      },
      on() {},
      removeListener() {},
    };
    if (where === "binancew3w") {
      window.binancew3w = { ethereum: provider };
    } else {
      const info = { uuid: "8d0f4b8e-7b43-4a4c-9a53-1f5c0d1e2a77", name: "Test Wallet", icon: "data:image/svg+xml,%3Csvg%2F%3E", rdns: "org.datahub.test" };
      const announce = () => window.dispatchEvent(new CustomEvent("eip6963:announceProvider", { detail: Object.freeze({ info, provider }) }));
      window.addEventListener("eip6963:requestProvider", announce);
      announce();
    }
  }, { key, where, chainId: chain.id });
}

/**
 * A render does not stop what is being played: the recording plays (muted, looping), the
 * language switch draws the whole screen again, twice, and the recording goes on playing, the
 * very element that was started.
 */
async function keepsPlaying(page, press) {
  await page.evaluate(() => {
    const audio = document.querySelector("#dh-playback");
    audio.muted = true;
    audio.loop = true;
    audio.startedByTest = true;
    return audio.play();
  });
  await press("[data-action=lang]");
  await page.waitForFunction(() => document.documentElement.lang === "zh-CN");
  await press("[data-action=lang]");
  await page.waitForFunction(() => document.documentElement.lang === "en");
  const after = await page.evaluate(() => {
    const audio = document.querySelector("#dh-playback");
    return { same: audio.startedByTest === true, paused: audio.paused, at: audio.currentTime };
  });
  assert.deepEqual({ same: after.same, paused: after.paused }, { same: true, paused: false }, "the recording plays on through re-renders");
  // And it really advances.
  await page.waitForFunction((at) => document.querySelector("#dh-playback").currentTime !== at, after.at);
  // Enter submits unless a button other than a choice has the focus: leave the switch.
  await page.evaluate(() => {
    document.querySelector("#dh-playback").pause();
    document.activeElement?.blur();
  });
}

/** Signs in with the injected wallet, does one task of each type, claims; returns what happened. */
async function everyTask(page, { touch, prefix }) {
  const press = (selector) => (touch ? page.tap(selector) : page.click(selector));
  const submissions = [];
  const outcomes = {};
  const tasks = {};
  const clicked = {};
  page.on("response", async (response) => {
    const url = new URL(response.url());
    if (response.request().method() === "POST" && url.pathname === "/v1/submissions") {
      outcomes[JSON.parse(response.request().postData()).task] = { status: response.status(), body: await response.json() };
    }
    const next = /^\/v1\/campaigns\/([^/]+)\/next$/.exec(url.pathname);
    if (next && response.ok()) tasks[decodeURIComponent(next[1])] = await response.json();
  });
  page.on("request", (request) => {
    if (request.method() === "POST" && request.url().endsWith("/v1/submissions")) {
      submissions.push(JSON.parse(request.postData()));
    }
  });
  await page.goto(net.origin);
  await page.waitForSelector("#dh-connect-wallet");
  await page.screenshot({ path: join(shots, `${prefix}-connect.png`) });
  await press("#dh-connect-wallet");
  await page.waitForSelector("[data-screen=campaigns] .dh-card");
  await page.screenshot({ path: join(shots, `${prefix}-campaigns.png`), fullPage: true });
  const start = await shownBalance(page);
  let earned = 0n;
  const image = png(320, 240, 7);
  let recording;
  for (const kind of KINDS) {
    await press(`.dh-card[data-kind=${kind}]`);
    await page.waitForSelector(`.dh-task[data-kind=${kind}]`);
    await page.waitForSelector("[data-busy=false]");
    const lease = await page.getAttribute(".dh-task", "data-lease");
    const task = tasks[demo[kind].id];
    assert.equal(task?.lease, lease, `${kind}: the page shows the task the relay leased`);
    const choices = choicesFor(kind, task.item);
    clicked[kind] = { lease, item: task.item, choices };
    switch (kind) {
      case "image_categorization":
        await page.waitForFunction(() => document.querySelector(".dh-image")?.complete);
        assert.ok(await page.evaluate(() => document.querySelector(".dh-image").naturalWidth > 0), "the picture loads");
        for (const c of choices) await press(`[data-action='choose:${c}']`);
        break;
      case "content_verification":
        // The keyboard: a digit picks the verdict; Enter (below) submits.
        await page.keyboard.press(String(choices[0] + 1));
        break;
      case "text_labeling":
        await press("[data-action='word:0']");
        await press("[data-action='word:1']");
        await press("[data-action='mark:0']");
        await page.waitForSelector(".dh-spans li");
        await press(`[data-action='choose:${choices[0]}']`);
        break;
      case "content_moderation":
        for (const c of choices) await press(`[data-action='choose:${c}']`);
        break;
      case "image_upload":
        await page.setInputFiles("#dh-file", { name: "plant.png", mimeType: "image/png", buffer: image });
        await page.waitForSelector("#dh-preview");
        break;
      case "voice_recording":
        await press("[data-action=record]");
        await page.waitForFunction(() => parseFloat(document.querySelector("#dh-rec-time")?.textContent) >= 1.5);
        await press("[data-action=stop]");
        await page.waitForSelector("#dh-playback");
        recording = Buffer.from(await page.evaluate(async () => {
          const bytes = new Uint8Array(await (await fetch(document.querySelector("#dh-playback").src)).arrayBuffer());
          let text = "";
          for (const b of bytes) text += String.fromCharCode(b);
          return btoa(text);
        }), "base64");
        await keepsPlaying(page, press);
        break;
    }
    // A phone shows what fits its screen: the item scrolled so the answer and Submit are seen.
    if (touch) {
      await page.locator("#dh-submit").scrollIntoViewIfNeeded();
      await page.screenshot({ path: join(shots, `${prefix}-${kind}.png`) });
    } else {
      await page.screenshot({ path: join(shots, `${prefix}-${kind}.png`), fullPage: true });
    }
    const before = await shownBalance(page);
    const heldBefore = await shownHeld(page);
    if (touch) await press("#dh-submit");
    else await page.keyboard.press("Enter");
    await page.waitForFunction(headerTotalIs, Number(before + heldBefore + units(demo[kind].reward)), { timeout: 60_000 });
    const after = await shownBalance(page);
    const held = (await shownHeld(page)) - heldBefore;
    // A new wallet's answer to a campaign with golden items is accepted but its reward held until
    // its record is known; uploads (no golden items here) are paid at once.
    const withGolden = (shipped[kind].golden ?? []).length > 0;
    if (withGolden) {
      assert.equal(after - before, 0n, `${kind}: nothing credited yet`);
      assert.equal(held, units(demo[kind].reward), `${kind}: exactly the reward shown as held`);
      assert.ok((await page.textContent(".dh-status")).includes(HELD_NOTICE), `${kind}: the page says the reward is held and why`);
    } else {
      assert.equal(after - before, units(demo[kind].reward), `${kind}: credited at once, exactly the reward`);
      assert.equal(held, 0n, `${kind}: nothing held`);
    }
    // What the page sent for this lease, and what the relay made of it.
    const sent = submissions.filter((b) => b.task === lease);
    assert.equal(sent.length, 1, `${kind}: one submission for the lease`);
    assert.equal(sent[0].campaign, demo[kind].id, `${kind}: submitted to the campaign shown`);
    const outcome = outcomes[lease];
    assert.equal(outcome?.status, 200, `${kind}: the relay took the submission`);
    assert.equal(outcome.body.status, "accepted", `${kind}: accepted (a golden item only when its answer is right)`);
    assert.equal(outcome.body.held, withGolden, `${kind}: held exactly where the campaign has golden items`);
    if (withGolden) assert.equal(outcome.body.credited, "0", `${kind}: a held answer credits nothing yet`);
    if (!UPLOADS.includes(kind)) {
      assert.deepEqual(JSON.parse(sent[0].answer), expectedAnswer(kind, task.item, choices), `${kind}: the answer sent is the choice clicked`);
    } else {
      assert.match(sent[0].manifest_id ?? "", /^[0-9a-f]{64}$/, `${kind}: an upload names its object`);
      // A picture from the file input, a recording from the microphone: where it came from.
      const capture = kind === "voice_recording" ? "app" : "file";
      assert.deepEqual(JSON.parse(sent[0].answer), { object: sent[0].manifest_id, capture }, `${kind}: the answer is the uploaded object`);
    }
    if (!withGolden) earned += units(demo[kind].reward);
    await page.waitForSelector(`.dh-task[data-kind=${kind}]`);
    await page.waitForSelector("[data-busy=false]");
    await press("[data-action=back]");
    await page.waitForSelector("[data-screen=campaigns] .dh-card");
  }
  assert.equal((await shownBalance(page)) - start, earned, "the balance rose by exactly the rewards paid");
  // The standing says, per campaign, how many answers are held and for how much.
  const withHeld = KINDS.filter((k) => (shipped[k].golden ?? []).length > 0).length;
  await page.waitForFunction((n) => document.querySelectorAll("#dh-standing [data-held]").length === n, withHeld);

  // Claim everything on the first chain as a voucher.
  const chain = info.chains[0].id;
  await page.selectOption("#dh-chain", String(chain));
  const claimStarted = Date.now();
  await press("#dh-claim");
  await page.waitForSelector("#dh-voucher-json", { state: "attached" });
  // With a wallet, the claim goes on chain at once: pending, then confirmed with its hash.
  await page.waitForSelector("#dh-claim-tx[data-status=confirmed]", { timeout: 60_000 });
  const confirmedMs = Date.now() - claimStarted;
  const txText = await page.textContent("#dh-claim-tx");
  const tokenBalance = await page.textContent("#dh-token-balance");
  await page.screenshot({ path: join(shots, `${prefix}-voucher.png`), fullPage: true });
  const voucher = JSON.parse(await page.textContent("#dh-voucher-json"));
  return { submissions, clicked, image, recording, earned, voucher, chain, txText, tokenBalance, confirmedMs };
}

/**
 * Creates a campaign of `fields` for a fresh requester on the first chain, its budget granted
 * by the network's operator; the spec as sent.
 */
async function createCampaign(fields) {
  const requester = LocalSigner.generate();
  const spec = { ...fields, encryption_key: requester.compressedPublicKey.slice(2), chains: [info.chains[0].id] };
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
  // The requester, for what only it may do later (pause, close); not part of the spec sent.
  Object.defineProperty(spec, "requester", { value: requester });
  return spec;
}

/** Saves a screenshot of the page as it was when a step failed, then fails. */
const shootAndThrow = (page, name) => async (error) => {
  await page.screenshot({ path: join(shots, `failed-${name}.png`), fullPage: true }).catch(() => {});
  throw error;
};

/** The local chain, as a client outside the browser sees it. */
function chainProvider() {
  const chain = info.chains[0];
  return new JsonRpcProvider(chain.rpc_url, chain.id, { staticNetwork: true, cacheTimeout: -1 });
}

/** Gives `address` gas money on the local chain (anvil), as a faucet would. */
async function fundGas(address) {
  await chainProvider().send("anvil_setBalance", [address, "0x56BC75E2D63100000"]);
}

/** The claim went on chain: the wallet holds exactly the voucher's amount, and it pays once. */
async function checkOnChain(result, wallet) {
  const { voucher } = result;
  const provider = chainProvider();
  const { message, domain } = voucher.typed_data;
  const token = new Contract(message.token, ["function balanceOf(address) view returns (uint256)"], provider);
  assert.equal(await token.balanceOf(wallet), BigInt(message.amount), "the wallet's token balance rose by exactly the voucher");
  assert.match(result.txText, /0x[0-9a-f]{64}/, "the page shows the transaction hash");
  assert.ok(result.tokenBalance.includes(voucher.amount_tokens), `the page shows the new balance: ${result.tokenBalance}`);
  const abi = JSON.parse(await readFile(join(root, "contracts/artifacts/DataHubEscrow.json"), "utf8")).abi;
  // Anyone may send a claim: a stranger with gas sends the same voucher again, and it reverts.
  const stranger = Wallet.createRandom().connect(provider);
  await fundGas(stranger.address);
  const escrow = new Contract(domain.verifyingContract, abi, stranger);
  assert.equal(await escrow.isUsed(message.recipient, message.nonce), true);
  await assert.rejects(
    escrow.claim([message.recipient, message.token, message.amount, message.nonce, message.deadline], voucher.signature),
    /VoucherUsed|revert/,
    "the same voucher again reverts",
  );
  assert.equal(await token.balanceOf(wallet), BigInt(message.amount), "and pays nothing more");
  console.log(`claim: "Claim" to confirmed on anvil in ${result.confirmedMs} ms (voucher, wallet transaction, receipt)`);
}

/** Checks the voucher with ethers, and the uploads by decrypting them with the CLI. */
async function checkOutcome(result, wallet) {
  await checkOnChain(result, wallet);
  const { voucher, earned, chain } = result;
  assert.equal(voucher.chain_id, chain);
  assert.equal(units(voucher.amount_tokens), earned, "the voucher pays what was earned");
  const { domain, types, message } = voucher.typed_data;
  const { EIP712Domain: _, ...structs } = types;
  const signer = verifyTypedData(domain, structs, message, voucher.signature);
  assert.equal(signer, info.treasury_address, "ethers recovers the relay's treasury from the voucher");
  assert.equal(String(message.recipient).toLowerCase(), wallet.toLowerCase());

  await checkResults(result, wallet);

  const uploads = result.submissions.filter((s) => s.manifest_id);
  const byCampaign = Object.fromEntries(uploads.map((s) => [s.campaign, s.manifest_id]));
  const expected = { [demo.image_upload.id]: result.image, [demo.voice_recording.id]: result.recording };
  for (const [campaign, bytes] of Object.entries(expected)) {
    const object = byCampaign[campaign];
    assert.match(object ?? "", /^[0-9a-f]{64}$/, `${campaign}: an uploaded object was submitted`);
    const out = join(net.data, `${object}.out`);
    net.datahub(["object", "get", object, "-i", join(net.data, "requester.key"), "-o", out, "--relay", net.origin]);
    assert.ok((await readFile(out)).equals(bytes), `${campaign}: the requester decrypts exactly what was uploaded`);
    await rm(out);
  }
  const recording = result.recording;
  assert.equal(recording.subarray(0, 4).toString(), "RIFF");
  assert.equal(recording.subarray(8, 12).toString(), "WAVE");
}

/**
 * The answers as the relay stored them: each labeling task this wallet did on an item that is not
 * golden is in the requester's results (`datahub campaign results`) with exactly the clicked
 * answer and this wallet as its contributor. Golden items never appear there; the relay accepted
 * them (checked in `everyTask`) only because the clicked answer matched the known one.
 */
async function checkResults(result, wallet) {
  const checked = [];
  for (const [kind, { item, choices }] of Object.entries(result.clicked)) {
    if (UPLOADS.includes(kind)) continue;
    const golden = (shipped[kind].golden ?? []).some((g) => canonical(g.item) === canonical(item));
    if (golden) continue;
    const out = join(net.data, `results-${kind}-${wallet}`);
    net.datahub(["campaign", "results", demo[kind].id, "--format", "jsonl", "-o", out, "--key", join(net.data, "requester.key"), "--relay", net.origin]);
    const records = (await readFile(join(out, "results.jsonl"), "utf8")).trim().split("\n").map((l) => JSON.parse(l));
    await rm(out, { recursive: true });
    const mine = records.filter((r) => r.contributors.map((c) => c.toLowerCase()).includes(wallet.toLowerCase()));
    assert.equal(mine.length, 1, `${kind}: the relay kept one result from this wallet`);
    assert.equal(canonical(mine[0].item), canonical(item), `${kind}: on the item shown`);
    assert.deepEqual(mine[0].answer, expectedAnswer(kind, item, choices), `${kind}: the relay stored the choice clicked`);
    checked.push(kind);
  }
  // Which kinds drew an item that is not golden depends on the draw; say which were checked.
  console.log(`results: the relay's stored answer checked for ${checked.join(", ") || "no kind (all golden)"}`);
}

test("the first screen comes before the wasm: campaigns to browse unsigned, and a tap then is kept", async () => {
  const browser = await launch();
  try {
    const page = await browser.page();
    // The mini-app's .wasm is held back until the first screen has been read and tapped.
    let release;
    const held = new Promise((resolve) => (release = resolve));
    await page.route("**/pkg/app/datahub_wasm_bg.wasm", async (route) => {
      await held;
      await route.continue();
    });
    const { campaigns } = await (await fetch(`${net.origin}/v1/campaigns`)).json();
    const screen = () => page.evaluate(() => ({
      // What the contributor reads on the connect screen, the hint that no wallet was found
      // (known only to the app) aside.
      main: [...document.querySelectorAll(".dh-main > :not(#dh-no-wallet)")].map((e) => e.innerText.trim()),
      offers: [...document.querySelectorAll(".dh-offer")].map((e) => e.dataset.kind),
      lang: document.documentElement.lang,
    }));
    await page.goto(net.origin, { waitUntil: "commit" });
    await page.waitForSelector(".dh-offer", { timeout: 10_000 });
    assert.equal(await page.getAttribute("body", "data-ready"), null, "the wasm was held back");
    const before = { en: await screen() };
    // Every open campaign of a kind the app knows, with its reward, and nothing to sign first.
    assert.deepEqual(before.en.offers, campaigns.map((c) => c.kind));
    const demo = campaigns.find((c) => c.kind === "image_categorization");
    assert.ok(before.en.main.some((t) => t.includes(`${demo.reward} ${demo.token} per task · ${demo.open_tasks} paid tasks left`)), before.en.main.join("\n"));
    await page.click("[data-action=lang]");
    before.zh = await screen();
    assert.equal(before.zh.lang, "zh-CN");
    await page.click("[data-action=lang]");
    // Tapped before the app is there: the sign-in goes on once it is.
    await page.click("#dh-connect-local");
    release();
    await page.waitForSelector("[data-screen=campaigns] .dh-card");
    assert.equal(await page.getAttribute("body", "data-ready"), "true");
    // Signed out, the app's own connect screen reads as the page's did, in both languages.
    await page.click("[data-action=sign-out]");
    await page.waitForSelector("#dh-connect-local");
    await page.waitForSelector(".dh-offer");
    assert.deepEqual(await screen(), before.en);
    await page.click("[data-action=lang]");
    assert.deepEqual(await screen(), before.zh);
    assert.deepEqual(page.errors, []);
  } finally {
    await browser.close();
  }
});

test("a session the relay no longer knows goes back to Connect, not to a generic error", async () => {
  const browser = await launch();
  try {
    const page = await browser.page();
    let token;
    page.on("request", (request) => {
      const auth = request.headers().authorization;
      if (auth?.startsWith("Bearer ")) token = auth.slice("Bearer ".length);
    });
    await page.goto(net.origin);
    await page.click("#dh-connect-local");
    await page.waitForSelector("[data-screen=campaigns] .dh-card");
    assert.ok(token, "the app sent its session token");
    // Signed out elsewhere (another tab, an operator): the relay answers `signed_out`.
    const out = await fetch(`${net.origin}/v1/auth/signout`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
    assert.equal(out.status, 200, await out.text());
    await page.click(".dh-card[data-kind=content_verification]");
    await page.waitForSelector("[data-screen=connect] #dh-connect-local");
    assert.match(await page.textContent(".dh-status"), /session has ended/);
    assert.deepEqual(page.errors, []);
  } finally {
    await browser.close();
  }
});

test("a campaign closed while a contributor is on it: back to the campaigns, saying so", async () => {
  const spec = await createCampaign({
    id: "closing", kind: "content_verification", title: "Closing", instructions: "Answer.",
    items: Array.from({ length: 4 }, (_, i) => ({ text: `Item ${i}`, claim: "It is an item." })),
    reward: "0.01", token: "USDT", budget: "1", min_task_seconds: 0,
  });
  const browser = await launch({ viewport: { width: 800, height: 900 } });
  try {
    const page = await browser.page();
    try {
      await page.goto(net.origin);
      await page.click("#dh-connect-local");
      await page.click(".dh-card[data-action='campaign:closing']");
      await page.waitForSelector(".dh-task[data-kind=content_verification]");
      await page.waitForSelector("[data-busy=false]");
      // The requester closes it meanwhile; the contributor skips to the next task.
      const body = new TextEncoder().encode(JSON.stringify({ status: "closed" }));
      const path = "/v1/campaigns/closing/status";
      const time = Date.now();
      const closed = await fetch(`${net.origin}${path}`, {
        method: "POST", body,
        headers: {
          "content-type": "application/json", "x-datahub-time": String(time),
          "x-datahub-signature": spec.requester.signRequest("POST", path, body, time, info.relay_address),
        },
      });
      assert.equal(closed.status, 200, await closed.text());
      await page.click("[data-action=skip]");
      // The relay answers `campaign_closed`: not a generic error, and no retry that cannot help.
      await page.waitForSelector("[data-screen=campaigns]");
      assert.match(await page.textContent(".dh-status"), /This campaign has closed/);
      assert.equal(await page.locator(".dh-status button").count(), 0);
      await page.waitForFunction(() => document.querySelector(".dh-card") && !document.querySelector(".dh-card[data-action='campaign:closing']"));
      assert.deepEqual(page.errors, []);
    } catch (error) {
      await shootAndThrow(page, "closed")(error);
    }
  } finally {
    await browser.close();
  }
});

test("desktop: a wallet announced by EIP-6963 signs in once and does one task of each type", async () => {
  const key = Wallet.createRandom();
  const browser = await launch({ args: MEDIA_FLAGS, viewport: { width: 1280, height: 900 } });
  try {
    const page = await browser.page();
    await fundGas(key.address);
    await injectWallet(page, key.privateKey, "eip6963");
    const result = await everyTask(page, { touch: false, prefix: "desktop" }).catch(shootAndThrow(page, "desktop"));
    const calls = await page.evaluate(() => window.walletCalls);
    assert.equal(calls.filter((m) => m === "personal_sign").length, 1, "one wallet signature for everything");
    await checkOutcome(result, key.address);
    assert.deepEqual(page.errors, []);
  } finally {
    await browser.close();
  }
});

test("phone: Binance Wallet's binancew3w provider, touch only, 390×844", async () => {
  const key = Wallet.createRandom();
  const browser = await launch({
    args: MEDIA_FLAGS,
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
    userAgent: "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36 BinanceWallet",
  });
  try {
    const page = await browser.page();
    await fundGas(key.address);
    await injectWallet(page, key.privateKey, "binancew3w");
    const result = await everyTask(page, { touch: true, prefix: "phone" }).catch(shootAndThrow(page, "phone"));
    const calls = await page.evaluate(() => window.walletCalls);
    assert.equal(calls.filter((m) => m === "personal_sign").length, 1);
    await checkOutcome(result, key.address);
    // Touch targets: every button at least 44 CSS pixels tall.
    const small = await page.evaluate(() =>
      [...document.querySelectorAll(".dh-app button")].filter((b) => b.getBoundingClientRect().height < 44).map((b) => b.outerHTML));
    assert.deepEqual(small, []);
    assert.deepEqual(page.errors, []);
  } finally {
    await browser.close();
  }
});

test("held pay: a new wallet's rewards are held, then paid once, together, when its record is known", async () => {
  // Golden items come often here (share 0.5), so that two are judged within a few tasks.
  const golden = [
    { item: { text: "Snow is cold.", claim: "The text says snow is cold." }, answer: { verdict: "true" } },
    { item: { text: "Fire is hot.", claim: "The text says fire is cold." }, answer: { verdict: "false" } },
  ];
  const spec = await createCampaign({
    id: "held-pay", kind: "content_verification", title: "Held pay", instructions: "Answer.",
    items: Array.from({ length: 8 }, (_, i) => ({ text: `Item ${i}`, claim: "It is an item." })),
    golden, golden_share: 0.5, reward: "0.01", token: "USDT", budget: "1", min_task_seconds: 0,
  });

  const browser = await launch({ viewport: { width: 800, height: 900 } });
  try {
    const page = await browser.page();
    try {
      await page.goto(net.origin);
      await page.click("#dh-connect-local");
      await page.click(".dh-card[data-action='campaign:held-pay']");
      const reward = units(spec.reward);
      let answered = 0n;
      let released = false;
      for (let i = 0; i < spec.items.length && !released; i++) {
        await page.waitForSelector(".dh-task[data-kind=content_verification]");
        await page.waitForSelector("[data-busy=false]");
        const claim = await page.textContent(".dh-claim-text");
        const known = golden.find((g) => g.item.claim === claim);
        // Golden items right, as a careful contributor answers them; the rest "true".
        const verdict = known ? known.answer.verdict : "true";
        await page.click(`[data-action='choose:${["true", "false", "unsure"].indexOf(verdict)}']`);
        await page.click("#dh-submit");
        answered += 1n;
        await page.waitForFunction(headerTotalIs, Number(answered * reward), { timeout: 30_000 });
        const [balance, held] = [await shownBalance(page), await shownHeld(page)];
        if (held > 0n) {
          assert.equal(balance, 0n, `task ${i}: nothing paid while the record is unknown`);
          assert.equal(held, answered * reward, `task ${i}: every accepted answer held`);
          assert.ok((await page.textContent(".dh-status")).includes(HELD_NOTICE));
        } else {
          assert.equal(balance, answered * reward, `task ${i}: once the record is known, every held reward is paid`);
          released = true;
        }
      }
      assert.ok(released, "the held rewards were released within the campaign's tasks");
      assert.ok(answered >= 2n, "the first answer was held");
      // Paid once: the balance stays at one reward per answer, and nothing is held any more.
      await page.click("[data-action=back]");
      await page.waitForSelector("#dh-standing [data-campaign=held-pay]");
      assert.equal(await page.locator("#dh-standing [data-campaign=held-pay] [data-held]").count(), 0);
      assert.equal(await page.locator("#dh-held").count(), 0, "nothing shown as held any more");
      assert.equal(await shownBalance(page), answered * reward, "paid once, not again on a later refresh");
      assert.deepEqual(page.errors, []);
    } catch (error) {
      await shootAndThrow(page, "held-pay")(error);
    }
  } finally {
    await browser.close();
  }
});

test("no wallet: a local key, Chinese text, and the errors a contributor meets", async () => {
  // A campaign whose leases last 10 s, to see one expire.
  const spec = await createCampaign({
    id: "short-leases", kind: "content_verification", title: "Short leases", instructions: "Answer.",
    items: Array.from({ length: 4 }, (_, i) => ({ text: `Item ${i}`, claim: "It is an item." })),
    reward: "0.01", token: "USDT", budget: "1", lease_seconds: 10,
    licence: "CC-BY-4.0", terms: "My answers may be released under CC-BY-4.0.\n我的答案可以按 CC-BY-4.0 发布。",
  });

  const browser = await launch({ locale: "zh-CN", viewport: { width: 1024, height: 800 } });
  try {
    const page = await browser.page();
    try {
      const status = () => page.textContent(".dh-status");
      await page.goto(net.origin);
      // Chinese from the browser's language; the switch goes to English and is remembered.
      await page.waitForSelector("#dh-connect-local");
      assert.equal((await page.textContent("#dh-connect-local")).trim(), "不使用钱包继续");
      assert.equal(await page.getAttribute("html", "lang"), "zh-CN");
      await page.click("[data-action=lang]");
      assert.equal((await page.textContent("#dh-connect-local")).trim(), "Continue without a wallet");
      await page.reload();
      await page.waitForSelector("#dh-connect-local");
      assert.equal((await page.textContent("#dh-connect-local")).trim(), "Continue without a wallet");

      await page.click("#dh-connect-local");
      await page.waitForSelector("[data-screen=campaigns] .dh-card");

      // The relay cannot be reached: a clear message and a retry that works once it can.
      await page.route("**/v1/campaigns/*/next", (route) => route.abort("connectionrefused"));
      await page.click(`.dh-card[data-kind=content_moderation]`);
      await page.waitForSelector("[data-action=next]");
      assert.match(await status(), /cannot be reached/);
      await page.unroute("**/v1/campaigns/*/next");
      await page.click("[data-action=next]");
      await page.waitForSelector(".dh-task[data-kind=content_moderation]");

      // Offline and back.
      await page.context().setOffline(true);
      await page.waitForFunction(() => document.querySelector(".dh-status")?.textContent.includes("offline"));
      await page.context().setOffline(false);
      await page.waitForFunction(() => document.querySelector(".dh-status")?.textContent.includes("Back online"));

      // Skip with the keyboard: S gives the task back and brings another.
      const first = await page.getAttribute(".dh-task", "data-lease");
      await page.keyboard.press("s");
      await page.waitForFunction((first) => document.querySelector(".dh-task")?.dataset.lease !== first, first);
      await page.click("[data-action=back]");

      // An upload that breaks off after two shards resumes with only the missing ones.
      await page.waitForSelector("[data-screen=campaigns] .dh-card");
      await page.click(`.dh-card[data-kind=image_upload]`);
      await page.waitForSelector(".dh-task[data-kind=image_upload]");
      await page.setInputFiles("#dh-file", { name: "big.png", mimeType: "image/png", buffer: png(900, 700, 3) });
      await page.waitForSelector("#dh-preview");
      const sent = [];
      let allowed = 2;
      await page.route("**/v1/objects/*/shards/*", (route) => {
        if (allowed-- > 0) {
          sent.push(route.request().url());
          return route.continue();
        }
        return route.abort("connectionreset");
      });
      await page.click("#dh-submit");
      await page.waitForSelector("[data-action=resume-upload]");
      assert.match(await status(), /upload stopped/);
      await page.unroute("**/v1/objects/*/shards/*");
      page.on("request", (r) => {
        if (r.method() === "PUT" && r.url().includes("/shards/")) sent.push(r.url());
      });
      const before = await shownBalance(page);
      await page.click("[data-action=resume-upload]");
      await page.waitForFunction(() => document.querySelector(".dh-status")?.textContent.includes("+"), null, { timeout: 60_000 });
      await page.waitForSelector(".dh-task[data-kind=image_upload] #dh-file");
      await page.waitForSelector("[data-busy=false]");
      assert.equal((await shownBalance(page)) - before, units(demo.image_upload.reward));
      assert.equal(new Set(sent).size, sent.length, "no shard was sent twice");

      // Choosing a file that breaks the campaign's rules.
      await page.setInputFiles("#dh-file", { name: "tiny.png", mimeType: "image/png", buffer: png(8, 8) });
      await page.waitForFunction(() => document.querySelector(".dh-status")?.textContent.includes("too small"));
      await page.setInputFiles("#dh-file", { name: "fake.png", mimeType: "image/png", buffer: Buffer.from("not a picture") });
      await page.waitForFunction(() => document.querySelector(".dh-status")?.textContent.includes("not an image"));
      await page.click("[data-action=back]");

      // A lease that runs out: the relay refuses the late answer; a new task takes its place.
      await page.waitForSelector(".dh-card[data-action='campaign:short-leases']");
      await page.click(".dh-card[data-action='campaign:short-leases']");
      // Its terms first, in either language, and no task until they are accepted.
      await page.waitForSelector(".dh-terms");
      await page.screenshot({ path: join(shots, "terms.png") });
      assert.equal(await page.textContent(".dh-terms-text"), spec.terms);
      assert.match(await page.textContent(".dh-licence"), /CC-BY-4\.0/);
      assert.equal(await page.locator(".dh-task").count(), 0);
      await page.click("[data-action=lang]");
      assert.equal(await page.textContent(".dh-terms h2"), "开始之前：条款");
      await page.click("[data-action=lang]");
      assert.equal(await page.textContent(".dh-terms h2"), "Before you start: the terms");
      await page.click("[data-action=accept-terms]");
      await page.waitForSelector(".dh-task");
      const expiring = await page.getAttribute(".dh-task", "data-lease");
      await page.click("[data-action='choose:0']");
      await new Promise((resolve) => setTimeout(resolve, 11_000));
      await page.click("#dh-submit");
      await page.waitForFunction((expiring) => {
        const task = document.querySelector(".dh-task");
        return task && task.dataset.lease !== expiring && document.querySelector(".dh-status")?.textContent.includes("time ran out");
      }, expiring, { timeout: 30_000 });
      // The receipt signs the licence and the terms as shown: the relay pays it.
      await page.waitForSelector("[data-busy=false]");
      await page.click("[data-action='choose:0']");
      await page.click("#dh-submit");
      await page.waitForFunction(() => document.querySelector(".dh-status")?.textContent.includes("+"), null, { timeout: 30_000 });
      // Accepted once in this browser: back in the campaign, the task comes at once.
      await page.click("[data-action=back]");
      await page.click(".dh-card[data-action='campaign:short-leases']");
      await page.waitForSelector(".dh-task");
      assert.equal(await page.locator(".dh-terms").count(), 0);
    } catch (error) {
      await shootAndThrow(page, "errors")(error);
    }
    assert.deepEqual(page.errors, []);
  } finally {
    await browser.close();
  }
});

test("an upload to a campaign with a validator is sealed to it, checked by `datahub validate`, then paid", async () => {
  const validatorKey = join(net.data, "validator.key");
  const made = net.datahub(["keygen", "-o", validatorKey, "--force"]);
  const validator = /public key\s+([0-9a-f]{66})/.exec(made)[1];
  const spec = join(net.data, "checked-photos.json");
  await writeFile(spec, JSON.stringify({
    id: "checked-photos", kind: "image_upload", title: "Checked photos", instructions: "A photo of anything.",
    items: [{ prompt: "Anything" }, { prompt: "Anything else" }], reward: "0.30", token: "USDT", budget: "3",
    upload: { types: ["image/png"], min_width: 64, min_height: 64 }, validators: [validator],
  }));
  net.datahub(["campaign", "create", spec, "--key", join(net.data, "requester.key")]);

  const browser = await launch({ viewport: { width: 800, height: 900 } });
  try {
    const page = await browser.page();
    let object;
    page.on("request", (r) => {
      if (r.method() === "POST" && r.url().endsWith("/v1/submissions")) object = JSON.parse(r.postData()).manifest_id;
    });
    await page.goto(net.origin);
    await page.click("#dh-connect-local");
    await page.click(".dh-card[data-action='campaign:checked-photos']");
    await page.waitForSelector(".dh-task[data-kind=image_upload]");
    const photo = png(200, 150, 11);
    await page.setInputFiles("#dh-file", { name: "photo.png", mimeType: "image/png", buffer: photo });
    await page.waitForSelector("#dh-preview");
    const before = await shownBalance(page);
    await page.click("#dh-submit");
    await page.waitForFunction(() => document.querySelector(".dh-status")?.textContent.includes("passes its checks"), null, { timeout: 60_000 });
    assert.equal(await shownBalance(page), before, "not paid before the verdict");

    const validated = net.datahub(["validate", "--key", validatorKey, "--relay", net.origin, "--data", join(net.data, "validator"), "--until-idle"]);
    assert.match(validated, /accept/i);
    // The validator could open it: it was sealed to the validator as well as to the requester.
    const out = join(net.data, "checked.out");
    net.datahub(["object", "get", object, "-i", validatorKey, "-o", out, "--relay", net.origin]);
    assert.ok((await readFile(out)).equals(photo));

    await page.click("[data-action=back]");
    await page.waitForFunction((b) => document.querySelector("#dh-balance")?.textContent.includes(b), "0.3 USDT");
    assert.equal((await shownBalance(page)) - before, units("0.30"), "paid once the validator accepted");
    assert.deepEqual(page.errors, []);
  } finally {
    await browser.close();
  }
});
