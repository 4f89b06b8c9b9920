// The benchmark suite behind pipeline.mjs (Node.js) and pipeline-chromium.mjs (Chromium): the
// sealing pipeline and its parts, signing and recovery, ours against the peers. It takes every
// library as an argument, so the same code runs in both places.
import sodium from "libsodium-wrappers";
import { chacha20poly1305, xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { createBLAKE3 } from "hash-wasm";
import { ReedSolomonErasure } from "@digitaldefiance/reed-solomon-erasure.wasm";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { Wallet, verifyMessage, hashMessage, computeAddress, getBytes, hexlify } from "ethers";

/** The run's size and coding parameters from the environment: the Node.js and Chromium runners
 * both read them here, so the two measure the same thing. */
export function params() {
  const number = (name, fallback) => Number(process.env[name] ?? fallback);
  return {
    seconds: number("BENCH_SECONDS", 2),
    mib: number("BENCH_MIB", 64),
    k: number("BENCH_K", 10),
    m: number("BENCH_M", 4),
    segmentMib: number("BENCH_SEGMENT_MIB", 8),
  };
}

/** The process's CPU time in ms (Node.js only): what BENCH_CLOCK=cpu times with instead of the
 * wall clock, so that other work on a shared machine moves the figures much less. */
export function cpuClock() {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/**
 * Runs every figure. `dh` is @datahub/wasm, ready; `rsWasm` the bytes of
 * reed_solomon_erasure_bg.wasm; `log` prints a line; `header` describes the platform.
 */
export async function run({ dh, rsWasm, log, header, seconds = 2, mib = 64, k = 10, m = 4, segmentMib = 8, clock = () => performance.now() }) {
  const SECONDS = seconds;
  const MIB = mib;
  const CHUNK = 64 * 1024;
  const SEGMENT = segmentMib * 1024 * 1024;
  const K = k;
  const M = m;
  // The sealing options every pipeline figure uses, ours and the composed peers alike.
  const params = { dataShards: K, parityShards: M, segmentLen: SEGMENT };

  /** Runs `fn` repeatedly for SECONDS (after a warm-up) and returns runs per second. */
  async function rate(fn) {
    for (let i = 0; i < 2; i++) await fn();
    let n = 0;
    const start = clock();
    const end = start + SECONDS * 1000;
    let now = start;
    do {
      await fn();
      n += 1;
      now = clock();
    } while (now < end);
    return n / ((now - start) / 1000);
  }

  const rows = [];
  function report(group, name, value, unit, ours = false) {
    rows.push({ group, name, value, unit, ours });
    log(`  ${(ours ? "* " : "  ") + name.padEnd(52)} ${value.toFixed(value < 100 ? 1 : 0).padStart(9)} ${unit}`);
  }
  function ratios(group) {
    const mine = rows.filter((r) => r.group === group && r.ours);
    const peers = rows.filter((r) => r.group === group && !r.ours);
    if (!peers.length) return;
    const best = peers.reduce((a, b) => (a.value > b.value ? a : b));
    for (const r of mine) {
      log(`  → ${r.name}: ${(r.value / best.value).toFixed(2)}× the best peer (${best.name})`);
    }
  }

  const data = new Uint8Array(MIB * 1024 * 1024);
  for (let i = 0; i < data.length; i += 65536) crypto.getRandomValues(data.subarray(i, i + 65536));
  const chunks = [];
  for (let i = 0; i < data.length; i += CHUNK) chunks.push(data.subarray(i, i + CHUNK));
  const perMib = (runs) => runs * MIB;

  await sodium.ready;
  const rs = ReedSolomonErasure.fromBytes(rsWasm);
  const blake3 = await createBLAKE3();
  const key = new Uint8Array(32).fill(7);
  const nonce24 = new Uint8Array(24).fill(1);
  const nonce12 = new Uint8Array(12).fill(1);

  log(`${header}; ${MIB} MiB of random bytes; ${SECONDS}s per figure; * = ours`);

  log(`encrypt: AEAD over ${CHUNK / 1024} KiB chunks (MiB/s)`);
  report("encrypt", "datahub ChaCha20-Poly1305 STREAM (benchEncrypt)", perMib(await rate(() => dh.benchEncrypt(data))), "MiB/s", true);
  report("encrypt", "libsodium XChaCha20-Poly1305", perMib(await rate(() => {
    for (const c of chunks) sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(c, null, null, nonce24, key);
  })), "MiB/s");
  report("encrypt", "libsodium ChaCha20-Poly1305 (IETF)", perMib(await rate(() => {
    for (const c of chunks) sodium.crypto_aead_chacha20poly1305_ietf_encrypt(c, null, null, nonce12, key);
  })), "MiB/s");
  report("encrypt", "@noble/ciphers ChaCha20-Poly1305", perMib(await rate(() => {
    for (const c of chunks) chacha20poly1305(key, nonce12).encrypt(c);
  })), "MiB/s");
  report("encrypt", "@noble/ciphers XChaCha20-Poly1305", perMib(await rate(() => {
    for (const c of chunks) xchacha20poly1305(key, nonce24).encrypt(c);
  })), "MiB/s");
  ratios("encrypt");

  // As Params::shard_len: the segment over K, rounded up to an even length.
  const shardLen = (Math.ceil(SEGMENT / K) + 1) & ~1;
  log(`\nhash: BLAKE3 of ${(shardLen / 1024).toFixed(0)} KiB shards (MiB/s)`);
  const shards = [];
  for (let i = 0; i + shardLen <= data.length; i += shardLen) shards.push(data.subarray(i, i + shardLen));
  // Whole shards only, so the MiB counted are the MiB hashed.
  const perShardMib = (runs) => (runs * shards.length * shardLen) / 1048576;
  report("hash", "datahub BLAKE3 (benchBlake3)", perShardMib(await rate(() => {
    for (const s of shards) dh.benchBlake3(s);
  })), "MiB/s", true);
  report("hash", "hash-wasm BLAKE3", perShardMib(await rate(() => {
    for (const s of shards) {
      blake3.init();
      blake3.update(s);
      blake3.digest();
    }
  })), "MiB/s");
  ratios("hash");

  log(`\nerasure: Reed–Solomon ${K}+${M} over ${SEGMENT / 1048576} MiB segments (MiB/s of segment)`);
  const segments = [];
  for (let i = 0; i < data.length; i += SEGMENT) segments.push(data.subarray(i, i + SEGMENT));
  report("erasure", "datahub reed-solomon-simd (benchErasure)", perMib(await rate(() => {
    for (const s of segments) dh.benchErasure(s, K, M);
  })), "MiB/s", true);
  const rsBuffer = new Uint8Array(shardLen * (K + M));
  report("erasure", "@digitaldefiance/reed-solomon-erasure.wasm", perMib(await rate(() => {
    for (const s of segments) {
      rsBuffer.set(s);
      if (rs.encode(rsBuffer, K, M) !== ReedSolomonErasure.RESULT_OK) throw new Error("rs.encode failed");
    }
  })), "MiB/s");
  ratios("erasure");

  log(`\npipeline: seal ${MIB} MiB (encrypt, ${K}+${M} over ${SEGMENT / 1048576} MiB segments, BLAKE3 per shard) (MiB/s)`);
  const me = dh.LocalSigner.fromSecret("0x" + "42".repeat(32));
  report("pipeline", "datahub sealBytes", perMib(await rate(() => dh.sealBytes(data, [me.publicKey], params))), "MiB/s", true);
  const blob = new Blob([data]); // made once: building it is not sealing
  report("pipeline", `datahub sealBlob (${segmentMib} MiB slices)`, perMib(await rate(() => dh.sealBlob(blob, [me.publicKey], { ...params, onSegment: () => {} }))), "MiB/s", true);
  const sealed = new Uint8Array(data.length + chunks.length * 40);
  async function composed(encrypt) {
    // Encrypt chunk by chunk into a stream, cut it into segments, code each, hash every shard.
    let at = 0;
    for (const c of chunks) {
      const out = encrypt(c);
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
  report("pipeline", "libsodium XChaCha20 + reed-solomon-erasure.wasm + hash-wasm", perMib(await rate(() =>
    composed((c) => sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(c, null, null, nonce24, key)))), "MiB/s");
  report("pipeline", "@noble/ciphers XChaCha20 + reed-solomon-erasure.wasm + hash-wasm", perMib(await rate(() =>
    composed((c) => xchacha20poly1305(key, nonce24).encrypt(c)))), "MiB/s");
  ratios("pipeline");

  log("\nsign: EIP-191 personal_sign (ops/s)");
  const secret = "0x" + "42".repeat(32);
  const secretBytes = getBytes(secret);
  const wallet = new Wallet(secret);
  const message = "DataHub benchmark message: sign and recover";
  const opsOf = async (fn) => (await rate(() => { for (let i = 0; i < 20; i++) fn(); })) * 20;
  report("sign", "datahub LocalSigner.signMessage", await opsOf(() => me.signMessage(message)), "ops/s", true);
  report("sign", "ethers Wallet.signMessageSync", await opsOf(() => wallet.signMessageSync(message)), "ops/s");
  report("sign", "@noble/curves secp256k1.sign (hash by ethers)", await opsOf(() =>
    secp256k1.sign(getBytes(hashMessage(message)), secretBytes, { prehash: false, format: "recovered" })), "ops/s");
  ratios("sign");

  log("\nrecover: EIP-191 signer address (ops/s)");
  const sig = me.signMessage(message);
  const sigBytes = getBytes(sig);
  const recovered = Uint8Array.from([sigBytes[64] - 27, ...sigBytes.subarray(0, 64)]);
  report("recover", "datahub recoverAddress", await opsOf(() => dh.recoverAddress(message, sig)), "ops/s", true);
  report("recover", "ethers verifyMessage", await opsOf(() => verifyMessage(message, sig)), "ops/s");
  report("recover", "@noble/curves recoverPublicKey (+ ethers address)", await opsOf(() =>
    computeAddress(hexlify(secp256k1.recoverPublicKey(recovered, getBytes(hashMessage(message)), { prehash: false })))), "ops/s");
  ratios("recover");
  return rows;
}
