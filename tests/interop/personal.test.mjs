// EIP-191 personal_sign: ours (wasm) against ethers v6 and viem, both directions.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Wallet, verifyMessage as ethersVerify, Signature, hashMessage } from "ethers";
import { verifyMessage as viemVerify, hashMessage as viemHash } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { dh, rng, vectors, N } from "./helpers.mjs";

const COUNT = 300;

test("signatures made by our wasm verify with ethers and viem, and match them byte for byte", async () => {
  const r = rng(1);
  for (let i = 0; i < COUNT; i++) {
    const signer = i % 10 === 0 ? dh.LocalSigner.generate() : dh.LocalSigner.fromSecret(r.hex(32));
    const kind = r.int(4);
    const message = i === 0 ? "" : kind === 0 ? r.bytes(r.int(200)) : r.text(80);
    const sig = signer.signMessage(message);
    assert.equal(ethersVerify(message, sig), signer.address, `ethers, case ${i}`);
    const viemMessage = message instanceof Uint8Array ? { raw: message } : message;
    assert.equal(await viemVerify({ address: signer.address, message: viemMessage, signature: sig }), true, `viem, case ${i}`);
    assert.equal(dh.hashMessage(message), hashMessage(message));
    assert.equal(dh.hashMessage(message), viemHash(viemMessage));
    // RFC 6979: the same signature as ethers and viem make.
    const secret = signer.exportSecret();
    assert.equal(sig, new Wallet(secret).signMessageSync(message), `ethers bytes, case ${i}`);
    assert.equal(sig, await privateKeyToAccount(secret).signMessage({ message: viemMessage }), `viem bytes, case ${i}`);
    signer.free();
  }
});

test("signatures made by ethers and viem recover with ours", async () => {
  const r = rng(2);
  for (let i = 0; i < COUNT; i++) {
    const secret = r.hex(32);
    const message = i === 0 ? "" : r.int(4) === 0 ? r.bytes(r.int(100)) : r.text(80);
    const wallet = new Wallet(secret);
    assert.equal(dh.recoverAddress(message, wallet.signMessageSync(message)), wallet.address);
    const account = privateKeyToAccount(secret);
    const viemMessage = message instanceof Uint8Array ? { raw: message } : message;
    assert.equal(dh.recoverAddress(message, await account.signMessage({ message: viemMessage })), account.address);
  }
});

test("v = 0/1 accepted, high-s refused, errors carry a stable name and code", () => {
  const r = rng(3);
  for (let i = 0; i < 50; i++) {
    const wallet = new Wallet(r.hex(32));
    const message = r.text(40);
    const sig = Signature.from(wallet.signMessageSync(message));
    const v01 = sig.r + sig.s.slice(2) + (sig.v - 27).toString(16).padStart(2, "0");
    assert.equal(dh.recoverAddress(message, v01), wallet.address);
    const highS = "0x" + (N - BigInt(sig.s)).toString(16).padStart(64, "0");
    const malleated = sig.r + highS.slice(2) + (sig.v === 27 ? "1c" : "1b");
    // ethers' recover still accepts the malleated form; we do not.
    assert.throws(() => dh.recoverAddress(message, malleated), (e) => e instanceof Error && e.name === "SignatureError" && e.code === "HighS");
  }
  assert.throws(() => dh.recoverAddress("x", "0x1234"), { name: "SignatureError", code: "InvalidLength" });
  assert.throws(() => dh.recoverAddress(42, "0x1234"), { name: "InputError", code: "InvalidMessage" });
  assert.throws(() => dh.LocalSigner.fromSecret("0x" + "00".repeat(32)), { name: "KeyError", code: "InvalidSecretKey" });
  assert.throws(() => dh.toChecksumAddress("0x5aaeb6053F3E94C9b9A09f33669435E7Ef1BeAed"), { name: "AddressError", code: "BadChecksum" });
});

test("the shared vector file agrees with the wasm build", () => {
  const v = vectors("eth-personal-sign.json");
  const keys = vectors("eth-keys.json").keys;
  for (const c of v.valid) {
    const message = c.message_hex !== undefined ? Uint8Array.from(Buffer.from(c.message_hex.slice(2), "hex")) : c.message;
    const secret = keys.find((k) => k.label === c.signer).secret;
    assert.equal(dh.LocalSigner.fromSecret(secret).signMessage(message), c.signature);
    assert.equal(dh.recoverAddress(message, c.signature), c.address);
  }
  for (const c of v.invalid) {
    let recovered;
    try {
      recovered = dh.recoverAddress(c.message, c.signature);
    } catch (e) {
      assert.equal(e.name, "SignatureError", c.name);
      continue;
    }
    assert.notEqual(recovered, c.address, c.name);
  }
  for (const k of keys) {
    const s = dh.LocalSigner.fromSecret(k.secret);
    assert.equal(s.address, k.address);
    assert.equal(s.publicKey, k.public_uncompressed);
    assert.equal(s.compressedPublicKey, k.public_compressed);
  }
});
