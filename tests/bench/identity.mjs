// Sign and recover throughput of the wasm build (pkg/node) against ethers v6 and viem.

// Run from tests/ after `cargo xtask pkg`: node bench/identity.mjs. Prints ops/s; a benchmark, not a test.
import { createRequire } from "node:module";
import { Wallet, verifyMessage, SigningKey, hashMessage, TypedDataEncoder, recoverAddress } from "ethers";
import { privateKeyToAccount } from "viem/accounts";
import { recoverMessageAddress } from "viem";

const require = createRequire(import.meta.url);
const dh = require("@datahub/wasm");

const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
async function bench(name, fn) {
  for (let i = 0; i < 20; i++) await fn(i); // warm up
  let n = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(SECONDS * 1e9));
  let now = start;
  while (now < end) {
    for (let i = 0; i < 10; i++) await fn(n + i);
    n += 10;
    now = process.hrtime.bigint();
  }
  const ops = n / (Number(now - start) / 1e9);
  console.log(`${name.padEnd(40)} ${ops.toFixed(0).padStart(8)} ops/s`);
  return ops;
}

const secret = "0x" + "42".repeat(32);
const ours = dh.LocalSigner.fromSecret(secret);
const wallet = new Wallet(secret);
const account = privateKeyToAccount(secret);
const message = "DataHub benchmark message: sign and recover";
const sig = ours.signMessage(message);

const types = {
  SubmissionReceipt: [
    { name: "campaign", type: "string" }, { name: "task", type: "string" },
    { name: "answerHash", type: "bytes32" }, { name: "manifestId", type: "bytes32" },
    { name: "nonce", type: "uint256" }, { name: "deadline", type: "uint256" },
    { name: "licence", type: "string" }, { name: "termsHash", type: "bytes32" },
  ],
};
const domain = { name: "DataHub", version: "1", chainId: 56, verifyingContract: wallet.address };
const receipt = { campaign: "cats-2026", task: "task-000017", answerHash: "0x" + "01".repeat(32), manifestId: "0x" + "02".repeat(32), nonce: "17", deadline: "1800000000", licence: "CC-BY-4.0", termsHash: "0x" + "03".repeat(32) };
const json = JSON.stringify({ types, primaryType: "SubmissionReceipt", domain, message: receipt });
const typedSig = ours.signTypedData(json);

console.log(`node ${process.version}, ${SECONDS}s per figure`);
console.log("EIP-191 personal_sign");
await bench("  sign    datahub wasm", () => ours.signMessage(message));
await bench("  sign    ethers signMessageSync", () => wallet.signMessageSync(message));
await bench("  sign    viem account.signMessage", () => account.signMessage({ message }));
await bench("  recover datahub wasm recoverAddress", () => dh.recoverAddress(message, sig));
await bench("  recover ethers verifyMessage", () => verifyMessage(message, sig));
await bench("  recover viem recoverMessageAddress", () => recoverMessageAddress({ message, signature: sig }));
console.log("EIP-712 SubmissionReceipt");
await bench("  sign    datahub wasm signTypedData", () => ours.signTypedData(json));
await bench("  sign    ethers signingKey.sign(hash)", () => wallet.signingKey.sign(TypedDataEncoder.hash(domain, types, receipt)));
await bench("  recover datahub wasm", () => dh.recoverTypedDataAddress(json, typedSig));
await bench("  recover ethers", () => recoverAddress(TypedDataEncoder.hash(domain, types, receipt), typedSig));
console.log("raw digest (no hashing)");
const digest = hashMessage(message);
await bench("  sign    datahub wasm signDigest", () => ours.signDigest(digest));
await bench("  sign    ethers SigningKey.sign", () => new SigningKey(secret).sign(digest));
