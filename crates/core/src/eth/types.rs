//! DataHub's own EIP-712 types: the task submission receipt and the reward claim voucher.
//!
//! Both are signed under an [`Eip712Domain`] of name `"DataHub"`, version `"1"`, the chain id and
//! the claim contract. Their encodings are written out here word by word (no JSON), and tests
//! check them against the generic [`TypedData`] encoder and against ethers and viem.

use std::collections::BTreeMap;

use super::{
    Address, Signature, SignatureError, U256,
    keccak::{keccak256, keccak256_concat},
    typed_data::{Eip712Domain, Field, TypedData, Value, address_word, signing_hash},
};
use crate::keys::SecretKey;

/// What a contributor (or their session key) signs when submitting a task's answer.
///
/// `SubmissionReceipt(string campaign,string task,bytes32 answerHash,bytes32 manifestId,uint256
/// nonce,uint256 deadline,string licence,bytes32 termsHash)`
///
/// The last two are the contributor's consent: the licence the campaign releases its data
/// under and the hash of the terms the contributor was shown and accepted (both empty, the
/// licence `""` and the hash zeros, for a campaign that states none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmissionReceipt {
    /// The campaign's id.
    pub campaign: String,
    /// The task's id within the campaign.
    pub task: String,
    /// The hash of the answer (for structured answers, of its canonical bytes).
    pub answer_hash: [u8; 32],
    /// The id of the sealed object holding the uploaded data (its manifest's BLAKE3 hash), or
    /// zeros when the answer has no upload.
    pub manifest_id: [u8; 32],
    /// Unique per signer: the relay accepts each (signer, nonce) once.
    pub nonce: U256,
    /// Unix time in seconds after which the relay refuses the receipt.
    pub deadline: u64,
    /// The campaign's licence: an SPDX id, `other`, or `""` when the campaign states none.
    pub licence: String,
    /// [`SubmissionReceipt::terms_hash`] of the campaign's terms, zeros when it has none.
    pub terms_hash: [u8; 32],
}

/// What the relay signs so that a contributor can claim a reward balance on chain.
///
/// `RewardVoucher(address recipient,address token,uint256 amount,uint256 nonce,uint256
/// deadline)`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewardVoucher {
    /// Who receives the tokens.
    pub recipient: Address,
    /// The ERC-20 token paid.
    pub token: Address,
    /// Amount in the token's smallest unit.
    pub amount: U256,
    /// Unique per recipient: the claim contract redeems each (recipient, nonce) once.
    pub nonce: U256,
    /// Unix time in seconds after which the voucher cannot be redeemed.
    pub deadline: u64,
}

/// One of DataHub's EIP-712 structs: each has its own `hashStruct`; the digest, signing and
/// recovery under a domain are the same for all.
pub trait TypedStruct {
    /// `hashStruct(self)`.
    fn struct_hash(&self) -> [u8; 32];

    /// The digest signed under `domain`.
    fn signing_hash(&self, domain: &Eip712Domain) -> [u8; 32] {
        signing_hash(&domain.separator(), &self.struct_hash())
    }

    /// Signs this struct under `domain`.
    fn sign(&self, key: &SecretKey, domain: &Eip712Domain) -> Signature {
        Signature::sign_prehash(key, &self.signing_hash(domain))
    }

    /// The address that signed this struct under `domain`.
    fn recover(
        &self,
        domain: &Eip712Domain,
        signature: &Signature,
    ) -> Result<Address, SignatureError> {
        signature.recover_address_prehash(&self.signing_hash(domain))
    }
}

impl TypedStruct for SubmissionReceipt {
    fn struct_hash(&self) -> [u8; 32] {
        keccak256_concat(&[
            &keccak256(SubmissionReceipt::TYPE.as_bytes()),
            &keccak256(self.campaign.as_bytes()),
            &keccak256(self.task.as_bytes()),
            &self.answer_hash,
            &self.manifest_id,
            &self.nonce.to_be_bytes(),
            &U256::from_u64(self.deadline).to_be_bytes(),
            &keccak256(self.licence.as_bytes()),
            &self.terms_hash,
        ])
    }
}

impl TypedStruct for RewardVoucher {
    fn struct_hash(&self) -> [u8; 32] {
        keccak256_concat(&[
            &keccak256(RewardVoucher::TYPE.as_bytes()),
            &address_word(&self.recipient),
            &address_word(&self.token),
            &self.amount.to_be_bytes(),
            &self.nonce.to_be_bytes(),
            &U256::from_u64(self.deadline).to_be_bytes(),
        ])
    }
}

impl SubmissionReceipt {
    /// `encodeType(SubmissionReceipt)`.
    pub const TYPE: &'static str = "SubmissionReceipt(string campaign,string task,bytes32 answerHash,bytes32 manifestId,uint256 nonce,uint256 deadline,string licence,bytes32 termsHash)";
    /// The EIP-712 primary type name.
    pub const NAME: &'static str = "SubmissionReceipt";

    /// The `termsHash` of a campaign's terms: the BLAKE3 hash of their UTF-8 text, or zeros
    /// when there are none. Whoever shows the terms computes it from the text shown, so a
    /// contributor's signature covers what they read, not what a server said it was.
    pub fn terms_hash(terms: Option<&str>) -> [u8; 32] {
        terms.map_or([0u8; 32], |t| *blake3::hash(t.as_bytes()).as_bytes())
    }

    /// The type's members, in order.
    pub fn fields() -> Vec<Field> {
        vec![
            Field::new("campaign", "string"),
            Field::new("task", "string"),
            Field::new("answerHash", "bytes32"),
            Field::new("manifestId", "bytes32"),
            Field::new("nonce", "uint256"),
            Field::new("deadline", "uint256"),
            Field::new("licence", "string"),
            Field::new("termsHash", "bytes32"),
        ]
    }

    /// This receipt as generic typed data (what a wallet or ethers would be given).
    pub fn to_typed_data(&self, domain: &Eip712Domain) -> TypedData {
        let message = Value::Object(BTreeMap::from([
            ("campaign".to_owned(), Value::String(self.campaign.clone())),
            ("task".to_owned(), Value::String(self.task.clone())),
            ("answerHash".to_owned(), hex_value(&self.answer_hash)),
            ("manifestId".to_owned(), hex_value(&self.manifest_id)),
            ("nonce".to_owned(), Value::String(self.nonce.to_string())),
            (
                "deadline".to_owned(),
                Value::String(self.deadline.to_string()),
            ),
            ("licence".to_owned(), Value::String(self.licence.clone())),
            ("termsHash".to_owned(), hex_value(&self.terms_hash)),
        ]));
        typed_data(Self::NAME, Self::fields(), domain, message)
    }
}

impl RewardVoucher {
    /// `encodeType(RewardVoucher)`.
    pub const TYPE: &'static str = "RewardVoucher(address recipient,address token,uint256 amount,uint256 nonce,uint256 deadline)";
    /// The EIP-712 primary type name.
    pub const NAME: &'static str = "RewardVoucher";

    /// The type's members, in order.
    pub fn fields() -> Vec<Field> {
        vec![
            Field::new("recipient", "address"),
            Field::new("token", "address"),
            Field::new("amount", "uint256"),
            Field::new("nonce", "uint256"),
            Field::new("deadline", "uint256"),
        ]
    }

    /// This voucher as generic typed data.
    pub fn to_typed_data(&self, domain: &Eip712Domain) -> TypedData {
        let message = Value::Object(BTreeMap::from([
            (
                "recipient".to_owned(),
                Value::String(self.recipient.to_checksum()),
            ),
            ("token".to_owned(), Value::String(self.token.to_checksum())),
            ("amount".to_owned(), Value::String(self.amount.to_string())),
            ("nonce".to_owned(), Value::String(self.nonce.to_string())),
            (
                "deadline".to_owned(),
                Value::String(self.deadline.to_string()),
            ),
        ]));
        typed_data(Self::NAME, Self::fields(), domain, message)
    }
}

fn hex_value(bytes: &[u8]) -> Value {
    Value::String(format!("0x{}", super::to_hex(bytes)))
}

fn typed_data(name: &str, fields: Vec<Field>, domain: &Eip712Domain, message: Value) -> TypedData {
    TypedData {
        types: BTreeMap::from([
            ("EIP712Domain".to_owned(), Eip712Domain::fields()),
            (name.to_owned(), fields),
        ]),
        primary_type: name.to_owned(),
        domain: domain.to_value(),
        message,
    }
}
