//! The chain watcher on a real anvil started by each test, with the committed escrow and mock
//! token artifacts deployed on it: deposits credited only after the confirmations and exactly
//! once (across restarts and a replayed cursor), reorgs, a relay that dies between reading a
//! deposit and crediting it, claims seen redeemed, expired vouchers credited back, the audit.
//!
//! Without anvil the tests say why and pass, except in CI (`CI=true`), where that is a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;

use axum::http::StatusCode;
use common::*;
use datahub_core::SecretKey;
use datahub_core::eth::{
    Address, CampaignScope, ChainId, Eip712Domain, SessionGrant, Timestamp, U256, personal,
};
use datahub_relay::chain::dev::{self, Anvil, Deployment, Token};
use datahub_relay::chain::rpc::Rpc;
use datahub_relay::chain::{self, Escrow, Round, audit};
use datahub_relay::config::{ChainConfig, TokenConfig};
use datahub_relay::db::{Conn, DbError};
use datahub_relay::{AppState, Config, Relay, keyfile, ledger};
use serde_json::{Value, json};

const DEV: u64 = dev::CHAIN_ID;
const CONFIRMATIONS: u64 = 3;

/// A token amount (whole tokens, 18 decimals) in its smallest unit.
fn tokens(n: u64) -> U256 {
    U256::parse(&format!("{n}000000000000000000")).unwrap()
}

/// anvil with the contracts deployed, and a relay (in this process) watching it.
struct Setup {
    anvil: Anvil,
    deployment: Deployment,
    config: Config,
    relay: AppState,
    escrow: Escrow,
    rpc: Rpc,
    _dir: tempfile::TempDir,
}

async fn anvil() -> Option<Anvil> {
    let bin = match dev::find_anvil(None) {
        Ok(bin) => bin,
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "anvil is required in CI: {e}"
            );
            eprintln!("skipped: {e}");
            return None;
        }
    };
    Some(Anvil::start(&bin, &[], None).await.unwrap())
}

/// Runs `async fn $name(backend: Backend)` on SQLite and on PostgreSQL.
macro_rules! on_both {
    ($name:ident) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(Backend::Postgres).await;
            }
        }
    };
}

impl Setup {
    async fn start(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Option<Self> {
        let database_url = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(fresh_postgres_db(&postgres_admin_url()?)),
        };
        let anvil = anvil().await?;
        let dir = tempfile::tempdir().unwrap();
        let treasury_file = dir.path().join("treasury.key");
        let treasury = keyfile::load_or_create(&treasury_file).unwrap();
        let artifacts = dev::find_artifacts(None).unwrap();
        let deployment = dev::deploy_all(
            &anvil.rpc,
            &artifacts,
            &anvil.deployer(),
            &treasury.public_key().address(),
        )
        .await
        .unwrap();
        let mut config = test_config(dir.path());
        config.database_url = database_url;
        config.treasury_key_file = Some(treasury_file);
        config.voucher_return_margin_secs = 0;
        config.chains = vec![dev_chain(&anvil, &deployment)];
        tweak(&mut config);
        let relay = Relay::open(config.clone(), 8080).unwrap();
        let escrow = Escrow::from_config(config.chain(DEV).unwrap()).unwrap();
        let rpc = anvil.rpc.clone();
        Some(Self {
            anvil,
            deployment,
            config,
            relay,
            escrow,
            rpc,
            _dir: dir,
        })
    }

    /// The relay stopped and started again on the same database (dropping it is what a kill
    /// does to anything not committed).
    fn restart(&mut self) {
        let relay = Relay::open(self.config.clone(), 8080).unwrap();
        self.relay = relay;
    }

    fn net(&self) -> Net {
        Net {
            address: self.relay.address,
            domain: "127.0.0.1:8080".into(),
            target: Target::Router {
                relay: self.relay.clone(),
                router: Relay::router(&self.relay),
            },
            dir: tempfile::tempdir().unwrap(),
        }
    }

    async fn round(&self) -> Round {
        chain::round(&self.relay, &self.escrow, &self.rpc)
            .await
            .unwrap()
    }

    async fn mine(&self, n: u64) {
        dev::mine(&self.rpc, n).await.unwrap();
    }

    /// Account `i` of anvil deposits `amount` USDT for `requester`.
    async fn deposit(&self, i: usize, requester: &Address, amount: U256) -> dev::Receipt {
        dev::mint_and_deposit(
            &self.rpc,
            &self.deployment,
            &self.deployment.usdt,
            &self.anvil.accounts[i],
            requester,
            amount,
        )
        .await
        .unwrap()
    }

    async fn balance(&self, account: &str) -> i64 {
        let account = account.to_owned();
        self.relay
            .db
            .read(move |conn: &mut dyn Conn| ledger::balance(conn, &account))
            .await
            .unwrap()
    }

    async fn query(&self, sql: &'static str) -> Vec<Vec<Value>> {
        self.relay
            .db
            .read(move |conn: &mut dyn Conn| -> Result<_, DbError> {
                let rows = conn.query(sql, &[])?;
                Ok(rows
                    .iter()
                    .map(|r| {
                        (0..8)
                            .map_while(|i| {
                                r.opt_text(i)
                                    .map(|t| t.map_or(Value::Null, Value::String))
                                    .or_else(|_| r.int(i).map(Value::from))
                                    .ok()
                            })
                            .collect()
                    })
                    .collect())
            })
            .await
            .unwrap()
    }

    async fn audit(&self) -> audit::ChainAudit {
        audit::audit_chain(&self.relay, self.config.chain(DEV).unwrap())
            .await
            .unwrap()
    }

    async fn snapshot(&self) -> Value {
        self.rpc.request("evm_snapshot", json!([])).await.unwrap()
    }

    async fn revert(&self, id: Value) {
        let done = self.rpc.request("evm_revert", json!([id])).await.unwrap();
        assert_eq!(done, json!(true));
    }
}

fn dev_chain(anvil: &Anvil, d: &Deployment) -> ChainConfig {
    let token = |a: &Address| TokenConfig {
        address: a.to_checksum(),
        decimals: 18,
    };
    ChainConfig {
        id: DEV,
        name: "anvil".into(),
        claim_contract: d.escrow.to_checksum(),
        tokens: BTreeMap::from([
            ("USDT".into(), token(&d.usdt)),
            ("OORT".into(), token(&d.oort)),
        ]),
        rpc_url: Some(anvil.url.clone()),
        public_rpc_url: Some(anvil.url.clone()),
        confirmations: CONFIRMATIONS,
        start_block: d.block,
        poll_interval_ms: 100,
    }
}

fn funding(requester: &Address, token: &str) -> String {
    format!(
        "funding:0x{}:{DEV}:{token}",
        hex::encode(requester.as_bytes())
    )
}

fn units(whole: i64) -> i64 {
    whole * ledger::UNITS_PER_TOKEN
}

on_both!(a_deposit_is_credited_after_the_confirmations_and_exactly_once);
async fn a_deposit_is_credited_after_the_confirmations_and_exactly_once(backend: Backend) {
    let Some(mut s) = Setup::start(backend, |_| {}).await else {
        return;
    };
    let requester = key("requester").public_key().address();
    let account = funding(&requester, "USDT");
    let receipt = s.deposit(1, &requester, tokens(100)).await;

    // The deposit's block is the head: 0, 1 and 2 blocks on top are not enough.
    for _ in 0..CONFIRMATIONS {
        s.round().await;
        assert_eq!(s.balance(&account).await, 0, "credited too early");
        s.mine(1).await;
    }
    let round = s.round().await;
    assert_eq!(round.deposits_credited, 1, "{round:?}");
    assert_eq!(s.balance(&account).await, units(100));

    // Again, after a restart, and with the cursor wound back to the start: still once.
    s.mine(5).await;
    assert_eq!(s.round().await.deposits_credited, 0);
    s.restart();
    assert_eq!(s.round().await.deposits_credited, 0);
    s.relay
        .db
        .write(|conn: &mut dyn Conn| -> Result<u64, DbError> {
            conn.execute("DELETE FROM chain_cursors", &[])
        })
        .await
        .unwrap();
    let replay = s.round().await;
    assert!(replay.blocks > 0, "{replay:?}");
    assert_eq!(replay.deposits_credited, 0);
    assert_eq!(s.balance(&account).await, units(100));
    assert_eq!(s.balance(&format!("escrow:{DEV}:USDT")).await, -units(100));
    let rows = s
        .query("SELECT tx_hash, status, units FROM chain_deposits")
        .await;
    assert_eq!(
        rows,
        vec![vec![
            json!(format!("0x{}", hex::encode(receipt.tx_hash))),
            json!("credited"),
            json!(units(100))
        ]]
    );

    // The audit: held = deposits − redeemed = liabilities (all funding), margin 0.
    let audit = s.audit().await;
    let usdt = audit.tokens.iter().find(|t| t.token == "USDT").unwrap();
    assert_eq!(usdt.held, Some(units(100)));
    assert_eq!(usdt.books.escrow_held, units(100));
    assert_eq!(usdt.books.funding, units(100));
    assert_eq!(usdt.margin(), Some(0));
    assert!(audit.ok(), "{:?}", audit.to_json());
    let net = s.net();
    let (status, info) = net.get("/v1/info", None).await;
    assert_eq!(status, StatusCode::OK);
    let chain = &info["chains"][0];
    assert_eq!(chain["id"], json!(DEV));
    assert_eq!(
        chain["escrow_contract"],
        json!(s.deployment.escrow.to_checksum())
    );
    assert_eq!(chain["rpc_url"], json!(s.anvil.url));
    assert_eq!(chain["confirmations"], json!(CONFIRMATIONS));
    assert_eq!(
        chain["tokens"]["USDT"]["address"],
        json!(s.deployment.usdt.to_checksum())
    );
    let (status, body) = net.get("/v1/treasury/audit", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["ok"], json!(true), "{body}");
    assert_eq!(body["chains"][0]["chain_id"], json!(DEV));
    let usdt = body["chains"][0]["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["token"] == json!("USDT"))
        .unwrap();
    assert_eq!(usdt["held"], json!("100"), "{usdt}");
    assert_eq!(usdt["deposits_minus_redeemed"], json!("100"));
    assert_eq!(usdt["liabilities"]["total"], json!("100"));
    assert_eq!(usdt["margin"], json!("0"));
    let (_, metrics) = net.get("/metrics", None).await;
    let metrics = metrics.as_str().unwrap().to_owned();
    assert!(
        metrics.contains(&format!(
            "datahub_treasury_margin_units{{chain=\"{DEV}\",token=\"USDT\"}} 0"
        )),
        "{metrics}"
    );
    assert_ledger_balanced(&net).await;
}

on_both!(a_direct_transfer_is_a_surplus_and_an_unknown_token_is_not_credited);
/// Tokens sent to the escrow without `deposit` are a surplus: reported, owed to no one, and not
/// a failure. A deposit of a token the chain's config does not list is recorded, not credited.
async fn a_direct_transfer_is_a_surplus_and_an_unknown_token_is_not_credited(backend: Backend) {
    let Some(s) = Setup::start(backend, |_| {}).await else {
        return;
    };
    let from = s.anvil.accounts[2];
    let mint = dev::calldata(
        "mint(address,uint256)",
        &[Token::address(&s.deployment.escrow), Token::uint(tokens(7))],
    );
    dev::send(&s.rpc, &from, Some(&s.deployment.usdt), &mint)
        .await
        .unwrap();
    // A third token, not in the config.
    let code = dev::artifact_bytecode(&dev::find_artifacts(None).unwrap(), "MockERC20").unwrap();
    let other = dev::deploy(
        &s.rpc,
        &from,
        &code,
        &[
            Token::string("Other"),
            Token::string("XYZ"),
            Token::uint(U256::from_u64(18)),
        ],
    )
    .await
    .unwrap();
    let requester = key("requester").public_key().address();
    dev::mint_and_deposit(&s.rpc, &s.deployment, &other, &from, &requester, tokens(3))
        .await
        .unwrap();
    s.mine(CONFIRMATIONS).await;
    let round = s.round().await;
    assert_eq!(
        (round.deposits_credited, round.deposits_uncredited),
        (0, 1),
        "{round:?}"
    );
    let rows = s
        .query("SELECT status, token, units FROM chain_deposits")
        .await;
    assert_eq!(
        rows,
        vec![vec![json!("unknown_token"), Value::Null, Value::Null]]
    );
    let audit = s.audit().await;
    let usdt = audit.tokens.iter().find(|t| t.token == "USDT").unwrap();
    assert_eq!(usdt.surplus(), Some(units(7)));
    assert_eq!(usdt.margin(), Some(units(7)));
    assert!(audit.ok(), "{:?}", audit.to_json());
}

on_both!(a_reorg_shallower_than_the_confirmations_never_credits_the_dropped_deposit);
async fn a_reorg_shallower_than_the_confirmations_never_credits_the_dropped_deposit(
    backend: Backend,
) {
    let Some(s) = Setup::start(backend, |_| {}).await else {
        return;
    };
    let requester = key("requester").public_key().address();
    let payer = s.anvil.accounts[1];
    dev::mint_and_approve(
        &s.rpc,
        &s.deployment,
        &s.deployment.usdt,
        &payer,
        tokens(50),
    )
    .await
    .unwrap();
    s.round().await;
    let before = s.snapshot().await;
    dev::deposit(
        &s.rpc,
        &s.deployment,
        &s.deployment.usdt,
        &payer,
        &requester,
        tokens(50),
    )
    .await
    .unwrap();
    s.mine(CONFIRMATIONS - 2).await;
    // Seen by the endpoint, not yet confirmed.
    assert_eq!(s.round().await.deposits_credited, 0);
    // The deposit's block and the one on it are replaced by others: a reorg 2 deep, shallower
    // than the confirmations.
    s.revert(before).await;
    s.mine(CONFIRMATIONS + 10).await;
    let round = s.round().await;
    assert!(!round.halted, "{round:?}");
    assert!(round.blocks > 0);
    assert_eq!(round.deposits_credited, 0);
    assert_eq!(s.balance(&funding(&requester, "USDT")).await, 0);
    assert!(
        s.query("SELECT tx_hash FROM chain_deposits")
            .await
            .is_empty()
    );
    assert!(s.audit().await.ok());
}

on_both!(a_reorg_deeper_than_the_confirmations_halts_the_chain);
/// A reorg deeper than the confirmations replaces blocks already applied: the relay stops
/// crediting that chain, says why, and the audit and the metrics show it.
async fn a_reorg_deeper_than_the_confirmations_halts_the_chain(backend: Backend) {
    let Some(s) = Setup::start(backend, |_| {}).await else {
        return;
    };
    let requester = key("requester").public_key().address();
    let before = s.snapshot().await;
    s.deposit(1, &requester, tokens(50)).await;
    s.mine(CONFIRMATIONS).await;
    assert_eq!(s.round().await.deposits_credited, 1);
    s.revert(before).await;
    s.mine(CONFIRMATIONS + 10).await;
    s.deposit(1, &requester, tokens(20)).await;
    s.mine(CONFIRMATIONS).await;
    let round = s.round().await;
    assert!(round.halted, "{round:?}");
    assert_eq!(round.deposits_credited, 0);
    // Halted for good: later rounds credit nothing either.
    s.mine(3).await;
    assert_eq!(s.round().await.deposits_credited, 0);
    assert_eq!(s.balance(&funding(&requester, "USDT")).await, units(50));
    let audit = s.audit().await;
    assert!(!audit.ok());
    assert!(
        audit
            .halted
            .as_deref()
            .unwrap()
            .contains("reorg deeper than 3 confirmations"),
        "{:?}",
        audit.halted
    );
    let net = s.net();
    let (_, body) = net.get("/v1/treasury/audit", None).await;
    assert_eq!(body["ok"], json!(false));
    let (_, metrics) = net.get("/metrics", None).await;
    let metrics = metrics.as_str().unwrap();
    assert!(metrics.contains(&format!("datahub_chain_halted{{chain=\"{DEV}\"}} 1")));
    assert!(metrics.contains("datahub_chain_deep_reorgs_total 1"));
}

on_both!(a_relay_killed_between_reading_a_deposit_and_crediting_it_credits_it_once);
/// The relay reads a batch with a deposit and dies before applying it (its in-memory batch is
/// lost with it): after the restart the deposit is credited once.
async fn a_relay_killed_between_reading_a_deposit_and_crediting_it_credits_it_once(
    backend: Backend,
) {
    let Some(mut s) = Setup::start(backend, |_| {}).await else {
        return;
    };
    let requester = key("requester").public_key().address();
    s.deposit(1, &requester, tokens(30)).await;
    s.mine(CONFIRMATIONS).await;
    let batch = chain::read_batch(&s.relay, &s.escrow, &s.rpc)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(batch.logs.len(), 1, "the batch holds the deposit");
    s.restart();
    assert_eq!(s.balance(&funding(&requester, "USDT")).await, 0);
    assert_eq!(s.round().await.deposits_credited, 1);
    // The batch the dead relay had read, applied late, changes nothing.
    let late = chain::apply_batch(&s.relay, &s.escrow, batch)
        .await
        .unwrap();
    assert_eq!(late, Round::default());
    assert_eq!(s.balance(&funding(&requester, "USDT")).await, units(30));
    assert_ledger_balanced(&s.net()).await;
}

/// A contributor on the dev chain: signs in for chain 31337, answers one task, claims.
async fn earn_and_claim(s: &Setup, net: &Net, label: &str) -> (SecretKey, Value) {
    // The requester's campaign pays on the dev chain, funded by a real deposit.
    let owner = key(&format!("owner {label}"));
    s.deposit(1, &owner.public_key().address(), tokens(10))
        .await;
    s.mine(CONFIRMATIONS).await;
    s.round().await;
    let mut spec = campaign_spec(&format!("c-{label}"), &owner, 2, 1, "1");
    spec["chains"] = json!([DEV]);
    let (status, body) = net.create_campaign(&owner, &spec).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let wallet = key(&format!("wallet {label}"));
    let session_key = key(&format!("session {label}"));
    let (_, nonce) = net.post("/v1/auth/nonce", None, &json!({})).await;
    let now = Timestamp::from_unix_millis(datahub_relay::clock::now_ms());
    let grant = SessionGrant {
        key: session_key.public_key().address(),
        expires: Timestamp::from_unix_millis(now.unix_millis() + 3_600_000),
        campaigns: CampaignScope::Any,
        reward_cap: U256::from_u64(1_000_000_000_000),
    };
    let message = grant
        .siwe_message(
            wallet.public_key().address(),
            &net.domain,
            &format!("http://{}/", net.domain),
            ChainId(DEV),
            nonce["nonce"].as_str().unwrap(),
            now,
            Some("Sign in to DataHub"),
        )
        .to_string();
    let signature = personal::sign_message(&wallet, message.as_bytes());
    let (status, session) = net
        .post(
            "/v1/auth/session",
            None,
            &json!({ "message": message, "signature": signature.to_hex() }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{session}");
    let token = session["token"].as_str().unwrap();
    let campaign = spec["id"].as_str().unwrap();
    let (status, task) = net
        .post(
            &format!("/v1/campaigns/{campaign}/next"),
            Some(token),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{task}");
    let domain = Eip712Domain {
        name: "DataHub".into(),
        version: "1".into(),
        chain_id: ChainId(DEV),
        verifying_contract: s.deployment.escrow,
    };
    let body = submission_body(
        &session_key,
        &net.address,
        campaign,
        task["lease"].as_str().unwrap(),
        &json!({ "verdict": "true" }),
        1,
        &domain,
    );
    let (status, answer) = net.post("/v1/submissions", Some(token), &body).await;
    assert!(status.is_success(), "{answer}");
    let (status, voucher) = net
        .post(
            "/v1/claims",
            Some(token),
            &json!({ "chain_id": DEV, "token": "USDT", "request_id": "r1" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{voucher}");
    (wallet, voucher)
}

/// Calldata of `claim((address,address,uint256,uint256,uint256),bytes)` for a voucher as the
/// relay hands it out (the static tuple's words in line).
fn claim_calldata(voucher: &Value) -> Vec<u8> {
    let m = &voucher["typed_data"]["message"];
    let address = |v: &Value| Token::address(&Address::parse(v.as_str().unwrap()).unwrap());
    let uint = |v: &Value| Token::uint(U256::parse(v.as_str().unwrap()).unwrap());
    let signature = hex::decode(
        voucher["signature"]
            .as_str()
            .unwrap()
            .trim_start_matches("0x"),
    )
    .unwrap();
    dev::calldata(
        "claim((address,address,uint256,uint256,uint256),bytes)",
        &[
            address(&m["recipient"]),
            address(&m["token"]),
            uint(&m["amount"]),
            uint(&m["nonce"]),
            uint(&m["deadline"]),
            Token::Bytes(signature),
        ],
    )
}

on_both!(a_claim_submitted_on_chain_marks_the_voucher_redeemed);
async fn a_claim_submitted_on_chain_marks_the_voucher_redeemed(backend: Backend) {
    let Some(s) = Setup::start(backend, |_| {}).await else {
        return;
    };
    let net = s.net();
    let (wallet, voucher) = earn_and_claim(&s, &net, "claimer").await;
    let payout = format!("payout:{DEV}:USDT");
    assert_eq!(s.balance(&payout).await, 50_000);
    // Anyone may submit the claim; the recipient is fixed in the voucher.
    let receipt = dev::send(
        &s.rpc,
        &s.anvil.accounts[3],
        Some(&s.deployment.escrow),
        &claim_calldata(&voucher),
    )
    .await
    .unwrap();
    eprintln!("gas used by claim: {}", receipt.gas_used);
    let output = s
        .rpc
        .call(
            &s.deployment.usdt,
            &chain::abi::balance_of_call(&wallet.public_key().address()),
            receipt.block_number,
        )
        .await
        .unwrap();
    assert_eq!(
        chain::abi::decode_uint(&output).unwrap(),
        U256::parse("50000000000000000").unwrap()
    );
    // Not confirmed yet: still issued.
    assert_eq!(s.round().await.redeemed, 0);
    s.mine(CONFIRMATIONS).await;
    assert_eq!(s.round().await.redeemed, 1);
    let rows = s.query("SELECT state, settled_tx FROM vouchers").await;
    assert_eq!(
        rows,
        vec![vec![
            json!("redeemed"),
            json!(format!("0x{}", hex::encode(receipt.tx_hash)))
        ]]
    );
    assert_eq!(s.balance(&payout).await, 0);
    // The escrow paid 0.05 of the 10 deposited; the campaign's budget (1) less the reward is
    // still owed, and the requester's funding was not debited on this branch's rules.
    let audit = s.audit().await;
    let usdt = audit.tokens.iter().find(|t| t.token == "USDT").unwrap();
    assert_eq!(usdt.held, Some(units(10) - 50_000));
    assert_eq!(usdt.books.redeemed, 50_000);
    assert_eq!(usdt.books.escrow_held, units(10) - 50_000);
    assert_eq!(usdt.books.vouchers, 0);
    assert_eq!(s.round().await.redeemed, 0);
    assert_ledger_balanced(&net).await;
}

on_both!(an_expired_unclaimed_voucher_is_credited_back_once);
async fn an_expired_unclaimed_voucher_is_credited_back_once(backend: Backend) {
    let Some(s) = Setup::start(backend, |c| c.voucher_ttl_secs = 1).await else {
        return;
    };
    let net = s.net();
    let (wallet, voucher) = earn_and_claim(&s, &net, "late").await;
    let worker = format!(
        "0x{}",
        hex::encode(wallet.public_key().address().as_bytes())
    );
    let deadline: u64 = voucher["typed_data"]["message"]["deadline"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // Past the deadline by the clock, but the chain's confirmed head is not: not yet.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    // Blocks after the deadline, then confirmed.
    s.rpc
        .request("evm_setNextBlockTimestamp", json!([deadline + 5]))
        .await
        .unwrap();
    s.mine(1).await;
    assert_eq!(
        s.round().await.returned,
        0,
        "the block after the deadline is not confirmed"
    );
    s.mine(CONFIRMATIONS).await;
    let round = s.round().await;
    assert_eq!(round.returned, 1, "{round:?}");
    let rows = s.query("SELECT state FROM vouchers").await;
    assert_eq!(rows, vec![vec![json!("returned")]]);
    assert_eq!(s.balance(&format!("payout:{DEV}:USDT")).await, 0);
    let worker_balance = s
        .query("SELECT balance FROM accounts WHERE kind = 'worker'")
        .await;
    assert_eq!(worker_balance, vec![vec![json!(50_000)]], "for {worker}");
    s.mine(2).await;
    assert_eq!(s.round().await.returned, 0, "credited back once");
    // The voucher can no longer be claimed on chain (its deadline passed): the contract agrees.
    let refused = dev::send(
        &s.rpc,
        &s.anvil.accounts[3],
        Some(&s.deployment.escrow),
        &claim_calldata(&voucher),
    )
    .await;
    assert!(refused.is_err());
    assert_ledger_balanced(&net).await;
}

/// A JSON-RPC endpoint that lies, in one of several ways, about a chain whose blocks all have
/// the same made-up hash.
#[derive(Clone, Copy, Debug)]
enum Lie {
    /// A log of another contract than the one asked for.
    ForeignLog,
    /// A `Deposited` log whose requester topic is not an address.
    DirtyTopic,
    /// A log with a 1-byte amount.
    ShortData,
    /// A log from outside the block range asked for.
    OutOfRange,
    /// An answer of 9 MiB.
    Huge,
    /// Not JSON.
    Garbage,
    /// A block number that does not fit 64 bits.
    HugeQuantity,
    /// The block asked for is answered with another number.
    WrongBlock,
    /// No lie: the same endpoint telling the truth (one deposit of 5 USDT), so the lies above
    /// are refused for what they change, not for the rest.
    Truth,
}

async fn liar(lie: Lie, escrow: Address, token: Address) -> String {
    use axum::routing::post;
    let handler = move |axum::Json(request): axum::Json<Value>| async move {
        let hash = format!("0x{}", "ab".repeat(32));
        let word = |b: u8| format!("0x{}", hex::encode([b; 32]));
        let address_topic =
            |a: &Address| format!("0x{}{}", "00".repeat(12), hex::encode(a.as_bytes()));
        let method = request["method"].as_str().unwrap_or_default().to_owned();
        let mut log = json!({
            "address": escrow.to_checksum(),
            "topics": [
                format!("0x{}", hex::encode(chain::abi::deposited_topic())),
                address_topic(&Address::from_bytes([7; 20])),
                address_topic(&token),
                address_topic(&Address::from_bytes([8; 20])),
            ],
            "data": format!("0x{}", hex::encode(tokens(5).to_be_bytes())),
            "blockNumber": "0x5",
            "blockHash": hash,
            "transactionHash": word(0x11),
            "logIndex": "0x0",
            "removed": false,
        });
        let result = match (method.as_str(), lie) {
            (_, Lie::Huge) => Value::String("x".repeat(9 << 20)),
            (_, Lie::Garbage) => return "{{{ not json".to_owned(),
            ("eth_blockNumber", Lie::HugeQuantity) => json!("0x1ffffffffffffffff"),
            ("eth_blockNumber", _) => json!("0x20"),
            ("eth_chainId", _) => json!(format!("0x{:x}", DEV)),
            ("eth_getBlockByNumber", _) => {
                let asked = request["params"][0].as_str().unwrap_or("0x0").to_owned();
                let number = if matches!(lie, Lie::WrongBlock) {
                    "0x3".to_owned()
                } else {
                    asked
                };
                json!({ "number": number, "hash": hash, "parentHash": hash, "timestamp": "0x1" })
            }
            ("eth_getLogs", lie) => {
                match lie {
                    Lie::ForeignLog => {
                        log["address"] = json!(Address::from_bytes([9; 20]).to_checksum())
                    }
                    Lie::DirtyTopic => log["topics"][1] = json!(word(0xff)),
                    Lie::ShortData => log["data"] = json!("0x05"),
                    Lie::OutOfRange => log["blockNumber"] = json!("0x4000"),
                    _ => {}
                }
                json!([log])
            }
            ("eth_call", _) => json!(word(0)),
            _ => Value::Null,
        };
        json!({ "jsonrpc": "2.0", "id": request["id"], "result": result }).to_string()
    };
    let app = axum::Router::new().route("/", post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// An endpoint that lies cannot make the relay panic or credit anything: each lie is an error
/// of the round, the cursor stays where it was, and the truth (none here) is read later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_rpc_endpoint_credits_nothing_and_panics_nothing() {
    let escrow = Address::from_bytes([0xe5; 20]);
    let usdt = Address::from_bytes([0x05; 20]);
    for lie in [
        Lie::ForeignLog,
        Lie::DirtyTopic,
        Lie::ShortData,
        Lie::OutOfRange,
        Lie::Huge,
        Lie::Garbage,
        Lie::HugeQuantity,
        Lie::WrongBlock,
        Lie::Truth,
    ] {
        let url = liar(lie, escrow, usdt).await;
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path());
        config.chains = vec![ChainConfig {
            id: DEV,
            name: "liar".into(),
            claim_contract: escrow.to_checksum(),
            tokens: BTreeMap::from([(
                "USDT".into(),
                TokenConfig {
                    address: usdt.to_checksum(),
                    decimals: 18,
                },
            )]),
            rpc_url: Some(url.clone()),
            public_rpc_url: None,
            confirmations: 2,
            start_block: 0,
            poll_interval_ms: 100,
        }];
        let relay = Relay::open(config.clone(), 8080).unwrap();
        let escrow_config = Escrow::from_config(config.chain(DEV).unwrap()).unwrap();
        let rpc = Rpc::new(&url).unwrap();
        let outcome = chain::round(&relay, &escrow_config, &rpc).await;
        if let Lie::Truth = lie {
            assert_eq!(outcome.unwrap().deposits_credited, 1);
            continue;
        }
        assert!(outcome.is_err(), "{lie:?}: {outcome:?}");
        let (deposits, cursors) = relay
            .db
            .read(|conn: &mut dyn Conn| -> Result<_, DbError> {
                Ok((
                    conn.query("SELECT tx_hash FROM chain_deposits", &[])?.len(),
                    conn.query("SELECT next_block FROM chain_cursors", &[])?
                        .len(),
                ))
            })
            .await
            .unwrap();
        assert_eq!((deposits, cursors), (0, 0), "{lie:?}");
        // The audit says it cannot read the chain; it does not fail or panic either.
        let audit = audit::audit_chain(&relay, config.chain(DEV).unwrap())
            .await
            .unwrap();
        assert!(!audit.ok(), "{lie:?}");
    }
}

/// The real binary: its background watcher credits deposits; killed with SIGKILL at random
/// moments while deposits keep coming and restarted, it ends with every deposit credited
/// exactly once (the audit's deposits equal what the escrow holds).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_process_killed_while_deposits_arrive_credits_each_once() {
    use std::io::{BufRead as _, BufReader};
    use std::process::{Command, Stdio};
    let Some(anvil) = anvil().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let treasury = keyfile::load_or_create(&dir.path().join("treasury.key")).unwrap();
    let artifacts = dev::find_artifacts(None).unwrap();
    let d = dev::deploy_all(
        &anvil.rpc,
        &artifacts,
        &anvil.deployer(),
        &treasury.public_key().address(),
    )
    .await
    .unwrap();
    let config = dir.path().join("relay.toml");
    std::fs::write(
        &config,
        format!(
            "[[chains]]\nid = {DEV}\nname = \"anvil\"\nclaim_contract = \"{}\"\nrpc_url = \"{}\"\nconfirmations = 2\nstart_block = {}\npoll_interval_ms = 100\n[chains.tokens.USDT]\naddress = \"{}\"\ndecimals = 18\n",
            d.escrow.to_checksum(),
            anvil.url,
            d.block,
            d.usdt.to_checksum()
        ),
    )
    .unwrap();
    let start = || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_datahub-relay"))
            .args(["--listen", "127.0.0.1:0", "--data"])
            .arg(dir.path())
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_owned();
        (child, base)
    };
    let requester = key("requester").public_key().address();
    let payer = anvil.accounts[1];
    let mut total = 0;
    let (mut child, mut base) = start();
    for (i, amount) in [10u64, 5, 7, 3, 4].into_iter().enumerate() {
        dev::mint_and_deposit(&anvil.rpc, &d, &d.usdt, &payer, &requester, tokens(amount))
            .await
            .unwrap();
        total += amount;
        dev::mine(&anvil.rpc, 2).await.unwrap();
        // Let the watcher get somewhere (or not) before the kill.
        let pause = u64::from(datahub_relay::clock::random::<1>()[0]) * 2 + (i as u64) * 40;
        tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
        child.kill().unwrap();
        child.wait().unwrap();
        (child, base) = start();
    }
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let usdt = loop {
        let audit: Value = client
            .get(format!("{base}/v1/treasury/audit"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let usdt = audit["chains"][0]["tokens"][0].clone();
        if usdt["deposits"] == json!(total.to_string()) || std::time::Instant::now() > deadline {
            break usdt;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    };
    // Credited once each: deposits, what the escrow holds and the funding all agree.
    assert_eq!(usdt["deposits"], json!(total.to_string()), "{usdt}");
    assert_eq!(usdt["held"], json!(total.to_string()), "{usdt}");
    assert_eq!(
        usdt["liabilities"]["funding"],
        json!(total.to_string()),
        "{usdt}"
    );
    assert_eq!(usdt["ok"], json!(true), "{usdt}");
    child.kill().unwrap();
    child.wait().unwrap();
}
