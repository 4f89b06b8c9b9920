//! The dataset layouts of an export: `--format hf` (Parquet shards, a dataset card and
//! `croissant.json`) and `--format webdataset` (tar shards of media and JSON).
//!
//! Rows arrive one at a time and leave in shards, so an export holds one row group (at most
//! [`ROW_GROUP_ROWS`] rows or [`ROW_GROUP_BYTES`] of payload) in memory, never the dataset. A
//! shard is written as `<name>.partial` and renamed when complete; the finished shards are
//! listed in [`STATE_FILE`], so a second run into the same folder skips them and asks the
//! relay only for the rows after the last one. The state file is removed when the export is
//! complete, before the manifest is written.

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Where an unfinished export keeps the shards it has finished.
pub const STATE_FILE: &str = ".datahub-export.json";
/// A row group is flushed at this many rows...
pub const ROW_GROUP_ROWS: usize = 10_000;
/// ... or this much buffered payload (media included), whichever comes first.
pub const ROW_GROUP_BYTES: usize = 32 * 1024 * 1024;
/// A shard is closed at this much payload even below its row count.
pub const SHARD_BYTES: u64 = 256 * 1024 * 1024;

/// The Parquet schema of a row. `item`, `answer`, `verdict`, `predictions` and `receipts` are
/// JSON text (their shapes differ between task kinds); `media` holds the decrypted upload's
/// bytes.
const SCHEMA: &str = "message datahub_record {
    required int64 index;
    required binary item (UTF8);
    required binary answer (UTF8);
    required binary label (UTF8);
    optional double confidence;
    required binary method (UTF8);
    required group contributor_ids (LIST) {
        repeated group list {
            required binary element (UTF8);
        }
    }
    optional binary object (UTF8);
    optional binary media;
    optional binary media_type (UTF8);
    optional binary verdict (UTF8);
    required binary predictions (UTF8);
    required binary receipts (UTF8);
    optional binary capture (UTF8);
}";

/// The columns, in the schema's order (the dataset card and croissant.json list them).
pub const COLUMNS: [(&str, &str, &str); 14] = [
    ("index", "sc:Integer", "the item's index in the campaign"),
    (
        "item",
        "sc:Text",
        "the item as the campaign defined it (JSON)",
    ),
    ("answer", "sc:Text", "the aggregated answer (JSON)"),
    (
        "label",
        "sc:Text",
        "the answer as text (labels joined with |)",
    ),
    (
        "confidence",
        "sc:Float",
        "how sure the aggregation is, 0 to 1",
    ),
    ("method", "sc:Text", "how the answer was aggregated"),
    (
        "contributor_ids",
        "sc:Text",
        "pseudonymous ids of the contributors (stable within the campaign)",
    ),
    ("object", "sc:Text", "the sealed upload's object id"),
    ("media", "sc:Text", "the decrypted upload's bytes"),
    (
        "media_type",
        "sc:Text",
        "the upload's file extension (png, jpg, webp, wav)",
    ),
    (
        "verdict",
        "sc:Text",
        "the validator's signed verdict on the upload (JSON)",
    ),
    (
        "predictions",
        "sc:Text",
        "models' predictions: the model's hash, the agreed prediction and each node's signed result (JSON list; empty where no model ran)",
    ),
    (
        "receipts",
        "sc:Text",
        "each contributor's signed EIP-712 SubmissionReceipt: domain, message (with the licence and terms hash), the answer signed, signature and signer (JSON list)",
    ),
    (
        "capture",
        "sc:Text",
        "uploads: app (made with the app's camera or microphone) or file (picked from a file), as the contributor's client said",
    ),
];

/// The two dataset layouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Parquet shards `data/train-NNNNN.parquet`.
    Hf,
    /// Tar shards `data/train-NNNNNN.tar`.
    Webdataset,
}

impl Layout {
    fn shard_name(self, n: usize) -> String {
        match self {
            Self::Hf => format!("data/train-{n:05}.parquet"),
            Self::Webdataset => format!("data/train-{n:06}.tar"),
        }
    }
}

/// One exported row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub index: u64,
    pub item: Value,
    pub answer: Value,
    pub label: String,
    pub confidence: Option<f64>,
    pub method: String,
    pub contributor_ids: Vec<String>,
    pub object: Option<String>,
    /// The decrypted upload and its extension.
    pub media: Option<(Vec<u8>, String)>,
    pub verdict: Option<Value>,
    /// Models' predictions (see [`COLUMNS`]).
    pub predictions: Vec<Value>,
    /// The signed receipts, each `{contributor_id, receipt}`.
    pub receipts: Vec<Value>,
    /// `app` or `file`, for uploads whose answer says.
    pub capture: Option<String>,
}

impl Row {
    /// The row without its media, as the JSON of a webdataset sample.
    fn json(&self) -> Value {
        json!({
            "index": self.index,
            "item": self.item,
            "answer": self.answer,
            "label": self.label,
            "confidence": self.confidence,
            "method": self.method,
            "contributor_ids": self.contributor_ids,
            "object": self.object,
            "media_type": self.media.as_ref().map(|m| &m.1),
            "verdict": self.verdict,
            "predictions": self.predictions,
            "receipts": self.receipts,
            "capture": self.capture,
        })
    }

    /// Its receipts that are `null`: answers stored before the relay kept receipts whole
    /// (migration 0015), for which none can be made afterwards.
    pub fn missing_receipts(&self) -> u64 {
        self.receipts
            .iter()
            .filter(|r| r.get("receipt").is_none_or(Value::is_null))
            .count() as u64
    }

    fn payload(&self) -> usize {
        // A receipt is about 1 KiB of JSON.
        self.media.as_ref().map_or(0, |m| m.0.len()) + 256 + 1024 * self.receipts.len()
    }
}

/// A pseudonymous contributor id: BLAKE3 keyed by the campaign's pseudonym key
/// ([`pseudonym_key`]), so ids are stable within a campaign, differ between campaigns, and only
/// the requester can link one back to an address.
pub fn contributor_id(pseudonym_key: &[u8; 32], address: &str) -> String {
    let hash = blake3::keyed_hash(pseudonym_key, address.to_ascii_lowercase().as_bytes());
    hash.to_hex().get(..32).unwrap_or_default().to_owned()
}

/// The message the requester signs (EIP-191, `personal_sign`) to key the pseudonyms. The
/// console (www/console/export.js) asks the wallet to sign the same text: keep them equal.
pub const PSEUDONYM_MESSAGE: &str = "DataHub: key the pseudonymous contributor ids of my dataset exports.\n\nThis signature is a secret. Sign this message only in the DataHub console or CLI.";

/// The requester's pseudonym seed: `r || s` of their signature of [`PSEUDONYM_MESSAGE`].
/// Signatures are deterministic (RFC 6979, as k256, ethers and the usual wallets make them),
/// so the CLI with the requester's key file and the console with their wallet get the same
/// seed; `v` is left out because wallets write it differently (0/1 or 27/28).
pub fn pseudonym_seed(key: &datahub_core::SecretKey) -> [u8; 64] {
    let signature = datahub_core::eth::personal::sign_message(key, PSEUDONYM_MESSAGE.as_bytes());
    let mut seed = [0; 64];
    let (r, s) = seed.split_at_mut(32);
    r.copy_from_slice(signature.r());
    s.copy_from_slice(signature.s());
    seed
}

/// The campaign's pseudonym key: BLAKE3 of a fixed label, the seed and the campaign id (plain
/// hashing, which the console's BLAKE3 has too; the seed is secret and high in entropy).
pub fn pseudonym_key(seed: &[u8; 64], campaign: &str) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"datahub contributor ids v2\0");
    hasher.update(seed);
    hasher.update(campaign.as_bytes());
    *hasher.finalize().as_bytes()
}

/// A finished shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shard {
    pub file: String,
    pub rows: u64,
    pub last_index: u64,
    /// Receipts of the shard that are `null` (answers stored before receipts were kept).
    #[serde(default)]
    pub missing_receipts: u64,
}

/// What [`STATE_FILE`] holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub layout: Layout,
    pub campaign: String,
    pub shards: Vec<Shard>,
}

impl State {
    /// The index after which the relay's results are still to be written.
    pub fn resume_after(&self) -> Option<u64> {
        self.shards.last().map(|s| s.last_index)
    }

    pub fn rows(&self) -> u64 {
        self.shards.iter().map(|s| s.rows).sum()
    }

    /// The `null` receipts of the finished shards.
    pub fn missing_receipts(&self) -> u64 {
        self.shards.iter().map(|s| s.missing_receipts).sum()
    }
}

/// Opens `dir` for an export: a new or empty folder starts one; a folder with a state file of
/// the same campaign and layout resumes it (its `.partial` files are removed).
pub fn open_dir(dir: &Path, layout: Layout, campaign: &str) -> Result<State> {
    let fresh = State {
        layout,
        campaign: campaign.to_owned(),
        shards: Vec::new(),
    };
    let empty = match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            true
        }
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!("cannot read {}", dir.display())));
        }
        Ok(mut entries) => entries.next().is_none(),
    };
    if empty {
        // Written before any shard, so a run that dies in its first shard can be resumed too.
        save_state(dir, &fresh)?;
        return Ok(fresh);
    }
    if dir.join("manifest.json").exists() {
        bail!(
            "{} holds a finished export: export into a new folder",
            dir.display()
        );
    }
    let text = match std::fs::read(dir.join(STATE_FILE)) {
        Ok(text) => text,
        Err(_) => bail!(
            "{} is not empty and holds no unfinished export: export into a new folder",
            dir.display()
        ),
    };
    let state: State = serde_json::from_slice(&text).with_context(|| {
        format!(
            "{} is damaged: export into a new folder",
            dir.join(STATE_FILE).display()
        )
    })?;
    if state.campaign != campaign || state.layout != layout {
        bail!(
            "{} holds an unfinished {:?} export of campaign {:?}: resume it with the same campaign and format, or export into a new folder",
            dir.display(),
            state.layout,
            state.campaign
        );
    }
    for shard in &state.shards {
        if !dir.join(&shard.file).is_file() {
            bail!(
                "{} lost its finished shard {}: export into a new folder",
                dir.display(),
                shard.file
            );
        }
    }
    remove_partials(&dir.join("data"))?;
    Ok(state)
}

/// Replaces the state file in one rename, so it is never half written.
fn save_state(root: &Path, state: &State) -> Result<()> {
    let path = root.join(STATE_FILE);
    let temporary = root.join(format!("{STATE_FILE}.partial"));
    std::fs::write(&temporary, serde_json::to_vec_pretty(state)?)
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    std::fs::rename(&temporary, &path).with_context(|| format!("cannot write {}", path.display()))
}

fn remove_partials(dir: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "partial") {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    Ok(())
}

/// Writes rows into shards of `layout` under `root`, recording finished shards in the state.
pub struct Writer {
    root: PathBuf,
    state: State,
    shard_rows: u64,
    open: Option<OpenShard>,
}

struct OpenShard {
    file: String,
    rows: u64,
    bytes: u64,
    last_index: u64,
    missing_receipts: u64,
    /// The rows of `last_index` before this one (an item's several uploads).
    same_index: u64,
    sink: Sink,
}

enum Sink {
    Parquet(Box<ParquetShard>),
    Tar(tar::Builder<BufWriter<File>>),
}

impl Writer {
    pub fn new(root: &Path, state: State, shard_rows: u64) -> Self {
        Self {
            root: root.to_path_buf(),
            state,
            shard_rows: shard_rows.max(1),
            open: None,
        }
    }

    pub fn push(&mut self, row: &Row) -> Result<()> {
        if let Some(after) = self.state.resume_after()
            && self.open.is_none()
            && row.index <= after
        {
            // Shards end between indexes, and the relay pages by index: a row at or before a
            // finished shard's last index is in that shard.
            return Ok(());
        }
        if let Some(open) = &self.open {
            if row.index < open.last_index {
                bail!(
                    "the relay's results are out of order: record {} after record {}",
                    row.index,
                    open.last_index
                );
            }
            // A full shard closes only where the index changes: the records of one index
            // (an item's several uploads) stay together, so resuming after an index is exact.
            if (open.rows >= self.shard_rows || open.bytes >= SHARD_BYTES)
                && row.index != open.last_index
            {
                self.close_shard()?;
            }
        }
        let open = match &mut self.open {
            Some(open) => open,
            None => {
                let file = self.state.layout.shard_name(self.state.shards.len());
                let path = self.partial(&file);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("cannot create {}", parent.display()))?;
                }
                let handle = File::create(&path)
                    .with_context(|| format!("cannot create {}", path.display()))?;
                let sink = match self.state.layout {
                    Layout::Hf => Sink::Parquet(Box::new(ParquetShard::new(handle)?)),
                    Layout::Webdataset => Sink::Tar(tar::Builder::new(BufWriter::new(handle))),
                };
                self.open.insert(OpenShard {
                    file,
                    rows: 0,
                    bytes: 0,
                    last_index: row.index,
                    missing_receipts: 0,
                    same_index: 0,
                    sink,
                })
            }
        };
        let nth = if open.rows > 0 && row.index == open.last_index {
            open.same_index + 1
        } else {
            0
        };
        match &mut open.sink {
            Sink::Parquet(shard) => shard.push(row)?,
            Sink::Tar(tar) => append_sample(tar, row, nth)?,
        }
        open.same_index = nth;
        open.missing_receipts += row.missing_receipts();
        open.rows += 1;
        open.bytes += row.payload() as u64;
        open.last_index = row.index;
        Ok(())
    }

    fn partial(&self, file: &str) -> PathBuf {
        self.root.join(format!("{file}.partial"))
    }

    fn close_shard(&mut self) -> Result<()> {
        let Some(open) = self.open.take() else {
            return Ok(());
        };
        let file = match open.sink {
            Sink::Parquet(shard) => shard.finish()?,
            Sink::Tar(tar) => tar
                .into_inner()
                .context("cannot finish a tar shard")?
                .into_inner()
                .map_err(|e| anyhow::anyhow!("cannot write a tar shard: {}", e.error()))?,
        };
        file.sync_all().context("cannot write a shard")?;
        let partial = self.partial(&open.file);
        std::fs::rename(&partial, self.root.join(&open.file))
            .with_context(|| format!("cannot name {}", open.file))?;
        self.state.shards.push(Shard {
            file: open.file,
            rows: open.rows,
            last_index: open.last_index,
            missing_receipts: open.missing_receipts,
        });
        self.save_state()
    }

    fn save_state(&self) -> Result<()> {
        save_state(&self.root, &self.state)
    }

    /// Closes the last shard and forgets the state: the export's rows are all written.
    pub fn finish(mut self) -> Result<State> {
        self.close_shard()?;
        match std::fs::remove_file(self.root.join(STATE_FILE)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(anyhow::Error::new(e).context("cannot remove the export's state"));
            }
            _ => {}
        }
        Ok(self.state)
    }
}

/// A webdataset sample: `<key>.json` and, with media, `<key>.<ext>` (key = the zero-padded
/// index and the row's place among that index's rows, so samples sort in order, keys are
/// unique when an item has several uploads, and a key has no dot).
fn append_sample(tar: &mut tar::Builder<BufWriter<File>>, row: &Row, nth: u64) -> Result<()> {
    let key = format!("{:012}_{nth:03}", row.index);
    let mut entry = |name: String, bytes: &[u8]| -> Result<()> {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        // A fixed time keeps the shard's bytes the same on every run (resume, re-export).
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, &name, bytes)
            .with_context(|| format!("cannot write {name} to a tar shard"))
    };
    if let Some((bytes, extension)) = &row.media {
        entry(format!("{key}.{extension}"), bytes)?;
    }
    entry(format!("{key}.json"), &serde_json::to_vec(&row.json())?)
}

/// One Parquet file being written: a row group's columns buffered, flushed when full.
struct ParquetShard {
    writer: SerializedFileWriter<File>,
    columns: Columns,
}

#[derive(Default)]
struct Columns {
    rows: usize,
    bytes: usize,
    index: Vec<i64>,
    item: Vec<ByteArray>,
    answer: Vec<ByteArray>,
    label: Vec<ByteArray>,
    confidence: Optional<f64>,
    method: Vec<ByteArray>,
    contributors: Vec<ByteArray>,
    contributors_def: Vec<i16>,
    contributors_rep: Vec<i16>,
    object: Optional<ByteArray>,
    media: Optional<ByteArray>,
    media_type: Optional<ByteArray>,
    verdict: Optional<ByteArray>,
    predictions: Vec<ByteArray>,
    receipts: Vec<ByteArray>,
    capture: Optional<ByteArray>,
}

/// An optional column: its present values and a definition level per row.
struct Optional<T> {
    values: Vec<T>,
    defs: Vec<i16>,
}

impl<T> Default for Optional<T> {
    fn default() -> Self {
        Self {
            values: Vec::new(),
            defs: Vec::new(),
        }
    }
}

impl<T> Optional<T> {
    fn push(&mut self, value: Option<T>) {
        match value {
            Some(v) => {
                self.values.push(v);
                self.defs.push(1);
            }
            None => self.defs.push(0),
        }
    }
}

fn text(s: &str) -> ByteArray {
    ByteArray::from(s.as_bytes().to_vec())
}

impl ParquetShard {
    fn new(file: File) -> Result<Self> {
        let schema = Arc::new(parse_message_type(SCHEMA).context("the Parquet schema")?);
        let properties = Arc::new(
            WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .set_created_by("datahub".into())
                .build(),
        );
        Ok(Self {
            writer: SerializedFileWriter::new(file, schema, properties)?,
            columns: Columns::default(),
        })
    }

    fn push(&mut self, row: &Row) -> Result<()> {
        let c = &mut self.columns;
        c.index
            .push(i64::try_from(row.index).context("an index over 2^63")?);
        c.item.push(text(&row.item.to_string()));
        c.answer.push(text(&row.answer.to_string()));
        c.label.push(text(&row.label));
        c.confidence.push(row.confidence);
        c.method.push(text(&row.method));
        if row.contributor_ids.is_empty() {
            // An empty list: the list group is defined at level 0, no element.
            c.contributors_def.push(0);
            c.contributors_rep.push(0);
        }
        for (i, id) in row.contributor_ids.iter().enumerate() {
            c.contributors.push(text(id));
            c.contributors_def.push(1);
            c.contributors_rep.push(i16::from(i > 0));
        }
        c.object.push(row.object.as_deref().map(text));
        c.media
            .push(row.media.as_ref().map(|m| ByteArray::from(m.0.clone())));
        c.media_type.push(row.media.as_ref().map(|m| text(&m.1)));
        c.verdict
            .push(row.verdict.as_ref().map(|v| text(&v.to_string())));
        c.predictions
            .push(text(&Value::from(row.predictions.clone()).to_string()));
        c.receipts
            .push(text(&Value::from(row.receipts.clone()).to_string()));
        c.capture.push(row.capture.as_deref().map(text));
        c.rows += 1;
        c.bytes += row.payload();
        if c.rows >= ROW_GROUP_ROWS || c.bytes >= ROW_GROUP_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        let c = std::mem::take(&mut self.columns);
        if c.rows == 0 {
            return Ok(());
        }
        let mut group = self.writer.next_row_group()?;
        let mut n = 0;
        while let Some(mut column) = group.next_column()? {
            match n {
                0 => {
                    column
                        .typed::<Int64Type>()
                        .write_batch(&c.index, None, None)?;
                }
                4 => {
                    column.typed::<DoubleType>().write_batch(
                        &c.confidence.values,
                        Some(&c.confidence.defs),
                        None,
                    )?;
                }
                6 => {
                    column.typed::<ByteArrayType>().write_batch(
                        &c.contributors,
                        Some(&c.contributors_def),
                        Some(&c.contributors_rep),
                    )?;
                }
                _ => {
                    let (values, defs): (&[ByteArray], Option<&[i16]>) = match n {
                        1 => (&c.item, None),
                        2 => (&c.answer, None),
                        3 => (&c.label, None),
                        5 => (&c.method, None),
                        7 => (&c.object.values, Some(&c.object.defs)),
                        8 => (&c.media.values, Some(&c.media.defs)),
                        9 => (&c.media_type.values, Some(&c.media_type.defs)),
                        10 => (&c.verdict.values, Some(&c.verdict.defs)),
                        11 => (&c.predictions, None),
                        12 => (&c.receipts, None),
                        13 => (&c.capture.values, Some(&c.capture.defs)),
                        _ => bail!("the Parquet schema has more columns than rows fill"),
                    };
                    column
                        .typed::<ByteArrayType>()
                        .write_batch(values, defs, None)?;
                }
            }
            column.close()?;
            n += 1;
        }
        group.close()?;
        Ok(())
    }

    fn finish(mut self) -> Result<File> {
        self.flush()?;
        Ok(self.writer.into_inner()?)
    }
}

/// `size_categories` as the Hub names them.
fn size_category(rows: u64) -> &'static str {
    match rows {
        0..1_000 => "n<1K",
        1_000..10_000 => "1K<n<10K",
        10_000..100_000 => "10K<n<100K",
        100_000..1_000_000 => "100K<n<1M",
        1_000_000..10_000_000 => "1M<n<10M",
        _ => "10M<n<100M",
    }
}

/// The Hub's task category for a kind.
fn task_category(kind: &str) -> &'static str {
    match kind {
        "image_categorization" | "content_moderation" | "content_verification" => {
            "image-classification"
        }
        "text_labeling" => "text-classification",
        "voice_recording" => "automatic-speech-recognition",
        "image_upload" => "image-to-text",
        _ => "other",
    }
}

/// What the dataset card and croissant.json say about the campaign.
pub struct About<'a> {
    pub campaign: &'a str,
    pub kind: &'a str,
    pub title: &'a str,
    pub instructions: &'a str,
    pub license: &'a str,
    /// The licence's URL when `license` is `other` (empty otherwise).
    pub license_url: &'a str,
    pub relay: &'a str,
    pub requester: &'a str,
    pub rows: u64,
    /// Receipts that are `null` (see [`Row::missing_receipts`]).
    pub missing_receipts: u64,
    pub shards: &'a [Shard],
}

/// The Hub's dataset card: YAML metadata, then what a reader needs to know.
pub fn dataset_card(about: &About<'_>) -> String {
    let yaml_text = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    let columns: String = COLUMNS
        .iter()
        .map(|(name, _, what)| format!("| `{name}` | {what} |\n"))
        .collect();
    format!(
        "---\n\
license: {license}\n\
{license_link}\
pretty_name: {title}\n\
task_categories:\n- {task}\n\
annotations_creators:\n- crowdsourced\n\
source_datasets:\n- original\n\
size_categories:\n- {size}\n\
tags:\n- datahub\n- {kind}\n\
configs:\n- config_name: default\n  data_files:\n  - split: train\n    path: data/train-*.parquet\n\
---\n\n\
# {title_plain}\n\n\
DataHub campaign `{campaign}` ({kind}): {rows} accepted item(s), exported from {relay} by the\n\
requester {requester}, who signed `manifest.json` (the BLAKE3 hash of every file; `datahub\n\
campaign verify` checks it).\n\n\
## Instructions given to contributors\n\n{instructions}\n\n\
## Data collection\n\n\
Each row is one item of the campaign. Contributors answered (or uploaded) through the DataHub\n\
mini-app; each answer is signed by the contributor's session key. The aggregated answer is what\n\
the relay decided from the accepted answers (`method`), with its `confidence`.\n\n\
## Consent\n\n\
Every row carries, in `receipts`, each contributor's signed EIP-712 `SubmissionReceipt`: it\n\
signs the answer (`answerHash`), the upload (`manifestId`), the campaign's licence and the\n\
BLAKE3 hash of the terms the contributor was shown and accepted (`termsHash`). Recovering the\n\
signer from `domain`, `message` and `signature` checks it. Contributors who withdrew consent\n\
before this export are left out (`manifest.json` counts them).\n\n\
Answers without a receipt: {missing}. Answers stored before the relay kept receipts (before its\n\
migration 0015) have `receipt: null`: a receipt is the contributor's signature and cannot be\n\
made afterwards.\n\n\
## Personal information\n\n\
Contributors are named by `contributor_ids`: a keyed hash of their address, stable within this\n\
campaign, which only the requester's key links back to an address. Uploads (`media`) are what\n\
contributors chose to send and may show people or places.\n\n\
## Columns\n\n| column | meaning |\n| --- | --- |\n{columns}\n\
Load it with `datasets.load_dataset(\"parquet\", data_files=\"data/train-*.parquet\")`.\n",
        license = about.license,
        license_link = if about.license_url.is_empty() {
            String::new()
        } else {
            format!("license_link: {}\n", yaml_text(about.license_url))
        },
        title = yaml_text(about.title),
        task = task_category(about.kind),
        size = size_category(about.rows),
        kind = about.kind,
        title_plain = about.title.replace('\n', " "),
        campaign = about.campaign,
        rows = about.rows,
        relay = about.relay,
        requester = about.requester,
        instructions = about.instructions,
        missing = about.missing_receipts,
    )
}

/// Croissant 1.0 metadata with the Responsible-AI fields, describing the Parquet shards.
pub fn croissant(about: &About<'_>, hashes: &[(String, String)]) -> Value {
    let files: Vec<Value> = hashes
        .iter()
        .map(|(file, sha256)| {
            json!({
                "@type": "cr:FileObject",
                "@id": file,
                "name": file,
                "contentUrl": file,
                "encodingFormat": "application/x-parquet",
                "sha256": sha256,
            })
        })
        .collect();
    let mut distribution = files;
    distribution.push(json!({
        "@type": "cr:FileSet",
        "@id": "parquet-files",
        "name": "parquet-files",
        "encodingFormat": "application/x-parquet",
        "includes": "data/*.parquet",
    }));
    let fields: Vec<Value> = COLUMNS
        .iter()
        .filter(|(name, _, _)| *name != "media")
        .map(|(name, data_type, what)| {
            json!({
                "@type": "cr:Field",
                "@id": format!("default/{name}"),
                "name": name,
                "description": what,
                "dataType": data_type,
                "source": {
                    "fileSet": { "@id": "parquet-files" },
                    "extract": { "column": name },
                },
            })
        })
        .collect();
    json!({
        "@context": {
            "@language": "en",
            "@vocab": "https://schema.org/",
            "citeAs": "cr:citeAs",
            "column": "cr:column",
            "conformsTo": "dct:conformsTo",
            "cr": "http://mlcommons.org/croissant/",
            "rai": "http://mlcommons.org/croissant/RAI/",
            "data": { "@id": "cr:data", "@type": "@json" },
            "dataType": { "@id": "cr:dataType", "@type": "@vocab" },
            "dct": "http://purl.org/dc/terms/",
            "examples": { "@id": "cr:examples", "@type": "@json" },
            "extract": "cr:extract",
            "field": "cr:field",
            "fileProperty": "cr:fileProperty",
            "fileObject": "cr:fileObject",
            "fileSet": "cr:fileSet",
            "format": "cr:format",
            "includes": "cr:includes",
            "isLiveDataset": "cr:isLiveDataset",
            "jsonPath": "cr:jsonPath",
            "key": "cr:key",
            "md5": "cr:md5",
            "parentField": "cr:parentField",
            "path": "cr:path",
            "recordSet": "cr:recordSet",
            "references": "cr:references",
            "regex": "cr:regex",
            "repeated": "cr:repeated",
            "replace": "cr:replace",
            "sc": "https://schema.org/",
            "separator": "cr:separator",
            "source": "cr:source",
            "subField": "cr:subField",
            "transform": "cr:transform",
        },
        "@type": "sc:Dataset",
        "conformsTo": "http://mlcommons.org/croissant/1.0",
        "name": format!("datahub-{}", about.campaign),
        "description": format!(
            "DataHub campaign {} ({}): {} accepted item(s). {}",
            about.campaign, about.kind, about.rows, about.title
        ),
        "url": about.relay,
        "license": if about.license_url.is_empty() { about.license } else { about.license_url },
        "creator": { "@type": "sc:Organization", "name": about.requester },
        "datePublished": datahub_core::eth::Timestamp::from_unix_millis(crate::client::now_ms())
            .to_string()
            .get(..10)
            .unwrap_or("1970-01-01"),
        "version": "1.0.0",
        "citeAs": format!("DataHub campaign {} exported from {}", about.campaign, about.relay),
        "rai:dataCollection": "Contributors answered tasks (or uploaded media) in the DataHub mini-app; every answer is signed by the contributor's session key and aggregated by the relay.",
        "rai:dataCollectionType": ["Crowdsourced"],
        "rai:dataAnnotationProtocol": about.instructions,
        "rai:annotationsPerItem": "one or more contributors per item; the aggregated answer and its confidence are given",
        "rai:dataAnnotationPlatform": "DataHub",
        "rai:personalSensitiveInformation": "Contributors are pseudonymous (a keyed hash of their address per campaign). Uploaded media may show people or places.",
        "rai:dataBiases": "Contributors are whoever took the campaign's tasks; they are not a representative sample of any population.",
        "rai:dataLimitations": format!(
            "Answers are aggregated from few contributors per item; low-confidence rows may be wrong. Only accepted items are exported. {} answer(s) have no signed receipt (stored before the relay kept receipts).",
            about.missing_receipts
        ),
        "rai:dataUseCases": "Training and evaluating models on the campaign's task.",
        "distribution": distribution,
        "recordSet": [{
            "@type": "cr:RecordSet",
            "@id": "default",
            "name": "default",
            "field": fields,
        }],
    })
}

/// The SHA-256 of a file (croissant.json names its files by it), read in blocks.
pub fn sha256_file(path: &Path) -> Result<String> {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    let mut file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut block = vec![0u8; 1 << 16];
    loop {
        let n = std::io::Read::read(&mut file, &mut block)
            .with_context(|| format!("cannot read {}", path.display()))?;
        match block.get(..n) {
            Some(read) if n > 0 => hasher.update(read),
            _ => break,
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Writes the dataset card and croissant.json for finished Parquet shards.
pub fn write_hf_metadata(root: &Path, about: &About<'_>) -> Result<()> {
    let mut hashes = Vec::new();
    for shard in about.shards {
        hashes.push((shard.file.clone(), sha256_file(&root.join(&shard.file))?));
    }
    let mut card = File::create(root.join("README.md")).context("cannot create README.md")?;
    card.write_all(dataset_card(about).as_bytes())
        .and_then(|()| card.sync_all())
        .context("cannot write README.md")?;
    let mut bytes = serde_json::to_vec_pretty(&croissant(about, &hashes))?;
    bytes.push(b'\n');
    std::fs::write(root.join("croissant.json"), bytes).context("cannot write croissant.json")
}

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Rows to write
    #[arg(long, default_value_t = 100_000)]
    rows: u64,
    /// `hf` or `webdataset`
    #[arg(long, default_value = "hf")]
    layout: String,
    /// Bytes of media in every other row
    #[arg(long, default_value_t = 0)]
    media_bytes: usize,
    /// The folder to write (must be new or empty)
    #[arg(short = 'o', long = "out", value_name = "DIR")]
    out: PathBuf,
}

/// The peak resident memory of this process (`VmHWM`), in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `datahub campaign bench-export`: the shard writers alone (no relay, no network), on rows
/// shaped like a categorization campaign's, so their memory and speed are measured apart from
/// the relay's paging.
pub fn bench(args: &BenchArgs) -> Result<()> {
    let layout = match args.layout.as_str() {
        "hf" => Layout::Hf,
        "webdataset" => Layout::Webdataset,
        other => bail!("--layout {other:?}: use hf or webdataset"),
    };
    let state = open_dir(&args.out, layout, "bench")?;
    let before = peak_rss_kib();
    let started = std::time::Instant::now();
    let mut writer = Writer::new(&args.out, state, 10_000);
    let key = pseudonym_key(&[1; 64], "bench");
    for i in 0..args.rows {
        let name = match i % 3 {
            0 => "cat",
            1 => "dog",
            _ => "bird",
        };
        let row = Row {
            index: i,
            item: json!({ "image_url": format!("https://example.org/pictures/{i}.jpg") }),
            answer: json!({ "labels": [name] }),
            label: name.into(),
            confidence: Some((i % 100) as f64 / 100.0),
            method: "dawid_skene".into(),
            contributor_ids: (0..3)
                .map(|c| contributor_id(&key, &format!("0x{:040x}", i * 7 + c)))
                .collect(),
            object: None,
            media: (args.media_bytes > 0 && i % 2 == 0)
                .then(|| (vec![(i % 251) as u8; args.media_bytes], "bin".to_owned())),
            verdict: None,
            predictions: Vec::new(),
            // One receipt a row, of the size the relay's are (signatures are not checked here).
            receipts: vec![json!({
                "contributor_id": contributor_id(&key, &format!("0x{:040x}", i * 7)),
                "receipt": {
                    "submission": format!("0x{:064x}", i), "signer": format!("0x{:040x}", i),
                    "signature": format!("0x{:0130x}", i), "answer": format!("{{\"labels\":[\"{name}\"]}}"),
                    "primaryType": "SubmissionReceipt",
                    "domain": { "name": "DataHub", "version": "1", "chainId": 56,
                                "verifyingContract": "0x1111111111111111111111111111111111111111" },
                    "message": { "campaign": "bench", "task": format!("lease-{i}"),
                                 "answerHash": format!("0x{:064x}", i), "manifestId": format!("0x{:064x}", 0),
                                 "nonce": i.to_string(), "deadline": "1795000000", "licence": "CC-BY-4.0",
                                 "termsHash": format!("0x{:064x}", 7) },
                },
            })],
            capture: None,
        };
        writer.push(&row)?;
    }
    let state = writer.finish()?;
    let seconds = started.elapsed().as_secs_f64();
    let mut bytes = 0;
    for shard in &state.shards {
        bytes += std::fs::metadata(args.out.join(&shard.file))?.len();
    }
    println!(
        "{} rows as {:?} in {:.2} s: {:.0} rows/s, {} shard(s), {:.1} MiB written, peak RSS {} KiB (before writing: {} KiB)",
        state.rows(),
        layout,
        seconds,
        state.rows() as f64 / seconds.max(1e-9),
        state.shards.len(),
        bytes as f64 / 1_048_576.0,
        peak_rss_kib().map_or_else(|| "?".into(), |k| k.to_string()),
        before.map_or_else(|| "?".into(), |k| k.to_string()),
    );
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
pub(crate) mod tests {
    use super::*;

    /// The Python script that loads an export with pyarrow, datasets, mlcroissant and
    /// webdataset (crates/cli/tests/validation.rs runs it too).
    const CHECK_PY: &str = include_str!("dataset/check.py");

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n not really a picture";

    fn rows(n: u64) -> Vec<Row> {
        (0..n)
            .map(|i| Row {
                index: i * 2 + 1,
                item: json!({ "text": format!("item {i}, with \"quotes\" — ünïcödé") }),
                answer: json!({ "labels": ["cat"] }),
                label: "cat".into(),
                confidence: (i % 3 != 0).then_some(0.5 + i as f64 / 100.0),
                method: "majority".into(),
                contributor_ids: (0..i % 3).map(|c| format!("{c:032x}")).collect(),
                object: (i % 2 == 0).then(|| format!("{i:064x}")),
                media: (i % 2 == 0).then(|| (PNG.to_vec(), "png".to_owned())),
                verdict: (i % 2 == 0).then(|| json!({ "accept": true })),
                predictions: Vec::new(),
                receipts: vec![json!({ "contributor_id": format!("{i:032x}"), "receipt": null })],
                capture: (i % 2 == 0).then(|| "app".to_owned()),
            })
            .collect()
    }

    fn about<'a>(shards: &'a [Shard], rows: u64) -> About<'a> {
        About {
            campaign: "cats",
            kind: "image_categorization",
            title: "Cats: which?",
            instructions: "Pick the animal.",
            license: "cc-by-4.0",
            license_url: "",
            relay: "http://127.0.0.1:1/",
            requester: "0x00000000000000000000000000000000000000aa",
            rows,
            missing_receipts: shards.iter().map(|s| s.missing_receipts).sum(),
            shards,
        }
    }

    fn export(root: &Path, layout: Layout, rows: &[Row], shard_rows: u64) -> State {
        let state = open_dir(root, layout, "cats").unwrap();
        let mut writer = Writer::new(root, state, shard_rows);
        for row in rows {
            writer.push(row).unwrap();
        }
        let state = writer.finish().unwrap();
        if layout == Layout::Hf {
            write_hf_metadata(root, &about(&state.shards, state.rows())).unwrap();
        }
        state
    }

    fn data_files(root: &Path) -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(root.join("data"))
            .unwrap()
            .map(|e| {
                let path = e.unwrap().path();
                (
                    path.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read(&path).unwrap(),
                )
            })
            .collect();
        files.sort();
        files
    }

    #[test]
    fn an_interrupted_export_resumes_after_its_last_finished_shard() {
        use std::os::unix::fs::MetadataExt as _;
        for layout in [Layout::Hf, Layout::Webdataset] {
            let rows = rows(10);
            let tmp = tempfile::tempdir().unwrap();
            let whole = tmp.path().join("whole");
            let state = export(&whole, layout, &rows, 3);
            assert_eq!(state.shards.len(), 4);
            assert_eq!(state.rows(), 10);
            assert!(!whole.join(STATE_FILE).exists());

            // A run that dies in its third shard: two finished, one partial.
            let cut = tmp.path().join("cut");
            let mut writer = Writer::new(&cut, open_dir(&cut, layout, "cats").unwrap(), 3);
            for row in rows.iter().take(7) {
                writer.push(row).unwrap();
            }
            drop(writer);
            let state = open_dir(&cut, layout, "cats").unwrap();
            let kept: Vec<u64> = state
                .shards
                .iter()
                .map(|s| std::fs::metadata(cut.join(&s.file)).unwrap().ino())
                .collect();
            assert_eq!(state.shards.len(), 2);
            assert_eq!(state.resume_after(), Some(rows[5].index));
            // The rows come again from the start (the relay may repeat a page): the finished
            // shards' rows are skipped, the partial shard is written anew.
            let mut writer = Writer::new(&cut, state, 3);
            for row in &rows {
                writer.push(row).unwrap();
            }
            let state = writer.finish().unwrap();
            assert_eq!(state.rows(), 10);
            assert_eq!(data_files(&cut), data_files(&whole), "{layout:?}");
            for (shard, ino) in state.shards.iter().zip(kept) {
                assert_eq!(std::fs::metadata(cut.join(&shard.file)).unwrap().ino(), ino);
            }
        }
    }

    #[test]
    fn an_items_uploads_stay_in_one_shard_so_a_resume_loses_none() {
        // Three uploads of item 1, two of item 2, with shards of two rows.
        let mut all = Vec::new();
        for (index, n) in [(1u64, 3), (2, 2), (5, 1)] {
            for i in 0..n {
                let mut row = rows(1).remove(0);
                row.index = index;
                row.object = Some(format!("{index:032x}{i:032x}"));
                all.push(row);
            }
        }
        for layout in [Layout::Hf, Layout::Webdataset] {
            let tmp = tempfile::tempdir().unwrap();
            let whole = tmp.path().join("whole");
            let state = export(&whole, layout, &all, 2);
            let rows: Vec<u64> = state.shards.iter().map(|s| s.rows).collect();
            assert_eq!(rows, [3, 2, 1], "{layout:?}");
            let cut = tmp.path().join("cut");
            let mut writer = Writer::new(&cut, open_dir(&cut, layout, "cats").unwrap(), 2);
            for row in all.iter().take(4) {
                writer.push(row).unwrap();
            }
            drop(writer);
            let mut writer = Writer::new(&cut, open_dir(&cut, layout, "cats").unwrap(), 2);
            for row in all.iter().filter(|r| r.index > 1) {
                writer.push(row).unwrap();
            }
            assert_eq!(writer.finish().unwrap().rows(), 6);
            assert_eq!(data_files(&cut), data_files(&whole), "{layout:?}");
        }
        // Out of order is refused, not written.
        let tmp = tempfile::tempdir().unwrap();
        let mut writer = Writer::new(
            tmp.path(),
            open_dir(tmp.path(), Layout::Hf, "cats").unwrap(),
            9,
        );
        writer.push(&all[3]).unwrap();
        assert_eq!(
            writer.push(&all[0]).unwrap_err().to_string(),
            "the relay's results are out of order: record 1 after record 2"
        );
    }

    #[test]
    fn a_folder_that_is_not_this_unfinished_export_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::write(dir.join("notes.txt"), "mine").unwrap();
        assert_eq!(
            open_dir(dir, Layout::Hf, "cats").unwrap_err().to_string(),
            format!(
                "{} is not empty and holds no unfinished export: export into a new folder",
                dir.display()
            )
        );
        std::fs::remove_file(dir.join("notes.txt")).unwrap();
        let mut writer = Writer::new(dir, open_dir(dir, Layout::Hf, "cats").unwrap(), 1);
        writer.push(&rows(1)[0]).unwrap();
        drop(writer);
        let other = open_dir(dir, Layout::Webdataset, "cats").unwrap_err();
        assert!(
            other
                .to_string()
                .contains("holds an unfinished Hf export of campaign \"cats\""),
            "{other}"
        );
        assert!(open_dir(dir, Layout::Hf, "dogs").is_err());
        std::fs::write(dir.join(STATE_FILE), "{").unwrap();
        assert!(
            open_dir(dir, Layout::Hf, "cats")
                .unwrap_err()
                .to_string()
                .contains("is damaged")
        );
        std::fs::write(dir.join("manifest.json"), "{}").unwrap();
        assert!(
            open_dir(dir, Layout::Hf, "cats")
                .unwrap_err()
                .to_string()
                .contains("holds a finished export")
        );
    }

    #[test]
    fn contributor_ids_are_stable_per_campaign_and_unlinkable_across() {
        let secret = [7u8; 64];
        let a = "0x00000000000000000000000000000000000000Cc";
        let cats = pseudonym_key(&secret, "cats");
        assert_eq!(
            contributor_id(&cats, a),
            contributor_id(&cats, &a.to_lowercase())
        );
        assert_eq!(contributor_id(&cats, a).len(), 32);
        assert_ne!(
            contributor_id(&cats, a),
            contributor_id(&pseudonym_key(&secret, "dogs"), a)
        );
        assert_ne!(
            contributor_id(&cats, a),
            contributor_id(&pseudonym_key(&[8; 64], "cats"), a)
        );
        // Without the key, the id is not the address's plain hash.
        let plain = blake3::hash(a.to_lowercase().as_bytes()).to_hex();
        assert_ne!(contributor_id(&cats, a), plain.get(..32).unwrap());
    }

    #[test]
    fn the_pseudonym_seed_is_the_wallets_signature_so_the_console_gets_the_same_ids() {
        // The vector was computed by the console's own code (www/console/export.js) with the
        // signature ethers' `Wallet.signMessageSync(PSEUDONYM_MESSAGE)` makes for this key:
        // the CLI with the key file and the console with a wallet name contributors alike.
        let key = datahub_core::SecretKey::from_bytes(&[5; 32]).unwrap();
        assert_eq!(
            key.public_key().address().to_checksum(),
            "0xd09Ad14080d4b257a819a4f579b8485Be88f086c"
        );
        let seed = pseudonym_seed(&key);
        // Deterministic (RFC 6979): a second signature gives the same seed.
        assert_eq!(seed, pseudonym_seed(&key));
        let ids = pseudonym_key(&seed, "cats");
        assert_eq!(
            contributor_id(&ids, "0x00000000000000000000000000000000000000Cc"),
            "58bcff9d1bb29419d862060485af3f68"
        );
    }

    /// A Python that can run `imports` (`DATAHUB_COCO_PYTHON`, the test venv, else `python3`),
    /// or `None` outside CI when there is none: in CI (or with the variable set) a missing
    /// package is a broken setup, not a pass. `what` names the packages in the messages.
    pub fn python_with(imports: &str, what: &str) -> Option<String> {
        let python = std::env::var("DATAHUB_COCO_PYTHON").unwrap_or_else(|_| "python3".into());
        let has = std::process::Command::new(&python)
            .args(["-c", imports])
            .output()
            .is_ok_and(|o| o.status.success());
        if !has {
            assert!(
                std::env::var("DATAHUB_COCO_PYTHON").is_err(),
                "DATAHUB_COCO_PYTHON={python} lacks {what} (cargo xtask setup installs them)"
            );
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but no python with {what} was given (DATAHUB_COCO_PYTHON)"
            );
            eprintln!("no python with {what}: set DATAHUB_COCO_PYTHON to the test venv");
            return None;
        }
        Some(python)
    }

    /// A Python with the dataset loaders and the receipt checkers.
    pub fn loaders_python() -> Option<String> {
        python_with(
            "import pyarrow, datasets, mlcroissant, webdataset, eth_keys, eth_hash.auto",
            "pyarrow, datasets, mlcroissant, webdataset, eth-keys or eth-hash",
        )
    }

    pub fn run_check(python: &str, root: &Path, layout: &str) -> Value {
        let out = std::process::Command::new(python)
            .args(["-c", CHECK_PY])
            .arg(root)
            .arg(layout)
            .env("HF_DATASETS_OFFLINE", "1")
            .env("HF_HUB_OFFLINE", "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// A receipt as the relay's results give it, signed by `key` (docs/relay.md §4f).
    fn signed_receipt(key: &datahub_core::SecretKey, licence: &str, terms: &str) -> Value {
        use datahub_core::eth::{
            Address, ChainId, Eip712Domain, SubmissionReceipt, TypedStruct, U256, keccak256,
        };
        let domain = Eip712Domain {
            name: "DataHub".into(),
            version: "1".into(),
            chain_id: ChainId(56),
            verifying_contract: Address::parse("0x1111111111111111111111111111111111111111")
                .unwrap(),
        };
        let answer = r#"{"verdict":"true"}"#;
        let receipt = SubmissionReceipt {
            campaign: "cats".into(),
            task: "lease-1".into(),
            answer_hash: keccak256(answer.as_bytes()),
            manifest_id: [0; 32],
            nonce: U256::from_u64(7),
            deadline: 1_795_000_000,
            licence: licence.into(),
            terms_hash: SubmissionReceipt::terms_hash(Some(terms)),
        };
        let hex0x = |b: &[u8]| format!("0x{}", hex::encode(b));
        json!({
            "contributor_id": "0".repeat(32),
            "receipt": {
                "signer": key.public_key().address().to_checksum(),
                "signature": receipt.sign(key, &domain).to_hex(),
                "answer": answer,
                "domain": { "name": "DataHub", "version": "1", "chainId": 56,
                            "verifyingContract": "0x1111111111111111111111111111111111111111" },
                "message": {
                    "campaign": "cats", "task": "lease-1",
                    "answerHash": hex0x(&receipt.answer_hash), "manifestId": hex0x(&[0; 32]),
                    "nonce": "7", "deadline": "1795000000", "licence": licence,
                    "termsHash": hex0x(&receipt.terms_hash),
                },
            },
        })
    }

    #[test]
    fn the_python_check_recovers_each_receipt_and_refuses_a_changed_one() {
        let Some(python) = loaders_python() else {
            return;
        };
        let key = datahub_core::SecretKey::derive(&[5; 32]);
        let mut rows = rows(2);
        for row in &mut rows {
            row.receipts = vec![signed_receipt(&key, "CC-BY-4.0", "I agree.")];
        }
        let tmp = tempfile::tempdir().unwrap();
        export(&tmp.path().join("good"), Layout::Webdataset, &rows, 10);
        let report = run_check(&python, &tmp.path().join("good"), "webdataset");
        assert_eq!(report["receipts"]["verified"], 2, "{}", report["receipts"]);
        assert_eq!(
            report["receipts"]["signers"],
            json!([key.public_key().address().to_checksum()])
        );
        // One licence changed after signing: the signature no longer recovers to the signer.
        rows[1].receipts[0]["receipt"]["message"]["licence"] = json!("CC0-1.0");
        export(&tmp.path().join("bad"), Layout::Webdataset, &rows, 10);
        let out = std::process::Command::new(&python)
            .args(["-c", CHECK_PY])
            .arg(tmp.path().join("bad"))
            .arg("webdataset")
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("row 3: recovers to"), "{stderr}");
    }

    #[test]
    fn the_loaders_ai_teams_use_read_both_layouts() {
        let Some(python) = loaders_python() else {
            return;
        };
        let rows = rows(5);
        let tmp = tempfile::tempdir().unwrap();
        let hf = tmp.path().join("hf");
        export(&hf, Layout::Hf, &rows, 2);
        let report = run_check(&python, &hf, "hf");
        let names: Vec<&str> = COLUMNS.iter().map(|c| c.0).collect();
        assert_eq!(report["pyarrow"]["columns"], json!(names));
        assert_eq!(
            report["pyarrow"]["types"]["contributor_ids"],
            "list<element: string not null>"
        );
        assert_eq!(report["pyarrow"]["types"]["media"], "binary");
        assert_eq!(report["datasets"]["rows"], 5);
        assert_eq!(report["croissant"]["records"], 5);
        assert_eq!(report["croissant"]["rai"], true);
        assert_eq!(report["card"]["license"], "cc-by-4.0");
        assert_eq!(report["card"]["size_categories"], json!(["n<1K"]));
        // Every test row's one receipt is null (an answer stored before receipts were kept):
        // counted per shard, summed over the three, and said in the card and croissant.json.
        let card = std::fs::read_to_string(hf.join("README.md")).unwrap();
        assert!(card.contains("Answers without a receipt: 5."), "{card}");
        let croissant: Value =
            serde_json::from_slice(&std::fs::read(hf.join("croissant.json")).unwrap()).unwrap();
        assert!(
            croissant["rai:dataLimitations"]
                .as_str()
                .unwrap()
                .contains("5 answer(s) have no signed receipt")
        );
        assert_eq!(report["receipts"]["unverifiable"], 5);
        for (row, seen) in rows.iter().zip(report["rows"].as_array().unwrap()) {
            assert_eq!(seen["index"], row.index);
            assert_eq!(
                serde_json::from_str::<Value>(seen["item"].as_str().unwrap()).unwrap(),
                row.item
            );
            assert_eq!(seen["confidence"], json!(row.confidence));
            assert_eq!(seen["contributor_ids"], json!(row.contributor_ids));
            assert_eq!(seen["object"], json!(row.object));
            assert_eq!(
                seen["media"],
                json!(row.media.as_ref().map(|m| hex::encode(&m.0)))
            );
            assert_eq!(seen["predictions"], "[]");
            assert_eq!(
                serde_json::from_str::<Value>(seen["receipts"].as_str().unwrap()).unwrap(),
                json!(row.receipts)
            );
            assert_eq!(seen["capture"], json!(row.capture));
        }
        let wds = tmp.path().join("wds");
        export(&wds, Layout::Webdataset, &rows, 2);
        let report = run_check(&python, &wds, "webdataset");
        let samples = report["webdataset"].as_array().unwrap();
        assert_eq!(samples.len(), 5);
        for (row, seen) in rows.iter().zip(samples) {
            assert_eq!(seen["index"], row.index);
            assert_eq!(
                seen["record"]["contributor_ids"],
                json!(row.contributor_ids)
            );
            match &row.media {
                Some((bytes, _)) => assert_eq!(seen["bytes"]["png"], bytes.len()),
                None => assert_eq!(seen["media"], json!([])),
            }
        }
    }
}
