// The dataset layouts from the console: `hf` (Parquet shards, the dataset card README.md,
// croissant.json) and `webdataset` (tar shards), as `datahub campaign results --format hf|webdataset`
// writes them (crates/cli/src/dataset.rs: keep the two in step), with the same pseudonymous
// contributor ids and a manifest the requester's wallet signs, which `datahub campaign verify`
// checks. The whole folder downloads as one tar, `<campaign>-<layout>.tar`.
//
// Memory: the results are read a page (1000 records) at a time and a shard's rows are held until
// the shard closes (10,000 rows or 64 MiB); a finished shard becomes a Blob, which the browser
// keeps out of the page's heap (Chromium moves large blobs to disk), so the page holds one shard.

import { parquetWrite, ByteWriter, createBLAKE3 } from "./vendor.js";

/** The message the wallet signs to key the pseudonyms: the CLI's `PSEUDONYM_MESSAGE`. */
export const PSEUDONYM_MESSAGE = "DataHub: key the pseudonymous contributor ids of my dataset exports.\n\nThis signature is a secret. Sign this message only in the DataHub console or CLI.";

/** The manifest's `format` and why some receipts are null: the CLI's words. */
const MANIFEST_FORMAT = "datahub-export/1";
const MISSING_RECEIPTS_REASON = "receipt null: answers stored before the relay kept receipts (its migration 0015); a receipt is the contributor's signature and cannot be made afterwards";

const SHARD_ROWS = 10_000;
const SHARD_BYTES = 64 * 1024 * 1024;
const PAGE = 1000;

/** The columns, in the Parquet schema's order: the CLI's `COLUMNS`. */
export const COLUMNS = [
  ["index", "sc:Integer", "the item's index in the campaign"],
  ["item", "sc:Text", "the item as the campaign defined it (JSON)"],
  ["answer", "sc:Text", "the aggregated answer (JSON)"],
  ["label", "sc:Text", "the answer as text (labels joined with |)"],
  ["confidence", "sc:Float", "how sure the aggregation is, 0 to 1"],
  ["method", "sc:Text", "how the answer was aggregated"],
  ["contributor_ids", "sc:Text", "pseudonymous ids of the contributors (stable within the campaign)"],
  ["object", "sc:Text", "the sealed upload's object id"],
  ["media", "sc:Text", "the decrypted upload's bytes"],
  ["media_type", "sc:Text", "the upload's file extension (png, jpg, webp, wav)"],
  ["verdict", "sc:Text", "the validator's signed verdict on the upload (JSON)"],
  ["predictions", "sc:Text", "models' predictions: the model's hash, the agreed prediction and each node's signed result (JSON list; empty where no model ran)"],
  ["receipts", "sc:Text", "each contributor's signed EIP-712 SubmissionReceipt: domain, message (with the licence and terms hash), the answer signed, signature and signer (JSON list)"],
  ["capture", "sc:Text", "uploads: app (made with the app's camera or microphone) or file (picked from a file), as the contributor's client said"],
];

const utf8 = new TextEncoder();
const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

function fromHex(text) {
  const digits = text.replace(/^0x/, "");
  if (!/^([0-9a-fA-F]{2})*$/.test(digits)) throw new Error("the wallet's signature is not hex");
  return Uint8Array.from(digits.match(/../g) ?? [], (b) => parseInt(b, 16));
}

// --- pseudonyms -----------------------------------------------------------------------------

/** The campaign's pseudonym key from the wallet's signature of PSEUDONYM_MESSAGE (the CLI's
 * `pseudonym_key(pseudonym_seed(key), campaign)`: BLAKE3 of a label, r ‖ s and the id). */
export async function pseudonymKey(signature, campaign) {
  const sig = fromHex(signature);
  if (sig.length !== 65) throw new Error("the wallet's signature is not 65 bytes");
  const hasher = await createBLAKE3(256);
  hasher.init();
  hasher.update(utf8.encode("datahub contributor ids v2\0"));
  hasher.update(sig.subarray(0, 64));
  hasher.update(utf8.encode(campaign));
  return hasher.digest("binary");
}

/** A function from address to contributor id (BLAKE3 keyed by the campaign's key, 32 hex). */
export async function pseudonyms(key) {
  const hasher = await createBLAKE3(256, key);
  const known = new Map();
  return (address) => {
    const lower = String(address).toLowerCase();
    let id = known.get(lower);
    if (id === undefined) {
      hasher.init();
      hasher.update(utf8.encode(lower));
      id = hasher.digest("hex").slice(0, 32);
      known.set(lower, id);
    }
    return id;
  };
}

// --- tar ------------------------------------------------------------------------------------

/** A ustar header for a regular file (mode 0644, time 0: the CLI's shards do the same). */
function tarHeader(name, size) {
  const nameBytes = utf8.encode(name);
  if (nameBytes.length > 100) throw new Error(`the name ${name} is too long for a tar entry`);
  const header = new Uint8Array(512);
  const put = (offset, text) => header.set(utf8.encode(text), offset);
  header.set(nameBytes, 0);
  put(100, "0000644\0");
  put(108, "0000000\0");
  put(116, "0000000\0");
  put(124, `${size.toString(8).padStart(11, "0")}\0`);
  put(136, "00000000000\0");
  put(148, "        ");
  put(156, "0");
  put(257, "ustar\0");
  put(263, "00");
  const sum = header.reduce((a, b) => a + b, 0);
  put(148, `${sum.toString(8).padStart(6, "0")}\0 `);
  return header;
}

/** The parts of a tar: each entry's header, its bytes (a Uint8Array or a Blob) and padding. */
class TarParts {
  constructor() {
    this.parts = [];
    this.size = 0;
  }

  add(name, data) {
    const size = data instanceof Blob ? data.size : data.length;
    this.parts.push(tarHeader(name, size), data);
    const pad = (512 - (size % 512)) % 512;
    if (pad) this.parts.push(new Uint8Array(pad));
    this.size += 512 + size + pad;
  }

  /** The tar's parts, closed by two zero blocks. */
  close() {
    this.parts.push(new Uint8Array(1024));
    return this.parts;
  }
}

// --- shards ---------------------------------------------------------------------------------

const text = (name, repetition = "REQUIRED") => ({ name, type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: repetition });

/** The CLI's Parquet schema (`message datahub_record`). */
const SCHEMA = [
  { name: "datahub_record", num_children: 14 },
  { name: "index", type: "INT64", repetition_type: "REQUIRED" },
  text("item"),
  text("answer"),
  text("label"),
  { name: "confidence", type: "DOUBLE", repetition_type: "OPTIONAL" },
  text("method"),
  { name: "contributor_ids", repetition_type: "REQUIRED", converted_type: "LIST", num_children: 1 },
  { name: "list", repetition_type: "REPEATED", num_children: 1 },
  text("element"),
  text("object", "OPTIONAL"),
  { name: "media", type: "BYTE_ARRAY", repetition_type: "OPTIONAL" },
  text("media_type", "OPTIONAL"),
  text("verdict", "OPTIONAL"),
  text("predictions"),
  text("receipts"),
  text("capture", "OPTIONAL"),
];

/** A row as a webdataset sample's JSON (the CLI's `Row::json`). */
function rowJson(row) {
  return {
    index: row.index, item: row.item, answer: row.answer, label: row.label, confidence: row.confidence,
    method: row.method, contributor_ids: row.contributor_ids, object: row.object, media_type: null,
    verdict: row.verdict, predictions: row.predictions, receipts: row.receipts, capture: row.capture,
  };
}

/** One shard being filled: its rows, then its bytes. */
class Shard {
  constructor(layout, n) {
    this.layout = layout;
    this.file = layout === "hf" ? `data/train-${String(n).padStart(5, "0")}.parquet` : `data/train-${String(n).padStart(6, "0")}.tar`;
    this.rows = [];
    this.bytes = 0;
    this.sameIndex = 0;
  }

  push(row) {
    const last = this.rows.at(-1);
    this.sameIndex = last && last.index === row.index ? this.sameIndex + 1 : 0;
    row.nth = this.sameIndex;
    this.rows.push(row);
    // A receipt is about 1 KiB of JSON (the CLI's estimate).
    this.bytes += 256 + 1024 * row.receipts.length;
  }

  /** Whether `row` must go to a new shard: this one is full, and the index changes (an item's
   * several records stay together, as the CLI keeps them). */
  fullBefore(row) {
    const last = this.rows.at(-1);
    return last !== undefined && (this.rows.length >= SHARD_ROWS || this.bytes >= SHARD_BYTES) && row.index !== last.index;
  }

  /** The shard's bytes. */
  finish() {
    if (this.layout === "hf") {
      const column = (name, f) => ({ name, data: this.rows.map(f) });
      const writer = new ByteWriter();
      parquetWrite({
        writer,
        schema: SCHEMA,
        rowGroupSize: 10_000,
        createdBy: "datahub console",
        columnData: [
          column("index", (r) => BigInt(r.index)),
          column("item", (r) => JSON.stringify(r.item)),
          column("answer", (r) => JSON.stringify(r.answer)),
          column("label", (r) => r.label),
          column("confidence", (r) => r.confidence),
          column("method", (r) => r.method),
          column("contributor_ids", (r) => r.contributor_ids),
          column("object", (r) => r.object),
          column("media", () => null),
          column("media_type", () => null),
          column("verdict", (r) => (r.verdict === null ? null : JSON.stringify(r.verdict))),
          column("predictions", (r) => JSON.stringify(r.predictions)),
          column("receipts", (r) => JSON.stringify(r.receipts)),
          column("capture", (r) => r.capture),
        ],
      });
      return new Uint8Array(writer.getBuffer());
    }
    const tar = new TarParts();
    for (const row of this.rows) {
      const key = `${String(row.index).padStart(12, "0")}_${String(row.nth).padStart(3, "0")}`;
      tar.add(`${key}.json`, utf8.encode(JSON.stringify(rowJson(row))));
    }
    const out = new Uint8Array(tar.size + 1024);
    let at = 0;
    for (const part of tar.close()) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  }
}

// --- the card and croissant.json (the CLI's `dataset_card` and `croissant`) -------------------

function sizeCategory(rows) {
  if (rows < 1_000) return "n<1K";
  if (rows < 10_000) return "1K<n<10K";
  if (rows < 100_000) return "10K<n<100K";
  if (rows < 1_000_000) return "100K<n<1M";
  if (rows < 10_000_000) return "1M<n<10M";
  return "10M<n<100M";
}

function taskCategory(kind) {
  switch (kind) {
    case "image_categorization":
    case "content_moderation":
    case "content_verification":
      return "image-classification";
    case "text_labeling":
      return "text-classification";
    case "voice_recording":
      return "automatic-speech-recognition";
    case "image_upload":
      return "image-to-text";
    default:
      return "other";
  }
}

export function datasetCard(a) {
  const columns = COLUMNS.map(([name, , what]) => `| \`${name}\` | ${what} |\n`).join("");
  const licenseLink = a.licenseUrl ? `license_link: ${JSON.stringify(a.licenseUrl)}\n` : "";
  return `---
license: ${a.license}
${licenseLink}pretty_name: ${JSON.stringify(a.title)}
task_categories:
- ${taskCategory(a.kind)}
annotations_creators:
- crowdsourced
source_datasets:
- original
size_categories:
- ${sizeCategory(a.rows)}
tags:
- datahub
- ${a.kind}
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-*.parquet
---

# ${a.title.replaceAll("\n", " ")}

DataHub campaign \`${a.campaign}\` (${a.kind}): ${a.rows} accepted item(s), exported from ${a.relay} by the
requester ${a.requester}, who signed \`manifest.json\` (the BLAKE3 hash of every file; \`datahub
campaign verify\` checks it).

## Instructions given to contributors

${a.instructions}

## Data collection

Each row is one item of the campaign. Contributors answered (or uploaded) through the DataHub
mini-app; each answer is signed by the contributor's session key. The aggregated answer is what
the relay decided from the accepted answers (\`method\`), with its \`confidence\`.

## Consent

Every row carries, in \`receipts\`, each contributor's signed EIP-712 \`SubmissionReceipt\`: it
signs the answer (\`answerHash\`), the upload (\`manifestId\`), the campaign's licence and the
BLAKE3 hash of the terms the contributor was shown and accepted (\`termsHash\`). Recovering the
signer from \`domain\`, \`message\` and \`signature\` checks it. Contributors who withdrew consent
before this export are left out (\`manifest.json\` counts them).

Answers without a receipt: ${a.missingReceipts}. Answers stored before the relay kept receipts (before its
migration 0015) have \`receipt: null\`: a receipt is the contributor's signature and cannot be
made afterwards.

## Personal information

Contributors are named by \`contributor_ids\`: a keyed hash of their address, stable within this
campaign, which only the requester's key links back to an address. Uploads (\`media\`) are what
contributors chose to send and may show people or places.

## Columns

| column | meaning |
| --- | --- |
${columns}
Load it with \`datasets.load_dataset("parquet", data_files="data/train-*.parquet")\`.
`;
}

const CROISSANT_CONTEXT = {
  "@language": "en", "@vocab": "https://schema.org/", citeAs: "cr:citeAs", column: "cr:column",
  conformsTo: "dct:conformsTo", cr: "http://mlcommons.org/croissant/", rai: "http://mlcommons.org/croissant/RAI/",
  data: { "@id": "cr:data", "@type": "@json" }, dataType: { "@id": "cr:dataType", "@type": "@vocab" },
  dct: "http://purl.org/dc/terms/", examples: { "@id": "cr:examples", "@type": "@json" }, extract: "cr:extract",
  field: "cr:field", fileProperty: "cr:fileProperty", fileObject: "cr:fileObject", fileSet: "cr:fileSet",
  format: "cr:format", includes: "cr:includes", isLiveDataset: "cr:isLiveDataset", jsonPath: "cr:jsonPath",
  key: "cr:key", md5: "cr:md5", parentField: "cr:parentField", path: "cr:path", recordSet: "cr:recordSet",
  references: "cr:references", regex: "cr:regex", repeated: "cr:repeated", replace: "cr:replace",
  sc: "https://schema.org/", separator: "cr:separator", source: "cr:source", subField: "cr:subField",
  transform: "cr:transform",
};

export function croissant(a, hashes) {
  const distribution = hashes.map(([file, sha256]) => ({
    "@type": "cr:FileObject", "@id": file, name: file, contentUrl: file, encodingFormat: "application/x-parquet", sha256,
  }));
  distribution.push({ "@type": "cr:FileSet", "@id": "parquet-files", name: "parquet-files", encodingFormat: "application/x-parquet", includes: "data/*.parquet" });
  const fields = COLUMNS.filter(([name]) => name !== "media").map(([name, dataType, what]) => ({
    "@type": "cr:Field", "@id": `default/${name}`, name, description: what, dataType,
    source: { fileSet: { "@id": "parquet-files" }, extract: { column: name } },
  }));
  return {
    "@context": CROISSANT_CONTEXT,
    "@type": "sc:Dataset",
    conformsTo: "http://mlcommons.org/croissant/1.0",
    name: `datahub-${a.campaign}`,
    description: `DataHub campaign ${a.campaign} (${a.kind}): ${a.rows} accepted item(s). ${a.title}`,
    url: a.relay,
    license: a.licenseUrl || a.license,
    creator: { "@type": "sc:Organization", name: a.requester },
    datePublished: new Date().toISOString().slice(0, 10),
    version: "1.0.0",
    citeAs: `DataHub campaign ${a.campaign} exported from ${a.relay}`,
    "rai:dataCollection": "Contributors answered tasks (or uploaded media) in the DataHub mini-app; every answer is signed by the contributor's session key and aggregated by the relay.",
    "rai:dataCollectionType": ["Crowdsourced"],
    "rai:dataAnnotationProtocol": a.instructions,
    "rai:annotationsPerItem": "one or more contributors per item; the aggregated answer and its confidence are given",
    "rai:dataAnnotationPlatform": "DataHub",
    "rai:personalSensitiveInformation": "Contributors are pseudonymous (a keyed hash of their address per campaign). Uploaded media may show people or places.",
    "rai:dataBiases": "Contributors are whoever took the campaign's tasks; they are not a representative sample of any population.",
    "rai:dataLimitations": `Answers are aggregated from few contributors per item; low-confidence rows may be wrong. Only accepted items are exported. ${a.missingReceipts} answer(s) have no signed receipt (stored before the relay kept receipts).`,
    "rai:dataUseCases": "Training and evaluating models on the campaign's task.",
    distribution,
    recordSet: [{ "@type": "cr:RecordSet", "@id": "default", name: "default", field: fields }],
  };
}

// --- the export -----------------------------------------------------------------------------

/** The CLI's flat label: labels or flags joined with |, a label, or a verdict. */
export function flatLabel(answer) {
  if (Array.isArray(answer?.labels)) return answer.labels.join("|");
  if (Array.isArray(answer?.flags)) return answer.flags.join("|");
  return answer?.label ?? answer?.verdict ?? "";
}

async function sha256(bytes) {
  return hex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
}

async function blake3(bytes) {
  const hasher = await createBLAKE3(256);
  hasher.init();
  hasher.update(bytes);
  return hasher.digest("hex");
}

/**
 * Exports campaign `campaign` as `layout` (`hf` or `webdataset`) and resolves to
 * `{blob, name, rows, shards, missingReceipts, withdrawn}`, the tar to download.
 *  - `get(path)`: a GET to the relay as the requester (the console's `api`);
 *  - `signMessage(bytes or text)`: the wallet's `personal_sign`, resolving to `0x` hex;
 *  - `seed`: the wallet's signature of PSEUDONYM_MESSAGE;
 *  - `requester`: the wallet's checksummed address; `relay`: the relay's base URL (with `/`);
 *  - `progress(done, total)`: called after each page.
 */
export async function exportDataset({ layout, campaign, summary, get, signMessage, seed, requester, relay, progress }) {
  if (layout !== "hf" && layout !== "webdataset") throw new Error(`unknown layout ${layout}`);
  const idOf = await pseudonyms(await pseudonymKey(seed, campaign));
  const files = [];
  let shard = null;
  let rows = 0;
  let missingReceipts = 0;
  let withdrawn = 0;
  const close = async () => {
    if (!shard) return;
    const bytes = shard.finish();
    files.push({ path: shard.file, size: bytes.length, blake3: await blake3(bytes), sha256: layout === "hf" ? await sha256(bytes) : null, blob: new Blob([bytes]), rows: shard.rows.length });
    shard = null;
  };
  let after = null;
  const total = Number(summary.items ?? 0);
  for (;;) {
    const query = after === null ? `limit=${PAGE}` : `after=${after}&limit=${PAGE}`;
    const page = await get(`/v1/campaigns/${encodeURIComponent(campaign)}/results?${query}`);
    withdrawn = Number(page.withdrawn ?? 0);
    for (const r of page.records) {
      if (r.object || typeof r.item?.object === "string") {
        // The uploads are sealed to the key the campaign names, which a wallet does not give a
        // page; upload campaigns are made with the CLI, whose key opens them.
        throw new Error(`record ${r.index} is an upload: export upload campaigns with the CLI (datahub campaign results ${campaign} --format ${layout} -o DIR), whose key opens them`);
      }
      const receipts = (r.receipts ?? []).map((x) => ({ contributor_id: idOf(x.contributor ?? ""), receipt: x.receipt ?? null }));
      missingReceipts += receipts.filter((x) => x.receipt === null).length;
      const row = {
        index: r.index, item: r.item ?? null, answer: r.answer ?? null, label: flatLabel(r.answer), confidence: r.confidence ?? null,
        method: r.method ?? "", contributor_ids: (r.contributors ?? []).map(idOf), object: null, verdict: null,
        predictions: r.predictions ?? [], receipts, capture: typeof r.answer?.capture === "string" ? r.answer.capture : null,
      };
      if (shard?.fullBefore(row)) await close();
      shard ??= new Shard(layout, files.length);
      shard.push(row);
      rows += 1;
    }
    progress?.(rows, Math.max(total, rows));
    if (page.next === null || page.next === undefined || (after !== null && page.next <= after)) break;
    after = page.next;
  }
  await close();
  const about = {
    campaign, kind: summary.kind, title: summary.title || campaign, instructions: summary.instructions ?? "",
    license: summary.licence ? summary.licence.toLowerCase() : "other", licenseUrl: summary.licence_url ?? "",
    relay, requester, rows, missingReceipts,
  };
  if (layout === "hf") {
    const card = utf8.encode(datasetCard(about));
    const meta = utf8.encode(`${JSON.stringify(croissant(about, files.map((f) => [f.path, f.sha256])), null, 2)}\n`);
    for (const [path, bytes] of [["README.md", card], ["croissant.json", meta]]) {
      files.push({ path, size: bytes.length, blake3: await blake3(bytes), blob: new Blob([bytes]) });
    }
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const manifest = utf8.encode(`${JSON.stringify({
    format: MANIFEST_FORMAT, campaign, kind: summary.kind, relay, requester, created_at: new Date().toISOString(),
    records: rows,
    withdrawn: { records: withdrawn, reason: "left out: their contributors withdrew consent for future releases" },
    missing_receipts: { answers: missingReceipts, reason: MISSING_RECEIPTS_REASON },
    files: files.map((f) => ({ path: f.path, bytes: f.size, blake3: f.blake3 })),
  }, null, 2)}\n`);
  const signature = await signMessage(manifest);
  const folder = `${campaign}-${layout}`;
  const tar = new TarParts();
  for (const f of files) tar.add(`${folder}/${f.path}`, f.blob);
  tar.add(`${folder}/manifest.json`, manifest);
  tar.add(`${folder}/manifest.sig`, utf8.encode(`${signature}\n`));
  return {
    blob: new Blob(tar.close(), { type: "application/x-tar" }), name: `${folder}.tar`, rows,
    shards: files.filter((f) => f.path.startsWith("data/")).length, missingReceipts, withdrawn,
  };
}
