// The relay client against a real network: `datahub dev` (a relay and 6 storage nodes on
// loopback) serving www/ and pkg/, the client in headless Chromium on the relay's origin. A
// requester creates a campaign with signed requests (LocalSigner.signRequest); contributors sign
// in once (a local key, and an injected EIP-1193 wallet: one personal_sign for everything),
// lease, submit, retry, claim, and upload sealed objects, one of them interrupted and resumed.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { verifyTypedData } from "ethers";
import { launch } from "./browser.mjs";
import { grant } from "../www/dev.mjs";

const root = fileURLToPath(new URL("../..", import.meta.url));
const bin = process.env.DATAHUB_BIN ?? join(root, "target/debug/datahub");

let data;
let dev;
let origin;
let browser;
let page;
let info;
const campaign = "relay-client-test";

/** Reads `datahub dev`'s standard output until its `ready: ` line; resolves to the URL. */
function ready(child) {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    const timer = setTimeout(() => reject(new Error("datahub dev was not ready in 120 s")), 120_000);
    lines.on("line", (line) => {
      if (line.startsWith("ready: ")) {
        clearTimeout(timer);
        resolve(line.slice("ready: ".length).split(" ")[0].replace(/\/$/, ""));
      }
    });
    child.on("exit", (code) => reject(new Error(`datahub dev exited (${code}) before it was ready`)));
  });
}

before(async () => {
  if (!existsSync(bin)) execFileSync("cargo", ["build", "-p", "datahub-cli"], { cwd: root, stdio: "inherit" });
  data = await mkdtemp(join(tmpdir(), "datahub-relay-client-"));
  dev = spawn(bin, ["dev", "--nodes", "6", "--compute", "0", "--port", "0", "--data", data], {
    cwd: root,
    stdio: ["ignore", "pipe", "ignore"],
  });
  origin = await ready(dev);
  info = await (await fetch(`${origin}/v1/info`)).json();
  browser = await launch();
  page = await browser.page();
  // ethers for the injected wallet, served on the relay's origin by Playwright.
  await page.route("**/__test/ethers.js", (route) =>
    route.fulfill({ path: join(root, "tests/node_modules/ethers/dist/ethers.min.js"), contentType: "text/javascript" }));
  await page.goto(`${origin}/pkg/package.json`);
  await page.evaluate(async () => {
    const dh = await import("/pkg/web/datahub_wasm.js");
    await dh.default();
    window.dh = dh;
    window.ethers = await import("/__test/ethers.js");
  });
  // The requester: a local key that signs its requests to the relay, funded by the network's
  // operator (a fresh key has no funds, and a budget must be money that exists).
  const requesterAddress = await page.evaluate(() => {
    window.requester = dh.LocalSigner.generate();
    return window.requester.address;
  });
  grant(origin, data, requesterAddress, info.chains[0].id, "10");
  const made = await page.evaluate(async ({ campaign }) => {
    const client = await dh.RelayClient.connect(location.origin);
    const requester = window.requester;
    const spec = {
      id: campaign, kind: "content_verification", title: "Is the caption true?",
      instructions: "Answer true, false or unsure.",
      items: Array.from({ length: 6 }, (_, i) => ({ text: `item number ${i}` })),
      reward: "0.05", token: "USDT", budget: "10", overlap: 1, lease_seconds: 300,
      encryption_key: requester.compressedPublicKey.slice(2), chains: [client.info.chains[0].id],
    };
    const body = new TextEncoder().encode(JSON.stringify(spec));
    const time = Date.now();
    const signature = requester.signRequest("POST", "/v1/campaigns", body, time, client.relayAddress);
    const r = await fetch("/v1/campaigns", {
      method: "POST", body,
      headers: { "content-type": "application/json", "x-datahub-time": String(time), "x-datahub-signature": signature },
    });
    return { status: r.status, body: await r.json() };
  }, { campaign });
  assert.equal(made.status, 201, JSON.stringify(made.body));
});

after(async () => {
  await browser?.close();
  if (dev && dev.exitCode === null) {
    const exited = new Promise((resolve) => dev.on("exit", resolve));
    dev.kill("SIGTERM");
    await exited;
  }
  if (data) await rm(data, { recursive: true, force: true });
});

/** A decimal token amount in millionths, as a BigInt. */
function units(text) {
  const [whole, fraction = ""] = String(text ?? "0").split(".");
  return BigInt(whole) * 1_000_000n + BigInt(fraction.padEnd(6, "0").slice(0, 6));
}
const usdt = (balances) => units(balances.balances.find((b) => b.token === "USDT")?.amount);

/** Sign in, answer one task, retry it, claim: what happened, for the assertions. */
const answerAndClaim = (signIn) =>
  page.evaluate(async ({ campaign, signIn }) => {
    const client = await dh.RelayClient.connect(location.origin);
    const chainId = client.info.chains[0].id;
    let signer;
    if (signIn === "wallet") {
      const wallet = ethers.Wallet.createRandom();
      const calls = [];
      window.ethereum = {
        async request({ method, params }) {
          calls.push(method);
          if (method === "eth_requestAccounts") return [wallet.address];
          if (method === "personal_sign") return wallet.signMessage(ethers.getBytes(params[0]));
          throw Object.assign(new Error(`${method} is not supported`), { code: 4200 });
        },
      };
      window.walletCalls = calls;
      signer = await dh.WalletSigner.connect({ prefer: "ethereum" });
    } else {
      signer = dh.LocalSigner.generate();
    }
    const session = await client.signIn(signer, { chainId, statement: "Answer DataHub tasks" });
    const before = await session.balances();
    const task = await session.nextTask(campaign);
    const outcome = await session.submit(task, { verdict: "true" });
    const credited = await session.balances();
    const retry = await session.resubmit(outcome.body);
    const after = await session.balances();
    const voucher = await session.claim(chainId, "USDT");
    const vouchers = await session.vouchers();
    const history = await session.history();
    return {
      address: signer.address, wallet: session.wallet, sessionKey: session.sessionKey, chainId: session.chainId,
      task, outcome, retry, before, credited, after, voucher, vouchers, history,
      calls: window.walletCalls ?? null,
    };
  }, { campaign, signIn });

function checkFlow(r) {
  assert.equal(r.wallet, r.address);
  assert.notEqual(r.sessionKey, r.address);
  assert.equal(r.task.campaign, campaign);
  assert.equal(r.outcome.status, "accepted");
  assert.equal(r.outcome.duplicate, false);
  assert.equal(units(r.outcome.credited), units(r.task.reward));
  assert.equal(usdt(r.credited) - usdt(r.before), units(r.task.reward));
  assert.equal(r.retry.duplicate, true);
  assert.equal(r.retry.submission, r.outcome.submission);
  assert.equal(usdt(r.after), usdt(r.credited));
  const { domain, types, message } = r.voucher.typed_data;
  const { EIP712Domain: _, ...rest } = types;
  assert.equal(verifyTypedData(domain, rest, message, r.voucher.signature), info.treasury_address);
  assert.equal(message.recipient, r.address);
  assert.equal(units(r.voucher.amount_tokens), units(r.task.reward));
  assert.ok(r.vouchers.vouchers.some((v) => v.id === r.voucher.id));
}

test("a local key signs in once, submits, retries (a duplicate), and claims a voucher the treasury signed", async () => {
  checkFlow(await answerAndClaim("local"));
});

test("an injected wallet is asked for one personal_sign for the whole flow", async () => {
  const r = await answerAndClaim("wallet");
  checkFlow(r);
  assert.deepEqual(r.calls, ["eth_requestAccounts", "personal_sign"]);
});

test("a 1 MiB sealed object uploads with progress; an interrupted upload resumes with only the missing shards", async () => {
  const r = await page.evaluate(async () => {
    const client = await dh.RelayClient.connect(location.origin);
    const session = await client.signIn(dh.LocalSigner.generate(), { chainId: client.info.chains[0].id });
    const make = async () => {
      const data = new Uint8Array(1 << 20);
      for (let i = 0; i < data.length; i += 65536) crypto.getRandomValues(data.subarray(i, i + 65536));
      return dh.sealBytes(data, [requester.publicKey], { segmentLen: 256 * 1024 });
    };
    const status = async (id) => (await fetch(`/v1/objects/${id}/status`)).json();

    const whole = await make();
    const progress = [];
    const id = await session.upload(whole, { onProgress: (p) => progress.push(p) });
    const done = await status(id);

    const cut = await make();
    let stopped = null;
    const first = [];
    try {
      await session.upload(cut, {
        onProgress: (p) => {
          first.push(p);
          if (p.sent === 5) throw new Error("connection lost");
        },
      });
    } catch (e) {
      stopped = e.message;
    }
    const missing = await (await fetch(`/v1/objects/${cut.objectId}/missing`)).json();
    const partial = await status(cut.objectId);
    const resumed = [];
    const again = await session.resumeUpload(cut, { onProgress: (p) => resumed.push(p) });
    return {
      objectId: whole.objectId, id, shardCount: whole.shardIds.flat().length, progress, done,
      cutId: cut.objectId, stopped, first, missing, partial, resumed, again, after: await status(cut.objectId),
      cutShards: cut.shardIds.flat(),
    };
  });
  assert.equal(r.id, r.objectId);
  // 1 MiB and the stream's overhead over 256 KiB segments: 5 segments of 4 + 2 shards.
  const n = r.shardCount;
  assert.equal(n, 30);
  assert.deepEqual(r.progress.map((p) => p.sent), Array.from({ length: n }, (_, i) => i + 1));
  assert.ok(r.progress.every((p) => p.total === n));
  assert.equal(r.done.complete, true);

  assert.equal(r.stopped, "connection lost");
  // Nothing is reported after the stop, but the shards then in flight (up to 3 more of the
  // default 4) still finish before the upload rejects.
  assert.equal(r.first.length, 5);
  const left = r.missing.missing.length;
  assert.ok(left <= n - 5 && left >= n - 8, `${left} shards missing after the stop`);
  assert.equal(r.partial.complete, false);
  assert.equal(r.again, r.cutId);
  assert.deepEqual(r.resumed.map((p) => p.shard).sort(), [...r.missing.missing].sort());
  assert.ok(r.resumed.every((p) => p.total === left));
  const sentFirst = new Set(r.first.map((p) => p.shard));
  assert.ok(r.resumed.every((p) => !sentFirst.has(p.shard)));
  assert.equal(r.after.complete, true);
});

test("uploads keep several shards in flight: as many as asked, and the relay stores them all", async () => {
  // Every shard PUT is held 100 ms on its way to the relay (a slow link, or a slow node behind
  // it): a client sending one shard at a time would never have two in flight.
  let inFlight = 0;
  let most = 0;
  const route = "**/v1/objects/*/shards/*";
  await page.route(route, async (r) => {
    if (r.request().method() !== "PUT") return r.continue();
    inFlight += 1;
    most = Math.max(most, inFlight);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const response = await r.fetch();
    inFlight -= 1;
    await r.fulfill({ response });
  });
  const upload = async (options) => {
    most = 0;
    const r = await page.evaluate(async (options) => {
      const client = await dh.RelayClient.connect(location.origin);
      const session = await client.signIn(dh.LocalSigner.generate(), { chainId: client.info.chains[0].id });
      const data = new Uint8Array(300 * 1024);
      crypto.getRandomValues(data.subarray(0, 65536));
      const sealed = await dh.sealBytes(data, [requester.publicKey], { segmentLen: 256 * 1024 });
      const sent = [];
      const started = performance.now();
      const id = await session.upload(sealed, { ...options, onProgress: (p) => sent.push(p.sent) });
      const ms = performance.now() - started;
      const status = await (await fetch(`/v1/objects/${id}/status`)).json();
      return { shards: sealed.shardIds.flat().length, sent, ms, complete: status.complete };
    }, options);
    return { ...r, most };
  };
  try {
    const one = await upload({ concurrency: 1 });
    const four = await upload({});
    const six = await upload({ concurrency: 6 });
    console.log(`12 shards, each held 100 ms: ${one.ms.toFixed(0)} ms one at a time, ${four.ms.toFixed(0)} ms with 4 in flight, ${six.ms.toFixed(0)} ms with 6`);
    for (const [r, expected] of [[four, 4], [one, 1], [six, 6]]) {
      assert.equal(r.shards, 12);
      assert.deepEqual(r.sent, Array.from({ length: 12 }, (_, i) => i + 1));
      assert.equal(r.complete, true);
      assert.equal(r.most, expected);
    }
    const refused = await page.evaluate(async () => {
      const client = await dh.RelayClient.connect(location.origin);
      const session = await client.signIn(dh.LocalSigner.generate(), { chainId: client.info.chains[0].id });
      const sealed = await dh.sealBytes(new Uint8Array(10), [requester.publicKey]);
      const out = [];
      for (const concurrency of [0, 17, 1.5, "4"]) {
        try {
          await session.upload(sealed, { concurrency });
          out.push(null);
        } catch (e) {
          out.push(e.code);
        }
      }
      return out;
    });
    assert.deepEqual(refused, ["InvalidOptions", "InvalidOptions", "InvalidOptions", "InvalidOptions"]);
  } finally {
    await page.unroute(route);
  }
});

test("a sign-in's rewardCap as a number: a whole one is taken; a fraction, a negative or an inexact one is refused", async () => {
  const refused = await page.evaluate(async () => {
    const client = await dh.RelayClient.connect(location.origin);
    const chainId = client.info.chains[0].id;
    // Signed in (it throws otherwise).
    await client.signIn(dh.LocalSigner.generate(), { chainId, rewardCap: 5000000 });
    const refused = [];
    for (const rewardCap of [1.5, -1, 2 ** 60]) {
      try {
        await client.signIn(dh.LocalSigner.generate(), { chainId, rewardCap });
        refused.push(null);
      } catch (e) {
        refused.push([e.name, e.code]);
      }
    }
    return refused;
  });
  // 2^60 is beyond what a JavaScript number holds exactly: a decimal string says it.
  assert.deepEqual(refused, Array(3).fill(["InputError", "InvalidRewardCap"]));
});

test("relay errors carry the relay's code and the HTTP status", async () => {
  const e = await page.evaluate(async () => {
    const client = await dh.RelayClient.connect(location.origin);
    const session = await client.signIn(dh.LocalSigner.generate(), { chainId: client.info.chains[0].id });
    try {
      await session.nextTask("no-such-campaign");
      return null;
    } catch (e) {
      return { name: e.name, code: e.code, status: e.status };
    }
  });
  assert.deepEqual(e, { name: "RelayError", code: "no_campaign", status: 404 });
});

test("signOut revokes the token on the relay: it is refused from then on", async () => {
  const r = await page.evaluate(async () => {
    const client = await dh.RelayClient.connect(location.origin);
    const session = await client.signIn(dh.LocalSigner.generate(), { chainId: client.info.chains[0].id });
    const before = await session.balances();
    const out = await session.signOut();
    const refused = async (call) => {
      try {
        await call();
        return null;
      } catch (e) {
        return { name: e.name, code: e.code, status: e.status };
      }
    };
    // The token itself, not only this client, is dead: a plain fetch with it is refused too.
    const raw = await fetch("/v1/me/balances", { headers: { authorization: `Bearer ${session.token}` } });
    return {
      before: Array.isArray(before.balances), out,
      after: await refused(() => session.balances()),
      again: await refused(() => session.signOut()),
      raw: raw.status,
    };
  });
  assert.deepEqual(r, {
    before: true,
    out: { signed_out: true },
    after: { name: "RelayError", code: "signed_out", status: 401 },
    again: { name: "RelayError", code: "signed_out", status: 401 },
    raw: 401,
  });
});

test("the README's relay example runs against the relay", async () => {
  const readme = await readFile(join(root, "pkg/README.md"), "utf8");
  const blocks = [...readme.matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((m) => m[1])
    .filter((code) => code.startsWith("// needs a relay"));
  assert.equal(blocks.length, 1);
  const code = blocks[0].replaceAll('"@datahub/wasm"', JSON.stringify(`${origin}/pkg/web/datahub_wasm.js`));
  const logs = [];
  page.on("console", (m) => logs.push(m.text()));
  // Served on the relay's origin: its Content-Security-Policy allows scripts from there only
  // (not from blob: URLs).
  await page.route("**/__test/readme.js", (route) => route.fulfill({ body: code, contentType: "text/javascript" }));
  const outcome = await page.evaluate(async () => {
    try {
      await import("/__test/readme.js");
      return null;
    } catch (e) {
      return `${e.name}: ${e.code ?? ""} ${e.message}`;
    }
  });
  assert.equal(outcome, null, logs.join("\n"));
  assert.ok(logs.includes("true"), logs.join("\n"));
});
