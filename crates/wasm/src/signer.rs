//! Keys and signatures for JavaScript: a local signer, EIP-191 and EIP-712 signing and
//! recovery, Sign-In with Ethereum and session-key grants.
//!
//! Every error thrown is a JS `Error` whose `name` says which area failed (`AddressError`,
//! `SignatureError`, `TypedDataError`, `SiweError`, `SessionError`, `InputError`,
//! `RandomnessError`) and whose `code` names the exact reason (`BadChecksum`, `HighS`,
//! `Expired`, …). Both are stable; the message is for people.

use std::collections::BTreeMap;

use datahub_core::{
    SecretKey,
    eth::{
        Address, CampaignScope, ChainId, Session, SessionGrant, Signature, SiweMessage,
        SiweVerifier, Timestamp, TypedData, U256, personal,
        typed_data::{Field, Value},
    },
};
use serde_json::Value as Json;
use wasm_bindgen::prelude::*;

use crate::js::{error_from, hex, input_error, js_error, parse_hex};

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
/** A time: a Date, milliseconds since the Unix epoch, or an RFC 3339 string. */
export type SiweTime = Date | number | string;
/** Fields of a Sign-In with Ethereum message, as viem's createSiweMessage takes them. */
export interface SiweFields {
  address: string; chainId: number; domain: string; nonce: string; uri: string; issuedAt: SiweTime;
  version?: "1"; scheme?: string; statement?: string; expirationTime?: SiweTime; notBefore?: SiweTime;
  requestId?: string; resources?: string[];
}
/** A parsed Sign-In with Ethereum message; times are RFC 3339 strings in UTC. */
export interface SiweParsed {
  address: string; chainId: number; domain: string; nonce: string; uri: string; version: "1"; issuedAt: string;
  scheme?: string; statement?: string; expirationTime?: string; notBefore?: string; requestId?: string; resources?: string[];
}
/** What a verifier expects; `now` defaults to the current time. */
export interface SiweVerifyOptions { domain: string; now?: SiweTime; chainId?: number; scheme?: string; }
/** A sign-in that grants a session key (see docs/signatures.md). */
export interface SessionFields extends SiweFields {
  sessionKey: string; expires: SiweTime; campaigns: string[]; rewardCap: string | number;
}
/** A verified session grant. `campaigns` is ["*"] for any campaign. */
export interface SessionGrantInfo {
  wallet: string; sessionKey: string; expires: string; campaigns: string[]; rewardCap: string; chainId: number;
}
"#;

/// A message as JS gives it: a string is signed as its UTF-8 bytes, a `Uint8Array` as is.
pub(crate) fn message_bytes(message: &JsValue) -> Result<Vec<u8>, JsValue> {
    if let Some(text) = message.as_string() {
        return Ok(text.into_bytes());
    }
    if message.is_instance_of::<js_sys::Uint8Array>() {
        return Ok(js_sys::Uint8Array::new(message).to_vec());
    }
    Err(input_error(
        "InvalidMessage",
        "message must be a string (signed as UTF-8) or a Uint8Array",
    ))
}

fn signature(text: &str) -> Result<Signature, JsValue> {
    Signature::from_hex(text).map_err(|e| error_from("SignatureError", &e))
}

fn address(text: &str) -> Result<Address, JsValue> {
    Address::parse(text).map_err(|e| error_from("AddressError", &e))
}

/// A local secp256k1 key: the identity of a visitor with no wallet, or a session key.
#[wasm_bindgen]
pub struct LocalSigner {
    pub(crate) key: SecretKey,
}

#[wasm_bindgen]
impl LocalSigner {
    /// A new random key (from `crypto.getRandomValues`).
    pub fn generate() -> Result<LocalSigner, JsValue> {
        let mut entropy = crate::js::entropy()?;
        let key = SecretKey::derive(&entropy);
        entropy.fill(0);
        Ok(Self { key })
    }

    /// The key with this secret: 64 hex digits, with or without `0x`, surrounding whitespace
    /// ignored, so that the text of a `datahub keygen` key file (no `0x`, a newline) is taken
    /// as it is read.
    #[wasm_bindgen(js_name = fromSecret)]
    pub fn from_secret(secret: &str) -> Result<LocalSigner, JsValue> {
        let text = secret.trim();
        let digits = text.strip_prefix("0x").unwrap_or(text);
        let bytes = (digits.len() == 64)
            .then(|| crate::js::parse_hex_digits(digits))
            .flatten()
            .map(zeroize::Zeroizing::new)
            .ok_or_else(|| {
                input_error(
                    "InvalidSecretKey",
                    "secret key must be 64 hex digits, with or without 0x (a `datahub keygen` key file's text)",
                )
            })?;
        let key = SecretKey::from_bytes(&bytes).map_err(|e| error_from("KeyError", &e))?;
        Ok(Self { key })
    }

    /// The secret, `0x` and 64 hex digits, to store the key. Keep it secret.
    #[wasm_bindgen(js_name = exportSecret)]
    pub fn export_secret(&self) -> String {
        hex(&*self.key.to_bytes())
    }

    /// The EIP-55 checksummed address.
    #[wasm_bindgen(getter)]
    pub fn address(&self) -> String {
        self.key.address().to_checksum()
    }

    /// The uncompressed public key, `0x04` ‖ x ‖ y (as ethers' `SigningKey.publicKey`).
    #[wasm_bindgen(getter, js_name = publicKey)]
    pub fn public_key(&self) -> String {
        hex(&self.key.public_key().to_uncompressed())
    }

    /// The compressed public key, `0x02`/`0x03` ‖ x.
    #[wasm_bindgen(getter, js_name = compressedPublicKey)]
    pub fn compressed_public_key(&self) -> String {
        hex(&self.key.public_key().to_compressed())
    }

    /// Signs a message as `personal_sign` (EIP-191) does; returns the 65-byte signature as
    /// `0x` hex, `v` = 27/28.
    #[wasm_bindgen(js_name = signMessage)]
    pub fn sign_message(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | Uint8Array")] message: &JsValue,
    ) -> Result<String, JsValue> {
        let bytes = message_bytes(message)?;
        Ok(personal::sign_message(&self.key, &bytes).to_hex())
    }

    /// Signs EIP-712 typed data given as the JSON text of `eth_signTypedData_v4`
    /// (`{types, primaryType, domain, message}`; `types.EIP712Domain` may be left out).
    #[wasm_bindgen(js_name = signTypedData)]
    pub fn sign_typed_data(&self, json: &str) -> Result<String, JsValue> {
        let data = typed_data_from_json(json)?;
        data.sign(&self.key)
            .map(|s| s.to_hex())
            .map_err(|e| error_from("TypedDataError", &e))
    }

    /// Signs an HTTP request the way requesters and storage nodes sign theirs
    /// (`docs/storage-node.md` §3): `method`, the path and query, the body, the time in
    /// milliseconds since the Unix epoch and the audience (the relay's address). Send the time
    /// (in decimal) in `x-datahub-time` and the returned `0x` signature in `x-datahub-signature`.
    #[wasm_bindgen(js_name = signRequest)]
    pub fn sign_request(
        &self,
        method: &str,
        #[wasm_bindgen(js_name = pathAndQuery)] path_and_query: &str,
        #[wasm_bindgen(unchecked_param_type = "string | Uint8Array")] body: &JsValue,
        #[wasm_bindgen(js_name = timeMs)] time_ms: f64,
        audience: &str,
    ) -> Result<String, JsValue> {
        let body = message_bytes(body)?;
        if !time_ms.is_finite() || time_ms < 0.0 {
            return Err(input_error(
                "InvalidTime",
                "`timeMs` must be milliseconds since the epoch",
            ));
        }
        let audience = address(audience)?;
        let time = Timestamp::from_unix_millis(time_ms as i64);
        Ok(datahub_core::request::sign_request(
            &self.key,
            method,
            path_and_query,
            &body,
            time,
            &audience,
        )
        .to_hex())
    }

    /// Signs a 32-byte digest (`0x` hex) directly. Only for digests this code computed.
    #[wasm_bindgen(js_name = signDigest)]
    pub fn sign_digest(&self, digest: &str) -> Result<String, JsValue> {
        let bytes: [u8; 32] = parse_hex(digest)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                input_error(
                    "InvalidDigest",
                    "digest must be 0x followed by 64 hex digits",
                )
            })?;
        Ok(self.key.sign_prehash(&bytes).to_hex())
    }
}

/// The address that signed `message` with `personal_sign` (EIP-191). High-s signatures are
/// refused.
#[wasm_bindgen(js_name = recoverAddress)]
pub fn recover_address(
    #[wasm_bindgen(unchecked_param_type = "string | Uint8Array")] message: &JsValue,
    #[wasm_bindgen(js_name = signature)] signature_hex: &str,
) -> Result<String, JsValue> {
    let bytes = message_bytes(message)?;
    let sig = signature(signature_hex)?;
    personal::recover_message(&bytes, &sig)
        .map(|a| a.to_checksum())
        .map_err(|e| error_from("SignatureError", &e))
}

/// The EIP-191 digest of `message`, `0x` hex.
#[wasm_bindgen(js_name = hashMessage)]
pub fn hash_message(
    #[wasm_bindgen(unchecked_param_type = "string | Uint8Array")] message: &JsValue,
) -> Result<String, JsValue> {
    Ok(hex(&personal::hash_message(&message_bytes(message)?)))
}

/// The EIP-712 digest of typed data (JSON as for `signTypedData`), `0x` hex.
#[wasm_bindgen(js_name = hashTypedData)]
pub fn hash_typed_data(json: &str) -> Result<String, JsValue> {
    let data = typed_data_from_json(json)?;
    data.signing_hash()
        .map(|h| hex(&h))
        .map_err(|e| error_from("TypedDataError", &e))
}

/// The address that signed typed data (JSON as for `signTypedData`).
#[wasm_bindgen(js_name = recoverTypedDataAddress)]
pub fn recover_typed_data_address(
    json: &str,
    #[wasm_bindgen(js_name = signature)] signature_hex: &str,
) -> Result<String, JsValue> {
    let data = typed_data_from_json(json)?;
    let sig = signature(signature_hex)?;
    data.recover(&sig)
        .map(|a| a.to_checksum())
        .map_err(|e| error_from("TypedDataError", &e))
}

/// The EIP-55 form of an address. Throws on a wrong checksum (mixed case that is not EIP-55).
#[wasm_bindgen(js_name = toChecksumAddress)]
pub fn to_checksum_address(text: &str) -> Result<String, JsValue> {
    address(text).map(|a| a.to_checksum())
}

fn json_value(json: &Json) -> Result<Value, JsValue> {
    Ok(match json {
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::Integer(i128::from(i)),
            (_, Some(u)) => Value::Integer(i128::from(u)),
            _ => {
                return Err(input_error(
                    "InvalidNumber",
                    "typed data numbers must be integers; pass large ones as decimal strings",
                ));
            }
        },
        Json::String(s) => Value::String(s.clone()),
        Json::Array(a) => Value::Array(a.iter().map(json_value).collect::<Result<_, _>>()?),
        Json::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| Ok((k.clone(), json_value(v)?)))
                .collect::<Result<_, JsValue>>()?,
        ),
        Json::Null => {
            return Err(input_error(
                "InvalidValue",
                "typed data values cannot be null",
            ));
        }
    })
}

/// The EIP712Domain members, in the order ethers and viem infer them from a domain object.
const DOMAIN_FIELDS: [(&str, &str); 5] = [
    ("name", "string"),
    ("version", "string"),
    ("chainId", "uint256"),
    ("verifyingContract", "address"),
    ("salt", "bytes32"),
];

pub(crate) fn typed_data_from_json(json: &str) -> Result<TypedData, JsValue> {
    let bad = |what: &str| {
        input_error(
            "InvalidTypedData",
            &format!("invalid typed data JSON: {what}"),
        )
    };
    let root: Json = serde_json::from_str(json).map_err(|e| bad(&e.to_string()))?;
    let types_json = root
        .get("types")
        .and_then(Json::as_object)
        .ok_or_else(|| bad("`types` must be an object"))?;
    let mut types = BTreeMap::new();
    for (name, fields) in types_json {
        let fields = fields
            .as_array()
            .ok_or_else(|| bad("each type must be an array of {name, type}"))?
            .iter()
            .map(|f| {
                let n = f.get("name").and_then(Json::as_str);
                let t = f.get("type").and_then(Json::as_str);
                match (n, t) {
                    (Some(n), Some(t)) => Ok(Field::new(n, t)),
                    _ => Err(bad("each member must be {name, type} strings")),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        types.insert(name.clone(), fields);
    }
    let domain = root
        .get("domain")
        .cloned()
        .unwrap_or(Json::Object(Default::default()));
    let domain_members = domain
        .as_object()
        .ok_or_else(|| bad("`domain` must be an object"))?;
    if !types.contains_key("EIP712Domain") {
        let inferred = DOMAIN_FIELDS
            .iter()
            .filter(|(n, _)| domain_members.contains_key(*n))
            .map(|(n, t)| Field::new(n, t))
            .collect();
        types.insert("EIP712Domain".to_owned(), inferred);
    }
    let primary_type = root
        .get("primaryType")
        .and_then(Json::as_str)
        .ok_or_else(|| bad("`primaryType` must be a string"))?
        .to_owned();
    let message = root
        .get("message")
        .ok_or_else(|| bad("`message` is missing"))?;
    Ok(TypedData {
        types,
        primary_type,
        domain: json_value(&domain)?,
        message: json_value(message)?,
    })
}

/// A JS value as JSON (`Date`s become ISO strings).
fn to_json(value: &JsValue) -> Result<Json, JsValue> {
    let text = js_sys::JSON::stringify(value)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or_else(|| input_error("InvalidInput", "expected a plain object"))?;
    serde_json::from_str(&text).map_err(|e| input_error("InvalidInput", &e.to_string()))
}

fn from_json(json: &Json) -> JsValue {
    js_sys::JSON::parse(&json.to_string()).unwrap_or(JsValue::NULL)
}

fn get_str<'a>(o: &'a Json, key: &str) -> Option<&'a str> {
    o.get(key).and_then(Json::as_str)
}

fn time_field(o: &Json, key: &str) -> Result<Option<Timestamp>, JsValue> {
    match o.get(key) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => Timestamp::parse_rfc3339(s)
            .map(Some)
            .map_err(|e| input_error("InvalidTime", &format!("`{key}`: {e}"))),
        Some(Json::Number(n)) => n
            .as_i64()
            .map(|ms| Some(Timestamp::from_unix_millis(ms)))
            .ok_or_else(|| {
                input_error(
                    "InvalidTime",
                    &format!("`{key}` must be milliseconds or an RFC 3339 string"),
                )
            }),
        Some(_) => Err(input_error(
            "InvalidTime",
            &format!("`{key}` must be a Date, milliseconds or an RFC 3339 string"),
        )),
    }
}

fn chain_field(o: &Json) -> Result<ChainId, JsValue> {
    o.get("chainId")
        .and_then(Json::as_u64)
        .map(ChainId)
        .ok_or_else(|| input_error("InvalidChainId", "`chainId` must be a non-negative integer"))
}

fn required<'a>(o: &'a Json, key: &str) -> Result<&'a str, JsValue> {
    get_str(o, key).ok_or_else(|| input_error("MissingField", &format!("`{key}` must be a string")))
}

fn siwe_from_fields(fields: &JsValue) -> Result<SiweMessage, JsValue> {
    let o = to_json(fields)?;
    let resources = match o.get("resources") {
        None | Some(Json::Null) => Vec::new(),
        Some(Json::Array(items)) => items
            .iter()
            .map(|r| r.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                input_error(
                    "InvalidResources",
                    "`resources` must be an array of strings",
                )
            })?,
        Some(_) => {
            return Err(input_error(
                "InvalidResources",
                "`resources` must be an array of strings",
            ));
        }
    };
    let version = get_str(&o, "version").unwrap_or("1");
    if version != "1" {
        return Err(js_error(
            "SiweError",
            "Malformed",
            "invalid sign-in message: version must be \"1\"",
        ));
    }
    Ok(SiweMessage {
        scheme: get_str(&o, "scheme").map(str::to_owned),
        domain: required(&o, "domain")?.to_owned(),
        address: address(required(&o, "address")?)?,
        statement: get_str(&o, "statement")
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        uri: required(&o, "uri")?.to_owned(),
        chain_id: chain_field(&o)?,
        nonce: required(&o, "nonce")?.to_owned(),
        issued_at: time_field(&o, "issuedAt")?
            .ok_or_else(|| input_error("MissingField", "`issuedAt` is required"))?,
        expiration_time: time_field(&o, "expirationTime")?,
        not_before: time_field(&o, "notBefore")?,
        request_id: get_str(&o, "requestId")
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        resources,
    })
}

fn siwe_to_json(m: &SiweMessage) -> Json {
    let mut o = serde_json::Map::new();
    if let Some(s) = &m.scheme {
        o.insert("scheme".into(), Json::from(s.as_str()));
    }
    o.insert("domain".into(), Json::from(m.domain.as_str()));
    o.insert("address".into(), Json::from(m.address.to_checksum()));
    if let Some(s) = &m.statement {
        o.insert("statement".into(), Json::from(s.as_str()));
    }
    o.insert("uri".into(), Json::from(m.uri.as_str()));
    o.insert("version".into(), Json::from("1"));
    o.insert("chainId".into(), Json::from(m.chain_id.0));
    o.insert("nonce".into(), Json::from(m.nonce.as_str()));
    o.insert("issuedAt".into(), Json::from(m.issued_at.to_rfc3339()));
    if let Some(t) = m.expiration_time {
        o.insert("expirationTime".into(), Json::from(t.to_rfc3339()));
    }
    if let Some(t) = m.not_before {
        o.insert("notBefore".into(), Json::from(t.to_rfc3339()));
    }
    if let Some(s) = &m.request_id {
        o.insert("requestId".into(), Json::from(s.as_str()));
    }
    if !m.resources.is_empty() {
        o.insert("resources".into(), Json::from(m.resources.clone()));
    }
    Json::Object(o)
}

/// Builds a Sign-In with Ethereum message from fields shaped like viem's `createSiweMessage`
/// parameters (`address`, `chainId`, `domain`, `nonce`, `uri`, `issuedAt`, and optionally
/// `scheme`, `statement`, `expirationTime`, `notBefore`, `requestId`, `resources`; times as
/// `Date`s, RFC 3339 strings or milliseconds). Throws if a field breaks EIP-4361.
#[wasm_bindgen(js_name = buildSiweMessage)]
pub fn build_siwe_message(
    #[wasm_bindgen(unchecked_param_type = "SiweFields")] fields: &JsValue,
) -> Result<String, JsValue> {
    let message = siwe_from_fields(fields)?;
    message
        .validate()
        .map_err(|e| error_from("SiweError", &e))?;
    Ok(message.to_string())
}

/// Parses a Sign-In with Ethereum message (strict EIP-4361) into its fields; times come back
/// as RFC 3339 strings, `chainId` as a number.
#[wasm_bindgen(js_name = parseSiweMessage, unchecked_return_type = "SiweParsed")]
pub fn parse_siwe_message(text: &str) -> Result<JsValue, JsValue> {
    let message = SiweMessage::parse(text).map_err(|e| error_from("SiweError", &e))?;
    Ok(from_json(&siwe_to_json(&message)))
}

fn verifier(options: &JsValue) -> Result<SiweVerifier, JsValue> {
    let o = to_json(options)?;
    let now = time_field(&o, "now")?
        .unwrap_or_else(|| Timestamp::from_unix_millis(js_sys::Date::now() as i64));
    let mut v = SiweVerifier::new(required(&o, "domain")?, now);
    v.scheme = get_str(&o, "scheme").map(str::to_owned);
    if o.get("chainId").is_some_and(|c| !c.is_null()) {
        v.chain_id = Some(chain_field(&o)?);
    }
    Ok(v)
}

/// A nonce store backed by a JS callback `(address, nonce) => boolean` (true if the nonce is
/// fresh and is now marked used).
struct JsNonces<'a>(&'a js_sys::Function);

impl datahub_core::eth::NonceStore for JsNonces<'_> {
    fn consume(&mut self, signer: &Address, nonce: &str) -> bool {
        self.0
            .call2(
                &JsValue::NULL,
                &JsValue::from_str(&signer.to_checksum()),
                &JsValue::from_str(nonce),
            )
            .map(|v| v.is_truthy())
            .unwrap_or(false)
    }
}

/// Verifies a signed Sign-In with Ethereum message: `options` is `{domain, now?, chainId?,
/// scheme?}` (`now` defaults to the current time) and `consumeNonce(address, nonce)` must
/// return true only the first time it sees a nonce. Returns the parsed fields.
#[wasm_bindgen(js_name = verifySiweMessage, unchecked_return_type = "SiweParsed")]
pub fn verify_siwe_message(
    text: &str,
    #[wasm_bindgen(js_name = signature)] signature_hex: &str,
    #[wasm_bindgen(unchecked_param_type = "SiweVerifyOptions")] options: &JsValue,
    #[wasm_bindgen(
        js_name = consumeNonce,
        unchecked_param_type = "(address: string, nonce: string) => boolean"
    )]
    consume_nonce: &js_sys::Function,
) -> Result<JsValue, JsValue> {
    let v = verifier(options)?;
    let sig = signature(signature_hex)?;
    let message = v
        .verify(text, &sig, &mut JsNonces(consume_nonce))
        .map_err(|e| error_from("SiweError", &e))?;
    Ok(from_json(&siwe_to_json(&message)))
}

/// Builds the sign-in message that grants a session key. `fields` are those of
/// `buildSiweMessage` plus `sessionKey` (address), `expires` (time), `campaigns` (array of ids,
/// or `["*"]`) and `rewardCap` (decimal string); the message's expiration time is the session's
/// expiry unless given.
#[wasm_bindgen(js_name = buildSessionSiweMessage)]
pub fn build_session_siwe_message(
    #[wasm_bindgen(unchecked_param_type = "SessionFields")] fields: &JsValue,
) -> Result<String, JsValue> {
    let o = to_json(fields)?;
    let key = address(required(&o, "sessionKey")?)?;
    let expires = time_field(&o, "expires")?
        .ok_or_else(|| input_error("MissingField", "`expires` is required"))?;
    // Session expiries are written in whole seconds.
    let expires = Timestamp::from_unix_seconds(expires.unix_seconds());
    let campaigns = match o.get("campaigns").and_then(Json::as_array) {
        Some(items) if items.len() == 1 && items.first().and_then(Json::as_str) == Some("*") => {
            CampaignScope::Any
        }
        Some(items) => CampaignScope::Only(
            items
                .iter()
                .map(|c| c.as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .ok_or_else(|| {
                    input_error(
                        "InvalidCampaigns",
                        "`campaigns` must be an array of strings",
                    )
                })?,
        ),
        None => {
            return Err(input_error(
                "MissingField",
                "`campaigns` must be an array of campaign ids, or [\"*\"]",
            ));
        }
    };
    let cap = match o.get("rewardCap") {
        Some(Json::String(s)) => U256::parse(s).map_err(|e| error_from("InputError", &e))?,
        Some(Json::Number(n)) => n.as_u64().map(U256::from_u64).ok_or_else(|| {
            input_error(
                "InvalidRewardCap",
                "`rewardCap` must be a non-negative integer or decimal string",
            )
        })?,
        _ => {
            return Err(input_error(
                "MissingField",
                "`rewardCap` is required (decimal string)",
            ));
        }
    };
    let grant = SessionGrant {
        key,
        expires,
        campaigns,
        reward_cap: cap,
    };
    grant
        .validate()
        .map_err(|e| error_from("SessionError", &e))?;
    let mut message = siwe_from_fields(fields)?;
    if message.expiration_time.is_none() {
        message.expiration_time = Some(expires);
    }
    message.resources.extend(grant.to_resources());
    message
        .validate()
        .map_err(|e| error_from("SiweError", &e))?;
    Ok(message.to_string())
}

/// Verifies a signed session-granting sign-in message (as `verifySiweMessage`, consuming its
/// nonce) and returns `{wallet, sessionKey, expires, campaigns, rewardCap, chainId}`
/// (`campaigns` is `["*"]` for any campaign).
#[wasm_bindgen(js_name = verifySessionGrant, unchecked_return_type = "SessionGrantInfo")]
pub fn verify_session_grant(
    text: &str,
    #[wasm_bindgen(js_name = signature)] signature_hex: &str,
    #[wasm_bindgen(unchecked_param_type = "SiweVerifyOptions")] options: &JsValue,
    #[wasm_bindgen(
        js_name = consumeNonce,
        unchecked_param_type = "(address: string, nonce: string) => boolean"
    )]
    consume_nonce: &js_sys::Function,
) -> Result<JsValue, JsValue> {
    let v = verifier(options)?;
    let sig = signature(signature_hex)?;
    let session = Session::establish(&v, text, &sig, &mut JsNonces(consume_nonce))
        .map_err(|e| error_from("SessionError", &e))?;
    let campaigns = match &session.grant.campaigns {
        CampaignScope::Any => vec![String::from("*")],
        CampaignScope::Only(ids) => ids.clone(),
    };
    let mut o = serde_json::Map::new();
    o.insert("wallet".into(), Json::from(session.wallet.to_checksum()));
    o.insert(
        "sessionKey".into(),
        Json::from(session.grant.key.to_checksum()),
    );
    o.insert("expires".into(), Json::from(session.expires.to_rfc3339()));
    o.insert("campaigns".into(), Json::from(campaigns));
    o.insert(
        "rewardCap".into(),
        Json::from(session.grant.reward_cap.to_string()),
    );
    o.insert("chainId".into(), Json::from(session.chain_id.0));
    Ok(from_json(&Json::Object(o)))
}
