//! Quality through the router on SQLite (and PostgreSQL when available): the requester's
//! results and quality report, adaptive overlap, golden items, restrictions, skip floods and
//! daily caps.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use datahub_core::SecretKey;
use datahub_core::eth::{Signature, SubmissionReceipt, Timestamp, TypedStruct, U256, keccak256};
use datahub_core::request;
use serde_json::{Value, json};

fn verdict(v: &str) -> Value {
    json!({ "verdict": v })
}

/// A GET signed by `key` (empty body), as the CLI sends it.
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

both!(
    a_withdrawal_of_consent_leaves_the_contributions_out_of_the_results,
    |net| {
        let owner = key("owner");
        let spec = campaign_spec("consent", &owner, 2, 2, "10");
        let (status, body) = net.create_campaign(&owner, &spec).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let mut workers = Vec::new();
        for i in 0..2 {
            workers.push(Worker::sign_in(&net, &format!("c{i}")).await);
        }
        for _ in 0..2 {
            for w in &mut workers {
                let (status, task) = w.next(&net, "consent").await;
                assert_eq!(status, StatusCode::OK, "{task}");
                let body = w.submission(
                    &net,
                    "consent",
                    task["lease"].as_str().unwrap(),
                    &verdict("true"),
                );
                let (status, outcome) = w.submit(&net, &body).await;
                assert_eq!(status, StatusCode::OK, "{outcome}");
            }
        }
        let path = "/v1/campaigns/consent/results";
        let (_, page) = signed_get(&net, &owner, path).await;
        assert_eq!(page["records"].as_array().unwrap().len(), 2, "{page}");
        assert_eq!(page["withdrawn"], 0);
        let withdraw = "/v1/me/consent/withdraw";
        let token = Some(workers[0].token.as_str());
        let (status, _) = net
            .post(withdraw, None, &json!({ "campaign": "consent" }))
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, body) = net
            .post(withdraw, token, &json!({ "campaign": "nope" }))
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::NOT_FOUND, Some("no_campaign"))
        );
        let (status, body) = net.post(withdraw, token, &json!({ "campaign": 7 })).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_body")),
            "{body}"
        );
        let (status, body) = net
            .post(withdraw, token, &json!({ "campaign": "consent" }))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["already"], false);
        // Every item had one of its answers: both are left out, and counted.
        let (_, page) = signed_get(&net, &owner, path).await;
        assert_eq!(page["records"], json!([]), "{page}");
        assert_eq!(page["withdrawn"], 2);
        // A withdrawal from every campaign, by the other one: the same two items, counted once.
        let (status, body) = net
            .post(withdraw, Some(&workers[1].token), &json!({}))
            .await;
        assert_eq!(
            (status, &body["campaign"]),
            (StatusCode::OK, &Value::Null),
            "{body}"
        );
        let (_, page) = signed_get(&net, &owner, &format!("{path}?after=0")).await;
        assert_eq!(page["withdrawn"], 2);
        let (status, body) = net
            .post(withdraw, token, &json!({ "campaign": "consent" }))
            .await;
        assert_eq!(
            (status, body["already"].as_bool()),
            (StatusCode::OK, Some(true))
        );
    }
);

const TERMS: &str = "My answers may be released under CC-BY-4.0.\n我的答案可以按 CC-BY-4.0 发布。";

both!(a_receipt_must_sign_the_campaigns_licence_and_terms, |net| {
    let owner = key("owner");
    let mut spec = campaign_spec("terms", &owner, 1, 1, "10");
    spec["licence"] = json!("CC-BY-4.0");
    spec["terms"] = json!(TERMS);
    let (status, body) = net.create_campaign(&owner, &spec).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let hash = SubmissionReceipt::terms_hash(Some(TERMS));
    let (_, shown) = net.get("/v1/campaigns/terms", None).await;
    assert_eq!(shown["licence"], "CC-BY-4.0");
    assert_eq!(shown["terms"], TERMS);
    assert_eq!(shown["terms_hash"], format!("0x{}", hex::encode(hash)));
    let mut w = Worker::sign_in(&net, "t0").await;
    let (status, task) = w.next(&net, "terms").await;
    assert_eq!(status, StatusCode::OK, "{task}");
    let lease = task["lease"].as_str().unwrap();
    let answer = verdict("true");
    let refused = |body: Value| {
        assert_eq!(body["error"], "terms_not_accepted", "{body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains(&hex::encode(hash)),
            "{body}"
        );
    };
    // An old client: no consent at all.
    w.nonce += 1;
    let body = consenting_body(
        &w.session_key,
        "terms",
        lease,
        &answer,
        w.nonce,
        &domain(&net),
        "",
        None,
    );
    let (status, outcome) = w.submit(&net, &body).await;
    assert_eq!(status, StatusCode::CONFLICT);
    refused(outcome);
    // Other terms than the campaign's (an edited text), or another licence.
    for (licence, terms) in [
        ("CC-BY-4.0", "My answers may be released."),
        ("CC0-1.0", TERMS),
    ] {
        w.nonce += 1;
        let body = consenting_body(
            &w.session_key,
            "terms",
            lease,
            &answer,
            w.nonce,
            &domain(&net),
            licence,
            Some(terms),
        );
        let (status, outcome) = w.submit(&net, &body).await;
        assert_eq!(status, StatusCode::CONFLICT);
        refused(outcome);
    }
    // The campaign's terms in the body, but a receipt signed without them: the body is not
    // what was signed.
    w.nonce += 1;
    let mut body = consenting_body(
        &w.session_key,
        "terms",
        lease,
        &answer,
        w.nonce,
        &domain(&net),
        "",
        None,
    );
    body["licence"] = json!("CC-BY-4.0");
    body["terms_hash"] = json!(hex::encode(hash));
    let (status, outcome) = w.submit(&net, &body).await;
    assert_eq!(
        (status, outcome["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("bad_signature")),
        "{outcome}"
    );
    body["terms_hash"] = json!("12");
    let (status, outcome) = w.submit(&net, &body).await;
    assert_eq!(
        (status, outcome["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_receipt")),
        "{outcome}"
    );
    // Consent given: accepted, and the results carry the receipt, checkable without the relay.
    w.nonce += 1;
    let body = consenting_body(
        &w.session_key,
        "terms",
        lease,
        &answer,
        w.nonce,
        &domain(&net),
        "CC-BY-4.0",
        Some(TERMS),
    );
    let (status, outcome) = w.submit(&net, &body).await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    assert_eq!(outcome["status"], "accepted");
    let (_, page) = signed_get(&net, &owner, "/v1/campaigns/terms/results").await;
    let signed = &page["records"][0]["receipts"][0];
    assert_eq!(
        signed["contributor"],
        format!("0x{}", hex::encode(w.address().as_bytes()))
    );
    let r = &signed["receipt"];
    let m = &r["message"];
    let hex32 = |v: &Value| -> [u8; 32] {
        hex::decode(v.as_str().unwrap().trim_start_matches("0x"))
            .unwrap()
            .try_into()
            .unwrap()
    };
    let rebuilt = SubmissionReceipt {
        campaign: m["campaign"].as_str().unwrap().into(),
        task: m["task"].as_str().unwrap().into(),
        answer_hash: hex32(&m["answerHash"]),
        manifest_id: hex32(&m["manifestId"]),
        nonce: U256::parse(m["nonce"].as_str().unwrap()).unwrap(),
        deadline: m["deadline"].as_str().unwrap().parse().unwrap(),
        licence: m["licence"].as_str().unwrap().into(),
        terms_hash: hex32(&m["termsHash"]),
    };
    assert_eq!(rebuilt.licence, "CC-BY-4.0");
    assert_eq!(rebuilt.terms_hash, hash);
    assert_eq!(
        rebuilt.answer_hash,
        keccak256(r["answer"].as_str().unwrap().as_bytes())
    );
    let d = &r["domain"];
    assert_eq!(d["chainId"], CHAIN);
    let expected = domain(&net);
    assert_eq!(
        d["verifyingContract"].as_str().unwrap().to_lowercase(),
        expected.verifying_contract.to_checksum().to_lowercase()
    );
    let signature = Signature::from_hex(r["signature"].as_str().unwrap()).unwrap();
    let signer = rebuilt.recover(&expected, &signature).unwrap();
    assert_eq!(signer, w.session_key.public_key().address());
    assert_eq!(r["signer"], format!("0x{}", hex::encode(signer.as_bytes())));
    assert_eq!(r["submission"], outcome["submission"]);
});

both!(
    licences_and_terms_are_checked_when_a_campaign_is_made,
    |net| {
        let owner = key("owner");
        let cases = [
            (
                json!({ "licence": "CC BY 4.0" }),
                "licence: an SPDX licence id",
            ),
            (
                json!({ "licence": "other" }),
                "licence_url: licence \"other\" needs",
            ),
            (
                json!({ "licence": "other", "licence_url": "http://example.org/l" }),
                "licence_url: licence \"other\" needs",
            ),
            (
                json!({ "licence": "MIT", "licence_url": "https://example.org/l" }),
                "licence_url: only with licence \"other\"",
            ),
            (
                json!({ "licence_url": "https://example.org/l" }),
                "licence_url: only with licence \"other\"",
            ),
            (json!({ "terms": "  " }), "terms: 1 to 20000 bytes"),
            (
                json!({ "terms": "x".repeat(20_001) }),
                "terms: 1 to 20000 bytes",
            ),
        ];
        for (i, (fields, message)) in cases.into_iter().enumerate() {
            let mut spec = campaign_spec(&format!("lic-{i}"), &owner, 1, 1, "1");
            for (k, v) in fields.as_object().unwrap() {
                spec[k] = v.clone();
            }
            let (status, body) = net.create_campaign(&owner, &spec).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{fields}: {body}");
            assert_eq!(body["error"], "invalid_campaign");
            assert!(
                body["message"].as_str().unwrap().starts_with(message),
                "{fields}: {body}"
            );
        }
        let mut spec = campaign_spec("lic-ok", &owner, 1, 1, "1");
        spec["licence"] = json!("other");
        spec["licence_url"] = json!("https://example.org/licence");
        let (status, body) = net.create_campaign(&owner, &spec).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["licence_url"], "https://example.org/licence");
    }
);

both!(results_list_accepted_items_in_order, |net| {
    let owner = key("owner");
    // Four items, three answers each, no golden; the aggregate decides at three answers.
    let mut spec = campaign_spec("res", &owner, 4, 3, "10");
    spec["confidence"] = json!(0.9);
    let (status, body) = net.create_campaign(&owner, &spec).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["quality"]["aggregation"], "dawid_skene");
    assert_eq!(body["quality"]["max_overlap"], 6);
    let mut workers = Vec::new();
    for i in 0..3 {
        workers.push(Worker::sign_in(&net, &format!("r{i}")).await);
    }
    // Everyone answers "true" for items 0, 1 and 3 and "false" for item 2, one item at a time.
    for _ in 0..4 {
        for w in &mut workers {
            let (status, task) = w.next(&net, "res").await;
            assert_eq!(status, StatusCode::OK, "{task}");
            let answer = if task["item"]["text"] == "item number 2" {
                "false"
            } else {
                "true"
            };
            let body = w.submission(
                &net,
                "res",
                task["lease"].as_str().unwrap(),
                &verdict(answer),
            );
            let (status, outcome) = w.submit(&net, &body).await;
            assert_eq!(status, StatusCode::OK, "{outcome}");
        }
    }
    let (status, page) = signed_get(&net, &owner, "/v1/campaigns/res/results?limit=3").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["campaign"], "res");
    assert_eq!(page["kind"], "content_verification");
    let records = page["records"].as_array().unwrap();
    assert_eq!(records.len(), 3);
    let indexes: Vec<i64> = records
        .iter()
        .map(|r| r["index"].as_i64().unwrap())
        .collect();
    assert_eq!(indexes, [0, 1, 2]);
    assert_eq!(records[2]["answer"], verdict("false"));
    assert_eq!(records[2]["item"], json!({ "text": "item number 2" }));
    assert_eq!(records[0]["method"], "dawid_skene");
    assert!(records[0]["confidence"].as_f64().unwrap() >= 0.9);
    assert_eq!(records[0]["contributors"].as_array().unwrap().len(), 3);
    assert_eq!(records[0]["object"], Value::Null);
    assert_eq!(page["next"], 2);
    let (_, rest) = signed_get(&net, &owner, "/v1/campaigns/res/results?after=2&limit=3").await;
    assert_eq!(rest["records"].as_array().unwrap().len(), 1);
    assert_eq!(rest["records"][0]["index"], 3);
    assert_eq!(rest["next"], Value::Null);
    // Only the owner; limits are checked.
    let (status, body) = signed_get(&net, &key("stranger"), "/v1/campaigns/res/results").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("not_owner"))
    );
    let (status, _) = signed_get(&net, &owner, "/v1/campaigns/res/results?limit=1001").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = net.get("/v1/campaigns/res/results", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The quality report.
    let (status, report) = signed_get(&net, &owner, "/v1/campaigns/res/quality").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["items"]["accepted"], 4);
    assert_eq!(report["method"], "dawid_skene");
    let contributors = report["contributors"].as_array().unwrap();
    assert_eq!(contributors.len(), 3);
    assert!(
        contributors
            .iter()
            .all(|c| c["agreed"] == 4 && c["restricted"] == false),
        "{report}"
    );
});

fn golden(n: usize, answer: &str) -> Value {
    json!(
        (0..n)
            .map(|i| json!({ "item": { "text": format!("gold {i}") }, "answer": verdict(answer) }))
            .collect::<Vec<_>>()
    )
}

async fn report_of(net: &Net, owner: &SecretKey, campaign: &str, worker: &Worker) -> Value {
    let (status, report) =
        signed_get(net, owner, &format!("/v1/campaigns/{campaign}/quality")).await;
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

both!(adaptive_overlap_asks_until_confident, |net| {
    let owner = key("owner");
    let mut spec = campaign_spec("adapt", &owner, 1, 3, "10");
    spec["max_overlap"] = json!(4);
    net.create_campaign(&owner, &spec).await;
    let mut workers = Vec::new();
    for i in 0..5 {
        workers.push(Worker::sign_in(&net, &format!("a{i}")).await);
    }
    // Two against one is not 0.9 sure for contributors nobody knows yet: a fourth is asked for.
    let mut outcomes = Vec::new();
    for (w, answer) in workers.iter_mut().zip(["true", "false", "true", "true"]) {
        let (status, outcome) = w.work(&net, "adapt", &verdict(answer)).await;
        assert_eq!(status, StatusCode::OK, "{outcome}");
        outcomes.push(outcome);
    }
    let statuses: Vec<&str> = outcomes
        .iter()
        .map(|o| o["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["pending", "pending", "pending", "accepted"]);
    // The ones who agreed were credited in that request; the other was not.
    let (_, history) = net.get("/v1/me/history", Some(&workers[1].token)).await;
    assert_eq!(history["submissions"][0]["status"], "rejected");
    let (_, balances) = net.get("/v1/me/balances", Some(&workers[0].token)).await;
    assert_eq!(balances["balances"][0]["amount"], "0.05");
    // The item is done: nobody else gets it.
    let (status, _) = workers[4].next(&net, "adapt").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, page) = signed_get(&net, &owner, "/v1/campaigns/adapt/results").await;
    let record = &page["records"][0];
    assert_eq!(record["answer"], verdict("true"));
    assert_eq!(record["contributors"].as_array().unwrap().len(), 3);
    assert!(record["confidence"].as_f64().unwrap() >= 0.9, "{record}");
    assert_ledger_balanced(&net).await;
});

both!(at_the_cap_the_most_probable_answer_is_accepted, |net| {
    let owner = key("owner");
    let mut spec = campaign_spec("capped", &owner, 1, 2, "10");
    spec["max_overlap"] = json!(3);
    spec["aggregation"] = json!("majority");
    net.create_campaign(&owner, &spec).await;
    let mut outcomes = Vec::new();
    for (i, answer) in ["false", "true", "false"].iter().enumerate() {
        let mut w = Worker::sign_in(&net, &format!("c{i}")).await;
        let (_, outcome) = w.work(&net, "capped", &verdict(answer)).await;
        outcomes.push(outcome["status"].as_str().unwrap().to_owned());
    }
    // The third answer is the last allowed: two to one is accepted, however unsure.
    assert_eq!(outcomes, ["pending", "pending", "accepted"]);
    let (_, page) = signed_get(&net, &owner, "/v1/campaigns/capped/results").await;
    let record = &page["records"][0];
    assert_eq!(record["answer"], verdict("false"));
    assert_eq!(record["method"], "majority");
    assert!(
        (record["confidence"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-6,
        "{record}"
    );
    assert_ledger_balanced(&net).await;
});

both!(golden_items_are_mixed_in_and_never_repeated, |net| {
    let owner = key("owner");
    let mut spec = campaign_spec("mixed", &owner, 3, 1, "10");
    spec["golden"] = golden(3, "false");
    spec["golden_share"] = json!(0.5);
    net.create_campaign(&owner, &spec).await;
    let mut worker = Worker::sign_in(&net, "mixer").await;
    let mut seen = Vec::new();
    loop {
        let (status, task) = worker.next(&net, "mixed").await;
        if status != StatusCode::OK {
            assert_eq!(task["error"], "no_task", "{task}");
            break;
        }
        let text = task["item"]["text"].as_str().unwrap().to_owned();
        assert!(!seen.contains(&text), "{text} twice");
        // Golden items look like any other; this contributor gets the first one wrong.
        let answer = if text == "gold 0" || !text.starts_with("gold") {
            "true"
        } else {
            "false"
        };
        let body = worker.submission(
            &net,
            "mixed",
            task["lease"].as_str().unwrap(),
            &verdict(answer),
        );
        let (_, outcome) = worker.submit(&net, &body).await;
        let expected = if text == "gold 0" {
            "rejected"
        } else {
            "accepted"
        };
        assert_eq!(outcome["status"], expected, "{text}: {outcome}");
        seen.push(text);
    }
    let golden_seen = seen.iter().filter(|t| t.starts_with("gold")).count();
    // Half of the tasks, give or take where the turns fell, and no more than there are.
    assert!((2..=3).contains(&golden_seen), "{seen:?}");
    assert_eq!(seen.len() - golden_seen, 3, "{seen:?}");
    let record = report_of(&net, &owner, "mixed", &worker).await;
    assert_eq!(
        (
            record["golden_right"].as_i64(),
            record["golden_wrong"].as_i64()
        ),
        (Some(golden_seen as i64 - 1), Some(1)),
        "{record}"
    );
    // Below what the right ones alone would give (0.9 → 0.975 after two).
    assert!(record["trust"].as_f64().unwrap() < 0.96, "{record}");
    // Golden items are never in the results.
    let (_, page) = signed_get(&net, &owner, "/v1/campaigns/mixed/results").await;
    let methods: Vec<&str> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods, ["single", "single", "single"]);
    assert_ledger_balanced(&net).await;
});

both!(untrusted_contributors_are_restricted_and_not_paid, |net| {
    let owner = key("owner");
    let mut spec = campaign_spec("strict", &owner, 20, 3, "100");
    spec["golden"] = golden(20, "false");
    spec["golden_share"] = json!(0.5);
    spec["probation_tasks"] = json!(1000);
    net.create_campaign(&owner, &spec).await;
    // On overlap 3 a golden answer waits like any other until its item has three, so the liar
    // works next to two honest contributors, who say "false" to everything.
    let mut bot = Worker::sign_in(&net, "liar").await;
    let mut honest = vec![
        Worker::sign_in(&net, "honest 1").await,
        Worker::sign_in(&net, "honest 2").await,
    ];
    let mut restricted = None;
    'rounds: for n in 0..40 {
        let (status, task) = bot.next(&net, "strict").await;
        if status == StatusCode::FORBIDDEN {
            assert_eq!(task["error"], "restricted", "{task}");
            restricted = Some(n);
            break 'rounds;
        }
        assert_eq!(status, StatusCode::OK, "{task}");
        // Always "true": wrong on every golden item and outvoted on every real one.
        let body = bot.submission(
            &net,
            "strict",
            task["lease"].as_str().unwrap(),
            &verdict("true"),
        );
        let (status, outcome) = bot.submit(&net, &body).await;
        assert_eq!(status, StatusCode::OK, "{outcome}");
        assert_ne!(outcome["status"], "accepted", "{outcome}");
        for h in &mut honest {
            let (status, outcome) = h.work(&net, "strict", &verdict("false")).await;
            assert_eq!(status, StatusCode::OK, "{outcome}");
        }
    }
    assert!(restricted.is_some(), "never restricted");
    let record = report_of(&net, &owner, "strict", &bot).await;
    assert_eq!(record["restricted"], true);
    assert_eq!(record["reason"], "low_trust");
    // Its pending answers were voided: none paid, none waiting.
    assert_eq!(record["pending"], 0, "{record}");
    assert_eq!(record["accepted"], 0, "{record}");
    let (_, balances) = net.get("/v1/me/balances", Some(&bot.token)).await;
    assert!(
        balances["balances"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["amount"] == "0"),
        "{balances}"
    );
    // The honest ones are not restricted and go on.
    for h in &mut honest {
        let record = report_of(&net, &owner, "strict", h).await;
        assert_eq!(record["restricted"], false, "{record}");
        let (status, _) = h.work(&net, "strict", &verdict("false")).await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_ledger_balanced(&net).await;
});

both!(skip_floods_cool_down_and_daily_caps_hold, |net| {
    let owner = key("owner");
    let mut spec = campaign_spec("skippy", &owner, 10, 1, "10");
    spec["max_skips"] = json!(2);
    spec["max_tasks_per_day"] = json!(4);
    net.create_campaign(&owner, &spec).await;
    let skipper = Worker::sign_in(&net, "skipper").await;
    for _ in 0..3 {
        let (status, task) = skipper.next(&net, "skippy").await;
        assert_eq!(status, StatusCode::OK, "{task}");
        let lease = task["lease"].as_str().unwrap();
        let (status, _) = net
            .post(
                &format!("/v1/leases/{lease}/skip"),
                Some(&skipper.token),
                &json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, body) = skipper.next(&net, "skippy").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("skip_cooldown")),
        "{body}"
    );
    let mut steady = Worker::sign_in(&net, "steady").await;
    for _ in 0..4 {
        let (status, outcome) = steady.work(&net, "skippy", &verdict("true")).await;
        assert_eq!(status, StatusCode::OK, "{outcome}");
    }
    let (status, body) = steady.next(&net, "skippy").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("daily_cap")),
        "{body}"
    );
    let record = report_of(&net, &owner, "skippy", &skipper).await;
    assert!(record["cooldown_until"].is_string(), "{record}");
});

#[tokio::test]
async fn too_fast_answers_count_against_trust() {
    let net = Net::start(Backend::Sqlite).unwrap();
    let owner = key("owner");
    let mut spec = campaign_spec("hasty", &owner, 2, 1, "1");
    spec["min_task_seconds"] = json!(30);
    net.create_campaign(&owner, &spec).await;
    let mut worker = Worker::sign_in(&net, "hasty").await;
    let (status, body) = worker.work(&net, "hasty", &verdict("true")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("too_fast"))
    );
    let record = report_of(&net, &owner, "hasty", &worker).await;
    assert_eq!(record["too_fast"], 1, "{record}");
    assert!(record["trust"].as_f64().unwrap() < 0.9, "{record}");
}

#[tokio::test]
async fn quality_settings_are_checked() {
    let net = Net::start(Backend::Sqlite).unwrap();
    let owner = key("owner");
    for (field, value) in [
        ("confidence", json!(0.3)),
        ("confidence", json!(1.5)),
        ("max_overlap", json!(1)),
        ("golden_share", json!(0.5)),
        ("min_trust", json!(-1)),
        ("max_skips", json!(0)),
        ("aggregation", json!("vote")),
        ("max_tasks_per_day", json!(0)),
    ] {
        let mut spec = campaign_spec("bad-quality", &owner, 2, 3, "1");
        spec[field] = value.clone();
        let (status, body) = net.create_campaign(&owner, &spec).await;
        assert!(
            status == StatusCode::UNPROCESSABLE_ENTITY,
            "{field} = {value}: {status} {body}"
        );
    }
}

both!(spans_and_flags_are_aggregated, |net| {
    let owner = key("owner");
    let mut spec = campaign_spec("spans", &owner, 1, 3, "10");
    spec["kind"] = json!("text_labeling");
    spec["labels"] = json!(["person", "place"]);
    spec["items"] = json!([{ "text": "Ada went to Paris in May" }]);
    net.create_campaign(&owner, &spec).await;
    let span =
        |start: u32, end: u32, label: &str| json!({ "start": start, "end": end, "label": label });
    // Boundaries differ by a character; one person also marks "May".
    let answers = [
        json!({ "label": "person", "spans": [span(0, 3, "person"), span(12, 17, "place")] }),
        json!({ "label": "person", "spans": [span(0, 4, "person"), span(12, 17, "place"), span(21, 24, "person")] }),
        json!({ "label": "person", "spans": [span(0, 3, "person"), span(11, 17, "place")] }),
    ];
    for (i, answer) in answers.iter().enumerate() {
        let mut w = Worker::sign_in(&net, &format!("s{i}")).await;
        let (status, outcome) = w.work(&net, "spans", answer).await;
        assert_eq!(status, StatusCode::OK, "{outcome}");
    }
    let (_, page) = signed_get(&net, &owner, "/v1/campaigns/spans/results").await;
    assert_eq!(
        page["records"][0]["answer"],
        json!({ "label": "person", "spans": [span(0, 3, "person"), span(12, 17, "place")] }),
        "{page}"
    );

    let mut spec = campaign_spec("flags", &owner, 1, 3, "10");
    spec["kind"] = json!("content_moderation");
    spec["labels"] = json!(["spam", "violence", "adult"]);
    net.create_campaign(&owner, &spec).await;
    // Flag by flag: "adult" by one of three is not yet 0.9 unlikely for unknown contributors,
    // so answers are asked for until it is.
    let flag_answers = [
        json!(["spam"]),
        json!(["spam", "adult"]),
        json!(["spam"]),
        json!(["spam"]),
        json!(["spam"]),
    ];
    for (i, flags) in flag_answers.iter().enumerate() {
        let mut w = Worker::sign_in(&net, &format!("f{i}")).await;
        let (status, outcome) = w.work(&net, "flags", &json!({ "flags": flags })).await;
        assert_eq!(status, StatusCode::OK, "{outcome}");
    }
    let (_, page) = signed_get(&net, &owner, "/v1/campaigns/flags/results").await;
    let record = &page["records"][0];
    assert_eq!(record["answer"], json!({ "flags": ["spam"] }), "{page}");
    assert_eq!(
        record["contributors"].as_array().unwrap().len(),
        4,
        "{page}"
    );
    assert!(record["confidence"].as_f64().unwrap() >= 0.9, "{page}");
    assert_ledger_balanced(&net).await;
});
