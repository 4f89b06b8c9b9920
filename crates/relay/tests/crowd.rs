//! A simulated crowd with known truth works a campaign through the relay (its router, a real
//! SQLite database): honest contributors of varied accuracy, random bots, spammers who always
//! give the same answer, and colluders (several wallets answering identically). Golden items
//! are mixed in. The test prints and checks: the relay's Dawid–Skene results are at least as
//! accurate as a majority vote over the same answers; at least 95% of bots and spammers are
//! restricted, and together they earn under 5% of the budget; under 1% of honest contributors
//! are restricted. All randomness is seeded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use datahub_core::SecretKey;
use datahub_core::eth::Timestamp;
use datahub_core::quality::{self, DsConfig, Observation};
use datahub_core::request;
use serde_json::{Value, json};

/// SplitMix64: the same crowd on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const VERDICTS: [&str; 3] = ["true", "false", "unsure"];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Honest(f64),
    Bot,
    Spammer,
    Colluder,
}

async fn signed_get(net: &Net, key: &SecretKey, path: &str) -> (StatusCode, Value) {
    let now = Timestamp::from_unix_millis(datahub_relay::clock::now_ms());
    let signature = request::sign_request(key, "GET", path, b"", now, &net.address);
    let request = Request::get(path)
        .header(request::TIME_HEADER, now.unix_millis().to_string())
        .header(request::SIGNATURE_HEADER, signature.to_hex())
        .body(Body::empty())
        .unwrap();
    net.call(request).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crowd_with_bots_spammers_and_colluders() {
    // A fixed relay key: it keys where golden items fall, so the run is the same every time.
    let net = Net::start_with(Backend::Sqlite, |config| {
        let path = config.data_dir.join("relay.key");
        datahub_relay::keyfile::write_new(&path, &key("crowd relay")).unwrap();
    })
    .unwrap();
    let mut rng = Rng(0xC0FFEE);
    let owner = key("crowd owner");
    let (items, goldens) = (600, 60);
    let truth: Vec<usize> = (0..items).map(|_| rng.below(3)).collect();
    let golden_truth: Vec<usize> = (0..goldens).map(|i| i % 3).collect();
    // Paid answers the budget allows (at 0.01 each): more than the crowd will give.
    let budget_rewards = 4500;
    let mut spec = campaign_spec(
        "crowd",
        &owner,
        items,
        3,
        &format!("{}", budget_rewards / 100),
    );
    spec["reward"] = json!("0.01");
    spec["golden"] = json!(
        golden_truth
            .iter()
            .enumerate()
            .map(|(i, t)| json!({ "item": { "text": format!("golden {i}") }, "answer": { "verdict": VERDICTS[*t] } }))
            .collect::<Vec<_>>()
    );
    spec["confidence"] = json!(0.9);
    spec["max_overlap"] = json!(5);
    spec["golden_share"] = json!(0.2);
    let (status, body) = net.create_campaign(&owner, &spec).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let mut crowd: Vec<(Kind, Worker)> = Vec::new();
    for i in 0..30 {
        let accuracy = 0.7 + 0.25 * f64::from(i) / 29.0;
        crowd.push((
            Kind::Honest(accuracy),
            Worker::sign_in(&net, &format!("honest {i}")).await,
        ));
    }
    for i in 0..8 {
        crowd.push((Kind::Bot, Worker::sign_in(&net, &format!("bot {i}")).await));
    }
    for i in 0..5 {
        crowd.push((
            Kind::Spammer,
            Worker::sign_in(&net, &format!("spammer {i}")).await,
        ));
    }
    for i in 0..4 {
        crowd.push((
            Kind::Colluder,
            Worker::sign_in(&net, &format!("colluder {i}")).await,
        ));
    }
    let truth_of = |text: &str| -> Option<usize> {
        if let Some(i) = text.strip_prefix("item number ") {
            return truth.get(i.parse::<usize>().ok()?).copied();
        }
        golden_truth
            .get(text.strip_prefix("golden ")?.parse::<usize>().ok()?)
            .copied()
    };
    // Every answer given to a real item: (item, worker, label).
    let mut answers: Vec<Observation> = Vec::new();
    let mut told_restricted = std::collections::HashSet::new();
    let mut done = vec![false; crowd.len()];
    let mut order: Vec<usize> = (0..crowd.len()).collect();
    for _round in 0..200 {
        if done.iter().all(|d| *d) {
            break;
        }
        let mut any = false;
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i + 1));
        }
        for &w in &order {
            if done[w] {
                continue;
            }
            let (kind, worker) = &mut crowd[w];
            let (status, task) = worker.next(&net, "crowd").await;
            match (status, task["error"].as_str()) {
                (StatusCode::OK, _) => {}
                (StatusCode::FORBIDDEN, Some("restricted")) => {
                    done[w] = true;
                    told_restricted.insert(w);
                    continue;
                }
                (StatusCode::NOT_FOUND, Some("no_task")) | (StatusCode::CONFLICT, _) => continue,
                other => panic!("unexpected {other:?}: {task}"),
            }
            let text = task["item"]["text"].as_str().unwrap().to_owned();
            let t = truth_of(&text).unwrap();
            let label = match *kind {
                Kind::Honest(acc) if rng.unit() < acc => t,
                Kind::Honest(_) => (t + 1 + rng.below(2)) % 3,
                Kind::Bot => rng.below(3),
                Kind::Spammer => 0,
                Kind::Colluder => (blake3::hash(text.as_bytes()).as_bytes()[0] % 3) as usize,
            };
            let lease = task["lease"].as_str().unwrap().to_owned();
            let body = worker.submission(
                &net,
                "crowd",
                &lease,
                &json!({ "verdict": VERDICTS[label] }),
            );
            let (status, outcome) = worker.submit(&net, &body).await;
            match (status, outcome["error"].as_str()) {
                (StatusCode::OK, _) => {}
                (StatusCode::FORBIDDEN, Some("restricted"))
                | (StatusCode::CONFLICT, Some("lease_expired")) => {
                    done[w] = true;
                    continue;
                }
                other => panic!("unexpected {other:?}: {outcome}"),
            }
            any = true;
            if let Some(i) = text.strip_prefix("item number ") {
                answers.push(Observation {
                    item: i.parse().unwrap(),
                    worker: w,
                    label,
                });
            }
        }
        // Stop when a whole round brought no answer: nobody can get a task any more.
        if !any {
            break;
        }
    }

    // The requester's view.
    let mut accepted: HashMap<usize, usize> = HashMap::new();
    let mut after = -1_i64;
    loop {
        let (status, page) = signed_get(
            &net,
            &owner,
            &format!("/v1/campaigns/crowd/results?after={after}&limit=1000"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for r in page["records"].as_array().unwrap() {
            let verdict = r["answer"]["verdict"].as_str().unwrap();
            let label = VERDICTS.iter().position(|v| *v == verdict).unwrap();
            accepted.insert(r["index"].as_u64().unwrap() as usize, label);
        }
        match page["next"].as_i64() {
            Some(next) => after = next,
            None => break,
        }
    }
    let (_, report) = signed_get(&net, &owner, "/v1/campaigns/crowd/quality").await;
    let by_address: HashMap<String, Value> = report["contributors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["address"].as_str().unwrap().to_owned(), c.clone()))
        .collect();

    // Accuracy over the accepted items: the relay's against a majority vote of the same answers.
    let on_accepted: Vec<Observation> = answers
        .iter()
        .copied()
        .filter(|o| accepted.contains_key(&o.item))
        .collect();
    let majority = quality::majority(&on_accepted, items, 3);
    let batch = quality::dawid_skene(
        &on_accepted,
        items,
        crowd.len(),
        3,
        &[],
        &DsConfig::default(),
    )
    .estimates(&on_accepted);
    let (mut relay_right, mut majority_right, mut batch_right) = (0, 0, 0);
    for (&item, &label) in &accepted {
        relay_right += usize::from(label == truth[item]);
        majority_right += usize::from(majority[item].is_some_and(|e| e.label == truth[item]));
        batch_right += usize::from(batch[item].is_some_and(|e| e.label == truth[item]));
    }
    let n = accepted.len() as f64;
    let (relay_acc, majority_acc, batch_acc) = (
        relay_right as f64 / n,
        majority_right as f64 / n,
        batch_right as f64 / n,
    );

    let mut earned = HashMap::<&str, i64>::new();
    let mut restricted = HashMap::<&str, (usize, usize)>::new();
    // Tasks each restricted bot or spammer had, and the most any one of them earned.
    let (mut tasks_before, mut most_earned) = (Vec::new(), 0_i64);
    for (w, (kind, worker)) in crowd.iter().enumerate() {
        let group = match kind {
            Kind::Honest(_) => "honest",
            Kind::Bot => "bot",
            Kind::Spammer => "spammer",
            Kind::Colluder => "colluder",
        };
        let (_, balances) = net.get("/v1/me/balances", Some(&worker.token)).await;
        let amount = balances["balances"]
            .get(0)
            .map_or("0", |b| b["amount"].as_str().unwrap());
        let units = datahub_relay::ledger::parse_amount(amount).unwrap();
        *earned.entry(group).or_default() += units;
        let address = format!("0x{}", hex::encode(worker.address().as_bytes()));
        let is_restricted = by_address
            .get(&address)
            .is_some_and(|c| c["restricted"] == true)
            || told_restricted.contains(&w);
        if std::env::var("CROWD_DEBUG").is_ok() {
            println!(
                "{group} {:?} {}",
                kind,
                by_address
                    .get(&address)
                    .map(|c| c.to_string())
                    .unwrap_or_default()
            );
        }
        if matches!(kind, Kind::Bot | Kind::Spammer) {
            most_earned = most_earned.max(units);
            if is_restricted {
                let tasks = by_address.get(&address).and_then(|c| c["tasks"].as_i64());
                tasks_before.push(tasks.unwrap_or(0));
            }
        }
        let entry = restricted.entry(group).or_default();
        entry.0 += usize::from(is_restricted);
        entry.1 += 1;
    }
    let budget = i64::from(budget_rewards) * 10_000;
    let share = |g: &str| earned.get(g).copied().unwrap_or(0) as f64 / budget as f64;
    println!(
        "crowd: {} items accepted of {items}; {} answers to real items",
        accepted.len(),
        answers.len()
    );
    println!(
        "accuracy: relay (online Dawid–Skene) {relay_acc:.3}, majority vote {majority_acc:.3}, batch Dawid–Skene {batch_acc:.3}"
    );
    for group in ["honest", "bot", "spammer", "colluder"] {
        let (r, total) = restricted[group];
        println!(
            "{group:>9}: {r}/{total} restricted, earned {:.1}% of the budget",
            100.0 * share(group)
        );
    }
    let (bots_restricted, bots) = (
        restricted["bot"].0 + restricted["spammer"].0,
        restricted["bot"].1 + restricted["spammer"].1,
    );
    let bad_share = share("bot") + share("spammer");
    println!(
        "bots and spammers: {bots_restricted}/{bots} restricted, {:.2}% of the budget earned together, at most {:.2}% by one; restricted after {:.1} tasks on average (at most {})",
        100.0 * bad_share,
        100.0 * most_earned as f64 / budget as f64,
        tasks_before.iter().sum::<i64>() as f64 / tasks_before.len().max(1) as f64,
        tasks_before.iter().max().copied().unwrap_or(0),
    );

    assert!(
        accepted.len() >= items * 9 / 10,
        "{} items accepted",
        accepted.len()
    );
    assert!(
        relay_acc >= majority_acc,
        "relay {relay_acc} < majority {majority_acc}"
    );
    assert!(
        bots_restricted * 100 >= bots * 95,
        "{bots_restricted}/{bots} restricted"
    );
    assert!(bad_share < 0.05, "bots and spammers earned {bad_share}");
    let (honest_restricted, honest) = restricted["honest"];
    assert!(
        honest_restricted * 100 < honest,
        "{honest_restricted}/{honest} honest restricted"
    );
}
