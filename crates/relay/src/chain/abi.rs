//! The few pieces of the Solidity ABI the relay needs, written out by hand: the escrow's
//! `Deposited` and `Claimed` logs, and the calldata of `isUsed(address,uint256)` and ERC-20
//! `balanceOf(address)`. Every word is checked (addresses are 12 zero bytes then 20, booleans
//! are 0 or 1, lengths are exact): a log or a return value that is not what the contract emits
//! is an error, never a guess.

use datahub_core::eth::{Address, U256, keccak256};

/// `keccak256("Deposited(address,address,address,uint256)")`: topic 0 of a deposit.
pub fn deposited_topic() -> [u8; 32] {
    keccak256(b"Deposited(address,address,address,uint256)")
}

/// `keccak256("Claimed(address,address,uint256,uint256)")`: topic 0 of a redeemed voucher.
pub fn claimed_topic() -> [u8; 32] {
    keccak256(b"Claimed(address,address,uint256,uint256)")
}

/// Why a log or a return value could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AbiError {
    /// Topic 0 is not the event's.
    WrongEvent,
    /// The log has another number of topics than the event's indexed fields plus one.
    Topics {
        /// How many it has.
        found: usize,
    },
    /// The data is not as long as the event's (or the function's) non-indexed fields.
    DataLength {
        /// How long it is.
        found: usize,
    },
    /// A word that should hold an address has non-zero high bytes.
    NotAnAddress,
    /// A word that should hold a bool is neither 0 nor 1.
    NotABool,
}

impl std::fmt::Display for AbiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::WrongEvent => f.write_str("topic 0 is not the expected event"),
            Self::Topics { found } => write!(f, "wrong number of topics: {found}"),
            Self::DataLength { found } => write!(f, "wrong data length: {found} bytes"),
            Self::NotAnAddress => f.write_str("an address word has non-zero high bytes"),
            Self::NotABool => f.write_str("a bool word is neither 0 nor 1"),
        }
    }
}

impl std::error::Error for AbiError {}

/// `Deposited(address indexed requester, address indexed token, address indexed from, uint256 amount)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deposited {
    /// Whose funding is credited.
    pub requester: Address,
    /// The ERC-20 contract.
    pub token: Address,
    /// Who paid.
    pub from: Address,
    /// What arrived, in the token's smallest unit.
    pub amount: U256,
}

/// `Claimed(address indexed recipient, address indexed token, uint256 indexed nonce, uint256 amount)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// Who was paid (fixed in the voucher).
    pub recipient: Address,
    /// The ERC-20 contract.
    pub token: Address,
    /// The voucher's nonce.
    pub nonce: U256,
    /// What was paid, in the token's smallest unit.
    pub amount: U256,
}

/// An address from a 32-byte ABI word.
pub fn word_address(word: &[u8; 32]) -> Result<Address, AbiError> {
    let (high, low) = word.split_at(12);
    if high.iter().any(|b| *b != 0) {
        return Err(AbiError::NotAnAddress);
    }
    let bytes = <[u8; 20]>::try_from(low).map_err(|_| AbiError::NotAnAddress)?;
    Ok(Address::from_bytes(bytes))
}

/// A single 32-byte word: `data` must be exactly that long.
fn one_word(data: &[u8]) -> Result<[u8; 32], AbiError> {
    <[u8; 32]>::try_from(data).map_err(|_| AbiError::DataLength { found: data.len() })
}

fn check_topics(topics: &[[u8; 32]], event: [u8; 32]) -> Result<(), AbiError> {
    if topics.len() != 4 {
        return Err(AbiError::Topics {
            found: topics.len(),
        });
    }
    if topics.first() != Some(&event) {
        return Err(AbiError::WrongEvent);
    }
    Ok(())
}

/// The topic at `i`, which `check_topics` has shown exists.
fn topic(topics: &[[u8; 32]], i: usize) -> Result<&[u8; 32], AbiError> {
    topics.get(i).ok_or(AbiError::Topics {
        found: topics.len(),
    })
}

impl Deposited {
    /// Decodes a log's topics and data.
    pub fn decode(topics: &[[u8; 32]], data: &[u8]) -> Result<Self, AbiError> {
        check_topics(topics, deposited_topic())?;
        Ok(Self {
            requester: word_address(topic(topics, 1)?)?,
            token: word_address(topic(topics, 2)?)?,
            from: word_address(topic(topics, 3)?)?,
            amount: U256::from_be_bytes(one_word(data)?),
        })
    }
}

impl Claimed {
    /// Decodes a log's topics and data.
    pub fn decode(topics: &[[u8; 32]], data: &[u8]) -> Result<Self, AbiError> {
        check_topics(topics, claimed_topic())?;
        Ok(Self {
            recipient: word_address(topic(topics, 1)?)?,
            token: word_address(topic(topics, 2)?)?,
            nonce: U256::from_be_bytes(*topic(topics, 3)?),
            amount: U256::from_be_bytes(one_word(data)?),
        })
    }
}

fn selector(signature: &str) -> [u8; 4] {
    let hash = keccak256(signature.as_bytes());
    [hash[0], hash[1], hash[2], hash[3]]
}

fn address_word(address: &Address) -> [u8; 32] {
    let mut word = [0; 32];
    word[12..].copy_from_slice(address.as_bytes());
    word
}

/// Calldata of the escrow's `isUsed(address recipient, uint256 nonce)`.
pub fn is_used_call(recipient: &Address, nonce: &U256) -> Vec<u8> {
    let mut data = selector("isUsed(address,uint256)").to_vec();
    data.extend_from_slice(&address_word(recipient));
    data.extend_from_slice(&nonce.to_be_bytes());
    data
}

/// Calldata of ERC-20 `balanceOf(address owner)`.
pub fn balance_of_call(owner: &Address) -> Vec<u8> {
    let mut data = selector("balanceOf(address)").to_vec();
    data.extend_from_slice(&address_word(owner));
    data
}

/// The return value of a function returning one `bool`.
pub fn decode_bool(data: &[u8]) -> Result<bool, AbiError> {
    let word = one_word(data)?;
    let (high, last) = word.split_at(31);
    match (high.iter().all(|b| *b == 0), last) {
        (true, [0]) => Ok(false),
        (true, [1]) => Ok(true),
        _ => Err(AbiError::NotABool),
    }
}

/// The return value of a function returning one `uint256`.
pub fn decode_uint(data: &[u8]) -> Result<U256, AbiError> {
    Ok(U256::from_be_bytes(one_word(data)?))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn addr(byte: u8) -> Address {
        Address::from_bytes([byte; 20])
    }

    fn amount_word(v: u64) -> Vec<u8> {
        U256::from_u64(v).to_be_bytes().to_vec()
    }

    fn deposit_topics() -> Vec<[u8; 32]> {
        vec![
            deposited_topic(),
            address_word(&addr(1)),
            address_word(&addr(2)),
            address_word(&addr(3)),
        ]
    }

    /// The topics are the ones solc emits: a fixed vector, so a typo in a signature string
    /// cannot go unnoticed (the values are `cast keccak` of the signatures).
    #[test]
    fn topics_and_selectors_are_the_known_ones() {
        assert_eq!(
            hex::encode(keccak256(b"Transfer(address,address,uint256)")),
            "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
        );
        assert_eq!(hex::encode(selector("balanceOf(address)")), "70a08231");
        assert_eq!(
            balance_of_call(&addr(0xab)),
            [
                hex::decode("70a08231").unwrap(),
                address_word(&addr(0xab)).to_vec()
            ]
            .concat()
        );
        let call = is_used_call(&addr(7), &U256::from_u64(258));
        assert_eq!(call.len(), 4 + 64);
        assert_eq!(&call[..4], &selector("isUsed(address,uint256)"));
        assert_eq!(call[4 + 63], 2);
        assert_eq!(call[4 + 62], 1);
    }

    #[test]
    fn a_deposit_decodes() {
        let d = Deposited::decode(&deposit_topics(), &amount_word(5_000)).unwrap();
        assert_eq!(
            d,
            Deposited {
                requester: addr(1),
                token: addr(2),
                from: addr(3),
                amount: U256::from_u64(5_000)
            }
        );
    }

    #[test]
    fn a_claim_decodes() {
        let topics = vec![
            claimed_topic(),
            address_word(&addr(9)),
            address_word(&addr(2)),
            U256::from_u64(41).to_be_bytes(),
        ];
        let c = Claimed::decode(&topics, &amount_word(7)).unwrap();
        assert_eq!(c.recipient, addr(9));
        assert_eq!(c.nonce, U256::from_u64(41));
        assert_eq!(c.amount, U256::from_u64(7));
    }

    /// One malformed log per failure mode, each refused with its own error.
    #[test]
    fn malformed_logs_are_refused() {
        let data = amount_word(1);
        // A Claimed log is not a deposit.
        let mut wrong = deposit_topics();
        wrong[0] = claimed_topic();
        assert_eq!(Deposited::decode(&wrong, &data), Err(AbiError::WrongEvent));
        // Too few and too many topics (a non-indexed variant of the event, or another one).
        assert_eq!(
            Deposited::decode(&deposit_topics()[..3], &data),
            Err(AbiError::Topics { found: 3 })
        );
        let mut more = deposit_topics();
        more.push([0; 32]);
        assert_eq!(
            Deposited::decode(&more, &data),
            Err(AbiError::Topics { found: 5 })
        );
        assert_eq!(
            Deposited::decode(&[], &data),
            Err(AbiError::Topics { found: 0 })
        );
        // Data short, long, empty.
        for len in [0, 31, 33, 64] {
            assert_eq!(
                Deposited::decode(&deposit_topics(), &vec![0; len]),
                Err(AbiError::DataLength { found: len })
            );
        }
        // An "address" with dirty high bytes.
        let mut dirty = deposit_topics();
        dirty[2][0] = 1;
        assert_eq!(
            Deposited::decode(&dirty, &data),
            Err(AbiError::NotAnAddress)
        );
        let mut claim = vec![
            claimed_topic(),
            address_word(&addr(9)),
            address_word(&addr(2)),
            [0xff; 32],
        ];
        // Any nonce is a valid uint256; a dirty recipient is not an address.
        assert!(Claimed::decode(&claim, &data).is_ok());
        claim[1][11] = 1;
        assert_eq!(Claimed::decode(&claim, &data), Err(AbiError::NotAnAddress));
    }

    #[test]
    fn return_values_are_strict() {
        let mut word = [0u8; 32];
        assert_eq!(decode_bool(&word), Ok(false));
        word[31] = 1;
        assert_eq!(decode_bool(&word), Ok(true));
        word[31] = 2;
        assert_eq!(decode_bool(&word), Err(AbiError::NotABool));
        word[31] = 1;
        word[0] = 1;
        assert_eq!(decode_bool(&word), Err(AbiError::NotABool));
        assert_eq!(decode_bool(&[]), Err(AbiError::DataLength { found: 0 }));
        assert_eq!(
            decode_uint(&[0; 64]),
            Err(AbiError::DataLength { found: 64 })
        );
        assert_eq!(decode_uint(&amount_word(9)), Ok(U256::from_u64(9)));
    }
}
