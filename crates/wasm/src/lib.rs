//! DataHub's browser client, compiled to WebAssembly and published as the npm package
//! `@datahub/wasm` (built into `pkg/` by `cargo xtask pkg`, as `wasm-pack.toml` says).
//!
//! Everything exported to JavaScript is a `#[wasm_bindgen]` item of this crate; the protocol
//! itself lives in `datahub-core`, so the browser and the relay run the same code.
//!
//! Two builds come from it: the library (sealing, keys, signing, the wallet bridge, the relay
//! client: what integrators import) and, with the `app` feature, the library plus the
//! contributor's mini-app (`mount`), which the host page in `www/` loads.

use wasm_bindgen::prelude::wasm_bindgen;

#[cfg(feature = "app")]
pub use app::mount;

/// The version of this client, as in its `Cargo.toml` (and `pkg/package.json`).
#[wasm_bindgen(js_name = version)]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

#[cfg(feature = "app")]
mod app;
mod bench;
mod js;
mod keystore;
mod relay;
mod seal;
mod signer;
mod wallet;

#[cfg(all(test, target_arch = "wasm32"))]
mod tests;
