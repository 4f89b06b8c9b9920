//! Cheaters against the relay (issue 17), each attack through the router on SQLite and on
//! PostgreSQL, each failing against the relay before its hole was closed: throw-away wallets
//! learning golden items from statuses, settlement or skips; new wallets taking a campaign's
//! worth of tasks before any answer is checked; one network hoarding a campaign's leases; images
//! over plain http.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use common::*;
use datahub_core::SecretKey;
use serde_json::{Value, json};

fn verdict(v: &str) -> Value {
    json!({ "verdict": v })
}

/// `n` golden items ("gold 0", ...) whose known verdict is `answer`.
fn golden(n: usize, answer: &str) -> Value {
    json!(
        (0..n)
            .map(|i| json!({ "item": { "text": format!("gold {i}") }, "answer": verdict(answer) }))
            .collect::<Vec<_>>()
    )
}

/// The campaign's quality report row of `worker`.
async fn record_of(net: &Net, owner: &SecretKey, campaign: &str, worker: &Worker) -> Value {
    let path = format!("/v1/campaigns/{campaign}/quality");
    let (status, report) = net.call(net.signed_get(owner, &path)).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let address = format!("0x{}", hex::encode(worker.address().as_bytes()));
    report["contributors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == address.as_str())
        .cloned()
        .unwrap_or(Value::Null)
}

both!(
    throw_away_wallets_cannot_tell_golden_items_from_statuses,
    |net| {
        let owner = key("owner");
        // Overlap 3, half of every contributor's tasks golden; nobody restricted or on probation,
        // so that every wallet keeps answering and every status is seen.
        let mut spec = campaign_spec("learn", &owner, 6, 3, "100");
        spec["golden"] = golden(6, "false");
        spec["golden_share"] = json!(0.5);
        spec["min_trust"] = json!(0.0);
        spec["probation_tasks"] = json!(1000);
        let (status, body) = net.create_campaign(&owner, &spec).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let mut wallets = Vec::new();
        for i in 0..6 {
            wallets.push(Worker::sign_in(&net, &format!("throw-away {i}")).await);
        }
        // The attacker's notes: per item, the answers given in its current group and every status
        // seen at submission.
        let mut group: HashMap<String, usize> = HashMap::new();
        let mut golden_settled = 0;
        for _round in 0..6 {
            for w in &mut wallets {
                let (status, task) = w.next(&net, "learn").await;
                if status == StatusCode::NOT_FOUND {
                    assert_eq!(task["error"], "no_task", "{task}");
                    continue;
                }
                assert_eq!(status, StatusCode::OK, "{task}");
                let text = task["item"]["text"].as_str().unwrap().to_owned();
                let lease = task["lease"].as_str().unwrap().to_owned();
                let body = w.submission(&net, "learn", &lease, &verdict("true"));
                let (status, outcome) = w.submit(&net, &body).await;
                assert_eq!(status, StatusCode::OK, "{outcome}");
                let answers = group.entry(text.clone()).or_default();
                *answers += 1;
                if outcome["status"] == "pending" {
                    continue;
                }
                // Settled: only ever by the answer that completes a group of three, golden or not
                // (before, a golden answer came back settled at once, alone).
                assert_eq!(*answers, 3, "{text} settled by answer {answers}: {outcome}");
                *answers = 0;
                if text.starts_with("gold") {
                    assert_eq!(outcome["status"], "rejected", "{text}: {outcome}");
                    golden_settled += 1;
                } else {
                    assert_eq!(outcome["status"], "accepted", "{text}: {outcome}");
                }
            }
        }
        // Golden items were handed out and checked, in groups, not skipped by the test.
        assert!(golden_settled >= 2, "{group:?}");
        let mut wrong = 0;
        for w in &wallets {
            wrong += record_of(&net, &owner, "learn", w).await["golden_wrong"]
                .as_i64()
                .unwrap_or(0);
        }
        assert_eq!(
            wrong,
            3 * golden_settled,
            "every settled golden answer counted"
        );
        assert_ledger_balanced(&net).await;
    }
);

both!(
    skipping_or_dropping_a_golden_item_costs_a_wrong_answer,
    |net| {
        let owner = key("owner");
        // Every task golden while golden items are left, then the ordinary ones.
        let mut spec = campaign_spec("skip-gold", &owner, 2, 1, "10");
        spec["golden"] = golden(2, "false");
        spec["golden_share"] = json!(1.0);
        net.create_campaign(&owner, &spec).await;
        let prober = Worker::sign_in(&net, "prober").await;
        let (status, task) = prober.next(&net, "skip-gold").await;
        assert_eq!(status, StatusCode::OK, "{task}");
        assert!(task["item"]["text"].as_str().unwrap().starts_with("gold"));
        let lease = task["lease"].as_str().unwrap();
        let (status, _) = net
            .post(
                &format!("/v1/leases/{lease}/skip"),
                Some(&prober.token),
                &json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let record = record_of(&net, &owner, "skip-gold", &prober).await;
        assert_eq!(record["golden_wrong"], 1, "a skipped golden item: {record}");
        // The second golden item is left to run out (its expiry moved into the past, as if the
        // lease time had passed); the next request sweeps it.
        let (status, task) = prober.next(&net, "skip-gold").await;
        assert_eq!(status, StatusCode::OK, "{task}");
        assert!(task["item"]["text"].as_str().unwrap().starts_with("gold"));
        let lease = task["lease"].as_str().unwrap().to_owned();
        net.relay()
            .db
            .write(move |conn: &mut dyn datahub_relay::db::Conn| {
                conn.execute(
                    "UPDATE leases SET expires_ms = 0 WHERE id = $1",
                    datahub_relay::params![lease],
                )
            })
            .await
            .unwrap();
        let (status, task) = prober.next(&net, "skip-gold").await;
        assert_eq!(status, StatusCode::OK, "{task}");
        let record = record_of(&net, &owner, "skip-gold", &prober).await;
        assert_eq!(
            record["golden_wrong"], 2,
            "a golden item let run out: {record}"
        );
        // Skipping an ordinary item costs nothing.
        assert!(task["item"]["text"].as_str().unwrap().starts_with("item"));
        let lease = task["lease"].as_str().unwrap();
        net.post(
            &format!("/v1/leases/{lease}/skip"),
            Some(&prober.token),
            &json!({}),
        )
        .await;
        let record = record_of(&net, &owner, "skip-gold", &prober).await;
        assert_eq!(record["golden_wrong"], 2, "{record}");
        assert_ledger_balanced(&net).await;
    }
);

both!(
    new_wallets_take_few_tasks_until_an_answer_is_confirmed,
    |net| {
        let owner = key("owner");
        let mut spec = campaign_spec("probe", &owner, 10, 1, "10");
        spec["golden"] = golden(10, "false");
        spec["golden_share"] = json!(0.5);
        spec["probation_tasks"] = json!(2);
        let (status, body) = net.create_campaign(&owner, &spec).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["quality"]["probation_tasks"], 2, "{body}");
        // A bot answering "true" to everything is wrong on every golden item: two tasks, no more.
        let mut bot = Worker::sign_in(&net, "fresh bot").await;
        for _ in 0..2 {
            let (status, outcome) = bot.work(&net, "probe", &verdict("true")).await;
            assert_eq!(status, StatusCode::OK, "{outcome}");
        }
        let (status, body) = bot.next(&net, "probe").await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::TOO_MANY_REQUESTS, Some("probation")),
            "{body}"
        );
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("until one of their answers is confirmed right"),
            "{body}"
        );
        // Someone who gets the golden item in their first two tasks right goes on.
        let mut honest = Worker::sign_in(&net, "fresh honest").await;
        for _ in 0..4 {
            let (status, task) = honest.next(&net, "probe").await;
            assert_eq!(status, StatusCode::OK, "{task}");
            let text = task["item"]["text"].as_str().unwrap();
            let answer = if text.starts_with("gold") {
                "false"
            } else {
                "true"
            };
            let body = honest.submission(
                &net,
                "probe",
                task["lease"].as_str().unwrap(),
                &verdict(answer),
            );
            let (status, outcome) = honest.submit(&net, &body).await;
            assert_eq!(status, StatusCode::OK, "{outcome}");
        }
        assert_ledger_balanced(&net).await;
    }
);

/// `POST /v1/campaigns/{campaign}/next` for `worker`, as if from `ip`.
async fn next_from(net: &Net, worker: &Worker, campaign: &str, ip: &str) -> (StatusCode, Value) {
    let ip: IpAddr = ip.parse().unwrap();
    let request = Request::post(format!("/v1/campaigns/{campaign}/next"))
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {}", worker.token))
        .extension(ConnectInfo(SocketAddr::new(ip, 40_000)))
        .body(Body::from("{}"))
        .unwrap();
    net.call(request).await
}

mod hoarding {
    use super::*;

    async fn one_network_cannot_hoard_a_campaigns_leases(net: Net) {
        let owner = key("owner");
        let spec = campaign_spec("hoard", &owner, 10, 1, "10");
        net.create_campaign(&owner, &spec).await;
        let mut farm = Vec::new();
        for i in 0..4 {
            farm.push(Worker::sign_in(&net, &format!("farm {i}")).await);
        }
        // Three wallets in one /64 (different addresses in it) take the network's three leases.
        let mut leases = Vec::new();
        for (i, w) in farm.iter().take(3).enumerate() {
            let (status, task) = next_from(&net, w, "hoard", &format!("2001:db8:1:2::{i}")).await;
            assert_eq!(status, StatusCode::OK, "{task}");
            leases.push(task["lease"].as_str().unwrap().to_owned());
        }
        // One wallet asking again holds the one lease it has: no second one.
        let (status, again) = next_from(&net, &farm[0], "hoard", "2001:db8:1:2::9").await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(again["lease"], leases[0].as_str());
        // A fourth wallet of the same /64 is refused, from any address in it.
        let (status, body) = next_from(&net, &farm[3], "hoard", "2001:db8:1:2:ffff::1").await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::TOO_MANY_REQUESTS, Some("network_lease_cap")),
            "{body}"
        );
        // Someone on another network is not starved.
        let outsider = Worker::sign_in(&net, "outsider").await;
        let (status, task) = next_from(&net, &outsider, "hoard", "2001:db8:1:3::1").await;
        assert_eq!(status, StatusCode::OK, "{task}");
        // Once one of the farm's leases is given back, the network may take another.
        let (status, _) = net
            .post(
                &format!("/v1/leases/{}/skip", leases[1]),
                Some(&farm[1].token),
                &json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let (status, task) = next_from(&net, &farm[3], "hoard", "2001:db8:1:2::3").await;
        assert_eq!(status, StatusCode::OK, "{task}");
        assert_ledger_balanced(&net).await;
    }

    fn three_per_network(config: &mut datahub_relay::Config) {
        config.limits.leases_per_network = 3;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let net = Net::start_with(Backend::Sqlite, three_per_network).unwrap();
        one_network_cannot_hoard_a_campaigns_leases(net).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let Some(net) = Net::start_with(Backend::Postgres, three_per_network) else {
            return;
        };
        one_network_cannot_hoard_a_campaigns_leases(net).await;
    }
}

both!(images_over_plain_http_are_refused, |net| {
    let owner = key("owner");
    let mut spec = campaign_spec("tracker", &owner, 1, 1, "1");
    spec["items"] = json!([{ "image_url": "http://tracker.example/pixel.png" }]);
    let (status, body) = net.create_campaign(&owner, &spec).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_campaign")),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("plain http is refused: serve the image over https"),
        "{body}"
    );
    spec["items"] = json!([{ "image_url": "https://images.example/cat.png" }]);
    let (status, body) = net.create_campaign(&owner, &spec).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
});

/// An upload campaign naming `validators` (SEC 1 keys in hex).
fn upload_spec(id: &str, owner: &SecretKey, validators: &[&SecretKey]) -> Value {
    let validators: Vec<String> = validators
        .iter()
        .map(|k| hex::encode(k.public_key().to_compressed()))
        .collect();
    json!({
        "id": id,
        "kind": "image_upload",
        "title": "Street photos",
        "instructions": "Take a photo of a street.",
        "items": [{ "prompt": "a photo of a street" }],
        "reward": "0.05",
        "token": "USDT",
        "budget": "1",
        "encryption_key": encryption_key(owner),
        "chains": [CHAIN],
        "upload": { "types": ["image/png"] },
        "validators": validators,
    })
}

mod validators_approved_by_the_operator {
    use super::*;

    async fn a_requester_cannot_judge_its_own_uploads(net: Net) {
        let owner = key("owner");
        let approved = key("approved validator");
        let stranger = key("someone else's key");
        let refusal = |status: StatusCode, body: &Value| {
            assert_eq!(
                (status, body["error"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_campaign")),
                "{body}"
            );
            body["message"].as_str().unwrap().to_owned()
        };
        // The requester as its own validator, even next to an approved one.
        let spec = upload_spec("self-judged", &owner, &[&approved, &owner]);
        let (status, body) = net.create_campaign(&owner, &spec).await;
        assert!(
            refusal(status, &body)
                .starts_with("validators[1]: a requester may not validate its own campaign"),
            "{body}"
        );
        // A key the operator did not approve.
        let spec = upload_spec("flooding", &owner, &[&stranger]);
        let (status, body) = net.create_campaign(&owner, &spec).await;
        let message = refusal(status, &body);
        assert!(
            message.contains("is not a validator approved by this relay's operator"),
            "{message}"
        );
        // An approved one is taken, and listed for requesters to choose from.
        let spec = upload_spec("judged", &owner, &[&approved]);
        let (status, body) = net.create_campaign(&owner, &spec).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (_, info) = net.get("/v1/info", None).await;
        assert_eq!(
            info["approved_validators"],
            json!([approved.public_key().address().to_checksum()])
        );
        assert_eq!(info["open_validators"], false);
    }

    fn approve_one(config: &mut datahub_relay::Config) {
        config.open_validators = false;
        config.approved_validators = vec![
            key("approved validator")
                .public_key()
                .address()
                .to_checksum(),
        ];
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let net = Net::start_with(Backend::Sqlite, approve_one).unwrap();
        a_requester_cannot_judge_its_own_uploads(net).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let Some(net) = Net::start_with(Backend::Postgres, approve_one) else {
            return;
        };
        a_requester_cannot_judge_its_own_uploads(net).await;
    }
}

both!(
    even_an_open_relay_refuses_a_requester_as_its_own_validator,
    |net| {
        let owner = key("owner");
        let spec = upload_spec("self-judged", &owner, &[&owner]);
        let (status, body) = net.create_campaign(&owner, &spec).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_campaign")),
            "{body}"
        );
    }
);

/// The `(status, reason)` of each of `worker`'s submissions, oldest first.
async fn reasons(net: &Net, worker: &Worker) -> Vec<(String, Value)> {
    let (status, history) = net.get("/v1/me/history", Some(&worker.token)).await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let mut out: Vec<(String, Value)> = history["submissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            if s["status"] == "rejected" {
                assert!(s["why"].as_str().is_some_and(|w| !w.is_empty()), "{s}");
            } else {
                assert_eq!(s["why"], Value::Null, "{s}");
            }
            (
                s["status"].as_str().unwrap().to_owned(),
                s["reason"].clone(),
            )
        })
        .collect();
    out.reverse();
    out
}

both!(
    a_contributor_sees_why_an_answer_was_rejected_but_not_if_it_was_golden,
    |net| {
        let owner = key("owner");
        // Overlap 3, every task golden while there are golden items: one golden item's group and
        // one ordinary item, each answered by three wallets, the first of them always wrong.
        let mut spec = campaign_spec("why", &owner, 1, 3, "10");
        spec["golden"] = golden(1, "false");
        spec["golden_share"] = json!(1.0);
        spec["min_trust"] = json!(0.0);
        spec["max_overlap"] = json!(3);
        net.create_campaign(&owner, &spec).await;
        let mut wallets = Vec::new();
        for i in 0..3 {
            wallets.push(Worker::sign_in(&net, &format!("why {i}")).await);
        }
        for _ in 0..2 {
            for (i, w) in wallets.iter_mut().enumerate() {
                let (status, task) = w.next(&net, "why").await;
                assert_eq!(status, StatusCode::OK, "{task}");
                let golden = task["item"]["text"].as_str().unwrap().starts_with("gold");
                // The wrong answer: "true" on the golden item, "false" on the ordinary one.
                let answer = match (i == 0, golden) {
                    (true, true) | (false, false) => "true",
                    _ => "false",
                };
                let body = w.submission(
                    &net,
                    "why",
                    task["lease"].as_str().unwrap(),
                    &verdict(answer),
                );
                let (status, outcome) = w.submit(&net, &body).await;
                assert_eq!(status, StatusCode::OK, "{outcome}");
            }
        }
        // The wrong one was rejected twice, for the same stated reason whether the item was golden
        // or not; the others were accepted twice, with no reason.
        let disagreed = (String::from("rejected"), json!("disagreed"));
        assert_eq!(
            reasons(&net, &wallets[0]).await,
            vec![disagreed.clone(), disagreed]
        );
        for w in &wallets[1..] {
            let accepted = (String::from("accepted"), Value::Null);
            assert_eq!(reasons(&net, w).await, vec![accepted.clone(), accepted]);
        }
        assert_ledger_balanced(&net).await;
    }
);

/// `worker`'s balance of USDT, in ledger units.
async fn units(net: &Net, worker: &Worker) -> i64 {
    let (status, body) = net.get("/v1/me/balances", Some(&worker.token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let amount = body["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["token"] == "USDT")
        .map_or("0", |b| b["amount"].as_str().unwrap());
    datahub_relay::ledger::parse_amount(amount).unwrap()
}

both!(
    appeals_are_answered_by_the_requester_once_and_paid_once,
    |net| {
        let owner = key("owner");
        // One item, overlap 3, max overlap 3: two say true, Alice says false and is outvoted.
        let mut spec = campaign_spec("appealed", &owner, 1, 3, "1");
        spec["max_overlap"] = json!(3);
        spec["min_trust"] = json!(0.0);
        let (status, body) = net.create_campaign(&owner, &spec).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let mut alice = Worker::sign_in(&net, "alice").await;
        let mut bob = Worker::sign_in(&net, "bob").await;
        let mut carol = Worker::sign_in(&net, "carol").await;
        let (_, mine) = alice.work(&net, "appealed", &verdict("false")).await;
        let (_, bobs) = bob.work(&net, "appealed", &verdict("true")).await;
        let (_, settled) = carol.work(&net, "appealed", &verdict("true")).await;
        assert_eq!(settled["status"], "accepted", "{settled}");
        let submission = mine["submission"].as_str().unwrap().to_owned();
        let appeal_body = |s: &str, reason: &str| json!({ "submission": s, "reason": reason });

        // Only the author of a rejected submission appeals it, with a reason, once.
        let (status, body) = net
            .post(
                "/v1/appeals",
                Some(&alice.token),
                &appeal_body(&submission, "  "),
            )
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_appeal")),
            "{body}"
        );
        let (status, body) = net
            .post(
                "/v1/appeals",
                Some(&bob.token),
                &appeal_body(&submission, "hers was right"),
            )
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::NOT_FOUND, Some("no_submission")),
            "{body}"
        );
        let bobs = bobs["submission"].as_str().unwrap();
        let (status, body) = net
            .post(
                "/v1/appeals",
                Some(&bob.token),
                &appeal_body(bobs, "pay me twice"),
            )
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::CONFLICT, Some("not_appealable")),
            "{body}"
        );
        let (status, appeal) = net
            .post(
                "/v1/appeals",
                Some(&alice.token),
                &appeal_body(&submission, "the caption is false: read it again"),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{appeal}");
        assert_eq!(
            (appeal["state"].as_str(), appeal["origin"].as_str()),
            (Some("open"), Some("contributor"))
        );
        let (status, body) = net
            .post(
                "/v1/appeals",
                Some(&alice.token),
                &appeal_body(&submission, "again"),
            )
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::CONFLICT, Some("appeal_exists")),
            "{body}"
        );

        // Strangers neither read the queue nor answer it; the requester and operators do.
        let stranger = key("stranger");
        let id = appeal["id"].as_str().unwrap().to_owned();
        let answer_path = format!("/v1/appeals/{id}");
        let (status, body) = net
            .call(net.signed_get(&stranger, "/v1/campaigns/appealed/appeals"))
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::FORBIDDEN, Some("not_owner")),
            "{body}"
        );
        for worker in [&alice, &bob] {
            let (status, body) = net
                .call(net.signed(
                    &worker.wallet,
                    "POST",
                    &answer_path,
                    &json!({ "uphold": true }),
                ))
                .await;
            assert_eq!(
                (status, body["error"].as_str()),
                (StatusCode::FORBIDDEN, Some("not_owner")),
                "{body}"
            );
        }
        let (status, queue) = net
            .call(net.signed_get(&operator(), "/v1/campaigns/appealed/appeals?state=open"))
            .await;
        assert_eq!(status, StatusCode::OK, "{queue}");
        assert_eq!(queue["appeals"][0]["answer"], verdict("false"), "{queue}");
        assert_eq!(units(&net, &alice).await, 0);

        // Upheld after the campaign closed (its budget back with the requester): paid from the
        // requester's funds, once, however often the answer is sent.
        let (status, body) = net
            .call(net.signed(
                &owner,
                "POST",
                "/v1/campaigns/appealed/status",
                &json!({ "status": "closed" }),
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let funds_before = net.funds(&owner, CHAIN, "USDT").await;
        for round in 0..2 {
            let (status, answered) = net
                .call(net.signed(
                    &owner,
                    "POST",
                    &answer_path,
                    &json!({ "uphold": true, "note": "you were right" }),
                ))
                .await;
            assert_eq!(status, StatusCode::OK, "{answered}");
            assert_eq!(
                (
                    answered["state"].as_str(),
                    answered["submission_status"].as_str()
                ),
                (Some("upheld"), Some("accepted"))
            );
            assert_eq!(answered["duplicate"], round == 1, "{answered}");
            assert_eq!(units(&net, &alice).await, 50_000, "paid once");
        }
        let funds_after = net.funds(&owner, CHAIN, "USDT").await;
        assert_eq!(
            datahub_relay::ledger::parse_amount(&funds_before).unwrap()
                - datahub_relay::ledger::parse_amount(&funds_after).unwrap(),
            50_000,
            "{funds_before} -> {funds_after}"
        );
        let (status, body) = net
            .call(net.signed(
                &operator(),
                "POST",
                &answer_path,
                &json!({ "uphold": false }),
            ))
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::CONFLICT, Some("appeal_decided")),
            "{body}"
        );

        // Alice's standing shows the answer and the appeal.
        let (status, standing) = net.get("/v1/me/standing", Some(&alice.token)).await;
        assert_eq!(status, StatusCode::OK, "{standing}");
        let campaign = &standing["campaigns"][0];
        assert_eq!(
            (
                campaign["accepted"].as_i64(),
                campaign["rejected"].as_i64(),
                campaign["restricted"].as_bool()
            ),
            (Some(1), Some(0), Some(false)),
            "{standing}"
        );
        assert_eq!(standing["appeals"][0]["state"], "upheld", "{standing}");
        assert_eq!(
            standing["appeals"][0]["note"], "you were right",
            "{standing}"
        );
        assert_ledger_balanced(&net).await;
    }
);

both!(a_restricted_contributor_sees_why_in_its_standing, |net| {
    let owner = key("owner");
    // Every task golden, overlap 1: two wrong golden answers restrict at a min trust of 0.9.
    let mut spec = campaign_spec("strict", &owner, 2, 1, "10");
    spec["golden"] = golden(3, "false");
    spec["golden_share"] = json!(1.0);
    spec["min_trust"] = json!(0.9);
    let (status, body) = net.create_campaign(&owner, &spec).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let mut w = Worker::sign_in(&net, "wrong").await;
    let (status, standing) = net.get("/v1/me/standing", Some(&w.token)).await;
    assert_eq!(
        (status, standing["campaigns"].clone()),
        (StatusCode::OK, json!([]))
    );
    let mut restricted = false;
    for _ in 0..3 {
        let (status, body) = w.work(&net, "strict", &verdict("true")).await;
        if status == StatusCode::FORBIDDEN {
            assert_eq!(body["error"], "restricted", "{body}");
            restricted = true;
            break;
        }
    }
    assert!(restricted, "never restricted");
    let (_, standing) = net.get("/v1/me/standing", Some(&w.token)).await;
    let c = &standing["campaigns"][0];
    assert_eq!(c["restricted"], true, "{standing}");
    assert!(
        c["why"]
            .as_str()
            .unwrap()
            .contains("under the campaign's minimum of 0.9"),
        "{standing}"
    );
    assert!(c["trust"].as_f64().unwrap() < 0.9, "{standing}");
    // No golden count of its own: it would name golden items.
    assert!(
        c.get("golden_right").is_none() && c.get("golden_wrong").is_none(),
        "{c}"
    );
    let (status, _) = net.get("/v1/me/standing", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
});

mod an_upload_campaign_must_name_who_checks_its_uploads {
    use super::*;

    async fn nobody_to_check_is_refused(net: Net) {
        let owner = key("owner");
        let validator = key("validator");
        // Before, such a campaign paid every upload at once, whatever bytes arrived.
        let spec = upload_spec("unchecked", &owner, &[]);
        let (status, body) = net.create_campaign(&owner, &spec).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_campaign")),
            "{body}"
        );
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .starts_with("validators: an upload campaign must name who checks its uploads"),
            "{body}"
        );
        let spec = upload_spec("checked", &owner, &[&validator]);
        let (status, body) = net.create_campaign(&owner, &spec).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    fn checked_uploads(config: &mut datahub_relay::Config) {
        config.unchecked_uploads = false;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let net = Net::start_with(Backend::Sqlite, checked_uploads).unwrap();
        nobody_to_check_is_refused(net).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let Some(net) = Net::start_with(Backend::Postgres, checked_uploads) else {
            return;
        };
        nobody_to_check_is_refused(net).await;
    }

    #[test]
    fn only_a_development_relay_may_leave_uploads_unchecked() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path());
        config.validate().unwrap();
        config.dev = false;
        config.chains = Vec::new();
        let error = config.validate().unwrap_err().to_string();
        assert!(
            error.starts_with("unchecked_uploads: only on a development relay"),
            "{error}"
        );
    }
}

both!(
    an_upheld_appeal_lifts_the_restriction_its_rejection_caused,
    |net| {
        let owner = key("owner");
        // Every task golden, overlap 1. One wrong golden answer takes trust from 0.9 to about 0.80,
        // under a min trust of 0.85: that one rejection restricts.
        let mut spec = campaign_spec("overturned", &owner, 2, 1, "10");
        spec["golden"] = golden(3, "false");
        spec["golden_share"] = json!(1.0);
        spec["min_trust"] = json!(0.85);
        let (status, body) = net.create_campaign(&owner, &spec).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let mut w = Worker::sign_in(&net, "overturned").await;
        let (status, rejected) = w.work(&net, "overturned", &verdict("true")).await;
        assert_eq!(status, StatusCode::OK, "{rejected}");
        assert_eq!(rejected["status"], "rejected", "{rejected}");
        let (status, body) = w.next(&net, "overturned").await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::FORBIDDEN, Some("restricted")),
            "{body}"
        );
        let (status, appeal) = net
            .post(
                "/v1/appeals",
                Some(&w.token),
                &json!({ "submission": rejected["submission"], "reason": "the caption is true" }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{appeal}");
        let path = format!("/v1/appeals/{}", appeal["id"].as_str().unwrap());

        // Upheld: the wrong golden answer counts as right, the restriction it caused is lifted.
        let mut after_first = Value::Null;
        for round in 0..2 {
            let (status, answered) = net
                .call(net.signed(&owner, "POST", &path, &json!({ "uphold": true })))
                .await;
            assert_eq!(status, StatusCode::OK, "{answered}");
            assert_eq!(answered["duplicate"], round == 1, "{answered}");
            let record = record_of(&net, &owner, "overturned", &w).await;
            assert_eq!(record["restricted"], false, "{record}");
            assert_eq!(
                (
                    record["golden_right"].as_i64(),
                    record["golden_wrong"].as_i64()
                ),
                (Some(1), Some(0)),
                "{record}"
            );
            assert!(record["trust"].as_f64().unwrap() >= 0.85, "{record}");
            // Upheld twice changes nothing twice.
            if round == 0 {
                after_first = record;
            } else {
                assert_eq!(record, after_first, "the second answer changed the record");
            }
        }
        let (_, standing) = net.get("/v1/me/standing", Some(&w.token)).await;
        let c = &standing["campaigns"][0];
        assert_eq!(
            (c["restricted"].as_bool(), c["why"].is_null()),
            (Some(false), true),
            "{standing}"
        );
        let (status, body) = w.next(&net, "overturned").await;
        assert_eq!(
            status,
            StatusCode::OK,
            "tasks again after the appeal: {body}"
        );
        assert_ledger_balanced(&net).await;
    }
);
