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
    /// List the relay's active campaigns (`--all`: paused and closed too; `--mine`: yours)
    List(ListArgs),
    /// Show one campaign: its definition (without items) and progress (`--watch`: follow it)
    Show(ShowArgs),
    /// The per-contributor quality report of a campaign (its owner only)
    Quality(QualityArgs),
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
    /// Let the compute nodes that leased this campaign's jobs open the uploads: wrap each
    /// object's key to the node's key and post the grant (`--watch`: keep granting, until Ctrl-C)
    Grant(crate::grant::Args),
    /// A benchmark, not a test: writes synthetic rows as an hf or webdataset export and reports
    /// rows/s and peak memory
    #[command(hide = true)]
    BenchExport(crate::dataset::BenchArgs),
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
    /// Paused and closed campaigns too
    #[arg(long)]
    all: bool,
    /// Only the campaigns of --key
    #[arg(long)]
    mine: bool,
    #[command(flatten)]
    key: KeyArg,
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
    /// Keep watching: print a line each time the progress changes, until every item is
    /// decided or the campaign is closed (or Ctrl-C)
    #[arg(long, conflicts_with = "json")]
    watch: bool,
    /// Seconds between two looks with --watch (0.1 to 3600)
    #[arg(long, value_name = "SECONDS", default_value = "2", requires = "watch")]
    interval: f64,
}

#[derive(clap::Args)]
pub struct QualityArgs {
    /// The campaign's id
    id: String,
    #[command(flatten)]
    key: KeyArg,
    #[command(flatten)]
    relay: RelayArg,
    /// Print the relay's report as JSON
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
        Command::Quality(args) => quality(args).await,
        Command::Pause(args) => change(args, "paused").await,
        Command::Resume(args) => change(args, "active").await,
        Command::Close(args) => change(args, "closed").await,
        Command::Results(args) => crate::export::results(args).await,
        Command::Verify(args) => crate::export::verify_command(&args),
        Command::Grant(args) => crate::grant::run(args).await,
        Command::BenchExport(args) => crate::dataset::bench(&args),
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
    let owner = if args.mine {
        Some(load_key(&args.key.key)?.address())
    } else {
        None
    };
    let campaigns = relay.campaigns_filtered(args.all, owner.as_ref()).await?;
    if args.json {
        println!("{:#}", Value::Array(campaigns));
        return Ok(());
    }
    if campaigns.is_empty() {
        let which = match (args.all, owner) {
            (false, None) => "no active campaigns".to_owned(),
            (true, None) => "no campaigns".to_owned(),
            (false, Some(o)) => format!("no active campaigns of {}", o.to_checksum()),
            (true, Some(o)) => format!("no campaigns of {}", o.to_checksum()),
        };
        println!("{which}");
        return Ok(());
    }
    print!("{}", table(&campaigns));
    Ok(())
}

async fn show(args: ShowArgs) -> Result<()> {
    check_id(&args.id)?;
    if args.watch && !(0.1..=3600.0).contains(&args.interval) {
        bail!(
            "--interval {} is out of range: give 0.1 to 3600 seconds",
            args.interval
        );
    }
    let relay = Relay::new(&args.relay.relay)?;
    let fetch = || async {
        relay
            .campaign(&args.id)
            .await
            .with_context(|| format!("cannot show campaign {}", args.id))
    };
    let summary = fetch().await?;
    if args.json {
        println!("{summary:#}");
        return Ok(());
    }
    print!("{}", describe(&summary));
    if !args.watch {
        return Ok(());
    }
    let mut last = progress_line(&summary);
    let mut summary = summary;
    loop {
        if let Some(end) = finished(&summary) {
            println!("{end}");
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_secs_f64(args.interval)).await;
        summary = fetch().await?;
        let line = progress_line(&summary);
        if line != last {
            println!("{line}");
            last = line;
        }
    }
}

/// Why `show --watch` stops watching, if it does: nothing more will happen.
fn finished(summary: &Value) -> Option<String> {
    let id = summary.get("id").map_or(String::new(), plain);
    if summary.get("status").and_then(Value::as_str) == Some("closed") {
        return Some(format!("campaign {id} is closed"));
    }
    let items = summary.get("items").and_then(Value::as_i64)?;
    let decided = summary
        .get("progress")
        .and_then(|p| p.get("items_decided"))
        .and_then(Value::as_i64)?;
    (items > 0 && decided >= items)
        .then(|| format!("campaign {id}: every item is decided: `datahub campaign results {id} -o DIR` exports them"))
}

/// One line of progress, as `show --watch` prints it when something changed.
fn progress_line(summary: &Value) -> String {
    let p = |field: &str| {
        summary
            .get("progress")
            .and_then(|p| p.get(field))
            .map_or_else(|| "?".to_owned(), plain)
    };
    let answers = |field: &str| {
        summary
            .get("progress")
            .and_then(|p| p.get("answers"))
            .and_then(|a| a.get(field))
            .map_or_else(|| "?".to_owned(), plain)
    };
    let text = |field: &str| summary.get(field).map_or(String::new(), plain);
    format!(
        "{status}: {decided} of {items} items decided, {pending} pending; answers {accepted} accepted, {rejected} rejected; spent {spent} {token}, {left} left",
        status = text("status"),
        decided = p("items_decided"),
        items = text("items"),
        pending = p("items_pending"),
        accepted = answers("accepted"),
        rejected = answers("rejected"),
        spent = p("spent"),
        token = text("token"),
        left = p("left"),
    )
}

async fn quality(args: QualityArgs) -> Result<()> {
    check_id(&args.id)?;
    let key = load_owner_key(&args.key.key)?;
    let relay = Relay::new(&args.relay.relay)?;
    let audience = relay.address().await?;
    let path = format!("v1/campaigns/{}/quality", args.id);
    let report = relay
        .send_signed(&key, &audience, reqwest::Method::GET, &path, None)
        .await;
    let report = match report {
        Ok(body) => serde_json::from_slice::<Value>(&body)
            .context("the relay's quality report is not JSON")?,
        Err(e) => return Err(not_owner(&relay, e, &key, &args.key.key, &args.id).await),
    };
    if args.json {
        println!("{report:#}");
    } else {
        print!("{}", quality_table(&report));
    }
    Ok(())
}

/// The quality report, for people: the items, then one line per contributor.
pub fn quality_table(report: &Value) -> String {
    let get = |v: &Value, f: &str| v.get(f).map_or_else(|| "?".to_owned(), plain);
    let items = report.get("items").cloned().unwrap_or(Value::Null);
    let mut out = format!(
        "campaign {id}  {kind}  decided by {method}\n  items        {total}: {accepted} decided, {pending} pending ({golden} golden items besides)\n",
        id = get(report, "campaign"),
        kind = get(report, "kind"),
        method = get(report, "method"),
        total = get(&items, "total"),
        accepted = get(&items, "accepted"),
        pending = get(&items, "pending"),
        golden = get(&items, "golden"),
    );
    let contributors = report
        .get("contributors")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if contributors.is_empty() {
        out.push_str("  no contributor has answered yet\n");
        return out;
    }
    out.push_str(&format!(
        "  {:<42} {:>7} {:>8} {:>8} {:>7} {:>6} {:>9} {:>5}  {}\n",
        "contributor",
        "answers",
        "accepted",
        "rejected",
        "pending",
        "golden",
        "agreement",
        "trust",
        "restricted"
    ));
    let percent = |v: &Value, f: &str| match v.get(f).and_then(Value::as_f64) {
        Some(x) => format!("{:.0}%", x * 100.0),
        None => "-".to_owned(),
    };
    for c in &contributors {
        let restricted = match c.get("reason").and_then(Value::as_str) {
            Some(reason) => reason.to_owned(),
            None => "no".to_owned(),
        };
        let trust = c.get("trust").and_then(Value::as_f64).unwrap_or(0.0);
        out.push_str(&format!(
            "  {:<42} {:>7} {:>8} {:>8} {:>7} {:>6} {:>9} {:>5.2}  {}\n",
            get(c, "address"),
            get(c, "answers"),
            get(c, "accepted"),
            get(c, "rejected"),
            get(c, "pending"),
            percent(c, "golden_accuracy"),
            percent(c, "agreement"),
            trust,
            restricted,
        ));
    }
    out
}

async fn change(args: ChangeArgs, status: &str) -> Result<()> {
    check_id(&args.id)?;
    let key = load_owner_key(&args.key.key)?;
    let relay = Relay::new(&args.relay.relay)?;
    let audience = relay.address().await?;
    let summary = match relay
        .set_campaign_status(&key, &audience, &args.id, status)
        .await
    {
        Ok(summary) => summary,
        Err(e) => return Err(not_owner(&relay, e, &key, &args.key.key, &args.id).await),
    };
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
    if status == "closed" {
        println!("{}", returned(&summary));
    }
    Ok(())
}

/// What closing gave back, for the requester: the amount, the chain, and where to see it.
fn returned(summary: &Value) -> String {
    let refunded = summary
        .get("progress")
        .and_then(|p| p.get("refunded"))
        .map_or_else(|| "0".to_owned(), plain);
    let token = summary.get("token").map_or(String::new(), plain);
    let chain = summary.get("chains").map_or(String::new(), plain);
    if refunded == "0" {
        return "nothing came back to your funds: the whole budget was spent or is owed for tasks under way".to_owned();
    }
    format!("returned to your funds: {refunded} {token} on chain {chain} (see `datahub funds`)")
}

/// A refusal; when it is the owner's, it names who signed and who owns the campaign.
async fn not_owner(
    relay: &Relay,
    error: SendError,
    key: &SecretKey,
    key_file: &Path,
    id: &str,
) -> anyhow::Error {
    let is_not_owner = matches!(&error, SendError::Api(f) if f.code == "not_owner");
    if !is_not_owner {
        return refused(error, &format!("campaign {id}"));
    }
    let owner = match relay.campaign(id).await {
        Ok(summary) => summary
            .get("owner")
            .and_then(Value::as_str)
            .and_then(|o| datahub_core::Address::parse(o).ok())
            .map_or_else(|| "another key".to_owned(), |o| o.to_checksum()),
        Err(_) => "another key".to_owned(),
    };
    anyhow::anyhow!(
        "the relay refused campaign {id}: it is owned by {owner}, and {} signed (the key in {}): pass the owner's key with --key FILE (not_owner)",
        key.address().to_checksum(),
        key_file.display()
    )
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
    crate::keygen::load_as(path, crate::keygen::Role::Yours("--key"))
}

/// Reads the key of a campaign's owner: a missing file is not answered with `keygen`, since a
/// new key owns nothing.
pub fn load_owner_key(path: &Path) -> Result<SecretKey> {
    crate::keygen::load_as(path, crate::keygen::Role::CampaignOwner)
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
    let text = &quote_amounts(path, text)?;
    let value = parse_syntax(path, text)?;
    let object = value
        .as_object()
        .with_context(|| format!("{name}: a campaign definition is a JSON object (TOML table)"))?;
    let mut additions: Vec<(&str, Value)> = Vec::new();
    if !object.contains_key("encryption_key") {
        let public = hex::encode(key.public_key().to_compressed());
        additions.push(("encryption_key", Value::String(public)));
    }
    if !object.contains_key("chains") {
        let token = object.get("token").and_then(Value::as_str).unwrap_or("");
        let chains = paying_chains(info, token);
        // A campaign pays on one chain: its budget is held by that chain's escrow.
        match chains.as_slice() {
            // Naming a chain would not help: no chain of this relay pays the token.
            [] => bail!(
                "{name}: this relay pays {token:?} on no chain; it pays {}: set \"token\" to one of them",
                paid_tokens(info)
            ),
            [chain] => additions.push(("chains", Value::from(vec![*chain]))),
            several @ [first, ..] => bail!(
                "{name} has no chains and the relay pays {token:?} on several ({several:?}): a campaign pays on one, name it (\"chains\": [{first}])"
            ),
        }
    }
    if is_toml(path) {
        // TOML keys cannot share a line: the additions go first, one line each (before any
        // table), and an error's line is counted back to the user's file.
        let added: String = additions
            .iter()
            .map(|(field, v)| format!("{field} = {v}\n"))
            .collect();
        let completed = format!("{added}{text}");
        return toml::from_str(&completed).map_err(|e| {
            let place = e
                .span()
                .map(|span| {
                    let before = completed.get(..span.start).unwrap_or("");
                    let line = before.matches('\n').count() + 1;
                    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                    match line.checked_sub(additions.len()).filter(|l| *l > 0) {
                        Some(line) => format!(" at line {line} column {column}"),
                        None => String::new(),
                    }
                })
                .unwrap_or_default();
            anyhow::anyhow!(
                "{name} is not a campaign definition: {}{place}",
                e.message().trim_end()
            )
        });
    }
    // Parsed from the text, so that a wrong or unknown field is reported with its line; JSON
    // additions go on the object's first line, which keeps every other line where it was.
    let completed = match text.find('{') {
        Some(brace) if !additions.is_empty() => {
            let fields: String = additions
                .iter()
                .map(|(field, v)| format!("\"{field}\": {v}, "))
                .collect();
            format!("{}{fields}{}", &text[..=brace], &text[brace + 1..])
        }
        _ => text.clone(),
    };
    serde_json::from_str(&completed)
        .map_err(|e| anyhow::anyhow!("{name} is not a campaign definition: {e}"))
}

/// The money fields, whose amounts the relay takes as strings so that no float rounds them.
const AMOUNT_FIELDS: [&str; 2] = ["reward", "budget"];

/// `"reward": 0.05` is the natural JSON (and `reward = 0.05` the natural TOML): such a number is
/// quoted here, in the text, so that every later error keeps its line. A number that is not an
/// amount (more than 6 decimals, an exponent, a sign) is refused with its field and line.
fn quote_amounts(path: &Path, text: &str) -> Result<String> {
    let toml = is_toml(path);
    let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
    for field in AMOUNT_FIELDS {
        let found = lines
            .iter()
            .enumerate()
            .find_map(|(i, line)| number_after(line, field, toml).map(|span| (i, span)));
        let Some((i, (start, end))) = found else {
            continue;
        };
        let Some(line) = lines.get_mut(i) else {
            continue;
        };
        let number = line.get(start..end).unwrap_or("").to_owned();
        if !is_amount(&number) {
            bail!(
                "{} line {}: {field} {number} is not an amount: write tokens with at most 6 decimals, as \"0.05\" (a string or a plain number)",
                path.display(),
                i + 1
            );
        }
        line.replace_range(start..end, &format!("\"{number}\""));
    }
    Ok(lines.join("\n"))
}

/// Where the number given to `field` on `line` is (JSON `"field": 1.5`, TOML `field = 1.5`).
fn number_after(line: &str, field: &str, toml: bool) -> Option<(usize, usize)> {
    let (after_key, separator) = if toml {
        let trimmed = line.trim_start();
        let rest = trimmed.strip_prefix(field)?;
        (line.len() - rest.len(), '=')
    } else {
        let quoted = format!("\"{field}\"");
        (line.find(&quoted)? + quoted.len(), ':')
    };
    let rest = line.get(after_key..)?;
    let rest_trimmed = rest.trim_start().strip_prefix(separator)?.trim_start();
    let start = line.len() - rest_trimmed.len();
    let len = rest_trimmed
        .find(|c: char| !(c.is_ascii_digit() || "+-.eE".contains(c)))
        .unwrap_or(rest_trimmed.len());
    let first = rest_trimmed.chars().next()?;
    (len > 0 && (first.is_ascii_digit() || first == '-' || first == '.'))
        .then_some((start, start + len))
}

/// Digits, then at most 6 decimals: what the relay's amounts are.
fn is_amount(text: &str) -> bool {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    !whole.is_empty()
        && digits(whole)
        && digits(fraction)
        && fraction.len() <= 6
        && !(text.contains('.') && fraction.is_empty())
}

/// The tokens a relay's `/v1/info` lists on any chain, for people (`OORT, USDT`, or `nothing`).
fn paid_tokens(info: &Value) -> String {
    let mut tokens: Vec<&str> = info
        .get("chains")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("tokens").and_then(Value::as_object))
        .flat_map(|t| t.keys().map(String::as_str))
        .collect();
    tokens.sort_unstable();
    tokens.dedup();
    if tokens.is_empty() {
        "nothing".to_owned()
    } else {
        tokens.join(", ")
    }
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

/// One campaign summary, for people: what it is, what it has done (counted by the relay, not
/// estimated from the budget) and where its money is.
pub fn describe(summary: &Value) -> String {
    let text = |field: &str| summary.get(field).map_or(String::new(), plain);
    let progress = summary.get("progress").cloned().unwrap_or(Value::Null);
    let p = |field: &str| progress.get(field).map_or_else(|| "?".to_owned(), plain);
    let answers = |field: &str| {
        progress
            .get("answers")
            .and_then(|a| a.get(field))
            .map_or_else(|| "?".to_owned(), plain)
    };
    let mut out = format!(
        "  {id}  {kind}  {status}\n  title        {title}\n  items        {items}: {decided} decided, {pending} pending, {open} open\n  answers      {accepted} accepted, {rejected} rejected, {waiting} pending\n  reward       {reward} {token} per answer\n  budget       {budget} {token}: {spent} spent, {reserved} reserved, {left} left\n  overlap      {overlap}, lease {lease} s, at least {min} s per task\n  chains       {chains}\n  owner        {owner}\n",
        id = text("id"),
        kind = text("kind"),
        status = text("status"),
        title = text("title"),
        items = text("items"),
        decided = p("items_decided"),
        pending = p("items_pending"),
        open = p("items_open"),
        accepted = answers("accepted"),
        rejected = answers("rejected"),
        waiting = answers("pending"),
        reward = text("reward"),
        token = text("token"),
        budget = text("budget"),
        spent = p("spent"),
        reserved = p("reserved"),
        left = p("left"),
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
        let decided = c
            .get("progress")
            .and_then(|p| p.get("items_decided"))
            .map_or_else(|| "?".to_owned(), plain);
        out.push_str(&format!(
            "{:<32} {:<21} {:<6} {:>6}/{:<6} decided  {} {}  {}\n",
            field(c, "id"),
            field(c, "kind"),
            field(c, "status"),
            decided,
            field(c, "items"),
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
        // Without chains or encryption_key (the relay's and the key's are added), a TOML
        // mistake still names its line in the user's file.
        let toml = "id = \"cats\"\nkind = \"image_categorization\"\ntitle = \"Cats\"\ninstructions = \"x\"\nlabels = [\"a\", \"b\"]\nreward = \"0.05\"\ntoken = \"OORT\"\nbudget = \"1\"\ncolour = 1\n";
        let e = err(toml, Path::new("c.toml"));
        assert!(
            e.starts_with("c.toml is not a campaign definition: unknown field `colour`")
                && e.ends_with(" at line 9 column 1"),
            "{e}"
        );
        assert_eq!(
            err("[1]", path),
            "c.json: a campaign definition is a JSON object (TOML table)"
        );
        let nowhere = MINIMAL.replace("\"USDT\"", "\"BTC\"");
        assert_eq!(
            err(&nowhere, path),
            "c.json: this relay pays \"BTC\" on no chain; it pays OORT, USDT: set \"token\" to one of them"
        );
    }

    #[test]
    fn amounts_may_be_numbers_and_errors_keep_their_line() {
        let key = SecretKey::derive(&[3; 32]);
        let path = Path::new("c.json");
        let numbers = MINIMAL
            .replace("\"reward\": \"0.05\"", "\"reward\": 0.05")
            .replace("\"budget\": \"1\"", "\"budget\": 1")
            .replace("\"USDT\"", "\"OORT\"");
        let spec = parse_definition(path, &numbers, &key, &info()).unwrap();
        assert_eq!((spec.reward.as_str(), spec.budget.as_str()), ("0.05", "1"));
        let seven = numbers.replace("\"budget\": 1", "\"budget\": 1.0000001");
        let err = parse_definition(path, &seven, &key, &info()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "c.json line 10: budget 1.0000001 is not an amount: write tokens with at most 6 decimals, as \"0.05\" (a string or a plain number)"
        );
        let toml = "id = \"cats\"\nreward = 0.05\nbudget = 1e-7\n";
        let err = parse_definition(Path::new("c.toml"), toml, &key, &info()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("c.toml line 3: budget 1e-7 is not an amount"),
            "{err}"
        );
        // Without encryption_key and chains (filled in), a wrong type still has its line.
        let wrong = numbers.replace("\"title\": \"Cats\"", "\"title\": 7");
        let err = parse_definition(path, &wrong, &key, &info()).unwrap_err();
        assert!(
            err.to_string().starts_with("c.json is not a campaign definition: invalid type: integer `7`, expected a string at line 4"),
            "{err}"
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
