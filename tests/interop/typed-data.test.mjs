// EIP-712: ours (wasm) against ethers v6 and viem, for DataHub's two types, the EIP's Mail
// example and a type that exercises every kind of member.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Wallet, verifyTypedData as ethersVerify, TypedDataEncoder, getAddress } from "ethers";
import { verifyTypedData as viemVerify, hashTypedData as viemHash } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { dh, rng, vectors } from "./helpers.mjs";

const COUNT = 200;

export const RECEIPT_TYPES = {
  SubmissionReceipt: [
    { name: "campaign", type: "string" }, { name: "task", type: "string" },
    { name: "answerHash", type: "bytes32" }, { name: "manifestId", type: "bytes32" },
    { name: "nonce", type: "uint256" }, { name: "deadline", type: "uint256" },
    { name: "licence", type: "string" }, { name: "termsHash", type: "bytes32" },
  ],
};
export const VOUCHER_TYPES = {
  RewardVoucher: [
    { name: "recipient", type: "address" }, { name: "token", type: "address" },
    { name: "amount", type: "uint256" }, { name: "nonce", type: "uint256" }, { name: "deadline", type: "uint256" },
  ],
};
const KITCHEN_TYPES = {
  Inner: [{ name: "flag", type: "bool" }, { name: "small", type: "int8" }, { name: "blob", type: "bytes" }],
  Kitchen: [
    { name: "who", type: "address" }, { name: "big", type: "int256" }, { name: "u16", type: "uint16" },
    { name: "b1", type: "bytes1" }, { name: "b7", type: "bytes7" }, { name: "text", type: "string" },
    { name: "list", type: "uint64[]" }, { name: "pair", type: "Inner[2]" }, { name: "names", type: "string[]" },
    { name: "nested", type: "bytes32[][]" },
  ],
};

const domainOf = (r) => ({
  name: r.pick(["DataHub", "Ether Mail", r.text(10)]), version: r.pick(["1", "2"]),
  chainId: r.pick([1, 56, 137, 8453, 31337]), verifyingContract: getAddress(r.hex(20)),
});

function receipt(r) {
  return {
    campaign: r.text(24), task: r.text(12), answerHash: r.hex(32), manifestId: r.hex(32),
    nonce: r.uint(256).toString(), deadline: r.uint(64).toString(),
    licence: r.pick(["", "CC-BY-4.0", "other", r.text(16)]), termsHash: r.hex(32),
  };
}
function voucher(r) {
  return {
    recipient: getAddress(r.hex(20)), token: getAddress(r.hex(20)), amount: r.uint(256).toString(),
    nonce: r.uint(256).toString(), deadline: r.uint(64).toString(),
  };
}
function kitchen(r) {
  const signed = (bits) => {
    const v = r.uint(bits);
    const half = 1n << BigInt(bits - 1);
    return (v >= half ? v - (1n << BigInt(bits)) : v).toString();
  };
  const inner = () => ({ flag: r.int(2) === 1, small: Number(signed(8)), blob: r.hex(r.int(40)) });
  return {
    who: getAddress(r.hex(20)), big: signed(256), u16: Number(r.uint(16)), b1: r.hex(1), b7: r.hex(7),
    text: r.text(30), list: Array.from({ length: r.int(4) }, () => r.uint(64).toString()),
    pair: [inner(), inner()], names: Array.from({ length: r.int(3) }, () => r.text(8)),
    nested: Array.from({ length: r.int(3) }, () => Array.from({ length: r.int(3) }, () => r.hex(32))),
  };
}

const json = (domain, types, primaryType, message) => JSON.stringify({ types, primaryType, domain, message });
// viem wants bigints for integers written as strings.
const forViem = (message, types, primaryType) => {
  const conv = (type, v) => {
    if (type.endsWith("]")) return v.map((x) => conv(type.slice(0, type.lastIndexOf("[")), x));
    if (types[type]) return Object.fromEntries(types[type].map((f) => [f.name, conv(f.type, v[f.name])]));
    if (/^u?int/.test(type)) return BigInt(v);
    return v;
  };
  return conv(primaryType, message);
};

const cases = [
  ["SubmissionReceipt", RECEIPT_TYPES, receipt],
  ["RewardVoucher", VOUCHER_TYPES, voucher],
  ["Kitchen", KITCHEN_TYPES, kitchen],
];

test("typed data signed by our wasm verifies with ethers and viem, byte-identical signatures", async () => {
  const r = rng(11);
  for (let i = 0; i < COUNT; i++) {
    const [primaryType, types, make] = cases[i % cases.length];
    const signer = dh.LocalSigner.fromSecret(r.hex(32));
    const domain = domainOf(r);
    const message = make(r);
    const text = json(domain, types, primaryType, message);
    const sig = signer.signTypedData(text);
    assert.equal(dh.hashTypedData(text), TypedDataEncoder.hash(domain, types, message), `hash, case ${i}`);
    const viemArgs = { domain, types, primaryType, message: forViem(message, types, primaryType) };
    assert.equal(dh.hashTypedData(text), viemHash(viemArgs), `viem hash, case ${i}`);
    assert.equal(ethersVerify(domain, types, message, sig), signer.address, `ethers, case ${i}`);
    assert.equal(await viemVerify({ address: signer.address, signature: sig, ...viemArgs }), true, `viem, case ${i}`);
    const wallet = new Wallet(signer.exportSecret());
    assert.equal(sig, await wallet.signTypedData(domain, types, message), `same bytes as ethers, case ${i}`);
    assert.equal(sig, await privateKeyToAccount(signer.exportSecret()).signTypedData(viemArgs), `same bytes as viem, case ${i}`);
    signer.free();
  }
});

test("typed data signed by ethers and viem recovers with ours", async () => {
  const r = rng(12);
  for (let i = 0; i < COUNT; i++) {
    const [primaryType, types, make] = cases[i % cases.length];
    const secret = r.hex(32);
    const domain = domainOf(r);
    const message = make(r);
    const text = json(domain, types, primaryType, message);
    const wallet = new Wallet(secret);
    assert.equal(dh.recoverTypedDataAddress(text, await wallet.signTypedData(domain, types, message)), wallet.address);
    const account = privateKeyToAccount(secret);
    const viemSig = await account.signTypedData({ domain, types, primaryType, message: forViem(message, types, primaryType) });
    assert.equal(dh.recoverTypedDataAddress(text, viemSig), account.address);
  }
});

test("the EIP-712 Mail example and the shared vectors reproduce exactly", () => {
  const v = vectors("eth-typed-data.json");
  const keys = vectors("eth-keys.json").keys;
  for (const c of v.vectors) {
    const text = json(c.domain, c.types, c.primaryType, c.message);
    assert.equal(dh.hashTypedData(text), c.digest, c.name);
    const secret = keys.find((k) => k.label === c.signer).secret;
    assert.equal(dh.LocalSigner.fromSecret(secret).signTypedData(text), c.signature, c.name);
    assert.equal(dh.recoverTypedDataAddress(text, c.signature), c.address, c.name);
  }
  const mail = v.vectors.find((c) => c.name === "eip712_mail");
  assert.equal(mail.digest, "0xbe609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2");
  // With EIP712Domain spelled out in types, as eth_signTypedData_v4 callers often do.
  const full = JSON.stringify({
    types: { EIP712Domain: [
      { name: "name", type: "string" }, { name: "version", type: "string" },
      { name: "chainId", type: "uint256" }, { name: "verifyingContract", type: "address" }], ...mail.types },
    primaryType: "Mail", domain: mail.domain, message: mail.message,
  });
  assert.equal(dh.hashTypedData(full), mail.digest);
});

test("bad typed data throws typed errors", () => {
  const s = dh.LocalSigner.generate();
  const base = { types: VOUCHER_TYPES, primaryType: "RewardVoucher", domain: { chainId: 1 }, message: voucher(rng(5)) };
  assert.throws(() => s.signTypedData("{"), { name: "InputError", code: "InvalidTypedData" });
  assert.throws(() => s.signTypedData(JSON.stringify({ ...base, message: { ...base.message, amount: "-1" } })), { name: "TypedDataError", code: "InvalidValue" });
  assert.throws(() => s.signTypedData(JSON.stringify({ ...base, message: { ...base.message, extra: 1 } })), { name: "TypedDataError", code: "UnexpectedField" });
  assert.throws(() => s.signTypedData(JSON.stringify({ ...base, primaryType: "Nope" })), { name: "TypedDataError", code: "UnknownType" });
  assert.throws(() => s.signTypedData(JSON.stringify({ ...base, message: { ...base.message, amount: 1.5 } })), { name: "InputError", code: "InvalidNumber" });
});
