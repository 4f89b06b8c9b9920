//! `datahub campaign grant`: the requester's side of grants (docs/relay.md §4d, "Opening
//! uploads"). For each live compute lease of the campaign still waiting for one
//! (`GET /v1/campaigns/{id}/grants`), it reads the object's header, opens it with the key the
//! uploads are sealed to, wraps the file key to the node's registered key
//! (`core::header::Header::grant`) and posts the grant (`POST /v1/compute/jobs/{job}/grant`).
//! Only the header is fetched; the object's id and shards stay as they are.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use datahub_core::header::Header;
use datahub_core::{Address, PublicKey, SecretKey};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::campaign::{KeyArg, load_owner_key, refused};
use crate::client::{Relay, SendError, parse_object_id};
use crate::object::RelayArg;
use crate::object::get;

#[derive(clap::Args)]
pub struct Args {
    /// The campaign's id
    id: String,
    #[command(flatten)]
    key: KeyArg,
    /// The key its uploads are sealed to, when it is not --key (the key of the definition's
    /// `encryption_key`)
    #[arg(long, value_name = "FILE")]
    identity: Option<PathBuf>,
    #[command(flatten)]
    relay: RelayArg,
    /// Keep granting as nodes lease jobs, until Ctrl-C
    #[arg(long)]
    watch: bool,
    /// Seconds between two looks with --watch (0.1 to 3600)
    #[arg(long, value_name = "SECONDS", default_value = "2", requires = "watch")]
    interval: f64,
}

pub async fn run(args: Args) -> Result<()> {
    crate::campaign::check_id(&args.id)?;
    if !(0.1..=3600.0).contains(&args.interval) {
        bail!("--interval: 0.1 to 3600 seconds");
    }
    let owner = load_owner_key(&args.key.key)?;
    let identity = match &args.identity {
        Some(path) => crate::keygen::load_as(path, crate::keygen::Role::Recipient)?,
        None => owner.clone(),
    };
    let relay = Relay::new(&args.relay.relay)?;
    let audience = relay.address().await?;
    let mut granter = Granter::new(relay, owner, audience, identity, args.id.clone());
    if !args.watch {
        let round = granter.round().await?;
        println!("{}", round.summary(&args.id));
        return Ok(());
    }
    let pause = Duration::from_secs_f64(args.interval);
    let mut shutdown = std::pin::pin!(datahub_shutdown::shutdown_signal());
    let mut total = 0u64;
    loop {
        match granter.round().await {
            Ok(round) => total += round.granted,
            Err(e) => eprintln!("warning: {e:#}; trying again"),
        }
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(pause) => {}
        }
    }
    println!("stopped: {total} grants posted for campaign {}", args.id);
    Ok(())
}

/// What one look at the waiting leases came to.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    /// Grants posted.
    pub granted: u64,
    /// Leases whose node registered no key (it opens only what is sealed to it).
    pub keyless: u64,
    /// Leases not granted: the object does not open with the identity, or the lease ended
    /// meanwhile.
    pub skipped: u64,
}

impl Round {
    fn summary(&self, campaign: &str) -> String {
        format!(
            "campaign {campaign}: {} granted, {} waiting on nodes without a registered key, {} skipped",
            self.granted, self.keyless, self.skipped
        )
    }
}

/// Grants one campaign's waiting leases, remembering headers between rounds.
pub struct Granter {
    relay: Relay,
    owner: SecretKey,
    audience: Address,
    identity: SecretKey,
    campaign: String,
    headers: HashMap<String, Header>,
    /// Objects the identity does not open, said once.
    unopened: HashSet<String>,
}

impl Granter {
    /// A granter of `campaign`'s leases, signing with `owner` and opening headers with
    /// `identity`.
    pub fn new(
        relay: Relay,
        owner: SecretKey,
        audience: Address,
        identity: SecretKey,
        campaign: String,
    ) -> Self {
        Self {
            relay,
            owner,
            audience,
            identity,
            campaign,
            headers: HashMap::new(),
            unopened: HashSet::new(),
        }
    }

    /// Grants every lease waiting now.
    pub async fn round(&mut self) -> Result<Round> {
        let path = format!("v1/campaigns/{}/grants", self.campaign);
        let body = self
            .relay
            .send_signed(&self.owner, &self.audience, Method::GET, &path, None)
            .await
            .map_err(|e| refused(e, &format!("the grants of campaign {}", self.campaign)))?;
        let list: Value =
            serde_json::from_slice(&body).context("the relay's list of leases is not JSON")?;
        let waiting = list
            .get("waiting")
            .and_then(Value::as_array)
            .context("the relay's list of leases has no `waiting`")?;
        let mut round = Round::default();
        for lease in waiting {
            let text = |f: &str| lease.get(f).and_then(Value::as_str).map(str::to_owned);
            let (Some(job), Some(object)) = (text("job"), text("object")) else {
                bail!("the relay listed a lease without job or object: {lease}");
            };
            let Some(node_key) = text("node_key") else {
                round.keyless += 1;
                continue;
            };
            match self.grant_one(&job, &object, &node_key).await? {
                true => {
                    round.granted += 1;
                    let node = text("node").unwrap_or_default();
                    println!("granted job {job} (object {object}) to node {node}");
                }
                false => round.skipped += 1,
            }
        }
        Ok(round)
    }

    /// Makes and posts the grant of one lease: false when it cannot be made (the identity does
    /// not open the object) or the lease ended meanwhile.
    async fn grant_one(&mut self, job: &str, object: &str, node_key: &str) -> Result<bool> {
        if self.unopened.contains(object) {
            return Ok(false);
        }
        let node = hex::decode(node_key)
            .ok()
            .and_then(|b| PublicKey::from_sec1_bytes(&b).ok())
            .with_context(|| format!("the relay listed a bad node key {node_key:?}"))?;
        if !self.headers.contains_key(object) {
            let header = get::read_header(&self.relay, parse_object_id(object)?).await?;
            self.headers.insert(object.to_owned(), header);
        }
        let Some(header) = self.headers.get(object) else {
            return Ok(false);
        };
        let Ok(file_key) = header.unwrap(&self.identity) else {
            eprintln!(
                "warning: object {object} is not sealed to {} (pass the key uploads are sealed to with --identity): not granted",
                self.identity.address().to_checksum()
            );
            self.unopened.insert(object.to_owned());
            return Ok(false);
        };
        let mut entropy = Zeroizing::new([0u8; 32]);
        getrandom::fill(entropy.as_mut_slice()).context("no randomness for a grant")?;
        let grant = header.grant(&file_key, &node, &entropy);
        let body = json!({ "grant": hex::encode(grant.to_bytes()) });
        let path = format!("v1/compute/jobs/{job}/grant");
        match self
            .relay
            .send_signed(
                &self.owner,
                &self.audience,
                Method::POST,
                &path,
                Some(&body),
            )
            .await
        {
            Ok(_) => Ok(true),
            // The node answered, its lease ran out, or another granter was first.
            Err(SendError::Api(e))
                if e.status == StatusCode::CONFLICT
                    && (e.code == "lease_expired" || e.code == "already_granted") =>
            {
                Ok(false)
            }
            Err(e) => Err(refused(e, &format!("the grant of job {job}"))),
        }
    }
}
