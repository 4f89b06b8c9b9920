//! Money that exists: campaign budgets come from a requester's funds on the campaign's one
//! chain, which only an operator grant (or, later, a deposit) fills; voucher nonces are
//! sequential per recipient and chain; the treasury's key and the chains are checked at start.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use axum::http::StatusCode;
use common::*;
use datahub_relay::db::{Conn, DbError};
use serde_json::{Value, json};

/// Every account of a kind other than `escrow` and `operator`, with its balance, if negative.
async fn negative_accounts(net: &Net) -> Vec<(String, String, i64)> {
    net.relay()
        .db
        .read(|conn: &mut dyn Conn| -> Result<_, DbError> {
            let rows = conn.query(
                "SELECT id, kind, balance FROM accounts WHERE balance < 0",
                &[],
            )?;
            rows.iter()
                .map(|r| Ok((r.text(0)?, r.text(1)?, r.int(2)?)))
                .collect::<Result<Vec<_>, DbError>>()
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|(_, kind, _)| kind != "escrow" && kind != "operator")
        .collect()
}

async fn count(net: &Net, sql: &'static str) -> i64 {
    net.relay()
        .db
        .read(move |conn: &mut dyn Conn| -> Result<_, DbError> {
            conn.query_opt(sql, &[])?.unwrap().int(0)
        })
        .await
        .unwrap()
}

// The attack of issue 16: a freshly made key created a 200,000 USDT campaign from nothing (its
// funding account went to -200,000), and its rewards became vouchers the treasury signed.
both!(a_fresh_key_cannot_create_a_budget_from_nothing, |net| {
    let stranger = key("stranger");
    let spec = campaign_spec("free-money", &stranger, 2, 1, "200000");
    let (status, body) = net.create_campaign_unfunded(&stranger, &spec).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::PAYMENT_REQUIRED, Some("insufficient_funds")),
        "{body}"
    );
    assert_eq!(
        body["message"],
        "budget 200000 USDT on chain 56 exceeds your funds (0) by 200000: deposit to the escrow or ask the operator for a grant"
    );
    // Nothing half-created: no campaign, no items, no budget account, no transfer.
    let (status, _) = net.get("/v1/campaigns/free-money", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(count(&net, "SELECT COUNT(*) FROM items").await, 0);
    assert_eq!(count(&net, "SELECT COUNT(*) FROM transfers").await, 0);
    assert_eq!(
        count(
            &net,
            "SELECT COUNT(*) FROM accounts WHERE kind = 'campaign'"
        )
        .await,
        0
    );

    // A grant covers part of it: the shortfall is named.
    let address = stranger.public_key().address();
    let (status, grant) = net.grant(&address, 56, "USDT", "100", "g-1").await;
    assert_eq!(status, StatusCode::CREATED, "{grant}");
    assert_eq!(grant["funds"], "100");
    let (status, body) = net.create_campaign_unfunded(&stranger, &spec).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("exceeds your funds (100) by 199900"),
        "{body}"
    );
    // Funds on another chain, or in another token, do not pay for it.
    net.grant(&address, 1, "USDT", "199900", "g-other-chain")
        .await;
    net.grant(&address, 56, "OORT", "199900", "g-other-token")
        .await;
    let (status, _) = net.create_campaign_unfunded(&stranger, &spec).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);

    // Exactly the budget: created, and the funds are spent.
    net.grant(&address, 56, "USDT", "199900", "g-2").await;
    let (status, body) = net.create_campaign_unfunded(&stranger, &spec).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(net.funds(&stranger, 56, "USDT").await, "0");
    assert_eq!(net.funds(&stranger, 1, "USDT").await, "199900");
    let second = campaign_spec("more-money", &stranger, 1, 1, "0.05");
    let (status, body) = net.create_campaign_unfunded(&stranger, &second).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{body}");

    // Closing returns the unspent budget to the funds it came from.
    let close = json!({ "status": "closed" });
    let (status, _) = net
        .call(net.signed(&stranger, "POST", "/v1/campaigns/free-money/status", &close))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(net.funds(&stranger, 56, "USDT").await, "200000");
    assert!(negative_accounts(&net).await.is_empty());
    assert_ledger_balanced(&net).await;
});

both!(a_campaign_pays_on_exactly_one_chain, |net| {
    let owner = key("owner");
    for chains in [json!([56, 1]), json!([])] {
        let mut spec = campaign_spec("two-chains", &owner, 1, 1, "1");
        spec["chains"] = chains.clone();
        let (status, body) = net.create_campaign(&owner, &spec).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_campaign")),
            "{chains}: {body}"
        );
        assert!(
            body["message"].as_str().unwrap().contains("chain"),
            "{body}"
        );
    }
    let mut spec = campaign_spec("two-chains", &owner, 1, 1, "1");
    spec["chains"] = json!([56, 1]);
    let (_, body) = net.create_campaign(&owner, &spec).await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("chains: a campaign pays on exactly one chain"),
        "{body}"
    );
});

both!(grants_are_for_operators_once_per_request_id, |net| {
    let requester = key("requester").public_key().address();
    // Anyone else is refused, the requester first of all.
    for stranger in [key("requester"), key("intruder")] {
        let body = json!({
            "request_id": "r1", "requester": requester.to_checksum(),
            "chain_id": 56, "token": "USDT", "amount": "1000000",
        });
        let (status, reply) = net
            .call(net.signed(&stranger, "POST", "/v1/treasury/grants", &body))
            .await;
        assert_eq!(
            (status, reply["error"].as_str()),
            (StatusCode::FORBIDDEN, Some("not_operator")),
            "{reply}"
        );
    }
    let (status, first) = net.grant(&requester, 56, "USDT", "2.5", "r1").await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["id"], "grant:r1");
    assert_eq!(first["amount"], "2.5");
    // The same grant again (signed anew): the same grant, no second credit.
    let (status, again) = net.grant(&requester, 56, "USDT", "2.5", "r1").await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again, first);
    // Another grant under the same id: refused, whatever differs.
    let other = key("other").public_key().address();
    for (who, chain, token, amount) in [
        (&requester, 56, "USDT", "3"),
        (&requester, 1, "USDT", "2.5"),
        (&requester, 56, "OORT", "2.5"),
        (&other, 56, "USDT", "2.5"),
    ] {
        let (status, reply) = net.grant(who, chain, token, amount, "r1").await;
        assert_eq!(
            (status, reply["error"].as_str()),
            (StatusCode::CONFLICT, Some("request_id_used")),
            "{chain} {token} {amount}: {reply}"
        );
    }
    assert_eq!(net.funds(&key("requester"), 56, "USDT").await, "2.5");
    assert_eq!(net.funds(&key("other"), 56, "USDT").await, "0");
    // Bad grants.
    for (request_id, requester_text, chain, token, amount, code) in [
        (
            "bad id",
            requester.to_checksum(),
            56,
            "USDT",
            "1",
            "invalid_request_id",
        ),
        (
            "r2",
            "0x1234".to_owned(),
            56,
            "USDT",
            "1",
            "invalid_requester",
        ),
        (
            "r2",
            requester.to_checksum(),
            999,
            "USDT",
            "1",
            "unsupported_chain",
        ),
        (
            "r2",
            requester.to_checksum(),
            56,
            "DOGE",
            "1",
            "unsupported_token",
        ),
        (
            "r2",
            requester.to_checksum(),
            56,
            "USDT",
            "0",
            "invalid_amount",
        ),
        (
            "r2",
            requester.to_checksum(),
            56,
            "USDT",
            "-1",
            "invalid_amount",
        ),
        (
            "r2",
            requester.to_checksum(),
            56,
            "USDT",
            "1e9",
            "invalid_amount",
        ),
        (
            "r2",
            requester.to_checksum(),
            56,
            "USDT",
            "10000000000000",
            "invalid_amount",
        ),
    ] {
        let body = json!({
            "request_id": request_id, "requester": requester_text,
            "chain_id": chain, "token": token, "amount": amount,
        });
        let (status, reply) = net
            .call(net.signed(&operator(), "POST", "/v1/treasury/grants", &body))
            .await;
        assert_eq!(
            (status, reply["error"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(code)),
            "{body}: {reply}"
        );
    }
    // Unsigned: 401.
    let (status, _) = net.post("/v1/treasury/grants", None, &json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Grants that would take the funds beyond an i64 of millionths are refused, not wrapped.
    let max = "999999999999.999999";
    for i in 0..9 {
        let (status, reply) = net
            .grant(&other, 56, "USDT", max, &format!("big-{i}"))
            .await;
        assert_eq!(status, StatusCode::CREATED, "grant {i}: {reply}");
    }
    let (status, reply) = net.grant(&other, 56, "USDT", max, "big-9").await;
    assert_eq!(
        (status, reply["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("amount_too_large")),
        "{reply}"
    );
    assert_eq!(
        net.funds(&key("other"), 56, "USDT").await,
        "8999999999999.999991"
    );
    assert!(negative_accounts(&net).await.is_empty());
    assert_ledger_balanced(&net).await;
});

both!(budgets_too_large_to_count_are_refused, |net| {
    let owner = key("owner");
    for budget in ["10000000000000", "99999999999999999999"] {
        let spec = campaign_spec("huge", &owner, 1, 1, budget);
        let (status, body) = net.create_campaign(&owner, &spec).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_campaign")),
            "{budget}: {body}"
        );
    }
    // The largest budget there is, at the smallest reward: 10^18 slots, counted exactly.
    let mut spec = campaign_spec("largest", &owner, 1, 1, "999999999999.999999");
    spec["reward"] = json!("0.000001");
    let (status, body) = net.create_campaign(&owner, &spec).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["open_tasks"], 999_999_999_999_999_999_i64);
    assert_ledger_balanced(&net).await;
});

async fn nonce_of(voucher: &Value) -> u64 {
    voucher["typed_data"]["message"]["nonce"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

// Nonces are 0, 1, 2… per recipient and chain (the escrow's bitmap makes sequential nonces
// cheap), and two claims at once never get the same one.
both!(voucher_nonces_are_sequential_per_recipient, |net| {
    let owner = key("owner");
    for token in ["USDT", "OORT"] {
        let mut spec = campaign_spec(&format!("pay-{}", token.to_lowercase()), &owner, 6, 1, "1");
        spec["token"] = json!(token);
        let (status, body) = net.create_campaign(&owner, &spec).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let net = std::sync::Arc::new(net);
    let mut worker = Worker::sign_in(&net, "earner").await;
    let other = {
        let mut other = Worker::sign_in(&net, "someone else").await;
        other
            .work(&net, "pay-usdt", &json!({ "verdict": "true" }))
            .await;
        other
    };
    let mut nonces = Vec::new();
    for round in 0..3 {
        for campaign in ["pay-usdt", "pay-oort"] {
            let (status, body) = worker
                .work(&net, campaign, &json!({ "verdict": "true" }))
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        // Both tokens claimed at once.
        let claims: Vec<_> = ["USDT", "OORT"]
            .into_iter()
            .map(|token| {
                let (net, session) = (net.clone(), worker.token.clone());
                let body = json!({ "chain_id": 56, "token": token, "request_id": format!("{token}-{round}") });
                tokio::spawn(async move { net.post("/v1/claims", Some(&session), &body).await })
            })
            .collect();
        for claim in claims {
            let (status, voucher) = claim.await.unwrap();
            assert_eq!(status, StatusCode::CREATED, "{voucher}");
            nonces.push(nonce_of(&voucher).await);
        }
    }
    nonces.sort_unstable();
    assert_eq!(nonces, vec![0, 1, 2, 3, 4, 5]);
    // Another recipient starts at 0.
    let claim = json!({ "chain_id": 56, "token": "USDT", "request_id": "first" });
    let (status, voucher) = net.post("/v1/claims", Some(&other.token), &claim).await;
    assert_eq!(status, StatusCode::CREATED, "{voucher}");
    assert_eq!(nonce_of(&voucher).await, 0);
    assert_ledger_balanced(&net).await;
});

#[tokio::test]
async fn a_configured_treasury_key_must_exist_and_be_private() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere/treasury.key");
    let mut config = test_config(dir.path());
    config.treasury_key_file = Some(missing.clone());
    let err = datahub_relay::Relay::open(config, 8080)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("no such key file"), "{err}");
    assert!(!missing.exists(), "no key was made");

    let loose = dir.path().join("loose.key");
    datahub_relay::keyfile::write_new(&loose, &key("treasury")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o640)).unwrap();
        let mut config = test_config(dir.path());
        config.treasury_key_file = Some(loose.clone());
        let err = datahub_relay::Relay::open(config, 8080)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("chmod 600"), "{err}");
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let mut config = test_config(dir.path());
    config.treasury_key_file = Some(loose);
    let relay = datahub_relay::Relay::open(config, 8080).unwrap();
    assert_eq!(
        relay.treasury.public_key().address(),
        key("treasury").public_key().address()
    );
}

#[test]
fn placeholder_chains_are_refused_outside_dev() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.dev = false;
    let err = datahub_relay::Relay::open(config, 8080)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("placeholder"), "{err}");
}

// A database from before 0004: its requesters' funding accounts are negative (budgets made from
// nothing). The migration keeps every balance and the zero sum, and files those accounts under
// the operator, the one kind besides escrow that may be negative.
#[tokio::test]
async fn the_migration_keeps_old_balances_and_the_zero_sum() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.db");
    {
        let db = rusqlite::Connection::open(&path).unwrap();
        db.execute_batch(
            "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_ms BIGINT NOT NULL);",
        )
        .unwrap();
        for (version, sql) in [
            (1, include_str!("../migrations/0001_initial.sql")),
            (2, include_str!("../migrations/0002_quality.sql")),
            (3, include_str!("../migrations/0003_validation.sql")),
        ] {
            db.execute_batch(sql).unwrap();
            db.execute(
                "INSERT INTO schema_migrations VALUES (?1, 0)",
                rusqlite::params![version],
            )
            .unwrap();
        }
        db.execute_batch(
            "INSERT INTO accounts VALUES ('funding:0xabc:USDT', 'funding', '0xabc', 'USDT', '', -5000000);
             INSERT INTO accounts VALUES ('campaign:old', 'campaign', 'old', 'USDT', ',56,1,', 5000000);
             INSERT INTO transfers VALUES ('fund:old', 'funding:0xabc:USDT', 'campaign:old', 5000000, 'USDT', 'campaign budget', 0);",
        )
        .unwrap();
    }
    let mut config = test_config(dir.path());
    config.database_url = Some(path.display().to_string());
    let relay = datahub_relay::Relay::open(config, 8080).unwrap();
    let rows = relay
        .db
        .read(|conn: &mut dyn Conn| -> Result<_, DbError> {
            conn.query("SELECT id, kind, balance FROM accounts ORDER BY id", &[])
        })
        .await
        .unwrap();
    let rows: Vec<(String, String, i64)> = rows
        .iter()
        .map(|r| (r.text(0).unwrap(), r.text(1).unwrap(), r.int(2).unwrap()))
        .collect();
    assert_eq!(
        rows,
        vec![
            ("campaign:old".into(), "campaign".into(), 5_000_000),
            ("funding:0xabc:USDT".into(), "operator".into(), -5_000_000),
        ]
    );
    // The new CHECK holds: a funding account cannot be made negative even by hand.
    let refused = relay
        .db
        .write(|conn: &mut dyn Conn| -> Result<_, DbError> {
            conn.execute(
                "INSERT INTO accounts (id, kind, owner, token, chains, balance) VALUES ('funding:0xabc:56:USDT', 'funding', '0xabc', 'USDT', ',56,', -1)",
                &[],
            )
        })
        .await;
    assert!(refused.is_err(), "{refused:?}");
}

// `ledger::transfer` on a real database: a debit beyond the balance is refused for every kind
// but the two outside ones, and a credit that would overflow is refused with the debit undone.
#[tokio::test]
async fn transfers_refuse_overdrafts_and_overflows_leaving_nothing() {
    use datahub_relay::ledger::{self, Transfer, kind};
    let dir = tempfile::tempdir().unwrap();
    let db = datahub_relay::db::Db::open(
        &datahub_relay::db::Location::Sqlite(dir.path().join("ledger.db")),
        1,
    )
    .unwrap();
    let outcome = db
        .write(|conn: &mut dyn Conn| -> Result<_, DbError> {
            let funding = ledger::ensure_funding(conn, "0xabc", 56, "USDT")?;
            let operator = ledger::operator_account(56, "USDT");
            let escrow = ledger::escrow_account(56, "USDT");
            ledger::ensure_account(conn, &operator, kind::OPERATOR, "operator", "USDT", ",56,")?;
            ledger::ensure_account(conn, &escrow, kind::ESCROW, "escrow", "USDT", ",56,")?;
            ledger::ensure_account(conn, "campaign:c", kind::CAMPAIGN, "c", "USDT", ",56,")?;
            let mut seen = Vec::new();
            let mut go = |conn: &mut dyn Conn, id: &str, from: &str, to: &str, amount: i64| {
                let t = ledger::transfer(conn, id, from, to, amount, "USDT", "", 0)?;
                seen.push((id.to_owned(), t));
                Ok::<_, DbError>(())
            };
            // Funding, campaign: never below zero. Operator and escrow: yes.
            go(conn, "t1", &funding, "campaign:c", 1)?;
            go(conn, "t2", &operator, &funding, 5)?;
            go(conn, "t3", &escrow, &funding, 5)?;
            go(conn, "t4", &funding, "campaign:c", 11)?;
            go(conn, "t5", "campaign:c", &funding, 1)?;
            go(conn, "t6", &funding, "campaign:c", 10)?;
            go(conn, "t6", &funding, "campaign:c", 10)?;
            // A credit that would pass i64::MAX: refused, and the debit undone.
            conn.execute(
                "UPDATE accounts SET balance = $1 WHERE id = 'campaign:c'",
                datahub_relay::params![i64::MAX - 5],
            )?;
            go(conn, "t7", &operator, "campaign:c", 6)?;
            let balances = conn.query("SELECT id, balance FROM accounts ORDER BY id", &[])?;
            let transfers = conn.query("SELECT id FROM transfers ORDER BY id", &[])?;
            Ok((
                seen,
                balances
                    .iter()
                    .map(|r| (r.text(0).unwrap(), r.int(1).unwrap()))
                    .collect::<Vec<_>>(),
                transfers
                    .iter()
                    .map(|r| r.text(0).unwrap())
                    .collect::<Vec<_>>(),
            ))
        })
        .await
        .unwrap();
    let (seen, balances, transfers) = outcome;
    let results: Vec<(&str, &Transfer)> = seen.iter().map(|(id, t)| (id.as_str(), t)).collect();
    assert_eq!(
        results,
        vec![
            ("t1", &Transfer::Insufficient),
            ("t2", &Transfer::Applied),
            ("t3", &Transfer::Applied),
            ("t4", &Transfer::Insufficient),
            ("t5", &Transfer::Insufficient),
            ("t6", &Transfer::Applied),
            ("t6", &Transfer::AlreadyApplied),
            ("t7", &Transfer::Overflow),
        ]
    );
    assert_eq!(
        balances,
        vec![
            ("campaign:c".to_owned(), i64::MAX - 5),
            ("escrow:56:USDT".to_owned(), -5),
            ("funding:0xabc:56:USDT".to_owned(), 0),
            ("operator:56:USDT".to_owned(), -5),
        ]
    );
    assert_eq!(transfers, vec!["t2", "t3", "t6"]);
}
