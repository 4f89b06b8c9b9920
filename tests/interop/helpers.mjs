// Shared by the interop tests: the package @datahub/wasm (its node build, as a consumer gets it), a seeded PRNG and random value makers.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const require = createRequire(import.meta.url);
export const dh = require("@datahub/wasm");

export const vectors = (name) =>
  JSON.parse(readFileSync(new URL(`../../test-vectors/${name}`, import.meta.url), "utf8"));

// mulberry32: small, seeded, reproducible. Set SEED=... to replay a failing run.
export const SEED = Number(process.env.SEED ?? 0x5eed1d);
export function rng(seed = SEED) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n) => Math.floor(next() * n);
  const bytes = (n) => Uint8Array.from({ length: n }, () => int(256));
  const hex = (n) => "0x" + Buffer.from(bytes(n)).toString("hex");
  const pick = (xs) => xs[int(xs.length)];
  // Code points from several planes: ASCII, Latin-1, combining marks, CJK, emoji; no lone
  // surrogates (those are not valid UTF-8 on either side).
  const ranges = [[0x20, 0x7e], [0x0a, 0x0a], [0xa0, 0xff], [0x300, 0x36f], [0x4e00, 0x9fff], [0x1f300, 0x1f6ff], [0x0, 0x1f]];
  const text = (maxLen) => {
    const len = int(maxLen + 1);
    let s = "";
    for (let i = 0; i < len; i++) {
      const [lo, hi] = pick(ranges);
      s += String.fromCodePoint(lo + int(hi - lo + 1));
    }
    return s;
  };
  const uint = (bits) => {
    let v = 0n;
    for (let i = 0; i < bits / 8; i++) v = (v << 8n) | BigInt(int(256));
    // Favour edge values now and then.
    const r = int(10);
    if (r === 0) return 0n;
    if (r === 1) return (1n << BigInt(bits)) - 1n;
    return v;
  };
  return { next, int, bytes, hex, pick, text, uint };
}

export const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
