// Sealing and opening through the built package (node build), against the shared vectors in
// test-vectors/sealed-object.json: every object reseals to the same manifest and id and opens
// byte-exact, and every negative vector fails with the error it names.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";

const require = createRequire(import.meta.url);
const dh = require("@datahub/wasm");
const doc = JSON.parse(readFileSync(new URL("../../test-vectors/sealed-object.json", import.meta.url), "utf8"));

const unhex = (h) => Uint8Array.from(Buffer.from(h.replace(/^0x/, ""), "hex"));
const toHex = (b) => Buffer.from(b).toString("hex");
const pattern = (n) => Uint8Array.from({ length: n }, (_, i) => i % 251);
const secret = (name) => "0x" + doc.identities[name];
const publicKey = (name) => dh.LocalSigner.fromSecret(secret(name)).publicKey;
const object = (name) => doc.objects.find((o) => o.name === name);

async function reseal(o) {
  return dh.sealBytes(pattern(o.plaintext_len), o.recipients.map(publicKey), {
    dataShards: o.params.k, parityShards: o.params.m, segmentLen: o.params.segment_len, entropy: unhex(o.entropy),
  });
}

/** The sealed stream: each segment's data shards joined and cut to the segment's length. */
function sealedStream(o, sealed) {
  const out = new Uint8Array(o.sealed_len);
  let at = 0;
  for (const shards of sealed.shards) {
    for (const shard of shards.slice(0, o.params.k)) {
      const take = Math.min(shard.length, o.sealed_len - at, o.params.segment_len - (at % o.params.segment_len || 0));
      out.set(shard.subarray(0, take), at);
      at += take;
    }
  }
  assert.equal(at, o.sealed_len);
  return out;
}

const errorCode = { "decryption failed": "DecryptionFailed", "not sealed": "NotSealed", "unsupported version": "UnsupportedVersion" };

for (const o of doc.objects) {
  test(`vector ${o.name} reseals to the same manifest and opens byte-exact`, async () => {
    const sealed = await reseal(o);
    assert.equal(toHex(sealed.manifest), o.manifest);
    assert.equal(sealed.objectId, o.object_id);
    const stream = sealedStream(o, sealed);
    const blake3 = await import("hash-wasm").then((m) => m.blake3(stream));
    assert.equal(blake3, o.sealed_blake3);
    if (o.sealed) assert.equal(toHex(stream), o.sealed);
    for (const [i, ids] of sealed.shardIds.entries()) {
      assert.equal(ids.length, o.params.k + o.params.m);
      for (const [j, id] of ids.entries()) {
        assert.equal(id, await import("hash-wasm").then((m) => m.blake3(sealed.shards[i][j])));
      }
    }
    for (const r of o.recipients) {
      assert.deepEqual(await dh.openBytes(unhex(o.manifest), sealed.shards, secret(r)), pattern(o.plaintext_len));
      assert.deepEqual(await dh.openSealed(stream, secret(r)), pattern(o.plaintext_len));
      const opener = new dh.Opener(unhex(o.manifest), secret(r), o.object_id);
      assert.equal(opener.segmentCount, sealed.shards.length);
      const parts = sealed.shards.map((shards, i) => opener.pushSegment(i, shards));
      opener.finish();
      assert.deepEqual(Buffer.concat(parts), Buffer.from(pattern(o.plaintext_len)));
    }
  });
}

for (const f of doc.stream_failures) {
  test(`stream failure ${f.name} is refused with ${f.error}`, async () => {
    const o = object(f.object);
    const base = sealedStream(o, await reseal(o));
    const edited = Buffer.concat(f.parts.map((p) => (typeof p === "string" ? unhex(p) : base.subarray(p[0], p[1]))));
    await assert.rejects(dh.openSealed(edited, secret(f.identity)), (e) => {
      assert.ok(e instanceof Error);
      assert.equal(e.name, "OpenError");
      assert.equal(e.code, errorCode[f.error]);
      return true;
    });
  });
}

for (const f of doc.shard_failures) {
  test(`shard failure ${f.name} ${f.opens ? "still opens" : `is refused with ${f.error}`}`, async () => {
    const o = object(f.object);
    const { shards } = await reseal(o);
    for (const [s, i] of f.missing) shards[s][i] = null;
    for (const [s, i] of f.corrupt) {
      shards[s][i] = Uint8Array.from(shards[s][i]);
      shards[s][i][0] ^= 1;
    }
    const opening = dh.openBytes(unhex(o.manifest), shards, secret(o.recipients[0]));
    if (f.opens) {
      assert.deepEqual(await opening, pattern(o.plaintext_len));
    } else {
      await assert.rejects(opening, (e) => {
        assert.equal(e.name, "OpenError");
        assert.equal(e.code, "NotEnoughShards");
        assert.match(e.message, new RegExp(f.error.replace("not enough shards in ", "")));
        return true;
      });
    }
  });
}

test("sealBlob reads slice by slice and gives the same object as sealBytes", async () => {
  const data = pattern(300_000);
  const options = { dataShards: 3, parityShards: 2, segmentLen: 64 * 1024, entropy: unhex("11".repeat(32)) };
  const whole = await dh.sealBytes(data, [publicKey("alice")], options);
  const seen = [];
  const progress = [];
  const streamed = await dh.sealBlob(new Blob([data]), [publicKey("alice")], {
    ...options,
    sliceLen: 10_000,
    onSegment: async (segment) => {
      await new Promise((r) => setTimeout(r, 1));
      seen.push(segment);
    },
    onProgress: (p) => progress.push(p),
  });
  assert.equal(streamed.objectId, whole.objectId);
  assert.deepEqual(streamed.manifest, whole.manifest);
  assert.equal(streamed.segmentCount, whole.shards.length);
  assert.equal(streamed.shards, undefined);
  assert.deepEqual(seen.map((s) => s.index), whole.shards.map((_, i) => i));
  assert.deepEqual(seen.map((s) => s.shards), whole.shards);
  assert.deepEqual(seen.map((s) => s.shardIds), whole.shardIds);
  assert.equal(progress.length, 30);
  assert.deepEqual(progress.at(-1), { bytesRead: 300_000, totalBytes: 300_000, segments: 4 });
  const kept = await dh.sealBlob(new Blob([data]), [publicKey("alice")], options);
  assert.deepEqual(kept.shards, whole.shards);
  assert.deepEqual(kept.shardIds, whole.shardIds);
});

test("sealBlob stops at the first failing onSegment", async () => {
  const failure = new Error("upload failed");
  let calls = 0;
  await assert.rejects(
    dh.sealBlob(new Blob([pattern(10_000)]), [publicKey("alice")], {
      segmentLen: 1024,
      onSegment: async () => {
        calls += 1;
        throw failure;
      },
    }),
    failure,
  );
  assert.equal(calls, 1);
});

test("fresh entropy: two sealings of the same bytes differ, each opens", async () => {
  const data = pattern(5000);
  const a = await dh.sealBytes(data, [publicKey("alice"), publicKey("bob")]);
  const b = await dh.sealBytes(data, [publicKey("alice"), publicKey("bob")]);
  assert.notEqual(a.objectId, b.objectId);
  assert.deepEqual(await dh.openBytes(a.manifest, a.shards, secret("bob")), data);
  assert.deepEqual(await dh.openBytes(b.manifest, b.shards, doc.identities.alice), data);
});

test("bad input fails with stable names and codes", async () => {
  const data = pattern(10);
  const cases = [
    [() => dh.sealBytes(data, []), "SealError", "BadRecipientCount"],
    [() => dh.sealBytes(data, ["0x04"]), "KeyError", "InvalidPublicKey"],
    [() => dh.sealBytes(data, ["zz"]), "KeyError", "InvalidPublicKey"],
    [() => dh.sealBytes(data, [publicKey("alice")], { segmentLen: 100 }), "SealError", "BadParams"],
    [() => dh.sealBytes(data, [publicKey("alice")], { dataShards: 1.5 }), "InputError", "InvalidOptions"],
    [() => dh.sealBytes(data, [publicKey("alice")], { entropy: new Uint8Array(31) }), "InputError", "InvalidEntropy"],
    [() => dh.openBytes(new Uint8Array(3), [], secret("alice")), "ManifestError", "WrongLength"],
    [() => dh.openBytes(unhex(object("one_byte").manifest), [], secret("alice")), "OpenError", "Incomplete"],
    [() => dh.openBytes(unhex(object("one_byte").manifest), [[]], secret("alice")), "OpenError", "WrongShardCount"],
    [() => dh.openBytes(unhex(object("one_byte").manifest), [[1, 2, 3]], secret("alice")), "InputError", "InvalidShards"],
    [() => dh.openBytes(unhex(object("one_byte").manifest), [], "0x00"), "KeyError", "InvalidSecretKey"],
    [async () => new dh.Opener(unhex(object("one_byte").manifest), secret("alice"), "00".repeat(32)), "ManifestError", "IdMismatch"],
  ];
  for (const [run, name, code] of cases) {
    await assert.rejects(async () => run(), (e) => {
      assert.equal(e.name, name, e.message);
      assert.equal(e.code, code, e.message);
      return true;
    });
  }
});
