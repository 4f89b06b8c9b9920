//! EIP-712 typed structured data: hashing and signing.
//!
//! Implemented from the EIP-712 text:
//!
//! - `encodeType(T)` = `T(type1 name1,type2 name2,…)` followed by the same form of every struct
//!   type `T` refers to (directly or not), those sorted by name.
//! - `typeHash(T)` = `keccak256(encodeType(T))`.
//! - `hashStruct(s)` = `keccak256(typeHash ‖ encodeData(s))`, where `encodeData` is one 32-byte word
//!   per member, in declared order: `bool`, `address`, `uintN`, `intN` as ABI words (sign-extended
//!   for `intN`), `bytesN` right-padded with zeros, `string` and `bytes` as the Keccak-256 of their
//!   bytes, a struct as its `hashStruct`, an array as the Keccak-256 of its elements' encodings
//!   concatenated.
//! - The digest signed is `keccak256(0x19 ‖ 0x01 ‖ domainSeparator ‖ hashStruct(message))`, with
//!   `domainSeparator = hashStruct(domain)` under the `EIP712Domain` type. When the primary type is
//!   `EIP712Domain` itself the message part is left out.
//!
//! [`TypedData`] takes the same shape as the JSON of `eth_signTypedData_v4`; the caller converts
//! JSON into [`Value`]s. DataHub's own types, which need no JSON, are in [`super::types`].

use core::fmt;
use std::collections::{BTreeMap, BTreeSet};

use super::{
    Address, ChainId, Signature, SignatureError, U256, from_hex,
    keccak::{keccak256, keccak256_concat},
    strip_0x,
};
use crate::keys::SecretKey;

/// How deep values and types may nest; deeper input is refused rather than risking the stack.
const MAX_DEPTH: usize = 64;

/// A value in a typed-data message, shaped like JSON. How it is read depends on the field's
/// declared type: a string may hold text (`string`), hex (`bytes`, `bytesN`, `address`) or an
/// integer in decimal or `0x` hex (`uintN`, `intN`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `true` or `false`.
    Bool(bool),
    /// A JSON number (an integer).
    Integer(i128),
    /// A JSON string.
    String(String),
    /// A JSON array.
    Array(Vec<Value>),
    /// A JSON object: member names and values.
    Object(BTreeMap<String, Value>),
}

/// One member of a struct type: `type name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The member's name.
    pub name: String,
    /// The member's type, as written in the type string (`uint256`, `Person[]`, …).
    pub ty: String,
}

impl Field {
    /// A field `ty name`.
    pub fn new(name: &str, ty: &str) -> Self {
        Self {
            name: name.to_owned(),
            ty: ty.to_owned(),
        }
    }
}

/// A complete typed-data request, as `eth_signTypedData_v4` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypedData {
    /// Struct types by name, `EIP712Domain` included.
    pub types: BTreeMap<String, Vec<Field>>,
    /// The type of `message`.
    pub primary_type: String,
    /// The domain, a value of type `EIP712Domain`.
    pub domain: Value,
    /// The message, a value of type `primary_type`.
    pub message: Value,
}

/// Why typed data cannot be hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TypedDataError {
    /// A struct type is used but not defined in `types`.
    UnknownType {
        /// The type's name.
        name: String,
    },
    /// A type name or type string is malformed (for example `uint7`, `bytes33`, `Foo[x]`).
    InvalidType {
        /// The type as written.
        ty: String,
    },
    /// A struct value lacks a member its type declares.
    MissingField {
        /// The struct type.
        ty: String,
        /// The missing member.
        field: String,
    },
    /// A struct value has a member its type does not declare (it would not be signed).
    UnexpectedField {
        /// The struct type.
        ty: String,
        /// The extra member.
        field: String,
    },
    /// A value does not fit its declared type.
    InvalidValue {
        /// The declared type.
        ty: String,
        /// What is wrong with the value.
        reason: &'static str,
    },
    /// Types or values nest deeper than the limit of 64 levels.
    TooDeep,
    /// The typed data hashed, but the signature over it is not valid.
    Signature(SignatureError),
}

impl fmt::Display for TypedDataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownType { name } => {
                write!(
                    f,
                    "typed data uses type `{name}` but does not define it in `types`"
                )
            }
            Self::InvalidType { ty } => write!(f, "typed data has an invalid type `{ty}`"),
            Self::MissingField { ty, field } => {
                write!(f, "typed data value of type `{ty}` lacks member `{field}`")
            }
            Self::UnexpectedField { ty, field } => write!(
                f,
                "typed data value of type `{ty}` has member `{field}`, which the type does not declare; remove it or declare it"
            ),
            Self::InvalidValue { ty, reason } => {
                write!(f, "typed data value does not fit type `{ty}`: {reason}")
            }
            Self::TooDeep => f.write_str("typed data nests too deep (more than 64 levels)"),
            Self::Signature(e) => e.fmt(f),
        }
    }
}

impl core::error::Error for TypedDataError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Signature(e) => Some(e),
            _ => None,
        }
    }
}

/// A member type, parsed.
enum Kind<'a> {
    Bool,
    Address,
    String,
    Bytes,
    FixedBytes(usize),
    Uint(u32),
    Int(u32),
    Array {
        element: &'a str,
        len: Option<usize>,
    },
    Struct(&'a str),
}

fn kind(ty: &str) -> Result<Kind<'_>, TypedDataError> {
    let invalid = || TypedDataError::InvalidType { ty: ty.to_owned() };
    if let Some(head) = ty.strip_suffix(']') {
        let open = head.rfind('[').ok_or_else(invalid)?;
        let (element, len) = head.split_at(open);
        let len = len.strip_prefix('[').ok_or_else(invalid)?;
        let len = if len.is_empty() {
            None
        } else {
            if !len.bytes().all(|b| b.is_ascii_digit()) || len.starts_with('0') {
                return Err(invalid());
            }
            Some(len.parse::<usize>().map_err(|_| invalid())?)
        };
        if element.is_empty() {
            return Err(invalid());
        }
        return Ok(Kind::Array { element, len });
    }
    let sized = |prefix: &str| -> Option<Result<u32, TypedDataError>> {
        let bits = ty.strip_prefix(prefix)?;
        Some(match bits.parse::<u32>() {
            Ok(n) if (8..=256).contains(&n) && n % 8 == 0 && !bits.starts_with('0') => Ok(n),
            _ => Err(invalid()),
        })
    };
    Ok(match ty {
        "bool" => Kind::Bool,
        "address" => Kind::Address,
        "string" => Kind::String,
        "bytes" => Kind::Bytes,
        "uint" | "int" => return Err(invalid()),
        _ => {
            if let Some(n) = ty.strip_prefix("bytes") {
                match n.parse::<usize>() {
                    Ok(n @ 1..=32) if !ty.starts_with("bytes0") => Kind::FixedBytes(n),
                    _ => return Err(invalid()),
                }
            } else if let Some(bits) = sized("uint") {
                Kind::Uint(bits?)
            } else if let Some(bits) = sized("int") {
                Kind::Int(bits?)
            } else if is_identifier(ty) {
                Kind::Struct(ty)
            } else {
                return Err(invalid());
            }
        }
    })
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

/// The struct type an array or struct member type refers to, if any.
fn struct_name(ty: &str) -> Result<Option<&str>, TypedDataError> {
    let mut ty = ty;
    for _ in 0..MAX_DEPTH {
        match kind(ty)? {
            Kind::Array { element, .. } => ty = element,
            Kind::Struct(name) => return Ok(Some(name)),
            _ => return Ok(None),
        }
    }
    Err(TypedDataError::TooDeep)
}

/// The EIP-712 domain DataHub uses: `EIP712Domain(string name,string version,uint256 chainId,
/// address verifyingContract)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eip712Domain {
    /// The signing domain's name (DataHub uses `"DataHub"`).
    pub name: String,
    /// The domain's version (DataHub uses `"1"`).
    pub version: String,
    /// The chain a signature is valid on.
    pub chain_id: ChainId,
    /// The contract that verifies the signature (for vouchers, the claim contract).
    pub verifying_contract: Address,
}

impl Eip712Domain {
    /// `encodeType` of this domain's type.
    pub const TYPE: &'static str =
        "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)";

    /// The domain separator, `hashStruct(domain)`.
    pub fn separator(&self) -> [u8; 32] {
        keccak256_concat(&[
            &keccak256(Self::TYPE.as_bytes()),
            &keccak256(self.name.as_bytes()),
            &keccak256(self.version.as_bytes()),
            &U256::from_u64(self.chain_id.0).to_be_bytes(),
            &address_word(&self.verifying_contract),
        ])
    }

    /// The fields of `EIP712Domain` as DataHub declares it.
    pub fn fields() -> Vec<Field> {
        vec![
            Field::new("name", "string"),
            Field::new("version", "string"),
            Field::new("chainId", "uint256"),
            Field::new("verifyingContract", "address"),
        ]
    }

    /// This domain as a typed-data value.
    pub fn to_value(&self) -> Value {
        Value::Object(BTreeMap::from([
            ("name".to_owned(), Value::String(self.name.clone())),
            ("version".to_owned(), Value::String(self.version.clone())),
            (
                "chainId".to_owned(),
                Value::String(self.chain_id.0.to_string()),
            ),
            (
                "verifyingContract".to_owned(),
                Value::String(self.verifying_contract.to_checksum()),
            ),
        ]))
    }
}

/// The digest EIP-712 signs: `keccak256(0x19 ‖ 0x01 ‖ domainSeparator ‖ structHash)`.
pub fn signing_hash(domain_separator: &[u8; 32], struct_hash: &[u8; 32]) -> [u8; 32] {
    keccak256_concat(&[b"\x19\x01", domain_separator, struct_hash])
}

pub(crate) fn address_word(address: &Address) -> [u8; 32] {
    let mut word = [0u8; 32];
    let (_, tail) = word.split_at_mut(12);
    tail.copy_from_slice(address.as_bytes());
    word
}

impl TypedData {
    /// `encodeType` of the struct type `name`: its own form, then those of the struct types it
    /// refers to, sorted by name.
    pub fn encode_type(&self, name: &str) -> Result<String, TypedDataError> {
        let mut deps = BTreeSet::new();
        self.collect_deps(name, &mut deps, 0)?;
        deps.remove(name);
        let mut out = String::new();
        for ty in core::iter::once(name).chain(deps.iter().map(String::as_str)) {
            let fields = self.fields(ty)?;
            out.push_str(ty);
            out.push('(');
            for (i, field) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&field.ty);
                out.push(' ');
                out.push_str(&field.name);
            }
            out.push(')');
        }
        Ok(out)
    }

    fn fields(&self, name: &str) -> Result<&[Field], TypedDataError> {
        self.types
            .get(name)
            .map(Vec::as_slice)
            .ok_or_else(|| TypedDataError::UnknownType {
                name: name.to_owned(),
            })
    }

    fn collect_deps(
        &self,
        name: &str,
        deps: &mut BTreeSet<String>,
        depth: usize,
    ) -> Result<(), TypedDataError> {
        if depth > MAX_DEPTH {
            return Err(TypedDataError::TooDeep);
        }
        if !deps.insert(name.to_owned()) {
            return Ok(());
        }
        if !is_identifier(name) {
            return Err(TypedDataError::InvalidType {
                ty: name.to_owned(),
            });
        }
        for field in self.fields(name)? {
            if let Some(inner) = struct_name(&field.ty)? {
                self.collect_deps(inner, deps, depth + 1)?;
            }
        }
        Ok(())
    }

    /// `typeHash` of the struct type `name`.
    pub fn type_hash(&self, name: &str) -> Result<[u8; 32], TypedDataError> {
        Ok(keccak256(self.encode_type(name)?.as_bytes()))
    }

    /// `hashStruct` of `value` as a struct of type `name`.
    pub fn hash_struct(&self, name: &str, value: &Value) -> Result<[u8; 32], TypedDataError> {
        self.hash_struct_at(name, value, 0)
    }

    fn hash_struct_at(
        &self,
        name: &str,
        value: &Value,
        depth: usize,
    ) -> Result<[u8; 32], TypedDataError> {
        if depth > MAX_DEPTH {
            return Err(TypedDataError::TooDeep);
        }
        let fields = self.fields(name)?;
        let Value::Object(members) = value else {
            return Err(TypedDataError::InvalidValue {
                ty: name.to_owned(),
                reason: "expected an object",
            });
        };
        if let Some(extra) = members
            .keys()
            .find(|k| !fields.iter().any(|f| &f.name == *k))
        {
            return Err(TypedDataError::UnexpectedField {
                ty: name.to_owned(),
                field: extra.clone(),
            });
        }
        let mut encoded = Vec::with_capacity(32 * (fields.len() + 1));
        encoded.extend_from_slice(&self.type_hash(name)?);
        for field in fields {
            let member = members
                .get(&field.name)
                .ok_or_else(|| TypedDataError::MissingField {
                    ty: name.to_owned(),
                    field: field.name.clone(),
                })?;
            encoded.extend_from_slice(&self.encode_value(&field.ty, member, depth + 1)?);
        }
        Ok(keccak256(&encoded))
    }

    /// The 32-byte `encodeData` word of `value` as type `ty`.
    fn encode_value(
        &self,
        ty: &str,
        value: &Value,
        depth: usize,
    ) -> Result<[u8; 32], TypedDataError> {
        if depth > MAX_DEPTH {
            return Err(TypedDataError::TooDeep);
        }
        let bad = |reason: &'static str| TypedDataError::InvalidValue {
            ty: ty.to_owned(),
            reason,
        };
        match kind(ty)? {
            Kind::Bool => match value {
                Value::Bool(b) => Ok(U256::from_u64(u64::from(*b)).to_be_bytes()),
                _ => Err(bad("expected true or false")),
            },
            Kind::Address => match value {
                Value::String(s) => Address::parse(s).map(|a| address_word(&a)).map_err(|_| {
                    bad("expected 0x and 40 hex digits (EIP-55 checksum if mixed case)")
                }),
                _ => Err(bad("expected an address string")),
            },
            Kind::String => match value {
                Value::String(s) => Ok(keccak256(s.as_bytes())),
                _ => Err(bad("expected a string")),
            },
            Kind::Bytes => Ok(keccak256(
                &hex_bytes(value).ok_or_else(|| bad("expected 0x-prefixed hex"))?,
            )),
            Kind::FixedBytes(n) => {
                let bytes = hex_bytes(value).ok_or_else(|| bad("expected 0x-prefixed hex"))?;
                if bytes.len() != n {
                    return Err(bad("wrong number of bytes for this bytesN type"));
                }
                let mut word = [0u8; 32];
                word.iter_mut().zip(bytes.iter()).for_each(|(w, b)| *w = *b);
                Ok(word)
            }
            Kind::Uint(bits) => {
                let (negative, magnitude) =
                    integer(value).ok_or_else(|| bad("expected an integer"))?;
                if negative && magnitude != U256::ZERO {
                    return Err(bad("expected a non-negative integer"));
                }
                if magnitude.bits() > bits {
                    return Err(bad("integer out of range for this uintN type"));
                }
                Ok(magnitude.to_be_bytes())
            }
            Kind::Int(bits) => {
                let (negative, magnitude) =
                    integer(value).ok_or_else(|| bad("expected an integer"))?;
                // Range: -2^(bits-1) ..= 2^(bits-1) - 1.
                let fits = if negative {
                    magnitude.bits() < bits
                        || (magnitude.bits() == bits && is_power_of_two(&magnitude))
                } else {
                    magnitude.bits() < bits
                };
                if !fits {
                    return Err(bad("integer out of range for this intN type"));
                }
                Ok(if negative {
                    magnitude.wrapping_neg().to_be_bytes()
                } else {
                    magnitude.to_be_bytes()
                })
            }
            Kind::Array { element, len } => {
                let Value::Array(items) = value else {
                    return Err(bad("expected an array"));
                };
                if len.is_some_and(|n| n != items.len()) {
                    return Err(bad("wrong number of elements for this fixed-size array"));
                }
                let mut encoded = Vec::with_capacity(32 * items.len());
                for item in items {
                    encoded.extend_from_slice(&self.encode_value(element, item, depth + 1)?);
                }
                Ok(keccak256(&encoded))
            }
            Kind::Struct(name) => self.hash_struct_at(name, value, depth + 1),
        }
    }

    /// The domain separator, `hashStruct(domain)` under `types.EIP712Domain`.
    pub fn domain_separator(&self) -> Result<[u8; 32], TypedDataError> {
        self.hash_struct("EIP712Domain", &self.domain)
    }

    /// The digest to sign: `keccak256(0x19 ‖ 0x01 ‖ domainSeparator ‖ hashStruct(message))`.
    pub fn signing_hash(&self) -> Result<[u8; 32], TypedDataError> {
        let separator = self.domain_separator()?;
        if self.primary_type == "EIP712Domain" {
            return Ok(keccak256_concat(&[b"\x19\x01", &separator]));
        }
        let message = self.hash_struct(&self.primary_type, &self.message)?;
        Ok(signing_hash(&separator, &message))
    }

    /// Signs this typed data as `eth_signTypedData_v4` does.
    pub fn sign(&self, key: &SecretKey) -> Result<Signature, TypedDataError> {
        Ok(Signature::sign_prehash(key, &self.signing_hash()?))
    }

    /// The address that signed this typed data.
    pub fn recover(&self, signature: &Signature) -> Result<Address, TypedDataError> {
        signature
            .recover_address_prehash(&self.signing_hash()?)
            .map_err(TypedDataError::Signature)
    }
}

fn is_power_of_two(n: &U256) -> bool {
    n.to_be_bytes().iter().map(|b| b.count_ones()).sum::<u32>() == 1
}

fn hex_bytes(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::String(s) => from_hex(strip_0x(s)?),
        _ => None,
    }
}

/// An integer value as (negative, magnitude): a JSON number, or a string of decimal digits or
/// `0x` hex, optionally preceded by `-`.
fn integer(value: &Value) -> Option<(bool, U256)> {
    match value {
        Value::Integer(n) => Some((*n < 0, U256::from_u128(n.unsigned_abs()))),
        Value::String(s) => {
            let (negative, digits) = match s.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, s.as_str()),
            };
            U256::parse(digits).ok().map(|m| (negative, m))
        }
        _ => None,
    }
}
