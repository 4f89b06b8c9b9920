//! Validators of uploads through the router and a real database: an upload to a campaign with
//! validators waits for a verdict; accepted is credited, rejected is unpaid and frees its slot;
//! jobs are leased to one validator at a time and come back when the lease runs out; verdicts
//! are shown to the requester with what was signed, and the signature checks out.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use axum::http::StatusCode;
use common::*;
use datahub_core::SecretKey;
use datahub_core::eth::{SubmissionReceipt, Timestamp, TypedStruct, U256, keccak256};
use datahub_core::request;
use datahub_relay::db::Conn;
use serde_json::{Value, json};

/// An image-upload campaign whose uploads `validators` check.
fn upload_spec(
    id: &str,
    owner: &SecretKey,
    validators: &[&SecretKey],
    items: usize,
    budget: &str,
) -> Value {
    let items: Vec<Value> = (0..items)
        .map(|i| json!({ "prompt": format!("photo of a street, number {i}") }))
        .collect();
    let validators: Vec<String> = validators
        .iter()
        .map(|k| hex::encode(k.public_key().to_compressed()))
        .collect();
    json!({
        "id": id,
        "kind": "image_upload",
        "title": "Street photos",
        "instructions": "Take a photo of a street.",
        "items": items,
        "reward": "0.05",
        "token": "USDT",
        "budget": budget,
        "lease_seconds": 300,
        "encryption_key": encryption_key(owner),
        "chains": [CHAIN],
        "upload": { "types": ["image/png", "image/jpeg"], "min_width": 64, "min_height": 64, "max_bytes": 1000000 },
        "validators": validators,
    })
}

/// Records an object as fully stored (the storage side is tested in storage.rs; here only
/// completeness matters) and returns its id.
async fn stored_object(net: &Net, seed: u8, uploader: &Worker) -> String {
    let id = hex::encode([seed; 32]);
    let object = id.clone();
    // An upload is paid only to the wallet that uploaded it.
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

/// Leases a task and submits `object` as its upload; the submission's answer.
async fn upload(
    net: &Net,
    worker: &mut Worker,
    campaign: &str,
    object: &str,
) -> (StatusCode, Value) {
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
    worker.submit(net, &body).await
}

async fn next_job(net: &Net, validator: &SecretKey, body: &Value) -> (StatusCode, Value) {
    net.call(net.signed(validator, "POST", "/v1/validation/jobs/next", body))
        .await
}

async fn verdict(net: &Net, validator: &SecretKey, job: &str, body: &Value) -> (StatusCode, Value) {
    let path = format!("/v1/validation/jobs/{job}/verdict");
    net.call(net.signed(validator, "POST", &path, body)).await
}

async fn balance(net: &Net, worker: &Worker) -> String {
    let (status, body) = net.get("/v1/me/balances", Some(&worker.token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["token"] == "USDT")
        .map_or_else(
            || "0".to_owned(),
            |b| b["amount"].as_str().unwrap().to_owned(),
        )
}

/// Answers the one open appeal of `campaign` as its requester; the appeal as answered.
async fn answer_appeal(net: &Net, owner: &SecretKey, campaign: &str, uphold: bool) -> Value {
    let path = format!("/v1/campaigns/{campaign}/appeals?state=open");
    let (status, queue) = net.call(net.signed_get(owner, &path)).await;
    assert_eq!(status, StatusCode::OK, "{queue}");
    let appeals = queue["appeals"].as_array().unwrap();
    assert_eq!(appeals.len(), 1, "{queue}");
    assert_eq!(appeals[0]["origin"], "validator", "{queue}");
    let path = format!("/v1/appeals/{}", appeals[0]["id"].as_str().unwrap());
    let (status, answered) = net
        .call(net.signed(owner, "POST", &path, &json!({ "uphold": uphold })))
        .await;
    assert_eq!(status, StatusCode::OK, "{answered}");
    answered
}

both!(campaign_validators_are_checked, |net| {
    let owner = key("owner");
    let validator = key("validator");
    let mut spec = upload_spec("checked", &owner, &[&validator], 2, "1");
    spec["validators"] = json!(["02abcdef"]);
    let (status, body) = net.create_campaign(&owner, &spec).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("validators[0]"),
        "{body}"
    );
    let keys: Vec<SecretKey> = (0..9).map(|i| key(&format!("v{i}"))).collect();
    let refs: Vec<&SecretKey> = keys.iter().collect();
    let (status, body) = net
        .create_campaign(&owner, &upload_spec("checked", &owner, &refs, 2, "1"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = net
        .create_campaign(
            &owner,
            &upload_spec("checked", &owner, &[&validator, &validator], 2, "1"),
        )
        .await;
    assert_eq!(body["message"], "validators: each key once", "{status}");
    let mut text = campaign_spec("checked", &owner, 2, 1, "1");
    text["validators"] = json!([hex::encode(validator.public_key().to_compressed())]);
    let (status, body) = net.create_campaign(&owner, &text).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let mut spec = upload_spec("checked", &owner, &[&validator], 2, "1");
    spec["upload"]["min_width"] = json!("wide");
    let (status, body) = net.create_campaign(&owner, &spec).await;
    assert_eq!(
        body["message"], "upload.min_width: an integer from 1 to 16384",
        "{status}"
    );
    let (status, body) = net
        .create_campaign(
            &owner,
            &upload_spec("checked", &owner, &[&validator], 2, "1"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["validators"],
        json!([hex::encode(validator.public_key().to_compressed())])
    );
});

both!(an_accepted_upload_is_credited_and_its_verdict_kept, |net| {
    let owner = key("owner");
    let validator = key("validator");
    let stranger = key("stranger");
    let spec = upload_spec("photos", &owner, &[&validator], 2, "1");
    let (status, body) = net.create_campaign(&owner, &spec).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let mut worker = Worker::sign_in(&net, "alice").await;
    let object = stored_object(&net, 7, &worker).await;
    let (status, outcome) = upload(&net, &mut worker, "photos", &object).await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    assert_eq!(outcome["status"], "pending");
    assert_eq!(outcome["credited"], "0");
    assert_eq!(balance(&net, &worker).await, "0");

    let (status, body) = next_job(&net, &stranger, &json!({})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("no_job"))
    );
    let (status, job) = next_job(&net, &validator, &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{job}");
    assert_eq!(job["object"], object);
    assert_eq!(job["campaign"], "photos");
    assert_eq!(job["kind"], "image_upload");
    assert_eq!(job["upload"]["min_width"], 64);
    assert_eq!(job["item"]["prompt"], "photo of a street, number 0");
    assert_eq!(job["submission"], outcome["submission"]);
    let id = job["job"].as_str().unwrap().to_owned();
    // Asking again while holding it answers the same job.
    let (_, again) = next_job(&net, &validator, &json!({})).await;
    assert_eq!(again["job"], job["job"]);

    let accept =
        json!({ "object": object, "accept": true, "reasons": [], "checks": { "width": 640 } });
    let (status, body) = verdict(&net, &stranger, &id, &accept).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("not_a_validator"))
    );
    let wrong = json!({ "object": hex::encode([8u8; 32]), "accept": true });
    let (status, body) = verdict(&net, &validator, &id, &wrong).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("wrong_object"))
    );
    let (status, body) = verdict(&net, &validator, "nosuchjob", &accept).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    let (status, settled) = verdict(&net, &validator, &id, &accept).await;
    assert_eq!(status, StatusCode::OK, "{settled}");
    assert_eq!(settled["status"], "accepted");
    assert_eq!(settled["duplicate"], false);
    assert_eq!(balance(&net, &worker).await, "0.05");
    // A retry of the same decision is answered, not counted; another decision is refused.
    let (status, retry) = verdict(&net, &validator, &id, &accept).await;
    assert_eq!(
        (status, retry["duplicate"].as_bool()),
        (StatusCode::OK, Some(true))
    );
    let reject = json!({ "object": object, "accept": false, "reasons": ["changed my mind"] });
    let (status, body) = verdict(&net, &validator, &id, &reject).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("job_done"))
    );
    assert_eq!(balance(&net, &worker).await, "0.05");
    let (status, _) = next_job(&net, &validator, &json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The accepted upload is a result; nothing was a result while it was pending.
    let (status, results) = net
        .call(net.signed(&owner, "GET", "/v1/campaigns/photos/results", &json!(null)))
        .await;
    assert_eq!(status, StatusCode::OK, "{results}");
    assert_eq!(results["records"].as_array().unwrap().len(), 1, "{results}");
    assert_eq!(results["records"][0]["object"], object);
    assert_eq!(
        results["records"][0]["contributors"],
        json!([format!("0x{}", hex::encode(worker.address().as_bytes()))])
    );

    // The requester sees the verdict with what the validator signed; the signature recovers
    // to the validator's address.
    let (status, body) = net
        .call(net.signed(
            &stranger,
            "GET",
            "/v1/campaigns/photos/verdicts",
            &json!(null),
        ))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("not_owner"))
    );
    let (status, list) = net
        .call(net.signed(
            &owner,
            "GET",
            "/v1/campaigns/photos/verdicts?limit=10",
            &json!(null),
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let verdicts = list["verdicts"].as_array().unwrap();
    assert_eq!(verdicts.len(), 1);
    let v = &verdicts[0];
    assert_eq!(v["accept"], true);
    assert_eq!(v["object"], object);
    assert_eq!(v["checks"]["width"], 640);
    assert_eq!(list["next"], Value::Null);
    let signed = &v["signed"];
    let digest = request::digest(
        "POST",
        signed["path"].as_str().unwrap(),
        signed["body"].as_str().unwrap().as_bytes(),
        Timestamp::from_unix_millis(signed["time_ms"].as_i64().unwrap()),
        &datahub_core::eth::Address::parse(signed["audience"].as_str().unwrap()).unwrap(),
    );
    let signature =
        datahub_core::Signature::from_hex(signed["signature"].as_str().unwrap()).unwrap();
    let signer = signature.recover_address_prehash(&digest).unwrap();
    assert_eq!(signer, validator.public_key().address());
    assert_eq!(
        v["validator"],
        format!("0x{}", hex::encode(signer.as_bytes()))
    );
    assert_ledger_balanced(&net).await;
});

both!(a_rejected_upload_is_unpaid_and_frees_its_slot, |net| {
    let owner = key("owner");
    let validator = key("validator");
    // One item, one paid slot: while the upload is pending, nobody else can lease it.
    let spec = upload_spec("one-slot", &owner, &[&validator], 1, "0.05");
    let (status, body) = net.create_campaign(&owner, &spec).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let mut alice = Worker::sign_in(&net, "alice").await;
    let bob = Worker::sign_in(&net, "bob").await;
    let object = stored_object(&net, 9, &alice).await;
    let (_, outcome) = upload(&net, &mut alice, "one-slot", &object).await;
    assert_eq!(outcome["status"], "pending");
    let (status, body) = bob.next(&net, "one-slot").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (_, job) = next_job(&net, &validator, &json!({})).await;
    let reject = json!({
        "object": object, "accept": false,
        "reasons": ["image is 32x32, smaller than 64x64"], "checks": { "width": 32, "height": 32 }
    });
    let (status, settled) = verdict(&net, &validator, job["job"].as_str().unwrap(), &reject).await;
    assert_eq!(status, StatusCode::OK, "{settled}");
    // The campaign's only validator does not decide alone: the upload waits for the appeal
    // queue, and holds its slot meanwhile.
    assert_eq!(
        (settled["status"].as_str(), settled["appealed"].as_bool()),
        (Some("pending"), Some(true)),
        "{settled}"
    );
    let (status, body) = bob.next(&net, "one-slot").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let answered = answer_appeal(&net, &owner, "one-slot", false).await;
    assert_eq!(answered["submission_status"], "rejected", "{answered}");
    let (_, results) = net
        .call(net.signed(
            &owner,
            "GET",
            "/v1/campaigns/one-slot/results",
            &json!(null),
        ))
        .await;
    assert_eq!(results["records"], json!([]), "{results}");
    assert_eq!(balance(&net, &alice).await, "0");
    // Alice sees why, in the validator's words.
    let (_, history) = net.get("/v1/me/history", Some(&alice.token)).await;
    let mine = &history["submissions"][0];
    assert_eq!(
        (mine["status"].as_str(), mine["reason"].as_str()),
        (Some("rejected"), Some("validator")),
        "{history}"
    );
    assert_eq!(
        mine["why"],
        "a validator of the campaign rejected the upload: image is 32x32, smaller than 64x64"
    );
    let (_, summary) = net.get("/v1/campaigns/one-slot", None).await;
    assert_eq!(summary["budget_left"], "0.05");
    assert_eq!(summary["open_tasks"], 1);
    // The slot and the item are free again, for someone else.
    let (status, task) = bob.next(&net, "one-slot").await;
    assert_eq!(status, StatusCode::OK, "{task}");
    let (status, body) = alice.next(&net, "one-slot").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_ledger_balanced(&net).await;
});

both!(
    a_closed_campaigns_rejected_upload_returns_its_reward_to_the_requester,
    |net| {
        let owner = key("owner");
        let validator = key("validator");
        let spec = upload_spec("closed-up", &owner, &[&validator], 2, "1");
        let (status, body) = net.create_campaign(&owner, &spec).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let mut alice = Worker::sign_in(&net, "alice").await;
        let object = stored_object(&net, 11, &alice).await;
        let (_, outcome) = upload(&net, &mut alice, "closed-up", &object).await;
        assert_eq!(outcome["status"], "pending");
        let close = json!({ "status": "closed" });
        let (status, body) = net
            .call(net.signed(&owner, "POST", "/v1/campaigns/closed-up/status", &close))
            .await;
        // Closing keeps the pending upload's reward owed.
        assert_eq!(
            (status, body["budget_left"].as_str()),
            (StatusCode::OK, Some("0.05"))
        );
        let owner_address = datahub_relay::auth::db_address(&owner.public_key().address());
        let funding = || async {
            let owner = owner_address.clone();
            net.relay()
                .db
                .read(
                    move |conn: &mut dyn Conn| -> Result<i64, datahub_relay::db::DbError> {
                        let rows = conn.query(
                            "SELECT balance FROM accounts WHERE kind = 'funding' AND owner = $1",
                            datahub_relay::params![owner],
                        )?;
                        rows.iter().map(|r| r.int(0)).sum()
                    },
                )
                .await
                .unwrap()
        };
        let before = funding().await;
        let (_, job) = next_job(&net, &validator, &json!({})).await;
        let reject = json!({ "object": object, "accept": false, "reasons": ["blurred"] });
        let (status, settled) =
            verdict(&net, &validator, job["job"].as_str().unwrap(), &reject).await;
        assert_eq!(
            (status, settled["status"].as_str()),
            (StatusCode::OK, Some("pending"))
        );
        let answered = answer_appeal(&net, &owner, "closed-up", false).await;
        assert_eq!(answered["submission_status"], "rejected", "{answered}");
        assert_eq!(
            funding().await,
            before + 50_000,
            "the reward went back to the requester"
        );
        let (_, summary) = net.get("/v1/campaigns/closed-up", None).await;
        assert_eq!(
            (
                summary["budget_left"].as_str(),
                summary["open_tasks"].as_i64()
            ),
            (Some("0"), Some(0))
        );
        assert_ledger_balanced(&net).await;
    }
);

both!(a_job_whose_lease_ran_out_goes_to_another_validator, |net| {
    let owner = key("owner");
    let (first, second) = (key("validator 1"), key("validator 2"));
    let spec = upload_spec("two-validators", &owner, &[&first, &second], 2, "1");
    let (status, body) = net.create_campaign(&owner, &spec).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let mut alice = Worker::sign_in(&net, "alice").await;
    let object = stored_object(&net, 3, &alice).await;
    upload(&net, &mut alice, "two-validators", &object).await;
    let (status, body) = next_job(&net, &first, &json!({ "lease_seconds": 1 })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, job) = next_job(&net, &first, &json!({ "lease_seconds": 30 })).await;
    assert_eq!(status, StatusCode::OK, "{job}");
    let id = job["job"].as_str().unwrap().to_owned();
    let (status, _) = next_job(&net, &second, &json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The first validator crashed: its lease runs out (moved into the past here).
    let held = id.clone();
    net.relay()
        .db
        .write(move |conn: &mut dyn Conn| {
            conn.execute(
                "UPDATE validation_jobs SET lease_expires_ms = 1 WHERE id = $1",
                datahub_relay::params![held],
            )
        })
        .await
        .unwrap();
    let (status, again) = next_job(&net, &second, &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["job"], id.as_str());
    let accept = json!({ "object": object, "accept": true });
    let (status, body) = verdict(&net, &first, &id, &accept).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("job_leased"))
    );
    let (status, body) = verdict(&net, &second, &id, &accept).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("accepted"))
    );
    assert_eq!(balance(&net, &alice).await, "0.05");
});

both!(without_validators_an_upload_is_accepted_at_once, |net| {
    let owner = key("owner");
    let mut spec = upload_spec("no-validators", &owner, &[], 1, "1");
    spec.as_object_mut().unwrap().remove("validators");
    let (status, body) = net.create_campaign(&owner, &spec).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["validators"], json!([]));
    let mut worker = Worker::sign_in(&net, "alice").await;
    let object = stored_object(&net, 5, &worker).await;
    let (_, outcome) = upload(&net, &mut worker, "no-validators", &object).await;
    assert_eq!(outcome["status"], "accepted", "{outcome}");
    assert_eq!(balance(&net, &worker).await, "0.05");
    // Nobody's job: any key asking gets none.
    let (status, _) = next_job(&net, &key("validator"), &json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
});

both!(a_rejection_needs_a_second_validator_to_agree, |net| {
    let owner = key("owner");
    let (first, second) = (key("validator one"), key("validator two"));
    let spec = upload_spec("two-eyes", &owner, &[&first, &second], 2, "1");
    let (status, body) = net.create_campaign(&owner, &spec).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let mut alice = Worker::sign_in(&net, "alice").await;
    let reject =
        |object: &str| json!({ "object": object, "accept": false, "reasons": ["blurred"] });
    // One validator rejecting alone leaves the upload pending, for the other to decide.
    let object = stored_object(&net, 21, &alice).await;
    let (_, outcome) = upload(&net, &mut alice, "two-eyes", &object).await;
    assert_eq!(outcome["status"], "pending");
    let (_, job) = next_job(&net, &first, &json!({})).await;
    let job = job["job"].as_str().unwrap().to_owned();
    let (status, settled) = verdict(&net, &first, &job, &reject(&object)).await;
    assert_eq!(status, StatusCode::OK, "{settled}");
    assert_eq!(
        (
            settled["status"].as_str(),
            settled["second_opinion"].as_bool()
        ),
        (Some("pending"), Some(true)),
        "{settled}"
    );
    // The same rejection again is the same answer; the rejecter cannot take the job back, nor
    // turn around and accept it.
    let (status, again) = verdict(&net, &first, &job, &reject(&object)).await;
    assert_eq!(
        (status, again["duplicate"].as_bool()),
        (StatusCode::OK, Some(true)),
        "{again}"
    );
    let (status, none) = next_job(&net, &first, &json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{none}");
    let accept = json!({ "object": object, "accept": true });
    let (status, body) = verdict(&net, &first, &job, &accept).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("second_opinion")),
        "{body}"
    );
    // The second validator disagrees: the upload is paid.
    let (_, taken) = next_job(&net, &second, &json!({})).await;
    assert_eq!(taken["job"], job.as_str());
    let (status, settled) = verdict(&net, &second, &job, &accept).await;
    assert_eq!(status, StatusCode::OK, "{settled}");
    assert_eq!(settled["status"], "accepted");
    assert_eq!(balance(&net, &alice).await, "0.05");
    // Both reject the next one: it is rejected.
    let object = stored_object(&net, 22, &alice).await;
    let (_, outcome) = upload(&net, &mut alice, "two-eyes", &object).await;
    assert_eq!(outcome["status"], "pending");
    let (_, job) = next_job(&net, &second, &json!({})).await;
    let job = job["job"].as_str().unwrap().to_owned();
    let (_, settled) = verdict(&net, &second, &job, &reject(&object)).await;
    assert_eq!(settled["status"], "pending", "{settled}");
    let (_, taken) = next_job(&net, &first, &json!({})).await;
    assert_eq!(taken["job"], job.as_str());
    let (_, settled) = verdict(&net, &first, &job, &reject(&object)).await;
    assert_eq!(settled["status"], "rejected", "{settled}");
    assert_eq!(balance(&net, &alice).await, "0.05");
    assert_ledger_balanced(&net).await;
});

both!(
    a_lone_validators_rejection_is_decided_by_the_appeal_queue,
    |net| {
        let owner = key("owner");
        let validator = key("validator");
        let spec = upload_spec("lone", &owner, &[&validator], 2, "1");
        let (status, body) = net.create_campaign(&owner, &spec).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let mut alice = Worker::sign_in(&net, "alice").await;
        let object = stored_object(&net, 21, &alice).await;
        let (_, outcome) = upload(&net, &mut alice, "lone", &object).await;
        assert_eq!(outcome["status"], "pending");
        let (_, job) = next_job(&net, &validator, &json!({})).await;
        let job = job["job"].as_str().unwrap().to_owned();
        let reject = json!({ "object": object, "accept": false, "reasons": ["too dark"] });
        let (status, settled) = verdict(&net, &validator, &job, &reject).await;
        assert_eq!(
            (status, settled["status"].as_str()),
            (StatusCode::OK, Some("pending")),
            "{settled}"
        );
        // The same rejection again is the same outcome; the job is not handed out again.
        let (status, again) = verdict(&net, &validator, &job, &reject).await;
        assert_eq!(
            (status, again["duplicate"].as_bool()),
            (StatusCode::OK, Some(true)),
            "{again}"
        );
        let (status, body) = next_job(&net, &validator, &json!({})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        // The contributor sees the appeal the relay opened, and cannot open another.
        let (_, standing) = net.get("/v1/me/standing", Some(&alice.token)).await;
        assert_eq!(standing["appeals"][0]["origin"], "validator", "{standing}");
        assert!(
            standing["appeals"][0]["reason"]
                .as_str()
                .unwrap()
                .ends_with("too dark"),
            "{standing}"
        );
        // Upheld: accepted and paid as a validator's acceptance is, once.
        let answered = answer_appeal(&net, &owner, "lone", true).await;
        assert_eq!(answered["submission_status"], "accepted", "{answered}");
        assert_eq!(balance(&net, &alice).await, "0.05");
        let (_, results) = net
            .call(net.signed(&owner, "GET", "/v1/campaigns/lone/results", &json!(null)))
            .await;
        assert_eq!(
            results["records"].as_array().map(Vec::len),
            Some(1),
            "{results}"
        );
        assert_ledger_balanced(&net).await;
    }
);
