// The requester's console end to end: headless Chromium (Debian's) on /console/ of a real
// `datahub dev` network (relay, storage nodes, anvil with the escrow). A wallet (an EIP-1193
// provider over a real key, announced by EIP-6963) signs in once; the requester uploads a CSV,
// previews the tasks at desktop and phone widths, is refused for want of funds (in plain words),
// deposits into the escrow through the wallet (two real transactions), creates the campaign;
// contributors driven through the package's client answer it; the charts fill; an item is
// reviewed and an appeal upheld; the export downloads, each row with its signed receipt.
// Screenshots go to target/console-shots/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Contract, JsonRpcProvider, Wallet } from "ethers";
import { LocalSigner, RelayClient, termsHash } from "@datahub/wasm";
import { launch } from "../pkg/browser.mjs";
import { startDev, root, bin } from "./dev.mjs";
import { PSEUDONYM_MESSAGE, pseudonymKey, pseudonyms } from "../../www/console/export.js";

const shots = join(root, "target/console-shots");
const run = promisify(execFile);
const TERMS = "My answers may be released under CC-BY-4.0.\n我的答案可以按 CC-BY-4.0 发布。";
let net;
let info;
let miner;

before(async () => {
  net = await startDev();
  info = await (await fetch(`${net.origin}/v1/info`)).json();
  await mkdir(shots, { recursive: true });
  // A chain makes blocks whether or not anyone sends: the relay counts a deposit once a block
  // is on top of it.
  miner = setInterval(() => chainProvider().send("evm_mine", []).catch(() => {}), 700);
});

after(async () => {
  clearInterval(miner);
  await net?.stop();
});

function chainProvider() {
  const chain = info.chains[0];
  return new JsonRpcProvider(chain.rpc_url, chain.id, { staticNetwork: true, cacheTimeout: -1 });
}

/** An EIP-1193 wallet over `key` in the page, announced by EIP-6963; its chain is anvil's. */
async function injectWallet(page, key) {
  await page.route("**/__test/ethers.js", (route) =>
    route.fulfill({ path: join(root, "tests/node_modules/ethers/dist/ethers.min.js"), contentType: "text/javascript" }));
  const node = chainProvider();
  const signer = new Wallet(key, node);
  await page.exposeFunction("__walletSend", async (tx) => (await signer.sendTransaction({ to: tx.to, data: tx.data })).hash);
  await page.exposeFunction("__walletRpc", async (method, params) => node.send(method, params));
  await page.addInitScript(({ key, chainId }) => {
    let ethers;
    let current = 56;
    const provider = {
      async request({ method, params }) {
        ethers ??= await import("/__test/ethers.js");
        const wallet = new ethers.Wallet(key);
        switch (method) {
          case "eth_requestAccounts":
          case "eth_accounts":
            return [wallet.address];
          case "eth_chainId":
            return `0x${current.toString(16)}`;
          case "wallet_switchEthereumChain":
            if (Number(params[0].chainId) !== chainId) throw Object.assign(new Error("unknown chain"), { code: 4902 });
            current = chainId;
            return null;
          case "personal_sign":
            return wallet.signMessage(ethers.getBytes(params[0]));
          case "eth_sendTransaction":
            if (current !== chainId) throw Object.assign(new Error("wrong chain"), { code: 4901 });
            if (params[0].from.toLowerCase() !== wallet.address.toLowerCase()) throw new Error("not this wallet's account");
            return window.__walletSend(params[0]);
          case "eth_getTransactionReceipt":
            return window.__walletRpc(method, params);
          default:
            throw Object.assign(new Error(`${method} is not supported`), { code: 4200 });
        }
      },
      on() {},
      removeListener() {},
    };
    const info = { uuid: "0c3b7a52-6f7e-4d0b-9d51-0b1f3f8f6a11", name: "Test Wallet", icon: "data:image/svg+xml,%3Csvg%2F%3E", rdns: "org.datahub.test" };
    const announce = () => window.dispatchEvent(new CustomEvent("eip6963:announceProvider", { detail: Object.freeze({ info, provider }) }));
    window.addEventListener("eip6963:requestProvider", announce);
    announce();
  }, { key, chainId: info.chains[0].id });
}

/** The test venv's Python (`cargo xtask setup` makes it with the loaders), or null outside CI
 * when there is none. Not probed by importing: that alone takes seconds; a venv without the
 * loaders fails the check below, as it should. */
function loadersPython() {
  const python = process.env.DATAHUB_COCO_PYTHON ?? join(root, "target/tools/coco-venv/bin/python");
  if (existsSync(python)) return python;
  assert.ok(!process.env.CI, `CI is set but there is no ${python} (cargo xtask setup makes it)`);
  console.log(`no test venv at ${python}: the console's dataset exports are not loaded in Python`);
  return null;
}

/** The ids of every row (index -> contributor_ids) of a check.py report. */
function idsOf(report, layout) {
  const rows = layout === "hf" ? report.rows : report.webdataset.map((s) => s.record);
  return Object.fromEntries(rows.map((r) => [r.index, r.contributor_ids]));
}

/**
 * Both dataset layouts downloaded from the console: the tar unpacks to the CLI's folder, whose
 * manifest `datahub campaign verify` checks against the wallet; check.py (the CLI's own) loads it
 * with pyarrow, datasets, mlcroissant or webdataset and recovers every receipt; each receipt's
 * contributor id is the pseudonym of the address that signed it; the CLI, exporting the same
 * campaign with the requester's key file, writes the same ids and the same dataset card.
 */
async function datasetExports(page, { id, requester, crowd, reviewed }) {
  const started = Date.now();
  const dir = await mkdtemp(join(tmpdir(), "datahub-console-export-"));
  try {
    const keyFile = join(dir, "requester.key");
    await writeFile(keyFile, `${requester.privateKey.slice(2)}\n`);
    const ids = await pseudonyms(await pseudonymKey(requester.signMessageSync(PSEUDONYM_MESSAGE), id));
    const python = loadersPython();
    const checks = {};
    const cliIds = {};
    for (const [button, layout] of [["#export-hf", "hf"], ["#export-wds", "webdataset"]]) {
      const [download] = await Promise.all([page.waitForEvent("download", { timeout: 30_000 }), page.click(button)]);
      assert.equal(download.suggestedFilename(), `${id}-${layout}.tar`);
      assert.match(await page.textContent("#status"), new RegExp(`exported \\d+ records as ${layout} in 1 shard\\(s\\)`));
      execFileSync("tar", ["-xf", await download.path(), "-C", dir]);
      const folder = join(dir, `${id}-${layout}`);
      const verified = execFileSync(bin, ["campaign", "verify", folder, "--requester", requester.address], { encoding: "utf8" });
      assert.match(verified, new RegExp(`^ok: ${layout === "hf" ? 3 : 1} file\\(s\\)`), verified);
      const manifest = JSON.parse(await readFile(join(folder, "manifest.json"), "utf8"));
      assert.deepEqual(manifest.missing_receipts.answers, 0);
      const cli = join(dir, `cli-${layout}`);
      execFileSync(bin, ["campaign", "results", id, "--format", layout, "-o", cli, "--key", keyFile, "--relay", net.origin], { stdio: "ignore" });
      if (layout === "hf") {
        // The same card, word for word; croissant.json the same but for the shards' hashes (two
        // Parquet writers) and its date.
        assert.equal(await readFile(join(folder, "README.md"), "utf8"), await readFile(join(cli, "README.md"), "utf8"));
        const meta = async (f) => {
          const m = JSON.parse(await readFile(join(f, "croissant.json"), "utf8"));
          for (const d of m.distribution) delete d.sha256;
          delete m.datePublished;
          return m;
        };
        assert.deepEqual(await meta(folder), await meta(cli));
      }
      // The CLI's ids, from its webdataset samples (node reads them: no second Python run).
      if (layout === "webdataset") {
        const samples = join(cli, "samples");
        await mkdir(samples);
        execFileSync("tar", ["-xf", join(cli, "data/train-000000.tar"), "-C", samples]);
        for (const name of await readdir(samples)) {
          const record = JSON.parse(await readFile(join(samples, name), "utf8"));
          cliIds[record.index] = record.contributor_ids;
        }
      }
      // Loaded in the background while the browser makes the next export (test time).
      if (python) {
        checks[layout] = run(python, [join(root, "crates/cli/src/dataset/check.py"), folder, layout], {
          encoding: "utf8", env: { ...process.env, HF_DATASETS_OFFLINE: "1", HF_HUB_OFFLINE: "1" } });
      }
    }
    const seen = {};
    for (const [layout, pending] of Object.entries(checks)) {
      const report = JSON.parse((await pending).stdout);
      assert.ok(report.receipts.verified >= 6, `receipts verified: ${JSON.stringify(report.receipts)}`);
      assert.equal(report.receipts.unverifiable, 0);
      // A receipt is signed by a contributor's session key (docs/relay.md §4f); its id is the
      // pseudonym of the wallet that session belongs to, and one of its row's contributor ids.
      const rows = layout === "hf" ? report.rows.map((r) => ({ ...r, receipts: JSON.parse(r.receipts) })) : report.webdataset.map((s) => s.record);
      for (const row of rows) {
        for (const r of row.receipts) {
          const wallet = crowd.get(r.receipt.signer.toLowerCase());
          assert.ok(wallet, `row ${row.index}: ${r.receipt.signer} is a contributor's session key`);
          assert.equal(r.contributor_id, ids(wallet), `row ${row.index}`);
        }
        assert.ok(row.receipts.every((r) => row.contributor_ids.includes(r.contributor_id)), `row ${row.index}`);
      }
      seen[layout] = idsOf(report, layout);
      assert.ok(Object.keys(seen[layout]).includes(String(reviewed)), "the reviewed item is exported");
      assert.deepEqual(seen[layout], cliIds, `${layout}: the CLI and the console name contributors alike`);
      if (layout === "hf") {
        assert.equal(report.datasets.rows, rows.length);
        assert.equal(report.croissant.records, rows.length);
        assert.equal(report.croissant.rai, true);
        assert.equal(report.card.license, "cc-by-4.0");
        assert.equal(report.pyarrow.types.contributor_ids, "list<element: string not null>");
      }
    }
    assert.equal(Object.keys(seen).length, python ? 2 : 0);
    await page.locator("#campaign-panel").screenshot({ path: join(shots, "exported.png") });
    console.log(`console dataset exports: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// Eight claims, two golden ones (known true); a comma and a quote inside a field.
const CSV = [
  "claim,text,golden",
  "The sky is green,\"Seen from the ground, at noon\",",
  "Water boils at 100 °C at sea level,,",
  "Paris is the capital of France,,",
  "\"A \"\"quoted\"\" claim\",,",
  "Two plus two is five,,",
  "Cats are mammals,,",
  "The Sun is a star,,true",
  "Ice is frozen water,,true",
].join("\r\n");

test("a requester runs a campaign from the console", { timeout: 120_000 }, async () => {
  const started = Date.now();
  const chain = info.chains[0];
  const requester = Wallet.createRandom();
  await chainProvider().send("anvil_setBalance", [requester.address, "0x56BC75E2D63100000"]);
  const usdt = new Contract(chain.tokens.USDT.address, ["function mint(address to, uint256 amount)"], new Wallet(requester.privateKey, chainProvider()));
  await (await usdt.mint(requester.address, 50n * 10n ** 18n)).wait();

  const browser = await launch({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  try {
    const page = await browser.page();
    const requests = [];
    page.on("request", (r) => requests.push(new URL(r.url()).pathname));
    await injectWallet(page, requester.privateKey);

    // The contributors' page fetches nothing of the console: its download is what it was.
    await page.goto(net.origin);
    await page.waitForSelector("body[data-ready=true]");
    assert.deepEqual(requests.filter((p) => p.startsWith("/console")), []);

    const response = await page.goto(`${net.origin}/console`);
    assert.ok(response.ok(), "/console answers (a redirect to /console/)");
    // The console holds a wallet connection as the mini-app does: the same policy, no framing.
    const miniApp = await fetch(`${net.origin}/`);
    assert.equal(response.headers()["content-security-policy"], miniApp.headers.get("content-security-policy"));
    assert.equal(response.headers()["x-frame-options"], "DENY");
    await page.waitForSelector("body[data-ready=true]");
    await page.click("#connect");
    await page.waitForSelector("body[data-signed-in=true]");
    assert.match(await page.textContent("#who"), new RegExp(requester.address, "i"));

    // The campaign from a CSV file, previewed before anything is spent.
    const id = `console-${Date.now().toString(36)}`;
    await page.click("#new-campaign");
    await page.fill("[name=id]", id);
    await page.fill("[name=title]", "True or false?");
    await page.fill("[name=instructions]", "Say whether the claim is true.");
    await page.fill("[name=reward]", "0.1");
    await page.fill("[name=budget]", "5");
    await page.fill("[name=overlap]", "3");
    await page.fill("[name=golden_share]", "0.3");
    await page.fill("[name=licence]", "CC-BY-4.0");
    await page.fill("[name=terms]", TERMS);
    // A file the console cannot use is refused before anything is sent, saying why.
    await page.setInputFiles("#items-file", { name: "bad.csv", mimeType: "text/csv", buffer: Buffer.from("claim,colour\r\nThe sky is green,green\r\n") });
    await page.waitForSelector("#status[data-kind=error]");
    assert.match(await page.textContent("#status"), /bad\.csv: unknown column colour/);
    await page.setInputFiles("#items-file", { name: "short.csv", mimeType: "text/csv", buffer: Buffer.from("claim,text\r\nonly one field\r\n") });
    await page.waitForFunction(() => /line 2 has 1 fields, the header 2/.test(document.getElementById("status").textContent));
    await page.setInputFiles("#items-file", { name: "claims.csv", mimeType: "text/csv", buffer: Buffer.from(CSV) });
    await page.waitForFunction(() => document.getElementById("items-summary").textContent.includes("6 items and 2 golden"));
    await page.click("#preview");
    await page.waitForSelector("#preview-phone .dh-task[data-kind=content_verification]");
    assert.equal(await page.textContent("#preview-phone .dh-claim-text"), "The sky is green");
    assert.equal(await page.textContent("#preview-desktop .dh-text"), "Seen from the ground, at noon");
    assert.equal(await page.locator("#preview-phone .dh-choice").count(), 3);
    await page.click("#preview-next");
    await page.click("#preview-next");
    await page.click("#preview-next");
    assert.equal(await page.textContent("#preview-desktop .dh-claim-text"), 'A "quoted" claim');
    const phoneWidth = await page.evaluate(() => document.getElementById("preview-phone").clientWidth);
    assert.ok(phoneWidth <= 375, `the phone preview is a phone's width (${phoneWidth} px)`);
    await page.locator("#create-panel").screenshot({ path: join(shots, "preview.png") });

    // No funds yet: the relay's refusal, in its words.
    await page.click("#create");
    await page.waitForSelector("#status[data-kind=error]");
    assert.match(await page.textContent("#status"), /not created: .*fund/i);

    // A deposit through the wallet: approve, then the escrow's deposit; credited by the relay.
    await page.fill("#deposit-amount", "10");
    await page.click("#deposit");
    await page.waitForFunction(() => /deposit credited/.test(document.getElementById("status").textContent)
      || document.getElementById("status").dataset.kind === "error", null, { timeout: 40_000 });
    assert.match(await page.textContent("#status"), /deposit credited: your funds are 10 USDT/);

    await page.click("#create");
    await page.waitForSelector(`#campaign-panel[data-status=active]`);
    assert.match(await page.textContent("#status"), new RegExp(`campaign ${id} created`));
    assert.match(await page.textContent("#funds"), /^5 USDT on chain/);

    // Six contributors through the package's client: four careful, one who says false to
    // everything (golden items included), one who says unsure.
    const client = await RelayClient.connect(net.origin);
    const domain = new URL(net.origin).host;
    const crowd = [];
    for (let i = 0; i < 6; i++) crowd.push(await client.signIn(LocalSigner.generate(), { chainId: chain.id, domain }));
    const verdictOf = (who, claim) => (who === 4 ? "false" : who === 5 ? "unsure" : ["The sky is green", "Two plus two is five"].includes(claim) ? "false" : "true");
    const done = new Set();
    let answered = 0;
    // Every receipt signs the campaign's licence and the hash of its terms as shown; one
    // signed without them is refused.
    const consent = { licence: "CC-BY-4.0", termsHash: termsHash(TERMS) };
    {
      const task = await crowd[0].nextTask(id);
      await assert.rejects(crowd[0].submit(task, { verdict: "true" }), (err) => err.code === "terms_not_accepted");
    }
    const falseSays = [];
    for (let round = 0; round < 30 && done.size < crowd.length; round++) {
      for (const [who, session] of crowd.entries()) {
        if (done.has(who)) continue;
        let task;
        try {
          task = await session.nextTask(id);
        } catch (err) {
          // No task left for this contributor, or the relay stopped giving them any.
          assert.ok(["no_task", "restricted", "probation", "budget_spent"].includes(err.code), `${err.code}: ${err.message}`);
          done.add(who);
          continue;
        }
        const outcome = await session.submit(task, { verdict: verdictOf(who, task.item.claim) }, consent);
        if (who === 4) falseSays.push(outcome.submission);
        answered += 1;
      }
    }
    assert.ok(answered >= 18, `contributors answered (${answered})`);

    // The charts follow the campaign (every 3 s).
    await page.waitForFunction((n) => Number(document.getElementById("charts").dataset.answers) >= n, answered, { timeout: 10_000 });
    for (const chart of ["answers", "budget", "items", "confidence", "golden", "trust"]) {
      assert.equal(await page.locator(`[data-chart=${chart}] svg`).count(), 1, `the ${chart} chart is drawn`);
    }
    assert.ok(await page.locator("[data-chart=answers] rect.c-bar").count() >= 1);
    // Every contributor here is new and the campaign has golden items: their accepted answers'
    // rewards are held until their records are known (docs/relay.md §4a), which six items on
    // overlap 3 never make. The console shows that money held, not spent, and not left.
    const money = async (label) => page.textContent(`[data-money=${label}] dd`);
    await page.waitForFunction(() => document.querySelector("[data-money=held] dd")?.textContent !== "0 USDT", null, { timeout: 10_000 });
    assert.equal(await money("spent"), "0 USDT", "nothing paid before the contributors' records are known");
    const held = Number((await money("held")).split(" ")[0]);
    const reserved = Number((await money("reserved")).split(" ")[0]);
    assert.ok(held > 0 && held <= reserved, `held pay (${held}) is money reserved (${reserved})`);
    await page.locator("#campaign-panel").screenshot({ path: join(shots, "campaign.png") });

    // A stranger (a contributor's session) cannot read the campaign's stats.
    const refused = await fetch(`${net.origin}/v1/campaigns/${id}/stats`, { headers: { authorization: `Bearer ${crowd[0].token}` } });
    assert.equal(refused.status, 403);
    assert.equal((await refused.json()).error, "not_owner");

    // The contributor who says false to everything appeals a rejected answer; the requester
    // upholds it from the console.
    let appealed = null;
    for (const submission of falseSays) {
      try {
        await crowd[4].appeal(submission, "I looked twice: it is false");
        appealed = submission;
        break;
      } catch (err) {
        assert.equal(err.code, "not_appealable", err.message);
      }
    }
    assert.ok(appealed, "one of the false answers was rejected and appealed");
    await page.waitForSelector("#appeals li[data-appeal] button[data-uphold=true]", { timeout: 10_000 });
    assert.match(await page.textContent("#appeals li[data-appeal]"), /I looked twice/);
    await page.click("#appeals li[data-appeal] button[data-uphold=true]");
    await page.waitForFunction(() => /upheld: the answer is paid/.test(document.getElementById("status").textContent)
      && !document.querySelector("#appeals li[data-appeal]"));

    // Review: the first item waiting gets the requester's answer and leaves the list.
    await page.waitForSelector("#review li[data-index]");
    const index = await page.getAttribute("#review li[data-index]", "data-index");
    await page.click(`#review li[data-index="${index}"] button[data-answer=true]`);
    await page.waitForFunction((i) => /set to true/.test(document.getElementById("status").textContent)
      && !document.querySelector(`#review li[data-index="${i}"]`), index);
    await page.locator("#campaign-panel").screenshot({ path: join(shots, "reviewed.png") });
    // The same at a phone's width: the charts stack, nothing runs off the side.
    await page.setViewportSize({ width: 390, height: 844 });
    const wide = await page.evaluate(() => [...document.querySelectorAll("body *")]
      .filter((e) => e.getBoundingClientRect().right > 391 && e.getClientRects().length)
      .map((e) => `${e.tagName}#${e.id}.${e.className?.baseVal ?? e.className} ${Math.round(e.getBoundingClientRect().right)}`));
    assert.deepEqual(wide, [], "no sideways scrolling on a phone");
    await page.screenshot({ path: join(shots, "phone.png"), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });

    // The export: JSONL in the CLI's record shape, the reviewed item with its new answer.
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#export-jsonl")]);
    assert.equal(download.suggestedFilename(), `${id}-results.jsonl`);
    const lines = (await readFile(await download.path(), "utf8")).trim().split("\n").map((l) => JSON.parse(l));
    assert.ok(lines.length >= 1);
    const reviewed = lines.find((r) => String(r.index) === index);
    assert.deepEqual(reviewed.answer, { verdict: "true" });
    assert.equal(reviewed.method, "review");
    assert.equal(reviewed.label, "true");
    // Consent in the rows: each accepted answer's receipt, signing the licence and terms hash.
    const receipt = lines.flatMap((r) => r.receipts).find((r) => r.receipt)?.receipt;
    assert.ok(receipt, "the rows carry receipts");
    assert.equal(receipt.message.licence, "CC-BY-4.0");
    assert.equal(receipt.message.termsHash, termsHash(TERMS));
    const [csv] = await Promise.all([page.waitForEvent("download"), page.click("#export-csv")]);
    const rows = (await readFile(await csv.path(), "utf8")).trim().split("\r\n");
    assert.equal(rows[0], "index,label,confidence,method,contributors,object,file,item,answer,verdict,predictions");
    assert.equal(rows.length, lines.length + 1);

    // The dataset layouts from the console, checked by the tools AI teams use and against the
    // CLI's export of the same campaign with the same key.
    await datasetExports(page, { id, requester, crowd: new Map(crowd.map((s) => [s.sessionKey.toLowerCase(), s.wallet])), reviewed: index });

    // Pause and close from the console; closing returns what is left to the funds.
    await page.click("#pause");
    await page.waitForSelector("#campaign-panel[data-status=paused]");
    page.once("dialog", (d) => d.accept());
    await page.click("#close");
    await page.waitForSelector("#campaign-panel[data-status=closed]");

    // The session revoked (as a sign-out on another tab does): the console says so in plain
    // words and offers to connect again.
    const bearer = await new Promise((resolve) => {
      page.once("request", (r) => resolve(r.headers().authorization));
      // Any request the console makes carries it: the charts' next refresh, or this one.
      page.evaluate(() => document.getElementById("export-jsonl").click());
    });
    const signout = await fetch(`${net.origin}/v1/auth/signout`, { method: "POST", headers: { authorization: bearer } });
    assert.equal(signout.status, 200);
    await page.waitForFunction(() => /signed out; sign in again: connect your wallet again/.test(document.getElementById("status").textContent), null, { timeout: 10_000 });
    assert.equal(await page.isVisible("#connect"), true);
    assert.deepEqual(page.errors, []);
    console.log(`console end to end: ${answered} answers, ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    await browser.close();
  }
});
