// An independent implementation of the sealed-object format, written from docs/sealed-object.md
// alone: it shares no code with crates/core or the wasm package, and uses other libraries
// (@noble/curves for secp256k1, @noble/hashes for BLAKE3, @noble/ciphers for
// ChaCha20-Poly1305). Its erasure code is a plain Lagrange-interpolation Reed–Solomon over the
// field the document defines, not an FFT, so a divergence between the document and
// reed-solomon-simd shows up as a shard id that does not match.
//
// It is a test oracle, written for clarity: nothing here is constant-time or fast.
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { blake3 } from "@noble/hashes/blake3";
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";

const utf8 = (s) => new TextEncoder().encode(s);

export const hash = (data) => blake3(data);
export const keyedHash = (key, data) => blake3(data, { key });
export const deriveKey = (context, material) => blake3(material, { context: utf8(context) });

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const u32le = (n) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
};

const equalBytes = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

/** The errors of §8, by their names in the document. */
export class FormatError extends Error {
  constructor(message) {
    super(message);
    this.name = "FormatError";
  }
}
const decryptionFailed = () => new FormatError("decryption failed");

// ---------------------------------------------------------------------------------------------
// §2 Randomness, §3 the header

const MAGIC = utf8("DHSO");
const STANZA_LEN = 81;
const CURVE_N = secp256k1.Point.CURVE().n;

const bigEndian = (bytes) => bytes.reduce((n, b) => (n << 8n) | BigInt(b), 0n);

/** The ephemeral secret of stanza `i` (§2): the first candidate that is a valid scalar. */
export function ephemeralSecret(entropy, i) {
  for (let c = 0; ; c++) {
    const candidate = keyedHash(entropy, concat(utf8("DataHub v1 ephemeral "), u32le(i), u32le(c)));
    const s = bigEndian(candidate);
    if (s >= 1n && s < CURVE_N) return candidate;
  }
}

const wrapKey = (shared, ephemeral, recipient) =>
  deriveKey("DataHub v1 secp256k1 key wrap", concat(shared, ephemeral, recipient));

/** Seals `plaintext` to compressed secp256k1 public keys, deterministically from `entropy` (§2–§4). */
export function sealStream(plaintext, recipients, entropy) {
  const fileKey = deriveKey("DataHub v1 file key", entropy);
  const payloadNonce = deriveKey("DataHub v1 payload nonce", entropy).subarray(0, 16);
  const stanzas = recipients.map((R, i) => {
    const e = ephemeralSecret(entropy, i);
    const E = secp256k1.getPublicKey(e, true);
    const shared = secp256k1.getSharedSecret(e, R, true).subarray(1);
    const body = chacha20poly1305(wrapKey(shared, E, R), new Uint8Array(12)).encrypt(fileKey);
    return concat(E, body);
  });
  const head = concat(MAGIC, Uint8Array.of(1, recipients.length), payloadNonce, ...stanzas);
  const mac = keyedHash(deriveKey("DataHub v1 header MAC", fileKey), head);
  return concat(head, mac, sealPayload(fileKey, payloadNonce, plaintext));
}

/** A grant (§3.1): `fileKey` wrapped to compressed public key `R`, deterministically from `entropy`. */
export function grantStanza(fileKey, R, entropy) {
  let e;
  for (let c = 0; ; c++) {
    const candidate = keyedHash(entropy, concat(utf8("DataHub v1 grant ephemeral"), u32le(c)));
    const s = bigEndian(candidate);
    if (s >= 1n && s < CURVE_N) {
      e = candidate;
      break;
    }
  }
  const E = secp256k1.getPublicKey(e, true);
  const shared = secp256k1.getSharedSecret(e, R, true).subarray(1);
  return concat(E, chacha20poly1305(wrapKey(shared, E, R), new Uint8Array(12)).encrypt(fileKey));
}

/**
 * Parses the header and unwraps the file key with secret key `r` (§3): from the header's
 * stanzas, or from `grant` (§3.1, 81 bytes kept outside the object) when one is given. Returns
 * the file key, the payload nonce and the header's length.
 */
export function openHeader(stream, r, grant = null) {
  if (stream.length < 4 || !equalBytes(stream.subarray(0, 4), MAGIC)) throw new FormatError("not sealed");
  if (stream.length < 6) throw decryptionFailed();
  if (stream[4] !== 1) throw new FormatError("unsupported version");
  const n = stream[5];
  if (n < 1 || n > 64) throw decryptionFailed();
  const macAt = 22 + STANZA_LEN * n;
  if (stream.length < macAt + 32) throw decryptionFailed();
  const R = secp256k1.getPublicKey(r, true);
  let fileKey = null;
  const stanzas = grant
    ? [grant]
    : Array.from({ length: n }, (_, i) => stream.subarray(22 + STANZA_LEN * i, 22 + STANZA_LEN * (i + 1)));
  for (const stanza of stanzas) {
    if (fileKey !== null || stanza.length !== STANZA_LEN) break;
    const E = stanza.subarray(0, 33);
    try {
      const shared = secp256k1.getSharedSecret(r, E, true).subarray(1);
      fileKey = chacha20poly1305(wrapKey(shared, E, R), new Uint8Array(12)).decrypt(stanza.subarray(33));
    } catch {
      // Not this stanza: an E that is not a point, or a body that does not open.
    }
  }
  if (fileKey === null) throw decryptionFailed();
  const mac = keyedHash(deriveKey("DataHub v1 header MAC", fileKey), stream.subarray(0, macAt));
  if (!equalBytes(mac, stream.subarray(macAt, macAt + 32))) throw decryptionFailed();
  return { fileKey, payloadNonce: stream.subarray(6, 22), headerLen: macAt + 32 };
}

// ---------------------------------------------------------------------------------------------
// §4 The payload (STREAM)

const CHUNK = 65536;
const SEALED_CHUNK = CHUNK + 16;

function chunkNonce(i, last) {
  const nonce = new Uint8Array(12);
  let v = BigInt(i);
  for (let b = 10; b >= 0; b--) {
    nonce[b] = Number(v & 0xffn);
    v >>= 8n;
  }
  nonce[11] = last ? 1 : 0;
  return nonce;
}

const payloadKey = (fileKey, payloadNonce) => deriveKey("DataHub v1 payload key", concat(fileKey, payloadNonce));

function sealPayload(fileKey, payloadNonce, plaintext) {
  const key = payloadKey(fileKey, payloadNonce);
  const count = Math.max(1, Math.ceil(plaintext.length / CHUNK));
  const chunks = [];
  for (let i = 0; i < count; i++) {
    const chunk = plaintext.subarray(i * CHUNK, Math.min((i + 1) * CHUNK, plaintext.length));
    chunks.push(chacha20poly1305(key, chunkNonce(i, i === count - 1)).encrypt(chunk));
  }
  return concat(...chunks);
}

/**
 * Opens a whole sealed stream (header ‖ payload) with secret key `r` (and a grant made for it,
 * when given); returns the plaintext.
 */
export function openStream(stream, r, grant = null) {
  const { fileKey, payloadNonce, headerLen } = openHeader(stream, r, grant);
  const key = payloadKey(fileKey, payloadNonce);
  const payload = stream.subarray(headerLen);
  // The chunk shapes §4 allows: full chunks, then a final one of 17..65,552 bytes (16 only
  // when it is chunk 0).
  const full = Math.floor(payload.length / SEALED_CHUNK);
  const rest = payload.length % SEALED_CHUNK;
  let count;
  if (rest === 0 && full > 0) count = full;
  else if (rest >= 17 || (rest === 16 && full === 0)) count = full + 1;
  else throw decryptionFailed();
  const out = [];
  for (let i = 0; i < count; i++) {
    const sealed = payload.subarray(i * SEALED_CHUNK, Math.min((i + 1) * SEALED_CHUNK, payload.length));
    try {
      out.push(chacha20poly1305(key, chunkNonce(i, i === count - 1)).decrypt(sealed));
    } catch {
      throw decryptionFailed();
    }
  }
  return concat(...out);
}

// ---------------------------------------------------------------------------------------------
// §5 The erasure code: the field GF(2^16) as the document defines it

const POLY = 0x1002d;
const CANTOR_BASIS = [
  0x0001, 0xacca, 0x3c0e, 0x163e, 0xc582, 0xed2e, 0x914c, 0x4012, 0x6c98, 0x10d8, 0x6a72, 0xb900, 0xfdb8, 0xfb34,
  0xff38, 0x991e,
];
const ORDER = 65535; // the multiplicative group's order

/** `wlog[w]`, `wexp[e]`: discrete logarithms base x of the element a 16-bit word denotes. */
const { wlog, wexp } = (() => {
  // Powers of x in the polynomial basis.
  const pexp = new Uint32Array(ORDER);
  const plog = new Int32Array(65536).fill(-1);
  let state = 1;
  for (let e = 0; e < ORDER; e++) {
    if (plog[state] !== -1) throw new Error("x is not a generator of GF(2^16) mod 0x1002D");
    pexp[e] = state;
    plog[state] = e;
    state <<= 1;
    if (state & 0x10000) state ^= POLY;
  }
  // A word's bits are coordinates in the Cantor basis: word w denotes XOR of CANTOR_BASIS[b]
  // over the bits b set in w.
  const phi = new Uint32Array(65536);
  for (let b = 0; b < 16; b++) for (let j = 0; j < 1 << b; j++) phi[j + (1 << b)] = phi[j] ^ CANTOR_BASIS[b];
  const phiInv = new Int32Array(65536).fill(-1);
  for (let w = 0; w < 65536; w++) {
    if (phiInv[phi[w]] !== -1) throw new Error("the Cantor basis is not a basis");
    phiInv[phi[w]] = w;
  }
  const wlog = new Int32Array(65536).fill(-1);
  const wexp = new Uint16Array(ORDER);
  for (let w = 1; w < 65536; w++) wlog[w] = plog[phi[w]];
  for (let e = 0; e < ORDER; e++) wexp[e] = phiInv[pexp[e]];
  return { wlog, wexp };
})();

export const gfMul = (a, b) => (a === 0 || b === 0 ? 0 : wexp[(wlog[a] + wlog[b]) % ORDER]);
export const gfInv = (a) => {
  if (a === 0) throw new Error("0 has no inverse");
  return wexp[(ORDER - wlog[a]) % ORDER];
};

/** The Lagrange basis polynomial of `points[j]` over `points`, evaluated at `x`. */
function lagrange(points, j, x) {
  let num = 1;
  let den = 1;
  for (const [i, p] of points.entries()) {
    if (i === j) continue;
    num = gfMul(num, x ^ p);
    den = gfMul(den, points[j] ^ p);
  }
  return gfMul(num, gfInv(den));
}

const nextPow2 = (n) => 2 ** Math.ceil(Math.log2(n));
const range = (from, count) => Array.from({ length: count }, (_, i) => from + i);

/** Which of §5's two constructions a (k, m) code uses. */
export function isHighRate(k, m) {
  const [K, M] = [nextPow2(k), nextPow2(m)];
  return K > M || (K === M && k <= m);
}

/**
 * The parity coefficients: `parity[r] = XOR over j of coefficients[r][j] · data[j]`, word by word.
 * Low rate: data j sits at point j, parity r at point K + r, one polynomial of degree < K.
 * High rate: parity r sits at point r; data j, in chunk c = floor(j / M), at point M + j; each
 * chunk has its own polynomial of degree < M, and a parity word is the sum of their values.
 */
export function parityCoefficients(k, m) {
  const [K, M] = [nextPow2(k), nextPow2(m)];
  const high = isHighRate(k, m);
  return range(0, m).map((r) =>
    range(0, k).map((j) => {
      if (!high) return lagrange(range(0, K), j, K + r);
      const c = Math.floor(j / M);
      return lagrange(range(M * (c + 1), M), j % M, r);
    }),
  );
}

/** The 16-bit words of a shard (§5): 64-byte blocks of 32 low bytes then 32 high bytes. */
export function shardWords(shard) {
  if (shard.length % 2 !== 0) throw new Error("a shard has an even length");
  const words = new Uint16Array(shard.length / 2);
  const tailAt = shard.length - (shard.length % 64);
  for (let at = 0; at < shard.length; at += 64) {
    // A final block shorter than 64 bytes (t bytes) holds t/2 low bytes then t/2 high bytes.
    const half = at === tailAt ? (shard.length - at) / 2 : 32;
    for (let w = 0; w < half; w++) words[at / 2 + w] = shard[at + w] | (shard[at + half + w] << 8);
  }
  return words;
}

/** The inverse of [`shardWords`]. */
export function wordsShard(words) {
  const shard = new Uint8Array(words.length * 2);
  const tailAt = shard.length - (shard.length % 64);
  for (let at = 0; at < shard.length; at += 64) {
    const half = at === tailAt ? (shard.length - at) / 2 : 32;
    for (let w = 0; w < half; w++) {
      shard[at + w] = words[at / 2 + w] & 0xff;
      shard[at + half + w] = words[at / 2 + w] >> 8;
    }
  }
  return shard;
}

/** `shard_len` for a segment of `len` bytes (§5). */
export const shardLen = (len, k) => {
  const l = Math.ceil(len / k);
  return l + (l % 2);
};

/** Linear combination of word arrays: XOR over i of coefficients[i] · rows[i]. */
function combine(coefficients, rows, length) {
  const out = new Uint16Array(length);
  for (const [i, c] of coefficients.entries()) {
    if (c === 0) continue;
    const lc = wlog[c];
    const row = rows[i];
    for (let p = 0; p < length; p++) {
      const w = row[p];
      if (w !== 0) out[p] ^= wexp[(wlog[w] + lc) % ORDER];
    }
  }
  return out;
}

/** Cuts a segment into `k` data shards and computes `m` parity shards (§5). */
export function encodeSegment(segment, k, m) {
  const len = shardLen(segment.length, k);
  const data = range(0, k).map((j) => {
    const shard = new Uint8Array(len);
    shard.set(segment.subarray(Math.min(j * len, segment.length), Math.min((j + 1) * len, segment.length)));
    return shard;
  });
  const words = data.map(shardWords);
  const parity = parityCoefficients(k, m).map((row) => wordsShard(combine(row, words, len / 2)));
  return [...data, ...parity];
}

/** Inverts a square matrix over GF(2^16) by Gauss–Jordan elimination. */
function invert(matrix) {
  const n = matrix.length;
  const a = matrix.map((row, i) => [...row, ...range(0, n).map((j) => (i === j ? 1 : 0))]);
  for (let col = 0; col < n; col++) {
    const pivot = range(col, n - col).find((r) => a[r][col] !== 0);
    if (pivot === undefined) throw new Error("singular: these shards do not determine the segment");
    [a[col], a[pivot]] = [a[pivot], a[col]];
    const scale = gfInv(a[col][col]);
    a[col] = a[col].map((v) => gfMul(v, scale));
    for (let r = 0; r < n; r++) {
      if (r === col || a[r][col] === 0) continue;
      const f = a[r][col];
      a[r] = a[r].map((v, j) => v ^ gfMul(f, a[col][j]));
    }
  }
  return a.map((row) => row.slice(n));
}

/**
 * Rebuilds the `k` data shards of a segment from any `k` of its `k + m` shards: `shards[j]` is
 * shard j or null when missing. A generic linear solve, not reed-solomon-simd's decoder.
 */
export function decodeSegment(shards, k, m) {
  const have = shards.flatMap((s, j) => (s ? [j] : [])).slice(0, k);
  if (have.length < k) throw new Error("fewer than k shards");
  const coefficients = parityCoefficients(k, m);
  const rows = have.map((j) => (j < k ? range(0, k).map((i) => (i === j ? 1 : 0)) : coefficients[j - k]));
  const inverse = invert(rows);
  const words = have.map((j) => shardWords(shards[j]));
  const len = shards[have[0]].length;
  return range(0, k).map((j) => (shards[j] ? shards[j] : wordsShard(combine(inverse[j], words, len / 2))));
}

// ---------------------------------------------------------------------------------------------
// §6 The manifest

const MANIFEST_MAGIC = utf8("DHMF");

export function buildManifest(k, m, S, L, ids) {
  const head = new Uint8Array(20);
  head.set(MANIFEST_MAGIC);
  head.set([1, k, m, 0], 4);
  const view = new DataView(head.buffer);
  view.setUint32(8, S, true);
  view.setBigUint64(12, BigInt(L), true);
  return concat(head, ...ids);
}

export function parseManifest(bytes) {
  if (bytes.length < 20 || !equalBytes(bytes.subarray(0, 4), MANIFEST_MAGIC)) throw new Error("bad manifest magic");
  if (bytes[4] !== 1) throw new Error("unsupported manifest version");
  if (bytes[7] !== 0) throw new Error("non-zero reserved byte");
  const [k, m] = [bytes[5], bytes[6]];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const S = view.getUint32(8, true);
  const L = Number(view.getBigUint64(12, true));
  if (k < 1 || k > 128 || m < 1 || m > 128 || S < 1024 || S > 67108864) throw new Error("parameters out of range");
  if (L < 151) throw new Error("sealed length below the smallest sealed stream");
  const N = Math.ceil(L / S);
  if (N >= 2 ** 32 || bytes.length !== 20 + 32 * (k + m) * N) throw new Error("wrong manifest length");
  const ids = range(0, N).map((i) =>
    range(0, k + m).map((j) => bytes.subarray(20 + 32 * ((k + m) * i + j), 20 + 32 * ((k + m) * i + j + 1))),
  );
  return { k, m, S, L, N, ids };
}

/** Seals, segments and erasure-codes: the whole object (§1). */
export function sealObject(plaintext, recipients, entropy, { k, m, S }) {
  const stream = sealStream(plaintext, recipients, entropy);
  const shards = [];
  for (let at = 0; at < stream.length; at += S) shards.push(encodeSegment(stream.subarray(at, at + S), k, m));
  const manifest = buildManifest(k, m, S, stream.length, shards.flat().map(hash));
  return { stream, shards, manifest, objectId: hash(manifest) };
}

/**
 * Opens an object (§7): checks the manifest against its id, keeps only the shards whose length
 * and hash match, rebuilds each segment from any k, and opens the stream.
 */
export function openObject(objectId, manifest, shards, r) {
  if (!equalBytes(hash(manifest), objectId)) throw new Error("manifest is not the object asked for");
  const { k, m, S, L, N, ids } = parseManifest(manifest);
  if (shards.length !== N) throw new Error("wrong segment count");
  const segments = shards.map((offered, i) => {
    const len = Math.min(S, L - i * S);
    const good = offered.map((s, j) => (s && s.length === shardLen(len, k) && equalBytes(hash(s), ids[i][j]) ? s : null));
    if (good.filter(Boolean).length < k) throw new FormatError(`not enough shards in segment ${i}`);
    return concat(...decodeSegment(good, k, m)).subarray(0, len);
  });
  return openStream(concat(...segments), r);
}
