//! The node's own secp256k1 key, kept in `<data>/node.key`.
//!
//! The file holds `0x` and the 64 lower-case hex digits of the secret key, and a newline. It is
//! created on first start from the operating system's randomness, readable by its owner only
//! (mode 0600 on Unix).

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use datahub_core::SecretKey;

use crate::NodeError;

/// The key file's name in the data folder.
pub const KEY_FILE: &str = "node.key";

/// Reads the key at `path`, or makes one there if there is none.
pub fn load_or_create(path: &Path) -> Result<SecretKey, NodeError> {
    match fs::read_to_string(path) {
        Ok(text) => parse(&text).ok_or_else(|| NodeError::BadKeyFile(path.to_owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => create(path),
        Err(source) => Err(NodeError::Io {
            context: format!("reading {}", path.display()),
            source,
        }),
    }
}

/// Reads the key at `path`; never makes one (for commands that only look at a node).
pub fn load(path: &Path) -> Result<SecretKey, NodeError> {
    let text = fs::read_to_string(path).map_err(|source| NodeError::Io {
        context: format!("reading {}", path.display()),
        source,
    })?;
    parse(&text).ok_or_else(|| NodeError::BadKeyFile(path.to_owned()))
}

fn parse(text: &str) -> Option<SecretKey> {
    let digits = text.trim();
    let digits = digits.strip_prefix("0x").unwrap_or(digits);
    if digits.len() != 64 {
        return None;
    }
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    for (byte, pair) in bytes.iter_mut().zip(digits.as_bytes().chunks_exact(2)) {
        let pair = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(pair, 16).ok()?;
    }
    SecretKey::from_bytes(bytes.as_slice()).ok()
}

fn create(path: &Path) -> Result<SecretKey, NodeError> {
    let mut entropy = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(entropy.as_mut_slice()).map_err(|e| NodeError::Io {
        context: "drawing randomness for the node key".into(),
        source: io::Error::other(e.to_string()),
    })?;
    let key = SecretKey::derive(&entropy);
    let mut text = zeroize::Zeroizing::new(String::from("0x"));
    for byte in key.to_bytes().iter() {
        text.push_str(&format!("{byte:02x}"));
    }
    text.push('\n');
    let io = |context: &str| {
        let context = format!("{context} {}", path.display());
        move |source| NodeError::Io { context, source }
    };
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = match options.open(path) {
        Ok(file) => file,
        // Another process made it first: use that one.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return load_or_create(path),
        Err(e) => return Err(io("creating")(e)),
    };
    file.write_all(text.as_bytes()).map_err(io("writing"))?;
    file.sync_all().map_err(io("syncing"))?;
    tracing::info!(path = %path.display(), address = %key.address(), "created a new node key");
    Ok(key)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        let first = load_or_create(&path).unwrap();
        let again = load_or_create(&path).unwrap();
        assert_eq!(first.address(), again.address());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        fs::write(&path, "not a key").unwrap();
        assert!(matches!(
            load_or_create(&path),
            Err(NodeError::BadKeyFile(_))
        ));
    }
}
