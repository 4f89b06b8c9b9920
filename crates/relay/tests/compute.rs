//! Compute nodes through the router and a real database: uploads to a campaign with a compute
//! job wait for `k` nodes to agree; agreement decides the upload and pays exactly the agreeing
//! nodes' fees; disagreement asks more nodes, then the validators; a lying node is restricted
//! by golden jobs and its pending fees voided; a dead node's job comes back; nodes not admitted,
//! forged and replayed results are refused. A labeling campaign's model pre-annotates its
//! items: a suggestion with the lease, a vote in Dawid–Skene, predictions in the results.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use axum::http::StatusCode;
use common::*;
use datahub_core::SecretKey;
use datahub_core::eth::{SubmissionReceipt, Timestamp, TypedStruct, U256, keccak256};
use datahub_core::request;
use datahub_relay::db::Conn;
use serde_json::{Value, json};

/// The model the test nodes run (any 64 hex digits: the relay compares, never runs).
fn model() -> String {
    blake3::hash(b"test rule model").to_hex().to_string()
}

/// The pre-annotating model of the labeling tests (the nodes also run it).
fn classifier() -> String {
    blake3::hash(b"test image classifier").to_hex().to_string()
}

/// A voice-recording campaign whose uploads compute nodes judge (k of n, `fee` each), with one
/// validator for what they disagree on.
fn compute_spec(id: &str, owner: &SecretKey, validator: &SecretKey, k: u32, n: u32) -> Value {
    let items: Vec<Value> = (0..4)
        .map(|i| json!({ "prompt": format!("say the number {i}") }))
        .collect();
    json!({
        "id": id,
        "kind": "voice_recording",
        "title": "Numbers",
        "instructions": "Read the number aloud.",
        "items": items,
        "reward": "0.05",
        "token": "USDT",
        "budget": "1",
        "lease_seconds": 300,
        "encryption_key": encryption_key(owner),
        "chains": [CHAIN],
        "validators": [hex::encode(validator.public_key().to_compressed())],
        "compute": {
            "kind": "vad",
            "model": model(),
            "k": k,
            "n": n,
            "fee": "0.01",
            "tolerance": 0.02,
            "accept": { "labels": ["speech"], "scores": [{ "name": "speech_ratio", "min": 0.3 }] },
        },
    })
}

fn speech(ratio: f64) -> Value {
    json!({ "label": "speech", "scores": { "speech_ratio": ratio } })
}

/// Gives `owner` `amount` more tokens (the campaign's budget is granted by `create_campaign`;
/// fees come from what is left).
async fn fund(net: &Net, owner: &SecretKey, amount: &str) {
    let id = format!("fees-{}", unique());
    let (status, body) = net
        .grant(&owner.public_key().address(), CHAIN, "USDT", amount, &id)
        .await;
    assert!(status.is_success(), "{body}");
}

/// Records an object as fully stored, uploaded by `uploader`; its id.
async fn stored_object(net: &Net, seed: u8, uploader: &Worker) -> String {
    let id = hex::encode([seed; 32]);
    let object = id.clone();
    let uploader = format!("0x{}", hex::encode(uploader.address().as_bytes()));
    net.relay()
        .db
        .write(move |conn: &mut dyn Conn| -> Result<(), datahub_relay::db::DbError> {
            conn.execute(
                "INSERT INTO objects (id, manifest, uploader, size, shard_count, created_ms) VALUES ($1, '00', $2, 1, 1, 0)",
                datahub_relay::params![object.clone(), uploader],
            )?;
            conn.execute(
                "INSERT INTO shards (object, segment, position, shard, len, node, stored) VALUES ($1, 0, 0, $1, 1, NULL, 1)",
                datahub_relay::params![object],
            )?;
            Ok(())
        })
        .await
        .unwrap();
    id
}

/// Leases a task of `campaign` and submits `object` as its upload; the submission's answer.
async fn upload(net: &Net, worker: &mut Worker, campaign: &str, object: &str) -> Value {
    let (status, task) = worker.next(net, campaign).await;
    assert_eq!(status, StatusCode::OK, "{task}");
    worker.nonce += 1;
    let answer = json!({ "object": object }).to_string();
    let deadline = u64::try_from(datahub_relay::clock::now_ms() / 1000 + 600).unwrap();
    let lease = task["lease"].as_str().unwrap();
    let mut manifest_id = [0u8; 32];
    hex::decode_to_slice(object, &mut manifest_id).unwrap();
    let receipt = SubmissionReceipt {
        campaign: campaign.to_owned(),
        task: lease.to_owned(),
        answer_hash: keccak256(answer.as_bytes()),
        manifest_id,
        nonce: U256::from_u64(worker.nonce),
        deadline,
        licence: String::new(),
        terms_hash: [0; 32],
    };
    let signature = receipt.sign(&worker.session_key, &domain(net));
    let body = json!({
        "campaign": campaign,
        "task": lease,
        "answer": answer,
        "manifest_id": object,
        "nonce": worker.nonce.to_string(),
        "deadline": deadline,
        "signature": signature.to_hex(),
    });
    let (status, outcome) = worker.submit(net, &body).await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    assert_eq!(outcome["status"], "pending", "{outcome}");
    outcome
}

/// A compute node's key, registered with the test model and its own payout wallet.
async fn node(net: &Net, label: &str) -> SecretKey {
    let node = key(&format!("compute {label}"));
    let payout = key(&format!("operator of {label}")).public_key().address();
    let body = json!({
        "capabilities": [
            { "kind": "vad", "model": model(), "runtime": "rust" },
            { "kind": "classify", "model": classifier(), "runtime": "rust" },
        ],
        "payout": payout.to_checksum(),
        "key": hex::encode(node.public_key().to_compressed()),
    });
    let (status, answer) = net
        .call(net.signed(&node, "POST", "/v1/compute/register", &body))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    node
}

async fn next(net: &Net, node: &SecretKey) -> (StatusCode, Value) {
    net.call(net.signed(node, "POST", "/v1/compute/jobs/next", &json!({})))
        .await
}

async fn lease(net: &Net, node: &SecretKey) -> Value {
    let (status, job) = next(net, node).await;
    assert_eq!(status, StatusCode::OK, "{job}");
    job
}

async fn result(
    net: &Net,
    node: &SecretKey,
    job: &Value,
    prediction: Value,
) -> (StatusCode, Value) {
    let path = format!("/v1/compute/jobs/{}/result", job["job"].as_str().unwrap());
    let body = json!({ "object": job["object"], "prediction": prediction });
    net.call(net.signed(node, "POST", &path, &body)).await
}

async fn submission_status(net: &Net, submission: &str) -> String {
    let id = submission.to_owned();
    net.relay()
        .db
        .read(move |conn: &mut dyn Conn| {
            conn.query_opt(
                "SELECT status FROM submissions WHERE id = $1",
                datahub_relay::params![id],
            )
        })
        .await
        .unwrap()
        .unwrap()
        .text(0)
        .unwrap()
}

/// The ledger balance of `account` (0 when it does not exist), in ledger units.
async fn balance_of(net: &Net, account: String) -> i64 {
    net.relay()
        .db
        .read(move |conn: &mut dyn Conn| datahub_relay::ledger::balance(conn, &account))
        .await
        .unwrap()
}

/// What `node` (labelled as in [`node`]) has earned on the test chain, in ledger units.
async fn earned(net: &Net, label: &str) -> i64 {
    let node = key(&format!("compute {label}")).public_key().address();
    let payout = key(&format!("operator of {label}")).public_key().address();
    let lower = |a: datahub_core::eth::Address| format!("0x{}", hex::encode(a.as_bytes()));
    let account =
        datahub_relay::earnings::earnings_account(&lower(node), &lower(payout), CHAIN, "USDT");
    balance_of(net, account).await
}

async fn funds_units(net: &Net, owner: &SecretKey) -> i64 {
    datahub_relay::ledger::parse_amount(&net.funds(owner, CHAIN, "USDT").await).unwrap()
}

const FEE: i64 = 10_000; // 0.01 in ledger units

both!(campaign_compute_jobs_are_checked, |net| {
    let owner = key("owner");
    let validator = key("validator");
    let mut no_validator = compute_spec("checked", &owner, &validator, 2, 3);
    no_validator["validators"] = json!([]);
    let mut text = campaign_spec("checked", &owner, 2, 1, "1");
    text["compute"] = compute_spec("x", &owner, &validator, 2, 3)["compute"].clone();
    let mut bad_fee = compute_spec("checked", &owner, &validator, 2, 3);
    bad_fee["compute"]["fee"] = json!("0");
    let cases = [
        (no_validator, "compute: name at least one validator"),
        (
            text,
            "compute: a labeling campaign's compute job runs on its items' objects",
        ),
        (
            compute_spec("checked", &owner, &validator, 4, 3),
            "compute.k:",
        ),
        (bad_fee, "compute.fee:"),
    ];
    for (spec, message) in cases {
        let (status, body) = net.create_campaign(&owner, &spec).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(
            body["message"].as_str().unwrap().starts_with(message),
            "{body}"
        );
    }
    let (status, body) = net
        .create_campaign(&owner, &compute_spec("checked", &owner, &validator, 2, 3))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["compute"]["k"], 2);
    assert!(body["compute"].get("golden").is_none());
});

both!(
    two_agreeing_nodes_decide_the_upload_and_are_paid_exactly_their_fees,
    |net| {
        let owner = key("owner");
        let validator = key("validator");
        let spec = compute_spec("voices", &owner, &validator, 2, 3);
        let (status, body) = net.create_campaign(&owner, &spec).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        fund(&net, &owner, "1").await;
        let before = funds_units(&net, &owner).await;
        let (a, b, c) = (
            node(&net, "a").await,
            node(&net, "b").await,
            node(&net, "c").await,
        );
        let (status, _) = next(&net, &a).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "no upload yet");

        let mut alice = Worker::sign_in(&net, "alice").await;
        let object = stored_object(&net, 7, &alice).await;
        let outcome = upload(&net, &mut alice, "voices", &object).await;
        let submission = outcome["submission"].as_str().unwrap().to_owned();

        let job_a = lease(&net, &a).await;
        assert_eq!(job_a["object"], object.as_str());
        assert_eq!(job_a["model"], model().as_str());
        // Asking again gives the same job; the second node gets its own lease of the object.
        assert_eq!(lease(&net, &a).await["job"], job_a["job"]);
        let job_b = lease(&net, &b).await;
        assert_eq!(job_b["object"], object.as_str());
        assert_ne!(job_b["job"], job_a["job"]);
        // Two nodes are asked, so a third gets nothing.
        let (status, body) = next(&net, &c).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::NOT_FOUND, Some("no_job"))
        );
        // Each fee is held from the requester's funds at the lease.
        assert_eq!(funds_units(&net, &owner).await, before - 2 * FEE);

        let (status, body) = result(&net, &a, &job_a, speech(0.61)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(submission_status(&net, &submission).await, "pending");
        // Scores within the tolerance agree.
        let (status, body) = result(&net, &b, &job_b, speech(0.62)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(submission_status(&net, &submission).await, "accepted");
        assert_eq!(
            (
                earned(&net, "a").await,
                earned(&net, "b").await,
                earned(&net, "c").await
            ),
            (FEE, FEE, 0)
        );
        assert_eq!(funds_units(&net, &owner).await, before - 2 * FEE);
        assert_eq!(balance_of(&net, "compute:voices".into()).await, 0);
        // The same result again is the stored outcome, not a second payment.
        let (status, body) = result(&net, &a, &job_a, speech(0.61)).await;
        assert_eq!(
            (status, body["duplicate"].as_bool()),
            (StatusCode::OK, Some(true)),
            "{body}"
        );
        assert_eq!(earned(&net, "a").await, FEE);

        // Results are kept exactly as signed: anyone can recover the node from them.
        let id = job_a["job"].as_str().unwrap().to_owned();
        let row = net
        .relay()
        .db
        .read(move |conn: &mut dyn Conn| {
            conn.query_opt(
                "SELECT path, body, time_ms, signature, node FROM compute_assignments WHERE id = $1",
                datahub_relay::params![id],
            )
        })
        .await
        .unwrap()
        .unwrap();
        let time = Timestamp::from_unix_millis(row.int(2).unwrap());
        let signer = request::verify_request(
            "POST",
            &row.text(0).unwrap(),
            row.text(1).unwrap().as_bytes(),
            &row.int(2).unwrap().to_string(),
            &row.text(3).unwrap(),
            &net.address,
            time,
            1000,
        )
        .unwrap();
        assert_eq!(signer, a.public_key().address());
        // The results carry the model's hash, the agreed prediction and both signed results.
        let (status, page) = net
            .call(net.signed_get(&owner, "/v1/campaigns/voices/results"))
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let predictions = &page["records"][0]["predictions"];
        assert_eq!(predictions[0]["model"], model().as_str(), "{page}");
        assert_eq!(predictions[0]["accepted"], true);
        assert_eq!(predictions[0]["results"].as_array().unwrap().len(), 2);
        assert_eq!(
            page["records"][0]["receipts"][0]["receipt"]["message"]["manifestId"],
            format!("0x{object}")
        );
        assert_ledger_balanced(&net).await;
    }
);

both!(disagreement_asks_another_node_then_the_validators, |net| {
    let owner = key("owner");
    let validator = key("validator");
    let (status, body) = net
        .create_campaign(&owner, &compute_spec("split", &owner, &validator, 2, 3))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    fund(&net, &owner, "1").await;
    let before = funds_units(&net, &owner).await;
    let (a, b, c) = (
        node(&net, "a").await,
        node(&net, "b").await,
        node(&net, "c").await,
    );
    let mut alice = Worker::sign_in(&net, "alice").await;
    let first = stored_object(&net, 1, &alice).await;
    let outcome = upload(&net, &mut alice, "split", &first).await;
    let submission = outcome["submission"].as_str().unwrap().to_owned();

    let (job_a, job_b) = (lease(&net, &a).await, lease(&net, &b).await);
    let (status, _) = next(&net, &c).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    result(&net, &a, &job_a, speech(0.6)).await;
    let silence = json!({ "label": "silence", "scores": { "speech_ratio": 0.0 } });
    result(&net, &b, &job_b, silence).await;
    // The two disagree: a third node is asked.
    let job_c = lease(&net, &c).await;
    assert_eq!(job_c["object"], first.as_str());
    let noise = json!({ "label": "noise", "scores": { "speech_ratio": 0.1 } });
    let (status, body) = result(&net, &c, &job_c, noise).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // n = 3 nodes disagree: the validator decides. Until then no fee is paid, all three held.
    assert_eq!(submission_status(&net, &submission).await, "pending");
    assert_eq!(funds_units(&net, &owner).await, before - 3 * FEE);
    assert_eq!(balance_of(&net, "compute:split".into()).await, 3 * FEE);
    assert_eq!(
        earned(&net, "a").await + earned(&net, "b").await + earned(&net, "c").await,
        0
    );
    let (status, job) = net
        .call(net.signed(&validator, "POST", "/v1/validation/jobs/next", &json!({})))
        .await;
    assert_eq!(status, StatusCode::OK, "{job}");
    assert_eq!(job["submission"], submission.as_str());
    // The validator accepts it: the node whose prediction accepted it (a) is paid; the two
    // whose predictions rejected it get nothing, their fees go back.
    let path = format!(
        "/v1/validation/jobs/{}/verdict",
        job["job"].as_str().unwrap()
    );
    let verdict = json!({ "object": first, "accept": true });
    let (status, body) = net
        .call(net.signed(&validator, "POST", &path, &verdict))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(submission_status(&net, &submission).await, "accepted");
    assert_eq!(
        (
            earned(&net, "a").await,
            earned(&net, "b").await,
            earned(&net, "c").await
        ),
        (FEE, 0, 0)
    );
    assert_eq!(funds_units(&net, &owner).await, before - FEE);
    assert_eq!(balance_of(&net, "compute:split".into()).await, 0);
    let records = records(&net).await;
    assert_eq!(records[&a.public_key().address()], (1, 0));
    assert_eq!(records[&b.public_key().address()], (0, 1));
    assert_eq!(records[&c.public_key().address()], (0, 1));
    assert_ledger_balanced(&net).await;

    // A second upload: the third node sides with the first, which decides it; the outvoted
    // node is not paid.
    let second = stored_object(&net, 2, &alice).await;
    let outcome = upload(&net, &mut alice, "split", &second).await;
    let submission = outcome["submission"].as_str().unwrap().to_owned();
    let (job_a, job_b) = (lease(&net, &a).await, lease(&net, &b).await);
    result(&net, &a, &job_a, speech(0.5)).await;
    result(
        &net,
        &b,
        &job_b,
        json!({ "label": "silence", "scores": { "speech_ratio": 0.0 } }),
    )
    .await;
    let job_c = lease(&net, &c).await;
    result(&net, &c, &job_c, speech(0.51)).await;
    assert_eq!(submission_status(&net, &submission).await, "accepted");
    assert_eq!(
        (
            earned(&net, "a").await,
            earned(&net, "b").await,
            earned(&net, "c").await
        ),
        (2 * FEE, 0, FEE)
    );
    assert_eq!(funds_units(&net, &owner).await, before - 3 * FEE);
    assert_ledger_balanced(&net).await;
});

both!(a_rejecting_decision_leaves_the_upload_unpaid, |net| {
    let owner = key("owner");
    let validator = key("validator");
    net.create_campaign(&owner, &compute_spec("quiet", &owner, &validator, 2, 2))
        .await;
    fund(&net, &owner, "1").await;
    let (a, b) = (node(&net, "a").await, node(&net, "b").await);
    let mut alice = Worker::sign_in(&net, "alice").await;
    let object = stored_object(&net, 3, &alice).await;
    let outcome = upload(&net, &mut alice, "quiet", &object).await;
    let submission = outcome["submission"].as_str().unwrap().to_owned();
    // Both agree it is speech, but too little of it for the campaign's rule.
    let (job_a, job_b) = (lease(&net, &a).await, lease(&net, &b).await);
    result(&net, &a, &job_a, speech(0.1)).await;
    result(&net, &b, &job_b, speech(0.1)).await;
    assert_eq!(submission_status(&net, &submission).await, "rejected");
    assert_eq!(
        (earned(&net, "a").await, earned(&net, "b").await),
        (FEE, FEE)
    );
    assert_ledger_balanced(&net).await;
});

both!(
    a_lying_node_is_restricted_by_golden_jobs_and_its_pending_fees_voided,
    |net| {
        let owner = key("owner");
        let validator = key("validator");
        // One campaign without golden objects, where the liar's result waits for a second node...
        net.create_campaign(&owner, &compute_spec("plain", &owner, &validator, 2, 3))
            .await;
        // ...and one where every lease is golden (a share of 1, to count exactly).
        let golden_object = hex::encode([0xee; 32]);
        let mut tested = compute_spec("tested", &owner, &validator, 2, 3);
        tested["compute"]["golden"] = json!([{ "object": golden_object, "expected": speech(0.7) }]);
        tested["compute"]["golden_share"] = json!(1.0);
        let (status, body) = net.create_campaign(&owner, &tested).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        fund(&net, &owner, "1").await;
        let before = funds_units(&net, &owner).await;
        let (liar, honest) = (node(&net, "liar").await, node(&net, "honest").await);

        let mut alice = Worker::sign_in(&net, "alice").await;
        let plain = stored_object(&net, 4, &alice).await;
        upload(&net, &mut alice, "plain", &plain).await;
        let pending = lease(&net, &liar).await;
        assert_eq!(pending["object"], plain.as_str());
        result(
            &net,
            &liar,
            &pending,
            json!({ "label": "zq", "scores": {} }),
        )
        .await;
        assert_eq!(
            funds_units(&net, &owner).await,
            before - FEE,
            "the liar's fee is held"
        );

        let object = stored_object(&net, 5, &alice).await;
        upload(&net, &mut alice, "tested", &object).await;
        // Random outputs: each golden job failed. The 6th failure restricts it (trust::MIN_NODE_TRUST).
        let mut failures = 0;
        loop {
            let (status, job) = next(&net, &liar).await;
            if status == StatusCode::FORBIDDEN {
                assert_eq!(job["error"], "restricted", "{job}");
                break;
            }
            assert_eq!(status, StatusCode::OK, "{job}");
            // It cannot tell: a golden job looks like any other (an object, a model, a campaign).
            assert_eq!(job["object"], golden_object.as_str());
            let random = json!({ "label": format!("x{failures}"), "scores": { "speech_ratio": 0.01 * f64::from(failures) } });
            let (status, body) = result(&net, &liar, &job, random).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            failures += 1;
            assert!(
                failures <= 6,
                "still not restricted after {failures} failures"
            );
        }
        assert_eq!(failures, 6);
        assert_eq!(earned(&net, "liar").await, 0);
        // Its result on the undecided job was voided: the fee went back, the job to other nodes.
        assert_eq!(funds_units(&net, &owner).await, before);
        let (nodes_status, nodes) = net.get("/v1/compute/nodes", None).await;
        assert_eq!(nodes_status, StatusCode::OK);
        let listed = nodes["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["golden_wrong"] == 6)
            .unwrap();
        assert_eq!(listed["restricted"], true);
        // The honest node passes its golden job and is paid for it (the plain job, which it may
        // be given first, waits for a second node).
        let mut job = lease(&net, &honest).await;
        if job["object"] == plain.as_str() {
            result(&net, &honest, &job, speech(0.7)).await;
            job = lease(&net, &honest).await;
        }
        assert_eq!(job["object"], golden_object.as_str());
        let (status, _) = result(&net, &honest, &job, speech(0.71)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(earned(&net, "honest").await, FEE);
        assert_ledger_balanced(&net).await;
    }
);

both!(a_dead_nodes_job_comes_back, |net| {
    let owner = key("owner");
    let validator = key("validator");
    net.create_campaign(&owner, &compute_spec("lost", &owner, &validator, 1, 2))
        .await;
    fund(&net, &owner, "1").await;
    let before = funds_units(&net, &owner).await;
    let (dead, alive) = (node(&net, "dead").await, node(&net, "alive").await);
    let mut alice = Worker::sign_in(&net, "alice").await;
    let object = stored_object(&net, 6, &alice).await;
    let outcome = upload(&net, &mut alice, "lost", &object).await;
    let submission = outcome["submission"].as_str().unwrap().to_owned();
    let held = lease(&net, &dead).await;
    let (status, _) = next(&net, &alive).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "k = 1: one node holds it");
    // The node was killed: its lease runs out (moved into the past here).
    let id = held["job"].as_str().unwrap().to_owned();
    net.relay()
        .db
        .write(move |conn: &mut dyn Conn| {
            conn.execute(
                "UPDATE compute_assignments SET lease_expires_ms = 1 WHERE id = $1",
                datahub_relay::params![id],
            )
        })
        .await
        .unwrap();
    let again = lease(&net, &alive).await;
    assert_eq!(again["object"], object.as_str());
    // The dead node's fee went back; only the live lease's is held.
    assert_eq!(funds_units(&net, &owner).await, before - FEE);
    // The dead node coming back late is refused.
    let (status, body) = result(&net, &dead, &held, speech(0.9)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("lease_expired"))
    );
    result(&net, &alive, &again, speech(0.9)).await;
    assert_eq!(submission_status(&net, &submission).await, "accepted");
    assert_eq!(
        (earned(&net, "dead").await, earned(&net, "alive").await),
        (0, FEE)
    );
    assert_ledger_balanced(&net).await;
});

both!(forged_replayed_and_malformed_results_are_refused, |net| {
    let owner = key("owner");
    let validator = key("validator");
    net.create_campaign(&owner, &compute_spec("guarded", &owner, &validator, 2, 3))
        .await;
    fund(&net, &owner, "1").await;
    let (a, b) = (node(&net, "a").await, node(&net, "b").await);
    let mut alice = Worker::sign_in(&net, "alice").await;
    let object = stored_object(&net, 8, &alice).await;
    upload(&net, &mut alice, "guarded", &object).await;
    let job_a = lease(&net, &a).await;
    // Another node answering a's job.
    let (status, body) = result(&net, &b, &job_a, speech(0.5)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("not_your_job"))
    );
    // A result about another object, a malformed prediction.
    let path = format!("/v1/compute/jobs/{}/result", job_a["job"].as_str().unwrap());
    let other = json!({ "object": hex::encode([9u8; 32]), "prediction": speech(0.5) });
    let (status, body) = net.call(net.signed(&a, "POST", &path, &other)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("wrong_object"))
    );
    let (status, body) = result(&net, &a, &job_a, json!({ "label": "", "scores": {} })).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_result"))
    );
    // A result signed by nobody's key in particular: the signature does not match the body.
    let body = json!({ "object": object, "prediction": speech(0.5) });
    let mut forged = net.signed(&a, "POST", &path, &body);
    *forged.body_mut() =
        axum::body::Body::from(json!({ "object": object, "prediction": speech(0.9) }).to_string());
    let (status, answer) = net.call(forged).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    // The same signed request twice.
    let request = |net: &Net| {
        let time = Timestamp::from_unix_millis(datahub_relay::clock::now_ms());
        let text = body.to_string();
        let signature =
            request::sign_request(&a, "POST", &path, text.as_bytes(), time, &net.address);
        move || {
            axum::http::Request::post(path.as_str())
                .header("content-type", "application/json")
                .header(request::TIME_HEADER, time.unix_millis().to_string())
                .header(request::SIGNATURE_HEADER, signature.to_hex())
                .body(axum::body::Body::from(text.clone()))
                .unwrap()
        }
    };
    let same = request(&net);
    let (status, answer) = net.call(same()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, answer) = net.call(same()).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::CONFLICT, Some("replayed"))
    );
    // A changed mind after answering.
    let (status, answer) = result(&net, &a, &job_a, speech(0.1)).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::CONFLICT, Some("job_done"))
    );
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compute_node_not_admitted_is_refused() {
    let net = Net::start_with(Backend::Sqlite, |config| {
        config.storage.open_admission = false;
    })
    .unwrap();
    let stranger = key("compute stranger");
    let body = json!({ "capabilities": [{ "kind": "vad", "model": model(), "runtime": "rust" }] });
    let (status, answer) = net
        .call(net.signed(&stranger, "POST", "/v1/compute/register", &body))
        .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("not_admitted"))
    );
    let (status, answer) = next(&net, &stranger).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("not_admitted"))
    );
    // The operator admits it (the storage nodes' allowlist), then revokes it.
    let admit = |admitted: bool| json!({ "address": stranger.public_key().address().to_checksum(), "region": "eu", "admitted": admitted });
    let (status, answer) = net
        .call(net.signed(&operator(), "POST", "/v1/nodes/admit", &admit(true)))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, answer) = net
        .call(net.signed(&stranger, "POST", "/v1/compute/register", &body))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let bad = json!({ "capabilities": [{ "kind": "vad", "model": "beef", "runtime": "rust" }] });
    let (status, answer) = net
        .call(net.signed(&stranger, "POST", "/v1/compute/register", &bad))
        .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("invalid_capabilities")
        )
    );
    net.call(net.signed(&operator(), "POST", "/v1/nodes/admit", &admit(false)))
        .await;
    let (status, answer) = next(&net, &stranger).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("not_admitted"))
    );
}

/// A well-formed grant for `node` (a curve point, then 48 bytes): the relay checks the form;
/// only the node can tell whether it opens.
fn grant_for(node: &SecretKey, fill: u8) -> String {
    let mut bytes = node.public_key().to_compressed().to_vec();
    bytes.extend_from_slice(&[fill; 48]);
    hex::encode(bytes)
}

async fn post_grant(net: &Net, who: &SecretKey, job: &str, grant: &str) -> (StatusCode, Value) {
    let path = format!("/v1/compute/jobs/{job}/grant");
    net.call(net.signed(who, "POST", &path, &json!({ "grant": grant })))
        .await
}

async fn waiting(net: &Net, who: &SecretKey, campaign: &str) -> (StatusCode, Value) {
    net.call(net.signed_get(who, &format!("/v1/campaigns/{campaign}/grants")))
        .await
}

both!(
    the_requester_grants_a_leased_job_and_the_node_gets_it_with_the_job,
    |net| {
        let owner = key("owner");
        let validator = key("validator");
        net.create_campaign(&owner, &compute_spec("granted", &owner, &validator, 1, 2))
            .await;
        fund(&net, &owner, "1").await;
        let a = node(&net, "a").await;
        let mut alice = Worker::sign_in(&net, "alice").await;
        let object = stored_object(&net, 11, &alice).await;
        upload(&net, &mut alice, "granted", &object).await;

        // Leased, not granted yet: the node gets the job without a grant and asks again.
        let job = lease(&net, &a).await;
        assert_eq!(job["grant"], Value::Null, "{job}");
        let id = job["job"].as_str().unwrap();
        let (status, list) = waiting(&net, &owner, "granted").await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let listed = &list["waiting"].as_array().unwrap()[..];
        assert_eq!(listed.len(), 1, "{list}");
        assert_eq!(listed[0]["job"], id);
        assert_eq!(listed[0]["object"], object.as_str());
        assert_eq!(
            listed[0]["node_key"],
            hex::encode(a.public_key().to_compressed()).as_str()
        );

        let grant = grant_for(&a, 7);
        let (status, body) = post_grant(&net, &owner, id, &grant).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["duplicate"], false);
        // The node's next ask hands it the same job, now with its grant.
        let again = lease(&net, &a).await;
        assert_eq!(again["job"], id);
        assert_eq!(again["grant"], grant.as_str());
        // Granted leases are no longer waiting; the same grant again is a duplicate, another one
        // is refused (the node may have its first one already).
        let (_, list) = waiting(&net, &owner, "granted").await;
        assert_eq!(list["waiting"], json!([]));
        let (status, body) = post_grant(&net, &owner, id, &grant).await;
        assert_eq!(
            (status, body["duplicate"].as_bool()),
            (StatusCode::OK, Some(true)),
            "{body}"
        );
        let (status, body) = post_grant(&net, &owner, id, &grant_for(&a, 8)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::CONFLICT, Some("already_granted"))
        );
        let (status, body) = result(&net, &a, &again, speech(0.8)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(earned(&net, "a").await, FEE);
        assert_ledger_balanced(&net).await;
    }
);

both!(
    grants_from_strangers_for_dead_leases_and_of_bad_form_are_refused,
    |net| {
        let owner = key("owner");
        let rival = key("rival requester");
        let validator = key("validator");
        net.create_campaign(&owner, &compute_spec("mine", &owner, &validator, 1, 2))
            .await;
        let (status, body) = net
            .create_campaign(&rival, &compute_spec("theirs", &rival, &validator, 1, 2))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        fund(&net, &owner, "1").await;
        let before = funds_units(&net, &owner).await;
        let (a, b) = (node(&net, "a").await, node(&net, "b").await);
        let mut alice = Worker::sign_in(&net, "alice").await;
        let object = stored_object(&net, 12, &alice).await;
        upload(&net, &mut alice, "mine", &object).await;
        let job = lease(&net, &a).await;
        let id = job["job"].as_str().unwrap().to_owned();

        // Another requester (owner of another campaign) can neither list nor grant this lease.
        let (status, body) = waiting(&net, &rival, "mine").await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::FORBIDDEN, Some("not_owner"))
        );
        let (status, body) = post_grant(&net, &rival, &id, &grant_for(&a, 1)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::FORBIDDEN, Some("not_owner"))
        );
        // The node itself cannot grant itself a key.
        let (status, _) = post_grant(&net, &a, &id, &grant_for(&a, 1)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        // Malformed grants: too short, too long, not hex, no curve point first.
        let point = grant_for(&a, 1);
        let not_a_point = format!("04{}", &point[2..]);
        for bad in [
            &point[..160],
            &format!("{point}00"),
            &"zz".repeat(81),
            &not_a_point,
        ] {
            let (status, body) = post_grant(&net, &owner, &id, bad).await;
            assert_eq!(
                (status, body["error"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_grant")),
                "{bad}"
            );
        }
        let (status, body) = post_grant(&net, &owner, "0000", &point).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::NOT_FOUND, Some("no_job"))
        );
        // The same signed grant request twice: the second is a replay.
        let path = format!("/v1/compute/jobs/{id}/grant");
        let text = json!({ "grant": grant_for(&a, 9) }).to_string();
        let time = Timestamp::from_unix_millis(datahub_relay::clock::now_ms());
        let signature =
            request::sign_request(&owner, "POST", &path, text.as_bytes(), time, &net.address);
        let same = || {
            axum::http::Request::post(path.as_str())
                .header("content-type", "application/json")
                .header(request::TIME_HEADER, time.unix_millis().to_string())
                .header(request::SIGNATURE_HEADER, signature.to_hex())
                .body(axum::body::Body::from(text.clone()))
                .unwrap()
        };
        let (status, body) = net.call(same()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = net.call(same()).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::CONFLICT, Some("replayed"))
        );

        // That grant is garbage to the node (well formed, but it does not open): it sends no
        // result and gives the job back. Another node cannot give it back for it.
        let release = |who: &SecretKey, job: &str| {
            net.signed(
                who,
                "POST",
                &format!("/v1/compute/jobs/{job}/release"),
                &json!({}),
            )
        };
        let (status, body) = net.call(release(&b, &id)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::FORBIDDEN, Some("not_your_job"))
        );
        let (status, body) = net.call(release(&a, &id)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = net.call(release(&a, &id)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::CONFLICT, Some("lease_expired"))
        );
        // The fee went back and the job goes to another node, never to a again; nobody is paid.
        assert_eq!(funds_units(&net, &owner).await, before);
        let (status, _) = next(&net, &a).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let other = lease(&net, &b).await;
        assert_eq!(other["object"], object.as_str());
        assert_eq!(other["grant"], Value::Null);
        assert_eq!(funds_units(&net, &owner).await, before - FEE);
        // A grant for a lease whose time ran out (moved into the past here, then back) is
        // refused, as one for the lease given back.
        let set_expiry = |ms: i64| {
            let job = other["job"].as_str().unwrap().to_owned();
            net.relay().db.write(move |conn: &mut dyn Conn| {
                conn.execute(
                    "UPDATE compute_assignments SET lease_expires_ms = $1 WHERE id = $2",
                    datahub_relay::params![ms, job],
                )
            })
        };
        set_expiry(1).await.unwrap();
        let (status, body) = post_grant(
            &net,
            &owner,
            other["job"].as_str().unwrap(),
            &grant_for(&b, 4),
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::CONFLICT, Some("lease_expired"))
        );
        set_expiry(datahub_relay::clock::now_ms() + 60_000)
            .await
            .unwrap();
        let (status, body) = post_grant(&net, &owner, &id, &grant_for(&a, 3)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::CONFLICT, Some("lease_expired"))
        );
        // An answered lease is over too.
        result(&net, &b, &other, speech(0.9)).await;
        let (status, body) = post_grant(
            &net,
            &owner,
            other["job"].as_str().unwrap(),
            &grant_for(&b, 3),
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::CONFLICT, Some("lease_expired"))
        );
        assert_eq!((earned(&net, "a").await, earned(&net, "b").await), (0, FEE));
        assert_eq!(funds_units(&net, &owner).await, before - FEE);
        assert_ledger_balanced(&net).await;
    }
);

both!(a_node_registers_only_its_own_key, |net| {
    let a = key("compute a");
    let b = key("compute b");
    let register = |k: String| json!({ "capabilities": [{ "kind": "vad", "model": model(), "runtime": "rust" }], "key": k });
    for bad in [
        hex::encode(b.public_key().to_compressed()),
        hex::encode(&a.public_key().to_compressed()[..32]),
        "02zz".to_owned(),
    ] {
        let (status, body) = net
            .call(net.signed(&a, "POST", "/v1/compute/register", &register(bad)))
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_node_key"))
        );
    }
    let own = hex::encode(a.public_key().to_compressed());
    let (status, body) = net
        .call(net.signed(&a, "POST", "/v1/compute/register", &register(own)))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
});

/// Each node's (agreed, disagreed), by address.
async fn records(net: &Net) -> std::collections::HashMap<datahub_core::Address, (i64, i64)> {
    let (status, nodes) = net.get("/v1/compute/nodes", None).await;
    assert_eq!(status, StatusCode::OK, "{nodes}");
    nodes["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                datahub_core::Address::parse(n["address"].as_str().unwrap()).unwrap(),
                (
                    n["agreed"].as_i64().unwrap(),
                    n["disagreed"].as_i64().unwrap(),
                ),
            )
        })
        .collect()
}

both!(
    an_escalated_job_pays_the_nodes_the_validators_agreed_with,
    |net| {
        let owner = key("owner");
        let (first, second) = (key("validator"), key("second validator"));
        let mut spec = compute_spec("escalated", &owner, &first, 2, 2);
        spec["validators"] = json!([
            hex::encode(first.public_key().to_compressed()),
            hex::encode(second.public_key().to_compressed())
        ]);
        let (status, body) = net.create_campaign(&owner, &spec).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        fund(&net, &owner, "1").await;
        let before = funds_units(&net, &owner).await;
        let (a, b) = (node(&net, "a").await, node(&net, "b").await);
        let mut alice = Worker::sign_in(&net, "alice").await;
        let object = stored_object(&net, 13, &alice).await;
        let outcome = upload(&net, &mut alice, "escalated", &object).await;
        let submission = outcome["submission"].as_str().unwrap().to_owned();
        let (job_a, job_b) = (lease(&net, &a).await, lease(&net, &b).await);
        result(&net, &a, &job_a, speech(0.9)).await;
        let silence = json!({ "label": "silence", "scores": { "speech_ratio": 0.0 } });
        result(&net, &b, &job_b, silence).await;
        // k = n = 2 and they disagree: escalated, both fees held.
        assert_eq!(funds_units(&net, &owner).await, before - 2 * FEE);
        // Both validators reject it (one rejection waits for a second opinion): the node that
        // predicted a rejection (b) is paid, the other's fee goes back.
        for validator in [&first, &second] {
            let (status, job) = net
                .call(net.signed(validator, "POST", "/v1/validation/jobs/next", &json!({})))
                .await;
            assert_eq!(status, StatusCode::OK, "{job}");
            let path = format!(
                "/v1/validation/jobs/{}/verdict",
                job["job"].as_str().unwrap()
            );
            let verdict = json!({ "object": object, "accept": false, "reasons": ["silent"] });
            let (status, body) = net
                .call(net.signed(validator, "POST", &path, &verdict))
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        assert_eq!(submission_status(&net, &submission).await, "rejected");
        assert_eq!((earned(&net, "a").await, earned(&net, "b").await), (0, FEE));
        assert_eq!(funds_units(&net, &owner).await, before - FEE);
        assert_eq!(balance_of(&net, "compute:escalated".into()).await, 0);
        let records = records(&net).await;
        assert_eq!(records[&a.public_key().address()], (0, 1));
        assert_eq!(records[&b.public_key().address()], (1, 0));
        assert_ledger_balanced(&net).await;
    }
);

/// An object id for the pre-annotation tests (nothing is stored: nodes are given the id).
fn picture(seed: u8) -> String {
    hex::encode([seed; 32])
}

both!(
    a_model_pre_annotates_a_labeling_campaign_suggests_and_votes,
    |net| {
        let owner = key("owner");
        let (item, golden) = (picture(0x11), picture(0x22));
        // One ordinary item and one golden item (a cat), each a picture; every task of a
        // contributor's is golden while one is left, so both contributors see the golden one.
        let spec = json!({
            "id": "pets",
            "kind": "image_categorization",
            "title": "Which animal?",
            "instructions": "Pick the animal in the picture.",
            "labels": ["cat", "dog", "bird"],
            "items": [{ "object": item }],
            "golden": [{ "item": { "object": golden }, "answer": { "labels": ["cat"] } }],
            "golden_share": 1.0,
            "reward": "0.05",
            "token": "USDT",
            "budget": "1",
            "overlap": 2,
            "max_overlap": 2,
            "lease_seconds": 300,
            "encryption_key": encryption_key(&owner),
            "chains": [CHAIN],
            "compute": { "kind": "classify", "model": classifier(), "k": 2, "n": 2, "fee": "0.01" },
        });
        let (status, body) = net.create_campaign(&owner, &spec).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        fund(&net, &owner, "1").await;
        let mut alice = Worker::sign_in(&net, "alice").await;
        let mut bob = Worker::sign_in(&net, "bob").await;
        // Before the model has run there is nothing to suggest.
        let (status, task) = alice.next(&net, "pets").await;
        assert_eq!(status, StatusCode::OK, "{task}");
        assert_eq!(task["item"]["object"], golden.as_str());
        assert!(task.get("suggestion").is_none(), "{task}");

        // The model says "dog" on the golden cat (wrong) and "cat" on the item.
        let said = |object: &str| if object == golden { "dog" } else { "cat" };
        for label in ["a", "b"] {
            let node = node(&net, label).await;
            loop {
                let (status, job) = next(&net, &node).await;
                if status == StatusCode::NOT_FOUND {
                    break;
                }
                assert_eq!(
                    (status, job["kind"].as_str()),
                    (StatusCode::OK, Some("classify")),
                    "{job}"
                );
                let prediction = json!({ "label": said(job["object"].as_str().unwrap()), "scores": { "probability": 0.9 } });
                let (status, body) = result(&net, &node, &job, prediction).await;
                assert_eq!(status, StatusCode::OK, "{body}");
            }
        }
        // Both nodes agreed on both items: each is paid two fees.
        assert_eq!(
            (earned(&net, "a").await, earned(&net, "b").await),
            (2 * FEE, 2 * FEE)
        );
        // The model was judged on the golden item, as a contributor would be.
        let model_row = net
            .relay()
            .db
            .read(move |conn: &mut dyn Conn| {
                conn.query_opt(
                    "SELECT golden_right, golden_wrong FROM contributors WHERE campaign = 'pets' AND worker = $1",
                    datahub_relay::params![format!("model:{}", classifier())],
                )
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (model_row.int(0).unwrap(), model_row.int(1).unwrap()),
            (0, 1)
        );

        // The held lease now carries the model's word, not the golden answer ("cat"); the
        // golden item has one exactly as an ordinary one does.
        let (status, task) = alice.next(&net, "pets").await;
        assert_eq!(status, StatusCode::OK, "{task}");
        assert_eq!(
            task["suggestion"],
            json!({ "label": "dog", "kind": "classify", "model": classifier() })
        );
        let cat = json!({ "labels": ["cat"] });
        let dog = json!({ "labels": ["dog"] });
        let (status, outcome) = alice.work(&net, "pets", &cat).await;
        assert_eq!(
            (status, outcome["status"].as_str()),
            (StatusCode::OK, Some("pending")),
            "{outcome}"
        );
        let (status, task) = bob.next(&net, "pets").await;
        assert_eq!(task["item"]["object"], golden.as_str(), "{task}");
        assert_eq!(task["suggestion"]["label"], "dog", "{task}");
        let (status2, outcome) = bob.work(&net, "pets", &cat).await;
        assert_eq!(
            (status, status2),
            (StatusCode::OK, StatusCode::OK),
            "{outcome}"
        );

        // The item: alice says dog, bob cat. With equal records the crowd alone leans to
        // "dog" (its class prior and matrices are symmetric but for the golden cat both got
        // right), and is far from sure; the model's "cat" settles it.
        let (status, task) = alice.next(&net, "pets").await;
        assert_eq!(status, StatusCode::OK, "{task}");
        assert_eq!(task["item"]["object"], item.as_str());
        assert_eq!(task["suggestion"]["label"], "cat", "{task}");
        let (_, outcome) = alice.work(&net, "pets", &dog).await;
        assert_eq!(outcome["status"], "pending", "{outcome}");
        let (_, outcome) = bob.work(&net, "pets", &cat).await;
        assert_eq!(outcome["status"], "accepted", "{outcome}");

        // The results carry the model's prediction with its hash and the nodes' signed results.
        let (status, results) = net
            .call(net.signed_get(&owner, "/v1/campaigns/pets/results"))
            .await;
        assert_eq!(status, StatusCode::OK, "{results}");
        let record = &results["records"][0];
        assert_eq!(record["answer"], cat, "{results}");
        let predictions = record["predictions"].as_array().unwrap();
        assert_eq!(predictions.len(), 1, "{results}");
        assert_eq!(predictions[0]["model"], classifier().as_str());
        assert_eq!(predictions[0]["prediction"]["label"], "cat");
        assert_eq!(predictions[0]["results"].as_array().unwrap().len(), 2);
        // The model learnt from the accepted item too: it agreed.
        let agreed = net
            .relay()
            .db
            .read(move |conn: &mut dyn Conn| {
                conn.query_opt(
                    "SELECT agreed, disagreed FROM contributors WHERE campaign = 'pets' AND worker = $1",
                    datahub_relay::params![format!("model:{}", classifier())],
                )
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!((agreed.int(0).unwrap(), agreed.int(1).unwrap()), (1, 0));
        // The console counts people: the model's record is not a contributor.
        let (status, stats) = net
            .call(net.signed_get(&owner, "/v1/campaigns/pets/stats"))
            .await;
        assert_eq!(status, StatusCode::OK, "{stats}");
        assert_eq!(stats["contributors"]["total"], 2, "{stats}");
        assert_ledger_balanced(&net).await;
    }
);
