//! A visitor's local key kept in the browser: `LocalSigner.loadOrCreate`, `load`, `save`,
//! `forget`, and a JSON keyfile to export it.
//!
//! WebCrypto cannot hold a secp256k1 key as non-extractable, so the secret is stored as it is,
//! in IndexedDB (database `datahub-keys`, object store `keys`, one record per name): anyone
//! with access to the page's origin storage can read it, like a browser wallet's unencrypted
//! vault. The keyfile is unencrypted too; the user should keep it private. Errors: `name`
//! `KeystoreError` (`Unavailable` outside a browser, `StorageFailed`, `NotFound`,
//! `InvalidKeyfile`) or `KeyError`.

use js_sys::{Promise, Reflect};
use serde_json::{Value as Json, json};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::js::js_error;
use crate::signer::LocalSigner;

/// The IndexedDB database that holds local keys.
const DATABASE: &str = "datahub-keys";
/// The name a key is stored under when the caller gives none.
const DEFAULT_NAME: &str = "default";
/// What a keyfile says it is.
const KEYFILE_TYPE: &str = "datahub-local-key";

#[wasm_bindgen(module = "/js/keystore.js")]
extern "C" {
    #[wasm_bindgen(js_name = idbGet, catch)]
    fn idb_get(database: &str, key: &str) -> Result<Promise, JsValue>;
    #[wasm_bindgen(js_name = idbGetOrPut, catch)]
    fn idb_get_or_put(database: &str, key: &str, candidate: &JsValue) -> Result<Promise, JsValue>;
    #[wasm_bindgen(js_name = idbPut, catch)]
    fn idb_put(database: &str, key: &str, value: &JsValue) -> Result<Promise, JsValue>;
    #[wasm_bindgen(js_name = idbDelete, catch)]
    fn idb_delete(database: &str, key: &str) -> Result<Promise, JsValue>;
}

fn keystore_error(code: &str, message: &str) -> JsValue {
    js_error("KeystoreError", code, message)
}

/// The stored record: `{version: 1, address, secretKey}`.
fn record(signer: &LocalSigner) -> JsValue {
    let o = js_sys::Object::new();
    let _ = Reflect::set(&o, &"version".into(), &JsValue::from(1));
    let _ = Reflect::set(&o, &"address".into(), &signer.address().into());
    let _ = Reflect::set(&o, &"secretKey".into(), &signer.export_secret().into());
    o.into()
}

fn from_record(value: &JsValue) -> Result<LocalSigner, JsValue> {
    let secret = Reflect::get(value, &"secretKey".into())
        .ok()
        .and_then(|s| s.as_string())
        .ok_or_else(|| {
            keystore_error(
                "StorageFailed",
                "the stored key record has no secretKey: forget it and create a new key",
            )
        })?;
    LocalSigner::from_secret(&secret)
}

fn name_or_default(name: Option<String>) -> String {
    name.filter(|n| !n.is_empty())
        .unwrap_or_else(|| DEFAULT_NAME.to_owned())
}

#[wasm_bindgen]
impl LocalSigner {
    /// The key stored in IndexedDB under `name` (default `"default"`), or a new random key
    /// stored there first. Two tabs racing get the same key.
    #[wasm_bindgen(js_name = loadOrCreate)]
    pub async fn load_or_create(name: Option<String>) -> Result<LocalSigner, JsValue> {
        let name = name_or_default(name);
        let candidate = record(&LocalSigner::generate()?);
        let stored = JsFuture::from(idb_get_or_put(DATABASE, &name, &candidate)?).await?;
        from_record(&stored)
    }

    /// The key stored in IndexedDB under `name` (default `"default"`), or `undefined`.
    pub async fn load(name: Option<String>) -> Result<Option<LocalSigner>, JsValue> {
        let name = name_or_default(name);
        let stored = JsFuture::from(idb_get(DATABASE, &name)?).await?;
        if stored.is_undefined() || stored.is_null() {
            return Ok(None);
        }
        from_record(&stored).map(Some)
    }

    /// Stores this key in IndexedDB under `name` (default `"default"`), replacing any key
    /// stored there.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn save(&self, name: Option<String>) -> Result<Promise, JsValue> {
        idb_put(DATABASE, &name_or_default(name), &record(self))
    }

    /// Deletes the key stored under `name` (default `"default"`). Export it first if it holds
    /// anything of value.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn forget(name: Option<String>) -> Result<Promise, JsValue> {
        idb_delete(DATABASE, &name_or_default(name))
    }

    /// The key as a JSON keyfile: `{"type": "datahub-local-key", "version": 1, "address",
    /// "secretKey"}`. It is not encrypted: keep it private.
    #[wasm_bindgen(js_name = exportKeyfile)]
    pub fn export_keyfile(&self) -> String {
        json!({
            "type": KEYFILE_TYPE,
            "version": 1,
            "address": self.address(),
            "secretKey": self.export_secret(),
        })
        .to_string()
    }

    /// The key in a keyfile written by `exportKeyfile`; its address must match its secret.
    #[wasm_bindgen(js_name = fromKeyfile)]
    pub fn from_keyfile(json: &str) -> Result<LocalSigner, JsValue> {
        let bad =
            |what: &str| keystore_error("InvalidKeyfile", &format!("invalid keyfile: {what}"));
        let doc: Json = serde_json::from_str(json).map_err(|e| bad(&e.to_string()))?;
        if doc.get("type").and_then(Json::as_str) != Some(KEYFILE_TYPE)
            || doc.get("version").and_then(Json::as_u64) != Some(1)
        {
            return Err(bad("expected type \"datahub-local-key\", version 1"));
        }
        let secret = doc
            .get("secretKey")
            .and_then(Json::as_str)
            .ok_or_else(|| bad("no secretKey"))?;
        let signer = LocalSigner::from_secret(secret)?;
        let address = doc.get("address").and_then(Json::as_str).unwrap_or("");
        if !address.eq_ignore_ascii_case(&signer.address()) {
            return Err(bad("its address is not its secret key's"));
        }
        Ok(signer)
    }
}
