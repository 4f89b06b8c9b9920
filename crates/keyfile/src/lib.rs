//! Key files: a secp256k1 secret key as 64 hex digits (`0x` optional) and a newline, readable by
//! its owner only. One format and one set of rules for every key DataHub keeps on disk: the
//! relay's and its treasury's, a storage node's, and the ones `datahub keygen` writes.
//!
//! A file that others can read is refused by [`load`], not used: whoever else can read it can
//! sign as its owner (the relay, the treasury, a node that is paid).

use std::io::Write as _;
use std::path::Path;

use datahub_core::SecretKey;

/// Reads the key at `path`, which must exist and be readable by its owner only.
pub fn load(path: &Path) -> std::io::Result<SecretKey> {
    let file = std::fs::File::open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            std::io::Error::new(
                e.kind(),
                format!(
                    "{}: no such key file (a configured key file is never created: check the path, or leave it unset to use the default)",
                    path.display()
                ),
            )
        } else {
            std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
        }
    })?;
    check_private(path, &file)?;
    let mut text = zeroize::Zeroizing::new(String::new());
    std::io::Read::read_to_string(&mut &file, &mut text)?;
    parse(&text).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{}: {e}", path.display()),
        )
    })
}

/// Refuses a key file that its group or others may read or write.
fn check_private(path: &Path, file: &std::fs::File) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = file.metadata()?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "{}: key file is accessible by group or others (mode {:o}): chmod 600 {}",
                    path.display(),
                    mode & 0o777,
                    path.display()
                ),
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = (path, file);
    Ok(())
}

/// Reads the key at `path` (see [`load`]), or makes a new one there if there is no file. Two
/// processes starting at once agree on one key: the second finds the first's file.
pub fn load_or_create(path: &Path) -> std::io::Result<SecretKey> {
    match load(path) {
        Ok(key) => Ok(key),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut entropy = zeroize::Zeroizing::new([0u8; 32]);
            getrandom::fill(entropy.as_mut_slice()).map_err(|e| {
                std::io::Error::other(format!("the operating system's randomness failed: {e}"))
            })?;
            let key = SecretKey::derive(&entropy);
            match write_new(path, &key) {
                Ok(()) => Ok(key),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load(path),
                Err(e) => Err(std::io::Error::new(
                    e.kind(),
                    format!("cannot write {}: {e}", path.display()),
                )),
            }
        }
        Err(e) => Err(e),
    }
}

/// Parses a key file's text (hex, optional `0x`, surrounding whitespace ignored).
pub fn parse(text: &str) -> Result<SecretKey, String> {
    let text = text.trim();
    let hex_text = text.strip_prefix("0x").unwrap_or(text);
    let bytes = zeroize::Zeroizing::new(
        hex::decode(hex_text).map_err(|_| "not a hex secret key".to_owned())?,
    );
    if bytes.len() != 32 {
        return Err(format!("{} bytes, not 32", bytes.len()));
    }
    SecretKey::from_bytes(&bytes).map_err(|e| e.to_string())
}

/// Writes `key` to a new file at `path` (never over an existing one), mode 0600.
pub fn write_new(path: &Path, key: &SecretKey) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    let text = zeroize::Zeroizing::new(format!("{}\n", hex::encode(key.to_bytes().as_slice())));
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_an_error_for_load_and_made_by_load_or_create() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("treasury.key");
        let err = load(&path).unwrap_err().to_string();
        assert!(err.contains("no such key file"), "{err}");
        let made = load_or_create(&path).unwrap();
        assert_eq!(load(&path).unwrap().to_bytes(), made.to_bytes());
    }

    #[test]
    fn text_with_or_without_0x_parses_and_nothing_else_does() {
        let key = SecretKey::derive(&[7; 32]);
        let digits = hex::encode(key.to_bytes().as_slice());
        for text in [
            digits.clone(),
            format!("0x{digits}\n"),
            format!("  {digits}\n\n"),
        ] {
            assert_eq!(parse(&text).unwrap().address(), key.address());
        }
        for text in ["", "0x", "hello", &digits[..62], &format!("{digits}00")] {
            assert!(parse(text).is_err(), "{text:?}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.key");
        load_or_create(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        for result in [load(&path), load_or_create(&path)] {
            let err = result.unwrap_err().to_string();
            assert!(err.contains("chmod 600"), "{err}");
        }
    }
}
