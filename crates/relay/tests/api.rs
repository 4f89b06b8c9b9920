//! The relay's API through its router, on SQLite and on PostgreSQL: every flow a requester and a
//! contributor go through, and every bad input with its status.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use axum::http::StatusCode;
use common::*;
use datahub_core::eth::{Address, Eip712Domain, RewardVoucher, Signature, TypedStruct, U256};
use serde_json::{Value, json};

fn verdict(v: &str) -> Value {
    json!({ "verdict": v })
}

both!(campaign_lifecycle, |net| {
    let owner = key("owner");
    let spec = campaign_spec("cats-1", &owner, 3, 1, "1");
    let (status, body) = net.create_campaign(&owner, &spec).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["open_tasks"], 20);
    assert_eq!(body["budget_left"], "1");
    // The same definition again is the same campaign; another one under its id is a conflict.
    let (status, _) = net.create_campaign(&owner, &spec).await;
    assert_eq!(status, StatusCode::OK);
    let other = campaign_spec("cats-1", &owner, 4, 1, "1");
    let (status, body) = net.create_campaign(&owner, &other).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("campaign_exists"))
    );
    // Unsigned, and signed for another audience.
    let (status, body) = net.post("/v1/campaigns", None, &spec).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("not_signed"))
    );
    // A signature made for another audience recovers to another signer: not the owner.
    let request = signed_request(
        &owner,
        "POST",
        "/v1/campaigns/cats-1/status",
        &json!({ "status": "paused" }),
        &Address::ZERO,
    );
    let (status, body) = net.call(request).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("not_owner")),
        "{body}"
    );
    let mut request = net.signed(&owner, "POST", "/v1/campaigns", &spec);
    request
        .headers_mut()
        .insert("x-datahub-signature", "0x00".parse().unwrap());
    let (status, body) = net.call(request).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_signature")),
        "{body}"
    );
    // Invalid definitions.
    for (field, value) in [
        ("id", json!("Bad Id")),
        ("reward", json!("0.0000001")),
        ("budget", json!("0.01")),
        ("overlap", json!(0)),
        ("encryption_key", json!("02ab")),
        ("chains", json!([999])),
        ("token", json!("DOGE")),
        ("items", json!([])),
        ("items", json!([{ "nope": "x" }])),
    ] {
        let mut bad = campaign_spec("bad-one", &owner, 1, 1, "1");
        bad[field] = value;
        let (status, body) = net.create_campaign(&owner, &bad).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_campaign")),
            "{field}: {body}"
        );
    }
    // Listed and shown, without items.
    let (status, list) = net.get("/v1/campaigns", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["campaigns"][0]["id"], "cats-1");
    assert!(list["campaigns"][0].get("golden").is_none());
    // Only the owner changes the status.
    let intruder = key("intruder");
    let pause = json!({ "status": "paused" });
    let (status, _) = net
        .call(net.signed(&intruder, "POST", "/v1/campaigns/cats-1/status", &pause))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = net
        .call(net.signed(&owner, "POST", "/v1/campaigns/cats-1/status", &pause))
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("paused"))
    );
    let worker = Worker::sign_in(&net, "w").await;
    let (status, body) = worker.next(&net, "cats-1").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("campaign_paused"))
    );
    let close = json!({ "status": "closed" });
    let (status, body) = net
        .call(net.signed(&owner, "POST", "/v1/campaigns/cats-1/status", &close))
        .await;
    assert_eq!(
        (status, body["budget_left"].as_str()),
        (StatusCode::OK, Some("0")),
        "{body}"
    );
    let resume = json!({ "status": "active" });
    let (status, _) = net
        .call(net.signed(&owner, "POST", "/v1/campaigns/cats-1/status", &resume))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_ledger_balanced(&net).await;
});

both!(task_flow_credits_at_once_and_once, |net| {
    let owner = key("owner");
    net.create_campaign(&owner, &campaign_spec("flow", &owner, 2, 1, "10"))
        .await;
    let mut worker = Worker::sign_in(&net, "alice").await;
    let (status, task) = worker.next(&net, "flow").await;
    assert_eq!(status, StatusCode::OK, "{task}");
    assert_eq!(task["item"]["text"], "item number 0");
    // Asking again returns the same lease.
    let (_, again) = worker.next(&net, "flow").await;
    assert_eq!(again["lease"], task["lease"]);
    let lease = task["lease"].as_str().unwrap();
    let body = worker.submission(&net, "flow", lease, &verdict("true"));
    let (status, outcome) = worker.submit(&net, &body).await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    assert_eq!(outcome["status"], "accepted");
    assert_eq!(outcome["credited"], "0.05");
    assert_eq!(outcome["balance"], "0.05");
    // A retry is answered the same, credited once.
    let (status, retry) = worker.submit(&net, &body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(retry["duplicate"], true);
    assert_eq!(retry["balance"], "0.05");
    // Another answer to the same lease (new nonce) is refused.
    let second = worker.submission(&net, "flow", lease, &verdict("false"));
    let (status, body) = worker.submit(&net, &second).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("lease_expired")),
        "{body}"
    );
    // Never the same item twice: the next task is item 1, then nothing.
    let (_, task) = worker.next(&net, "flow").await;
    assert_eq!(task["item"]["text"], "item number 1");
    let body = worker.submission(
        &net,
        "flow",
        task["lease"].as_str().unwrap(),
        &verdict("false"),
    );
    worker.submit(&net, &body).await;
    let (status, body) = worker.next(&net, "flow").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("no_task"))
    );
    let (status, balances) = net.get("/v1/me/balances", Some(&worker.token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(balances["balances"][0]["amount"], "0.1");
    assert_eq!(balances["balances"][0]["claimable_on"]["56"], "0.1");
    let (_, history) = net.get("/v1/me/history", Some(&worker.token)).await;
    assert_eq!(history["entries"].as_array().unwrap().len(), 2);
    assert_eq!(history["submissions"][0]["status"], "accepted");
    assert_ledger_balanced(&net).await;
});

both!(bad_submissions_are_refused, |net| {
    let owner = key("owner");
    let mut spec = campaign_spec("strict", &owner, 4, 1, "10");
    spec["min_task_seconds"] = json!(0);
    net.create_campaign(&owner, &spec).await;
    let mut alice = Worker::sign_in(&net, "alice").await;
    let mut bob = Worker::sign_in(&net, "bob").await;
    let (_, task) = alice.next(&net, "strict").await;
    let lease = task["lease"].as_str().unwrap().to_owned();
    // No session, unknown session.
    let body = alice.submission(&net, "strict", &lease, &verdict("true"));
    let (status, _) = net.post("/v1/submissions", None, &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = net.post("/v1/submissions", Some("dh_nope"), &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Bob submits Alice's lease with his own session: not his.
    let stolen = bob.submission(&net, "strict", &lease, &verdict("true"));
    let (status, body) = bob.submit(&net, &stolen).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("not_your_lease"))
    );
    // Alice's body under Bob's session: the signature is not Bob's session key's.
    let alices = alice.submission(&net, "strict", &lease, &verdict("true"));
    let (status, body) = bob.submit(&net, &alices).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("bad_signature"))
    );
    // The answer changed after signing.
    let mut tampered = alice.submission(&net, "strict", &lease, &verdict("true"));
    tampered["answer"] = json!(verdict("false").to_string());
    let (status, body) = alice.submit(&net, &tampered).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("bad_signature"))
    );
    // Malformed pieces.
    for (field, value, code) in [
        ("signature", json!("0x1234"), "invalid_signature"),
        ("nonce", json!("-1"), "invalid_nonce"),
        ("manifest_id", json!("zz"), "invalid_manifest_id"),
    ] {
        let mut body = alice.submission(&net, "strict", &lease, &verdict("true"));
        body[field] = value;
        let (status, body) = alice.submit(&net, &body).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some(code)),
            "{field}"
        );
    }
    let (status, body) = net
        .post(
            "/v1/submissions",
            Some(&alice.token),
            &json!({ "campaign": 1 }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // An answer the campaign does not allow.
    let wrong = alice.submission(&net, "strict", &lease, &json!({ "verdict": "maybe" }));
    let (status, body) = alice.submit(&net, &wrong).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_answer"))
    );
    // A receipt past its deadline.
    let mut late = alice.submission(&net, "strict", &lease, &verdict("true"));
    late["deadline"] = json!(1_000);
    let (status, body) = alice.submit(&net, &late).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("deadline_passed"))
    );
    // A good one passes, and its nonce cannot be used again on another lease.
    let good = alice.submission(&net, "strict", &lease, &verdict("true"));
    let (status, _) = alice.submit(&net, &good).await;
    assert_eq!(status, StatusCode::OK);
    let (_, task) = alice.next(&net, "strict").await;
    let reused = submission_body(
        &alice.session_key,
        &net.address,
        "strict",
        task["lease"].as_str().unwrap(),
        &verdict("true"),
        good["nonce"].as_str().unwrap().parse().unwrap(),
        &domain(&net),
    );
    let (status, body) = alice.submit(&net, &reused).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("nonce_used")),
        "{body}"
    );
    assert_ledger_balanced(&net).await;
});

#[tokio::test]
async fn too_fast_answers_are_refused() {
    let net = Net::start(Backend::Sqlite).unwrap();
    let owner = key("owner");
    let mut spec = campaign_spec("slow", &owner, 1, 1, "1");
    spec["min_task_seconds"] = json!(30);
    net.create_campaign(&owner, &spec).await;
    let mut worker = Worker::sign_in(&net, "quick").await;
    let (status, body) = worker.work(&net, "slow", &verdict("true")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("too_fast"))
    );
}

both!(overlap_budget_and_consensus, |net| {
    let owner = key("owner");
    // One item, three answers wanted, budget for exactly three.
    net.create_campaign(&owner, &campaign_spec("vote", &owner, 1, 3, "0.15"))
        .await;
    let mut workers = Vec::new();
    for name in ["a", "b", "c", "d"] {
        workers.push(Worker::sign_in(&net, name).await);
    }
    let mut leases = Vec::new();
    for w in &workers[..3] {
        let (status, task) = w.next(&net, "vote").await;
        assert_eq!(status, StatusCode::OK);
        leases.push(task["lease"].as_str().unwrap().to_owned());
    }
    // Never more leases than the overlap wants (and the budget allows).
    let (status, body) = workers[3].next(&net, "vote").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("budget_spent")),
        "{body}"
    );
    let answers = ["true", "true", "false"];
    let mut outcomes = Vec::new();
    for ((w, lease), answer) in workers.iter_mut().zip(&leases).zip(answers) {
        let body = w.submission(&net, "vote", lease, &verdict(answer));
        let (status, outcome) = w.submit(&net, &body).await;
        assert_eq!(status, StatusCode::OK, "{outcome}");
        outcomes.push(outcome);
    }
    assert_eq!(outcomes[0]["status"], "pending");
    assert_eq!(outcomes[1]["status"], "pending");
    // The third answer settles the item: the majority is paid at once.
    assert_eq!(outcomes[2]["status"], "rejected");
    for (w, expected) in workers.iter().zip(["0.05", "0.05", "0"]) {
        let (_, history) = net.get("/v1/me/history", Some(&w.token)).await;
        let status = history["submissions"][0]["status"].as_str().unwrap();
        let (_, balances) = net.get("/v1/me/balances", Some(&w.token)).await;
        let amount = balances["balances"]
            .get(0)
            .map_or("0", |b| b["amount"].as_str().unwrap());
        assert_eq!(amount, expected, "{status}");
    }
    assert_ledger_balanced(&net).await;
});

both!(golden_answers_decide_pay, |net| {
    let owner = key("owner");
    let mut spec = campaign_spec("gold", &owner, 0, 1, "1");
    spec["items"] = json!([{ "text": "real" }]);
    spec["golden"] = json!([{ "item": { "text": "gold" }, "answer": { "verdict": "false" } }]);
    // Every task golden while there is one the contributor has not had (docs/relay.md §4a).
    spec["golden_share"] = json!(1.0);
    net.create_campaign(&owner, &spec).await;
    let mut right = Worker::sign_in(&net, "right").await;
    let mut wrong = Worker::sign_in(&net, "wrong").await;
    let (_, good) = right.work(&net, "gold", &verdict("false")).await;
    assert_eq!(good["status"], "accepted", "{good}");
    // Golden items go to everyone (once each); a wrong answer is not paid.
    let (_, bad) = wrong.work(&net, "gold", &verdict("true")).await;
    assert_eq!(bad["status"], "rejected", "{bad}");
    assert_eq!(bad["credited"], "0");
    // Then the real item.
    let (_, real) = right.work(&net, "gold", &verdict("true")).await;
    assert_eq!(real["status"], "accepted", "{real}");
    assert_eq!(real["balance"], "0.1");
    assert_ledger_balanced(&net).await;
});

/// ethers v6 (from `tests/node_modules`, which `cargo xtask setup` installs) recovers the
/// treasury from the voucher's typed data exactly as a wallet or the claim contract would.
fn assert_ethers_accepts(voucher: &Value, signer: &Address) {
    let tests = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests");
    if !tests.join("node_modules/ethers").is_dir() {
        assert!(
            std::env::var("CI").is_err(),
            "tests/node_modules is missing: run cargo xtask setup"
        );
        eprintln!("tests/node_modules/ethers missing: ethers cross-check not run");
        return;
    }
    let script = r#"
        const { verifyTypedData } = require("ethers");
        const v = JSON.parse(process.argv[1]);
        const t = v.typed_data;
        const types = { ...t.types };
        delete types.EIP712Domain;
        process.stdout.write(verifyTypedData(t.domain, types, t.message, v.signature));
    "#;
    let out = std::process::Command::new("node")
        .current_dir(&tests)
        .args(["-e", script, &voucher.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), signer.to_checksum());
}

both!(claims_become_vouchers_once, |net| {
    let owner = key("owner");
    net.create_campaign(&owner, &campaign_spec("pay", &owner, 3, 1, "1"))
        .await;
    let mut worker = Worker::sign_in(&net, "earner").await;
    for _ in 0..3 {
        let (status, _) = worker.work(&net, "pay", &verdict("true")).await;
        assert_eq!(status, StatusCode::OK);
    }
    let claim = json!({ "chain_id": 56, "token": "USDT", "request_id": "claim-1" });
    let (status, voucher) = net.post("/v1/claims", Some(&worker.token), &claim).await;
    assert_eq!(status, StatusCode::CREATED, "{voucher}");
    assert_eq!(voucher["amount_tokens"], "0.15");
    let message = &voucher["typed_data"]["message"];
    assert_eq!(
        message["amount"], "150000000000000000",
        "18 decimals on BNB Smart Chain"
    );
    // The treasury signed exactly this voucher under chain 56's domain.
    let domain_json = &voucher["typed_data"]["domain"];
    let domain = Eip712Domain {
        name: "DataHub".into(),
        version: "1".into(),
        chain_id: datahub_core::ChainId(56),
        verifying_contract: Address::parse(domain_json["verifyingContract"].as_str().unwrap())
            .unwrap(),
    };
    let parsed = RewardVoucher {
        recipient: Address::parse(message["recipient"].as_str().unwrap()).unwrap(),
        token: Address::parse(message["token"].as_str().unwrap()).unwrap(),
        amount: U256::parse(message["amount"].as_str().unwrap()).unwrap(),
        nonce: U256::parse(message["nonce"].as_str().unwrap()).unwrap(),
        deadline: message["deadline"].as_str().unwrap().parse().unwrap(),
    };
    assert_eq!(parsed.recipient, worker.address());
    let signature = Signature::from_hex(voucher["signature"].as_str().unwrap()).unwrap();
    let signer = parsed.recover(&domain, &signature).unwrap();
    assert_eq!(signer, net.relay().treasury.public_key().address());
    assert_ethers_accepts(&voucher, &signer);
    // The same request again: the same voucher, not a second debit.
    let (status, again) = net.post("/v1/claims", Some(&worker.token), &claim).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["id"], voucher["id"]);
    let (status, body) = net
        .post(
            "/v1/claims",
            Some(&worker.token),
            &json!({ "chain_id": 56, "token": "USDT", "request_id": "claim-2" }),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("nothing_to_claim"))
    );
    let (status, body) = net
        .post(
            "/v1/claims",
            Some(&worker.token),
            &json!({ "chain_id": 1, "token": "USDT", "request_id": "claim-3" }),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("nothing_to_claim")),
        "the campaign pays on chain 56 only"
    );
    for (body, code) in [
        (
            json!({ "chain_id": 999, "token": "USDT", "request_id": "x" }),
            "unsupported_chain",
        ),
        (
            json!({ "chain_id": 56, "token": "DOGE", "request_id": "x" }),
            "unsupported_token",
        ),
        (
            json!({ "chain_id": 56, "token": "USDT", "request_id": "no spaces" }),
            "invalid_request_id",
        ),
    ] {
        let (status, reply) = net.post("/v1/claims", Some(&worker.token), &body).await;
        assert_eq!(
            (status, reply["error"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(code))
        );
    }
    let (_, list) = net.get("/v1/claims", Some(&worker.token)).await;
    assert_eq!(list["vouchers"].as_array().unwrap().len(), 1);
    let id = voucher["id"].as_str().unwrap();
    let (status, fetched) = net
        .get(&format!("/v1/claims/{id}"), Some(&worker.token))
        .await;
    assert_eq!(
        (status, &fetched["signature"]),
        (StatusCode::OK, &voucher["signature"])
    );
    let other = Worker::sign_in(&net, "other").await;
    let (status, _) = net
        .get(&format!("/v1/claims/{id}"), Some(&other.token))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, balances) = net.get("/v1/me/balances", Some(&worker.token)).await;
    assert_eq!(balances["balances"][0]["amount"], "0");
    assert_ledger_balanced(&net).await;
});

both!(concurrent_retries_credit_once, |net| {
    let owner = key("owner");
    net.create_campaign(&owner, &campaign_spec("rush", &owner, 40, 1, "100"))
        .await;
    let mut bodies = Vec::new();
    let mut tokens = Vec::new();
    for i in 0..20 {
        let mut w = Worker::sign_in(&net, &format!("rusher {i}")).await;
        let (_, task) = w.next(&net, "rush").await;
        bodies.push(w.submission(
            &net,
            "rush",
            task["lease"].as_str().unwrap(),
            &verdict("true"),
        ));
        tokens.push(w.token.clone());
    }
    let net = std::sync::Arc::new(net);
    let mut handles = Vec::new();
    for _ in 0..8 {
        for (body, token) in bodies.iter().zip(&tokens) {
            let (net, body, token) = (net.clone(), body.clone(), token.clone());
            handles.push(tokio::spawn(async move {
                net.post("/v1/submissions", Some(&token), &body).await
            }));
        }
    }
    let mut fresh = 0;
    for h in handles {
        let (status, outcome) = h.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{outcome}");
        assert_eq!(outcome["balance"], "0.05");
        if outcome["duplicate"] == false {
            fresh += 1;
        }
    }
    assert_eq!(fresh, 20, "each submission credited exactly once");
    let (_, campaign) = net.get("/v1/campaigns/rush", None).await;
    assert_eq!(campaign["budget_left"], "99");
    assert_ledger_balanced(&net).await;
});

both!(sign_in_refusals, |net| {
    let worker = Worker::sign_in(&net, "someone").await;
    assert!(worker.token.starts_with("dh_"));
    let (_, nonce) = net.post("/v1/auth/nonce", None, &json!({})).await;
    let wallet = key("wallet x");
    let issued =
        datahub_core::eth::Timestamp::from_unix_seconds(datahub_relay::clock::now_ms() / 1000);
    let make = |domain: &str, chain: u64, nonce: &str| {
        format!(
            "{domain} wants you to sign in with your Ethereum account:\n{}\n\n\nURI: http://{domain}/\nVersion: 1\nChain ID: {chain}\nNonce: {nonce}\nIssued At: {issued}",
            wallet.public_key().address()
        )
    };
    let nonce = nonce["nonce"].as_str().unwrap();
    let sign = |m: &str| datahub_core::eth::personal::sign_message(&wallet, m.as_bytes()).to_hex();
    let cases = [
        (
            make("evil.example", 56, nonce),
            None,
            StatusCode::BAD_REQUEST,
            "wrong_domain",
        ),
        (
            make("127.0.0.1:8080", 999, nonce),
            None,
            StatusCode::BAD_REQUEST,
            "unsupported_chain",
        ),
        (
            make("127.0.0.1:8080", 56, "unissued1234"),
            None,
            StatusCode::UNAUTHORIZED,
            "nonce_used",
        ),
        (
            make("127.0.0.1:8080", 56, nonce),
            Some(sign("other text")),
            StatusCode::UNAUTHORIZED,
            "bad_signature",
        ),
    ];
    for (message, signature, status, code) in cases {
        let signature = signature.unwrap_or_else(|| sign(&message));
        let (got, body) = net
            .post(
                "/v1/auth/session",
                None,
                &json!({ "message": message, "signature": signature }),
            )
            .await;
        assert_eq!(
            (got, body["error"].as_str()),
            (status, Some(code)),
            "{body}"
        );
    }
    // A plain sign-in (no session key) works once, then its nonce is spent.
    let message = make("127.0.0.1:8080", 56, nonce);
    let body = json!({ "message": message, "signature": sign(&message) });
    let (status, reply) = net.post("/v1/auth/session", None, &body).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["session_key"], reply["wallet"]);
    let (status, reply) = net.post("/v1/auth/session", None, &body).await;
    assert_eq!(
        (status, reply["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("nonce_used"))
    );
});

#[tokio::test]
async fn limits_and_errors_are_json() {
    let net = Net::start_with(Backend::Sqlite, |c| {
        c.limits.address_per_sec = 1.0;
        c.limits.address_burst = 3.0;
        c.limits.body_bytes = 1024;
    })
    .unwrap();
    let (status, body) = net.get("/v1/nowhere", None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let big = json!({ "message": "x".repeat(4096), "signature": "0x" });
    let (status, body) = net.post("/v1/auth/session", None, &big).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("body_too_large")),
        "{body}"
    );
    let request = axum::http::Request::post("/v1/auth/session")
        .header("content-type", "application/json")
        .body(axum::body::Body::from("{not json"))
        .unwrap();
    let (status, body) = net.call(request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"].is_string());
    let worker = Worker::sign_in(&net, "limited").await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(net.get("/v1/me/balances", Some(&worker.token)).await.0);
    }
    assert_eq!(&statuses[..3], &[StatusCode::OK; 3]);
    assert_eq!(statuses[4], StatusCode::TOO_MANY_REQUESTS);
    let (status, text) = net.get("/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        text.as_str()
            .unwrap()
            .contains("datahub_rate_limited_total 2"),
        "{text}"
    );
    let (status, body) = net.get("/healthz", None).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
}
