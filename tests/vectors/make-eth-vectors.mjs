// Writes test-vectors/eth-*.json with ethers v6 and viem (run from tests/: node vectors/make-eth-vectors.mjs).
// The Rust tests and tests/interop read these files; rerunning gives the same bytes
// (RFC 6979 signatures are deterministic and all inputs below are fixed).
import { writeFileSync } from "node:fs";
import {
  Wallet, SigningKey, keccak256, toUtf8Bytes, hashMessage, getAddress, TypedDataEncoder,
  Signature, computeAddress, hexlify, id,
} from "ethers";
import { createSiweMessage } from "viem/siwe";
import { blake3 } from "@noble/hashes/blake3";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const ethersVersion = require("../node_modules/ethers/package.json").version;
const viemVersion = require("../node_modules/viem/package.json").version;
const out = (name, obj) =>
  writeFileSync(new URL(`../../test-vectors/${name}`, import.meta.url), JSON.stringify(obj, null, 2) + "\n");
const made = `made by tests/vectors/make-eth-vectors.mjs with ethers ${ethersVersion} and viem ${viemVersion}`;

// Fixed secret keys: keccak256 of short labels (the EIP-712 example uses keccak256("cow")).
const labels = ["cow", "bob", "datahub-relay", "session-1", "wallet-1", "edge"];
const keys = labels.map((l) => ({ label: l, secret: keccak256(toUtf8Bytes(l)) }));

// --- keys and addresses -------------------------------------------------------------------
out("eth-keys.json", {
  _comment: `Secret key -> public keys and EIP-55 address; ${made}. eip55_valid are the examples of the EIP-55 text; eip55_bad_checksum flip the case of one letter of those.`,
  keys: keys.map(({ label, secret }) => {
    const sk = new SigningKey(secret);
    return {
      label, secret,
      public_compressed: sk.compressedPublicKey,
      public_uncompressed: sk.publicKey,
      address: computeAddress(sk.publicKey),
    };
  }),
  eip55_valid: [
    "0x52908400098527886E0F7030069857D2E4169EE7", "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
    "0xde709f2102306220921060314715629080e2fb77", "0x27b1fdb04752bbc536007a920d24acb045561c26",
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
  ].map((a) => ({ text: a, checksummed: getAddress(a) })),
  eip55_bad_checksum: [
    "0x5aaeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359".replace("bB79", "bb79"),
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6Fb", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDB",
  ],
  malformed: ["", "0x", "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe",
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAedd", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeg"],
});

// --- EIP-191 personal_sign ------------------------------------------------------------------
const messages = [
  "", "hello", "Hello, DataHub!", "héllo wörld ✓ 数据 🚀", "line one\nline two\r\n",
  "0x1234", "a".repeat(1000),
];
const personal = [];
for (const { label, secret } of keys.slice(0, 3)) {
  const w = new Wallet(secret);
  for (const m of messages) {
    personal.push({ signer: label, address: w.address, message: m, digest: hashMessage(m), signature: w.signMessageSync(m) });
  }
}
// Raw bytes (not UTF-8) messages.
const rawMsgs = ["0x", "0x00", "0xff00ff", "0x" + "de".repeat(65)];
for (const raw of rawMsgs) {
  const w = new Wallet(keys[0].secret);
  const bytes = Uint8Array.from(Buffer.from(raw.slice(2), "hex"));
  personal.push({ signer: "cow", address: w.address, message_hex: raw, digest: hashMessage(bytes), signature: w.signMessageSync(bytes) });
}
// Negative vectors: each a failure mode, made from the first valid signature.
const base = Signature.from(personal[1].signature);
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const hex32 = (n) => "0x" + n.toString(16).padStart(64, "0");
const highS = hex32(N - BigInt(base.s));
const flippedV = base.v === 27 ? 28 : 27;
const cat = (r, s, v) => r + s.slice(2) + v.toString(16).padStart(2, "0");
out("eth-personal-sign.json", {
  _comment: `EIP-191 personal_sign: ethers Wallet.signMessageSync over UTF-8 text (message) or raw bytes (message_hex); ${made}. invalid: one vector per failure mode, built from valid[1] (high_s = n - s with v flipped, which ethers and k256 would still recover).`,
  valid: personal,
  valid_v01: {
    message: personal[1].message, address: personal[1].address,
    signature: cat(base.r, base.s, base.v - 27),
  },
  invalid: [
    { name: "high_s", message: personal[1].message, address: personal[1].address, signature: cat(base.r, highS, flippedV), error: "HighS" },
    { name: "bad_v", message: personal[1].message, address: personal[1].address, signature: cat(base.r, base.s, 29), error: "InvalidRecoveryId" },
    { name: "r_zero", message: personal[1].message, address: personal[1].address, signature: cat(hex32(0n), base.s, base.v), error: "InvalidScalar" },
    { name: "s_zero", message: personal[1].message, address: personal[1].address, signature: cat(base.r, hex32(0n), base.v), error: "InvalidScalar" },
    { name: "r_not_below_order", message: personal[1].message, address: personal[1].address, signature: cat(hex32(N), base.s, base.v), error: "InvalidScalar" },
    { name: "too_short", message: personal[1].message, address: personal[1].address, signature: base.serialized.slice(0, 130), error: "InvalidLength" },
    { name: "too_long", message: personal[1].message, address: personal[1].address, signature: base.serialized + "00", error: "InvalidLength" },
    { name: "wrong_message", message: personal[1].message + "!", address: personal[1].address, signature: base.serialized, error: "WrongSigner" },
    { name: "flipped_v", message: personal[1].message, address: personal[1].address, signature: cat(base.r, base.s, flippedV), error: "WrongSigner" },
  ],
});

// --- EIP-712 --------------------------------------------------------------------------------
const mailTypes = {
  Person: [{ name: "name", type: "string" }, { name: "wallet", type: "address" }],
  Mail: [{ name: "from", type: "Person" }, { name: "to", type: "Person" }, { name: "contents", type: "string" }],
};
const mailDomain = { name: "Ether Mail", version: "1", chainId: 1, verifyingContract: "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC" };
const mail = {
  from: { name: "Cow", wallet: "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826" },
  to: { name: "Bob", wallet: "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB" },
  contents: "Hello, Bob!",
};
const cow = new Wallet(keys[0].secret);
const receiptTypes = {
  SubmissionReceipt: [
    { name: "campaign", type: "string" }, { name: "task", type: "string" },
    { name: "answerHash", type: "bytes32" }, { name: "manifestId", type: "bytes32" },
    { name: "nonce", type: "uint256" }, { name: "deadline", type: "uint256" },
    { name: "licence", type: "string" }, { name: "termsHash", type: "bytes32" },
  ],
};
const voucherTypes = {
  RewardVoucher: [
    { name: "recipient", type: "address" }, { name: "token", type: "address" },
    { name: "amount", type: "uint256" }, { name: "nonce", type: "uint256" }, { name: "deadline", type: "uint256" },
  ],
};
const dhDomain = (chainId) => ({ name: "DataHub", version: "1", chainId, verifyingContract: "0x1111111111111111111111111111111111111111" });
const typed = [];
const add = (name, signer, domain, types, primaryType, message) => {
  const w = new Wallet(signer.secret);
  typed.push({
    name, signer: signer.label, address: w.address, primaryType,
    domain, types, message,
    encode_type: TypedDataEncoder.from(types).encodeType(primaryType),
    domain_separator: TypedDataEncoder.hashDomain(domain),
    struct_hash: TypedDataEncoder.from(types).hash(message),
    digest: TypedDataEncoder.hash(domain, types, message),
    signature: w.signingKey.sign(TypedDataEncoder.hash(domain, types, message)).serialized,
  });
};
add("eip712_mail", keys[0], mailDomain, mailTypes, "Mail", mail);
add("receipt_basic", keys[3], dhDomain(56), receiptTypes, "SubmissionReceipt", {
  campaign: "cats-2026", task: "task-000017", answerHash: id("cat"), manifestId: keccak256("0x01"),
  nonce: "1", deadline: "1795000000", licence: "CC-BY-4.0",
  // BLAKE3 of the UTF-8 terms text (crates/core SubmissionReceipt::terms_hash).
  termsHash: "0x" + Buffer.from(blake3("I agree that my answers are released under CC-BY-4.0.")).toString("hex"),
});
add("receipt_unicode_max", keys[3], dhDomain(1), receiptTypes, "SubmissionReceipt", {
  campaign: "ça-marche-数据", task: "", answerHash: "0x" + "00".repeat(32), manifestId: "0x" + "ff".repeat(32),
  nonce: (2n ** 256n - 1n).toString(), deadline: "18446744073709551615",
  licence: "", termsHash: "0x" + "00".repeat(32),
});
add("voucher_basic", keys[2], dhDomain(56), voucherTypes, "RewardVoucher", {
  recipient: cow.address, token: "0x55d398326f99059fF775485246999027B3197955", amount: "1500000000000000000",
  nonce: "7", deadline: "1795000000",
});
add("voucher_zero", keys[2], dhDomain(137), voucherTypes, "RewardVoucher", {
  recipient: "0x0000000000000000000000000000000000000000", token: "0x0000000000000000000000000000000000000000",
  amount: "0", nonce: "0", deadline: "0",
});
out("eth-typed-data.json", {
  _comment: `EIP-712: eip712_mail is the example of the EIP-712 text (signer keccak256("cow")); the others are DataHub's SubmissionReceipt and RewardVoucher. Hashes from ethers TypedDataEncoder, signatures from ethers SigningKey.sign; ${made}. The EIP itself gives for the Mail example: domain separator 0xf2cee375fa42b42143804025fc449deafd50cc031ca257e0b194a650a912090f, digest 0xbe609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2, v=28, r=0x4355c47d63924e8a72e509b65029052eb6c299d53a04e167c5775fd466751c9d, s=0x07299936d304c153f6443dfa05f40ff007d72911b6f72307f996231605b91562.`,
  vectors: typed,
});

// --- SIWE -----------------------------------------------------------------------------------
const wallet = new Wallet(keys[4].secret);
const session = new Wallet(keys[3].secret);
const siwe = (p) => createSiweMessage({ version: "1", address: wallet.address, chainId: 56, domain: "datahub.example", uri: "https://datahub.example/login", nonce: "k3Xr9bQ2mZ", issuedAt: new Date("2026-11-25T12:00:00.000Z"), ...p });
const cases = [
  { name: "minimal", text: siwe({}) },
  { name: "statement", text: siwe({ statement: "Sign in to DataHub to earn rewards for data tasks." }) },
  { name: "all_fields", text: siwe({
      scheme: "https", statement: "Sign in to DataHub.", expirationTime: new Date("2026-11-25T18:00:00.000Z"),
      notBefore: new Date("2026-11-25T11:59:00.000Z"), requestId: "req-42",
      resources: ["ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/", "https://example.com/my-web2-claim.json"] }) },
  { name: "session_grant", text: siwe({
      statement: "Authorize a DataHub session key.", expirationTime: new Date("2026-11-25T18:00:00.000Z"),
      resources: [
        `urn:datahub:session:key:${session.address}`,
        "urn:datahub:session:expires:2026-11-25T18:00:00Z",
        "urn:datahub:session:campaign:cats-2026",
        "urn:datahub:session:campaign:birds-2026",
        "urn:datahub:session:reward-cap:5000000",
      ] }) },
];
for (const c of cases) c.signature = wallet.signMessageSync(c.text);
out("eth-siwe.json", {
  _comment: `EIP-4361 messages made by viem createSiweMessage and signed by ethers Wallet.signMessageSync (wallet = keccak256("wallet-1"), session key = keccak256("session-1")); ${made}. Verify at now = 2026-11-25T12:30:00Z for domain datahub.example. malformed: texts that must fail to parse, one per failure mode; rejected: well-formed but refused for the named reason.`,
  wallet: wallet.address, session_key: session.address, domain: "datahub.example", now: "2026-11-25T12:30:00Z",
  valid: cases,
  malformed: [
    { name: "no_header", text: cases[0].text.replace(" wants you to sign in", " wants you to log in") },
    { name: "bad_checksum", text: cases[0].text.replace(wallet.address, wallet.address.slice(0, 2) + wallet.address.slice(2).split("").map((c) => /[a-f]/.test(c) ? c.toUpperCase() : /[A-F]/.test(c) ? c.toLowerCase() : c).join("")) },
    { name: "short_nonce", text: cases[0].text.replace("Nonce: k3Xr9bQ2mZ", "Nonce: k3Xr9") },
    { name: "nonce_not_alphanumeric", text: cases[0].text.replace("Nonce: k3Xr9bQ2mZ", "Nonce: k3Xr9bQ2-Z") },
    { name: "bad_version", text: cases[0].text.replace("Version: 1", "Version: 2") },
    { name: "bad_chain_id", text: cases[0].text.replace("Chain ID: 56", "Chain ID: 0x38") },
    { name: "bad_issued_at", text: cases[0].text.replace("Issued At: 2026-11-25T12:00:00.000Z", "Issued At: 2026-13-25T12:00:00.000Z") },
    { name: "trailing_newline", text: cases[0].text + "\n" },
    { name: "missing_blank_line", text: cases[0].text.replace("\n\n\nURI", "\n\nURI") },
    { name: "statement_with_newline", text: cases[1].text.replace("Sign in to DataHub", "Sign in\nto DataHub") },
    { name: "bad_uri", text: cases[0].text.replace("URI: https://datahub.example/login", "URI: not a uri") },
    { name: "bad_resource", text: cases[2].text.replace("- https://example.com/my-web2-claim.json", "- https://example.com/my web2") },
    { name: "fields_out_of_order", text: cases[2].text.replace(/(Expiration Time: .*)\n(Not Before: .*)/, "$2\n$1") },
    { name: "bad_domain", text: cases[0].text.replace("datahub.example wants", "data hub.example wants") },
  ],
  rejected: [
    { name: "wrong_domain", text: cases[0].text, signature: cases[0].signature, domain: "evil.example", now: "2026-11-25T12:30:00Z", error: "WrongDomain" },
    { name: "expired", text: cases[2].text, signature: cases[2].signature, domain: "datahub.example", now: "2026-11-25T18:00:00Z", error: "Expired" },
    { name: "not_yet_valid", text: cases[2].text, signature: cases[2].signature, domain: "datahub.example", now: "2026-11-25T11:58:59Z", error: "NotYetValid" },
    { name: "wrong_signer", text: cases[0].text, signature: session.signMessageSync(cases[0].text), domain: "datahub.example", now: "2026-11-25T12:30:00Z", error: "Signature" },
    { name: "tampered", text: cases[0].text.replace("Chain ID: 56", "Chain ID: 1"), signature: cases[0].signature, domain: "datahub.example", now: "2026-11-25T12:30:00Z", error: "Signature" },
  ],
});
console.log("wrote test-vectors/eth-keys.json, eth-personal-sign.json, eth-typed-data.json, eth-siwe.json");
