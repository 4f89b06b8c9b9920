// Sign-In with Ethereum (EIP-4361) and session grants: ours (wasm) against viem/siwe, signatures
// by ethers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Wallet, getAddress } from "ethers";
import { verifyMessage } from "viem";
import { createSiweMessage, parseSiweMessage, validateSiweMessage } from "viem/siwe";
import { dh, rng, vectors } from "./helpers.mjs";

const COUNT = 200;
const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
// EIP-4361 statements: RFC 3986 reserved / unreserved characters and spaces.
const STATEMENT = ALNUM + " -._~:/?#[]@!$&'()*+,;=";

function fields(r, address) {
  const str = (alphabet, n) => Array.from({ length: n }, () => r.pick([...alphabet])).join("");
  const issued = 1_700_000_000_000 + r.int(100_000_000) * 1000 + (r.int(2) ? r.int(1000) : 0);
  const f = {
    address, chainId: r.pick([1, 56, 137, 31337]), domain: r.pick(["datahub.example", "localhost:8080", "app.data-hub.io", "127.0.0.1:3000"]),
    nonce: str(ALNUM, 8 + r.int(16)), uri: r.pick(["https://datahub.example/login", "http://localhost:8080/", "urn:datahub:login"]),
    version: "1", issuedAt: new Date(issued),
  };
  if (r.int(2)) f.statement = str(STATEMENT, 1 + r.int(60)).trim() || "Sign in";
  if (r.int(2)) f.expirationTime = new Date(issued + 3_600_000);
  if (r.int(3) === 0) f.notBefore = new Date(issued - 60_000);
  if (r.int(3) === 0) f.requestId = str(ALNUM + "-._~!$&'()*+,;=:@", r.int(12));
  if (r.int(3) === 0) f.scheme = r.pick(["https", "http"]);
  if (r.int(2)) f.resources = Array.from({ length: 1 + r.int(3) }, (_, i) => r.pick([`ipfs://bafy${str(ALNUM, 20)}`, `https://example.com/r/${i}?q=${str(ALNUM, 4)}`, `urn:datahub:session:campaign:c${i}`]));
  return f;
}

const sameDate = (a, b) => assert.equal(new Date(a).getTime(), new Date(b).getTime());

// A parsed message (ours or viem's) holds exactly the fields it was built from.
function sameFields(parsed, f) {
  assert.equal(parsed.address, f.address);
  assert.equal(parsed.domain, f.domain);
  assert.equal(parsed.chainId, f.chainId);
  assert.equal(parsed.nonce, f.nonce);
  assert.equal(parsed.uri, f.uri);
  assert.equal(parsed.statement, f.statement);
  assert.equal(parsed.scheme, f.scheme);
  assert.equal(parsed.requestId, f.requestId || undefined);
  assert.deepEqual(parsed.resources, f.resources);
  sameDate(parsed.issuedAt, f.issuedAt);
  if (f.expirationTime) sameDate(parsed.expirationTime, f.expirationTime);
  if (f.notBefore) sameDate(parsed.notBefore, f.notBefore);
}

test("viem-made messages parse and verify with ours", () => {
  const r = rng(21);
  for (let i = 0; i < COUNT; i++) {
    const wallet = new Wallet(r.hex(32));
    const f = fields(r, wallet.address);
    const text = createSiweMessage(f);
    const parsed = dh.parseSiweMessage(text);
    sameFields(parsed, f);
    const sig = wallet.signMessageSync(text);
    const now = f.issuedAt.getTime() + 1000;
    const seen = new Set();
    const consume = (addr, nonce) => !seen.has(addr + nonce) && !!seen.add(addr + nonce);
    const verified = dh.verifySiweMessage(text, sig, { domain: f.domain, now }, consume);
    assert.equal(verified.address, wallet.address);
    // Replay, wrong domain, expired.
    assert.throws(() => dh.verifySiweMessage(text, sig, { domain: f.domain, now }, consume), { name: "SiweError", code: "NonceReused" });
    assert.throws(() => dh.verifySiweMessage(text, sig, { domain: "evil.example", now }, () => true), { name: "SiweError", code: "WrongDomain" });
    if (f.expirationTime) {
      assert.throws(() => dh.verifySiweMessage(text, sig, { domain: f.domain, now: f.expirationTime.getTime() }, () => true), { name: "SiweError", code: "Expired" });
    }
    if (f.notBefore) {
      assert.throws(() => dh.verifySiweMessage(text, sig, { domain: f.domain, now: f.notBefore.getTime() - 1 }, () => true), { name: "SiweError", code: "NotYetValid" });
    }
  }
});

test("our messages parse, validate and verify with viem", async () => {
  const r = rng(22);
  for (let i = 0; i < COUNT; i++) {
    const signer = dh.LocalSigner.fromSecret(r.hex(32));
    const f = fields(r, signer.address);
    const text = dh.buildSiweMessage(f);
    const parsed = parseSiweMessage(text);
    assert.equal(parsed.version, "1");
    sameFields(parsed, f);
    // viem writes times with milliseconds, we write them only when not zero; otherwise the
    // texts are identical.
    assert.equal(text, createSiweMessage(f).replaceAll(".000Z", "Z"));
    const time = new Date(f.issuedAt.getTime() + 1000);
    assert.equal(validateSiweMessage({ message: parsed, domain: f.domain, nonce: f.nonce, address: signer.address, time }), true);
    const sig = signer.signMessage(text);
    assert.equal(await verifyMessage({ address: signer.address, message: text, signature: sig }), true);
  }
});

test("session grants: built by ours, read by viem, verified by ours", async () => {
  const r = rng(23);
  for (let i = 0; i < 50; i++) {
    const wallet = new Wallet(r.hex(32));
    const session = dh.LocalSigner.generate();
    const issuedAt = new Date(1_790_000_000_000 + r.int(1_000_000) * 1000);
    const expires = new Date(issuedAt.getTime() + 6 * 3600 * 1000);
    const campaigns = r.int(4) === 0 ? ["*"] : Array.from({ length: 1 + r.int(3) }, (_, k) => `campaign-${k}-${r.int(1000)}`);
    const text = dh.buildSessionSiweMessage({
      address: wallet.address, chainId: 56, domain: "datahub.example", uri: "https://datahub.example/",
      nonce: "n" + r.hex(8).slice(2), issuedAt, statement: "Authorize a DataHub session key.",
      sessionKey: session.address, expires, campaigns, rewardCap: r.uint(64).toString(),
    });
    const parsed = parseSiweMessage(text);
    assert.equal(parsed.resources[0], `urn:datahub:session:key:${session.address}`);
    sameDate(parsed.expirationTime, expires);
    const sig = await wallet.signMessage(text);
    const grant = dh.verifySessionGrant(text, sig, { domain: "datahub.example", now: issuedAt.getTime() + 1 }, () => true);
    assert.equal(grant.wallet, wallet.address);
    assert.equal(grant.sessionKey, session.address);
    assert.deepEqual(grant.campaigns, campaigns);
    sameDate(grant.expires, expires);
    assert.throws(() => dh.verifySessionGrant(text, sig, { domain: "datahub.example", now: expires.getTime() }, () => true), { name: "SessionError" });
  }
  // A plain sign-in grants nothing.
  const w = new Wallet(rng(24).hex(32));
  const plain = createSiweMessage({ address: w.address, chainId: 1, domain: "datahub.example", nonce: "abcdefgh1", uri: "https://datahub.example/", version: "1", issuedAt: new Date(0) });
  assert.throws(() => dh.verifySessionGrant(plain, w.signMessageSync(plain), { domain: "datahub.example", now: 1000 }, () => true), { name: "SessionError", code: "NotASession" });
});

test("the shared SIWE vectors agree with the wasm build", () => {
  const v = vectors("eth-siwe.json");
  for (const c of v.valid) {
    const out = dh.verifySiweMessage(c.text, c.signature, { domain: v.domain, now: v.now }, () => true);
    assert.equal(out.address, v.wallet, c.name);
  }
  for (const c of v.malformed) {
    assert.throws(() => dh.parseSiweMessage(c.text), { name: "SiweError", code: "Malformed" }, c.name);
  }
  for (const c of v.rejected) {
    assert.throws(() => dh.verifySiweMessage(c.text, c.signature, { domain: c.domain, now: c.now }, () => true), (e) => e.name === "SiweError" && e.code === c.error, c.name);
  }
});

test("building refuses what EIP-4361 forbids", () => {
  const base = { address: getAddress("0x" + "11".repeat(20)), chainId: 1, domain: "datahub.example", nonce: "abcdefgh1", uri: "https://datahub.example/", issuedAt: new Date(0) };
  assert.throws(() => dh.buildSiweMessage({ ...base, nonce: "short" }), { name: "SiweError", code: "Malformed" });
  assert.throws(() => dh.buildSiweMessage({ ...base, statement: "two\nlines" }), { name: "SiweError", code: "Malformed" });
  assert.throws(() => dh.buildSiweMessage({ ...base, uri: "no uri" }), { name: "SiweError", code: "Malformed" });
  assert.throws(() => dh.buildSiweMessage({ ...base, address: "0x" + "1a".repeat(10) + "1A".repeat(10) }), { name: "AddressError", code: "BadChecksum" });
  assert.throws(() => dh.buildSiweMessage({ ...base, resources: ["not a uri"] }), { name: "SiweError" });
});
