//! Validators and the export for real: `datahub dev`, a campaign naming a validator key, a
//! contributor who uploads generated images with `datahub object put` (sealed to the requester
//! and the validator) and submits them, a `datahub validate` process that opens and judges each
//! one, and `datahub campaign results` / `verify` exporting what was accepted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::io::Cursor;
use std::path::Path;
use std::time::{Duration, Instant};

use datahub_core::SecretKey;
use datahub_core::eth::{
    CampaignScope, ChainId, Eip712Domain, SessionGrant, SubmissionReceipt, Timestamp, TypedStruct,
    U256, keccak256, personal,
};
use serde_json::{Value, json};

use common::{datahub, new_dev, ok, www};

/// The terms the test campaign asks contributors to accept.
const TERMS: &str =
    "My photos may be released under CC-BY-4.0 to train and test AI models.\nI took them myself.";

/// A Python with pyarrow, datasets, mlcroissant and webdataset (`DATAHUB_COCO_PYTHON`, the
/// test venv `cargo xtask setup` makes); outside CI, `None` when there is none.
fn loaders_python() -> Option<String> {
    let python = std::env::var("DATAHUB_COCO_PYTHON").unwrap_or_else(|_| "python3".into());
    let has = std::process::Command::new(&python)
        .args([
            "-c",
            "import pyarrow, datasets, mlcroissant, webdataset, eth_keys, eth_hash.auto",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has {
        assert!(
            std::env::var("DATAHUB_COCO_PYTHON").is_err() && std::env::var_os("CI").is_none(),
            "{python} lacks the dataset loaders (cargo xtask setup installs them)"
        );
        eprintln!("no python with the dataset loaders: only the Rust checks ran");
        return None;
    }
    Some(python)
}

/// What the loaders saw in an export (crates/cli/src/dataset/check.py).
fn check_export(python: &str, root: &Path, layout: &str) -> Value {
    let out = std::process::Command::new(python)
        .args(["-c", include_str!("../src/dataset/check.py")])
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

/// Makes a key with `datahub keygen`; the key.
/// The seed of the test contributor's wallet.
const CONTRIBUTOR_WALLET: [u8; 32] = [21; 32];

/// Writes `key` as a key file `datahub` reads (hex, owner-only).
fn write_key(dir: &Path, name: &str, key: &SecretKey) {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join(name);
    std::fs::write(&path, format!("{}\n", hex::encode(*key.to_bytes()))).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn keygen(dir: &Path, name: &str) -> SecretKey {
    ok(dir, &["keygen", "-o", name]);
    let text = std::fs::read_to_string(dir.join(name)).unwrap();
    SecretKey::from_bytes(&hex::decode(text.trim()).unwrap()).unwrap()
}

/// Funds `requester` with `amount` USDT on chain 56: a grant signed by the network's operator
/// key (`datahub dev` made it in its folder).
fn grant(dir: &Path, url: &str, requester: &SecretKey, amount: &str, id: &str) {
    let operator = dir.join("net").join("operator.key").display().to_string();
    let address = requester.public_key().address().to_checksum();
    ok(
        dir,
        &[
            "treasury",
            "grant",
            "--key",
            &operator,
            "--relay",
            url,
            "--requester",
            &address,
            "--chain",
            "56",
            "--token",
            "USDT",
            "--amount",
            amount,
            "--request-id",
            id,
        ],
    );
}

fn public_hex(key: &SecretKey) -> String {
    hex::encode(key.public_key().to_compressed())
}

/// A picture with structure, different per seed (as in the checks' unit tests).
fn picture(seed: u32, width: u32, height: u32) -> image::RgbImage {
    let (fx, fy) = (1.0 + f64::from(seed % 5), 1.0 + f64::from((seed / 5) % 5));
    let phase = f64::from(seed) * 0.7;
    image::RgbImage::from_fn(width, height, |x, y| {
        let (u, v) = (
            f64::from(x) / f64::from(width),
            f64::from(y) / f64::from(height),
        );
        let a = (u * fx * std::f64::consts::TAU + phase).sin()
            * (v * fy * std::f64::consts::TAU - phase).cos();
        let b = ((u + v) * 3.0 + phase).sin();
        let level = |t: f64| (127.5 + 127.5 * t).clamp(0.0, 255.0) as u8;
        image::Rgb([level(a), level(b), level((a + b) / 2.0)])
    })
}

fn encode(image: &image::RgbImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(image.clone())
        .write_to(&mut out, format)
        .unwrap();
    out.into_inner()
}

/// A 16-bit mono WAV of a 440 Hz tone at `amplitude` (0: silence), `seconds` long.
fn wav(seconds: f64, amplitude: f64) -> Vec<u8> {
    let rate = 16_000u32;
    let count = (seconds * f64::from(rate)) as usize;
    let mut data = Vec::with_capacity(count * 2);
    for i in 0..count {
        let t = i as f64 / f64::from(rate);
        let sample = (amplitude * 32767.0 * (t * 440.0 * std::f64::consts::TAU).sin()) as i16;
        data.extend_from_slice(&sample.to_le_bytes());
    }
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt \x10\0\0\0\x01\0\x01\0");
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(b"\x02\0\x10\0data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&data);
    out
}

/// A contributor signed in with a session key.
struct Contributor {
    http: reqwest::Client,
    url: String,
    token: String,
    session_key: SecretKey,
    domain: Eip712Domain,
    nonce: u64,
    /// The licence and terms its receipts sign (none until it accepts a campaign's).
    licence: String,
    terms: Option<String>,
}

impl Contributor {
    async fn sign_in(url: &str) -> Self {
        let http = reqwest::Client::new();
        let wallet = SecretKey::derive(&CONTRIBUTOR_WALLET);
        let session_key = SecretKey::derive(&[22; 32]);
        let nonce: Value = http
            .post(format!("{url}/v1/auth/nonce"))
            .json(&json!({}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let domain = nonce["domains"][0].as_str().unwrap().to_owned();
        let now = Timestamp::from_unix_millis(now_ms());
        let grant = SessionGrant {
            key: session_key.public_key().address(),
            expires: Timestamp::from_unix_millis(now.unix_millis() + 3_600_000),
            campaigns: CampaignScope::Any,
            reward_cap: U256::from_u64(1_000_000_000),
        };
        let message = grant
            .siwe_message(
                wallet.public_key().address(),
                &domain,
                &format!("http://{domain}/"),
                ChainId(56),
                nonce["nonce"].as_str().unwrap(),
                now,
                Some("Sign in to DataHub"),
            )
            .to_string();
        let signature = personal::sign_message(&wallet, message.as_bytes());
        let session: Value = http
            .post(format!("{url}/v1/auth/session"))
            .json(&json!({ "message": message, "signature": signature.to_hex() }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let info: Value = http
            .get(format!("{url}/v1/info"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let contract = info["chains"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == 56)
            .map(|c| c["claim_contract"].as_str().unwrap().to_owned())
            .unwrap();
        Self {
            http,
            url: url.to_owned(),
            token: session["token"]
                .as_str()
                .unwrap_or_else(|| panic!("{session}"))
                .to_owned(),
            session_key,
            domain: Eip712Domain {
                name: "DataHub".into(),
                version: "1".into(),
                chain_id: ChainId(56),
                verifying_contract: datahub_core::Address::parse(&contract).unwrap(),
            },
            nonce: 0,
            licence: String::new(),
            terms: None,
        }
    }

    async fn post(&self, path: &str, body: &Value) -> Value {
        self.http
            .post(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Leases the campaign's next task and submits `object` as its upload; the outcome.
    async fn submit_upload(&mut self, campaign: &str, object: &str) -> Value {
        self.submit(
            campaign,
            &json!({ "object": object, "capture": "file" }),
            Some(object),
        )
        .await
    }

    /// Leases the campaign's next task and answers it; the outcome.
    async fn submit(&mut self, campaign: &str, answer: &Value, object: Option<&str>) -> Value {
        let lease = self.lease(campaign).await;
        self.answer(campaign, &lease, answer, object).await
    }

    /// Leases the campaign's next task: its lease id.
    async fn lease(&self, campaign: &str) -> String {
        let task = self
            .post(&format!("/v1/campaigns/{campaign}/next"), &json!({}))
            .await;
        task["lease"]
            .as_str()
            .unwrap_or_else(|| panic!("{task}"))
            .to_owned()
    }

    /// Answers the leased task `lease`; the outcome.
    async fn answer(
        &mut self,
        campaign: &str,
        lease: &str,
        answer: &Value,
        object: Option<&str>,
    ) -> Value {
        self.nonce += 1;
        let answer = answer.to_string();
        let deadline = u64::try_from(now_ms() / 1000 + 600).unwrap();
        let mut manifest_id = [0u8; 32];
        if let Some(object) = object {
            hex::decode_to_slice(object, &mut manifest_id).unwrap();
        }
        let receipt = SubmissionReceipt {
            campaign: campaign.to_owned(),
            task: lease.to_owned(),
            answer_hash: keccak256(answer.as_bytes()),
            manifest_id,
            nonce: U256::from_u64(self.nonce),
            deadline,
            licence: self.licence.clone(),
            terms_hash: SubmissionReceipt::terms_hash(self.terms.as_deref()),
        };
        let signature = receipt.sign(&self.session_key, &self.domain);
        let mut body = json!({
            "campaign": campaign, "task": lease, "answer": answer,
            "nonce": self.nonce.to_string(), "deadline": deadline, "signature": signature.to_hex(),
            "licence": receipt.licence, "terms_hash": hex::encode(receipt.terms_hash),
        });
        if let Some(object) = object {
            body["manifest_id"] = json!(object);
        }
        self.post("/v1/submissions", &body).await
    }

    async fn balance(&self) -> String {
        let body: Value = self
            .http
            .get(format!("{}/v1/me/balances", self.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["balances"][0]["amount"]
            .as_str()
            .unwrap_or("0")
            .to_owned()
    }
}

/// A key signing requests for one relay (docs/storage-node.md §3), as the CLI does.
struct Signer {
    http: reqwest::Client,
    url: String,
    audience: datahub_core::Address,
    key: SecretKey,
}

impl Signer {
    async fn new(url: &str, key: SecretKey) -> Self {
        let info: Value = reqwest::get(format!("{url}/v1/info"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let audience =
            datahub_core::Address::parse(info["relay_address"].as_str().unwrap()).unwrap();
        Self {
            http: reqwest::Client::new(),
            url: url.to_owned(),
            audience,
            key,
        }
    }

    /// `METHOD path` with `body`, signed; the answer as JSON.
    async fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let text = body.map(Value::to_string).unwrap_or_default();
        let time = Timestamp::from_unix_millis(now_ms());
        let signature = datahub_core::request::sign_request(
            &self.key,
            method,
            path,
            text.as_bytes(),
            time,
            &self.audience,
        );
        self.http
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}{path}", self.url),
            )
            .header("content-type", "application/json")
            .header(
                datahub_core::request::TIME_HEADER,
                time.unix_millis().to_string(),
            )
            .header(datahub_core::request::SIGNATURE_HEADER, signature.to_hex())
            .body(text)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validator_process_judges_uploads_and_the_requester_exports_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // No chain: the campaigns below pay on the relay's chain 56, as signed. The demo pictures
    // (`--www`), which a categorization campaign below names by path.
    let dev = new_dev(dir, 3)
        .args(["--no-demo", "--no-chain"])
        .www(&www())
        .ready_within(Duration::from_secs(120))
        .start()
        .unwrap();
    let url = dev.url.clone();
    let requester = keygen(dir, "requester.key");
    let validator = keygen(dir, "validator.key");
    // The contributor uploads with its own wallet: an upload is paid only to its uploader.
    write_key(dir, "worker.key", &SecretKey::derive(&CONTRIBUTOR_WALLET));

    let definition = json!({
        "id": "street-photos",
        "kind": "image_upload",
        "title": "Street photos",
        "instructions": "Photograph a street.",
        "items": (0..5).map(|i| json!({ "prompt": format!("street {i}") })).collect::<Vec<_>>(),
        "reward": "0.05",
        "token": "USDT",
        "budget": "1",
        "chains": [56],
        "encryption_key": public_hex(&requester),
        "upload": { "types": ["image/png", "image/jpeg"], "min_width": 64, "min_height": 64 },
        "validators": [public_hex(&validator)],
        "licence": "CC-BY-4.0",
        "terms": TERMS,
    });
    std::fs::write(dir.join("campaign.json"), definition.to_string()).unwrap();
    grant(dir, &url, &requester, "1", "fund-campaign");
    ok(
        dir,
        &[
            "campaign",
            "create",
            "campaign.json",
            "-k",
            "requester.key",
            "--relay",
            &url,
        ],
    );

    // What the contributor uploads, in this order, and what the validator must say of it.
    let original = picture(6, 160, 120);
    let valid = encode(&original, image::ImageFormat::Png);
    let shrunk = image::imageops::resize(&original, 120, 90, image::imageops::FilterType::Triangle);
    let mut corrupt = encode(&picture(9, 160, 120), image::ImageFormat::Png);
    corrupt.truncate(corrupt.len() / 2);
    let uploads: Vec<(&str, Vec<u8>, bool, &str)> = vec![
        ("valid.png", valid.clone(), true, "accepted"),
        (
            "copy.jpg",
            encode(&shrunk, image::ImageFormat::Jpeg),
            true,
            "rejected: a near-duplicate",
        ),
        (
            "small.png",
            encode(&picture(11, 32, 32), image::ImageFormat::Png),
            true,
            "rejected: 32x32 is smaller than the campaign's 64x64",
        ),
        (
            "corrupt.png",
            corrupt,
            true,
            "rejected: the image does not decode",
        ),
        (
            "private.png",
            encode(&picture(17, 160, 120), image::ImageFormat::Png),
            false,
            "rejected: cannot open the object: it is not sealed to this validator",
        ),
    ];
    let mut contributor = Contributor::sign_in(&url).await;
    // The contributor accepts the campaign's terms: every receipt signs them.
    contributor.licence = "CC-BY-4.0".into();
    contributor.terms = Some(TERMS.into());
    let mut objects = Vec::new();
    for (name, bytes, to_validator, _) in &uploads {
        std::fs::write(dir.join(name), bytes).unwrap();
        let (requester_hex, validator_hex) = (public_hex(&requester), public_hex(&validator));
        let mut args = vec![
            "object",
            "put",
            name,
            "-r",
            &requester_hex,
            "-i",
            "worker.key",
            "--relay",
            &url,
        ];
        if *to_validator {
            args.extend(["-r", &validator_hex]);
        }
        let object = ok(dir, &args).trim().to_owned();
        let outcome = contributor.submit_upload("street-photos", &object).await;
        assert_eq!(outcome["status"], "pending", "{outcome}");
        objects.push(object);
    }
    assert_eq!(contributor.balance().await, "0");

    let started = Instant::now();
    let out = ok(
        dir,
        &[
            "validate",
            "--relay",
            &url,
            "--key",
            "validator.key",
            "--data",
            "validator-data",
            "--until-idle",
        ],
    );
    // A figure for the record, not an assertion.
    eprintln!(
        "datahub validate judged {} uploads in {} ms:\n{out}",
        uploads.len(),
        started.elapsed().as_millis()
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), uploads.len(), "{out}");
    for ((line, object), (name, _, _, expected)) in lines.iter().zip(&objects).zip(&uploads) {
        assert!(
            line.contains(&format!(
                "campaign street-photos object {object}: {expected}"
            )),
            "{name}: {line}"
        );
    }
    // The accepted image's hash is kept for the next run.
    let hashes = std::fs::read_to_string(dir.join("validator-data/street-photos.dhash")).unwrap();
    assert_eq!(hashes.lines().count(), 1);
    assert_eq!(contributor.balance().await, "0.05");
    // Nothing left: a second run has nothing to do.
    assert_eq!(
        ok(
            dir,
            &[
                "validate",
                "--relay",
                &url,
                "--key",
                "validator.key",
                "--data",
                "validator-data",
                "--until-idle"
            ]
        ),
        ""
    );

    // The requester's export: the accepted upload, decrypted, with its verdict.
    let summary = ok(
        dir,
        &[
            "campaign",
            "results",
            "street-photos",
            "--format",
            "jsonl",
            "-o",
            "export",
            "-k",
            "requester.key",
            "--relay",
            &url,
        ],
    );
    assert!(
        summary.starts_with("1 record(s) and 1 object(s) of campaign street-photos"),
        "{summary}"
    );
    let text = std::fs::read_to_string(dir.join("export/results.jsonl")).unwrap();
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record["object"], objects[0].as_str());
    assert_eq!(record["file"], format!("objects/{}.png", objects[0]));
    assert_eq!(record["verdict"]["accept"], true);
    assert_eq!(record["verdict"]["checks"]["width"], 160);
    assert_eq!(record["contributors"].as_array().unwrap().len(), 1);
    // Consent in the row: the receipt as signed, with the licence and the terms' hash, and
    // where the picture came from.
    assert_eq!(record["capture"], "file");
    let receipt = &record["receipts"][0]["receipt"];
    assert_eq!(receipt["message"]["licence"], "CC-BY-4.0");
    assert_eq!(
        receipt["message"]["termsHash"],
        format!(
            "0x{}",
            hex::encode(SubmissionReceipt::terms_hash(Some(TERMS)))
        )
    );
    assert_eq!(
        receipt["signer"].as_str().unwrap().to_lowercase(),
        contributor
            .session_key
            .public_key()
            .address()
            .to_checksum()
            .to_lowercase()
    );
    assert_eq!(
        std::fs::read(dir.join(format!("export/objects/{}.png", objects[0]))).unwrap(),
        valid
    );
    let verified = ok(
        dir,
        &[
            "campaign",
            "verify",
            "export",
            "--requester",
            &requester.public_key().address().to_checksum(),
        ],
    );
    assert!(
        verified.starts_with("ok: 2 file(s) in export match manifest.json"),
        "{verified}"
    );

    // COCO: the image with its size; CSV: one row under the header.
    ok(
        dir,
        &[
            "campaign",
            "results",
            "street-photos",
            "--format",
            "coco",
            "-o",
            "coco",
            "-k",
            "requester.key",
            "--relay",
            &url,
        ],
    );
    let coco: Value =
        serde_json::from_slice(&std::fs::read(dir.join("coco/annotations.json")).unwrap()).unwrap();
    assert_eq!(coco["images"][0]["width"], 160);
    assert_eq!(coco["images"][0]["height"], 120);
    assert_eq!(
        coco["images"][0]["file_name"],
        format!("objects/{}.png", objects[0])
    );
    ok(
        dir,
        &[
            "campaign",
            "results",
            "street-photos",
            "--format",
            "csv",
            "-o",
            "csv",
            "-k",
            "requester.key",
            "--relay",
            &url,
        ],
    );
    let csv = std::fs::read_to_string(dir.join("csv/results.csv")).unwrap();
    assert_eq!(
        csv.split("\r\n").filter(|l| !l.is_empty()).count(),
        2,
        "{csv}"
    );

    // The dataset layouts: the upload's bytes inside the shard, the contributor by a pseudonym
    // only the requester's key links back, every file under the signed manifest, and the
    // loaders AI teams use reading them.
    let wallet = SecretKey::derive(&CONTRIBUTOR_WALLET)
        .public_key()
        .address()
        .to_checksum();
    let pseudonym = {
        // Keyed by the requester's signature of a fixed message (r ‖ s), as a wallet in the
        // console makes it (docs/cli.md).
        let seed = datahub_core::eth::personal::sign_message(
            &requester,
            b"DataHub: key the pseudonymous contributor ids of my dataset exports.\n\nThis signature is a secret. Sign this message only in the DataHub console or CLI.",
        );
        let mut key = blake3::Hasher::new();
        key.update(b"datahub contributor ids v2\0");
        key.update(seed.r());
        key.update(seed.s());
        key.update(b"street-photos");
        let id = blake3::keyed_hash(key.finalize().as_bytes(), wallet.to_lowercase().as_bytes());
        id.to_hex().get(..32).unwrap().to_owned()
    };
    let python = loaders_python();
    for (format, shard) in [
        ("hf", "data/train-00000.parquet"),
        ("webdataset", "data/train-000000.tar"),
    ] {
        let summary = ok(
            dir,
            &[
                "campaign",
                "results",
                "street-photos",
                "--format",
                format,
                "-o",
                format,
                "-k",
                "requester.key",
                "--relay",
                &url,
            ],
        );
        assert!(
            summary.starts_with(&format!(
                "1 record(s) of campaign street-photos in {format}: 1 shard(s) in data/, manifest.json signed by"
            )),
            "{summary}"
        );
        assert!(dir.join(format).join(shard).is_file());
        let verified = ok(dir, &["campaign", "verify", format]);
        let files = if format == "hf" { 3 } else { 1 };
        assert!(
            verified.starts_with(&format!(
                "ok: {files} file(s) in {format} match manifest.json"
            )),
            "{verified}"
        );
        let Some(python) = &python else { continue };
        let report = check_export(python, &dir.join(format), format);
        // Each row's receipt checked in Python (eth-keys, eth-hash): it recovers to the signer
        // it names, over the licence and terms the campaign states.
        let signer = contributor.session_key.public_key().address().to_checksum();
        assert_eq!(report["receipts"]["verified"], 1, "{}", report["receipts"]);
        assert_eq!(report["receipts"]["unverifiable"], 0);
        assert_eq!(report["receipts"]["signers"], json!([signer]));
        assert_eq!(report["receipts"]["licences"], json!(["CC-BY-4.0"]));
        if format == "hf" {
            let row = &report["rows"][0];
            assert_eq!(row["object"], objects[0].as_str());
            assert_eq!(row["media"], hex::encode(&valid));
            assert_eq!(row["media_type"], "png");
            assert_eq!(row["contributor_ids"], json!([pseudonym]));
            let verdict: Value = serde_json::from_str(row["verdict"].as_str().unwrap()).unwrap();
            assert_eq!(verdict["accept"], true);
            assert_eq!(report["datasets"]["rows"], 1);
            assert_eq!(report["croissant"]["records"], 1);
            assert_eq!(report["card"]["task_categories"], json!(["image-to-text"]));
            assert_eq!(report["card"]["license"], "cc-by-4.0");
            assert_eq!(row["capture"], "file");
        } else {
            let sample = &report["webdataset"][0];
            assert_eq!(sample["bytes"]["png"], valid.len());
            assert_eq!(sample["record"]["contributor_ids"], json!([pseudonym]));
        }
        // Nothing in the files names the contributor's address.
        for path in ["manifest.json", shard] {
            let bytes = std::fs::read(dir.join(format).join(path)).unwrap();
            let text = String::from_utf8_lossy(&bytes).to_lowercase();
            assert!(!text.contains(&wallet.to_lowercase()[2..]), "{path}");
        }
    }
    // A finished export is not written over.
    assert_eq!(
        common::fails(
            dir,
            &[
                "campaign",
                "results",
                "street-photos",
                "--format",
                "hf",
                "-o",
                "hf",
                "-k",
                "requester.key",
                "--relay",
                &url,
            ],
        ),
        "error: hf holds a finished export: export into a new folder\n"
    );

    // The contributor withdraws consent for future releases: the next export leaves the upload
    // out and its manifest says how many and why; what was exported before stays as it was.
    let http = reqwest::Client::new();
    let stranger = http
        .post(format!("{url}/v1/me/consent/withdraw"))
        .json(&json!({ "campaign": "street-photos" }))
        .send()
        .await
        .unwrap();
    assert_eq!(stranger.status(), 401);
    let typo = contributor
        .post(
            "/v1/me/consent/withdraw",
            &json!({ "campaign": "street-photoz" }),
        )
        .await;
    assert_eq!(typo["error"], "no_campaign", "{typo}");
    let odd = contributor
        .post(
            "/v1/me/consent/withdraw",
            &json!({ "campaigns": ["street-photos"] }),
        )
        .await;
    assert_eq!(odd["error"], "invalid_body", "{odd}");
    let withdrawn = contributor
        .post(
            "/v1/me/consent/withdraw",
            &json!({ "campaign": "street-photos" }),
        )
        .await;
    assert_eq!(withdrawn["campaign"], "street-photos", "{withdrawn}");
    assert_eq!(withdrawn["already"], false);
    let again = contributor
        .post(
            "/v1/me/consent/withdraw",
            &json!({ "campaign": "street-photos" }),
        )
        .await;
    assert_eq!(again["already"], true);
    assert_eq!(again["withdrawn_ms"], withdrawn["withdrawn_ms"]);
    for format in ["jsonl", "hf"] {
        let out = format!("{format}-after-withdrawal");
        let summary = ok(
            dir,
            &[
                "campaign",
                "results",
                "street-photos",
                "--format",
                format,
                "-o",
                &out,
                "-k",
                "requester.key",
                "--relay",
                &url,
            ],
        );
        assert!(summary.starts_with("0 record(s)"), "{summary}");
        let manifest: Value =
            serde_json::from_slice(&std::fs::read(dir.join(&out).join("manifest.json")).unwrap())
                .unwrap();
        assert_eq!(manifest["records"], 0);
        assert_eq!(manifest["withdrawn"]["records"], 1, "{manifest}");
        assert!(
            manifest["withdrawn"]["reason"]
                .as_str()
                .unwrap()
                .contains("withdrew consent")
        );
    }
    assert_eq!(
        std::fs::read_to_string(dir.join("export/results.jsonl")).unwrap(),
        text
    );

    // Recordings: a spoken-length tone passes, silence and a too-short one do not.
    let voice = json!({
        "id": "voices",
        "kind": "voice_recording",
        "title": "Read aloud",
        "instructions": "Read the sentence.",
        "items": (0..3).map(|i| json!({ "prompt": format!("sentence {i}") })).collect::<Vec<_>>(),
        "reward": "0.05",
        "token": "USDT",
        "budget": "1",
        "chains": [56],
        "encryption_key": public_hex(&requester),
        "upload": { "min_seconds": 1.0, "max_seconds": 10.0 },
        "validators": [public_hex(&validator)],
    });
    std::fs::write(dir.join("voice.json"), voice.to_string()).unwrap();
    grant(dir, &url, &requester, "1", "fund-voice");
    ok(
        dir,
        &[
            "campaign",
            "create",
            "voice.json",
            "-k",
            "requester.key",
            "--relay",
            &url,
        ],
    );
    let recordings = [
        ("tone.wav", wav(2.0, 0.3), "accepted"),
        (
            "silence.wav",
            wav(2.0, 0.0),
            "rejected: silent: every sample is zero",
        ),
        (
            "short.wav",
            wav(0.5, 0.3),
            "rejected: 0.50 s, shorter than the campaign's 1 s",
        ),
    ];
    // This campaign states no licence or terms: its receipts sign none.
    contributor.licence = String::new();
    contributor.terms = None;
    let mut voice_objects = Vec::new();
    for (name, bytes, _) in &recordings {
        std::fs::write(dir.join(name), bytes).unwrap();
        let (requester_hex, validator_hex) = (public_hex(&requester), public_hex(&validator));
        let object = ok(
            dir,
            &[
                "object",
                "put",
                name,
                "-r",
                &requester_hex,
                "-r",
                &validator_hex,
                "-i",
                "worker.key",
                "--relay",
                &url,
            ],
        )
        .trim()
        .to_owned();
        assert_eq!(
            contributor.submit_upload("voices", &object).await["status"],
            "pending"
        );
        voice_objects.push(object);
    }
    let out = ok(
        dir,
        &[
            "validate",
            "--relay",
            &url,
            "--key",
            "validator.key",
            "--data",
            "validator-data",
            "--until-idle",
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), recordings.len(), "{out}");
    for ((line, object), (name, _, expected)) in lines.iter().zip(&voice_objects).zip(&recordings) {
        assert!(
            line.contains(&format!("campaign voices object {object}: {expected}")),
            "{name}: {line}"
        );
    }
    ok(
        dir,
        &[
            "campaign",
            "results",
            "voices",
            "-o",
            "voice-export",
            "-k",
            "requester.key",
            "--relay",
            &url,
        ],
    );
    assert_eq!(
        std::fs::read(dir.join(format!("voice-export/objects/{}.wav", voice_objects[0]))).unwrap(),
        recordings[0].1
    );

    // A categorization campaign over pictures on the relay (paths, SVG): COCO downloads them
    // and gives each answer a whole-image box.
    let shapes = json!({
        "id": "shapes",
        "kind": "image_categorization",
        "title": "Shapes",
        "instructions": "Pick the shape.",
        "labels": ["circle", "square"],
        "items": [{ "image_url": "/demo/red-circle.svg" }, { "image_url": "/demo/blue-square.svg" }],
        "reward": "0.05",
        "token": "USDT",
        "budget": "1",
        "chains": [56],
        "encryption_key": public_hex(&requester),
    });
    std::fs::write(dir.join("shapes.json"), shapes.to_string()).unwrap();
    grant(dir, &url, &requester, "1", "fund-shapes");
    ok(
        dir,
        &[
            "campaign",
            "create",
            "shapes.json",
            "-k",
            "requester.key",
            "--relay",
            &url,
        ],
    );
    for _ in 0..2 {
        let task = contributor
            .post("/v1/campaigns/shapes/next", &json!({}))
            .await;
        let label = if task["item"]["image_url"] == "/demo/red-circle.svg" {
            "circle"
        } else {
            "square"
        };
        // (The lease is held: `submit` leases again and gets the same task.)
        let outcome = contributor
            .submit("shapes", &json!({ "labels": [label] }), None)
            .await;
        assert_eq!(outcome["status"], "accepted", "{outcome}");
    }
    ok(
        dir,
        &[
            "campaign",
            "results",
            "shapes",
            "--format",
            "coco",
            "-o",
            "shapes",
            "-k",
            "requester.key",
            "--relay",
            &url,
        ],
    );
    let coco: Value =
        serde_json::from_slice(&std::fs::read(dir.join("shapes/annotations.json")).unwrap())
            .unwrap();
    assert_eq!(
        coco["categories"],
        json!([
            { "id": 1, "name": "circle", "supercategory": "label" },
            { "id": 2, "name": "square", "supercategory": "label" },
        ])
    );
    let images = coco["images"].as_array().unwrap();
    assert_eq!(images.len(), 2);
    for (image, annotation) in images.iter().zip(coco["annotations"].as_array().unwrap()) {
        assert_eq!(
            (image["width"].as_u64(), image["height"].as_u64()),
            (Some(256), Some(256)),
            "{image}"
        );
        assert!(
            dir.join("shapes")
                .join(image["file_name"].as_str().unwrap())
                .is_file()
        );
        assert_eq!(annotation["image_id"], image["id"]);
        assert_eq!(annotation["bbox"], json!([0.0, 0.0, 256.0, 256.0]));
        let expected = if image["coco_url"] == "/demo/red-circle.svg" {
            1
        } else {
            2
        };
        assert_eq!(annotation["category_id"], expected);
        // As the relay's aggregation put it (one answer: its prior's confidence).
        let confidence = annotation["confidence"].as_f64().unwrap();
        assert!(confidence > 0.0 && confidence <= 1.0, "{annotation}");
        assert_eq!(annotation["contributors"].as_array().unwrap().len(), 1);
    }
    assert!(ok(dir, &["campaign", "verify", "shapes"]).starts_with("ok: 3 file(s)"));

    // Errors users read.
    let fails = |args: &[&str]| {
        let out = datahub(dir, args);
        assert!(!out.status.success(), "{args:?} succeeded");
        String::from_utf8(out.stderr).unwrap()
    };
    assert_eq!(
        fails(&["validate", "--relay", &url, "--key", "nobody.key"]),
        "note: `datahub validate` is deprecated; compute nodes (`datahub compute`) judge uploads for campaigns with a compute job\n\
         error: no key file at nobody.key: make one with `datahub keygen -o nobody.key` or pass --key FILE\n"
    );
    assert_eq!(
        fails(&[
            "campaign",
            "results",
            "voices",
            "-o",
            "export",
            "-k",
            "requester.key",
            "--relay",
            &url
        ]),
        "error: export is not empty: export into a new folder\n"
    );
    assert_eq!(
        fails(&[
            "campaign",
            "results",
            "voices",
            "--format",
            "coco",
            "-o",
            "v",
            "-k",
            "requester.key",
            "--relay",
            &url
        ]),
        "error: a voice_recording campaign has no images: export it with --format jsonl or --format csv\n"
    );
    assert_eq!(
        fails(&[
            "campaign",
            "results",
            "../info",
            "-o",
            "w",
            "-k",
            "requester.key",
            "--relay",
            &url
        ]),
        "error: \"../info\" is not a campaign id: 3 to 64 characters of a-z, 0-9 and -\n"
    );
    assert!(!dir.join("v").exists() && !dir.join("w").exists());
    assert_eq!(
        fails(&["campaign", "verify", "nowhere"]),
        "error: cannot read nowhere/manifest.json: is this an export folder?: No such file or directory (os error 2)\n"
    );

    // Someone else's key can neither read the results nor tamper unseen.
    keygen(dir, "other.key");
    let refused = datahub(
        dir,
        &[
            "campaign",
            "results",
            "street-photos",
            "-o",
            "nope",
            "-k",
            "other.key",
            "--relay",
            &url,
        ],
    );
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.starts_with("error: cannot read the results of \"street-photos\""),
        "{stderr}"
    );
    std::fs::write(
        dir.join(format!("export/objects/{}.png", objects[0])),
        b"swapped",
    )
    .unwrap();
    let tampered = datahub(dir, &["campaign", "verify", "export"]);
    assert!(!tampered.status.success());
    drop(dev);
}

/// Compute nodes for real: `datahub dev` with 3 compute nodes (`datahub compute` processes with
/// the ONNX models) and its grant loop. Nothing is sealed to a node: every upload is opened
/// through a grant (docs/relay.md §4d, "Opening uploads").
///
/// - A recording campaign of the test's with a compute job (the speech level rule, 2 agreeing
///   nodes), a loud recording and a silent one, granted by `datahub campaign grant --watch`
///   (stopped with SIGTERM, as Ctrl-C): the loud one accepted and paid, the silent one rejected.
/// - The demo voice campaign (Silero VAD, 2 agreeing nodes), granted by `dev` itself: speech
///   made by espeak-ng accepted, silence made by sox rejected.
/// - A picture campaign of the test's judged by magika (2 agreeing nodes): a PNG accepted, a
///   "PNG" that is a ZIP rejected.
///
/// Each job is decided by 2 agreeing nodes and none disagrees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compute_processes_judge_recordings_and_decide_them() {
    use datahub_compute::Model as _;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let dev = new_dev(dir, 3)
        .args(["--no-chain"])
        .compute(3)
        .ready_within(Duration::from_secs(120))
        .start()
        .unwrap();
    let url = dev.url.clone();
    let compute_lines = dev
        .printed
        .iter()
        .filter(|l| l.trim_start().starts_with("compute-"))
        .count();
    assert_eq!(compute_lines, 3, "{:?}", dev.printed);
    let requester = keygen(dir, "requester.key");
    let validator = keygen(dir, "validator.key");
    write_key(dir, "worker.key", &SecretKey::derive(&CONTRIBUTOR_WALLET));
    let model = hex::encode(datahub_compute::rules::SpeechLevel.hash());
    let definition = json!({
        "id": "numbers",
        "kind": "voice_recording",
        "title": "Numbers",
        "instructions": "Read the number aloud.",
        "items": (0..3).map(|i| json!({ "prompt": format!("say {i}") })).collect::<Vec<_>>(),
        "reward": "0.05",
        "token": "USDT",
        "budget": "1",
        "chains": [56],
        "encryption_key": public_hex(&requester),
        "validators": [public_hex(&validator)],
        "compute": {
            "kind": "vad", "model": model, "k": 2, "n": 3, "fee": "0.01",
            "accept": { "labels": ["speech"], "scores": [{ "name": "speech_ratio", "min": 0.3 }] },
        },
    });
    std::fs::write(dir.join("campaign.json"), definition.to_string()).unwrap();
    // Pictures judged by magika: a PNG passes, a "PNG" that is a ZIP does not.
    let magika = datahub_compute::pins::MAGIKA_MODEL.blake3;
    let shapes = json!({
        "id": "shapes",
        "kind": "image_upload",
        "title": "Shapes",
        "instructions": "Upload a picture.",
        "items": (0..3).map(|i| json!({ "prompt": format!("picture {i}") })).collect::<Vec<_>>(),
        "reward": "0.05",
        "token": "USDT",
        "budget": "1",
        "chains": [56],
        "encryption_key": public_hex(&requester),
        "validators": [public_hex(&validator)],
        "compute": {
            "kind": "filetype", "model": magika, "k": 2, "n": 3, "fee": "0.01",
            "accept": { "labels": ["png", "jpeg", "webp"] },
        },
    });
    std::fs::write(dir.join("shapes.json"), shapes.to_string()).unwrap();
    grant(dir, &url, &requester, "4", "fund-compute");
    let mut granters = Vec::new();
    for (campaign, file) in [("numbers", "campaign.json"), ("shapes", "shapes.json")] {
        ok(
            dir,
            &[
                "campaign",
                "create",
                file,
                "-k",
                "requester.key",
                "--relay",
                &url,
            ],
        );
        let granter = datahub_testnet::Process::spawn({
            let mut command = std::process::Command::new(common::BIN);
            command
                .args([
                    "campaign",
                    "grant",
                    campaign,
                    "-k",
                    "requester.key",
                    "--relay",
                    &url,
                    "--watch",
                    "--interval",
                    "0.2",
                ])
                .current_dir(dir)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            command
        })
        .unwrap();
        granters.push((campaign, granter));
    }

    // The demo voice campaign's uploads are sealed to the demo requester's key only.
    let demo: Value = reqwest::get(format!("{url}/v1/campaigns/demo-voice-recording"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let demo_key = demo["encryption_key"].as_str().unwrap().to_owned();
    assert_eq!(demo["compute"]["k"], 2, "{demo}");
    let speech = dir.join("speech.wav");
    let made = std::process::Command::new("espeak-ng")
        .arg("-w")
        .arg(&speech)
        .arg("Please call me back when you have a minute.")
        .status()
        .unwrap();
    assert!(made.success());
    let made = std::process::Command::new("sox")
        .args([
            "-n",
            "-r",
            "16000",
            "-b",
            "16",
            "-c",
            "1",
            "silence.wav",
            "trim",
            "0.0",
            "2.0",
        ])
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(made.success());

    std::fs::write(
        dir.join("picture.png"),
        encode(&picture(3, 96, 96), image::ImageFormat::Png),
    )
    .unwrap();
    let made = std::process::Command::new("python3")
        .args([
            "-c",
            "import zipfile\nwith zipfile.ZipFile('zip.png', 'w') as z:\n    z.writestr('notes.txt', 'not a picture ' * 200)",
        ])
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(made.success());

    let mut contributor = Contributor::sign_in(&url).await;
    let uploads = [
        ("numbers", "loud.wav", public_hex(&requester)),
        ("numbers", "silent.wav", public_hex(&requester)),
        ("demo-voice-recording", "speech.wav", demo_key.clone()),
        ("demo-voice-recording", "silence.wav", demo_key),
        ("shapes", "picture.png", public_hex(&requester)),
        ("shapes", "zip.png", public_hex(&requester)),
    ];
    std::fs::write(dir.join("loud.wav"), wav(2.0, 0.5)).unwrap();
    std::fs::write(dir.join("silent.wav"), wav(2.0, 0.0)).unwrap();
    for (campaign, name, recipient) in uploads {
        // Leased first: the demo campaign wants at least a second per task.
        let lease = contributor.lease(campaign).await;
        let answerable = tokio::time::Instant::now() + Duration::from_secs(1);
        // Sealed to the requester only: the nodes open it through grants.
        let object = ok(
            dir,
            &[
                "object",
                "put",
                name,
                "-r",
                &recipient,
                "-i",
                "worker.key",
                "--relay",
                &url,
            ],
        )
        .trim()
        .to_owned();
        tokio::time::sleep_until(answerable).await;
        let answer = json!({ "object": object, "capture": "file" });
        let outcome = contributor
            .answer(campaign, &lease, &answer, Some(&object))
            .await;
        assert_eq!(outcome["status"], "pending", "{campaign} {name}: {outcome}");
    }
    // Six jobs, each decided by two agreeing nodes.
    let started = Instant::now();
    let nodes = loop {
        let nodes: Value = reqwest::get(format!("{url}/v1/compute/nodes"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let agreed: i64 = nodes["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["agreed"].as_i64().unwrap())
            .sum();
        if agreed >= 12 {
            break nodes;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "6 jobs not decided within 60 s: {nodes}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    eprintln!(
        "6 compute jobs decided through grants in {} ms",
        started.elapsed().as_millis()
    );
    let nodes = nodes["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3, "{nodes:?}");
    let total = |field: &str| -> i64 { nodes.iter().map(|n| n[field].as_i64().unwrap()).sum() };
    assert_eq!((total("agreed"), total("disagreed")), (12, 0), "{nodes:?}");
    for node in nodes {
        assert_eq!(node["restricted"], false, "{node}");
    }
    // A grant that does not open: the node says so and gives the job back at once, another
    // node takes it, the requester's real grant lets that one decide it.
    let garbage = json!({
        "id": "garbage",
        "kind": "voice_recording",
        "title": "Numbers again",
        "instructions": "Read the number aloud.",
        "items": [{ "prompt": "say 7" }],
        "reward": "0.05",
        "token": "USDT",
        "budget": "1",
        "chains": [56],
        "encryption_key": public_hex(&requester),
        "validators": [public_hex(&validator)],
        "compute": {
            "kind": "vad", "model": model, "k": 1, "n": 2, "fee": "0.01",
            "accept": { "labels": ["speech"], "scores": [{ "name": "speech_ratio", "min": 0.3 }] },
        },
    });
    std::fs::write(dir.join("garbage.json"), garbage.to_string()).unwrap();
    ok(
        dir,
        &[
            "campaign",
            "create",
            "garbage.json",
            "-k",
            "requester.key",
            "--relay",
            &url,
        ],
    );
    let lease = contributor.lease("garbage").await;
    let answerable = tokio::time::Instant::now() + Duration::from_secs(1);
    let object = ok(
        dir,
        &[
            "object",
            "put",
            "loud.wav",
            "-r",
            &public_hex(&requester),
            "-i",
            "worker.key",
            "--relay",
            &url,
        ],
    )
    .trim()
    .to_owned();
    tokio::time::sleep_until(answerable).await;
    let answer = json!({ "object": object, "capture": "file" });
    let outcome = contributor
        .answer("garbage", &lease, &answer, Some(&object))
        .await;
    assert_eq!(outcome["status"], "pending", "{outcome}");
    let owner = Signer::new(&url, requester.clone()).await;
    let first = loop {
        let waiting = owner
            .send("GET", "/v1/campaigns/garbage/grants", None)
            .await;
        if let Some(lease) = waiting["waiting"].as_array().and_then(|w| w.first()) {
            break lease.clone();
        }
        assert!(started.elapsed() < Duration::from_secs(90), "{waiting}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let node_key = first["node_key"].as_str().unwrap();
    let posted = owner
        .send(
            "POST",
            &format!("/v1/compute/jobs/{}/grant", first["job"].as_str().unwrap()),
            Some(&json!({ "grant": format!("{node_key}{}", "07".repeat(48)) })),
        )
        .await;
    assert_eq!(posted["granted"], true, "{posted}");
    // The real grants, one round at a time, until the job is decided by another node.
    let decided = Instant::now();
    loop {
        ok(
            dir,
            &[
                "campaign",
                "grant",
                "garbage",
                "-k",
                "requester.key",
                "--relay",
                &url,
            ],
        );
        let nodes: Value = reqwest::get(format!("{url}/v1/compute/nodes"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let agreed: i64 = nodes["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["agreed"].as_i64().unwrap())
            .sum();
        if agreed == 13 {
            let fooled = nodes["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|n| n["address"] == first["node"])
                .unwrap();
            // The node given the bad grant sent nothing for it.
            assert_eq!(fooled["disagreed"], 0, "{nodes}");
            break;
        }
        assert!(
            decided.elapsed() < Duration::from_secs(30),
            "the job with a bad grant was not decided by another node: {nodes}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let logs: String = (0..3)
        .map(|i| std::fs::read_to_string(dir.join(format!("net/compute-{i}.log"))).unwrap())
        .collect();
    assert!(
        logs.contains(&format!(
            "the requester's grant does not open object {object}: gave the job back"
        )),
        "{logs}"
    );

    // The granters stop cleanly on SIGTERM (as on Ctrl-C), each having granted its campaign's
    // two jobs to two nodes each.
    for (campaign, mut granter) in granters {
        let status = granter.terminate(Duration::from_secs(10)).unwrap();
        assert!(status.is_some_and(|s| s.success()), "{status:?}");
        let mut printed = String::new();
        std::io::Read::read_to_string(granter.child_mut().stdout.as_mut().unwrap(), &mut printed)
            .unwrap();
        assert_eq!(
            printed
                .lines()
                .filter(|l| l.starts_with("granted job "))
                .count(),
            4,
            "{printed}"
        );
        let stopped = format!("stopped: 4 grants posted for campaign {campaign}");
        assert_eq!(printed.lines().last(), Some(stopped.as_str()), "{printed}");
    }
    // Once everything is decided, one round grants nothing; another key than the owner's is
    // refused by the relay.
    assert_eq!(
        ok(
            dir,
            &[
                "campaign",
                "grant",
                "numbers",
                "-k",
                "requester.key",
                "--relay",
                &url
            ]
        ),
        "campaign numbers: 0 granted, 0 waiting on nodes without a registered key, 0 skipped\n"
    );
    let refused = common::fails(
        dir,
        &[
            "campaign",
            "grant",
            "numbers",
            "-k",
            "validator.key",
            "--relay",
            &url,
        ],
    );
    assert!(
        refused.contains("only the campaign's requester may grant its compute jobs (not_owner)"),
        "{refused}"
    );
    // Loud (twice), espeak-ng speech and the PNG accepted and paid (0.05 + 0.05 + 0.20 + 0.05);
    // silent, sox silence and the ZIP rejected (decided, so not pending, and unpaid).
    assert_eq!(contributor.balance().await, "0.35");
    drop(dev);
}
