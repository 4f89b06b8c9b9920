//! ChaCha20-Poly1305 (RFC 8439) with ChaCha20 computed four blocks at a time in WebAssembly
//! SIMD (`simd128`).
//!
//! Built only for `wasm32` with the `simd128` target feature, where [`crate::stream`] seals and
//! opens chunks with it instead of the `chacha20` crate's portable code (that crate has no
//! WebAssembly backend). Poly1305 is [`crate::poly1305_wide`]'s, two blocks at a time in SIMD
//! too. The output is the same bytes: the
//! shared vectors (`test-vectors/sealed-object.json`) and the differential tests below, run as
//! WebAssembly, hold it to that.
//!
//! The four blocks are kept "vertically": vector `x[i]` holds word `i` of blocks `n .. n + 4`,
//! so every quarter-round is four lanes of plain 32-bit arithmetic and the blocks are transposed
//! back to bytes at the end.

use core::arch::wasm32::{
    i8x16_shuffle, i32x4_shuffle, i64x2_shuffle, u32x4, u32x4_add, u32x4_shl, u32x4_shr,
    u32x4_splat, u64x2_extract_lane, v128, v128_or, v128_xor,
};

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::poly1305_wide::{Simd, aead_tag};

/// "expand 32-byte k".
const SIGMA: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];
/// Bytes of keystream per call of [`ChaCha20::four_blocks`].
const WIDE: usize = 4 * 64;

/// A ChaCha20 key and nonce (the input block without its counter), wiped on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct ChaCha20 {
    state: [u32; 16],
}

fn le_words<const N: usize>(bytes: &[u8]) -> [u32; N] {
    let mut words = [0u32; N];
    for (w, c) in words.iter_mut().zip(bytes.chunks_exact(4)) {
        *w = u32::from_le_bytes(c.try_into().unwrap_or([0; 4]));
    }
    words
}

#[inline(always)]
fn rotl(x: v128, n: u32) -> v128 {
    v128_or(u32x4_shl(x, n), u32x4_shr(x, 32 - n))
}

#[inline(always)]
fn rotl16(x: v128) -> v128 {
    i8x16_shuffle::<2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13>(x, x)
}

#[inline(always)]
fn rotl8(x: v128) -> v128 {
    i8x16_shuffle::<3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10, 15, 12, 13, 14>(x, x)
}

macro_rules! quarter_round {
    ($x:ident, $a:literal, $b:literal, $c:literal, $d:literal) => {
        $x[$a] = u32x4_add($x[$a], $x[$b]);
        $x[$d] = rotl16(v128_xor($x[$d], $x[$a]));
        $x[$c] = u32x4_add($x[$c], $x[$d]);
        $x[$b] = rotl(v128_xor($x[$b], $x[$c]), 12);
        $x[$a] = u32x4_add($x[$a], $x[$b]);
        $x[$d] = rotl8(v128_xor($x[$d], $x[$a]));
        $x[$c] = u32x4_add($x[$c], $x[$d]);
        $x[$b] = rotl(v128_xor($x[$b], $x[$c]), 7);
    };
}

/// Words `4g .. 4g + 4` of the four blocks, from the vertical layout to one vector per block.
#[inline(always)]
fn transpose(a: v128, b: v128, c: v128, d: v128) -> [v128; 4] {
    let t0 = i32x4_shuffle::<0, 4, 1, 5>(a, b);
    let t1 = i32x4_shuffle::<2, 6, 3, 7>(a, b);
    let t2 = i32x4_shuffle::<0, 4, 1, 5>(c, d);
    let t3 = i32x4_shuffle::<2, 6, 3, 7>(c, d);
    [
        i64x2_shuffle::<0, 2>(t0, t2),
        i64x2_shuffle::<1, 3>(t0, t2),
        i64x2_shuffle::<0, 2>(t1, t3),
        i64x2_shuffle::<1, 3>(t1, t3),
    ]
}

/// XORs 16 bytes of keystream into `out` (exactly 16 bytes).
#[inline(always)]
fn xor16(out: &mut [u8], keystream: v128) {
    let (lo, hi) = out.split_at_mut(8);
    for (half, lane) in [
        (lo, u64x2_extract_lane::<0>(keystream)),
        (hi, u64x2_extract_lane::<1>(keystream)),
    ] {
        let word = u64::from_le_bytes((&*half).try_into().unwrap_or([0; 8])) ^ lane;
        half.copy_from_slice(&word.to_le_bytes());
    }
}

impl ChaCha20 {
    /// The cipher for a 32-byte key and a 12-byte nonce (RFC 8439's layout).
    pub(crate) fn new(key: &[u8; 32], nonce: &[u8; 12]) -> Self {
        let [k0, k1, k2, k3, k4, k5, k6, k7] = le_words::<8>(key);
        let [n0, n1, n2] = le_words::<3>(nonce);
        let [s0, s1, s2, s3] = SIGMA;
        Self {
            state: [
                s0, s1, s2, s3, k0, k1, k2, k3, k4, k5, k6, k7, 0, n0, n1, n2,
            ],
        }
    }

    /// Keystream blocks `counter .. counter + 4`, one vector per 16 bytes in stream order.
    #[inline(always)]
    fn four_blocks(&self, counter: u32) -> [v128; 16] {
        let s = &self.state;
        let counters = u32x4(
            counter,
            counter.wrapping_add(1),
            counter.wrapping_add(2),
            counter.wrapping_add(3),
        );
        let input = [
            u32x4_splat(s[0]),
            u32x4_splat(s[1]),
            u32x4_splat(s[2]),
            u32x4_splat(s[3]),
            u32x4_splat(s[4]),
            u32x4_splat(s[5]),
            u32x4_splat(s[6]),
            u32x4_splat(s[7]),
            u32x4_splat(s[8]),
            u32x4_splat(s[9]),
            u32x4_splat(s[10]),
            u32x4_splat(s[11]),
            counters,
            u32x4_splat(s[13]),
            u32x4_splat(s[14]),
            u32x4_splat(s[15]),
        ];
        let mut x = input;
        for _ in 0..10 {
            quarter_round!(x, 0, 4, 8, 12);
            quarter_round!(x, 1, 5, 9, 13);
            quarter_round!(x, 2, 6, 10, 14);
            quarter_round!(x, 3, 7, 11, 15);
            quarter_round!(x, 0, 5, 10, 15);
            quarter_round!(x, 1, 6, 11, 12);
            quarter_round!(x, 2, 7, 8, 13);
            quarter_round!(x, 3, 4, 9, 14);
        }
        for (w, i) in x.iter_mut().zip(input) {
            *w = u32x4_add(*w, i);
        }
        let g0 = transpose(x[0], x[1], x[2], x[3]);
        let g1 = transpose(x[4], x[5], x[6], x[7]);
        let g2 = transpose(x[8], x[9], x[10], x[11]);
        let g3 = transpose(x[12], x[13], x[14], x[15]);
        // Block b is g0[b] g1[b] g2[b] g3[b].
        [
            g0[0], g1[0], g2[0], g3[0], g0[1], g1[1], g2[1], g3[1], g0[2], g1[2], g2[2], g3[2],
            g0[3], g1[3], g2[3], g3[3],
        ]
    }

    /// XORs the keystream from block `counter` on into `data`. The caller keeps `data` within
    /// the 32-bit block counter (256 GiB), as RFC 8439 requires.
    pub(crate) fn apply_keystream(&self, mut counter: u32, data: &mut [u8]) {
        let mut wide = data.chunks_exact_mut(WIDE);
        for chunk in &mut wide {
            let keystream = self.four_blocks(counter);
            for (piece, k) in chunk.chunks_exact_mut(16).zip(keystream) {
                xor16(piece, k);
            }
            counter = counter.wrapping_add(4);
        }
        let rest = wide.into_remainder();
        if !rest.is_empty() {
            let mut bytes = [0u8; WIDE];
            for (piece, k) in bytes.chunks_exact_mut(16).zip(self.four_blocks(counter)) {
                xor16(piece, k);
            }
            for (b, k) in rest.iter_mut().zip(bytes.iter()) {
                *b ^= k;
            }
            bytes.zeroize();
        }
    }

    /// The tag of RFC 8439 over `ciphertext` with empty associated data, under the Poly1305
    /// key of the first 32 bytes of block 0.
    fn tag(&self, ciphertext: &[u8]) -> [u8; 16] {
        let mut key = [0u8; 32];
        self.apply_keystream(0, &mut key);
        let tag = aead_tag::<Simd>(&key, ciphertext);
        key.zeroize();
        tag
    }

    /// Encrypts `buffer` in place and returns the tag (no associated data).
    pub(crate) fn seal(&self, buffer: &mut [u8]) -> [u8; 16] {
        self.apply_keystream(1, buffer);
        self.tag(buffer)
    }

    /// Checks `tag` (in constant time) and only then decrypts `buffer` in place.
    pub(crate) fn open(&self, buffer: &mut [u8], tag: &[u8; 16]) -> bool {
        let expected = self.tag(buffer);
        if !bool::from(expected.ct_eq(tag)) {
            return false;
        }
        self.apply_keystream(1, buffer);
        true
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::ChaCha20;
    use chacha20poly1305::aead::AeadInOut;
    use chacha20poly1305::{ChaCha20Poly1305, KeyInit};
    use wasm_bindgen_test::wasm_bindgen_test as test;

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

    #[test]
    fn rfc8439_keystream_block() {
        // RFC 8439 section 2.4.2: the sunscreen plaintext, key 00..1f, counter 1.
        let key: [u8; 32] = core::array::from_fn(|i| i as u8);
        let nonce = [0, 0, 0, 0, 0, 0, 0, 0x4a, 0, 0, 0, 0];
        let mut text = *b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
        ChaCha20::new(&key, &nonce).apply_keystream(1, &mut text);
        assert_eq!(
            &text[..16],
            &[
                0x6e, 0x2e, 0x35, 0x9a, 0x25, 0x68, 0xf9, 0x80, 0x41, 0xba, 0x07, 0x28, 0xdd, 0x0d,
                0x69, 0x81
            ]
        );
        assert_eq!(&text[text.len() - 2..], &[0x87, 0x4d]);
    }

    /// Same ciphertext and tag as the chacha20poly1305 crate, for every length around the
    /// 64- and 256-byte boundaries and a full 64 KiB chunk; and the same plaintext back.
    #[test]
    fn same_as_the_chacha20poly1305_crate() {
        let mut seed = 0x5eed_c4a4_u64;
        let lengths = (0..=520).chain([1023, 1024, 1025, 4096, 65_535, 65_536]);
        for len in lengths {
            let key: [u8; 32] = bytes(&mut seed, 32).try_into().unwrap();
            let nonce: [u8; 12] = bytes(&mut seed, 12).try_into().unwrap();
            let plaintext = bytes(&mut seed, len);

            let mut expected = plaintext.clone();
            let expected_tag = ChaCha20Poly1305::new(&key.into())
                .encrypt_inout_detached(&nonce.into(), &[], expected.as_mut_slice().into())
                .unwrap();

            let cipher = ChaCha20::new(&key, &nonce);
            let mut ours = plaintext.clone();
            let tag = cipher.seal(&mut ours);
            assert_eq!(ours, expected, "ciphertext, length {len}");
            assert_eq!(tag.as_slice(), expected_tag.as_slice(), "tag, length {len}");

            assert!(cipher.open(&mut ours, &tag), "length {len}");
            assert_eq!(ours, plaintext);
            if len > 0 {
                ours[len / 2] ^= 1;
                let before = ours.clone();
                assert!(!cipher.open(&mut ours, &tag));
                assert_eq!(ours, before, "nothing decrypted on failure");
            }
        }
    }
}
