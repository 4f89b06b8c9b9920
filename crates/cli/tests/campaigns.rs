//! Campaigns through the real binary: the demo campaigns `datahub dev` seeds (one per task type,
//! their pictures served by the relay, the same six after a restart) and `datahub campaign`
//! create / show / list / pause / resume / close against a running network, with its errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::path::Path;

use serde_json::Value;

use common::{Dev, fails, get, new_dev, ok, www};

fn get_json(url: &str) -> Value {
    let (status, _, body) = get(url);
    assert_eq!(status, 200, "{url}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

fn as_strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// The shipped demo definitions, by campaign id.
fn demo_definitions() -> Vec<Value> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo");
    let mut out: Vec<Value> = std::fs::read_dir(folder)
        .unwrap()
        .map(|e| serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap())
        .collect();
    out.sort_by_key(|d| d["id"].as_str().unwrap().to_owned());
    out
}

/// The active campaigns' summaries, by id.
fn campaigns(dev: &Dev) -> Vec<Value> {
    let mut list = get_json(&format!("{}/v1/campaigns", dev.url))["campaigns"]
        .as_array()
        .unwrap()
        .clone();
    list.sort_by_key(|c| c["id"].as_str().unwrap().to_owned());
    list
}

/// A fresh `dev` lists one demo campaign of each type, built from the shipped definitions,
/// with every picture they name served by the relay; started again on the same folder it has
/// the same six, and says so without a warning.
#[test]
fn dev_seeds_one_demo_campaign_per_task_type_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let key_file = dir.join("net").join("requester.key");
    let expected_line = format!("demo campaigns: 6 (requester key {})", key_file.display());

    let dev = new_dev(dir, 1).www(&www()).start().unwrap();
    assert!(dev.printed.contains(&expected_line), "{:#?}", dev.printed);
    let definitions = demo_definitions();
    let list = campaigns(&dev);
    assert_eq!(list.len(), 6, "{list:#?}");
    let mut kinds: Vec<&str> = list.iter().map(|c| c["kind"].as_str().unwrap()).collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        [
            "content_moderation",
            "content_verification",
            "image_categorization",
            "image_upload",
            "text_labeling",
            "voice_recording"
        ]
    );
    let requester = std::fs::read_to_string(&key_file).unwrap();
    let requester = datahub_relay::keyfile::parse(&requester).unwrap();
    let public = hex::encode(requester.public_key().to_compressed());
    let mut pictures = 0;
    for (campaign, definition) in list.iter().zip(&definitions) {
        let id = campaign["id"].as_str().unwrap();
        assert_eq!(campaign["id"], definition["id"]);
        assert!(id.starts_with("demo-"), "{id}");
        assert_eq!(campaign["kind"], definition["kind"]);
        assert_eq!(
            campaign["items"],
            definition["items"].as_array().unwrap().len()
        );
        assert_eq!(campaign["encryption_key"], public.as_str(), "{id}");
        // The one chain `dev` pays on: its anvil.
        assert_eq!(campaign["chains"], serde_json::json!([31337]), "{id}");
        assert_eq!(campaign["lease_seconds"], 600, "{id}");
        assert_eq!(campaign["overlap"], 1, "{id}");
        assert_eq!(
            campaign["owner"].as_str().unwrap(),
            requester.address().to_checksum().to_lowercase()
        );
        let is_upload = matches!(
            campaign["kind"].as_str(),
            Some("image_upload" | "voice_recording")
        );
        assert_eq!(!campaign["upload"].is_null(), is_upload, "{id}");
        let golden = definition["golden"].as_array().into_iter().flatten();
        let items = definition["items"]
            .as_array()
            .unwrap()
            .iter()
            .chain(golden.map(|g| &g["item"]));
        for url in items.filter_map(|i| i["image_url"].as_str()) {
            assert!(url.starts_with("/demo/"), "{url}");
            let (status, kind, body) = get(&format!("{}{url}", dev.url));
            assert_eq!((status, kind.as_str()), (200, "image/svg+xml"), "{url}");
            assert!(body.starts_with(b"<svg"), "{url}");
            assert!(body.len() < 1024, "{url} is {} bytes", body.len());
            pictures += 1;
        }
    }
    assert!(pictures >= 15, "{pictures} pictures");
    let stderr = dev.stop().unwrap().stderr;
    assert!(!stderr.contains("demo campaign"), "{stderr}");
    let key_text = std::fs::read_to_string(&key_file).unwrap();

    // Again on the same folder: the same key, the same six, no warning.
    let dev = new_dev(dir, 1).www(&www()).start().unwrap();
    assert!(dev.printed.contains(&expected_line), "{:#?}", dev.printed);
    let again = campaigns(&dev);
    assert_eq!(again.len(), 6);
    for (before, after) in list.iter().zip(&again) {
        assert_eq!(before["id"], after["id"]);
        assert_eq!(before["budget_left"], after["budget_left"]);
    }
    let stderr = dev.stop().unwrap().stderr;
    assert!(!stderr.contains("demo campaign"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), key_text);
}

/// A relay that cannot take the demo campaigns (it pays no USDT anywhere) gets warnings, one per
/// campaign, and the network still starts and serves.
#[test]
fn demo_campaigns_refused_are_warnings_not_failures() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let config = dir.join("oort-only.toml");
    std::fs::write(
        &config,
        r#"[[chains]]
id = 56
name = "BNB Smart Chain"
claim_contract = "0x00000000000000000000000000000000da7a0056"
tokens = { OORT = { address = "0x00000000000000000000000000000000000a0056", decimals = 18 } }
"#,
    )
    .unwrap();
    let dev = new_dev(dir, 1)
        .www(&www())
        .env("DATAHUB_CONFIG", &config)
        .start()
        .unwrap();
    let key_file = dir.join("net").join("requester.key");
    let expected = format!(
        "demo campaigns: 0 of 6 (requester key {})",
        key_file.display()
    );
    assert!(dev.printed.contains(&expected), "{:#?}", dev.printed);
    assert_eq!(campaigns(&dev).len(), 0);
    let info = get_json(&format!("{}/v1/info", dev.url));
    assert_eq!(info["chains"][0]["id"], 56);
    let stderr = dev.stop().unwrap().stderr;
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("warning: demo campaign not created: "))
        .collect();
    assert_eq!(warnings.len(), 6, "{stderr}");
    assert!(
        warnings[0].ends_with(
            "image-categorization.json: this relay pays \"USDT\" on no chain; it pays OORT: set \"token\" to one of them"
        ),
        "{stderr}"
    );
}

/// `datahub campaign` against a network started with `--no-demo`: a TOML definition created,
/// the same file again answered by the existing campaign, shown, paused (gone from the list),
/// resumed, closed; and the errors users read.
#[test]
fn campaign_commands_against_a_dev_network() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let dev = new_dev(dir, 1)
        .www(&www())
        .arg("--no-demo")
        .start()
        .unwrap();
    assert!(
        !dev.printed.iter().any(|l| l.starts_with("demo campaigns")),
        "{:#?}",
        dev.printed
    );
    assert_eq!(campaigns(&dev).len(), 0);
    let relay = ["--relay", dev.url.as_str()];
    ok(dir, &["keygen", "-o", "me.key"]);
    let me = ["--key", "me.key"];
    let file = dir.join("shapes.toml");
    std::fs::write(
        &file,
        r#"id = "my-shapes"
kind = "image_categorization"
title = "Shapes"
instructions = "Pick the shape."
labels = ["circle", "square"]
reward = "0.05"
token = "USDT"
budget = "2"
lease_seconds = 600

[[items]]
image_url = "/demo/red-circle.svg"

[[items]]
image_url = "/demo/blue-square.svg"
"#,
    )
    .unwrap();
    let with = |args: &[&str]| -> Vec<String> {
        args.iter().chain(&relay).map(|s| (*s).to_owned()).collect()
    };
    let run_ok = |args: &[&str]| {
        let args = with(args);
        ok(dir, &args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let run_fails = |args: &[&str]| {
        let args = with(args);
        fails(dir, &args.iter().map(String::as_str).collect::<Vec<_>>())
    };

    // No funds yet: refused, nothing made. The operator's grant (signed with the operator
    // key `dev` made) funds it; another key's grant is refused.
    let err = run_fails(&["campaign", "create", "shapes.toml", me[0], me[1]]);
    assert_eq!(
        err,
        "error: the relay refused campaign my-shapes: budget 2 USDT on chain 31337 exceeds your funds (0) by 2: deposit to the escrow or ask the operator for a grant (insufficient_funds)\n"
    );
    assert_eq!(campaigns(&dev).len(), 0);
    let funds = run_ok(&["treasury", "funds", me[0], me[1]]);
    assert!(funds.ends_with(" has no funds on this relay: deposit to a chain's escrow or ask the operator for a grant\n"), "{funds}");
    let me_address =
        datahub_relay::keyfile::parse(&std::fs::read_to_string(dir.join("me.key")).unwrap())
            .unwrap()
            .address()
            .to_checksum();
    let grant = |key: &str, id: &str| {
        with(&[
            "treasury",
            "grant",
            "--key",
            key,
            "--requester",
            &me_address,
            "--chain",
            "31337",
            "--token",
            "USDT",
            "--amount",
            "2",
            "--request-id",
            id,
        ])
    };
    let err = fails(dir, &as_strs(&grant("me.key", "g1")));
    assert!(
        err.starts_with("error: the relay refused the grant g1: 0x")
            && err.ends_with("(not_operator)\n"),
        "{err}"
    );
    let operator_key = dir.join("net").join("operator.key").display().to_string();
    let granted = ok(dir, &as_strs(&grant(&operator_key, "g1")));
    assert_eq!(
        granted,
        format!(
            "granted: 2 USDT on chain 31337 to {me_address} (grant:g1)\ntheir funds there now: 2 USDT\n"
        )
    );
    let again = ok(dir, &as_strs(&grant(&operator_key, "g1")));
    assert!(
        again.starts_with("already granted (nothing changed): 2 USDT"),
        "{again}"
    );
    let funds = run_ok(&["treasury", "funds", me[0], me[1]]);
    assert!(
        funds.contains("\n     31337  USDT                           2\n"),
        "{funds}"
    );

    let created = run_ok(&["campaign", "create", "shapes.toml", me[0], me[1]]);
    assert!(
        created
            .starts_with("created campaign my-shapes\n  my-shapes  image_categorization  active\n"),
        "{created}"
    );
    assert!(
        created.contains("  items        2: 0 decided, 0 pending, 2 open\n"),
        "{created}"
    );
    assert!(created.contains("  chains       31337\n"), "{created}");
    let again = run_ok(&["campaign", "create", "shapes.toml", me[0], me[1]]);
    assert!(
        again.starts_with(
            "campaign my-shapes already exists with this definition: nothing changed\n"
        ),
        "{again}"
    );
    let shown = run_ok(&["campaign", "show", "my-shapes", "--json"]);
    let shown: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["status"], "active");
    assert_eq!(shown["labels"], serde_json::json!(["circle", "square"]));
    let listed = run_ok(&["campaign", "list"]);
    assert!(listed.starts_with("my-shapes "), "{listed}");

    let paused = run_ok(&["campaign", "pause", "my-shapes", me[0], me[1]]);
    assert!(
        paused
            .starts_with("campaign my-shapes paused\n  my-shapes  image_categorization  paused\n"),
        "{paused}"
    );
    assert_eq!(run_ok(&["campaign", "list"]), "no active campaigns\n");
    let resumed = run_ok(&["campaign", "resume", "my-shapes", me[0], me[1]]);
    assert!(
        resumed.starts_with("campaign my-shapes resumed\n"),
        "{resumed}"
    );
    assert_eq!(
        get_json(&format!("{}/v1/campaigns/my-shapes", dev.url))["status"],
        "active"
    );

    // Someone else's key may not change it.
    ok(dir, &["keygen", "-o", "other.key"]);
    let err = run_fails(&["campaign", "pause", "my-shapes", "--key", "other.key"]);
    let other_address =
        datahub_relay::keyfile::parse(&std::fs::read_to_string(dir.join("other.key")).unwrap())
            .unwrap()
            .address()
            .to_checksum();
    assert_eq!(
        err,
        format!(
            "error: the relay refused campaign my-shapes: it is owned by {me_address}, and {other_address} signed (the key in other.key): pass the owner's key with --key FILE (not_owner)\n"
        )
    );
    let closed = run_ok(&["campaign", "close", "my-shapes", me[0], me[1]]);
    assert!(
        closed.contains("  my-shapes  image_categorization  closed\n"),
        "{closed}"
    );
    assert!(
        closed.contains("  budget       2 USDT: 0 spent, 0 reserved, 0 left\n"),
        "{closed}"
    );
    assert!(
        closed.ends_with("returned to your funds: 2 USDT on chain 31337 (see `datahub funds`)\n"),
        "{closed}"
    );
    // The unspent budget is back in the requester's funds.
    let funds = run_ok(&["treasury", "funds", me[0], me[1], "--json"]);
    let funds: Value = serde_json::from_str(&funds).unwrap();
    assert_eq!(
        funds["funds"],
        serde_json::json!([{ "chain_id": 31337, "token": "USDT", "amount": "2" }])
    );
    let err = run_fails(&["campaign", "resume", "my-shapes", me[0], me[1]]);
    assert_eq!(
        err,
        "error: the relay refused campaign my-shapes: the campaign is closed (closed)\n"
    );

    // Bad files, refused definitions, bad ids, a missing key.
    std::fs::write(
        dir.join("broken.json"),
        "{\n  \"id\": \"x\",\n  \"kind\"\n}\n",
    )
    .unwrap();
    let err = run_fails(&["campaign", "create", "broken.json", me[0], me[1]]);
    assert_eq!(
        err,
        "error: broken.json is not valid JSON: expected `:` at line 4 column 1\n"
    );
    let unknown = std::fs::read_to_string(&file)
        .unwrap()
        .replace("budget = \"2\"", "budget = \"2\"\ncolour = \"red\"");
    std::fs::write(dir.join("unknown.toml"), unknown).unwrap();
    let err = run_fails(&["campaign", "create", "unknown.toml", me[0], me[1]]);
    assert!(
        err.starts_with("error: unknown.toml is not a campaign definition: unknown field `colour`"),
        "{err}"
    );
    let err = run_fails(&["campaign", "create", "nothing.json", me[0], me[1]]);
    assert_eq!(err, "error: no campaign definition at nothing.json\n");
    let refused = std::fs::read_to_string(&file)
        .unwrap()
        .replace("my-shapes", "other-shapes")
        .replace("/demo/red-circle.svg", "../red-circle.svg");
    std::fs::write(dir.join("refused.toml"), refused).unwrap();
    let err = run_fails(&["campaign", "create", "refused.toml", me[0], me[1]]);
    assert!(
        err.starts_with("error: the relay refused campaign other-shapes: items[0]: image_url must be an https URL or a path on the relay")
            && err.ends_with("(invalid_campaign)\n"),
        "{err}"
    );
    let err = run_fails(&["campaign", "show", "../info"]);
    assert_eq!(
        err,
        "error: \"../info\" is not a campaign id: 3 to 64 characters of a-z, 0-9 and -\n"
    );
    let err = run_fails(&["campaign", "show", "no-such-campaign"]);
    assert_eq!(
        err,
        "error: cannot show campaign no-such-campaign: no campaign \"no-such-campaign\"\n"
    );
    let err = run_fails(&["campaign", "close", "my-shapes", "--key", "nobody.key"]);
    assert_eq!(
        err,
        "error: no key file at nobody.key: pass the key that created the campaign with --key FILE (a new key does not own it)\n"
    );
    dev.stop().unwrap();

    // The relay gone.
    let err = fails(
        dir,
        &[
            "campaign",
            "create",
            "shapes.toml",
            "--key",
            "me.key",
            "--relay",
            "http://127.0.0.1:9",
        ],
    );
    assert!(
        err.starts_with("error: cannot reach the relay at http://127.0.0.1:9/: is it running (`datahub dev`)? pass another with --relay"),
        "{err}"
    );
}
