//! The node's own secp256k1 key, kept in `<data>/node.key`: a key file as every DataHub program
//! keeps one (`datahub_keyfile`: hex, readable by its owner only), created on first start.

use std::path::Path;

use datahub_core::SecretKey;

use crate::NodeError;

/// The key file's name in the data folder.
pub const KEY_FILE: &str = "node.key";

/// Reads the key at `path`, or makes one there if there is none.
pub fn load_or_create(path: &Path) -> Result<SecretKey, NodeError> {
    let existed = path.exists();
    let key = datahub_keyfile::load_or_create(path).map_err(|e| error(path, e))?;
    if !existed {
        tracing::info!(path = %path.display(), address = %key.address(), "created a new node key");
    }
    Ok(key)
}

/// Reads the key at `path`; never makes one (for commands that only look at a node).
pub fn load(path: &Path) -> Result<SecretKey, NodeError> {
    datahub_keyfile::load(path).map_err(|e| error(path, e))
}

fn error(path: &Path, e: std::io::Error) -> NodeError {
    match e.kind() {
        std::io::ErrorKind::InvalidData => NodeError::BadKeyFile(path.to_owned()),
        // The message already names the file (and, for a loose file, the chmod that fixes it).
        _ => NodeError::Io {
            context: "the node key".into(),
            source: e,
        },
    }
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
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            // A key others can read is refused, not used: it could sign as this node.
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let err = load_or_create(&path).unwrap_err().to_string();
            assert!(err.contains("chmod 600"), "{err}");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        std::fs::write(&path, "not a key").unwrap();
        assert!(matches!(
            load_or_create(&path),
            Err(NodeError::BadKeyFile(_))
        ));
    }
}
