// Two builds of @datahub/wasm side by side in one Node.js process, timed in turn in CPU time:
// a before/after comparison that a busy machine disturbs much less than separate runs do.
// A benchmark, not a test.
//
// Run from tests/: node bench/seal-ab.mjs BEFORE_PKG AFTER_PKG
// (each a pkg/ folder built by `cargo xtask pkg`, e.g. a copy of pkg/ made before a change).
// BENCH_MIB (default 32) is the size sealed, 10+4 over 8 MiB segments as in the suite; prints
// benchEncrypt and sealBytes of both, and the composed peer of pipeline-suite.mjs
// (libsodium XChaCha20 + reed-solomon-erasure.wasm + hash-wasm), in MiB/s of CPU time.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import sodium from "libsodium-wrappers";
import { createBLAKE3 } from "hash-wasm";
import { ReedSolomonErasure } from "@digitaldefiance/reed-solomon-erasure.wasm";

const [beforeDir, afterDir] = process.argv.slice(2);
if (!afterDir) throw new Error("usage: node bench/seal-ab.mjs BEFORE_PKG AFTER_PKG");
const require = createRequire(import.meta.url);
const before = require(resolve(beforeDir, "node/datahub_wasm.js"));
const after = require(resolve(afterDir, "node/datahub_wasm.js"));
await sodium.ready;
const rs = ReedSolomonErasure.fromBytes(readFileSync(
  new URL("../node_modules/@digitaldefiance/reed-solomon-erasure.wasm/dist/reed_solomon_erasure_bg.wasm", import.meta.url)));
const blake3 = await createBLAKE3();

const MIB = Number(process.env.BENCH_MIB ?? 32);
const K = 10, M = 4, SEGMENT = 8 << 20, CHUNK = 65536;
const shardLen = (Math.ceil(SEGMENT / K) + 1) & ~1;
const data = new Uint8Array(MIB << 20);
for (let i = 0; i < data.length; i += 65536) crypto.getRandomValues(data.subarray(i, i + 65536));
const chunks = [];
for (let i = 0; i < data.length; i += CHUNK) chunks.push(data.subarray(i, i + CHUNK));
const params = { dataShards: K, parityShards: M, segmentLen: SEGMENT };
const recipient = before.LocalSigner.fromSecret("0x" + "42".repeat(32)).publicKey;
const key = new Uint8Array(32).fill(7);
const nonce = new Uint8Array(24).fill(1);
const sealed = new Uint8Array(data.length + chunks.length * 40);
const rsBuffer = new Uint8Array(shardLen * (K + M));

function composed() {
  let at = 0;
  for (const c of chunks) {
    const out = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(c, null, null, nonce, key);
    sealed.set(out, at);
    at += out.length;
  }
  for (let s = 0; s < at; s += SEGMENT) {
    rsBuffer.fill(0);
    rsBuffer.set(sealed.subarray(s, Math.min(s + SEGMENT, at)));
    rs.encode(rsBuffer, K, M);
    for (let i = 0; i < K + M; i++) {
      blake3.init();
      blake3.update(rsBuffer.subarray(i * shardLen, (i + 1) * shardLen));
      blake3.digest();
    }
  }
}

/** The fastest of `reps` runs, in ms of this process's CPU time. */
async function cpu(fn, reps = 5) {
  await fn();
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const start = process.cpuUsage();
    await fn();
    const { user, system } = process.cpuUsage(start);
    best = Math.min(best, (user + system) / 1000);
  }
  return best;
}
const rate = (ms) => ((MIB / ms) * 1000).toFixed(0);

const peer = await cpu(composed);
console.log(`${MIB} MiB, ${K}+${M} over ${SEGMENT >> 20} MiB segments, MiB/s of CPU time`);
console.log(`composed peer: ${rate(peer)} MiB/s`);
const figures = {
  benchEncrypt: (m) => () => m.benchEncrypt(data),
  sealBytes: (m) => () => m.sealBytes(data, [recipient], params),
};
for (const [name, f] of Object.entries(figures)) {
  const a = [];
  const b = [];
  for (let round = 0; round < 3; round++) {
    a.push(await cpu(f(before)));
    b.push(await cpu(f(after)));
  }
  const [ma, mb] = [Math.min(...a), Math.min(...b)];
  console.log(`${name.padEnd(12)} before ${rate(ma)} (${(peer / ma).toFixed(2)}× peer), after ${rate(mb)} (${(peer / mb).toFixed(2)}× peer): ${(ma / mb).toFixed(2)}×`);
}
