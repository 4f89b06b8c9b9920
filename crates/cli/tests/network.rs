//! The `datahub` binary for real: `datahub dev` with six node processes on loopback, keys,
//! objects of varied sizes put and got back byte-exact, nodes killed, SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{BIN, Dev, DevNode, alive, fails, get_text, kill_pid, new_dev, ok};
use datahub_testnet::{NodeArgs, start_node, wait_for_nodes};

/// A stand-in web app and npm package in `dir`, for `--www`: its folder.
fn fake_web(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir.join("www")).unwrap();
    std::fs::write(
        dir.join("www/index.html"),
        "<!doctype html><title>dh</title>",
    )
    .unwrap();
    for build in ["app", "web"] {
        std::fs::create_dir_all(dir.join("pkg").join(build)).unwrap();
        std::fs::write(
            dir.join("pkg").join(build).join("datahub_wasm.js"),
            "export {}",
        )
        .unwrap();
        std::fs::write(
            dir.join("pkg").join(build).join("datahub_wasm_bg.wasm"),
            b"\0asm\x01\0\0\0",
        )
        .unwrap();
    }
    dir.join("www")
}

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
fn random_file(path: &Path, len: usize, seed: u64) {
    let mut x = seed | 1;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    bytes.truncate(len);
    std::fs::write(path, bytes).unwrap();
}

fn public_key(keygen_output: &str) -> String {
    keygen_output
        .lines()
        .find_map(|l| l.strip_prefix("public key  "))
        .unwrap()
        .to_owned()
}

fn same_file(a: &Path, b: &Path) -> bool {
    std::fs::read(a).unwrap() == std::fs::read(b).unwrap()
}

#[test]
fn objects_survive_two_dead_nodes_and_dev_stops_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let dev = new_dev(dir, 6).start().unwrap();
    let relay = dev.url.clone();
    let r = ["--relay", relay.as_str()];

    // The summary names six distinct regions.
    let mut regions: Vec<&str> = dev.nodes.iter().map(|n| n.region.as_str()).collect();
    regions.sort();
    regions.dedup();
    assert_eq!(regions.len(), 6);

    // keygen: exactly what users read.
    let out = ok(dir, &["keygen", "-o", "owner.key"]);
    let key =
        datahub_relay::keyfile::parse(&std::fs::read_to_string(dir.join("owner.key")).unwrap())
            .unwrap();
    let public = hex::encode(key.public_key().to_compressed());
    assert_eq!(
        out,
        format!(
            "wrote owner.key (keep it secret: it opens every object sealed to it)\n\
             address     {}\n\
             public key  {public}\n\
             others seal objects to you with: datahub object put FILE --recipient {public}\n",
            key.address().to_checksum()
        )
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.join("owner.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert_eq!(
        fails(dir, &["keygen", "-o", "owner.key"]),
        "error: owner.key already exists: pass --force to replace it (objects sealed to the old key will no longer open with the new one)\n"
    );
    let other = ok(dir, &["keygen", "-o", "other.key"]);
    let replaced = ok(dir, &["keygen", "-o", "other.key", "--force"]);
    assert_ne!(public_key(&other), public_key(&replaced));
    ok(dir, &["keygen", "-o", "uploader.key"]);

    // Objects of varied sizes: none, one byte, a segment and a byte, several segments.
    let sizes = [0, 1, 4 * 1024 * 1024 + 1, 20 * 1024 * 1024 + 12_345];
    let mut objects = Vec::new();
    for (i, size) in sizes.into_iter().enumerate() {
        let file = dir.join(format!("file-{i}"));
        random_file(&file, size, i as u64 + 1);
        let id = ok(
            dir,
            &[
                "object",
                "put",
                file.to_str().unwrap(),
                "--recipient",
                &public,
                "--identity",
                "uploader.key",
                r[0],
                r[1],
            ],
        );
        let id = id.trim().to_owned();
        assert_eq!(id.len(), 64, "{id}");
        let out = dir.join(format!("out-{i}"));
        ok(
            dir,
            &[
                "object",
                "get",
                &id,
                "-i",
                "owner.key",
                "-o",
                out.to_str().unwrap(),
                r[0],
                r[1],
            ],
        );
        assert!(same_file(&file, &out), "object {i} ({size} bytes) differs");
        assert!(!dir.join(format!("out-{i}.partial")).exists());
        objects.push((file, id));
    }
    // A hundred more of varied sizes (chunk boundaries among them), four uploads at a time.
    let small: Vec<usize> = (0..100)
        .map(|i| match i % 10 {
            0 => 65_536 * (i / 10 + 1),
            1 => 65_536 * (i / 10 + 1) - 1,
            2 => 65_536 * (i / 10 + 1) + 1,
            _ => (i * 7_919 * 131) % 900_000,
        })
        .collect();
    let batch: Vec<(std::path::PathBuf, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = small
            .chunks(25)
            .enumerate()
            .map(|(c, sizes)| {
                let public = public.clone();
                let relay = relay.clone();
                scope.spawn(move || {
                    sizes
                        .iter()
                        .enumerate()
                        .map(|(j, size)| {
                            let file = dir.join(format!("small-{c}-{j}"));
                            random_file(&file, *size, (c * 100 + j) as u64 + 1000);
                            let args = [
                                "object",
                                "put",
                                file.to_str().unwrap(),
                                "-r",
                                &public,
                                "-i",
                                "uploader.key",
                                "--relay",
                                &relay,
                            ];
                            let id = ok(dir, &args).trim().to_owned();
                            (file, id)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert_eq!(batch.len(), 100);
    objects.extend(batch);
    // Several recipients: each opens the object.
    let uploader =
        datahub_relay::keyfile::parse(&std::fs::read_to_string(dir.join("uploader.key")).unwrap())
            .unwrap();
    let uploader_public = hex::encode(uploader.public_key().to_compressed());
    let shared = ok(
        dir,
        &[
            "object",
            "put",
            "file-2",
            "-r",
            &public,
            &uploader_public,
            "-i",
            "uploader.key",
            r[0],
            r[1],
        ],
    );
    for key in ["owner.key", "uploader.key"] {
        ok(
            dir,
            &[
                "object",
                "get",
                shared.trim(),
                "-i",
                key,
                "-o",
                "shared",
                "--force",
                r[0],
                r[1],
            ],
        );
        assert!(same_file(&dir.join("file-2"), &dir.join("shared")), "{key}");
    }
    // Without --force an existing file is left alone, and nothing is fetched.
    let args = [
        "object",
        "get",
        shared.trim(),
        "-i",
        "owner.key",
        "-o",
        "shared",
        r[0],
        r[1],
    ];
    assert_eq!(
        fails(dir, &args),
        "error: shared already exists: pass --force to replace it, or another -o\n"
    );

    // The spool is emptied once an upload completes.
    let kept: Vec<_> = std::fs::read_dir(dir.join("spool")).unwrap().collect();
    assert!(kept.is_empty(), "{kept:?}");

    // Status, as text and as JSON.
    let (_, big) = &objects[3];
    let status = ok(dir, &["object", "status", big, r[0], r[1]]);
    assert!(status.starts_with(&format!("object {big}\n")), "{status}");
    assert!(status.contains("complete"), "{status}");
    assert_eq!(
        status
            .matches("6/6 healthy on 6 node(s), survives 2 node loss(es), needs 4 (ok)")
            .count(),
        6,
        "{status}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(dir, &["object", "status", big, "--json", r[0], r[1]])).unwrap();
    assert_eq!(json["complete"], true);
    assert_eq!(json["segments"].as_array().unwrap().len(), 6);

    // Errors users read.
    let (_, small) = &objects[2];
    assert_eq!(
        fails(
            dir,
            &[
                "object",
                "get",
                small,
                "-i",
                "other.key",
                "-o",
                "x",
                r[0],
                r[1]
            ]
        ),
        "error: decryption failed: other.key is not the key of one of the object's recipients (or the object was altered)\n"
    );
    assert!(!dir.join("x").exists() && !dir.join("x.partial").exists());
    let unknown = "ab".repeat(32);
    assert_eq!(
        fails(
            dir,
            &[
                "object",
                "get",
                &unknown,
                "-i",
                "owner.key",
                "-o",
                "x",
                r[0],
                r[1]
            ]
        ),
        format!("error: cannot fetch object {unknown}: no such object\n")
    );
    assert_eq!(
        fails(
            dir,
            &[
                "object",
                "get",
                "abc",
                "-i",
                "owner.key",
                "-o",
                "x",
                r[0],
                r[1]
            ]
        ),
        "error: \"abc\" is not an object id: expected 64 hex digits\n"
    );
    assert_eq!(
        fails(
            dir,
            &[
                "object",
                "get",
                small,
                "-i",
                "nobody.key",
                "-o",
                "x",
                r[0],
                r[1]
            ]
        ),
        "error: no key file at nobody.key: pass the recipient's key with --identity FILE (the key the object was sealed to; a new key cannot open it)\n"
    );
    assert_eq!(
        fails(
            dir,
            &[
                "object",
                "put",
                "file-1",
                "--recipient",
                "02abc",
                "-i",
                "owner.key",
                r[0],
                r[1]
            ]
        ),
        "error: \"02abc\" is not a public key: expected the 66 hex digits `datahub keygen` prints as \"public key\"\n"
    );

    // Kill any two nodes (m = 2): every object still reads back byte-exact.
    let mut dev = dev;
    let victims = [dev.nodes[1].clone(), dev.nodes[4].clone()];
    for victim in &victims {
        kill_pid(victim.pid).unwrap();
    }
    for DevNode { name, .. } in &victims {
        // The two deaths may be reported in either order: a line already read counts.
        let seen = dev
            .printed
            .iter()
            .find(|l| l.starts_with(name.as_str()))
            .cloned();
        let line = match seen {
            Some(line) => line,
            None => dev.wait_for(name, Duration::from_secs(30)).unwrap(),
        };
        assert!(
            line.contains("exited on signal 9") && line.ends_with("not restarted"),
            "{line}"
        );
    }
    std::thread::scope(|scope| {
        for (c, chunk) in objects.chunks(26).enumerate() {
            let relay = relay.clone();
            scope.spawn(move || {
                for (j, (file, id)) in chunk.iter().enumerate() {
                    let out = dir.join(format!("again-{c}-{j}"));
                    let args = [
                        "object",
                        "get",
                        id,
                        "-i",
                        "owner.key",
                        "-o",
                        out.to_str().unwrap(),
                        "--relay",
                        &relay,
                    ];
                    ok(dir, &args);
                    assert!(
                        same_file(file, &out),
                        "{} differs after two nodes died",
                        file.display()
                    );
                }
            });
        }
    });

    // SIGTERM stops dev and every child.
    let relay_pid = dev.relay_pid;
    let pids: Vec<u32> = dev.nodes.iter().map(|n| n.pid).collect();
    let printed = dev.stop().unwrap().printed;
    assert_eq!(
        printed.last().map(String::as_str),
        Some("datahub dev: stopped")
    );
    assert!(!alive(relay_pid), "the relay is still running");
    for pid in pids {
        assert!(!alive(pid), "node {pid} is still running");
    }
}

/// An upload that cannot finish keeps its sealed shards and says how to resume; `resume`
/// finishes it once storage is back.
#[test]
fn an_interrupted_upload_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let dev = new_dev(dir, 0).start().unwrap();
    let relay = dev.url.clone();
    let out = ok(dir, &["keygen", "-o", "me.key"]);
    let public = public_key(&out);
    random_file(&dir.join("data"), 5 * 1024 * 1024, 99);
    let args = [
        "object", "put", "data", "-r", &public, "-i", "me.key", "--relay", &relay, "--tries", "1",
    ];
    let err = fails(dir, &args);
    let id = err
        .split("the upload of object ")
        .nth(1)
        .and_then(|rest| rest.get(..64))
        .unwrap_or_else(|| panic!("{err}"))
        .to_owned();
    assert!(
        err.contains(&format!(
            "finish it with `datahub object resume {id} --relay {relay}`"
        )),
        "{err}"
    );
    assert!(dir.join("spool").join(&id).join("manifest").is_file());

    // Storage comes back: six nodes run by hand, as on separate machines.
    let mut nodes = Vec::new();
    for i in 0..6 {
        let data = dir.join(format!("manual-{i}"));
        let mut args = NodeArgs::new(&relay, &format!("r{i}"), &data);
        args.heartbeat_secs = 1;
        let mut command = Command::new(BIN);
        command.arg("node");
        let log = dir.join(format!("manual-{i}.log"));
        nodes.push(start_node(command, &args, &log).unwrap().0);
    }
    let port = relay.rsplit(':').next().unwrap().parse().unwrap();
    wait_for_nodes(port, 6, Duration::from_secs(60)).unwrap();
    let resumed = ok(
        dir,
        &["object", "resume", &id, "-i", "me.key", "--relay", &relay],
    );
    assert_eq!(resumed.trim(), id);
    assert!(!dir.join("spool").join(&id).exists());
    ok(
        dir,
        &[
            "object", "get", &id, "-i", "me.key", "-o", "back", "--relay", &relay,
        ],
    );
    assert!(same_file(&dir.join("data"), &dir.join("back")));
    drop(nodes);
    dev.stop().unwrap();
}

/// The relay started by `dev` serves the web app (`--www`, `--pkg`) beside the API.
#[test]
fn dev_serves_the_web_app() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let dev = new_dev(dir, 0).www(&fake_web(dir)).start().unwrap();
    let api = get_text(&format!("{}/v1/info", dev.url));
    assert!(api.contains("relay_address"), "{api}");
    for build in ["app", "web"] {
        let script = get_text(&format!("{}/pkg/{build}/datahub_wasm.js", dev.url));
        assert_eq!(script, "export {}");
    }
    let page = get_text(&format!("{}/", dev.url));
    assert!(page.contains("<title>dh</title>"), "{page}");
    dev.stop().unwrap();
}

/// `dev` killed outright (SIGKILL, no chance to clean up) leaves no child behind: each child
/// asked the kernel for SIGTERM when its parent dies.
#[test]
fn a_killed_dev_leaves_no_orphans() {
    let tmp = tempfile::tempdir().unwrap();
    let mut dev = new_dev(tmp.path(), 2).start().unwrap();
    let mut pids: Vec<u32> = dev.nodes.iter().map(|n| n.pid).collect();
    pids.push(dev.relay_pid);
    assert_ne!(dev.anvil_pid, 0, "{:#?}", dev.printed);
    pids.push(dev.anvil_pid);
    dev.process.kill();
    let deadline = Instant::now() + Duration::from_secs(20);
    while pids.iter().any(|p| alive(*p)) {
        assert!(
            Instant::now() < deadline,
            "children of a killed dev still run"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The relay dying ends `dev` with an error naming it, and the nodes are stopped.
#[test]
fn the_relay_dying_ends_dev() {
    let tmp = tempfile::tempdir().unwrap();
    let mut dev = new_dev(tmp.path(), 1).start().unwrap();
    let node = dev.nodes[0].pid;
    kill_pid(dev.relay_pid).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = dev.process.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "dev outlived its relay");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success());
    let stderr = dev.stderr();
    let expected = format!("error: relay (pid {}, ", dev.relay_pid);
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(stderr.contains(") exited on signal 9: see "), "{stderr}");
    assert!(!alive(node), "the node outlived dev");
}

/// `dev` stopped and started again on the same folder keeps its objects: the nodes come back
/// on their ports, before the relay, so its first audits find them.
#[test]
fn a_restarted_dev_keeps_its_objects() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let dev = new_dev(dir, 6).start().unwrap();
    let public = public_key(&ok(dir, &["keygen"]));
    random_file(&dir.join("f"), 9_000_000, 7);
    let id = ok(
        dir,
        &["object", "put", "f", "-r", &public, "--relay", &dev.url],
    );
    let endpoints = |dev: &Dev| -> Vec<String> {
        dev.printed
            .iter()
            .filter(|l| l.trim_start().starts_with("node-"))
            .map(|l| l.split_whitespace().nth(6).unwrap().to_owned())
            .collect()
    };
    let before = endpoints(&dev);
    dev.stop().unwrap();
    let dev = new_dev(dir, 6).start().unwrap();
    assert_eq!(endpoints(&dev), before);
    ok(
        dir,
        &["object", "get", id.trim(), "-o", "g", "--relay", &dev.url],
    );
    assert!(same_file(&dir.join("f"), &dir.join("g")));
    let status = ok(dir, &["object", "status", id.trim(), "--relay", &dev.url]);
    assert!(status.contains(", complete\n"), "{status}");
    dev.stop().unwrap();
}

/// Kill m = 2 nodes, let repair rebuild their shards on the others, kill 2 more: everything still
/// reads back byte-exact.
#[test]
fn repair_outlives_two_rounds_of_dead_nodes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let dev = new_dev(dir, 8).start().unwrap();
    let public = public_key(&ok(dir, &["keygen"]));
    let mut ids = Vec::new();
    for (i, size) in [9_000_000, 1_500_000].into_iter().enumerate() {
        let name = format!("f{i}");
        random_file(&dir.join(&name), size, 40 + i as u64);
        let id = ok(
            dir,
            &["object", "put", &name, "-r", &public, "--relay", &dev.url],
        );
        ids.push((name, id.trim().to_owned()));
    }
    let at_risk = |dev: &Dev| -> u64 {
        ids.iter()
            .map(|(_, id)| {
                let json = ok(
                    dir,
                    &["object", "status", id, "--json", "--relay", &dev.url],
                );
                let status: serde_json::Value = serde_json::from_str(&json).unwrap();
                status["at_risk"].as_u64().unwrap()
            })
            .sum()
    };
    let kill = |victims: &[DevNode]| {
        for victim in victims {
            kill_pid(victim.pid).unwrap();
        }
    };
    kill(&dev.nodes[0..2]);
    let wait = |want_zero: bool, within: Duration| {
        let deadline = Instant::now() + within;
        while (at_risk(&dev) == 0) != want_zero {
            assert!(
                Instant::now() < deadline,
                "at_risk never became {}",
                if want_zero { "0" } else { "> 0" }
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    };
    wait(false, Duration::from_secs(60));
    wait(true, Duration::from_secs(120));
    kill(&dev.nodes[2..4]);
    for (name, id) in &ids {
        let out = format!("{name}.back");
        ok(dir, &["object", "get", id, "-o", &out, "--relay", &dev.url]);
        assert!(same_file(&dir.join(name), &dir.join(&out)), "{name}");
    }
    dev.stop().unwrap();
}

/// No relay: put says so before sealing anything.
#[test]
fn a_missing_relay_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let out = ok(dir, &["keygen", "-o", "me.key"]);
    std::fs::write(dir.join("f"), b"x").unwrap();
    let err = fails(
        dir,
        &[
            "object",
            "put",
            "f",
            "-r",
            &public_key(&out),
            "-i",
            "me.key",
            "--relay",
            "http://127.0.0.1:9",
        ],
    );
    assert!(
        err.starts_with("error: cannot reach the relay at http://127.0.0.1:9/: is it running (`datahub dev`)? pass another with --relay"),
        "{err}"
    );
    assert!(!dir.join("spool").exists());
}
