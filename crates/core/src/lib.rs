//! DataHub's protocol without I/O.
//!
//! This crate takes bytes, randomness and time as arguments and returns bytes and decisions: it
//! opens no file or socket, reads no clock and draws no randomness of its own, so the same code
//! runs natively in the relay, the nodes and the CLI, and as WebAssembly in the browser.
//!
//! The sealed-object format, specified in `docs/sealed-object.md`, is built in layers, each a
//! module: [`stream`] (chunk encryption), [`header`] (the file key wrapped to recipients),
//! [`erasure`] (Reed–Solomon shards), [`manifest`] (the object's table of shards and its id),
//! and [`seal`] (streaming sealers and openers over all of them).
//!
//! Aggregation of contributors' answers and their trust, in [`quality`] (majority vote,
//! Dawid–Skene, flags, spans), described in `docs/relay.md` §4a.
//!
//! Identity, in [`eth`] (specified in `docs/signatures.md`): Ethereum addresses, EIP-191 and
//! EIP-712 signatures, Sign-In with Ethereum and the session keys it authorizes.

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod chacha_simd;
pub mod erasure;
pub mod eth;
pub mod header;
pub mod keys;
pub mod manifest;
#[cfg(any(test, all(target_arch = "wasm32", target_feature = "simd128")))]
mod poly1305_wide;
pub mod proof;
pub mod quality;
pub mod request;
pub mod seal;
pub mod stream;

pub use eth::{Address, ChainId, Signature};
pub use keys::{KeyError, PublicKey, SecretKey};
pub use manifest::{Manifest, ObjectId, Params, ShardId};
pub use seal::{
    EncodedSegment, OpenError, Opener, SealError, Sealer, Shard, StreamOpener, open_bytes,
    open_sealed, seal_bytes,
};
