//! The requester's console over the API: a wallet's session acts as the requester (create,
//! fund-backed budget, stats, review, pause, results), strangers and narrow sessions are
//! refused, and a review sets the answer the results give.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use axum::http::StatusCode;
use common::*;
use datahub_core::eth::{CampaignScope, ChainId, SessionGrant, Timestamp, U256, personal};
use serde_json::{Value, json};

/// A session of `label`'s wallet granted for `campaigns` only.
async fn scoped_session(net: &Net, label: &str, campaigns: Vec<String>) -> String {
    let wallet = key(&format!("wallet {label}"));
    session_of(net, &wallet, CampaignScope::Only(campaigns)).await
}

/// A session of `wallet` granted for `scope`: its bearer token.
async fn session_of(net: &Net, wallet: &datahub_core::SecretKey, scope: CampaignScope) -> String {
    let session_key = key(&format!("session of {}", wallet.public_key().address()));
    let (_, nonce) = net.post("/v1/auth/nonce", None, &json!({})).await;
    let now = Timestamp::from_unix_millis(datahub_relay::clock::now_ms());
    let grant = SessionGrant {
        key: session_key.public_key().address(),
        expires: Timestamp::from_unix_millis(now.unix_millis() + 3_600_000),
        campaigns: scope,
        reward_cap: U256::from_u64(1_000_000_000),
    };
    let message = grant
        .siwe_message(
            wallet.public_key().address(),
            &net.domain,
            &format!("http://{}/", net.domain),
            ChainId(CHAIN),
            nonce["nonce"].as_str().unwrap(),
            now,
            None,
        )
        .to_string();
    let signature = personal::sign_message(wallet, message.as_bytes());
    let (status, body) = net
        .post(
            "/v1/auth/session",
            None,
            &json!({ "message": message, "signature": signature.to_hex() }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

both!(a_wallet_session_runs_its_campaign_and_only_its_own, |net| {
    let id = format!("console-{}", unique().replace('_', "-"));
    let requester = Worker::sign_in(&net, &format!("requester {id}")).await;
    let (status, _) = net
        .grant(
            &requester.address(),
            CHAIN,
            "USDT",
            "5",
            &format!("fund-{id}"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let mut spec = campaign_spec(&id, &requester.wallet, 3, 3, "1");
    spec["max_overlap"] = json!(3);
    let token = Some(requester.token.as_str());

    // Created with the session's token alone: the wallet is the owner, its funds pay.
    let (status, body) = net.post("/v1/campaigns", token, &spec).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["owner"],
        datahub_relay::auth::db_address(&requester.address())
    );
    let (status, funds) = net.get("/v1/funds", token).await;
    assert_eq!(status, StatusCode::OK, "{funds}");
    assert_eq!(funds["funds"][0]["amount"], "4");

    // Three contributors: two say true, one says false, on every item.
    let mut crowd = Vec::new();
    for n in 0..3 {
        crowd.push(Worker::sign_in(&net, &format!("crowd {id} {n}")).await);
    }
    for _ in 0..3 {
        for (n, worker) in crowd.iter_mut().enumerate() {
            let verdict = if n == 2 { "false" } else { "true" };
            let (status, body) = worker.work(&net, &id, &json!({ "verdict": verdict })).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    }

    let (status, stats) = net.get(&format!("/v1/campaigns/{id}/stats"), token).await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    assert_eq!(stats["items"]["total"], 3);
    // Five statements, one per table, however large the campaign (twelve before).
    if let common::Target::Router { relay, .. } = &net.target {
        let (campaign, owner) = (
            id.clone(),
            datahub_relay::auth::db_address(&requester.address()),
        );
        let statements = relay
            .db
            .read(move |conn| -> datahub_relay::error::ApiResult<u32> {
                let mut counted = datahub_relay::db::Counted::new(conn);
                let again = datahub_relay::console::stats_document(
                    &mut counted,
                    &campaign,
                    &owner,
                    datahub_relay::clock::now_ms(),
                )?;
                assert_eq!(again["items"]["total"], 3);
                Ok(counted.statements)
            })
            .await
            .unwrap();
        assert_eq!(statements, 5);
    }
    assert_eq!(stats["items"]["decided"], 3, "{stats}");
    assert_eq!(stats["bucket_seconds"], 60);
    let answered: i64 = stats["answers_per_bucket"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["answers"].as_i64().unwrap())
        .sum();
    assert_eq!(answered, 9);
    let decided: i64 = stats["confidence_histogram"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_i64().unwrap())
        .sum();
    assert_eq!(decided, 3);
    assert_eq!(stats["contributors"]["total"], 3);
    let trusted: i64 = stats["trust_histogram"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_i64().unwrap())
        .sum();
    assert_eq!(trusted, 3);
    // The budget line ends where the campaign's account is: 1 USDT less what was paid.
    let budget = stats["budget_over_time"].as_array().unwrap();
    let (_, summary) = net.get(&format!("/v1/campaigns/{id}"), None).await;
    assert_eq!(
        budget.last().unwrap()["left"],
        summary["budget_left"],
        "{stats}"
    );

    // Every item had an outvoted answer: all three wait for review, with the answers given.
    let (status, review) = net.get(&format!("/v1/campaigns/{id}/review"), token).await;
    assert_eq!(status, StatusCode::OK, "{review}");
    let items = review["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{review}");
    assert_eq!(items[0]["answers"].as_array().unwrap().len(), 3);
    let index = items[0]["index"].as_i64().unwrap();

    let path = format!("/v1/campaigns/{id}/items/{index}/answer");
    let (status, body) = net
        .post(&path, token, &json!({ "answer": { "verdict": "maybe" } }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"], "invalid_answer");
    let (status, body) = net
        .post(&path, token, &json!({ "answer": { "verdict": "false" } }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, review) = net.get(&format!("/v1/campaigns/{id}/review"), token).await;
    assert_eq!(review["items"].as_array().unwrap().len(), 2, "{review}");
    let (status, results) = net.get(&format!("/v1/campaigns/{id}/results"), token).await;
    assert_eq!(status, StatusCode::OK, "{results}");
    let record = results["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["index"] == index)
        .unwrap();
    assert_eq!(record["answer"], json!({ "verdict": "false" }));
    assert_eq!(record["method"], "review");
    assert_eq!(record["confidence"], 1.0);

    // Pausing with the session, too.
    let (status, body) = net
        .post(
            &format!("/v1/campaigns/{id}/status"),
            token,
            &json!({ "status": "paused" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "paused");

    // A stranger's session, a stranger's key, a session for some campaigns, and no one at
    // all: none of them reads or changes this campaign.
    let stranger = Worker::sign_in(&net, &format!("stranger {id}")).await;
    let them = Some(stranger.token.as_str());
    for path in [
        format!("/v1/campaigns/{id}/stats"),
        format!("/v1/campaigns/{id}/review"),
        format!("/v1/campaigns/{id}/results"),
        format!("/v1/campaigns/{id}/quality"),
    ] {
        let (status, body) = net.get(&path, them).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert_eq!(body["error"], "not_owner");
        let (status, body) = net.call(net.signed_get(&stranger.wallet, &path)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        let (status, body) = net.get(&path, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {body}");
    }
    let (status, body) = net
        .post(&path, them, &json!({ "answer": { "verdict": "true" } }))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = net
        .post(
            &format!("/v1/campaigns/{id}/status"),
            them,
            &json!({ "status": "closed" }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "not_owner");
    // The owner's own wallet, but a session asked for to work on this one campaign.
    let narrow = scoped_session(&net, &format!("requester {id}"), vec![id.clone()]).await;
    let (status, body) = net
        .get(&format!("/v1/campaigns/{id}/stats"), Some(&narrow))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "campaign_not_in_session");
    // A signed-out session is refused, not taken for the requester.
    let (status, _) = net.post("/v1/auth/signout", token, &json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = net.get(&format!("/v1/campaigns/{id}/stats"), token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "signed_out");
    assert_ledger_balanced(&net).await;
});

both!(an_item_still_collecting_answers_cannot_be_reviewed, |net| {
    let id = format!("console-{}", unique().replace('_', "-"));
    let owner = key(&format!("owner {id}"));
    let spec = campaign_spec(&id, &owner, 2, 2, "1");
    let (status, body) = net.create_campaign(&owner, &spec).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let mut worker = Worker::sign_in(&net, &format!("one {id}")).await;
    let (status, body) = worker.work(&net, &id, &json!({ "verdict": "true" })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The CLI's way: requests signed by the owner's key.
    let answer = |index: &str| {
        net.signed(
            &owner,
            "POST",
            &format!("/v1/campaigns/{id}/items/{index}/answer"),
            &json!({ "answer": { "verdict": "true" } }),
        )
    };
    let (status, body) = net.call(answer("0")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "item_undecided");
    for bad in ["-1", "x", "99999999999999999999"] {
        let (status, body) = net.call(answer(bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["error"], "bad_id");
    }
    let (status, body) = net.call(answer("7")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = net
        .call(net.signed_get(&owner, &format!("/v1/campaigns/{id}/review?limit=0")))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, stats) = net
        .call(net.signed_get(&owner, &format!("/v1/campaigns/{id}/stats")))
        .await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    assert_eq!(stats["items"]["pending"], 1, "{stats}");
    assert_eq!(stats["items"]["open"], 1, "{stats}");
    assert_eq!(stats["golden"]["accuracy"], Value::Null);
});

both!(a_wallet_session_speaks_for_a_requester_only, |net| {
    // An operator's wallet signed in (say, to try the mini-app): its bearer token is not an
    // operator's signature, so it grants nothing.
    let token = session_of(&net, &operator(), CampaignScope::Any).await;
    let grant = json!({
        "request_id": format!("t-{}", unique().replace('_', "-")),
        "requester": operator().public_key().address().to_checksum(),
        "chain_id": CHAIN,
        "token": "USDT",
        "amount": "1000",
    });
    let (status, body) = net.post("/v1/treasury/grants", Some(&token), &grant).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "not_signed");
    // Its funds, as a requester's, it may read.
    let (status, body) = net.get("/v1/funds", Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A token that is not a session is refused, not read as an unsigned request.
    let (status, body) = net.get("/v1/funds", Some("dh_not-a-token")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "unknown_session");
});
