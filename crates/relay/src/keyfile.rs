//! Key files: a secp256k1 secret key as 64 hex digits and a newline, readable by the owner
//! only. A file that others can read is refused, not used: whoever else can read it can sign
//! as the relay (or as its treasury).

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

/// Reads the key at `path` (see [`load`]), or makes a new one there if there is no file.
pub fn load_or_create(path: &Path) -> std::io::Result<SecretKey> {
    match load(path) {
        Ok(key) => Ok(key),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = SecretKey::derive(&crate::clock::random::<32>());
            write_new(path, &key)?;
            Ok(key)
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
