//! Poly1305 (RFC 8439 §2.5) two blocks at a time, for WebAssembly SIMD (`simd128`).
//!
//! The `poly1305` crate has no WebAssembly SIMD code: under wasm32 it runs poly1305-donna-32,
//! one block and 25 scalar multiplications at a time. Here the blocks are split between two
//! 64-bit lanes, each lane an independent Horner accumulator over every other block, with `r²`
//! as its multiplier:
//!
//! ```text
//! a ← (a + m₁)·r², b ← (b + m₂)·r²,  (a + m₃)·r², (b + m₄)·r², …
//! ```
//!
//! except the last pair, where lane `b` is multiplied by `r` instead; then `a + b` is the same
//! polynomial `Σ mᵢ·r^(n−i+1)` that one-block Horner gives, to which a leftover odd block and
//! the final reduction are applied as in donna-32. Each lane keeps the donna-32 form (five
//! 26-bit limbs, 32 × 32 → 64-bit products, a partial carry after each multiplication), so
//! every bound is donna's: limbs below 2²⁸ before a multiplication, products below 2⁵⁷, sums of
//! five below 2⁶⁰.
//!
//! The arithmetic is written once, over the `Lanes` trait, with two implementations: plain
//! `[u64; 2]` (`Portable`, built for tests on every target) and `v128` (`Simd`, wasm32 with
//! `simd128`, where `chacha_simd` uses it). The native tests thus check the algorithm
//! and the WebAssembly tests its SIMD form, each against RFC 8439's vectors and against the
//! `poly1305` crate on every length up to 700 bytes and around 4 and 64 KiB.

use zeroize::{Zeroize, ZeroizeOnDrop};

/// A 26-bit limb.
const MASK: u32 = 0x03ff_ffff;
/// Bytes per block.
const BLOCK: usize = 16;
/// Below this many blocks, the scalar code alone is as fast (it needs no `r²`).
const WIDE_FROM: usize = 8;

/// Two 64-bit lanes and the few operations the two-way Horner step needs.
pub(crate) trait Lanes: Copy {
    /// Two 32-bit multiplicands, one per lane.
    type Narrow: Copy;
    fn pair(a: u64, b: u64) -> Self;
    fn lanes(self) -> [u64; 2];
    fn add(self, other: Self) -> Self;
    fn and(self, other: Self) -> Self;
    fn or(self, other: Self) -> Self;
    fn shr(self, n: u32) -> Self;
    fn shl(self, n: u32) -> Self;
    /// The low 32 bits of each lane (the caller keeps the values below 2³²).
    fn narrow(self) -> Self::Narrow;
    fn narrow_pair(a: u32, b: u32) -> Self::Narrow;
    /// Lane by lane, 32 × 32 → 64 bits.
    fn mul(a: Self::Narrow, b: Self::Narrow) -> Self;
    /// Two consecutive blocks: (bytes 0..8 of each, bytes 8..16 of each), little-endian.
    fn load(blocks: &[u8]) -> (Self, Self);
}

/// [`Lanes`] in plain integers: the same arithmetic as `Simd`, runnable anywhere (for tests).
#[cfg(test)]
#[derive(Clone, Copy)]
pub(crate) struct Portable([u64; 2]);

fn le64(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    if let Some(b) = bytes.get(at..at + 8) {
        word.copy_from_slice(b);
    }
    u64::from_le_bytes(word)
}

#[cfg(test)]
impl Lanes for Portable {
    type Narrow = [u32; 2];
    fn pair(a: u64, b: u64) -> Self {
        Self([a, b])
    }
    fn lanes(self) -> [u64; 2] {
        self.0
    }
    fn add(self, o: Self) -> Self {
        Self([
            self.0[0].wrapping_add(o.0[0]),
            self.0[1].wrapping_add(o.0[1]),
        ])
    }
    fn and(self, o: Self) -> Self {
        Self([self.0[0] & o.0[0], self.0[1] & o.0[1]])
    }
    fn or(self, o: Self) -> Self {
        Self([self.0[0] | o.0[0], self.0[1] | o.0[1]])
    }
    fn shr(self, n: u32) -> Self {
        Self([self.0[0] >> n, self.0[1] >> n])
    }
    fn shl(self, n: u32) -> Self {
        Self([self.0[0] << n, self.0[1] << n])
    }
    fn narrow(self) -> [u32; 2] {
        [self.0[0] as u32, self.0[1] as u32]
    }
    fn narrow_pair(a: u32, b: u32) -> [u32; 2] {
        [a, b]
    }
    fn mul(a: [u32; 2], b: [u32; 2]) -> Self {
        Self([
            u64::from(a[0]) * u64::from(b[0]),
            u64::from(a[1]) * u64::from(b[1]),
        ])
    }
    fn load(blocks: &[u8]) -> (Self, Self) {
        (
            Self([le64(blocks, 0), le64(blocks, 16)]),
            Self([le64(blocks, 8), le64(blocks, 24)]),
        )
    }
}

/// [`Lanes`] in WebAssembly SIMD: one `v128` of two `u64`s; multiplicands are `u32x4` with
/// the two used lanes first, as `u64x2_extmul_low_u32x4` takes them.
///
/// LLVM (Rust 1.95) sees through the narrowing shuffle and emits `i64x2.mul` of masked lanes
/// rather than `i64x2.extmul_low_i32x4_u`; V8 on x86-64 has no 64-bit vector multiply and
/// emulates it, which is why this is only about 1.2× the scalar `poly1305` crate there. Hiding
/// the operands from LLVM (`black_box`) to force `extmul` was tried: the spills cost more.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[derive(Clone, Copy)]
pub(crate) struct Simd(core::arch::wasm32::v128);

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
impl Lanes for Simd {
    type Narrow = core::arch::wasm32::v128;
    #[inline(always)]
    fn pair(a: u64, b: u64) -> Self {
        Self(core::arch::wasm32::u64x2(a, b))
    }
    #[inline(always)]
    fn lanes(self) -> [u64; 2] {
        use core::arch::wasm32::u64x2_extract_lane;
        [
            u64x2_extract_lane::<0>(self.0),
            u64x2_extract_lane::<1>(self.0),
        ]
    }
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        Self(core::arch::wasm32::u64x2_add(self.0, o.0))
    }
    #[inline(always)]
    fn and(self, o: Self) -> Self {
        Self(core::arch::wasm32::v128_and(self.0, o.0))
    }
    #[inline(always)]
    fn or(self, o: Self) -> Self {
        Self(core::arch::wasm32::v128_or(self.0, o.0))
    }
    #[inline(always)]
    fn shr(self, n: u32) -> Self {
        Self(core::arch::wasm32::u64x2_shr(self.0, n))
    }
    #[inline(always)]
    fn shl(self, n: u32) -> Self {
        Self(core::arch::wasm32::u64x2_shl(self.0, n))
    }
    #[inline(always)]
    fn narrow(self) -> Self::Narrow {
        core::arch::wasm32::i32x4_shuffle::<0, 2, 0, 2>(self.0, self.0)
    }
    #[inline(always)]
    fn narrow_pair(a: u32, b: u32) -> Self::Narrow {
        core::arch::wasm32::u32x4(a, b, a, b)
    }
    #[inline(always)]
    fn mul(a: Self::Narrow, b: Self::Narrow) -> Self {
        Self(core::arch::wasm32::u64x2_extmul_low_u32x4(a, b))
    }
    #[inline(always)]
    fn load(blocks: &[u8]) -> (Self, Self) {
        (
            Self(core::arch::wasm32::u64x2(le64(blocks, 0), le64(blocks, 16))),
            Self(core::arch::wasm32::u64x2(le64(blocks, 8), le64(blocks, 24))),
        )
    }
}

/// `h · r mod 2¹³⁰ − 5`, partly reduced (donna-32): limbs below 2²⁶ but `h[1]`, a little above.
fn mul_scalar(h: &[u32; 5], r: &[u32; 5]) -> [u32; 5] {
    let [h0, h1, h2, h3, h4] = h.map(u64::from);
    let [r0, r1, r2, r3, r4] = r.map(u64::from);
    let (s1, s2, s3, s4) = (r1 * 5, r2 * 5, r3 * 5, r4 * 5);
    let d0 = h0 * r0 + h1 * s4 + h2 * s3 + h3 * s2 + h4 * s1;
    let d1 = h0 * r1 + h1 * r0 + h2 * s4 + h3 * s3 + h4 * s2;
    let d2 = h0 * r2 + h1 * r1 + h2 * r0 + h3 * s4 + h4 * s3;
    let d3 = h0 * r3 + h1 * r2 + h2 * r1 + h3 * r0 + h4 * s4;
    let d4 = h0 * r4 + h1 * r3 + h2 * r2 + h3 * r1 + h4 * r0;
    carry_scalar([d0, d1, d2, d3, d4])
}

fn carry_scalar(d: [u64; 5]) -> [u32; 5] {
    let mask = u64::from(MASK);
    let [d0, mut d1, mut d2, mut d3, mut d4] = d;
    d1 += d0 >> 26;
    d2 += d1 >> 26;
    d3 += d2 >> 26;
    d4 += d3 >> 26;
    let mut h0 = (d0 & mask) + (d4 >> 26) * 5;
    let h1 = (d1 & mask) + (h0 >> 26);
    h0 &= mask;
    [
        h0 as u32,
        h1 as u32,
        (d2 & mask) as u32,
        (d3 & mask) as u32,
        (d4 & mask) as u32,
    ]
}

/// The message limbs of one 16-byte block, plus `hibit` (2¹²⁸ for a full block).
fn limbs_of(block: &[u8; BLOCK], hibit: u32) -> [u32; 5] {
    let lo = le64(block, 0);
    let hi = le64(block, 8);
    let mask = u64::from(MASK);
    [
        (lo & mask) as u32,
        ((lo >> 26) & mask) as u32,
        (((lo >> 52) | (hi << 12)) & mask) as u32,
        ((hi >> 14) & mask) as u32,
        (hi >> 40) as u32 | hibit,
    ]
}

/// One lane pair of multipliers: lane `a`'s and lane `b`'s `r` limbs, and `5·r` for limbs 1..5.
struct Multipliers<L: Lanes> {
    r: [L::Narrow; 5],
    s: [L::Narrow; 4],
}

impl<L: Lanes> Multipliers<L> {
    fn new(a: &[u32; 5], b: &[u32; 5]) -> Self {
        let [a0, a1, a2, a3, a4] = *a;
        let [b0, b1, b2, b3, b4] = *b;
        Self {
            r: [
                L::narrow_pair(a0, b0),
                L::narrow_pair(a1, b1),
                L::narrow_pair(a2, b2),
                L::narrow_pair(a3, b3),
                L::narrow_pair(a4, b4),
            ],
            s: [
                L::narrow_pair(a1 * 5, b1 * 5),
                L::narrow_pair(a2 * 5, b2 * 5),
                L::narrow_pair(a3 * 5, b3 * 5),
                L::narrow_pair(a4 * 5, b4 * 5),
            ],
        }
    }
}

/// Both lanes: `h ← (h + m) · r`, partly reduced.
#[inline(always)]
fn step<L: Lanes>(h: &mut [L; 5], blocks: &[u8], by: &Multipliers<L>) {
    let mask = L::pair(u64::from(MASK), u64::from(MASK));
    let (lo, hi) = L::load(blocks);
    let m = [
        lo.and(mask),
        lo.shr(26).and(mask),
        lo.shr(52).or(hi.shl(12)).and(mask),
        hi.shr(14).and(mask),
        hi.shr(40).or(L::pair(1 << 24, 1 << 24)),
    ];
    let [h0, h1, h2, h3, h4] = [
        h[0].add(m[0]).narrow(),
        h[1].add(m[1]).narrow(),
        h[2].add(m[2]).narrow(),
        h[3].add(m[3]).narrow(),
        h[4].add(m[4]).narrow(),
    ];
    let [r0, r1, r2, r3, r4] = by.r;
    let [s1, s2, s3, s4] = by.s;
    let d0 = L::mul(h0, r0)
        .add(L::mul(h1, s4))
        .add(L::mul(h2, s3))
        .add(L::mul(h3, s2))
        .add(L::mul(h4, s1));
    let d1 = L::mul(h0, r1)
        .add(L::mul(h1, r0))
        .add(L::mul(h2, s4))
        .add(L::mul(h3, s3))
        .add(L::mul(h4, s2));
    let d2 = L::mul(h0, r2)
        .add(L::mul(h1, r1))
        .add(L::mul(h2, r0))
        .add(L::mul(h3, s4))
        .add(L::mul(h4, s3));
    let d3 = L::mul(h0, r3)
        .add(L::mul(h1, r2))
        .add(L::mul(h2, r1))
        .add(L::mul(h3, r0))
        .add(L::mul(h4, s4));
    let d4 = L::mul(h0, r4)
        .add(L::mul(h1, r3))
        .add(L::mul(h2, r2))
        .add(L::mul(h3, r1))
        .add(L::mul(h4, r0));
    // The partial carry of donna-32, in both lanes.
    let d1 = d1.add(d0.shr(26));
    let d2 = d2.add(d1.shr(26));
    let d3 = d3.add(d2.shr(26));
    let d4 = d4.add(d3.shr(26));
    let c = d4.shr(26);
    let h0 = d0.and(mask).add(c).add(c.shl(2));
    *h = [
        h0.and(mask),
        d1.and(mask).add(h0.shr(26)),
        d2.and(mask),
        d3.and(mask),
        d4.and(mask),
    ];
}

/// A Poly1305 computation in progress, over whole 16-byte blocks. Key and state are wiped on
/// drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct Poly1305 {
    r: [u32; 5],
    pad: [u32; 4],
    h: [u32; 5],
}

impl Poly1305 {
    /// The one-time key: `r` (clamped) then `s`, as RFC 8439 §2.5 lays them out.
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        let word = |at: usize| {
            let mut w = [0u8; 4];
            w.copy_from_slice(key.get(at..at + 4).unwrap_or(&[0; 4]));
            u32::from_le_bytes(w)
        };
        Self {
            // r &= 0x0ffffffc_0ffffffc_0ffffffc_0fffffff, as five 26-bit limbs.
            r: [
                word(0) & 0x03ff_ffff,
                (word(3) >> 2) & 0x03ff_ff03,
                (word(6) >> 4) & 0x03ff_c0ff,
                (word(9) >> 6) & 0x03f0_3fff,
                (word(12) >> 8) & 0x000f_ffff,
            ],
            pad: [word(16), word(20), word(24), word(28)],
            h: [0; 5],
        }
    }

    fn block(&mut self, block: &[u8; BLOCK], hibit: u32) {
        let m = limbs_of(block, hibit);
        let mut h = self.h;
        for (limb, add) in h.iter_mut().zip(m) {
            *limb += add;
        }
        self.h = mul_scalar(&h, &self.r);
    }

    /// Absorbs `data`, a whole number of full blocks (any rest is ignored: the callers pad).
    pub(crate) fn blocks<L: Lanes>(&mut self, data: &[u8]) {
        let whole = data.len() / BLOCK;
        let mut scalar_from = 0;
        if whole >= WIDE_FROM {
            let pairs = whole / 2;
            let mut r2 = mul_scalar(&self.r, &self.r);
            let both_r2 = Multipliers::<L>::new(&r2, &r2);
            let last = Multipliers::<L>::new(&r2, &self.r);
            let mut h: [L; 5] = self.h.map(|limb| L::pair(u64::from(limb), 0));
            let mut wide = data.chunks_exact(2 * BLOCK).take(pairs);
            for _ in 1..pairs {
                if let Some(two) = wide.next() {
                    step(&mut h, two, &both_r2);
                }
            }
            if let Some(two) = wide.next() {
                step(&mut h, two, &last);
            }
            let sum = h.map(|limb| {
                let [a, b] = limb.lanes();
                a + b
            });
            self.h = carry_scalar(sum);
            r2.zeroize();
            scalar_from = pairs * 2 * BLOCK;
        }
        for block in data
            .get(scalar_from..)
            .unwrap_or_default()
            .chunks_exact(BLOCK)
        {
            let mut b = [0u8; BLOCK];
            b.copy_from_slice(block);
            self.block(&b, 1 << 24);
        }
    }

    /// Absorbs `data` as RFC 8439's AEAD construction does: zero-padded to whole blocks.
    pub(crate) fn update_padded<L: Lanes>(&mut self, data: &[u8]) {
        let whole = data.len() / BLOCK * BLOCK;
        self.blocks::<L>(data.get(..whole).unwrap_or_default());
        let rest = data.get(whole..).unwrap_or_default();
        if !rest.is_empty() {
            let mut b = [0u8; BLOCK];
            b.get_mut(..rest.len())
                .unwrap_or_default()
                .copy_from_slice(rest);
            self.block(&b, 1 << 24);
        }
    }

    /// Absorbs a final partial block (1 to 15 bytes) as RFC 8439 §2.5 does: `0x01` appended,
    /// zero-padded, no 2¹²⁸ bit. Used only by the plain MAC the tests check.
    #[cfg(test)]
    fn partial(&mut self, rest: &[u8]) {
        let mut b = [0u8; BLOCK];
        b.get_mut(..rest.len())
            .unwrap_or_default()
            .copy_from_slice(rest);
        if let Some(one) = b.get_mut(rest.len()) {
            *one = 1;
        }
        self.block(&b, 0);
    }

    /// The tag: `h mod 2¹³⁰ − 5`, plus `s`, mod 2¹²⁸ (donna-32's final reduction).
    pub(crate) fn finalize(mut self) -> [u8; 16] {
        let [mut h0, mut h1, mut h2, mut h3, mut h4] = self.h;
        let mut c;
        c = h1 >> 26;
        h1 &= MASK;
        h2 += c;
        c = h2 >> 26;
        h2 &= MASK;
        h3 += c;
        c = h3 >> 26;
        h3 &= MASK;
        h4 += c;
        c = h4 >> 26;
        h4 &= MASK;
        h0 += c * 5;
        c = h0 >> 26;
        h0 &= MASK;
        h1 += c;

        // g = h + 5 − 2¹³⁰; h ≥ p exactly when g does not go below zero.
        let mut g0 = h0.wrapping_add(5);
        c = g0 >> 26;
        g0 &= MASK;
        let mut g1 = h1.wrapping_add(c);
        c = g1 >> 26;
        g1 &= MASK;
        let mut g2 = h2.wrapping_add(c);
        c = g2 >> 26;
        g2 &= MASK;
        let mut g3 = h3.wrapping_add(c);
        c = g3 >> 26;
        g3 &= MASK;
        let g4 = h4.wrapping_add(c).wrapping_sub(1 << 26);

        // Constant time: all ones when g ≥ 0 (take g), all zeros when it went negative.
        let take_g = (g4 >> 31).wrapping_sub(1);
        let keep_h = !take_g;
        h0 = (h0 & keep_h) | (g0 & take_g);
        h1 = (h1 & keep_h) | (g1 & take_g);
        h2 = (h2 & keep_h) | (g2 & take_g);
        h3 = (h3 & keep_h) | (g3 & take_g);
        h4 = (h4 & keep_h) | (g4 & take_g);

        // h mod 2¹²⁸, as four 32-bit words.
        let words = [
            h0 | (h1 << 26),
            (h1 >> 6) | (h2 << 20),
            (h2 >> 12) | (h3 << 14),
            (h3 >> 18) | (h4 << 8),
        ];
        let mut tag = [0u8; 16];
        let mut carry = 0u64;
        for ((out, w), pad) in tag.chunks_exact_mut(4).zip(words).zip(self.pad) {
            let f = u64::from(w) + u64::from(pad) + carry;
            out.copy_from_slice(&(f as u32).to_le_bytes());
            carry = f >> 32;
        }
        self.h.zeroize();
        tag
    }
}

/// RFC 8439 §2.8's tag over `ciphertext` with no associated data: the ciphertext zero-padded,
/// then the two lengths (0 and the ciphertext's) as little-endian `u64`s.
pub(crate) fn aead_tag<L: Lanes>(key: &[u8; 32], ciphertext: &[u8]) -> [u8; 16] {
    let mut mac = Poly1305::new(key);
    mac.update_padded::<L>(ciphertext);
    let mut lengths = [0u8; BLOCK];
    let (_, len) = lengths.split_at_mut(8);
    len.copy_from_slice(&(ciphertext.len() as u64).to_le_bytes());
    mac.block(&lengths, 1 << 24);
    mac.finalize()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::{BLOCK, Lanes, Poly1305, Portable, aead_tag};
    use poly1305::universal_hash::{KeyInit, UniversalHash};
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    /// The plain MAC of RFC 8439 §2.5 (a partial last block padded with `0x01`).
    fn mac<L: Lanes>(key: &[u8; 32], msg: &[u8]) -> [u8; 16] {
        let mut p = Poly1305::new(key);
        let whole = msg.len() / BLOCK * BLOCK;
        p.blocks::<L>(&msg[..whole]);
        if whole < msg.len() {
            p.partial(&msg[whole..]);
        }
        p.finalize()
    }

    fn unhex(text: &str) -> Vec<u8> {
        let text: String = text.split_whitespace().collect();
        hex::decode(text).unwrap()
    }

    /// xorshift64*, so every run checks the same cases.
    fn bytes(seed: &mut u64, len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| {
                *seed ^= *seed >> 12;
                *seed ^= *seed << 25;
                *seed ^= *seed >> 27;
                (seed.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
            })
            .collect()
    }

    /// RFC 8439 §2.5.2 and the Poly1305 vectors of appendix A.3 (#1 to #11), as
    /// (key, message, tag).
    fn rfc8439() -> Vec<([u8; 32], Vec<u8>, [u8; 16])> {
        let text = "Any submission to the IETF intended by the Contributor for publication as all or part of an IETF Internet-Draft or RFC and any statement made within the context of an IETF activity is considered an \"IETF Contribution\". Such statements include oral statements in IETF sessions, as well as written and electronic communications made at any time or place, which are addressed to";
        let jabberwock = "'Twas brillig, and the slithy toves\nDid gyre and gimble in the wabe:\nAll mimsy were the borogoves,\nAnd the mome raths outgrabe.";
        let cases: [(&str, Vec<u8>, &str); 12] = [
            (
                "85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b",
                b"Cryptographic Forum Research Group".to_vec(),
                "a8061dc1305136c6c22b8baf0c0127a9",
            ),
            (
                "0000000000000000000000000000000000000000000000000000000000000000",
                vec![0; 64],
                "00000000000000000000000000000000",
            ),
            (
                "0000000000000000000000000000000036e5f6b5c5e06070f0efca96227a863e",
                text.as_bytes().to_vec(),
                "36e5f6b5c5e06070f0efca96227a863e",
            ),
            (
                "36e5f6b5c5e06070f0efca96227a863e00000000000000000000000000000000",
                text.as_bytes().to_vec(),
                "f3477e7cd95417af89a6b8794c310cf0",
            ),
            (
                "1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0",
                jabberwock.as_bytes().to_vec(),
                "4541669a7eaaee61e708dc7cbcc5eb62",
            ),
            (
                "0200000000000000000000000000000000000000000000000000000000000000",
                unhex("ffffffffffffffffffffffffffffffff"),
                "03000000000000000000000000000000",
            ),
            (
                "02000000000000000000000000000000ffffffffffffffffffffffffffffffff",
                unhex("02000000000000000000000000000000"),
                "03000000000000000000000000000000",
            ),
            (
                "0100000000000000000000000000000000000000000000000000000000000000",
                unhex(
                    "ffffffffffffffffffffffffffffffff f0ffffffffffffffffffffffffffffff
                     11000000000000000000000000000000",
                ),
                "05000000000000000000000000000000",
            ),
            (
                "0100000000000000000000000000000000000000000000000000000000000000",
                unhex(
                    "ffffffffffffffffffffffffffffffff fbfefefefefefefefefefefefefefefe
                     01010101010101010101010101010101",
                ),
                "00000000000000000000000000000000",
            ),
            (
                "0200000000000000000000000000000000000000000000000000000000000000",
                unhex("fdffffffffffffffffffffffffffffff"),
                "faffffffffffffffffffffffffffffff",
            ),
            (
                "0100000000000000040000000000000000000000000000000000000000000000",
                unhex(
                    "e33594d7505e43b900000000000000003394d7505e4379cd0100000000000000
                     0000000000000000000000000000000001000000000000000000000000000000",
                ),
                "14000000000000005500000000000000",
            ),
            (
                "0100000000000000040000000000000000000000000000000000000000000000",
                unhex(
                    "e33594d7505e43b900000000000000003394d7505e4379cd0100000000000000
                     00000000000000000000000000000000",
                ),
                "13000000000000000000000000000000",
            ),
        ];
        cases
            .into_iter()
            .map(|(key, msg, tag)| {
                (
                    unhex(key).try_into().unwrap(),
                    msg,
                    unhex(tag).try_into().unwrap(),
                )
            })
            .collect()
    }

    fn crate_mac(key: &[u8; 32], msg: &[u8]) -> [u8; 16] {
        poly1305::Poly1305::new(&(*key).into())
            .compute_unpadded(msg)
            .into()
    }

    fn crate_padded(key: &[u8; 32], msg: &[u8]) -> [u8; 16] {
        let mut p = poly1305::Poly1305::new(&(*key).into());
        p.update_padded(msg);
        p.finalize().into()
    }

    /// `Lanes` checked against the RFC and the crate, for one implementation of the lanes.
    fn check<L: Lanes>() {
        for (i, (key, msg, tag)) in rfc8439().iter().enumerate() {
            assert_eq!(&mac::<L>(key, msg), tag, "RFC 8439 vector {i}");
            assert_eq!(&crate_mac(key, msg), tag, "the crate, RFC 8439 vector {i}");
        }
        // The vectors are short: repeated, they reach the two-lane path too.
        for (i, (key, msg, _)) in rfc8439().iter().enumerate() {
            let long = msg.repeat(9);
            assert_eq!(mac::<L>(key, &long), crate_mac(key, &long), "vector {i} ×9");
        }

        let mut seed = 0x9017_1305_u64;
        let lengths = (0..=700).chain([4095, 4096, 4097, 65_535, 65_536, 65_537]);
        for len in lengths {
            let key: [u8; 32] = bytes(&mut seed, 32).try_into().unwrap();
            let msg = bytes(&mut seed, len);
            assert_eq!(mac::<L>(&key, &msg), crate_mac(&key, &msg), "length {len}");
            let mut ours = Poly1305::new(&key);
            ours.update_padded::<L>(&msg);
            assert_eq!(
                ours.finalize(),
                crate_padded(&key, &msg),
                "padded, length {len}"
            );
        }

        // Limbs at their largest: all-ones keys and messages, where a carry forgotten or a
        // bound exceeded would show.
        for len in [16 * 8, 16 * 9, 16 * 64, 16 * 65, 4096] {
            for (key, fill) in [([0xff; 32], 0xff), ([0xff; 32], 0x00), ([0x00; 32], 0xff)] {
                let msg = vec![fill; len];
                assert_eq!(
                    mac::<L>(&key, &msg),
                    crate_mac(&key, &msg),
                    "extreme, {len}"
                );
            }
        }
    }

    #[test]
    fn portable_lanes_match_rfc8439_and_the_poly1305_crate() {
        check::<Portable>();
    }

    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[test]
    fn simd_lanes_match_rfc8439_and_the_poly1305_crate() {
        check::<super::Simd>();
    }

    #[test]
    fn aead_tag_is_the_crates() {
        let mut seed = 0xaead_u64;
        for len in [0, 1, 15, 16, 17, 255, 256, 65_536] {
            let key: [u8; 32] = bytes(&mut seed, 32).try_into().unwrap();
            let ct = bytes(&mut seed, len);
            let mut p = poly1305::Poly1305::new(&key.into());
            p.update_padded(&ct);
            let mut lengths = [0u8; 16];
            lengths[8..].copy_from_slice(&(len as u64).to_le_bytes());
            p.update(&[lengths.into()]);
            let expected: [u8; 16] = p.finalize().into();
            assert_eq!(aead_tag::<Portable>(&key, &ct), expected, "length {len}");
        }
    }
}
