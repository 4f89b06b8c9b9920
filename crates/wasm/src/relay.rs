//! The relay client for JavaScript: `RelayClient.connect(baseUrl)`, sign-in with a session key
//! (`client.signIn(signer, options)`, the wallet signs once), and a `Session` that leases
//! tasks, submits answers signed by the session key (EIP-712 `SubmissionReceipt`), uploads
//! sealed objects (resuming: only missing shards are sent), reads balances and history and
//! asks for claim vouchers. The API is `docs/relay.md` and `docs/openapi.json`.
//!
//! The session key is made here and never leaves wasm memory; the relay only sees its address
//! (in the sign-in grant) and its signatures.
//!
//! Errors: the relay's answers other than 2xx are `RelayError`s whose `code` is the relay's
//! `error` field (`not_found`, `replayed`, …) and whose `status` is the HTTP status; a request
//! that got no answer is `RelayError` / `network` with `status` 0; an answer that is not the
//! JSON expected is `RelayError` / `bad_response`. Bad arguments are `InputError`s.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use datahub_core::{
    SecretKey,
    eth::{
        Address, CampaignScope, ChainId, Eip712Domain, SessionGrant, SubmissionReceipt, Timestamp,
        TypedStruct, U256, keccak256,
    },
};
use js_sys::{Array, Function, Promise, Reflect, Uint8Array};
use serde_json::{Value as Json, json};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};

use crate::js::{entropy, error_from, hex, input_error, js_error, parse_hex_loose};

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
/** Options of `RelayClient.signIn`. */
export interface SignInOptions {
  /** The chain rewards are earned for; one of `/v1/info`'s chains. */
  chainId: number;
  /** Campaign ids the session key may submit to; default ["*"] (any). */
  campaigns?: string[];
  /** The most the session may earn, in ledger units (millionths of a token); default "1000000000". */
  rewardCap?: string;
  /** How long the session lasts; default 3600. */
  ttlSeconds?: number;
  /** A sentence shown in the wallet. */
  statement?: string;
  /** The sign-in domain; default `location.host`. */
  domain?: string;
}
/** Anything that signs EIP-191 messages: a `LocalSigner` or a `WalletSigner`. */
export interface MessageSigner {
  readonly address: string;
  signMessage(message: string): string | Promise<string>;
}
/** Progress of an upload: shards sent of those to send this time (`shard`: the one just sent). */
export interface UploadProgress { sent: number; total: number; shard: string; }
/** Options of `Session.upload` and `Session.resumeUpload`. */
export interface UploadOptions {
  /**
   * Called after each shard, in the order they finish; throwing from it stops the upload: no
   * new shard is started, those in flight finish, and the upload rejects (resume it later).
   */
  onProgress?: (progress: UploadProgress) => void;
  /** Shards in flight at once, 1 to 16; default 4. */
  concurrency?: number;
}
/** Options of `Session.submit`. */
export interface SubmitOptions {
  /** The sealed object the answer refers to (64 hex digits), for upload tasks. */
  manifestId?: string;
  /** The campaign's `licence` (`""` or left out when it states none): the receipt signs it. */
  licence?: string;
  /** `termsHash(campaign.terms)` of the terms shown to the contributor (left out: none). */
  termsHash?: string;
}
"#;

/// The `termsHash` a receipt signs for a campaign's `terms` as shown to the contributor: the
/// BLAKE3 of their UTF-8 text, `0x` and 64 hex digits. The relay refuses a submission whose
/// hash is not that of its campaign's terms (`terms_not_accepted`).
#[wasm_bindgen(js_name = termsHash)]
pub fn terms_hash(terms: &str) -> String {
    hex(&SubmissionReceipt::terms_hash(Some(terms)))
}

#[wasm_bindgen]
extern "C" {
    /// The global `fetch` (a window's or a worker's).
    #[wasm_bindgen(js_name = fetch)]
    fn global_fetch(request: &web_sys::Request) -> Promise;
}

/// How long a submission receipt is valid.
const RECEIPT_TTL_SECS: i64 = 600;

/// The largest integer a JavaScript number holds exactly (2^53 - 1).
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

fn relay_error(code: &str, status: u16, message: &str) -> JsValue {
    let error = js_error("RelayError", code, message);
    let _ = Reflect::set(&error, &"status".into(), &JsValue::from(status));
    error
}

fn bad_response(what: &str) -> JsValue {
    relay_error(
        "bad_response",
        0,
        &format!("the relay's answer is not what was expected: {what}"),
    )
}

fn get(target: &JsValue, key: &str) -> JsValue {
    Reflect::get(target, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

fn option(options: &JsValue, key: &str) -> Option<JsValue> {
    if !options.is_object() {
        return None;
    }
    let value = get(options, key);
    (!value.is_undefined() && !value.is_null()).then_some(value)
}

fn now() -> Timestamp {
    Timestamp::from_unix_millis(js_sys::Date::now() as i64)
}

fn to_js(json: &Json) -> JsValue {
    js_sys::JSON::parse(&json.to_string()).unwrap_or(JsValue::NULL)
}

fn component(text: &str) -> String {
    String::from(js_sys::encode_uri_component(text))
}

/// A request body.
enum Body {
    None,
    Json(String),
    Bytes(JsValue),
}

/// One HTTP request to the relay; a 2xx answer's body parsed as JSON.
async fn call(method: &str, url: &str, token: Option<&str>, body: Body) -> Result<Json, JsValue> {
    let network = |e: JsValue| {
        let detail = e
            .dyn_ref::<js_sys::Error>()
            .map(|e| String::from(e.message()))
            .unwrap_or_default();
        relay_error(
            "network",
            0,
            &format!(
                "{method} {url}: the relay did not answer, check the address and the connection ({detail})"
            ),
        )
    };
    let headers = web_sys::Headers::new()?;
    if let Some(token) = token {
        headers.set("authorization", &format!("Bearer {token}"))?;
    }
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    match body {
        Body::None => {}
        Body::Json(text) => {
            headers.set("content-type", "application/json")?;
            init.set_body(&JsValue::from_str(&text));
        }
        Body::Bytes(bytes) => {
            headers.set("content-type", "application/octet-stream")?;
            init.set_body(&bytes);
        }
    }
    init.set_headers(&headers);
    let request = web_sys::Request::new_with_str_and_init(url, &init).map_err(network)?;
    let response: web_sys::Response = JsFuture::from(global_fetch(&request))
        .await
        .map_err(network)?
        .dyn_into()
        .map_err(|_| bad_response("fetch did not give a Response"))?;
    let status = response.status();
    let text = JsFuture::from(response.text()?)
        .await
        .map_err(network)?
        .as_string()
        .unwrap_or_default();
    let parsed: Option<Json> = serde_json::from_str(&text).ok();
    if response.ok() {
        return parsed.ok_or_else(|| bad_response(&format!("{method} {url} answered no JSON")));
    }
    let field = |key: &str| {
        parsed
            .as_ref()
            .and_then(|p| p.get(key))
            .and_then(Json::as_str)
            .map(str::to_owned)
    };
    let code = field("error").unwrap_or_else(|| format!("http_{status}"));
    let message = field("message").unwrap_or_else(|| format!("{method} {url}: HTTP {status}"));
    Err(relay_error(&code, status, &message))
}

/// A chain the relay pays on, with the EIP-712 domain receipts are signed under.
struct Chain {
    id: u64,
    domain: Eip712Domain,
}

struct Relay {
    base: String,
    info: Json,
    chains: Vec<Chain>,
}

impl Relay {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn chain(&self, id: u64) -> Option<&Chain> {
        self.chains.iter().find(|c| c.id == id)
    }
}

fn parse_chains(info: &Json) -> Result<Vec<Chain>, JsValue> {
    let Some(chains) = info.get("chains").and_then(Json::as_array) else {
        return Err(bad_response("/v1/info has no `chains`"));
    };
    chains
        .iter()
        .map(|c| {
            let id = c
                .get("id")
                .and_then(Json::as_u64)
                .ok_or_else(|| bad_response("a chain without an id"))?;
            let d = c.get("domain").unwrap_or(&Json::Null);
            let text = |key: &str| d.get(key).and_then(Json::as_str).map(str::to_owned);
            let contract = text("verifyingContract")
                .or_else(|| {
                    c.get("claim_contract")
                        .and_then(Json::as_str)
                        .map(str::to_owned)
                })
                .ok_or_else(|| bad_response("a chain without a claim contract"))?;
            let verifying_contract =
                Address::parse(&contract).map_err(|e| error_from("AddressError", &e))?;
            Ok(Chain {
                id,
                domain: Eip712Domain {
                    name: text("name").unwrap_or_else(|| "DataHub".to_owned()),
                    version: text("version").unwrap_or_else(|| "1".to_owned()),
                    chain_id: ChainId(id),
                    verifying_contract,
                },
            })
        })
        .collect()
}

/// A connection to one relay: its address, chains and their EIP-712 domains.
#[wasm_bindgen]
pub struct RelayClient {
    relay: Rc<Relay>,
}

#[wasm_bindgen]
impl RelayClient {
    /// Reads the relay's `/v1/info` at `baseUrl` (e.g. `https://relay.example.org` or
    /// `location.origin`).
    pub async fn connect(
        #[wasm_bindgen(js_name = baseUrl)] base_url: String,
    ) -> Result<RelayClient, JsValue> {
        let base = base_url.trim_end_matches('/').to_owned();
        let info = call("GET", &format!("{base}/v1/info"), None, Body::None).await?;
        let chains = parse_chains(&info)?;
        Ok(Self {
            relay: Rc::new(Relay { base, info, chains }),
        })
    }

    /// The relay's base URL, without a trailing `/`.
    #[wasm_bindgen(getter, js_name = baseUrl)]
    pub fn base_url(&self) -> String {
        self.relay.base.clone()
    }

    /// The relay's address (the audience of signed requests).
    #[wasm_bindgen(getter, js_name = relayAddress)]
    pub fn relay_address(&self) -> String {
        self.relay
            .info
            .get("relay_address")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_owned()
    }

    /// The address that signs vouchers.
    #[wasm_bindgen(getter, js_name = treasuryAddress)]
    pub fn treasury_address(&self) -> String {
        self.relay
            .info
            .get("treasury_address")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_owned()
    }

    /// `/v1/info` as the relay answered it.
    #[wasm_bindgen(getter)]
    pub fn info(&self) -> JsValue {
        to_js(&self.relay.info)
    }

    /// The open campaigns (`GET /v1/campaigns`) with their rewards: browsing them needs no
    /// sign-in.
    #[wasm_bindgen(unchecked_return_type = "Promise<any>")]
    pub fn campaigns(&self) -> Promise {
        let url = self.relay.url("/v1/campaigns");
        future_to_promise(async move { Ok(to_js(&call("GET", &url, None, Body::None).await?)) })
    }

    /// Signs in: asks the relay for a nonce, makes a fresh session key, has `signer` (a
    /// `LocalSigner` or a `WalletSigner`) sign one Sign-In with Ethereum message granting it,
    /// and opens the session. The wallet is not asked again: the session key signs submissions.
    #[wasm_bindgen(js_name = signIn, unchecked_return_type = "Promise<Session>")]
    pub fn sign_in(
        &self,
        #[wasm_bindgen(unchecked_param_type = "MessageSigner")] signer: JsValue,
        #[wasm_bindgen(unchecked_param_type = "SignInOptions")] options: JsValue,
    ) -> Result<Promise, JsValue> {
        let session = self.start_sign_in(signer, options)?;
        Ok(future_to_promise(async move {
            session.await.map(JsValue::from)
        }))
    }
}

impl RelayClient {
    /// `signIn` for Rust callers: checks the arguments now, signs in when awaited.
    pub(crate) fn start_sign_in(
        &self,
        signer: JsValue,
        options: JsValue,
    ) -> Result<impl std::future::Future<Output = Result<Session, JsValue>> + 'static, JsValue>
    {
        let relay = Rc::clone(&self.relay);
        let chain_id = option(&options, "chainId")
            .and_then(|c| c.as_f64())
            .filter(|c| c.fract() == 0.0 && *c >= 0.0)
            .map(|c| c as u64)
            .ok_or_else(|| {
                input_error("InvalidChainId", "`chainId` must be a chain of the relay")
            })?;
        if relay.chain(chain_id).is_none() {
            return Err(input_error(
                "InvalidChainId",
                &format!("the relay pays on no chain {chain_id}: pick one of /v1/info's chains"),
            ));
        }
        let campaigns = match option(&options, "campaigns") {
            None => CampaignScope::Any,
            Some(list) => {
                let ids = Array::from(&list)
                    .iter()
                    .map(|c| c.as_string())
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| {
                        input_error(
                            "InvalidCampaigns",
                            "`campaigns` must be an array of strings",
                        )
                    })?;
                if ids.len() == 1 && ids.first().map(String::as_str) == Some("*") {
                    CampaignScope::Any
                } else {
                    CampaignScope::Only(ids)
                }
            }
        };
        let cap_text = option(&options, "rewardCap")
            .map(|c| {
                // A whole number as its digits (an integer type's formatting: the float one
                // weighs about 14 KB of the .wasm); anything else is refused below.
                c.as_string().or_else(|| {
                    c.as_f64()
                        .filter(|n| n.fract() == 0.0 && (0.0..=MAX_SAFE_INTEGER).contains(n))
                        .map(|n| (n as u64).to_string())
                })
            })
            .unwrap_or_else(|| Some("1000000000".to_owned()))
            .ok_or_else(|| {
                input_error("InvalidRewardCap", "`rewardCap` must be a decimal string")
            })?;
        let reward_cap = U256::parse(&cap_text).map_err(|e| error_from("InputError", &e))?;
        let ttl = option(&options, "ttlSeconds")
            .and_then(|t| t.as_f64())
            .unwrap_or(3600.0);
        if !(1.0..=31_536_000.0).contains(&ttl) {
            return Err(input_error(
                "InvalidTtl",
                "`ttlSeconds` must be between 1 and 31536000",
            ));
        }
        let statement = option(&options, "statement").and_then(|s| s.as_string());
        let domain = match option(&options, "domain").and_then(|d| d.as_string()) {
            Some(d) => d,
            None => get(&get(&js_sys::global(), "location"), "host")
                .as_string()
                .ok_or_else(|| {
                    input_error(
                        "MissingDomain",
                        "no `location.host` here: pass the sign-in `domain`",
                    )
                })?,
        };
        let wallet = get(&signer, "address")
            .as_string()
            .ok_or_else(|| input_error("InvalidSigner", "the signer has no `address`"))?;
        let wallet = Address::parse(&wallet).map_err(|e| error_from("AddressError", &e))?;
        let sign: Function = get(&signer, "signMessage")
            .dyn_into()
            .map_err(|_| input_error("InvalidSigner", "the signer has no `signMessage` method"))?;

        let mut seed = entropy()?;
        let key = SecretKey::derive(&seed);
        seed.fill(0);

        Ok(async move {
            let nonce = call("POST", &relay.url("/v1/auth/nonce"), None, Body::None).await?;
            let nonce = nonce
                .get("nonce")
                .and_then(Json::as_str)
                .ok_or_else(|| bad_response("/v1/auth/nonce gave no nonce"))?
                .to_owned();
            let issued = now();
            let grant = SessionGrant {
                key: key.address(),
                expires: Timestamp::from_unix_seconds(issued.unix_seconds() + ttl as i64),
                campaigns,
                reward_cap,
            };
            grant
                .validate()
                .map_err(|e| error_from("SessionError", &e))?;
            // The relay accepts only a URI on the signing site's origin: its own URL when it
            // serves the page, else the site's https origin.
            let uri = match relay.base.split_once("://") {
                Some((_, authority)) if authority == domain => relay.base.clone(),
                _ => format!("https://{domain}/"),
            };
            let message = grant
                .siwe_message(
                    wallet,
                    &domain,
                    &uri,
                    ChainId(chain_id),
                    &nonce,
                    Timestamp::from_unix_seconds(issued.unix_seconds()),
                    statement.as_deref(),
                )
                .to_string();
            let mut signature = sign.call1(&signer, &JsValue::from_str(&message))?;
            if signature.is_instance_of::<Promise>() {
                signature = JsFuture::from(Promise::from(signature)).await?;
            }
            let signature = signature
                .as_string()
                .ok_or_else(|| input_error("InvalidSigner", "signMessage gave no signature"))?;
            let body = json!({ "message": message, "signature": signature }).to_string();
            let answer = call(
                "POST",
                &relay.url("/v1/auth/session"),
                None,
                Body::Json(body),
            )
            .await?;
            let token = answer
                .get("token")
                .and_then(Json::as_str)
                .ok_or_else(|| bad_response("/v1/auth/session gave no token"))?
                .to_owned();
            Ok(Session {
                relay,
                token,
                key: Rc::new(key),
                chain_id,
                answer,
            })
        })
    }
}

/// A signed-in contributor: a bearer token and the session key that signs submissions.
#[wasm_bindgen]
pub struct Session {
    relay: Rc<Relay>,
    token: String,
    key: Rc<SecretKey>,
    chain_id: u64,
    answer: Json,
}

impl Session {
    fn field(&self, key: &str) -> String {
        self.answer
            .get(key)
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_owned()
    }

    /// Sends a request with the session's token, in a Promise.
    fn request(&self, method: &'static str, path: String, body: Body) -> Promise {
        let url = self.relay.url(&path);
        let token = self.token.clone();
        future_to_promise(async move {
            let answer = call(method, &url, Some(&token), body).await?;
            Ok(to_js(&answer))
        })
    }
}

fn lease_id(lease: &JsValue) -> Result<String, JsValue> {
    lease
        .as_string()
        .or_else(|| get(lease, "lease").as_string())
        .ok_or_else(|| input_error("InvalidLease", "pass a task or its lease id"))
}

#[wasm_bindgen]
impl Session {
    /// The wallet that signed in.
    #[wasm_bindgen(getter)]
    pub fn wallet(&self) -> String {
        self.field("wallet")
    }

    /// The session key's address (the key itself stays in wasm memory).
    #[wasm_bindgen(getter, js_name = sessionKey)]
    pub fn session_key(&self) -> String {
        self.key.address().to_checksum()
    }

    /// The chain rewards are earned for.
    #[wasm_bindgen(getter, js_name = chainId)]
    pub fn chain_id(&self) -> f64 {
        self.chain_id as f64
    }

    /// When the session ends (RFC 3339).
    #[wasm_bindgen(getter, js_name = expiresAt)]
    pub fn expires_at(&self) -> String {
        self.field("expires_at")
    }

    /// The bearer token (`Authorization: Bearer …`), for requests this client does not make.
    #[wasm_bindgen(getter)]
    pub fn token(&self) -> String {
        self.token.clone()
    }

    /// Signs out: the relay revokes the session's token (`POST /v1/auth/signout`), so it is
    /// refused from then on, by every relay sharing the database. Resolves to
    /// `{signed_out: true}`; a token already signed out or expired rejects with `RelayError`
    /// (status 401). Forget the `Session` either way.
    #[wasm_bindgen(js_name = signOut, unchecked_return_type = "Promise<any>")]
    pub fn sign_out(&self) -> Promise {
        self.request("POST", "/v1/auth/signout".into(), Body::None)
    }

    /// Active campaigns, newest first: `{campaigns: [...]}`.
    #[wasm_bindgen(unchecked_return_type = "Promise<any>")]
    pub fn campaigns(&self) -> Promise {
        self.request("GET", "/v1/campaigns".into(), Body::None)
    }

    /// Leases the next task of a campaign: `{lease, campaign, kind, item, expires_at,
    /// submit_after, reward, token}`.
    #[wasm_bindgen(js_name = nextTask, unchecked_return_type = "Promise<any>")]
    pub fn next_task(&self, #[wasm_bindgen(js_name = campaignId)] campaign_id: &str) -> Promise {
        let path = format!("/v1/campaigns/{}/next", component(campaign_id));
        self.request("POST", path, Body::None)
    }

    /// Gives a leased task back (a task, or its lease id).
    #[wasm_bindgen(unchecked_return_type = "Promise<any>")]
    pub fn skip(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | { lease: string }")] lease: &JsValue,
    ) -> Result<Promise, JsValue> {
        let path = format!("/v1/leases/{}/skip", component(&lease_id(lease)?));
        Ok(self.request("POST", path, Body::None))
    }

    /// Submits `answer` (a JS object, sent as its `JSON.stringify` text) to a leased `task`,
    /// with an EIP-712 `SubmissionReceipt` signed by the session key. Resolves to the outcome
    /// `{submission, status, credited, token, balance, duplicate}` plus `body`: the exact
    /// request body, which `resubmit` sends again (a retry is answered `duplicate: true` and
    /// credits nothing).
    #[wasm_bindgen(unchecked_return_type = "Promise<any>")]
    pub fn submit(
        &self,
        task: &JsValue,
        answer: &JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "SubmitOptions")] options: JsValue,
    ) -> Result<Promise, JsValue> {
        let lease = lease_id(task)?;
        let campaign = get(task, "campaign").as_string().ok_or_else(|| {
            input_error(
                "InvalidTask",
                "the task has no `campaign`: pass what nextTask gave",
            )
        })?;
        let answer = js_sys::JSON::stringify(answer)
            .ok()
            .and_then(|s| s.as_string())
            .ok_or_else(|| {
                input_error(
                    "InvalidAnswer",
                    "the answer must be a JSON-serialisable object",
                )
            })?;
        let manifest = match option(&options, "manifestId") {
            None => None,
            Some(m) => {
                let bytes: [u8; 32] = m
                    .as_string()
                    .and_then(|t| parse_hex_loose(&t))
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| {
                        input_error("InvalidManifestId", "`manifestId` must be 64 hex digits")
                    })?;
                Some(bytes)
            }
        };
        let licence = match option(&options, "licence") {
            None => String::new(),
            Some(l) => l.as_string().filter(|l| l.len() <= 64).ok_or_else(|| {
                input_error(
                    "InvalidLicence",
                    "`licence` must be the campaign's licence id (at most 64 characters)",
                )
            })?,
        };
        let terms_hash = match option(&options, "termsHash") {
            None => [0u8; 32],
            Some(h) => h
                .as_string()
                .and_then(|t| parse_hex_loose(&t))
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| {
                    input_error(
                        "InvalidTermsHash",
                        "`termsHash` must be 64 hex digits: termsHash(campaign.terms)",
                    )
                })?,
        };
        let chain = self
            .relay
            .chain(self.chain_id)
            .ok_or_else(|| bad_response("the session's chain is not in /v1/info"))?;
        let random = entropy()?;
        let mut nonce = [0u8; 16];
        nonce.copy_from_slice(random.get(..16).unwrap_or(&[0u8; 16]));
        let receipt = SubmissionReceipt {
            campaign,
            task: lease,
            answer_hash: keccak256(answer.as_bytes()),
            manifest_id: manifest.unwrap_or([0u8; 32]),
            nonce: U256::from_u128(u128::from_be_bytes(nonce)),
            deadline: u64::try_from(now().unix_seconds() + RECEIPT_TTL_SECS).unwrap_or(0),
            licence,
            terms_hash,
        };
        let signature = receipt.sign(&self.key, &chain.domain);
        let mut body = json!({
            "campaign": receipt.campaign,
            "task": receipt.task,
            "answer": answer,
            "nonce": receipt.nonce.to_string(),
            "deadline": receipt.deadline,
            "signature": signature.to_hex(),
            "licence": receipt.licence,
            "terms_hash": hex(&receipt.terms_hash),
        });
        if let (Some(m), Some(o)) = (manifest, body.as_object_mut()) {
            let digits = hex(&m);
            o.insert(
                "manifest_id".into(),
                Json::from(digits.trim_start_matches("0x")),
            );
        }
        Ok(self.post_submission(body))
    }

    /// Sends a submission body again (the `body` of a `submit` outcome): a retry after a lost
    /// answer. The relay answers the stored outcome, `duplicate: true`, and credits nothing.
    #[wasm_bindgen(unchecked_return_type = "Promise<any>")]
    pub fn resubmit(&self, body: &JsValue) -> Result<Promise, JsValue> {
        let text = js_sys::JSON::stringify(body)
            .ok()
            .and_then(|s| s.as_string())
            .ok_or_else(|| input_error("InvalidBody", "pass the `body` of a submit outcome"))?;
        let body: Json = serde_json::from_str(&text)
            .map_err(|_| input_error("InvalidBody", "pass the `body` of a submit outcome"))?;
        Ok(self.post_submission(body))
    }

    /// Uploads a sealed object (what `sealBytes` gives: `{manifest, shards, shardIds}`): sends
    /// the manifest, then the shards the relay says are missing, `concurrency` (default 4) at a
    /// time, calling `onProgress({sent, total, shard})` as each finishes. Resolves to the object
    /// id. If `onProgress` throws, no new shard starts, those in flight finish, and the upload
    /// rejects with that error; `resumeUpload` (or `upload` again) sends the rest.
    #[wasm_bindgen(unchecked_return_type = "Promise<string>")]
    pub fn upload(
        &self,
        #[wasm_bindgen(unchecked_param_type = "SealedObject")] sealed: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "UploadOptions")] options: JsValue,
    ) -> Result<Promise, JsValue> {
        self.send_object(sealed, options, false)
    }

    /// Resumes an upload: asks the relay which shards of `sealed` are missing
    /// (`GET /v1/objects/{id}/missing`) and sends only those.
    #[wasm_bindgen(js_name = resumeUpload, unchecked_return_type = "Promise<string>")]
    pub fn resume_upload(
        &self,
        #[wasm_bindgen(unchecked_param_type = "SealedObject")] sealed: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "UploadOptions")] options: JsValue,
    ) -> Result<Promise, JsValue> {
        self.send_object(sealed, options, true)
    }

    /// Balances per token and what is claimable on each chain.
    #[wasm_bindgen(unchecked_return_type = "Promise<any>")]
    pub fn balances(&self) -> Promise {
        self.request("GET", "/v1/me/balances".into(), Body::None)
    }

    /// Where the contributor stands in each campaign worked on (trust, answers accepted and
    /// rejected, probation, restriction and why) and their appeals.
    #[wasm_bindgen(unchecked_return_type = "Promise<any>")]
    pub fn standing(&self) -> Promise {
        self.request("GET", "/v1/me/standing".into(), Body::None)
    }

    /// Appeals a rejected submission of this wallet's, once, with a short reason (1 to 500
    /// characters): the campaign's requester or an operator answers it.
    #[wasm_bindgen(unchecked_return_type = "Promise<any>")]
    pub fn appeal(&self, submission: &str, reason: &str) -> Promise {
        let body = json!({ "submission": submission, "reason": reason });
        self.request("POST", "/v1/appeals".into(), Body::Json(body.to_string()))
    }

    /// Ledger entries and submissions, newest first.
    #[wasm_bindgen(unchecked_return_type = "Promise<any>")]
    pub fn history(&self) -> Promise {
        self.request("GET", "/v1/me/history".into(), Body::None)
    }

    /// Turns everything of `token` claimable on `chainId` into a voucher signed by the
    /// treasury (`{id, chain_id, token, amount_tokens, signature, issued_at, typed_data}`).
    /// The same `requestId` again answers the same voucher; by default it is random.
    #[wasm_bindgen(unchecked_return_type = "Promise<any>")]
    pub fn claim(
        &self,
        #[wasm_bindgen(js_name = chainId)] chain_id: u32,
        token: &str,
        #[wasm_bindgen(js_name = requestId)] request_id: Option<String>,
    ) -> Result<Promise, JsValue> {
        let request_id = match request_id {
            Some(id) => id,
            None => {
                let random = entropy()?;
                hex(random.get(..16).unwrap_or(&[]))
                    .trim_start_matches("0x")
                    .to_owned()
            }
        };
        let body = json!({ "chain_id": chain_id, "token": token, "request_id": request_id });
        Ok(self.request("POST", "/v1/claims".into(), Body::Json(body.to_string())))
    }

    /// The contributor's vouchers: `{vouchers: [...]}`.
    #[wasm_bindgen(unchecked_return_type = "Promise<any>")]
    pub fn vouchers(&self) -> Promise {
        self.request("GET", "/v1/claims".into(), Body::None)
    }
}

impl Session {
    fn post_submission(&self, body: Json) -> Promise {
        let url = self.relay.url("/v1/submissions");
        let token = self.token.clone();
        future_to_promise(async move {
            let outcome = call("POST", &url, Some(&token), Body::Json(body.to_string())).await?;
            let out = to_js(&outcome);
            let _ = Reflect::set(&out, &"body".into(), &to_js(&body));
            Ok(out)
        })
    }

    fn send_object(
        &self,
        sealed: JsValue,
        options: JsValue,
        resume: bool,
    ) -> Result<Promise, JsValue> {
        let manifest = get(&sealed, "manifest");
        if !manifest.is_instance_of::<Uint8Array>() {
            return Err(input_error(
                "InvalidSealed",
                "pass what sealBytes gave: {manifest, shards, shardIds}",
            ));
        }
        // shard id -> the shard's bytes, as JS gave them (not copied into wasm memory).
        let mut shards: HashMap<String, JsValue> = HashMap::new();
        let ids = Array::from(&get(&sealed, "shardIds"));
        let bytes = Array::from(&get(&sealed, "shards"));
        for (segment_ids, segment) in ids.iter().zip(bytes.iter()) {
            for (id, shard) in Array::from(&segment_ids)
                .iter()
                .zip(Array::from(&segment).iter())
            {
                if let Some(id) = id.as_string() {
                    shards.insert(id, shard);
                }
            }
        }
        let on_progress = option(&options, "onProgress")
            .map(|f| f.dyn_into::<Function>())
            .transpose()
            .map_err(|_| input_error("InvalidOptions", "`onProgress` must be a function"))?;
        let concurrency = match option(&options, "concurrency") {
            None => DEFAULT_UPLOAD_CONCURRENCY,
            Some(n) => n
                .as_f64()
                .filter(|n| n.fract() == 0.0 && (1.0..=MAX_UPLOAD_CONCURRENCY as f64).contains(n))
                .map(|n| n as usize)
                .ok_or_else(|| {
                    input_error(
                        "InvalidOptions",
                        &format!(
                            "`concurrency` must be a whole number from 1 to {MAX_UPLOAD_CONCURRENCY}"
                        ),
                    )
                })?,
        };
        let object_id = get(&sealed, "objectId").as_string();
        let relay = Rc::clone(&self.relay);
        let token = self.token.clone();
        Ok(future_to_promise(async move {
            let state = match (resume, object_id) {
                (true, Some(id)) => {
                    let url = relay.url(&format!("/v1/objects/{}/missing", component(&id)));
                    call("GET", &url, Some(&token), Body::None).await?
                }
                _ => {
                    let url = relay.url("/v1/objects");
                    call("POST", &url, Some(&token), Body::Bytes(manifest)).await?
                }
            };
            let id = state
                .get("object")
                .and_then(Json::as_str)
                .ok_or_else(|| bad_response("no `object` in the upload state"))?
                .to_owned();
            let missing = state
                .get("missing")
                .and_then(Json::as_array)
                .ok_or_else(|| bad_response("no `missing` in the upload state"))?;
            // Every shard asked for is found before any is sent, so a sealed object that does
            // not match the relay's fails at once instead of half-way.
            let mut queue = VecDeque::with_capacity(missing.len());
            for shard_id in missing.iter().filter_map(Json::as_str) {
                let shard = shards.get(shard_id).cloned().ok_or_else(|| {
                    input_error(
                        "MissingShard",
                        &format!("the relay wants shard {shard_id}, which this sealed object does not have"),
                    )
                })?;
                queue.push_back((shard_id.to_owned(), shard));
            }
            let upload = Rc::new(ShardUpload {
                relay,
                token,
                object: id.clone(),
                total: queue.len(),
                queue: RefCell::new(queue),
                sent: Cell::new(0),
                on_progress,
                failed: RefCell::new(None),
            });
            // Each worker sends one shard at a time: `concurrency` requests in flight, so one
            // slow request (a slow node behind the relay, a slow link) does not hold the others.
            let workers: Array = (0..concurrency.min(upload.total))
                .map(|_| {
                    let upload = Rc::clone(&upload);
                    JsValue::from(future_to_promise(async move {
                        upload.work().await;
                        Ok(JsValue::UNDEFINED)
                    }))
                })
                .collect();
            JsFuture::from(Promise::all(&workers)).await?;
            match upload.failed.borrow_mut().take() {
                Some(error) => Err(error),
                None => Ok(JsValue::from_str(&id)),
            }
        }))
    }
}

/// Shards in flight at once when the caller does not say.
const DEFAULT_UPLOAD_CONCURRENCY: usize = 4;
/// The most shards in flight at once a caller may ask for (browsers keep about 6 connections
/// per origin over HTTP/1.1; more would only queue inside the browser).
const MAX_UPLOAD_CONCURRENCY: usize = 16;

/// One upload's shared state, worked through by several workers.
struct ShardUpload {
    relay: Rc<Relay>,
    token: String,
    object: String,
    total: usize,
    /// Shards not yet started: (id, bytes).
    queue: RefCell<VecDeque<(String, JsValue)>>,
    /// Shards the relay accepted.
    sent: Cell<usize>,
    on_progress: Option<Function>,
    /// The first error; once set, no new shard is started.
    failed: RefCell<Option<JsValue>>,
}

impl ShardUpload {
    /// Sends shards from the queue until it is empty or the upload failed.
    async fn work(&self) {
        loop {
            if self.failed.borrow().is_some() {
                return;
            }
            let Some((shard_id, shard)) = self.queue.borrow_mut().pop_front() else {
                return;
            };
            let url = self.relay.url(&format!(
                "/v1/objects/{}/shards/{}",
                component(&self.object),
                component(&shard_id)
            ));
            let result = match call("PUT", &url, Some(&self.token), Body::Bytes(shard)).await {
                Ok(_) => self.progress(&shard_id),
                Err(e) => Err(e),
            };
            if let Err(error) = result {
                self.failed.borrow_mut().get_or_insert(error);
                return;
            }
        }
    }

    /// Counts a shard sent and tells `onProgress`, unless the upload already failed (then the
    /// caller has been told to stop hearing about it).
    fn progress(&self, shard_id: &str) -> Result<(), JsValue> {
        if self.failed.borrow().is_some() {
            return Ok(());
        }
        self.sent.set(self.sent.get() + 1);
        if let Some(f) = &self.on_progress {
            let progress =
                to_js(&json!({ "sent": self.sent.get(), "total": self.total, "shard": shard_id }));
            f.call1(&JsValue::NULL, &progress)?;
        }
        Ok(())
    }
}
