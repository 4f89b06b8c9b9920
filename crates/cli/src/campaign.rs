//! `datahub campaign`: a requester's campaigns on a relay. `create FILE` sends a definition
//! (JSON or TOML, the the protocol's `CampaignSpec`), `list` and `show ID` read them, `pause`,
//! `resume` and `close` change them. Changes are signed with the requester's key.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use datahub_core::SecretKey;
use datahub_protocol::CampaignSpec;
use serde_json::Value;

use crate::client::{Relay, SendError};
use crate::object::RelayArg;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Create a campaign from a definition file (.json or .toml) and print its summary
    Create(CreateArgs),
    /// List the relay's active campaigns
    List(ListArgs),
    /// Show one campaign: its definition (without items) and progress
    Show(ShowArgs),
    /// Pause a campaign: no new tasks are handed out until `resume`
    Pause(ChangeArgs),
    /// Resume a paused campaign
    Resume(ChangeArgs),
    /// Close a campaign for good; its unspent budget returns to you
    Close(ChangeArgs),
    /// Export the accepted results (and the uploads, decrypted) into a folder, with a signed
    /// manifest
    Results(crate::export::ResultsArgs),
    /// Check an export folder against its signed manifest
    Verify(crate::export::VerifyArgs),
}

/// The requester key flag of the commands that change campaigns.
#[derive(clap::Args, Clone)]
pub struct KeyArg {
    /// The requester's key file (from `datahub keygen`): signs the request and, when the
    /// definition has no `encryption_key`, is the key uploads are sealed to
    #[arg(
        long,
        short = 'k',
        value_name = "FILE",
        env = "DATAHUB_IDENTITY",
        default_value = "datahub.key"
    )]
    pub key: PathBuf,
}

#[derive(clap::Args)]
pub struct CreateArgs {
    /// The definition: JSON, or TOML when the name ends in .toml
    #[arg(value_name = "FILE")]
    file: PathBuf,
    #[command(flatten)]
    key: KeyArg,
    #[command(flatten)]
    relay: RelayArg,
    /// Print the relay's summary as JSON
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    relay: RelayArg,
    /// Print the relay's summaries as JSON
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct ShowArgs {
    /// The campaign's id
    id: String,
    #[command(flatten)]
    relay: RelayArg,
    /// Print the relay's summary as JSON
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct ChangeArgs {
    /// The campaign's id
    id: String,
    #[command(flatten)]
    key: KeyArg,
    #[command(flatten)]
    relay: RelayArg,
    /// Print the relay's summary as JSON
    #[arg(long)]
    json: bool,
}

pub async fn run(command: Command) -> Result<()> {
    match command {
        Command::Create(args) => create(args).await,
        Command::List(args) => list(args).await,
        Command::Show(args) => show(args).await,
        Command::Pause(args) => change(args, "paused").await,
        Command::Resume(args) => change(args, "active").await,
        Command::Close(args) => change(args, "closed").await,
        Command::Results(args) => crate::export::results(args).await,
        Command::Verify(args) => crate::export::verify_command(&args),
    }
}

async fn create(args: CreateArgs) -> Result<()> {
    let text = read_definition(&args.file)?;
    // A broken file is reported before anything else is looked at.
    let value = parse_syntax(&args.file, &text)?;
    let key = load_key(&args.key.key)?;
    let relay = Relay::new(&args.relay.relay)?;
    let info = match value.get("chains") {
        None => relay.info().await?,
        Some(_) => Value::Null,
    };
    let spec = parse_definition(&args.file, &text, &key, &info)?;
    let audience = relay.address().await?;
    let (summary, created) = submit(&relay, &key, &audience, &spec).await?;
    if args.json {
        println!("{summary:#}");
        return Ok(());
    }
    let id = &spec.id;
    if created {
        println!("created campaign {id}");
    } else {
        println!("campaign {id} already exists with this definition: nothing changed");
    }
    print!("{}", describe(&summary));
    Ok(())
}

/// Sends a definition; the relay's summary and whether the campaign is new.
pub async fn submit(
    relay: &Relay,
    key: &SecretKey,
    audience: &datahub_core::Address,
    spec: &CampaignSpec,
) -> Result<(Value, bool)> {
    let body = serde_json::to_vec(spec).context("cannot encode the campaign as JSON")?;
    relay
        .create_campaign(key, audience, body)
        .await
        .map_err(|e| refused(e, &format!("campaign {}", spec.id)))
}

async fn list(args: ListArgs) -> Result<()> {
    let relay = Relay::new(&args.relay.relay)?;
    let campaigns = relay.campaigns().await?;
    if args.json {
        println!("{:#}", Value::Array(campaigns));
        return Ok(());
    }
    print!("{}", table(&campaigns));
    Ok(())
}

async fn show(args: ShowArgs) -> Result<()> {
    check_id(&args.id)?;
    let relay = Relay::new(&args.relay.relay)?;
    let summary = relay
        .campaign(&args.id)
        .await
        .with_context(|| format!("cannot show campaign {}", args.id))?;
    if args.json {
        println!("{summary:#}");
    } else {
        print!("{}", describe(&summary));
    }
    Ok(())
}

async fn change(args: ChangeArgs, status: &str) -> Result<()> {
    check_id(&args.id)?;
    let key = load_key(&args.key.key)?;
    let relay = Relay::new(&args.relay.relay)?;
    let audience = relay.address().await?;
    let summary = relay
        .set_campaign_status(&key, &audience, &args.id, status)
        .await
        .map_err(|e| refused(e, &format!("campaign {}", args.id)))?;
    if args.json {
        println!("{summary:#}");
        return Ok(());
    }
    let done = match status {
        "paused" => "paused",
        "active" => "resumed",
        _ => "closed",
    };
    println!("campaign {} {done}", args.id);
    print!("{}", describe(&summary));
    Ok(())
}

/// A relay's refusal as the error users read: what was refused, the relay's message, its code.
pub fn refused(error: SendError, what: &str) -> anyhow::Error {
    match error {
        SendError::Api(failure) if failure.code.is_empty() => {
            anyhow::anyhow!("the relay refused {what}: {failure}")
        }
        SendError::Api(failure) => {
            anyhow::anyhow!("the relay refused {what}: {failure} ({})", failure.code)
        }
        other => other.into_anyhow(),
    }
}

/// Campaign ids are 3–64 of `a-z 0-9 -` (the relay's rule), checked here so that a typo is not
/// sent as part of a path.
pub fn check_id(id: &str) -> Result<()> {
    let ok = (3..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !ok {
        bail!("{id:?} is not a campaign id: 3 to 64 characters of a-z, 0-9 and -");
    }
    Ok(())
}

fn read_definition(path: &Path) -> Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("no campaign definition at {}", path.display())
        }
        Err(e) => Err(anyhow::Error::new(e).context(format!("cannot read {}", path.display()))),
    }
}

/// Reads the requester's key, saying which flag names another.
pub fn load_key(path: &Path) -> Result<SecretKey> {
    if !path.exists() {
        bail!(
            "no key file at {}: make one with `datahub keygen -o {}` or pass --key FILE",
            path.display(),
            path.display()
        );
    }
    crate::keygen::load(path)
}

/// Whether `path` is TOML (by its name) rather than JSON.
fn is_toml(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"))
}

/// The definition as JSON, or its syntax error with the line.
fn parse_syntax(path: &Path, text: &str) -> Result<Value> {
    let name = path.display();
    if is_toml(path) {
        toml::from_str(text)
            .map_err(|e| anyhow::anyhow!("{name} is not valid TOML: {}", e.to_string().trim_end()))
    } else {
        serde_json::from_str(text).map_err(|e| anyhow::anyhow!("{name} is not valid JSON: {e}"))
    }
}

/// Parses a definition and completes it: without `encryption_key`, uploads are sealed to `key`;
/// without `chains`, the campaign pays on the one chain where the relay (`info`, its
/// `/v1/info`) pays the campaign's token (several such chains: the definition must name one).
pub fn parse_definition(
    path: &Path,
    text: &str,
    key: &SecretKey,
    info: &Value,
) -> Result<CampaignSpec> {
    let name = path.display();
    let mut value = parse_syntax(path, text)?;
    let object = value
        .as_object_mut()
        .with_context(|| format!("{name}: a campaign definition is a JSON object (TOML table)"))?;
    let complete = object.contains_key("encryption_key") && object.contains_key("chains");
    if complete {
        // Straight from the text, so that a wrong or unknown field is reported with its line.
        let parsed = if is_toml(path) {
            toml::from_str(text).map_err(|e| anyhow::anyhow!("{}", e.to_string().trim_end()))
        } else {
            serde_json::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))
        };
        return parsed.map_err(|e| anyhow::anyhow!("{name} is not a campaign definition: {e}"));
    }
    if !object.contains_key("encryption_key") {
        let public = hex::encode(key.public_key().to_compressed());
        object.insert("encryption_key".into(), Value::String(public));
    }
    if !object.contains_key("chains") {
        let token = object.get("token").and_then(Value::as_str).unwrap_or("");
        let chains = paying_chains(info, token);
        // A campaign pays on one chain: its budget is held by that chain's escrow.
        match chains.as_slice() {
            [] => bail!(
                "{name} has no chains and the relay pays {token:?} on none: name the chain (\"chains\": [56])"
            ),
            [chain] => {
                object.insert("chains".into(), Value::from(vec![*chain]));
            }
            several @ [first, ..] => bail!(
                "{name} has no chains and the relay pays {token:?} on several ({several:?}): a campaign pays on one, name it (\"chains\": [{first}])"
            ),
        }
    }
    serde_json::from_value(value)
        .map_err(|e| anyhow::anyhow!("{name} is not a campaign definition: {e}"))
}

/// The chain ids in a relay's `/v1/info` on which `token` is paid, in the relay's order.
pub fn paying_chains(info: &Value, token: &str) -> Vec<u64> {
    let chains = info.get("chains").and_then(Value::as_array);
    chains
        .into_iter()
        .flatten()
        .filter(|c| c.get("tokens").and_then(|t| t.get(token)).is_some())
        .filter_map(|c| c.get("id").and_then(Value::as_u64))
        .collect()
}

/// One campaign summary, for people.
pub fn describe(summary: &Value) -> String {
    let text = |field: &str| summary.get(field).map_or(String::new(), plain);
    let mut out = format!(
        "  {id}  {kind}  {status}\n  title        {title}\n  items        {items} ({open} tasks open)\n  reward       {reward} {token} per answer, budget {budget} ({left} left)\n  overlap      {overlap}, lease {lease} s, at least {min} s per task\n  chains       {chains}\n  owner        {owner}\n",
        id = text("id"),
        kind = text("kind"),
        status = text("status"),
        title = text("title"),
        items = text("items"),
        open = text("open_tasks"),
        reward = text("reward"),
        token = text("token"),
        budget = text("budget"),
        left = text("budget_left"),
        overlap = text("overlap"),
        lease = text("lease_seconds"),
        min = text("min_task_seconds"),
        chains = text("chains"),
        owner = text("owner"),
    );
    let labels = text("labels");
    if !labels.is_empty() {
        let multi = if summary.get("multi_label") == Some(&Value::Bool(true)) {
            " (several may be given)"
        } else {
            ""
        };
        out.push_str(&format!("  labels       {labels}{multi}\n"));
    }
    if let Some(upload) = summary.get("upload").filter(|u| !u.is_null()) {
        out.push_str(&format!("  upload       {upload}\n"));
    }
    out
}

/// The campaign list, one line each.
fn table(campaigns: &[Value]) -> String {
    if campaigns.is_empty() {
        return "no active campaigns\n".to_owned();
    }
    let field = |c: &Value, f: &str| c.get(f).map_or(String::new(), plain);
    let mut out = String::new();
    for c in campaigns {
        out.push_str(&format!(
            "{:<32} {:<21} {:>6} items {:>6} open  {} {}  {}\n",
            field(c, "id"),
            field(c, "kind"),
            field(c, "items"),
            field(c, "open_tasks"),
            field(c, "reward"),
            field(c, "token"),
            field(c, "title"),
        ));
    }
    out
}

/// A JSON value as text: strings without quotes, lists comma-separated.
fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(plain).collect::<Vec<_>>().join(", "),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use serde_json::json;

    fn info() -> Value {
        json!({"chains": [
            {"id": 56, "tokens": {"USDT": {}, "OORT": {}}},
            {"id": 1, "tokens": {"USDT": {}}},
        ]})
    }

    const MINIMAL: &str = r#"{
  "id": "cats",
  "kind": "image_categorization",
  "title": "Cats",
  "instructions": "Pick one",
  "labels": ["cat", "dog"],
  "items": [{"image_url": "/demo/cat-face.svg"}],
  "reward": "0.05",
  "token": "USDT",
  "budget": "1"
}"#;

    #[test]
    fn a_definition_is_completed_with_the_key_and_the_paying_chain() {
        let key = SecretKey::derive(&[3; 32]);
        let oort = MINIMAL.replace("\"USDT\"", "\"OORT\"");
        let spec = parse_definition(Path::new("c.json"), &oort, &key, &info()).unwrap();
        assert_eq!(
            spec.encryption_key,
            hex::encode(key.public_key().to_compressed())
        );
        assert_eq!(spec.chains, vec![56]);
        // USDT is paid on two chains: a campaign pays on one, so the definition must say which.
        let err = parse_definition(Path::new("c.json"), MINIMAL, &key, &info()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "c.json has no chains and the relay pays \"USDT\" on several ([56, 1]): a campaign pays on one, name it (\"chains\": [56])"
        );
    }

    #[test]
    fn toml_definitions_read_like_json_ones() {
        let key = SecretKey::derive(&[3; 32]);
        let text = r#"
id = "cats"
kind = "image_categorization"
title = "Cats"
instructions = "Pick one"
labels = ["cat", "dog"]
reward = "0.05"
token = "USDT"
budget = "1"
chains = [56]
encryption_key = "02aa"

[[items]]
image_url = "/demo/cat-face.svg"
"#;
        let spec = parse_definition(Path::new("c.toml"), text, &key, &info()).unwrap();
        assert_eq!(spec.items, vec![json!({"image_url": "/demo/cat-face.svg"})]);
        assert_eq!(spec.chains, vec![56]);
    }

    #[test]
    fn errors_name_the_file_the_line_and_the_field() {
        let key = SecretKey::derive(&[3; 32]);
        let path = Path::new("c.json");
        let err = |text: &str, path: &Path| {
            parse_definition(path, text, &key, &info())
                .map(drop)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err("{\n  \"id\": \"x\",\n  oops\n}", path),
            "c.json is not valid JSON: key must be a string at line 3 column 3"
        );
        let toml_err = err("id = \"x\"\nkind = \n", Path::new("c.toml"));
        assert!(
            toml_err.starts_with("c.toml is not valid TOML: ") && toml_err.contains("line 2"),
            "{toml_err}"
        );
        let unknown = MINIMAL
            .replace("\"budget\": \"1\"", "\"budget\": \"1\",\n  \"colour\": 1")
            .replace("\"USDT\"", "\"OORT\"");
        let e = err(&unknown, path);
        assert!(
            e.starts_with("c.json is not a campaign definition: unknown field `colour`"),
            "{e}"
        );
        // A complete definition is parsed from its text: the error has the line.
        let complete = unknown.replace(
            "\"id\": \"cats\",",
            "\"id\": \"cats\", \"chains\": [1], \"encryption_key\": \"02\",",
        );
        let e = err(&complete, path);
        assert!(
            e.contains("unknown field `colour`") && e.contains("line 11"),
            "{e}"
        );
        assert_eq!(
            err("[1]", path),
            "c.json: a campaign definition is a JSON object (TOML table)"
        );
        let nowhere = MINIMAL.replace("\"USDT\"", "\"BTC\"");
        assert_eq!(
            err(&nowhere, path),
            "c.json has no chains and the relay pays \"BTC\" on none: name the chain (\"chains\": [56])"
        );
    }

    #[test]
    fn ids_are_checked_before_they_become_paths() {
        assert!(check_id("demo-voice-recording").is_ok());
        for bad in ["..", "a/b", "UPPER", "x"] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
    }
}
