//! The requester's export: `datahub campaign results ID --format jsonl|csv|coco|hf|webdataset -o DIR` and
//! `datahub campaign verify DIR`.
//!
//! `results` pages through `GET /v1/campaigns/{id}/results` (signed by the requester's key),
//! joins the validators' verdicts (`GET /v1/campaigns/{id}/verdicts`), fetches every sealed
//! object a record names (uploads, and items that are sealed objects), verifies and decrypts it
//! with the requester's key into `DIR/objects/<object id>.<ext>` (the extension from the
//! content's magic bytes), and writes the records in the chosen format. Last it writes
//! `DIR/manifest.json` (the BLAKE3 hash and size of every file written) and `DIR/manifest.sig`,
//! the requester's EIP-191 (`personal_sign`) signature of the manifest's exact bytes. `verify`
//! checks both. The formats are described in `docs/cli.md`.

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use datahub_core::eth::{Address, Signature, Timestamp, personal};
use datahub_core::{OpenError, SecretKey};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::client::{Relay, parse_object_id};
use crate::dataset;
use crate::object::{DEFAULT_RELAY, get};
use crate::progress;
use crate::validate::checks::Media;

/// Why some answers have no receipt (the manifest's `missing_receipts.reason`; the console
/// writes the same words).
pub const MISSING_RECEIPTS_REASON: &str = "receipt null: answers stored before the relay kept receipts (its migration 0015); a receipt is the contributor's signature and cannot be made afterwards";

/// The manifest's `format`.
pub const MANIFEST_FORMAT: &str = "datahub-export/1";
/// The largest `image_url` image a COCO export downloads.
const MAX_URL_IMAGE_BYTES: usize = 64 * 1024 * 1024;

/// `value[key]`, or `null` (the same as serde_json's indexing, without the indexing lint).
fn field<'a>(value: &'a Value, key: &str) -> &'a Value {
    value.get(key).unwrap_or(&Value::Null)
}

/// The export's formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON record a line (`results.jsonl`)
    Jsonl,
    /// RFC 4180 CSV with a header line (`results.csv`)
    Csv,
    /// COCO (`annotations.json`), for image campaigns
    Coco,
    /// The Hugging Face layout: Parquet shards, a dataset card and croissant.json
    Hf,
    /// WebDataset: tar shards of media and JSON, one sample per record
    Webdataset,
}

#[derive(clap::Args)]
pub struct ResultsArgs {
    /// The campaign's id
    id: String,
    /// The format of the records
    #[arg(long, value_enum, default_value = "jsonl")]
    format: Format,
    /// The folder to write (created; must be new or empty)
    #[arg(short = 'o', long = "out", value_name = "DIR")]
    out: PathBuf,
    /// The requester's key file: signs the requests and the manifest, opens the uploads
    #[arg(
        long,
        short = 'k',
        alias = "identity",
        value_name = "FILE",
        env = "DATAHUB_IDENTITY",
        default_value = "datahub.key"
    )]
    key: PathBuf,
    /// The relay's URL
    #[arg(long, value_name = "URL", env = "DATAHUB_RELAY", default_value = DEFAULT_RELAY)]
    relay: String,
    /// Rows per shard (hf and webdataset; a shard also closes at 256 MiB)
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    shard_rows: u64,
}

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The export folder
    dir: PathBuf,
    /// The requester's address the manifest must be signed by
    #[arg(long, value_name = "ADDRESS")]
    requester: Option<String>,
}

/// One exported record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The item's index in the campaign.
    pub index: u64,
    /// The item, as the campaign defined it.
    pub item: Value,
    /// The aggregated answer, in the campaign's answer format.
    pub answer: Value,
    /// The answer flattened to text (labels and flags joined with `|`).
    pub label: String,
    /// How sure the aggregation is, 0 to 1.
    pub confidence: Option<f64>,
    /// How the answer was aggregated.
    pub method: String,
    /// The addresses of the contributors whose answers make it.
    pub contributors: Vec<String>,
    /// The uploaded object's id (uploads).
    pub object: Option<String>,
    /// The decrypted file in the export folder, relative to it.
    pub file: Option<String>,
    /// The validator's verdict on the upload, as signed (uploads to campaigns with validators).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Value>,
    /// Each contributor's signed receipt, `{contributor_id, receipt}` (the id a pseudonym: see
    /// [`dataset::contributor_id`]); a receipt is `null` for answers stored before receipts
    /// were kept whole.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub receipts: Vec<Value>,
    /// Uploads: `app` (the app's camera or microphone) or `file`, as the answer says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture: Option<String>,
    /// Models' predictions on the upload, with the models' hashes and the nodes' signed results.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub predictions: Vec<Value>,
}

/// What the relay's results page says about a record.
#[derive(Deserialize)]
struct RawRecord {
    index: u64,
    #[serde(default)]
    item: Value,
    #[serde(default)]
    answer: Value,
    #[serde(default)]
    confidence: Option<f64>,
    #[serde(default)]
    method: String,
    #[serde(default)]
    contributors: Vec<String>,
    #[serde(default)]
    object: Option<String>,
    /// `{contributor, receipt}` per accepted answer.
    #[serde(default)]
    receipts: Vec<Value>,
    #[serde(default)]
    predictions: Vec<Value>,
}

impl RawRecord {
    /// The receipts with each contributor's address replaced by their pseudonym.
    fn pseudonymous_receipts(&self, pseudonyms: &[u8; 32]) -> Vec<Value> {
        self.receipts
            .iter()
            .map(|r| {
                let address = field(r, "contributor").as_str().unwrap_or_default();
                json!({
                    "contributor_id": dataset::contributor_id(pseudonyms, address),
                    "receipt": field(r, "receipt"),
                })
            })
            .collect()
    }

    /// `app` or `file`, when the (upload) answer says which.
    fn capture(&self) -> Option<String> {
        field(&self.answer, "capture").as_str().map(str::to_owned)
    }
}

#[derive(Deserialize)]
struct ResultsPage {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    labels: Vec<String>,
    records: Vec<RawRecord>,
    /// Records left out because their contributors withdrew consent (campaign-wide).
    #[serde(default)]
    withdrawn: u64,
    next: Option<u64>,
}

/// The answer as one text: labels or flags joined with `|`, a label, or a verdict.
pub fn flat_label(answer: &Value) -> String {
    let list = |name: &str| {
        answer.get(name).and_then(Value::as_array).map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("|")
        })
    };
    list("labels")
        .or_else(|| list("flags"))
        .or_else(|| field(answer, "label").as_str().map(str::to_owned))
        .or_else(|| field(answer, "verdict").as_str().map(str::to_owned))
        .unwrap_or_default()
}

pub async fn results(args: ResultsArgs) -> Result<()> {
    let key = crate::campaign::load_owner_key(&args.key)?;
    let relay = Relay::new(&args.relay)?;
    let id = &args.id;
    crate::campaign::check_id(id)?;
    let audience = relay.address().await?;
    let summary = relay
        .get_json(&format!("v1/campaigns/{id}"))
        .await
        .with_context(|| format!("cannot read campaign {id:?}"))?;
    let kind = field(&summary, "kind")
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if args.format == Format::Coco
        && !matches!(
            kind.as_str(),
            "image_categorization" | "content_moderation" | "content_verification" | "image_upload"
        )
    {
        bail!("a {kind} campaign has no images: export it with --format jsonl or --format csv");
    }
    let layout = match args.format {
        Format::Hf => Some(dataset::Layout::Hf),
        Format::Webdataset => Some(dataset::Layout::Webdataset),
        _ => None,
    };
    if let Some(layout) = layout {
        return export_dataset(&args, layout, &relay, &key, &audience, &summary, &kind).await;
    }
    prepare_dir(&args.out)?;
    let bar = progress::count("records", field(&summary, "items").as_u64().unwrap_or(0));
    let mut raw = Vec::new();
    let mut labels: Vec<String> = field(&summary, "labels")
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let mut after: Option<u64> = None;
    let mut withdrawn;
    loop {
        let page = results_page(&relay, &key, &audience, id, &kind, after).await?;
        if !page.labels.is_empty() {
            labels = page.labels;
        }
        withdrawn = page.withdrawn;
        bar.inc(page.records.len() as u64);
        if bar.position() > bar.length().unwrap_or(0) {
            bar.set_length(bar.position());
        }
        raw.extend(page.records);
        match page.next {
            Some(next) if after.is_none_or(|a| next > a) => after = Some(next),
            _ => break,
        }
    }
    bar.finish_and_clear();
    let verdicts = verdicts(&relay, &key, &audience, id).await;
    let pseudonyms = dataset::pseudonym_key(&dataset::pseudonym_seed(&key), id);
    let objects_dir = args.out.join("objects");
    let mut records = Vec::with_capacity(raw.len());
    let mut opened: HashMap<String, String> = HashMap::new();
    let to_fetch = raw
        .iter()
        .filter(|r| r.object.is_some() || field(&r.item, "object").is_string())
        .count();
    let files_bar = progress::count("objects", to_fetch as u64);
    for r in raw {
        let object = r
            .object
            .clone()
            .or_else(|| field(&r.item, "object").as_str().map(str::to_owned));
        let file = match &object {
            Some(object) => match opened.get(object) {
                Some(file) => Some(file.clone()),
                None => {
                    let file = fetch_object(&relay, &key, object, &objects_dir, &args.out)
                        .await
                        .with_context(|| format!("record {}: object {object}", r.index))?;
                    files_bar.inc(1);
                    opened.insert(object.clone(), file.clone());
                    Some(file)
                }
            },
            None => None,
        };
        records.push(Record {
            index: r.index,
            label: flat_label(&r.answer),
            verdict: r.object.as_ref().and_then(|o| verdicts.get(o).cloned()),
            receipts: r.pseudonymous_receipts(&pseudonyms),
            capture: r.capture(),
            predictions: r.predictions.clone(),
            object: r.object,
            item: r.item,
            answer: r.answer,
            confidence: r.confidence,
            method: r.method,
            contributors: r.contributors,
            file,
        });
    }
    files_bar.finish_and_clear();
    let written = match args.format {
        Format::Jsonl => {
            write_file(&args.out.join("results.jsonl"), &to_jsonl(&records)?)?;
            "results.jsonl"
        }
        Format::Csv => {
            write_file(&args.out.join("results.csv"), to_csv(&records).as_bytes())?;
            "results.csv"
        }
        Format::Coco => {
            let images = coco_images(&relay, &records, &args.out).await?;
            let coco = to_coco(id, &kind, &labels, &records, &images)?;
            write_file(
                &args.out.join("annotations.json"),
                &serde_json::to_vec_pretty(&coco)?,
            )?;
            "annotations.json"
        }
        Format::Hf | Format::Webdataset => {
            bail!("the dataset layouts are written by export_dataset")
        }
    };
    write_signed_manifest(
        &args.out,
        id,
        &kind,
        relay.base().as_str(),
        &key,
        records.len(),
        withdrawn,
        records
            .iter()
            .flat_map(|r| &r.receipts)
            .filter(|r| r.get("receipt").is_none_or(Value::is_null))
            .count() as u64,
    )?;
    let signer = key.public_key().address();
    println!(
        "{} record(s) and {} object(s) of campaign {id} in {}: {written}, manifest.json signed by {}",
        records.len(),
        opened.len(),
        args.out.display(),
        signer.to_checksum()
    );
    Ok(())
}

/// `--format hf|webdataset`: pages through the results and writes each page's rows into shards
/// as it comes, so memory holds a page and a row group, not the campaign (the verdicts, one per
/// upload, are read first). A folder holding an unfinished export of the same campaign and
/// format is resumed after its last finished shard.
async fn export_dataset(
    args: &ResultsArgs,
    layout: dataset::Layout,
    relay: &Relay,
    key: &SecretKey,
    audience: &Address,
    summary: &Value,
    kind: &str,
) -> Result<()> {
    let id = &args.id;
    let state = dataset::open_dir(&args.out, layout, id)?;
    let resumed = state.shards.len();
    let mut after = state.resume_after();
    let pseudonyms = dataset::pseudonym_key(&dataset::pseudonym_seed(key), id);
    let verdicts = verdicts(relay, key, audience, id).await;
    let scratch = args.out.join(".objects.partial");
    let mut writer = dataset::Writer::new(&args.out, state, args.shard_rows);
    let bar = progress::count("records", field(summary, "items").as_u64().unwrap_or(0));
    let mut withdrawn;
    loop {
        let page = results_page(relay, key, audience, id, kind, after).await?;
        withdrawn = page.withdrawn;
        for r in page.records {
            let object = r
                .object
                .clone()
                .or_else(|| field(&r.item, "object").as_str().map(str::to_owned));
            let media = match &object {
                Some(object) => Some(
                    fetch_media(relay, key, object, &scratch)
                        .await
                        .with_context(|| format!("record {}: object {object}", r.index))?,
                ),
                None => None,
            };
            let row = dataset::Row {
                index: r.index,
                label: flat_label(&r.answer),
                verdict: r.object.as_ref().and_then(|o| verdicts.get(o).cloned()),
                receipts: r.pseudonymous_receipts(&pseudonyms),
                capture: r.capture(),
                predictions: r.predictions.clone(),
                contributor_ids: r
                    .contributors
                    .iter()
                    .map(|a| dataset::contributor_id(&pseudonyms, a))
                    .collect(),
                object: r.object,
                item: r.item,
                answer: r.answer,
                confidence: r.confidence,
                method: r.method,
                media,
            };
            writer.push(&row)?;
            bar.inc(1);
        }
        if bar.position() > bar.length().unwrap_or(0) {
            bar.set_length(bar.position());
        }
        match page.next {
            Some(next) if after.is_none_or(|a| next > a) => after = Some(next),
            _ => break,
        }
    }
    bar.finish_and_clear();
    let state = writer.finish()?;
    match std::fs::remove_dir_all(&scratch) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(
                anyhow::Error::new(e).context(format!("cannot remove {}", scratch.display()))
            );
        }
        _ => {}
    }
    let rows = state.rows();
    let signer = key.public_key().address().to_checksum();
    if layout == dataset::Layout::Hf {
        let text = |name: &str| field(summary, name).as_str().unwrap_or_default();
        dataset::write_hf_metadata(
            &args.out,
            &dataset::About {
                campaign: id,
                kind,
                title: if text("title").is_empty() {
                    id
                } else {
                    text("title")
                },
                instructions: text("instructions"),
                license: &hf_licence(text("licence")),
                license_url: text("licence_url"),
                relay: relay.base().as_str(),
                requester: &signer,
                rows,
                missing_receipts: state.missing_receipts(),
                shards: &state.shards,
            },
        )?;
    }
    write_signed_manifest(
        &args.out,
        id,
        kind,
        relay.base().as_str(),
        key,
        usize::try_from(rows).unwrap_or(usize::MAX),
        withdrawn,
        state.missing_receipts(),
    )?;
    let resumed = if resumed > 0 {
        format!(" ({resumed} shard(s) kept from the interrupted run)")
    } else {
        String::new()
    };
    println!(
        "{rows} record(s) of campaign {id} in {}: {} shard(s) in data/{resumed}, manifest.json signed by {signer}",
        args.out.display(),
        state.shards.len(),
    );
    Ok(())
}

/// The card's `license`: the Hub names licences by lower-case SPDX-like ids (`cc-by-4.0`);
/// a campaign without one, or with `other`, is `other`.
fn hf_licence(spec: &str) -> String {
    if spec.is_empty() {
        "other".into()
    } else {
        spec.to_ascii_lowercase()
    }
}

/// One page of results after `after`, checked to be of the campaign's kind.
async fn results_page(
    relay: &Relay,
    key: &SecretKey,
    audience: &Address,
    id: &str,
    kind: &str,
    after: Option<u64>,
) -> Result<ResultsPage> {
    let path = match after {
        Some(a) => format!("v1/campaigns/{id}/results?after={a}&limit=1000"),
        None => format!("v1/campaigns/{id}/results?limit=1000"),
    };
    let body = relay
        .send_signed(key, audience, Method::GET, &path, None)
        .await
        .map_err(|e| {
            e.into_anyhow()
                .context(format!("cannot read the results of {id:?}"))
        })?;
    let page: ResultsPage =
        serde_json::from_slice(&body).context("the relay's results are not the expected JSON")?;
    if !page.kind.is_empty() && page.kind != kind {
        bail!(
            "the relay's results are of a {} campaign, its summary says {kind}",
            page.kind
        );
    }
    Ok(page)
}

/// Fetches and opens `object` into `scratch`, and returns its bytes and extension (the file is
/// removed: the bytes go into a shard).
async fn fetch_media(
    relay: &Relay,
    key: &SecretKey,
    object: &str,
    scratch: &Path,
) -> Result<(Vec<u8>, String)> {
    let file = fetch_object(relay, key, object, scratch, scratch).await?;
    let path = scratch.join(&file);
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
    let extension = Path::new(&file)
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_else(|| "bin".into());
    Ok((bytes, extension))
}

/// The campaign's verdicts by object (empty, with a warning, when the relay has none to give).
async fn verdicts(
    relay: &Relay,
    key: &SecretKey,
    audience: &Address,
    id: &str,
) -> HashMap<String, Value> {
    let mut out = HashMap::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(a) => format!("v1/campaigns/{id}/verdicts?after={a}&limit=1000"),
            None => format!("v1/campaigns/{id}/verdicts?limit=1000"),
        };
        let page = match relay
            .send_signed(key, audience, Method::GET, &path, None)
            .await
        {
            Ok(body) => serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null),
            Err(e) => {
                eprintln!("warning: no validator verdicts ({e}); exporting without them");
                return out;
            }
        };
        for verdict in field(&page, "verdicts").as_array().into_iter().flatten() {
            if let Some(object) = field(verdict, "object").as_str() {
                out.insert(object.to_owned(), verdict.clone());
            }
        }
        match field(&page, "next").as_str() {
            Some(next) if after.as_deref() != Some(next) => after = Some(next.to_owned()),
            _ => return out,
        }
    }
}

fn prepare_dir(dir: &Path) -> Result<()> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!("{} is not empty: export into a new folder", dir.display());
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
        }
        Err(e) => Err(anyhow::Error::new(e).context(format!("cannot read {}", dir.display()))),
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Fetches, verifies and decrypts `object` into `dir/<id>.<ext>`; its path relative to `root`.
async fn fetch_object(
    relay: &Relay,
    key: &SecretKey,
    object: &str,
    dir: &Path,
    root: &Path,
) -> Result<String> {
    let id = parse_object_id(object)?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let plain = dir.join(id.to_string());
    get::download(relay, id, key.clone(), &plain)
        .await
        .map_err(|e| match e.downcast_ref::<OpenError>() {
            Some(OpenError::DecryptionFailed) => anyhow::anyhow!(
                "decryption failed: the key is not one of the object's recipients (or the object was altered)"
            ),
            _ => e,
        })?;
    let mut head = [0u8; 16];
    let n = {
        use std::io::Read as _;
        let mut file = std::fs::File::open(&plain)
            .with_context(|| format!("cannot read {}", plain.display()))?;
        file.read(&mut head).unwrap_or(0)
    };
    let extension = Media::sniff(head.get(..n).unwrap_or_default()).map_or("bin", Media::extension);
    let named = plain.with_extension(extension);
    std::fs::rename(&plain, &named).with_context(|| format!("cannot name {}", named.display()))?;
    Ok(relative(&named, root))
}

fn relative(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// JSON Lines: one record a line.
pub fn to_jsonl(records: &[Record]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for record in records {
        serde_json::to_writer(&mut out, record)?;
        out.push(b'\n');
    }
    Ok(out)
}

/// The CSV columns, in order.
pub const CSV_COLUMNS: [&str; 11] = [
    "index",
    "label",
    "confidence",
    "method",
    "contributors",
    "object",
    "file",
    "item",
    "answer",
    "verdict",
    "predictions",
];

/// RFC 4180 CSV: a header line, CRLF line ends, a field quoted when it holds a comma, a quote,
/// CR or LF (quotes doubled). Contributors are joined with `;`; `item`, `answer` and `verdict`
/// are compact JSON; an absent value is an empty field.
pub fn to_csv(records: &[Record]) -> String {
    let mut out = String::new();
    let mut line = |fields: &[String]| {
        let quoted: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&quoted.join(","));
        out.push_str("\r\n");
    };
    line(&CSV_COLUMNS.map(str::to_owned));
    for r in records {
        line(&[
            r.index.to_string(),
            r.label.clone(),
            r.confidence.map(|c| c.to_string()).unwrap_or_default(),
            r.method.clone(),
            r.contributors.join(";"),
            r.object.clone().unwrap_or_default(),
            r.file.clone().unwrap_or_default(),
            r.item.to_string(),
            r.answer.to_string(),
            r.verdict.as_ref().map(Value::to_string).unwrap_or_default(),
            predictions_field(&r.predictions),
        ]);
    }
    out
}

/// Models' predictions as a CSV field: compact JSON, empty when no model ran.
fn predictions_field(predictions: &[Value]) -> String {
    if predictions.is_empty() {
        String::new()
    } else {
        Value::from(predictions.to_vec()).to_string()
    }
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// An image's file (relative to the export) and size, by record index.
pub type Images = BTreeMap<u64, (String, u32, u32)>;

/// The images of COCO records: decrypted objects already in the export, and `image_url` items
/// downloaded into `images/`.
async fn coco_images(relay: &Relay, records: &[Record], root: &Path) -> Result<Images> {
    let mut images = Images::new();
    let urls: Vec<&Record> = records
        .iter()
        .filter(|r| r.file.is_none() && field(&r.item, "image_url").is_string())
        .collect();
    let bar = progress::count("images", urls.len() as u64);
    let dir = root.join("images");
    for r in records {
        let file = match (&r.file, field(&r.item, "image_url").as_str()) {
            (Some(file), _) => file.clone(),
            (None, Some(url)) => {
                let file = download_url(relay, url, &dir, root)
                    .await
                    .with_context(|| format!("record {}: cannot download {url}", r.index))?;
                bar.inc(1);
                file
            }
            (None, None) => bail!(
                "record {} has no image (neither an object nor an image_url)",
                r.index
            ),
        };
        let path = root.join(&file);
        let svg = file
            .ends_with(".svg")
            .then(|| std::fs::read(&path).ok().as_deref().and_then(svg_size))
            .flatten();
        let (width, height) = svg
            .map(Ok)
            .unwrap_or_else(|| {
                image::ImageReader::open(&path)
                    .and_then(image::ImageReader::with_guessed_format)
                    .map_err(image::ImageError::IoError)
                    .and_then(image::ImageReader::into_dimensions)
            })
            .with_context(|| {
                format!(
                    "record {}: {} is not an image COCO can list",
                    r.index,
                    path.display()
                )
            })?;
        images.insert(r.index, (file, width, height));
    }
    bar.finish_and_clear();
    Ok(images)
}

async fn download_url(relay: &Relay, url: &str, dir: &Path, root: &Path) -> Result<String> {
    // Items may name pictures on the relay's own origin (`/demo/cat.svg`).
    let absolute = relay
        .base()
        .join(url)
        .with_context(|| format!("{url:?} is not a URL"))?;
    if !matches!(absolute.scheme(), "http" | "https") {
        bail!("not an http(s) URL");
    }
    let mut response = relay
        .http()
        .get(absolute)
        .send()
        .await?
        .error_for_status()?;
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if bytes.len() + chunk.len() > MAX_URL_IMAGE_BYTES {
            bail!("over {MAX_URL_IMAGE_BYTES} bytes");
        }
        bytes.extend_from_slice(&chunk);
    }
    let extension = match Media::sniff(&bytes) {
        Some(Media::Wav) | None if svg_size(&bytes).is_some() => "svg",
        Some(Media::Wav) | None => bail!("not a png, jpeg, webp or svg image"),
        Some(media) => media.extension(),
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = blake3::hash(url.as_bytes()).to_hex();
    let path = dir.join(format!(
        "{}.{extension}",
        name.get(..32).unwrap_or_default()
    ));
    write_file(&path, &bytes)?;
    Ok(relative(&path, root))
}

/// The size of an SVG picture: its root element's `width` and `height` (in pixels, or unitless),
/// else its `viewBox`'s. `None` for anything else.
pub fn svg_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let text = std::str::from_utf8(bytes.get(..bytes.len().min(8192))?).ok()?;
    let start = text.find("<svg")?;
    let tag = text.get(start..)?.split('>').next()?;
    let attribute = |name: &str| -> Option<&str> {
        let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        let rest = tag.get(at..)?;
        rest.get(..rest.find('"')?)
    };
    let pixels = |v: &str| -> Option<u32> {
        let number: f64 = v.trim().trim_end_matches("px").parse().ok()?;
        (1.0..=65_535.0)
            .contains(&number)
            .then_some(number.round() as u32)
    };
    if let (Some(w), Some(h)) = (
        attribute("width").and_then(pixels),
        attribute("height").and_then(pixels),
    ) {
        return Some((w, h));
    }
    let view: Vec<&str> = attribute("viewBox")?.split_whitespace().collect();
    match view.as_slice() {
        [_, _, w, h] => Some((pixels(w)?, pixels(h)?)),
        _ => None,
    }
}

/// The categories a record's answer names.
fn answer_categories(answer: &Value) -> Vec<String> {
    let list = |name: &str| -> Option<Vec<String>> {
        answer.get(name).and_then(Value::as_array).map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
    };
    list("labels")
        .or_else(|| list("flags"))
        .or_else(|| {
            field(answer, "verdict")
                .as_str()
                .map(|v| vec![v.to_owned()])
        })
        .unwrap_or_default()
}

/// COCO: `images` (one per record, `id` = index + 1), `categories` (the campaign's labels, or
/// `true`/`false`/`unsure` for verification, `id` from 1), and `annotations`: one per category
/// an accepted answer names, a whole-image box (`bbox` `[0, 0, width, height]`, the polygon of
/// the same rectangle, `iscrowd` 0), with `confidence`, `contributors` and `method` as extra
/// fields. Upload campaigns have images and no annotations.
pub fn to_coco(
    campaign: &str,
    kind: &str,
    labels: &[String],
    records: &[Record],
    images: &Images,
) -> Result<Value> {
    let names: Vec<String> = if kind == "content_verification" {
        ["true", "false", "unsure"].map(str::to_owned).to_vec()
    } else {
        labels.to_vec()
    };
    let category_id: HashMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i + 1))
        .collect();
    let categories: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(i, name)| json!({ "id": i + 1, "name": name, "supercategory": "label" }))
        .collect();
    let mut coco_images = Vec::new();
    let mut annotations = Vec::new();
    for r in records {
        let (file, width, height) = images
            .get(&r.index)
            .with_context(|| format!("record {} has no image", r.index))?;
        let image_id = r.index + 1;
        let mut image = json!({
            "id": image_id,
            "file_name": file,
            "width": width,
            "height": height,
            "datahub_index": r.index,
        });
        if let Some(url) = field(&r.item, "image_url").as_str()
            && let Some(fields) = image.as_object_mut()
        {
            fields.insert("coco_url".into(), json!(url));
        }
        // The models' word on the picture (pre-annotation or an upload's compute job).
        if !r.predictions.is_empty()
            && let Some(fields) = image.as_object_mut()
        {
            fields.insert("datahub_predictions".into(), json!(r.predictions));
        }
        coco_images.push(image);
        let (w, h) = (f64::from(*width), f64::from(*height));
        for name in answer_categories(&r.answer) {
            let id = category_id.get(name.as_str()).with_context(|| {
                format!(
                    "record {}: {name:?} is not a category of the campaign",
                    r.index
                )
            })?;
            annotations.push(json!({
                "id": annotations.len() + 1,
                "image_id": image_id,
                "category_id": id,
                "bbox": [0.0, 0.0, w, h],
                "area": w * h,
                "segmentation": [[0.0, 0.0, w, 0.0, w, h, 0.0, h]],
                "iscrowd": 0,
                "confidence": r.confidence,
                "contributors": r.contributors,
                "method": r.method,
            }));
        }
    }
    let now = Timestamp::from_unix_millis(crate::client::now_ms()).to_string();
    Ok(json!({
        "info": {
            "description": format!("DataHub campaign {campaign}: accepted answers"),
            "version": "1.0",
            "year": now.get(..4).and_then(|y| y.parse::<u32>().ok()).unwrap_or(1970),
            "date_created": now,
        },
        "licenses": [],
        "images": coco_images,
        "annotations": annotations,
        "categories": categories,
    }))
}

/// Every file under `dir` (but the manifest and its signature), relative, `/`-separated, sorted.
fn list_files(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder)
            .with_context(|| format!("cannot read {}", folder.display()))?
        {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(relative(&path, dir));
            }
        }
    }
    out.retain(|p| p != "manifest.json" && p != "manifest.sig");
    out.sort();
    Ok(out)
}

fn hash_file(path: &Path) -> Result<(u64, String)> {
    let mut hasher = blake3::Hasher::new();
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let len = std::io::copy(&mut file, &mut hasher)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok((len, hasher.finalize().to_hex().to_string()))
}

/// Writes `DIR/manifest.json` (every file already in `dir`) and `DIR/manifest.sig`, the
/// requester's EIP-191 signature of its exact bytes: the last step of every format.
#[allow(
    clippy::too_many_arguments,
    reason = "the manifest's fields, each named at the call"
)]
fn write_signed_manifest(
    dir: &Path,
    campaign: &str,
    kind: &str,
    relay: &str,
    key: &SecretKey,
    records: usize,
    withdrawn: u64,
    missing_receipts: u64,
) -> Result<()> {
    let manifest = build_manifest(
        dir,
        campaign,
        kind,
        relay,
        key,
        records,
        withdrawn,
        missing_receipts,
    )?;
    write_file(&dir.join("manifest.json"), &manifest)?;
    let signature = personal::sign_message(key, &manifest);
    write_file(
        &dir.join("manifest.sig"),
        format!("{}\n", signature.to_hex()).as_bytes(),
    )
}

#[allow(
    clippy::too_many_arguments,
    reason = "the manifest's fields, each named at the call"
)]
fn build_manifest(
    dir: &Path,
    campaign: &str,
    kind: &str,
    relay: &str,
    key: &SecretKey,
    records: usize,
    withdrawn: u64,
    missing_receipts: u64,
) -> Result<Vec<u8>> {
    let mut files = Vec::new();
    for path in list_files(dir)? {
        let (bytes, hash) = hash_file(&dir.join(&path))?;
        files.push(json!({ "path": path, "bytes": bytes, "blake3": hash }));
    }
    let manifest = json!({
        "format": MANIFEST_FORMAT,
        "campaign": campaign,
        "kind": kind,
        "relay": relay,
        "requester": key.public_key().address().to_checksum(),
        "created_at": Timestamp::from_unix_millis(crate::client::now_ms()).to_string(),
        "records": records,
        "withdrawn": {
            "records": withdrawn,
            "reason": "left out: their contributors withdrew consent for future releases",
        },
        "missing_receipts": {
            "answers": missing_receipts,
            "reason": MISSING_RECEIPTS_REASON,
        },
        "files": files,
    });
    let mut bytes = serde_json::to_vec_pretty(&manifest)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Checks an export: the signature recovers to the manifest's `requester` (and to `expected`,
/// when given), every listed file has its size and BLAKE3 hash, and no other file is there.
/// Returns the signer and the number of files.
pub fn verify(dir: &Path, expected: Option<&Address>) -> Result<(Address, usize)> {
    let manifest_path = dir.join("manifest.json");
    let manifest = std::fs::read(&manifest_path).with_context(|| {
        format!(
            "cannot read {}: is this an export folder?",
            manifest_path.display()
        )
    })?;
    let sig_text = std::fs::read_to_string(dir.join("manifest.sig"))
        .with_context(|| format!("cannot read {}", dir.join("manifest.sig").display()))?;
    let signature =
        Signature::from_hex(sig_text.trim()).context("manifest.sig is not a signature")?;
    let signer = personal::recover_message(&manifest, &signature)
        .map_err(|e| anyhow::anyhow!("manifest.sig does not verify: {e}"))?;
    let parsed: Value = serde_json::from_slice(&manifest).context("manifest.json is not JSON")?;
    if field(&parsed, "format") != MANIFEST_FORMAT {
        bail!("manifest.json is not a {MANIFEST_FORMAT} manifest");
    }
    let requester = field(&parsed, "requester")
        .as_str()
        .and_then(|a| Address::parse(a).ok())
        .context("manifest.json names no requester")?;
    if signer != requester {
        bail!(
            "manifest.json was signed by {}, not by the requester it names ({}): it was altered",
            signer.to_checksum(),
            requester.to_checksum()
        );
    }
    if let Some(expected) = expected
        && &signer != expected
    {
        bail!(
            "manifest.json is signed by {}, not {}",
            signer.to_checksum(),
            expected.to_checksum()
        );
    }
    let files = field(&parsed, "files")
        .as_array()
        .context("manifest.json lists no files")?;
    let mut listed = Vec::new();
    for entry in files {
        let path = field(entry, "path")
            .as_str()
            .context("a file without a path")?;
        if path.is_empty()
            || path.starts_with('/')
            || path.split('/').any(|p| p == ".." || p.is_empty())
        {
            bail!("manifest.json lists an unsafe path {path:?}");
        }
        let (bytes, hash) =
            hash_file(&dir.join(path)).with_context(|| format!("{path} is missing"))?;
        if Some(bytes) != field(entry, "bytes").as_u64()
            || Some(hash.as_str()) != field(entry, "blake3").as_str()
        {
            bail!("{path} does not match the manifest: it was altered");
        }
        listed.push(path.to_owned());
    }
    listed.sort();
    let present = list_files(dir)?;
    if let Some(extra) = present.iter().find(|p| listed.binary_search(p).is_err()) {
        bail!("{extra} is not in the manifest");
    }
    Ok((signer, listed.len()))
}

pub fn verify_command(args: &VerifyArgs) -> Result<()> {
    let expected = args
        .requester
        .as_deref()
        .map(|a| Address::parse(a).map_err(|e| anyhow::anyhow!("--requester {a:?}: {e}")))
        .transpose()?;
    let (signer, files) = verify(&args.dir, expected.as_ref())?;
    println!(
        "ok: {files} file(s) in {} match manifest.json, signed by {}",
        args.dir.display(),
        signer.to_checksum()
    );
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// Records with everything CSV and JSON must survive: commas, quotes, line breaks,
    /// non-ASCII text, absent values, several contributors.
    fn records() -> Vec<Record> {
        vec![
            Record {
                index: 0,
                item: json!({ "image_url": "https://example.org/a,b.png", "id": "x\"1" }),
                answer: json!({ "labels": ["cat", "dog"] }),
                label: "cat|dog".into(),
                confidence: Some(0.973_456_789_012_345_6),
                method: "dawid_skene".into(),
                contributors: vec![
                    "0x00000000000000000000000000000000000000aa".into(),
                    "0x00000000000000000000000000000000000000bb".into(),
                ],
                object: None,
                file: Some("images/0.png".into()),
                verdict: None,
                receipts: Vec::new(),
                capture: None,
                predictions: vec![
                    json!({ "kind": "classify", "model": "cd".repeat(32), "state": "decided",
                    "prediction": { "label": "cat", "scores": { "probability": 0.9 } }, "accepted": true, "results": [] }),
                ],
            },
            Record {
                index: 7,
                item: json!({ "text": "line one\r\nline two, with \"quotes\" — ünïcödé" }),
                answer: json!({ "label": "spam", "spans": [{ "start": 0, "end": 4, "label": "spam" }] }),
                label: "spam".into(),
                confidence: None,
                method: "majority".into(),
                contributors: vec![],
                object: None,
                file: None,
                verdict: None,
                receipts: Vec::new(),
                capture: None,
                predictions: Vec::new(),
            },
            Record {
                index: 12,
                item: json!({ "prompt": "a street" }),
                answer: json!({ "object": "ab".repeat(32) }),
                label: String::new(),
                confidence: Some(1.0),
                method: "upload".into(),
                contributors: vec!["0x00000000000000000000000000000000000000cc".into()],
                object: Some("ab".repeat(32)),
                file: Some(format!("objects/{}.png", "ab".repeat(32))),
                verdict: Some(json!({ "accept": true, "reasons": [], "checks": { "width": 640 } })),
                receipts: Vec::new(),
                capture: None,
                predictions: Vec::new(),
            },
        ]
    }

    /// A strict RFC 4180 reader: CRLF records, quoted fields with doubled quotes, and nothing
    /// else (a bare quote inside an unquoted field, or text after a closing quote, is an error).
    fn parse_csv(text: &str) -> Vec<Vec<String>> {
        let mut rows = Vec::new();
        let mut row = Vec::new();
        let mut field = String::new();
        let mut chars = text.chars().peekable();
        let mut quoted = false;
        let mut was_quoted = false;
        while let Some(c) = chars.next() {
            if quoted {
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        field.push('"');
                    } else {
                        quoted = false;
                    }
                } else {
                    field.push(c);
                }
                continue;
            }
            match c {
                '"' => {
                    assert!(
                        field.is_empty() && !was_quoted,
                        "a quote inside an unquoted field"
                    );
                    quoted = true;
                    was_quoted = true;
                }
                ',' => {
                    row.push(std::mem::take(&mut field));
                    was_quoted = false;
                }
                '\r' => {
                    assert_eq!(chars.next(), Some('\n'), "CR without LF");
                    row.push(std::mem::take(&mut field));
                    rows.push(std::mem::take(&mut row));
                    was_quoted = false;
                }
                '\n' => panic!("a bare LF outside quotes"),
                c => {
                    assert!(!was_quoted, "text after a closing quote");
                    field.push(c);
                }
            }
        }
        assert!(!quoted, "an unterminated quote");
        assert!(
            field.is_empty() && row.is_empty(),
            "the last line has no CRLF"
        );
        rows
    }

    #[test]
    fn jsonl_round_trips() {
        let records = records();
        let text = String::from_utf8(to_jsonl(&records).unwrap()).unwrap();
        assert_eq!(text.lines().count(), records.len());
        let back: Vec<Record> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(back, records);
    }

    #[test]
    fn csv_round_trips() {
        let records = records();
        let rows = parse_csv(&to_csv(&records));
        assert_eq!(rows[0], CSV_COLUMNS);
        assert_eq!(rows.len(), records.len() + 1);
        let opt = |s: &String| (!s.is_empty()).then(|| s.clone());
        let back: Vec<Record> = rows[1..]
            .iter()
            .map(|r| {
                assert_eq!(r.len(), CSV_COLUMNS.len());
                Record {
                    index: r[0].parse().unwrap(),
                    label: r[1].clone(),
                    confidence: opt(&r[2]).map(|c| c.parse().unwrap()),
                    method: r[3].clone(),
                    contributors: opt(&r[4])
                        .map_or_else(Vec::new, |c| c.split(';').map(str::to_owned).collect()),
                    object: opt(&r[5]),
                    file: opt(&r[6]),
                    item: serde_json::from_str(&r[7]).unwrap(),
                    answer: serde_json::from_str(&r[8]).unwrap(),
                    verdict: opt(&r[9]).map(|v| serde_json::from_str(&v).unwrap()),
                    receipts: Vec::new(),
                    capture: None,
                    predictions: opt(&r[10])
                        .map_or_else(Vec::new, |p| serde_json::from_str(&p).unwrap()),
                }
            })
            .collect();
        assert_eq!(back, records);
    }

    #[test]
    fn svg_sizes_come_from_the_root_element() {
        let demo = br#"<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 128 128"><rect/></svg>"#;
        assert_eq!(svg_size(demo), Some((256, 256)));
        let view = br#"<?xml version="1.0"?>
<svg viewBox="0 0 300.5 150" xmlns="http://www.w3.org/2000/svg"/>"#;
        assert_eq!(svg_size(view), Some((301, 150)));
        assert_eq!(svg_size(br#"<svg width="100%" height="50%"/>"#), None);
        assert_eq!(svg_size(b"\x89PNG\r\n\x1a\n"), None);
        assert_eq!(svg_size(&[0xff; 20]), None);
    }

    #[test]
    fn flat_labels_per_answer_type() {
        assert_eq!(flat_label(&json!({ "labels": ["a", "b"] })), "a|b");
        assert_eq!(flat_label(&json!({ "flags": [] })), "");
        assert_eq!(flat_label(&json!({ "label": "x", "spans": [] })), "x");
        assert_eq!(flat_label(&json!({ "verdict": "unsure" })), "unsure");
        assert_eq!(flat_label(&json!({ "object": "ab" })), "");
    }

    fn coco_fixture() -> (Value, Vec<Record>) {
        let labels = ["cat", "dog", "bird"].map(str::to_owned);
        let records: Vec<Record> = (0..4u64)
            .map(|i| Record {
                index: i * 3,
                item: json!({ "image_url": format!("https://example.org/{i}.png") }),
                answer: if i == 1 {
                    json!({ "labels": ["cat", "bird"] })
                } else {
                    json!({ "labels": [labels[i as usize % 3]] })
                },
                label: String::new(),
                confidence: Some(0.5 + i as f64 / 10.0),
                method: "dawid_skene".into(),
                contributors: vec![format!("0x{:040x}", i + 1)],
                object: None,
                file: Some(format!("images/{i}.png")),
                verdict: None,
                receipts: Vec::new(),
                capture: None,
                predictions: if i == 2 {
                    vec![json!({ "kind": "classify", "model": "cd".repeat(32), "prediction": { "label": "bird" } })]
                } else {
                    Vec::new()
                },
            })
            .collect();
        let images: Images = records
            .iter()
            .map(|r| (r.index, (r.file.clone().unwrap(), 64 + r.index as u32, 48)))
            .collect();
        (
            to_coco("cats", "image_categorization", &labels, &records, &images).unwrap(),
            records,
        )
    }

    /// The structure the COCO format requires, checked strictly: unique ids, every reference
    /// resolves, boxes inside their image, areas and polygons that fit the boxes.
    fn check_coco_structure(coco: &Value) {
        for key in ["info", "images", "annotations", "categories", "licenses"] {
            assert!(!coco[key].is_null(), "no {key}");
        }
        let mut image_sizes = HashMap::new();
        for image in coco["images"].as_array().unwrap() {
            let id = image["id"].as_u64().unwrap();
            let (w, h) = (
                image["width"].as_u64().unwrap(),
                image["height"].as_u64().unwrap(),
            );
            assert!(w > 0 && h > 0);
            assert!(image["file_name"].is_string());
            assert!(
                image_sizes.insert(id, (w as f64, h as f64)).is_none(),
                "image id {id} twice"
            );
        }
        let mut categories = std::collections::HashSet::new();
        for category in coco["categories"].as_array().unwrap() {
            assert!(categories.insert(category["id"].as_u64().unwrap()));
            assert!(category["name"].is_string() && category["supercategory"].is_string());
        }
        let mut ids = std::collections::HashSet::new();
        for a in coco["annotations"].as_array().unwrap() {
            assert!(ids.insert(a["id"].as_u64().unwrap()), "annotation id twice");
            let (w, h) = image_sizes[&a["image_id"].as_u64().unwrap()];
            assert!(categories.contains(&a["category_id"].as_u64().unwrap()));
            let bbox: Vec<f64> = a["bbox"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            assert_eq!(bbox.len(), 4);
            assert!(
                bbox[0] >= 0.0
                    && bbox[1] >= 0.0
                    && bbox[0] + bbox[2] <= w
                    && bbox[1] + bbox[3] <= h
            );
            assert_eq!(a["area"].as_f64().unwrap(), bbox[2] * bbox[3]);
            assert!(matches!(a["iscrowd"].as_u64(), Some(0 | 1)));
            for polygon in a["segmentation"].as_array().unwrap() {
                let points = polygon.as_array().unwrap();
                assert!(points.len() >= 6 && points.len() % 2 == 0);
            }
        }
    }

    #[test]
    fn coco_has_the_structure_the_format_requires() {
        let (coco, records) = coco_fixture();
        check_coco_structure(&coco);
        assert_eq!(coco["images"].as_array().unwrap().len(), records.len());
        // One annotation per label: record 1 has two.
        assert_eq!(coco["annotations"].as_array().unwrap().len(), 5);
        assert_eq!(
            coco["annotations"][1]["contributors"],
            json!([format!("0x{:040x}", 2)])
        );
        assert_eq!(
            coco["annotations"][0]["bbox"],
            json!([0.0, 0.0, 64.0, 48.0])
        );
        // A model's predictions go with the image they are about, and only there.
        assert_eq!(
            coco["images"][2]["datahub_predictions"][0]["prediction"]["label"],
            "bird"
        );
        assert!(coco["images"][1].get("datahub_predictions").is_none());
    }

    /// pycocotools itself: loads the file, indexes it, and evaluating the annotations as
    /// detections against themselves gives a perfect average precision. Needs a Python with
    /// pycocotools: `DATAHUB_COCO_PYTHON` (a venv's python), else `python3` if it has it.
    #[test]
    fn coco_loads_and_evaluates_in_pycocotools() {
        let Some(python) = crate::dataset::tests::python_with("import pycocotools", "pycocotools")
        else {
            return;
        };
        let (coco, _) = coco_fixture();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("annotations.json");
        std::fs::write(&path, serde_json::to_vec(&coco).unwrap()).unwrap();
        let script = r#"
import sys, json, io, contextlib
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
with contextlib.redirect_stdout(io.StringIO()):
    gt = COCO(sys.argv[1])
    dets = [dict(image_id=a["image_id"], category_id=a["category_id"], bbox=a["bbox"], score=a["confidence"]) for a in gt.dataset["annotations"]]
    dt = gt.loadRes(dets)
    ev = COCOeval(gt, dt, "bbox")
    ev.evaluate(); ev.accumulate(); ev.summarize()
print(json.dumps(dict(images=len(gt.getImgIds()), categories=len(gt.getCatIds()), annotations=len(gt.getAnnIds()), ap=ev.stats[0])))
"#;
        let out = std::process::Command::new(&python)
            .args(["-c", script])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["images"], 4);
        assert_eq!(report["categories"], 3);
        assert_eq!(report["annotations"], 5);
        assert!(
            (report["ap"].as_f64().unwrap() - 1.0).abs() < 1e-9,
            "{report}"
        );
    }

    #[test]
    fn a_signed_manifest_verifies_and_any_change_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("objects")).unwrap();
        std::fs::write(root.join("results.jsonl"), to_jsonl(&records()).unwrap()).unwrap();
        std::fs::write(root.join("objects/a.png"), b"\x89PNG fake").unwrap();
        let key = SecretKey::derive(&[9; 32]);
        let sign = |root: &Path| {
            let manifest =
                build_manifest(root, "c", "image_upload", "http://r/", &key, 3, 0, 0).unwrap();
            std::fs::write(root.join("manifest.json"), &manifest).unwrap();
            let signature = personal::sign_message(&key, &manifest);
            std::fs::write(
                root.join("manifest.sig"),
                format!("{}\n", signature.to_hex()),
            )
            .unwrap();
        };
        sign(root);
        let address = key.public_key().address();
        assert_eq!(verify(root, Some(&address)).unwrap(), (address, 2));
        let other = SecretKey::derive(&[8; 32]).public_key().address();
        assert!(
            verify(root, Some(&other))
                .unwrap_err()
                .to_string()
                .contains("is signed by")
        );
        // An altered file, an extra file, an altered manifest.
        std::fs::write(root.join("objects/a.png"), b"\x89PNG fakf").unwrap();
        assert_eq!(
            verify(root, None).unwrap_err().to_string(),
            "objects/a.png does not match the manifest: it was altered"
        );
        std::fs::write(root.join("objects/a.png"), b"\x89PNG fake").unwrap();
        std::fs::write(root.join("extra.txt"), b"x").unwrap();
        assert_eq!(
            verify(root, None).unwrap_err().to_string(),
            "extra.txt is not in the manifest"
        );
        std::fs::remove_file(root.join("extra.txt")).unwrap();
        let text = std::fs::read_to_string(root.join("manifest.json")).unwrap();
        std::fs::write(
            root.join("manifest.json"),
            text.replace("\"records\": 3", "\"records\": 4"),
        )
        .unwrap();
        assert!(
            verify(root, None)
                .unwrap_err()
                .to_string()
                .contains("it was altered")
        );
    }
}
