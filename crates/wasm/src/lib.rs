//! placeholder

mod signer;
