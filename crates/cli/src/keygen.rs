//! `datahub keygen`, and reading key files and public keys for the other commands.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use datahub_core::{PublicKey, SecretKey};
use datahub_keyfile as keyfile;

#[derive(clap::Args)]
pub struct Args {
    /// Where to write the key file
    #[arg(
        short = 'o',
        long = "out",
        value_name = "FILE",
        default_value = "datahub.key"
    )]
    out: PathBuf,
    /// Replace an existing key file (objects sealed to the old key will no longer open with it)
    #[arg(long)]
    force: bool,
}

pub fn run(args: &Args) -> Result<()> {
    let mut entropy = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(entropy.as_mut_slice())
        .map_err(|e| anyhow::anyhow!("the operating system's random generator failed: {e}"))?;
    let key = SecretKey::derive(&entropy);
    write_key(&args.out, &key, args.force)?;
    print!("{}", describe(&args.out, &key));
    Ok(())
}

/// What `keygen` prints about the key it wrote.
pub fn describe(path: &Path, key: &SecretKey) -> String {
    let public = hex::encode(key.public_key().to_compressed());
    format!(
        "wrote {path} (keep it secret: it opens every object sealed to it)\n\
         address     {address}\n\
         public key  {public}\n\
         others seal objects to you with: datahub object put FILE --recipient {public}\n",
        path = path.display(),
        address = key.address().to_checksum(),
    )
}

fn write_key(path: &Path, key: &SecretKey, force: bool) -> Result<()> {
    if !force {
        return keyfile::write_new(path, key).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                anyhow::anyhow!(
                    "{} already exists: pass --force to replace it (objects sealed to the old key will no longer open with the new one)",
                    path.display()
                )
            } else {
                anyhow::Error::new(e).context(format!("could not write {}", path.display()))
            }
        });
    }
    // Write beside it, then rename over: the old key is never half-replaced.
    let file_name = path
        .file_name()
        .with_context(|| format!("{} is not a file path", path.display()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let _ = std::fs::remove_file(&tmp);
    keyfile::write_new(&tmp, key).with_context(|| format!("could not write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("could not replace {}", path.display()))
}

/// Whose key a command needs: what to say when the file is missing. A new key from `keygen`
/// is right only where any key will do; it can neither open an object sealed to another key
/// nor act for a campaign another key created.
#[derive(Clone, Copy)]
pub enum Role {
    /// Any key will do (it becomes yours): `keygen` makes one. The flag that names another.
    Yours(&'static str),
    /// A key file named on the command line, to read.
    Named,
    /// The key an object was sealed to.
    Recipient,
    /// The key that created the campaign.
    CampaignOwner,
    /// One of the relay's operators.
    Operator,
}

impl Role {
    fn missing(self, path: &Path) -> anyhow::Error {
        let path = path.display();
        match self {
            Self::Yours(flag) => anyhow::anyhow!(
                "no key file at {path}: make one with `datahub keygen -o {path}` or pass {flag} FILE"
            ),
            Self::Named => anyhow::anyhow!(
                "no key file at {path}: check the path (`datahub keygen -o {path}` makes a new key)"
            ),
            Self::Recipient => anyhow::anyhow!(
                "no key file at {path}: pass the recipient's key with --identity FILE (the key the object was sealed to; a new key cannot open it)"
            ),
            Self::CampaignOwner => anyhow::anyhow!(
                "no key file at {path}: pass the key that created the campaign with --key FILE (a new key does not own it)"
            ),
            Self::Operator => anyhow::anyhow!(
                "no key file at {path}: pass an operator's key with --key FILE (one the relay lists in `operators`)"
            ),
        }
    }
}

/// Reads the secret key in `path` (a file written by `datahub keygen`).
pub fn load(path: &Path) -> Result<SecretKey> {
    load_as(path, Role::Yours("--identity"))
}

/// Reads the secret key in `path`; a missing file is explained for `role`.
pub fn load_as(path: &Path, role: Role) -> Result<SecretKey> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => zeroize::Zeroizing::new(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(role.missing(path)),
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!("could not read {}", path.display())));
        }
    };
    keyfile::parse(&text).map_err(|e| {
        anyhow::anyhow!(
            "{} is not a key file ({e}): a key file holds 64 hex digits (with or without 0x), as `datahub keygen` writes",
            path.display()
        )
    })
}

/// Reads a recipient's public key: 66 hex digits (compressed) or 130 (uncompressed), `0x`
/// optional.
pub fn parse_public_key(text: &str) -> Result<PublicKey> {
    let trimmed = text.trim();
    let digits = trimmed.strip_prefix("0x").unwrap_or(trimmed);
    let bytes = hex::decode(digits).ok();
    bytes
        .and_then(|b| PublicKey::from_sec1_bytes(&b).ok())
        .with_context(|| {
            format!(
                "{text:?} is not a public key: expected the 66 hex digits `datahub keygen` prints as \"public key\""
            )
        })
}

/// `datahub key`: about key files.
#[derive(clap::Subcommand)]
pub enum KeyCommand {
    /// Print a key file's address and public key (the secret is not printed)
    Show(ShowArgs),
}

#[derive(clap::Args)]
pub struct ShowArgs {
    /// The key file
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Print them as JSON
    #[arg(long)]
    json: bool,
}

pub fn key(command: &KeyCommand) -> Result<()> {
    match command {
        KeyCommand::Show(args) => {
            let key = load_as(&args.file, Role::Named)?;
            print!("{}", show(&key, args.json));
            Ok(())
        }
    }
}

/// What `key show` prints.
pub fn show(key: &SecretKey, json: bool) -> String {
    let address = key.address().to_checksum();
    let public = hex::encode(key.public_key().to_compressed());
    if json {
        return format!(
            "{:#}\n",
            serde_json::json!({ "address": address, "public_key": public })
        );
    }
    format!("address     {address}\npublic key  {public}\n")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn describe_is_what_users_read() {
        let key = SecretKey::derive(&[7; 32]);
        let text = describe(Path::new("me.key"), &key);
        let public = hex::encode(key.public_key().to_compressed());
        assert_eq!(
            text,
            format!(
                "wrote me.key (keep it secret: it opens every object sealed to it)\n\
                 address     {}\n\
                 public key  {public}\n\
                 others seal objects to you with: datahub object put FILE --recipient {public}\n",
                key.address().to_checksum()
            )
        );
    }

    #[test]
    fn public_keys_parse_both_forms() -> Result<()> {
        let key = SecretKey::derive(&[9; 32]).public_key();
        let compressed = hex::encode(key.to_compressed());
        assert_eq!(parse_public_key(&compressed)?, key);
        assert_eq!(parse_public_key(&format!("0x{compressed}"))?, key);
        assert_eq!(parse_public_key(&hex::encode(key.to_uncompressed()))?, key);
        let err = parse_public_key("02abc").map(drop).unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"02abc\" is not a public key: expected the 66 hex digits `datahub keygen` prints as \"public key\""
        );
        Ok(())
    }
}
