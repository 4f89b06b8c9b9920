//! Simulated crowds with known truth work campaigns through the relay (its router, a real SQLite
//! database). All randomness is seeded, and the relay's key is fixed (it keys where golden items
//! fall), so each run is the same.
//!
//! The mixed crowd: honest contributors of varied accuracy, random bots, spammers who always give
//! the same answer, colluders (several wallets answering identically) and "golden-wise" bots that
//! know the golden items (a leaked golden set) and answer everything else at random, so golden
//! items alone cannot catch them. Bots, spammers and colluders are restricted, and what each had
//! earned when it was restricted is all it ever earns (nothing: pay is held until a record is
//! known); golden-wise bots are not all restricted, but their records never clear, so their pay
//! stays held. All adversaries together earn under 2% of what the campaign actually paid, every
//! honest contributor is paid in full by the end; the relay's online Dawid–Skene is at least as
//! accurate as a majority vote and as batch
//! Dawid–Skene over the answers the relay kept (not those it voided when their author was
//! restricted).
//!
//! The honest crowd: many honest contributors at the lowest accuracy of the mixed crowd, to put
//! a number on how often an honest contributor is restricted (see that test for the statistics).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};

use axum::http::StatusCode;
use common::*;
use datahub_core::quality::{self, DsConfig, Observation};
use datahub_relay::db::{Conn, DbError};
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

/// The reward of an answer, in millionths (0.01).
const REWARD: i64 = 10_000;

const VERDICTS: [&str; 3] = ["true", "false", "unsure"];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Honest(f64),
    Bot,
    Spammer,
    Colluder,
    /// Right on every golden item, at random on the rest.
    GoldenWise,
}

impl Kind {
    fn group(self) -> &'static str {
        match self {
            Kind::Honest(_) => "honest",
            Kind::Bot => "bot",
            Kind::Spammer => "spammer",
            Kind::Colluder => "colluder",
            Kind::GoldenWise => "golden-wise",
        }
    }
}

/// The bad actors the relay restricts; golden-wise bots are a known limit (see the test).
const RESTRICTED: [&str; 3] = ["bot", "spammer", "colluder"];

/// One contributor's story in the run.
#[derive(Default)]
struct Fate {
    /// What it had earned (units of a millionth) when it was first told it is restricted.
    earned_at_restriction: Option<i64>,
    /// What the whole crowd had been paid by then.
    spent_at_restriction: Option<i64>,
    /// Tasks the relay counted for it by then.
    tasks_at_restriction: Option<i64>,
    /// What it earned in all.
    earned: i64,
    /// Whether the relay's report says it is restricted.
    restricted: bool,
    /// Its trust in the relay's report at the end.
    trust: f64,
    /// Its record in the relay's report at the end: tasks, golden right, agreed, disagreed,
    /// backed, unbacked.
    record: (i64, i64, i64, i64, i64, i64),
}

struct Run {
    net: Net,
    workers: Vec<Worker>,
    crowd: Vec<Kind>,
    fates: Vec<Fate>,
    /// Item index → the relay's accepted label.
    accepted: HashMap<usize, usize>,
    /// The answers the relay decided each accepted item on (its voided ones left out).
    kept: Vec<Observation>,
    truth: Vec<usize>,
    /// What the campaign paid in all, from the ledger.
    spent: i64,
}

async fn units_of(net: &Net, worker: &Worker) -> i64 {
    let (status, balances) = net.get("/v1/me/balances", Some(&worker.token)).await;
    assert_eq!(status, StatusCode::OK, "{balances}");
    let amount = balances["balances"]
        .get(0)
        .map_or("0", |b| b["amount"].as_str().unwrap());
    datahub_relay::ledger::parse_amount(amount).unwrap()
}

/// What the campaign has paid to contributors so far: its submission credits in the ledger.
async fn paid(net: &Net) -> i64 {
    net.relay()
        .db
        .read(|conn: &mut dyn Conn| -> Result<i64, DbError> {
            let rows = conn.query(
                "SELECT COALESCE(SUM(amount), 0) FROM transfers WHERE debit = 'campaign:crowd' AND id LIKE 'sub:%'",
                &[],
            )?;
            rows[0].int(0)
        })
        .await
        .unwrap()
}

/// The ids of the campaign's pending submissions.
async fn pending(net: &Net) -> HashSet<String> {
    net.relay()
        .db
        .read(|conn: &mut dyn Conn| -> Result<HashSet<String>, DbError> {
            let rows = conn.query(
                "SELECT id FROM submissions WHERE campaign = 'crowd' AND status = 'pending'",
                &[],
            )?;
            rows.iter().map(|r| r.text(0)).collect()
        })
        .await
        .unwrap()
}

async fn quality_report(net: &Net, owner: &datahub_core::SecretKey) -> HashMap<String, Value> {
    let (status, report) = net
        .call(net.signed_get(owner, "/v1/campaigns/crowd/quality"))
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    report["contributors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["address"].as_str().unwrap().to_owned(), c.clone()))
        .collect()
}

/// What a contributor had when it was first told it is restricted (the relay restricts inside
/// some request, its own or another's; it learns at its next call, and nothing is paid between).
async fn told_restricted(net: &Net, owner: &datahub_core::SecretKey, worker: &Worker) -> Fate {
    let report = quality_report(net, owner).await;
    Fate {
        earned_at_restriction: Some(units_of(net, worker).await),
        spent_at_restriction: Some(paid(net).await),
        tasks_at_restriction: report[&address_of(worker)]["tasks"].as_i64(),
        ..Fate::default()
    }
}

fn address_of(worker: &Worker) -> String {
    format!("0x{}", hex::encode(worker.address().as_bytes()))
}

/// Per group: (wallets with rewards held at the end, rewards held), in answers.
async fn held_per_group(run: &Run) -> BTreeMap<&'static str, (usize, i64)> {
    per_group(run, "held = 1").await
}

/// Per group: (wallets with submissions to the crowd's campaign matching `condition`, how many).
async fn per_group(run: &Run, condition: &str) -> BTreeMap<&'static str, (usize, i64)> {
    let sql = format!(
        "SELECT worker, COUNT(*) FROM submissions WHERE campaign = 'crowd' AND {condition} GROUP BY worker"
    );
    let counts: HashMap<String, i64> = run
        .net
        .relay()
        .db
        .read(
            move |conn: &mut dyn Conn| -> Result<HashMap<String, i64>, DbError> {
                let rows = conn.query(&sql, &[])?;
                rows.iter().map(|r| Ok((r.text(0)?, r.int(1)?))).collect()
            },
        )
        .await
        .unwrap();
    let mut out = BTreeMap::new();
    for (kind, worker) in run.crowd.iter().zip(&run.workers) {
        if let Some(n) = counts.get(&address_of(worker)) {
            let entry = out.entry(kind.group()).or_insert((0, 0));
            entry.0 += 1;
            entry.1 += n;
        }
    }
    out
}

/// Closes the crowd's campaign, as its owner: what is still held is settled (paid where the
/// record looks careful, given back where it looks like chance); then, per group, (wallets whose
/// held rewards were given back as `unproven`, how many).
async fn close_and_settle(run: &Run) -> BTreeMap<&'static str, (usize, i64)> {
    let close = json!({ "status": "closed" });
    let (status, body) = run
        .net
        .call(run.net.signed(
            &key("crowd owner"),
            "POST",
            "/v1/campaigns/crowd/status",
            &close,
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let unproven = per_group(run, "reason = 'unproven'").await;
    assert!(
        held_per_group(run).await.is_empty(),
        "nothing held after the close"
    );
    assert_ledger_balanced(&run.net).await;
    unproven
}

/// Runs `crowd` on a campaign of `items` items (three classes, overlap 3 up to 5) and `goldens`
/// golden items (share 0.2) until nobody can get a task any more.
/// With `cap`, each contributor leases at most that many tasks (`max_tasks_per_day`).
async fn run_crowd(
    seed: u64,
    crowd: Vec<Kind>,
    items: usize,
    goldens: usize,
    cap: Option<usize>,
) -> Run {
    let net = Net::start_with(Backend::Sqlite, |config| {
        let path = config.data_dir.join("relay.key");
        datahub_relay::keyfile::write_new(&path, &key("crowd relay")).unwrap();
    })
    .unwrap();
    let mut rng = Rng(seed);
    let owner = key("crowd owner");
    let truth: Vec<usize> = (0..items).map(|_| rng.below(3)).collect();
    let golden_truth: Vec<usize> = (0..goldens).map(|i| i % 3).collect();
    // More than the crowd can spend at 0.01 an answer (at most 5 answers an item, and each
    // golden item once per contributor): what bad actors earn is measured against what was
    // really paid, never against this.
    let budget_rewards = items * 5 + goldens * crowd.len();
    let mut spec = campaign_spec(
        "crowd",
        &owner,
        items,
        3,
        &format!("{}", budget_rewards / 100 + 1),
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
    if let Some(cap) = cap {
        spec["max_tasks_per_day"] = json!(cap);
    }
    let (status, body) = net.create_campaign(&owner, &spec).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let mut workers = Vec::new();
    for (i, kind) in crowd.iter().enumerate() {
        workers.push(Worker::sign_in(&net, &format!("{} {i}", kind.group())).await);
    }
    let mut fates: Vec<Fate> = crowd.iter().map(|_| Fate::default()).collect();
    let truth_of = |text: &str| -> Option<(usize, Option<usize>)> {
        if let Some(i) = text.strip_prefix("item number ") {
            let i = i.parse::<usize>().ok()?;
            return Some((*truth.get(i)?, Some(i)));
        }
        let g = text.strip_prefix("golden ")?.parse::<usize>().ok()?;
        Some((*golden_truth.get(g)?, None))
    };
    // Every answer to a real item, by submission id.
    let mut answers: HashMap<String, Observation> = HashMap::new();
    let mut by_item: HashMap<usize, Vec<String>> = HashMap::new();
    // Item → the answers pending on it when it was decided (the ones the relay decided on).
    let mut decided_on: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut done = vec![false; crowd.len()];
    let mut order: Vec<usize> = (0..crowd.len()).collect();
    for _round in 0..400 {
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
            let (status, task) = workers[w].next(&net, "crowd").await;
            match (status, task["error"].as_str()) {
                (StatusCode::OK, _) => {}
                (StatusCode::FORBIDDEN, Some("restricted")) => {
                    done[w] = true;
                    fates[w] = told_restricted(&net, &owner, &workers[w]).await;
                    continue;
                }
                (StatusCode::TOO_MANY_REQUESTS, Some("daily_cap")) if cap.is_some() => {
                    done[w] = true;
                    continue;
                }
                (StatusCode::NOT_FOUND, Some("no_task")) | (StatusCode::CONFLICT, _) => continue,
                // New to the campaign and none of its answers confirmed yet: it tries again
                // next round, once the answers it gave are decided.
                (StatusCode::TOO_MANY_REQUESTS, Some("probation")) => continue,
                other => panic!("unexpected {other:?}: {task}"),
            }
            let text = task["item"]["text"].as_str().unwrap().to_owned();
            let (t, item) = truth_of(&text).unwrap();
            let label = match crowd[w] {
                Kind::Honest(acc) if rng.unit() < acc => t,
                Kind::Honest(_) => (t + 1 + rng.below(2)) % 3,
                Kind::GoldenWise if item.is_none() => t,
                Kind::Bot | Kind::GoldenWise => rng.below(3),
                Kind::Spammer => 0,
                Kind::Colluder => (blake3::hash(text.as_bytes()).as_bytes()[0] % 3) as usize,
            };
            let lease = task["lease"].as_str().unwrap().to_owned();
            let body = workers[w].submission(
                &net,
                "crowd",
                &lease,
                &json!({ "verdict": VERDICTS[label] }),
            );
            // Only the mixed crowd compares accuracy (and pays for this read).
            let before = match item {
                Some(_) if cap.is_none() => pending(&net).await,
                _ => HashSet::new(),
            };
            let (status, outcome) = workers[w].submit(&net, &body).await;
            match (status, outcome["error"].as_str()) {
                (StatusCode::OK, _) => {}
                (StatusCode::FORBIDDEN, Some("restricted")) => {
                    done[w] = true;
                    fates[w] = told_restricted(&net, &owner, &workers[w]).await;
                    continue;
                }
                (StatusCode::CONFLICT, Some("lease_expired")) => {
                    done[w] = true;
                    continue;
                }
                other => panic!("unexpected {other:?}: {outcome}"),
            }
            any = true;
            let Some(item) = item else { continue };
            let id = outcome["submission"].as_str().unwrap().to_owned();
            answers.insert(
                id.clone(),
                Observation {
                    item,
                    worker: w,
                    label,
                },
            );
            let ids = by_item.entry(item).or_default();
            ids.push(id.clone());
            // An ordinary item is decided in the request that brings its last answer: on the
            // answers pending on it just before, and this one. Answers voided earlier (their
            // author restricted) were no longer pending.
            if outcome["status"] != "pending" {
                let mut on = vec![id];
                on.extend(ids.iter().filter(|s| before.contains(*s)).cloned());
                decided_on.insert(item, on);
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
        let (status, page) = net
            .call(net.signed_get(
                &owner,
                &format!("/v1/campaigns/crowd/results?after={after}&limit=1000"),
            ))
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
    let report = quality_report(&net, &owner).await;
    for (w, worker) in workers.iter().enumerate() {
        fates[w].earned = units_of(&net, worker).await;
        let entry = report.get(&address_of(worker));
        fates[w].restricted = entry.is_some_and(|c| c["restricted"] == true);
        fates[w].trust = entry.and_then(|c| c["trust"].as_f64()).unwrap_or(-1.0);
        let count = |key: &str| entry.and_then(|c| c[key].as_i64()).unwrap_or(0);
        fates[w].record = (
            count("tasks"),
            count("golden_right"),
            count("agreed"),
            count("disagreed"),
            count("backed"),
            count("unbacked"),
        );
    }
    // Every accepted item was decided by a submission seen here, on answers known here.
    let mut kept = Vec::new();
    for item in accepted.keys().filter(|_| cap.is_none()) {
        let on = decided_on
            .get(item)
            .unwrap_or_else(|| panic!("item {item} accepted with no deciding answer seen"));
        kept.extend(on.iter().map(|id| answers[id]));
    }
    let spent = paid(&net).await;
    let credited: i64 = fates.iter().map(|f| f.earned).sum();
    assert_eq!(
        spent, credited,
        "the campaign paid what its contributors hold"
    );
    assert_ledger_balanced(&net).await;
    Run {
        net,
        workers,
        crowd,
        fates,
        accepted,
        kept,
        truth,
        spent,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crowd_with_bots_spammers_colluders_and_golden_wise_bots() {
    let (items, goldens) = (600, 60);
    let mut crowd: Vec<Kind> = (0..30)
        .map(|i| Kind::Honest(0.7 + 0.25 * f64::from(i) / 29.0))
        .collect();
    crowd.extend([Kind::Bot; 8]);
    crowd.extend([Kind::Spammer; 5]);
    crowd.extend([Kind::Colluder; 4]);
    crowd.extend([Kind::GoldenWise; 4]);
    let run = run_crowd(0xC0FFEE, crowd, items, goldens, None).await;

    // Accuracy over the accepted items, all three from the answers the relay kept.
    let majority = quality::majority(&run.kept, items, 3);
    let batch = quality::dawid_skene(
        &run.kept,
        items,
        run.crowd.len(),
        3,
        &[],
        &DsConfig::default(),
    )
    .estimates(&run.kept);
    let (mut relay_right, mut majority_right, mut batch_right) = (0, 0, 0);
    for (&item, &label) in &run.accepted {
        relay_right += usize::from(label == run.truth[item]);
        majority_right += usize::from(majority[item].is_some_and(|e| e.label == run.truth[item]));
        batch_right += usize::from(batch[item].is_some_and(|e| e.label == run.truth[item]));
    }
    let n = run.accepted.len() as f64;
    let (relay_acc, majority_acc, batch_acc) = (
        relay_right as f64 / n,
        majority_right as f64 / n,
        batch_right as f64 / n,
    );
    println!(
        "crowd: {} items accepted of {items}, decided on {} answers kept",
        run.accepted.len(),
        run.kept.len()
    );
    println!(
        "accuracy: relay (online Dawid–Skene) {relay_acc:.3}, majority vote {majority_acc:.3}, batch Dawid–Skene {batch_acc:.3}"
    );

    let share = |earned: i64| earned as f64 / run.spent as f64;
    let mut earned_by = HashMap::<&str, i64>::new();
    let mut restricted_after = Vec::new();
    let honest = run
        .crowd
        .iter()
        .filter(|k| matches!(k, Kind::Honest(_)))
        .count();
    for group in ["honest", "bot", "spammer", "colluder", "golden-wise"] {
        let members: Vec<(&Kind, &Fate)> = run
            .crowd
            .iter()
            .zip(&run.fates)
            .filter(|(k, _)| k.group() == group)
            .collect();
        let restricted = members.iter().filter(|(_, f)| f.restricted).count();
        let earned: i64 = members.iter().map(|(_, f)| f.earned).sum();
        earned_by.insert(group, earned);
        println!(
            "{group:>11}: {restricted}/{} restricted, earned {:.2}% of what was paid",
            members.len(),
            100.0 * share(earned)
        );
        if group == "golden-wise" {
            for (kind, fate) in &members {
                let (tasks, golden_right, agreed, disagreed, backed, unbacked) = fate.record;
                println!(
                    "    {kind:?}: trust {:.3}, {tasks} tasks, {golden_right} golden right, {agreed} agreed, {disagreed} disagreed, {backed} backed, {unbacked} not; {:.2}% of the final spend",
                    fate.trust,
                    100.0 * share(fate.earned)
                );
            }
        }
        if !RESTRICTED.contains(&group) {
            continue;
        }
        for (kind, fate) in &members {
            let tasks = fate.tasks_at_restriction.unwrap_or(-1);
            let at = fate.earned_at_restriction.unwrap_or(-1);
            let spent = fate.spent_at_restriction.unwrap_or(-1);
            println!(
                "    {kind:?}: restricted after {tasks} tasks, paid for {}, having earned {:.2}% of the {:.2} paid by then; {:.2}% of the final spend",
                at / REWARD,
                100.0 * at as f64 / spent.max(1) as f64,
                spent as f64 / 1e6,
                100.0 * share(fate.earned)
            );
            assert!(fate.restricted, "{group} not restricted: {kind:?}");
            assert!(
                fate.earned_at_restriction.is_some(),
                "{group} restricted but never told so"
            );
            // Restricted means no more pay: pending answers are voided, nothing is credited.
            assert_eq!(
                fate.earned, at,
                "{group} paid after its restriction (had {at})"
            );
            // Caught early (within the tasks docs/relay.md states), having been paid for under
            // half of its tasks by then (an honest contributor is paid for most of theirs),
            // and under 1.5% of what the campaign paid in all.
            assert!(tasks <= 80, "{group} restricted only after {tasks} tasks");
            assert!(
                at * 2 < tasks * REWARD,
                "{group} had earned {at} for {tasks} tasks when restricted"
            );
            assert!(
                share(fate.earned) < 0.015,
                "{group} earned {} of what was paid",
                share(fate.earned)
            );
            restricted_after.push(tasks);
        }
    }
    let adversaries: i64 = ["bot", "spammer", "colluder", "golden-wise"]
        .iter()
        .map(|g| earned_by[g])
        .sum();
    let held = held_per_group(&run).await;
    println!(
        "adversaries together: {:.2}% of what was paid; rewards still held at the end: {held:?}",
        100.0 * share(adversaries)
    );
    let honest_backing: Vec<String> = run
        .crowd
        .iter()
        .zip(&run.fates)
        .filter(|(k, _)| matches!(k, Kind::Honest(_)))
        .map(|(k, f)| format!("{k:?} {}/{}", f.record.4, f.record.4 + f.record.5))
        .collect();
    println!("honest backed: {}", honest_backing.join(", "));
    let bots_and_spammers = share(earned_by["bot"] + earned_by["spammer"]);
    println!(
        "bots and spammers: {:.2}% of what was paid ({:.2} of {:.2}); bots, spammers and colluders restricted after {:.1} tasks on average (at most {})",
        100.0 * bots_and_spammers,
        (earned_by["bot"] + earned_by["spammer"]) as f64 / 1e6,
        run.spent as f64 / 1e6,
        restricted_after.iter().sum::<i64>() as f64 / restricted_after.len() as f64,
        restricted_after.iter().max().unwrap(),
    );
    // Pay is held until a wallet's record is known and good (docs/relay.md §4a): bots,
    // spammers and colluders are restricted before theirs is, and earn nothing (4.9% and 2.2%
    // before the hold).
    assert!(
        bots_and_spammers < 0.005,
        "bots and spammers earned {bots_and_spammers} of what was paid"
    );
    assert!(
        share(earned_by["colluder"]) < 0.005,
        "colluders earned {} of what was paid",
        share(earned_by["colluder"])
    );
    // The goal: 2% for all adversaries together (14.6% before the hold, 4.4% with it while
    // answers still waiting for their items did not count against a record: golden-wise bots
    // were paid on the agreeing items, decided first).
    assert!(
        share(adversaries) < 0.02,
        "adversaries earned {} of what was paid",
        share(adversaries)
    );
    // And every honest contributor is paid by the end: none has a reward still held.
    assert!(
        !held.contains_key("honest"),
        "honest contributors with rewards held at the end: {held:?}"
    );
    // Closing settles what golden-wise bots still have held: given back, not paid, so the
    // adversaries' share stays under the goal after the close too.
    let unproven = close_and_settle(&run).await;
    let mut after = HashMap::new();
    for (kind, worker) in run.crowd.iter().zip(&run.workers) {
        *after.entry(kind.group()).or_insert(0) += units_of(&run.net, worker).await;
    }
    let spent_after: i64 = after.values().sum();
    let adversaries_after: i64 = ["bot", "spammer", "colluder", "golden-wise"]
        .iter()
        .map(|g| after.get(g).copied().unwrap_or(0))
        .sum();
    println!(
        "after the close: adversaries {:.2}% of what was paid; given back as unproven: {unproven:?}",
        100.0 * adversaries_after as f64 / spent_after.max(1) as f64
    );
    assert!(
        (adversaries_after as f64) < 0.02 * spent_after as f64,
        "after the close adversaries earned {adversaries_after} of {spent_after}"
    );
    assert!(
        !unproven.contains_key("honest"),
        "honest pay given back at the close: {unproven:?}"
    );
    // Known limit (docs/relay.md): a bot that knows the golden items and answers the rest at
    // random is not restricted — agreement on ordinary items alone does not bring its trust
    // down. What holds: each is paid less than the average honest contributor.
    let honest_each = earned_by["honest"] / i64::try_from(honest).unwrap();
    for (kind, fate) in run.crowd.iter().zip(&run.fates) {
        if *kind == Kind::GoldenWise {
            assert!(
                fate.earned < honest_each,
                "a golden-wise bot earned {} against {honest_each} for an honest contributor",
                fate.earned
            );
        }
    }

    assert!(
        run.accepted.len() >= items * 9 / 10,
        "{} items accepted",
        run.accepted.len()
    );
    assert!(
        relay_acc >= majority_acc,
        "relay {relay_acc} < majority {majority_acc}"
    );
    assert!(
        batch_acc >= majority_acc,
        "batch Dawid–Skene {batch_acc} < majority {majority_acc}"
    );
    // docs/relay.md: online Dawid–Skene, deciding each item when its answers are in, comes
    // within two points of the batch EM run at the end over the same answers.
    assert!(
        relay_acc >= batch_acc - 0.02,
        "relay {relay_acc} below batch Dawid–Skene {batch_acc}"
    );
    let honest_restricted = run
        .crowd
        .iter()
        .zip(&run.fates)
        .filter(|(k, f)| matches!(k, Kind::Honest(_)) && f.restricted)
        .count();
    assert_eq!(honest_restricted, 0, "honest contributors restricted");
}

/// How often an honest contributor is restricted, over enough of them to tell a rate of 1% from
/// one of 3%: 300 honest contributors (accuracy 0.70 to 0.95, as in the mixed crowd) do 20 tasks
/// each (a golden item in five). Restricted ones are counted, `X` of `n = 300`; the test allows
/// `X ≤ 5`. Were each restricted independently with probability `p`, `X` would be binomial:
/// `P(X ≤ 5)` is 0.92 for `p = 1%` and 0.11 for `p = 3%` (0.02 for `p = 4%`), so a rate of 3%
/// fails this test nine times in ten and a rate of 1% passes it nine times in ten.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_contributors_are_rarely_restricted() {
    let n = 300;
    let crowd: Vec<Kind> = (0..n)
        .map(|i| Kind::Honest(0.7 + 0.25 * f64::from(i % 30) / 29.0))
        .collect();
    let started = std::time::Instant::now();
    let run = run_crowd(0x5EED, crowd, 1400, 40, Some(20)).await;
    let restricted: Vec<&Kind> = run
        .crowd
        .iter()
        .zip(&run.fates)
        .filter(|(_, f)| f.restricted)
        .map(|(k, _)| k)
        .collect();
    // Twenty tasks are few for a record to clear on backing (docs/relay.md §4a): said, not held.
    let held = held_per_group(&run).await;
    println!(
        "honest crowd: {} of {n} restricted {restricted:?}; {} items accepted; wallets with rewards still held at the end, and those rewards: {held:?}; {:.1} s",
        restricted.len(),
        run.accepted.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        restricted.len() <= 5,
        "{} of {n} honest contributors restricted: {restricted:?}",
        restricted.len()
    );
    // What twenty tasks left held is settled when the campaign closes: paid where the record is
    // more likely careful than random, given back where sixteen-odd answers happened to agree
    // no more often than chance's would (measured: 8 of 300 wallets, 96 of 6 000 answers; the
    // price of not paying golden-wise bots at the close, docs/relay.md §4a).
    let unproven = close_and_settle(&run).await;
    let (wallets, rewards) = unproven.get("honest").copied().unwrap_or((0, 0));
    println!("honest crowd closed: {wallets} of {n} wallets had {rewards} held rewards given back");
    assert!(
        u32::try_from(wallets).unwrap() * 100 <= n * 5,
        "{wallets} of {n} honest wallets had held pay given back at the close"
    );
}
