//! Slots given back, through the router on a real database: while a campaign is open a returned
//! slot is open again; once it is closed, the slot's reward goes back to the requester's funding
//! account (it used to stay in the closed campaign's account for good).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use axum::http::StatusCode;
use common::*;
use datahub_core::SecretKey;
use datahub_relay::db::Conn;
use serde_json::{Value, json};

/// The reward of [`campaign_spec`], in ledger units.
const REWARD: i64 = 50_000;

fn verdict(v: &str) -> Value {
    json!({ "verdict": v })
}

/// The requester's funding, in ledger units, whatever its accounts are called.
async fn funding(net: &Net, owner: &SecretKey) -> i64 {
    let owner = datahub_relay::auth::db_address(&owner.public_key().address());
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
}

/// A campaign's account balance, in ledger units.
async fn campaign_balance(net: &Net, id: &str) -> i64 {
    let account = format!("campaign:{id}");
    net.relay()
        .db
        .read(
            move |conn: &mut dyn Conn| -> Result<i64, datahub_relay::db::DbError> {
                datahub_relay::ledger::balance(conn, &account)
            },
        )
        .await
        .unwrap()
}

async fn set_status(net: &Net, owner: &SecretKey, id: &str, status: &str) {
    let (code, body) = net
        .call(net.signed(
            owner,
            "POST",
            &format!("/v1/campaigns/{id}/status"),
            &json!({ "status": status }),
        ))
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
}

/// Runs the lease sweep as if every active lease had run out.
async fn expire_leases(net: &Net) {
    net.relay()
        .db
        .write(
            |conn: &mut dyn Conn| -> datahub_relay::error::ApiResult<()> {
                conn.execute(
                    "UPDATE leases SET expires_ms = 0 WHERE state = 'active'",
                    &[],
                )?;
                datahub_relay::tasks::sweep_expired(conn, datahub_relay::clock::now_ms(), 100)?;
                Ok(())
            },
        )
        .await
        .unwrap();
}

both!(an_open_campaign_gets_an_expired_slot_back, |net| {
    let owner = key("owner");
    net.create_campaign(&owner, &campaign_spec("open-1", &owner, 2, 1, "1"))
        .await;
    let worker = Worker::sign_in(&net, "w").await;
    let (status, task) = worker.next(&net, "open-1").await;
    assert_eq!(status, StatusCode::OK, "{task}");
    let (_, shown) = net.get("/v1/campaigns/open-1", None).await;
    assert_eq!(shown["open_tasks"], 19);
    let before = funding(&net, &owner).await;
    expire_leases(&net).await;
    let (_, shown) = net.get("/v1/campaigns/open-1", None).await;
    assert_eq!(shown["open_tasks"], 20);
    assert_eq!(funding(&net, &owner).await, before);
    assert_eq!(campaign_balance(&net, "open-1").await, 1_000_000);
    assert_ledger_balanced(&net).await;
});

both!(
    a_closed_campaign_returns_an_expired_lease_to_the_requester,
    |net| {
        let owner = key("owner");
        net.create_campaign(&owner, &campaign_spec("closed-1", &owner, 2, 1, "1"))
            .await;
        let worker = Worker::sign_in(&net, "w").await;
        let (status, task) = worker.next(&net, "closed-1").await;
        assert_eq!(status, StatusCode::OK, "{task}");
        set_status(&net, &owner, "closed-1", "closed").await;
        // Closing returned everything but the leased slot.
        assert_eq!(campaign_balance(&net, "closed-1").await, REWARD);
        let before = funding(&net, &owner).await;
        expire_leases(&net).await;
        assert_eq!(funding(&net, &owner).await, before + REWARD);
        assert_eq!(campaign_balance(&net, "closed-1").await, 0);
        let (_, shown) = net.get("/v1/campaigns/closed-1", None).await;
        assert_eq!(shown["open_tasks"], 0, "a closed campaign opens no slot");
        // The sweep is idempotent: nothing moves twice.
        expire_leases(&net).await;
        assert_eq!(funding(&net, &owner).await, before + REWARD);
        assert_ledger_balanced(&net).await;
    }
);

both!(
    a_closed_campaign_returns_a_skipped_lease_to_the_requester,
    |net| {
        let owner = key("owner");
        net.create_campaign(&owner, &campaign_spec("closed-2", &owner, 2, 1, "1"))
            .await;
        let worker = Worker::sign_in(&net, "w").await;
        let (_, task) = worker.next(&net, "closed-2").await;
        set_status(&net, &owner, "closed-2", "closed").await;
        let before = funding(&net, &owner).await;
        let lease = task["lease"].as_str().unwrap();
        let (status, body) = net
            .post(
                &format!("/v1/leases/{lease}/skip"),
                Some(&worker.token),
                &json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(funding(&net, &owner).await, before + REWARD);
        assert_eq!(campaign_balance(&net, "closed-2").await, 0);
        assert_ledger_balanced(&net).await;
    }
);

both!(
    a_closed_campaign_returns_an_outvoted_answer_to_the_requester,
    |net| {
        let owner = key("owner");
        // One item, two answers wanted; both leased before the campaign closes.
        net.create_campaign(&owner, &campaign_spec("closed-3", &owner, 1, 2, "1"))
            .await;
        let mut alice = Worker::sign_in(&net, "alice").await;
        let mut bob = Worker::sign_in(&net, "bob").await;
        let (_, a) = alice.next(&net, "closed-3").await;
        let (_, b) = bob.next(&net, "closed-3").await;
        set_status(&net, &owner, "closed-3", "closed").await;
        assert_eq!(campaign_balance(&net, "closed-3").await, 2 * REWARD);
        let before = funding(&net, &owner).await;
        let body = alice.submission(
            &net,
            "closed-3",
            a["lease"].as_str().unwrap(),
            &verdict("true"),
        );
        let (_, first) = alice.submit(&net, &body).await;
        assert_eq!(first["status"], "pending", "{first}");
        let body = bob.submission(
            &net,
            "closed-3",
            b["lease"].as_str().unwrap(),
            &verdict("false"),
        );
        let (_, second) = bob.submit(&net, &body).await;
        // The campaign cannot ask for a third answer: the item is decided, one answer wins.
        let (_, a_balance) = net.get("/v1/me/balances", Some(&alice.token)).await;
        let (_, b_balance) = net.get("/v1/me/balances", Some(&bob.token)).await;
        let paid = [a_balance, b_balance]
            .iter()
            .filter(|b| b["balances"][0]["amount"] == "0.05")
            .count();
        assert_eq!(paid, 1, "{second}");
        // The loser's reward went back to the requester, not into the closed campaign's account.
        assert_eq!(funding(&net, &owner).await, before + REWARD);
        assert_eq!(campaign_balance(&net, "closed-3").await, 0);
        assert_ledger_balanced(&net).await;
    }
);

// What a lease and its answer cost the database, counted by the relay (`Db::statements`,
// `datahub_db_statements_total`): both requests' session reads, the lease's write and the
// submission's write, with their transaction control (on SQLite BEGIN, SAVEPOINT, RELEASE and
// COMMIT around each write when it commits alone, on PostgreSQL BEGIN and COMMIT). 26
// statements besides those since issue 19 cut the hot path (32 before: 42 in all on either
// database), so 36 on SQLite and 32 on PostgreSQL: the bound catches a statement added to it.
// The fewest of three rounds: the relay's background loops may run statements meanwhile.
both!(
    a_lease_and_its_answer_cost_a_bounded_number_of_statements,
    |net| {
        let owner = key("owner");
        net.create_campaign(&owner, &campaign_spec("counted", &owner, 10, 1, "1"))
            .await;
        let mut worker = Worker::sign_in(&net, "counted").await;
        // The first answer opens the contributor's record and account.
        let (status, outcome) = worker.work(&net, "counted", &verdict("true")).await;
        assert_eq!(status, StatusCode::OK, "{outcome}");
        let mut fewest = u64::MAX;
        for _ in 0..3 {
            let before = net.relay().db.statements();
            let (status, outcome) = worker.work(&net, "counted", &verdict("true")).await;
            assert_eq!(status, StatusCode::OK, "{outcome}");
            assert_eq!(outcome["status"], "accepted", "{outcome}");
            fewest = fewest.min(net.relay().db.statements() - before);
        }
        let most = match net.relay().db.backend() {
            "sqlite" => 36,
            _ => 32,
        };
        eprintln!("statements for a lease and its answer: {fewest}");
        assert!(
            fewest <= most,
            "a lease and its answer took {fewest} statements, more than {most}"
        );
    }
);
