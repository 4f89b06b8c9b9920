// The wallet bridge in headless Chromium: WalletSigner finds an EIP-1193 provider through
// EIP-6963, window.binancew3w.ethereum or window.ethereum (in that order unless asked), signs
// with personal_sign and eth_signTypedData_v4, and its signatures verify with ethers.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { verifyMessage, verifyTypedData, hexlify, toUtf8Bytes } from "ethers";
import { serve, launch } from "./browser.mjs";

const mail = JSON.parse(readFileSync(new URL("../../test-vectors/eth-typed-data.json", import.meta.url), "utf8"))
  .vectors.find((v) => v.name === "eip712_mail");
const typed = { types: mail.types, primaryType: mail.primaryType, domain: mail.domain, message: mail.message };

let server;
let browser;
before(async () => {
  server = await serve();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.close();
});

async function page(wallets) {
  const p = await browser.page();
  await p.goto(`${server.origin}/pages/wallet.html`);
  await p.waitForSelector("body[data-ready]", { state: "attached" });
  const addresses = await p.evaluate((w) => window.install(w), wallets);
  return { p, addresses };
}

const connectAndSign = (p, options, message, json) =>
  p.evaluate(async ({ options, message, json }) => {
    const signer = await dh.WalletSigner.connect(options);
    return {
      source: signer.source, address: signer.address, info: signer.info,
      message: await signer.signMessage(message), typed: await signer.signTypedData(json),
    };
  }, { options, message, json });

for (const [source, wallets] of [
  ["eip6963", { eip6963: true }],
  ["binancew3w", { binance: true }],
  ["ethereum", { ethereum: true }],
]) {
  test(`a wallet found through ${source} signs messages and typed data ethers verifies`, async () => {
    const { p, addresses } = await page(wallets);
    const message = "Sign in to DataHub ✓";
    const r = await connectAndSign(p, {}, message, JSON.stringify(typed));
    assert.equal(r.source, source);
    assert.equal(r.address, addresses[source]);
    assert.equal(verifyMessage(message, r.message), addresses[source]);
    assert.equal(verifyTypedData(mail.domain, mail.types, mail.message, r.typed), addresses[source]);
    if (source === "eip6963") assert.equal(r.info.rdns, "test.datahub.wallet");
    else assert.equal(r.info, null);
    const calls = await p.evaluate((s) => window.calls(s), source);
    assert.deepEqual(calls.map((c) => c.method), ["eth_requestAccounts", "personal_sign", "eth_signTypedData_v4"]);
    assert.deepEqual(calls[1].params, [hexlify(toUtf8Bytes(message)), addresses[source]]);
    assert.equal(calls[2].params[0], addresses[source]);
    assert.deepEqual(JSON.parse(calls[2].params[1]), typed);
    assert.deepEqual(p.errors, []);
  });
}

test("EIP-6963 comes first, then binancew3w, then window.ethereum, unless the caller picks", async () => {
  const { p, addresses } = await page({ eip6963: true, binance: true, ethereum: true });
  const picked = await p.evaluate(async () => {
    const pick = async (options) => {
      const s = await dh.WalletSigner.connect(options);
      return [s.source, s.address];
    };
    return {
      found: (await dh.WalletSigner.discover()).map((w) => w.source),
      default: await pick(),
      binance: await pick({ prefer: "binancew3w" }),
      ethereum: await pick({ prefer: "ethereum" }),
      rdns: await pick({ rdns: "test.datahub.wallet", prefer: "ethereum" }),
      custom: await pick({ provider: window.binancew3w.ethereum }),
    };
  });
  assert.deepEqual(picked.found, ["eip6963", "binancew3w", "ethereum"]);
  assert.deepEqual(picked.default, ["eip6963", addresses.eip6963]);
  assert.deepEqual(picked.binance, ["binancew3w", addresses.binancew3w]);
  assert.deepEqual(picked.ethereum, ["ethereum", addresses.ethereum]);
  assert.deepEqual(picked.rdns, ["eip6963", addresses.eip6963]);
  assert.deepEqual(picked.custom, ["custom", addresses.binancew3w]);

  const { p: second, addresses: two } = await page({ binance: true, ethereum: true });
  assert.equal(await second.evaluate(async () => (await dh.WalletSigner.connect()).source), "binancew3w");
  assert.ok(two.binancew3w);
});

test("a user's rejection and a missing wallet fail with stable names", async () => {
  const { p } = await page({ ethereum: true, reject: true });
  const errors = await p.evaluate(async () => {
    const caught = async (f) => {
      try {
        await f();
        return null;
      } catch (e) {
        return { name: e.name, code: e.code, providerCode: e.providerCode ?? null };
      }
    };
    return {
      rejected: await caught(() => dh.WalletSigner.connect()),
      none: await caught(() => dh.WalletSigner.connect({ rdns: "no.such.wallet" })),
      prefer: await caught(() => dh.WalletSigner.connect({ prefer: "metamask" })),
    };
  });
  assert.deepEqual(errors.rejected, { name: "WalletError", code: "UserRejected", providerCode: 4001 });
  assert.deepEqual(errors.none, { name: "WalletError", code: "NoWallet", providerCode: null });
  assert.deepEqual(errors.prefer, { name: "InputError", code: "InvalidOptions", providerCode: null });
});
