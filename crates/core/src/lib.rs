//! DataHub's protocol without I/O.
//!
//! This crate takes bytes, randomness and time as arguments and returns bytes and decisions: it
//! opens no file or socket, reads no clock and draws no randomness of its own, so the same code
//! runs natively in the relay, the nodes and the CLI, and as WebAssembly in the browser.

pub mod eth;
pub mod keys;

pub use eth::{Address, ChainId, Signature};
pub use keys::{KeyError, PublicKey, SecretKey};
