//! A requester's and a contributor's everyday through the real binary against `datahub dev`:
//! `key show`, a campaign created and followed (`campaign show --watch`), answered from the
//! terminal (`datahub answer`, driven through stdin), its progress, quality report and listing
//! (`list --all --mine`), `datahub funds`, `close` saying what came back, and the key hints.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{BIN, Dev, fails, get, new_dev, ok, ok_with, www};

/// `datahub dev` without a chain (campaigns pay on the relay's chain 56) and one node.
fn start_dev(dir: &Path) -> Dev {
    new_dev(dir, 1)
        .args(["--no-demo", "--no-chain"])
        .www(&www())
        .ready_within(Duration::from_secs(120))
        .start()
        .unwrap()
}

/// The binary copied out of the build (as `cargo install` would put it) and run from a folder
/// with no checkout around it: `dev` serves the host page and the demo pictures built into it,
/// and the demo campaigns that name them.
#[test]
fn an_installed_binary_serves_the_web_app_and_the_demo_pictures() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let installed = dir.join("datahub");
    std::fs::copy(BIN, &installed).unwrap();
    let dev = Dev::builder(&installed, dir, 1)
        .arg("--no-chain")
        .ready_within(Duration::from_secs(120))
        .start()
        .unwrap();
    let printed = &dev.printed;
    assert!(
        printed.iter().any(|l| l.starts_with("demo campaigns: 6 ")),
        "{printed:#?}"
    );
    let www = www();
    let (status, kind, body) = get(&format!("{}/", dev.url));
    assert_eq!(
        (status, kind.starts_with("text/html")),
        (200, true),
        "{kind}"
    );
    assert_eq!(body, std::fs::read(www.join("index.html")).unwrap());
    for picture in ["red-circle.svg", "cat-face.svg"] {
        let (status, kind, body) = get(&format!("{}/demo/{picture}", dev.url));
        assert_eq!((status, kind.as_str()), (200, "image/svg+xml"), "{picture}");
        assert_eq!(body, std::fs::read(www.join("demo").join(picture)).unwrap());
    }
    // The web app's client: built in when the checkout's pkg/ was built before this binary
    // (cargo rebuilds the binary when pkg/web changes, and the test command builds pkg/ first).
    // The page loads the mini-app's build (pkg/app, and its stylesheet), the console the
    // library's (pkg/web).
    let pkg = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pkg");
    for build in ["app", "web"] {
        let (status, kind, body) = get(&format!("{}/pkg/{build}/datahub_wasm_bg.wasm", dev.url));
        match std::fs::read(pkg.join(build).join("datahub_wasm_bg.wasm")) {
            Ok(wasm) => {
                assert_eq!((status, kind.as_str()), (200, "application/wasm"));
                assert!(
                    body == wasm,
                    "the served client is not the checkout's pkg/{build}"
                );
                let (status, _, script) = get(&format!("{}/pkg/{build}/datahub_wasm.js", dev.url));
                assert_eq!(status, 200);
                assert_eq!(
                    script,
                    std::fs::read(pkg.join(build).join("datahub_wasm.js")).unwrap()
                );
            }
            Err(_) => assert_eq!(status, 404, "no pkg/ was built, yet {kind} was served"),
        }
    }
    if let Ok(css) = std::fs::read(pkg.join("app/app.css")) {
        let (status, kind, body) = get(&format!("{}/pkg/app/app.css", dev.url));
        assert_eq!(
            (status, kind.starts_with("text/css")),
            (200, true),
            "{kind}"
        );
        assert_eq!(body, css);
    }
}

fn address(dir: &Path, key: &str) -> String {
    let text = std::fs::read_to_string(dir.join(key)).unwrap();
    datahub_relay::keyfile::parse(&text)
        .unwrap()
        .address()
        .to_checksum()
}

/// `key show` prints what `keygen` printed about the key, from the file alone; a key file with
/// `0x` reads the same; a missing one says what to do.
#[test]
fn key_show_prints_the_address_and_public_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let made = ok(dir, &["keygen", "-o", "me.key"]);
    let shown = ok(dir, &["key", "show", "me.key"]);
    let made: Vec<&str> = made.lines().collect();
    assert_eq!(shown, format!("{}\n{}\n", made[1], made[2]));
    assert!(shown.starts_with("address     0x"), "{shown}");
    let hex = std::fs::read_to_string(dir.join("me.key")).unwrap();
    let prefixed = dir.join("prefixed.key");
    std::fs::write(&prefixed, format!("0x{}", hex.trim())).unwrap();
    std::fs::set_permissions(
        &prefixed,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    assert_eq!(ok(dir, &["key", "show", "prefixed.key"]), shown);
    let json: serde_json::Value =
        serde_json::from_str(&ok(dir, &["key", "show", "me.key", "--json"])).unwrap();
    assert_eq!(json["address"], address(dir, "me.key"));
    assert_eq!(
        fails(dir, &["key", "show", "nobody.key"]),
        "error: no key file at nobody.key: check the path (`datahub keygen -o nobody.key` makes a new key)\n"
    );
    std::fs::write(dir.join("bad.key"), "hello\n").unwrap();
    assert_eq!(
        fails(dir, &["key", "show", "bad.key"]),
        "error: bad.key is not a key file (not a hex secret key): a key file holds 64 hex digits (with or without 0x), as `datahub keygen` writes\n"
    );
}

#[test]
fn a_campaign_followed_answered_in_the_terminal_and_closed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let dev = start_dev(dir);
    let relay = dev.url.as_str();
    ok(dir, &["keygen", "-o", "me.key"]);
    ok(dir, &["keygen", "-o", "worker.key"]);
    let me = address(dir, "me.key");
    let worker = address(dir, "worker.key");
    let operator = dir.join("net").join("operator.key").display().to_string();
    ok(
        dir,
        &[
            "treasury",
            "grant",
            "--key",
            &operator,
            "--requester",
            &me,
            "--chain",
            "56",
            "--token",
            "USDT",
            "--amount",
            "2",
            "--request-id",
            "g1",
            "--relay",
            relay,
        ],
    );
    std::fs::write(
        dir.join("shapes.json"),
        r#"{
  "id": "my-shapes",
  "kind": "image_categorization",
  "title": "Shapes",
  "instructions": "Pick the shape.",
  "labels": ["circle", "square"],
  "items": [{"image_url": "/demo/red-circle.svg"}, {"image_url": "/demo/blue-square.svg"}],
  "reward": "0.05",
  "token": "USDT",
  "budget": "2",
  "aggregation": "majority",
  "confidence": 0.5
}
"#,
    )
    .unwrap();
    let created = ok(
        dir,
        &[
            "campaign",
            "create",
            "shapes.json",
            "--key",
            "me.key",
            "--relay",
            relay,
        ],
    );
    assert!(
        created.contains(
            "  items        2: 0 decided, 0 pending, 2 open\n  answers      0 accepted, 0 rejected, 0 pending\n  reward       0.05 USDT per answer\n  budget       2 USDT: 0 spent, 0 reserved, 2 left\n"
        ),
        "{created}"
    );

    // A contributor who stops at once (the end of the input) gives the task back at once.
    ok(dir, &["keygen", "-o", "quitter.key"]);
    let stopped = ok_with(
        dir,
        &[
            "answer",
            "my-shapes",
            "--key",
            "quitter.key",
            "--relay",
            relay,
        ],
        Some(""),
    );
    assert!(
        stopped.ends_with("answer a number or a name\n> \nstopped (0 answered)\n"),
        "{stopped}"
    );
    let shown = ok(dir, &["campaign", "show", "my-shapes", "--relay", relay]);
    assert!(
        shown.contains("  budget       2 USDT: 0 spent, 0 reserved, 2 left\n"),
        "{shown}"
    );

    // Someone follows it while a contributor answers it in the terminal.
    let watch = Command::new(BIN)
        .args([
            "campaign",
            "show",
            "my-shapes",
            "--watch",
            "--interval",
            "0.2",
            "--relay",
            relay,
        ])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let answered = ok_with(
        dir,
        &[
            "answer",
            "my-shapes",
            "--key",
            "worker.key",
            "--relay",
            relay,
        ],
        // A wrong label first: the contributor is told and asked again.
        Some("7\n1\nsquare\n"),
    );
    let expected_start = format!(
        "answering my-shapes as {worker} (worker.key); type `skip` to pass a task, `quit` to stop\nShapes\nPick the shape.\n\ntask\n  image_url: {relay}/demo/"
    );
    assert!(answered.starts_with(&expected_start), "{answered}");
    assert!(
        answered.contains("  1. circle\n  2. square\nanswer a number or a name\n> 7 is not a choice: give 1 to 2; try again\n> accepted: credited 0.05 USDT, your balance 0.05 USDT\n"),
        "{answered}"
    );
    assert!(
        answered.ends_with("> accepted: credited 0.05 USDT, your balance 0.1 USDT\nno task left for you in my-shapes (2 answered)\n"),
        "{answered}"
    );
    let watched = watch.wait_with_output().unwrap();
    assert!(watched.status.success());
    let watched = String::from_utf8(watched.stdout).unwrap();
    assert!(
        watched.ends_with("active: 2 of 2 items decided, 0 pending; answers 2 accepted, 0 rejected; spent 0.1 USDT, 1.9 left\ncampaign my-shapes: every item is decided: `datahub campaign results my-shapes -o DIR` exports them\n"),
        "{watched}"
    );

    let shown = ok(dir, &["campaign", "show", "my-shapes", "--relay", relay]);
    assert!(
        shown.contains("  items        2: 2 decided, 0 pending, 0 open\n  answers      2 accepted, 0 rejected, 0 pending\n  reward       0.05 USDT per answer\n  budget       2 USDT: 0.1 spent, 0 reserved, 1.9 left\n"),
        "{shown}"
    );
    assert!(!shown.contains("tasks open"), "{shown}");

    let quality = ok(
        dir,
        &[
            "campaign",
            "quality",
            "my-shapes",
            "--key",
            "me.key",
            "--relay",
            relay,
        ],
    );
    let lines: Vec<&str> = quality.lines().collect();
    assert_eq!(
        lines[0],
        "campaign my-shapes  image_categorization  decided by majority"
    );
    assert_eq!(
        lines[1],
        "  items        2: 2 decided, 0 pending (0 golden items besides)"
    );
    assert!(lines[2].starts_with("  contributor "), "{quality}");
    // One row per contributor, by address: the worker, and the one who stopped at once.
    assert_eq!(lines.len(), 5, "{quality}");
    let row = |who: &str| -> Vec<&str> {
        let who = who.to_lowercase();
        let line = lines.iter().find(|l| l.contains(&who)).unwrap();
        line.split_whitespace().take(5).collect()
    };
    assert_eq!(
        row(&worker),
        [worker.to_lowercase().as_str(), "2", "2", "0", "0"],
        "{quality}"
    );
    let quitter = address(dir, "quitter.key");
    assert_eq!(
        row(&quitter),
        [quitter.to_lowercase().as_str(), "0", "0", "0", "0"],
        "{quality}"
    );
    let err = fails(
        dir,
        &[
            "campaign",
            "quality",
            "my-shapes",
            "--key",
            "worker.key",
            "--relay",
            relay,
        ],
    );
    assert_eq!(
        err,
        format!(
            "error: the relay refused campaign my-shapes: it is owned by {me}, and {worker} signed (the key in worker.key): pass the owner's key with --key FILE (not_owner)\n"
        )
    );
    let err = fails(
        dir,
        &[
            "campaign",
            "pause",
            "my-shapes",
            "--key",
            "nobody.key",
            "--relay",
            relay,
        ],
    );
    assert_eq!(
        err,
        "error: no key file at nobody.key: pass the key that created the campaign with --key FILE (a new key does not own it)\n"
    );

    // Paused campaigns leave the default list, not `--all`; `--mine` is the key's.
    ok(
        dir,
        &[
            "campaign",
            "pause",
            "my-shapes",
            "--key",
            "me.key",
            "--relay",
            relay,
        ],
    );
    assert_eq!(
        ok(dir, &["campaign", "list", "--relay", relay]),
        "no active campaigns\n"
    );
    let all = ok(dir, &["campaign", "list", "--all", "--relay", relay]);
    assert!(
        all.starts_with("my-shapes                        image_categorization  paused      2/2      decided  0.05 USDT  Shapes\n"),
        "{all}"
    );
    assert_eq!(
        ok(
            dir,
            &[
                "campaign", "list", "--all", "--mine", "--key", "me.key", "--relay", relay
            ]
        ),
        all
    );
    assert_eq!(
        ok(
            dir,
            &[
                "campaign",
                "list",
                "--all",
                "--mine",
                "--key",
                "worker.key",
                "--relay",
                relay
            ]
        ),
        format!("no campaigns of {worker}\n")
    );

    let funds = ok(dir, &["funds", "--key", "me.key", "--relay", relay]);
    assert!(
        funds.contains("\n        56  USDT                 0             1.9               0             0.1               0\n"),
        "{funds}"
    );
    let closed = ok(
        dir,
        &[
            "campaign",
            "close",
            "my-shapes",
            "--key",
            "me.key",
            "--relay",
            relay,
        ],
    );
    assert!(
        closed.ends_with("returned to your funds: 1.9 USDT on chain 56 (see `datahub funds`)\n"),
        "{closed}"
    );
    let funds = ok(
        dir,
        &["funds", "--key", "me.key", "--relay", relay, "--json"],
    );
    not_a_relay(dir, relay);
    let funds: serde_json::Value = serde_json::from_str(&funds).unwrap();
    assert_eq!(
        funds["funds"],
        serde_json::json!([{ "chain_id": 56, "token": "USDT", "available": "1.9",
            "in_campaigns": "0", "reserved": "0", "spent": "0.1", "returned": "1.9" }])
    );
}

/// A URL that is not the relay's is said to be so: a storage node's, or the relay's with a path.
fn not_a_relay(dir: &Path, relay: &str) {
    let nodes = std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    let nodes: serde_json::Value = reqwest::get(format!("{relay}/v1/nodes"))
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    nodes
                })
        })
        .join()
        .unwrap()
    });
    let node = nodes["nodes"][0]["endpoint"]
        .as_str()
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    for args in [
        vec!["campaign", "list", "--relay", node.as_str()],
        vec![
            "campaign",
            "create",
            "shapes.json",
            "--key",
            "me.key",
            "--relay",
            node.as_str(),
        ],
    ] {
        assert_eq!(
            fails(dir, &args),
            format!(
                "error: {node}/ is a storage node, not a relay: pass the relay's URL with --relay (`datahub dev` prints it as \"ready: URL\")\n"
            ),
            "{args:?}"
        );
    }
    let with_path = format!("{relay}/api");
    for (args, context) in [
        (
            vec![
                "campaign",
                "show",
                "my-shapes",
                "--relay",
                with_path.as_str(),
            ],
            "cannot show campaign my-shapes: ",
        ),
        (
            vec!["funds", "--key", "me.key", "--relay", with_path.as_str()],
            "",
        ),
    ] {
        assert_eq!(
            fails(dir, &args),
            format!(
                "error: {context}{relay}/api/ is not a relay's URL, but {relay} is: pass --relay {relay} (without the path)\n"
            ),
            "{args:?}"
        );
    }
}

/// An upload task answered in the terminal: a file that breaks the campaign's rules is refused
/// before anything is sealed; a good one is sealed to the requester and the validator, uploaded by
/// the contributor's key and submitted; the validator accepts it, the contributor is paid, and the
/// requester opens exactly the file.
#[test]
fn an_upload_task_answered_in_the_terminal_with_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let dev = start_dev(dir);
    let relay = dev.url.as_str();
    ok(dir, &["keygen", "-o", "me.key"]);
    ok(dir, &["keygen", "-o", "worker.key"]);
    let made = ok(dir, &["keygen", "-o", "validator.key"]);
    let validator = made
        .lines()
        .find_map(|l| l.strip_prefix("public key").map(str::trim))
        .unwrap()
        .to_owned();
    let me = address(dir, "me.key");
    let operator = dir.join("net").join("operator.key").display().to_string();
    ok(
        dir,
        &[
            "treasury",
            "grant",
            "--key",
            &operator,
            "--requester",
            &me,
            "--chain",
            "56",
            "--token",
            "USDT",
            "--amount",
            "1",
            "--request-id",
            "g1",
            "--relay",
            relay,
        ],
    );
    let spec = serde_json::json!({
        "id": "photos", "kind": "image_upload", "title": "Photos", "instructions": "A photo.",
        "items": [{"prompt": "Anything"}], "reward": "0.3", "token": "USDT", "budget": "1",
        "upload": {"types": ["image/png"], "min_width": 64, "min_height": 64},
        "validators": [validator],
        "licence": "CC-BY-4.0", "terms": "My photos may be released under CC-BY-4.0.",
    });
    std::fs::write(dir.join("photos.json"), spec.to_string()).unwrap();
    ok(
        dir,
        &[
            "campaign",
            "create",
            "photos.json",
            "--key",
            "me.key",
            "--relay",
            relay,
        ],
    );
    let picture = |side: u32, name: &str| {
        let image = image::RgbImage::from_fn(side, side, |x, y| {
            image::Rgb([(x * 3) as u8, (y * 5) as u8, ((x ^ y) * 7) as u8])
        });
        image.save(dir.join(name)).unwrap();
    };
    picture(32, "small.png");
    picture(96, "photo.png");

    // The campaign's terms come first: anything but `accept` stops before any task.
    let declined = ok_with(
        dir,
        &["answer", "photos", "--key", "worker.key", "--relay", relay],
        Some("no\n"),
    );
    assert!(
        declined.contains("the campaign's terms (licence: CC-BY-4.0; terms hash 0x"),
        "{declined}"
    );
    assert!(
        declined.ends_with(
            "anything else to stop\n> stopped: the terms were not accepted (nothing answered)\n"
        ),
        "{declined}"
    );

    let spool = dir.join("spool").display().to_string();
    let answered = ok_with(
        dir,
        &[
            "answer",
            "photos",
            "--key",
            "worker.key",
            "--relay",
            relay,
            "--spool",
            &spool,
        ],
        Some("accept\nsmall.png\nphoto.png\n"),
    );
    assert!(
        answered.contains("  prompt: Anything\nanswer with the path of an image (image/png), at least 64x64 pixels, at most 20971520 bytes\n> small.png does not meet the campaign's rules: "),
        "{answered}"
    );
    let object = answered
        .split("uploaded photo.png as object ")
        .nth(1)
        .and_then(|rest| rest.get(..64))
        .unwrap_or_else(|| panic!("no upload in {answered}"))
        .to_owned();
    assert!(
        answered.ends_with("pending: credited 0 USDT, your balance 0 USDT\nno task left for you in photos (1 answered)\n"),
        "{answered}"
    );

    // The validator opens it (it was sealed to its key too) and accepts it: the uploader is paid.
    ok(
        dir,
        &[
            "validate",
            "--key",
            "validator.key",
            "--relay",
            relay,
            "--until-idle",
            "--data",
            "validator",
        ],
    );
    let shown = ok(dir, &["campaign", "show", "photos", "--relay", relay]);
    assert!(
        shown.contains("  answers      1 accepted, 0 rejected, 0 pending\n"),
        "{shown}"
    );
    ok(
        dir,
        &[
            "object",
            "get",
            &object,
            "-k",
            "me.key",
            "-o",
            "opened.png",
            "--relay",
            relay,
        ],
    );
    assert_eq!(
        std::fs::read(dir.join("opened.png")).unwrap(),
        std::fs::read(dir.join("photo.png")).unwrap()
    );
}
