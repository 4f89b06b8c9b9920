//! Solidity ABI call data for the few escrow and ERC-20 calls a client makes itself: a claim sent
//! from the contributor's wallet, and a token balance read back.
//!
//! Layout (Solidity ABI v2): 4-byte selector (the first bytes of the Keccak-256 of the
//! function's canonical signature), then 32-byte words. A tuple of static members is encoded in
//! place; `bytes` is a word holding its offset from the start of the arguments, and at that
//! offset its length and its content right-padded with zeros to a whole number of words.

use super::keccak::keccak256;
use super::typed_data::address_word;
use super::{Address, RewardVoucher, Signature, U256};

/// `claim((address,address,uint256,uint256,uint256),bytes)`: the escrow's voucher redemption.
pub const CLAIM_SIGNATURE: &str = "claim((address,address,uint256,uint256,uint256),bytes)";
/// `balanceOf(address)` of ERC-20.
pub const BALANCE_OF_SIGNATURE: &str = "balanceOf(address)";
/// `isUsed(address,uint256)`: whether the escrow redeemed a recipient's voucher nonce.
pub const IS_USED_SIGNATURE: &str = "isUsed(address,uint256)";

/// The 4-byte selector of a canonical function signature.
pub fn selector(signature: &str) -> [u8; 4] {
    let hash = keccak256(signature.as_bytes());
    [hash[0], hash[1], hash[2], hash[3]]
}

/// Call data of `escrow.claim(voucher, signature)`.
pub fn claim_call(voucher: &RewardVoucher, signature: &Signature) -> Vec<u8> {
    let sig = signature.to_bytes();
    // Five static words of the tuple, then the offset of `bytes`, its length and its content.
    let padded = sig.len().div_ceil(32) * 32;
    let mut out = Vec::with_capacity(4 + 32 * 7 + padded);
    out.extend_from_slice(&selector(CLAIM_SIGNATURE));
    out.extend_from_slice(&address_word(&voucher.recipient));
    out.extend_from_slice(&address_word(&voucher.token));
    out.extend_from_slice(&voucher.amount.to_be_bytes());
    out.extend_from_slice(&voucher.nonce.to_be_bytes());
    out.extend_from_slice(&U256::from_u64(voucher.deadline).to_be_bytes());
    out.extend_from_slice(&U256::from_u64(6 * 32).to_be_bytes());
    out.extend_from_slice(&U256::from_u64(sig.len() as u64).to_be_bytes());
    out.extend_from_slice(&sig);
    out.resize(4 + 32 * 7 + padded, 0);
    out
}

/// Call data of `token.balanceOf(owner)`.
pub fn balance_of_call(owner: &Address) -> Vec<u8> {
    let mut out = Vec::with_capacity(36);
    out.extend_from_slice(&selector(BALANCE_OF_SIGNATURE));
    out.extend_from_slice(&address_word(owner));
    out
}

/// Call data of `escrow.isUsed(recipient, nonce)`.
pub fn is_used_call(recipient: &Address, nonce: &U256) -> Vec<u8> {
    let mut out = Vec::with_capacity(68);
    out.extend_from_slice(&selector(IS_USED_SIGNATURE));
    out.extend_from_slice(&address_word(recipient));
    out.extend_from_slice(&nonce.to_be_bytes());
    out
}

/// A `uint256` return value (one word, as `eth_call` returns it).
pub fn decode_uint(data: &[u8]) -> Option<U256> {
    let word: [u8; 32] = data.get(..32)?.try_into().ok()?;
    Some(U256::from_be_bytes(word))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn selectors_match_solidity() {
        // Well-known selectors, as `cast sig` and every block explorer print them.
        assert_eq!(selector(BALANCE_OF_SIGNATURE), [0x70, 0xa0, 0x82, 0x31]);
        assert_eq!(
            selector("transfer(address,uint256)"),
            [0xa9, 0x05, 0x9c, 0xbb]
        );
    }

    #[test]
    fn claim_call_layout() {
        let recipient = Address::parse("0x00000000000000000000000000000000000000aa").unwrap();
        let token = Address::parse("0x00000000000000000000000000000000000000bb").unwrap();
        let voucher = RewardVoucher {
            recipient,
            token,
            amount: U256::from_u64(7),
            nonce: U256::from_u64(3),
            deadline: 9,
        };
        let mut raw = [0x11u8; 65];
        raw[64] = 27;
        let signature = Signature::from_bytes(&raw).unwrap();
        let data = claim_call(&voucher, &signature);
        assert_eq!(data.len(), 4 + 32 * 7 + 96);
        let word = |i: usize| &data[4 + 32 * i..4 + 32 * (i + 1)];
        assert_eq!(word(0)[31], 0xaa);
        assert_eq!(word(1)[31], 0xbb);
        assert_eq!(word(2)[31], 7);
        assert_eq!(word(3)[31], 3);
        assert_eq!(word(4)[31], 9);
        assert_eq!(word(5)[31], 0xc0, "bytes start after the six head words");
        assert_eq!(word(6)[31], 65);
        assert_eq!(
            &data[4 + 32 * 7..4 + 32 * 7 + 65],
            &signature.to_bytes()[..]
        );
        assert!(data[4 + 32 * 7 + 65..].iter().all(|b| *b == 0));
    }

    #[test]
    fn uint_decoding_needs_a_word() {
        assert_eq!(decode_uint(&[0; 31]), None);
        let mut word = [0u8; 32];
        word[31] = 5;
        assert_eq!(decode_uint(&word), Some(U256::from_u64(5)));
    }
}
