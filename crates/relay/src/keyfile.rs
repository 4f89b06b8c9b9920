//! Key files: a secp256k1 secret key as 64 hex digits and a newline, readable by the owner
//! only, created on first use.

use std::io::Write as _;
use std::path::Path;

use datahub_core::SecretKey;

/// Reads the key at `path`, or makes a new one there if there is no file.
pub fn load_or_create(path: &Path) -> std::io::Result<SecretKey> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        }),
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
