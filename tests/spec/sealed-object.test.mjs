// The sealed-object vectors and the client's objects, checked by an implementation written from
// docs/sealed-object.md alone (./sealed-object.mjs): if the document and crates/core disagree,
// the vectors (made by crates/core) or the client's objects (made by the wasm package) do not
// decode here. Nothing in this file calls crates/core except to obtain objects to check.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import * as spec from "./sealed-object.mjs";

const require = createRequire(import.meta.url);
const doc = JSON.parse(readFileSync(new URL("../../test-vectors/sealed-object.json", import.meta.url), "utf8"));

const unhex = (h) => Uint8Array.from(Buffer.from(h.replace(/^0x/, ""), "hex"));
const hex = (b) => Buffer.from(b).toString("hex");
const pattern = (n) => Uint8Array.from({ length: n }, (_, i) => i % 251);
const secret = (name) => unhex(doc.identities[name]);
const publicKey = (sk) => secp256k1.getPublicKey(sk, true);
const object = (name) => doc.objects.find((o) => o.name === name);
const params = (o) => ({ k: o.params.k, m: o.params.m, S: o.params.segment_len });
const refusesWith = (message) => (e) => {
  assert.ok(e instanceof spec.FormatError, `expected a format error, got ${e}`);
  assert.equal(e.message, message);
  return true;
};

/** Each vector object, sealed again here from its entropy. */
const resealed = new Map(
  doc.objects.map((o) => [
    o.name,
    spec.sealObject(pattern(o.plaintext_len), o.recipients.map(secret).map(publicKey), unhex(o.entropy), params(o)),
  ]),
);

for (const o of doc.objects) {
  test(`vector ${o.name}: sealed from the document gives the same stream, manifest and object id`, () => {
    const s = resealed.get(o.name);
    assert.equal(s.stream.length, o.sealed_len);
    assert.equal(hex(spec.hash(s.stream)), o.sealed_blake3);
    if (o.sealed) assert.equal(hex(s.stream), o.sealed);
    // Every shard id, data and parity, in the manifest crates/core wrote: the parity check of
    // every segment against the document's code.
    assert.equal(hex(s.manifest), o.manifest);
    assert.equal(hex(s.objectId), o.object_id);
  });

  test(`vector ${o.name}: the document's reader opens it for each recipient and no one else`, () => {
    const s = resealed.get(o.name);
    const manifest = unhex(o.manifest);
    for (const r of o.recipients) {
      // The vector's own bytes where it gives them, else the stream that hashes to its hash.
      if (o.sealed) assert.deepEqual(spec.openStream(unhex(o.sealed), secret(r)), pattern(o.plaintext_len));
      assert.deepEqual(spec.openStream(s.stream, secret(r)), pattern(o.plaintext_len));
      assert.deepEqual(spec.openObject(unhex(o.object_id), manifest, s.shards, secret(r)), pattern(o.plaintext_len));
    }
    assert.throws(() => spec.openStream(s.stream, secret("mallory")), refusesWith("decryption failed"));
  });
}

for (const f of doc.stream_failures) {
  test(`stream failure ${f.name}: the document's reader refuses it with ${f.error}`, () => {
    const base = resealed.get(f.object).stream;
    const edited = spec.concat(...f.parts.map((p) => (typeof p === "string" ? unhex(p) : base.subarray(p[0], p[1]))));
    assert.throws(() => spec.openStream(edited, secret(f.identity)), refusesWith(f.error));
  });
}

for (const g of doc.grants) {
  test(`grant ${g.name}: ${g.opens ? "made again from the document, it opens" : `refused with ${g.error}`}`, () => {
    const base = resealed.get(g.object).stream;
    const grant = unhex(g.grant);
    if (g.opens) {
      const { fileKey } = spec.openHeader(base, secret(g.by));
      assert.equal(hex(spec.grantStanza(fileKey, publicKey(secret(g.to)), unhex(g.entropy))), g.grant);
      assert.deepEqual(spec.openStream(base, secret(g.identity), grant), pattern(object(g.object).plaintext_len));
    } else {
      assert.throws(() => spec.openStream(base, secret(g.identity), grant), refusesWith(g.error));
    }
  });
}

for (const f of doc.shard_failures) {
  test(`shard failure ${f.name}: the document's reader ${f.opens ? "opens it" : `fails with ${f.error}`}`, () => {
    const o = object(f.object);
    const shards = resealed.get(o.name).shards.map((segment) => segment.slice());
    for (const [i, j] of f.corrupt) {
      const bad = shards[i][j].slice();
      bad[0] ^= 0x01;
      shards[i][j] = bad;
    }
    for (const [i, j] of f.missing) shards[i][j] = null;
    const open = () => spec.openObject(unhex(o.object_id), unhex(o.manifest), shards, secret(o.recipients[0]));
    if (f.opens) assert.deepEqual(open(), pattern(o.plaintext_len));
    else assert.throws(open, refusesWith(f.error));
  });
}

test("the erasure code rebuilds a segment from every k of its k + m shards, and not from k - 1", () => {
  const segment = Uint8Array.from({ length: 1000 }, (_, i) => (i * 37 + 11) % 256);
  for (const [k, m] of [
    [3, 2],
    [2, 3],
  ]) {
    const shards = spec.encodeSegment(segment, k, m);
    for (let mask = 0; mask < 1 << (k + m); mask++) {
      const kept = shards.map((s, j) => ((mask >> j) & 1 ? s : null));
      const count = kept.filter(Boolean).length;
      if (count === k) assert.deepEqual(spec.concat(...spec.decodeSegment(kept, k, m)).subarray(0, 1000), segment);
      if (count === k - 1) assert.throws(() => spec.decodeSegment(kept, k, m), /fewer than k/);
    }
  }
});

test("the erasure code's word layout round-trips shards of every even length up to two blocks", () => {
  for (let len = 2; len <= 130; len += 2) {
    const shard = Uint8Array.from({ length: len }, (_, i) => (i * 7 + len) % 256);
    assert.deepEqual(spec.wordsShard(spec.shardWords(shard)), shard);
  }
});

// Objects sealed by the client: the wasm package the browser loads (its node build: the same
// Rust compiled to the same wasm). Codes chosen to cover the two constructions (§5), the
// `K = M` tie-break both ways, several chunks per segment, a tail block in the shards, and the
// limits; plaintexts cross the 65,536-byte chunk boundary.
const CLIENT_CODES = [
  [1, 1], // high rate, K = M, k <= m
  [1, 2], // low rate, K < M
  [4, 3], // low rate, K = M, k > m
  [3, 4], // high rate, K = M, k <= m
  [5, 2], // high rate, two chunks of M = 2 data shards and a partial one
  [4, 2], // the defaults
  [16, 8],
  [3, 128],
  [128, 128],
];

test("the client's codes cover both constructions of the erasure code", () => {
  // The vectors' codes are all high rate: the low-rate construction is checked only here.
  assert.ok(CLIENT_CODES.some(([k, m]) => spec.isHighRate(k, m)));
  assert.ok(CLIENT_CODES.some(([k, m]) => !spec.isHighRate(k, m)));
});

test("objects sealed by the client decode here, with any m shards of each segment lost", async () => {
  const dh = require("@datahub/wasm");
  const alice = secret("alice");
  const bob = secret("bob");
  for (const [n, [k, m]] of CLIENT_CODES.entries()) {
    const entropy = Uint8Array.from(randomBytes(32));
    const plaintext = Uint8Array.from(randomBytes(n % 2 === 0 ? 70_001 : 1_234));
    const S = n % 2 === 0 ? 16_384 : 1_024 + 2 * n; // odd lengths make tail blocks and odd shards
    const sealed = await dh.sealBytes(plaintext, ["0x" + hex(publicKey(alice)), "0x" + hex(publicKey(bob))], {
      dataShards: k,
      parityShards: m,
      segmentLen: S,
      entropy,
    });
    const what = `${k} + ${m} (${spec.isHighRate(k, m) ? "high" : "low"} rate)`;
    const manifest = Uint8Array.from(sealed.manifest);
    // The document's sealer, from the same entropy, makes the same object.
    const mine = spec.sealObject(plaintext, [publicKey(alice), publicKey(bob)], entropy, { k, m, S });
    assert.equal(hex(mine.manifest), hex(manifest), `manifest of ${what}`);
    // Lose m shards of each segment, a different set each time, data shards included.
    const shards = sealed.shards.map((segment, i) =>
      segment.map((s, j) => ((j + i) % (k + m) < m ? null : Uint8Array.from(s))),
    );
    const opened = spec.openObject(unhex(sealed.objectId), manifest, shards, bob);
    assert.deepEqual(opened, plaintext, `plaintext of ${what}`);
  }
});

test("the client opens an object sealed here (the document is enough to write a sealer)", async () => {
  const dh = require("@datahub/wasm");
  const plaintext = pattern(70_000);
  const s = spec.sealObject(plaintext, [publicKey(secret("alice"))], new Uint8Array(32).fill(7), { k: 4, m: 3, S: 20_000 });
  const opened = await dh.openBytes(s.manifest, s.shards, "0x" + doc.identities.alice);
  assert.deepEqual(Uint8Array.from(opened), plaintext);
});
