//! The wallet bridge: a `WalletSigner` that signs through an EIP-1193 provider (the user's
//! wallet) instead of a local key.
//!
//! Providers are found, in this order unless the caller picks: EIP-6963 announcements
//! (`eip6963:requestProvider` / `eip6963:announceProvider`), Binance Wallet's
//! `window.binancew3w.ethereum`, then `window.ethereum`. Signing uses `personal_sign` (the
//! message hex-encoded, then the address) and `eth_signTypedData_v4` (the address, then the
//! JSON text), and every signature the wallet returns is recovered and checked against the
//! account before it is handed on.
//!
//! Errors: `name` `WalletError`, `code` one of `NoWallet`, `NoAccounts`, `UserRejected`
//! (EIP-1193 code 4001), `Unauthorized` (4100), `UnsupportedMethod` (4200), `Disconnected`
//! (4900, 4901), `RequestPending` (-32002), `RequestFailed` (any other), `WrongSigner`; the
//! provider's numeric code, when it gave one, is in `providerCode`.

use datahub_core::eth::{Address, RewardVoucher, Signature, U256, abi, personal};
use js_sys::{Array, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};

use crate::js::{error_from, hex, input_error, js_error, parse_hex};
use crate::signer::{message_bytes, typed_data_from_json};

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
/** An EIP-1193 provider: what wallets inject. */
export interface Eip1193Provider {
  request(args: { method: string; params?: unknown[] | object }): Promise<unknown>;
}
/** Where a wallet was found. */
export type WalletSource = "eip6963" | "binancew3w" | "ethereum" | "custom";
/** EIP-6963's provider info. */
export interface Eip6963Info { uuid: string; name: string; icon: string; rdns: string; }
/** A wallet the page can see. `info` is set for EIP-6963 wallets only. */
export interface WalletInfo { source: WalletSource; provider: Eip1193Provider; info: Eip6963Info | null; }
/** How `WalletSigner.discover` and `connect` look for a wallet. */
export interface WalletOptions {
  /** Try this source first; the others follow in the default order. */
  prefer?: "eip6963" | "binancew3w" | "ethereum";
  /** Only the EIP-6963 wallet with this reverse-DNS id (e.g. "io.metamask"). */
  rdns?: string;
  /** Use this provider and look for no other. */
  provider?: Eip1193Provider;
  /** How long to wait for EIP-6963 announcements, in ms (default 100). */
  timeoutMs?: number;
}
"#;

#[wasm_bindgen(module = "/js/wallet.js")]
extern "C" {
    #[wasm_bindgen(js_name = discoverWallets)]
    fn discover_wallets(timeout_ms: f64) -> Promise;
    #[wasm_bindgen(js_name = request)]
    fn provider_request(provider: &JsValue, method: &str, params: &JsValue) -> Promise;
}

const DEFAULT_TIMEOUT_MS: f64 = 100.0;
const SOURCES: [&str; 3] = ["eip6963", "binancew3w", "ethereum"];

fn wallet_error(code: &str, message: &str) -> JsValue {
    js_error("WalletError", code, message)
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

/// Sends one request; a provider's failure becomes a `WalletError` with its code.
async fn request(provider: &JsValue, method: &str, params: Array) -> Result<JsValue, JsValue> {
    let outcome = JsFuture::from(provider_request(provider, method, &params)).await?;
    if get(&outcome, "ok").is_truthy() {
        return Ok(get(&outcome, "value"));
    }
    let provider_code = get(&outcome, "code").as_f64();
    let message = get(&outcome, "message").as_string().unwrap_or_default();
    let (code, text) = match provider_code.map(|c| c as i64) {
        Some(4001) => (
            "UserRejected",
            "the user rejected the request in the wallet",
        ),
        Some(4100) => (
            "Unauthorized",
            "the wallet has not authorized this site or account: connect again",
        ),
        Some(4200) => (
            "UnsupportedMethod",
            "the wallet does not support this method",
        ),
        Some(4900 | 4901) => (
            "Disconnected",
            "the wallet is disconnected: reconnect it and try again",
        ),
        Some(-32002) => (
            "RequestPending",
            "the wallet already has a request waiting: answer it in the wallet",
        ),
        _ => ("RequestFailed", "the wallet could not complete the request"),
    };
    let error = wallet_error(code, &format!("{method}: {text} ({message})"));
    if let Some(c) = provider_code {
        let _ = Reflect::set(&error, &"providerCode".into(), &JsValue::from(c));
    }
    Err(error)
}

/// The wallets the page can see, in the order `options` asks for.
async fn discover(options: &JsValue) -> Result<Vec<JsValue>, JsValue> {
    if let Some(provider) = option(options, "provider") {
        let entry = Object::new();
        let _ = Reflect::set(&entry, &"source".into(), &"custom".into());
        let _ = Reflect::set(&entry, &"provider".into(), &provider);
        let _ = Reflect::set(&entry, &"info".into(), &JsValue::NULL);
        return Ok(vec![entry.into()]);
    }
    let timeout = option(options, "timeoutMs")
        .and_then(|t| t.as_f64())
        .filter(|t| t.is_finite() && *t >= 0.0)
        .unwrap_or(DEFAULT_TIMEOUT_MS);
    let found = Array::from(&JsFuture::from(discover_wallets(timeout)).await?);
    let mut wallets: Vec<JsValue> = found.iter().collect();
    if let Some(rdns) = option(options, "rdns").and_then(|r| r.as_string()) {
        wallets.retain(|w| get(&get(w, "info"), "rdns").as_string().as_deref() == Some(&rdns));
    }
    let preferred = match option(options, "prefer") {
        None => None,
        Some(p) => match p.as_string() {
            Some(s) if SOURCES.contains(&s.as_str()) => Some(s),
            _ => {
                return Err(input_error(
                    "InvalidOptions",
                    "`prefer` must be \"eip6963\", \"binancew3w\" or \"ethereum\"",
                ));
            }
        },
    };
    if let Some(first) = preferred {
        // A stable sort keeps the default order among the rest.
        wallets.sort_by_key(|w| get(w, "source").as_string().as_deref() != Some(&first));
    }
    Ok(wallets)
}

/// An account of the user's wallet, signing through its EIP-1193 provider.
#[wasm_bindgen]
#[derive(Clone)]
pub struct WalletSigner {
    provider: JsValue,
    address: Address,
    source: String,
    info: JsValue,
}

#[wasm_bindgen]
impl WalletSigner {
    /// The wallets the page can see: `[{source, provider, info}]`, preferred first.
    #[wasm_bindgen(unchecked_return_type = "WalletInfo[]")]
    pub async fn discover(
        #[wasm_bindgen(unchecked_optional_param_type = "WalletOptions")] options: JsValue,
    ) -> Result<JsValue, JsValue> {
        Ok(discover(&options)
            .await?
            .into_iter()
            .collect::<Array>()
            .into())
    }

    /// Finds the preferred wallet, asks it for its accounts (`eth_requestAccounts`, which may
    /// show the wallet's prompt) and signs as the first one.
    pub async fn connect(
        #[wasm_bindgen(unchecked_optional_param_type = "WalletOptions")] options: JsValue,
    ) -> Result<WalletSigner, JsValue> {
        let wallet = discover(&options).await?.into_iter().next().ok_or_else(|| {
            wallet_error(
                "NoWallet",
                "no wallet found: install one, open the page in a wallet's browser, or use a local key",
            )
        })?;
        let provider = get(&wallet, "provider");
        let accounts = request(&provider, "eth_requestAccounts", Array::new()).await?;
        let first = Array::from(&accounts)
            .get(0)
            .as_string()
            .ok_or_else(|| wallet_error("NoAccounts", "the wallet returned no account"))?;
        let address = Address::parse(&first).map_err(|e| error_from("AddressError", &e))?;
        Ok(Self {
            provider,
            address,
            source: get(&wallet, "source").as_string().unwrap_or_default(),
            info: get(&wallet, "info"),
        })
    }

    /// The account's EIP-55 address.
    #[wasm_bindgen(getter)]
    pub fn address(&self) -> String {
        self.address.to_checksum()
    }

    /// Where the wallet was found: `eip6963`, `binancew3w`, `ethereum` or `custom`.
    #[wasm_bindgen(getter, unchecked_return_type = "WalletSource")]
    pub fn source(&self) -> String {
        self.source.clone()
    }

    /// The wallet's EIP-6963 info (`{uuid, name, icon, rdns}`), or `null`.
    #[wasm_bindgen(getter, unchecked_return_type = "Eip6963Info | null")]
    pub fn info(&self) -> JsValue {
        self.info.clone()
    }

    /// The EIP-1193 provider.
    #[wasm_bindgen(getter, unchecked_return_type = "Eip1193Provider")]
    pub fn provider(&self) -> JsValue {
        self.provider.clone()
    }

    /// Signs a message with `personal_sign` (EIP-191): a string is signed as its UTF-8 bytes,
    /// a `Uint8Array` as is. Resolves to the 65-byte signature, `0x` hex, `v` = 27/28.
    #[wasm_bindgen(js_name = signMessage, unchecked_return_type = "Promise<string>")]
    pub fn sign_message(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | Uint8Array")] message: &JsValue,
    ) -> Result<Promise, JsValue> {
        let bytes = message_bytes(message)?;
        let provider = self.provider.clone();
        let address = self.address;
        Ok(future_to_promise(async move {
            let params = Array::of2(&hex(&bytes).into(), &address.to_checksum().into());
            let reply = request(&provider, "personal_sign", params).await?;
            let sig = wallet_signature(&reply)?;
            let signer = personal::recover_message(&bytes, &sig)
                .map_err(|e| error_from("SignatureError", &e))?;
            check_signer(&signer, &address)?;
            Ok(sig.to_hex().into())
        }))
    }

    /// Signs EIP-712 typed data (the JSON text of `eth_signTypedData_v4`) with
    /// `eth_signTypedData_v4`. Resolves to the signature, `0x` hex.
    #[wasm_bindgen(js_name = signTypedData, unchecked_return_type = "Promise<string>")]
    pub fn sign_typed_data(&self, json: String) -> Result<Promise, JsValue> {
        let data = typed_data_from_json(&json)?;
        let provider = self.provider.clone();
        let address = self.address;
        Ok(future_to_promise(async move {
            let params = Array::of2(&address.to_checksum().into(), &json.into());
            let reply = request(&provider, "eth_signTypedData_v4", params).await?;
            let sig = wallet_signature(&reply)?;
            let signer = data
                .recover(&sig)
                .map_err(|e| error_from("TypedDataError", &e))?;
            check_signer(&signer, &address)?;
            Ok(sig.to_hex().into())
        }))
    }
}

/// What the escrow's `claim` needs, read from a voucher as the relay returns it.
struct ClaimCall {
    chain_id: u64,
    contract: Address,
    voucher: RewardVoucher,
    signature: Signature,
}

fn voucher_error(message: &str) -> JsValue {
    input_error(
        "InvalidVoucher",
        &format!("not a voucher from the relay: {message}"),
    )
}

impl ClaimCall {
    /// `voucher` is the relay's voucher object (`POST /v1/claims`) or its JSON text.
    fn from_js(voucher: &JsValue) -> Result<Self, JsValue> {
        let text = match voucher.as_string() {
            Some(text) => text,
            None => js_sys::JSON::stringify(voucher)
                .ok()
                .and_then(|t| t.as_string())
                .ok_or_else(|| voucher_error("expected an object or its JSON text"))?,
        };
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| voucher_error(&e.to_string()))?;
        let null = serde_json::Value::Null;
        let field =
            |value: &serde_json::Value, name: &str| value.get(name).unwrap_or(&null).clone();
        let typed = field(&json, "typed_data");
        let (domain, message) = (field(&typed, "domain"), field(&typed, "message"));
        let text_of = |value: &serde_json::Value, name: &str| -> Result<String, JsValue> {
            match value {
                serde_json::Value::String(s) => Ok(s.clone()),
                serde_json::Value::Number(n) => Ok(n.to_string()),
                _ => Err(voucher_error(&format!("{name} is missing"))),
            }
        };
        let address = |value: &serde_json::Value, name: &str| -> Result<Address, JsValue> {
            Address::parse(&text_of(value, name)?)
                .map_err(|e| voucher_error(&format!("{name}: {e}")))
        };
        let uint = |value: &serde_json::Value, name: &str| -> Result<U256, JsValue> {
            U256::parse(&text_of(value, name)?).map_err(|e| voucher_error(&format!("{name}: {e}")))
        };
        let chain_id = uint(&field(&domain, "chainId"), "chainId")?
            .to_u64()
            .ok_or_else(|| voucher_error("chainId: too large"))?;
        let deadline = uint(&field(&message, "deadline"), "deadline")?
            .to_u64()
            .ok_or_else(|| voucher_error("deadline: too large"))?;
        let signature = Signature::from_hex(&text_of(&field(&json, "signature"), "signature")?)
            .map_err(|e| voucher_error(&format!("signature: {e}")))?;
        Ok(Self {
            chain_id,
            contract: address(&field(&domain, "verifyingContract"), "verifyingContract")?,
            voucher: RewardVoucher {
                recipient: address(&field(&message, "recipient"), "recipient")?,
                token: address(&field(&message, "token"), "token")?,
                amount: uint(&field(&message, "amount"), "amount")?,
                nonce: uint(&field(&message, "nonce"), "nonce")?,
                deadline,
            },
            signature,
        })
    }
}

/// A hex quantity (`0x1a`) an RPC returned, as a number.
fn quantity(value: &JsValue) -> Option<u64> {
    let text = value.as_string()?;
    u64::from_str_radix(text.strip_prefix("0x")?, 16).ok()
}

/// Makes the wallet use `chain_id`, asking it to switch if it is on another chain.
async fn ensure_chain(provider: &JsValue, chain_id: u64) -> Result<(), JsValue> {
    let current = request(provider, "eth_chainId", Array::new()).await?;
    if quantity(&current) == Some(chain_id) {
        return Ok(());
    }
    let target = Object::new();
    let _ = Reflect::set(
        &target,
        &"chainId".into(),
        &format!("0x{chain_id:x}").into(),
    );
    match request(provider, "wallet_switchEthereumChain", Array::of1(&target)).await {
        Ok(_) => Ok(()),
        // 4902: the wallet does not know the chain.
        Err(error) if get(&error, "providerCode").as_f64() == Some(4902.0) => Err(wallet_error(
            "UnknownChain",
            &format!(
                "the wallet does not know chain {chain_id}: add it in the wallet, then claim again"
            ),
        )),
        Err(error) => Err(error),
    }
}

async fn sleep_ms(ms: i32) {
    let promise = Promise::new(&mut |resolve, _| {
        let scope = js_sys::global();
        let set_timeout = get(&scope, "setTimeout");
        if let Ok(set_timeout) = set_timeout.dyn_into::<js_sys::Function>() {
            let _ = set_timeout.call2(&scope, &resolve, &JsValue::from(ms));
        }
    });
    let _ = JsFuture::from(promise).await;
}

#[wasm_bindgen]
impl WalletSigner {
    /// Redeems a voucher on chain from this account: switches the wallet to the voucher's chain
    /// if needed (`wallet_switchEthereumChain`), then sends the escrow's `claim` with
    /// `eth_sendTransaction`. Any account may send it; the escrow pays the voucher's recipient.
    /// Resolves to the transaction hash as soon as the wallet has sent it; follow it with
    /// `waitForTransaction`.
    #[wasm_bindgen(js_name = sendClaim, unchecked_return_type = "Promise<string>")]
    pub fn send_claim(&self, voucher: JsValue) -> Result<Promise, JsValue> {
        let call = ClaimCall::from_js(&voucher)?;
        let provider = self.provider.clone();
        let from = self.address;
        Ok(future_to_promise(async move {
            ensure_chain(&provider, call.chain_id).await?;
            let tx = Object::new();
            let _ = Reflect::set(&tx, &"from".into(), &from.to_checksum().into());
            let _ = Reflect::set(&tx, &"to".into(), &call.contract.to_checksum().into());
            let data = abi::claim_call(&call.voucher, &call.signature);
            let _ = Reflect::set(&tx, &"data".into(), &hex(&data).into());
            let hash = request(&provider, "eth_sendTransaction", Array::of1(&tx)).await?;
            match hash.as_string() {
                Some(h) if h.len() == 66 && h.starts_with("0x") => Ok(h.into()),
                _ => Err(wallet_error(
                    "RequestFailed",
                    "the wallet returned something other than a transaction hash",
                )),
            }
        }))
    }

    /// Waits until the transaction `hash` is in a block (polling `eth_getTransactionReceipt`
    /// through the wallet every second, for at most `timeout_ms`, default two minutes).
    /// Resolves to `{hash, status: "confirmed" | "reverted", block}`; rejects with
    /// `WalletError` `Timeout` if it is still pending then.
    #[wasm_bindgen(js_name = waitForTransaction)]
    pub fn wait_for_transaction(&self, hash: String, timeout_ms: Option<f64>) -> Promise {
        let provider = self.provider.clone();
        let timeout = timeout_ms
            .filter(|t| t.is_finite() && *t > 0.0)
            .unwrap_or(120_000.0);
        future_to_promise(async move {
            let started = js_sys::Date::now();
            loop {
                let receipt = request(
                    &provider,
                    "eth_getTransactionReceipt",
                    Array::of1(&hash.clone().into()),
                )
                .await?;
                if receipt.is_object() {
                    let status = match quantity(&get(&receipt, "status")) {
                        Some(1) => "confirmed",
                        _ => "reverted",
                    };
                    let out = Object::new();
                    let _ = Reflect::set(&out, &"hash".into(), &hash.clone().into());
                    let _ = Reflect::set(&out, &"status".into(), &status.into());
                    let block = quantity(&get(&receipt, "blockNumber"))
                        .map_or(JsValue::NULL, |b| JsValue::from(b as f64));
                    let _ = Reflect::set(&out, &"block".into(), &block);
                    return Ok(out.into());
                }
                if js_sys::Date::now() - started > timeout {
                    return Err(wallet_error(
                        "Timeout",
                        &format!("transaction {hash} is still pending: look it up in the wallet"),
                    ));
                }
                sleep_ms(1000).await;
            }
        })
    }

    /// The account's balance of an ERC-20 `token`, in the token's smallest unit (a decimal
    /// string), read with `eth_call` through the wallet on the chain it is on.
    #[wasm_bindgen(js_name = tokenBalance, unchecked_return_type = "Promise<string>")]
    pub fn token_balance(&self, token: String) -> Result<Promise, JsValue> {
        let token = Address::parse(&token).map_err(|e| error_from("AddressError", &e))?;
        let provider = self.provider.clone();
        let owner = self.address;
        Ok(future_to_promise(async move {
            let call = Object::new();
            let _ = Reflect::set(&call, &"to".into(), &token.to_checksum().into());
            let _ = Reflect::set(
                &call,
                &"data".into(),
                &hex(&abi::balance_of_call(&owner)).into(),
            );
            let reply = request(&provider, "eth_call", Array::of2(&call, &"latest".into())).await?;
            let bytes = reply
                .as_string()
                .and_then(|t| parse_hex(&t))
                .unwrap_or_default();
            let balance = abi::decode_uint(&bytes).ok_or_else(|| {
                wallet_error("RequestFailed", "the token's balanceOf returned no number")
            })?;
            Ok(balance.to_string().into())
        }))
    }
}

fn wallet_signature(reply: &JsValue) -> Result<Signature, JsValue> {
    let text = reply.as_string().ok_or_else(|| {
        wallet_error(
            "RequestFailed",
            "the wallet returned something other than a signature",
        )
    })?;
    Signature::from_hex(&text).map_err(|e| error_from("SignatureError", &e))
}

fn check_signer(signer: &Address, account: &Address) -> Result<(), JsValue> {
    if signer == account {
        Ok(())
    } else {
        Err(wallet_error(
            "WrongSigner",
            "the wallet signed with another account than the connected one: reconnect",
        ))
    }
}
