//! Prometheus metrics, kept in atomics and written out in the text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

/// Upper bounds of the request-latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
];

/// The relay's counters.
#[derive(Default)]
pub struct Metrics {
    responses: [AtomicU64; 6],
    latency: [AtomicU64; BUCKETS.len() + 1],
    latency_sum_us: AtomicU64,
    /// Tasks leased.
    pub leases: AtomicU64,
    /// Submissions accepted (credited).
    pub accepted: AtomicU64,
    /// Submissions rejected (not paid).
    pub rejected: AtomicU64,
    /// Submissions waiting for consensus.
    pub pending: AtomicU64,
    /// Ledger units credited to contributors.
    pub credited_units: AtomicU64,
    /// Vouchers issued.
    pub vouchers: AtomicU64,
    /// Sessions opened.
    pub sessions: AtomicU64,
    /// Requests refused by a rate limit.
    pub rate_limited: AtomicU64,
    /// Registered storage nodes seen recently.
    pub nodes_alive: AtomicI64,
    /// Segments with fewer healthy shards than they should have.
    pub segments_at_risk: AtomicI64,
    /// 1 while this relay leads background work (`db::Leadership`), else 0.
    pub leader: AtomicI64,
    /// Shards rebuilt by repair.
    pub shards_repaired: AtomicU64,
    /// Audits passed and failed.
    pub audits_passed: AtomicU64,
    /// Audits failed.
    pub audits_failed: AtomicU64,
    /// Deposits credited by the chain watcher.
    pub deposits_credited: AtomicU64,
    /// Vouchers seen redeemed on chain.
    pub vouchers_redeemed: AtomicU64,
    /// Expired vouchers credited back.
    pub vouchers_returned: AtomicU64,
    /// Reorgs deeper than the confirmations seen (each halts its chain).
    pub deep_reorgs: AtomicU64,
    /// The last reconciliation of each chain, by chain id.
    chains: Mutex<BTreeMap<u64, ChainGauges>>,
}

/// What the last audit of one chain found.
#[derive(Debug, Default, Clone)]
struct ChainGauges {
    halted: bool,
    block: Option<u64>,
    /// Per token: (margin, surplus), in ledger units; `None` if the escrow could not be read.
    tokens: BTreeMap<String, (Option<i64>, Option<i64>)>,
}

impl Metrics {
    /// Keeps what an audit of one chain found, for the gauges.
    pub fn set_chain(&self, audit: &crate::chain::audit::ChainAudit) {
        let gauges = ChainGauges {
            halted: audit.halted.is_some(),
            block: audit.block,
            tokens: audit
                .tokens
                .iter()
                .map(|t| (t.token.clone(), (t.margin(), t.surplus())))
                .collect(),
        };
        if let Ok(mut chains) = self.chains.lock() {
            chains.insert(audit.chain_id, gauges);
        }
    }

    fn render_chains(&self, out: &mut String) {
        let Ok(chains) = self.chains.lock() else {
            return;
        };
        let _ = writeln!(
            out,
            "# HELP datahub_treasury_margin_units What an escrow holds less what the ledger owes on its chain, in millionths of a token (negative: insolvent).\n# TYPE datahub_treasury_margin_units gauge"
        );
        for (chain, g) in chains.iter() {
            for (token, (margin, _)) in &g.tokens {
                if let Some(m) = margin {
                    let _ = writeln!(
                        out,
                        "datahub_treasury_margin_units{{chain=\"{chain}\",token=\"{token}\"}} {m}"
                    );
                }
            }
        }
        let _ = writeln!(
            out,
            "# HELP datahub_treasury_surplus_units What an escrow holds beyond deposits less redeemed (tokens sent without deposit), in millionths.\n# TYPE datahub_treasury_surplus_units gauge"
        );
        for (chain, g) in chains.iter() {
            for (token, (_, surplus)) in &g.tokens {
                if let Some(s) = surplus {
                    let _ = writeln!(
                        out,
                        "datahub_treasury_surplus_units{{chain=\"{chain}\",token=\"{token}\"}} {s}"
                    );
                }
            }
        }
        let _ = writeln!(
            out,
            "# HELP datahub_chain_halted 1 if a reorg deeper than the confirmations stopped crediting this chain.\n# TYPE datahub_chain_halted gauge"
        );
        for (chain, g) in chains.iter() {
            let _ = writeln!(
                out,
                "datahub_chain_halted{{chain=\"{chain}\"}} {}",
                i32::from(g.halted)
            );
        }
        let _ = writeln!(
            out,
            "# HELP datahub_chain_block The last block whose escrow logs the relay applied.\n# TYPE datahub_chain_block gauge"
        );
        for (chain, g) in chains.iter() {
            if let Some(b) = g.block {
                let _ = writeln!(out, "datahub_chain_block{{chain=\"{chain}\"}} {b}");
            }
        }
    }

    /// Counts one response.
    pub fn observe(&self, status: u16, seconds: f64) {
        let class = usize::from(status / 100).min(5);
        if let Some(c) = self.responses.get(class) {
            c.fetch_add(1, Relaxed);
        }
        let bucket = BUCKETS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(BUCKETS.len());
        if let Some(c) = self.latency.get(bucket) {
            c.fetch_add(1, Relaxed);
        }
        self.latency_sum_us
            .fetch_add((seconds * 1e6) as u64, Relaxed);
    }

    /// The exposition text.
    pub fn render(&self, backend: &str, statements: u64) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP datahub_http_responses_total HTTP responses by status class.\n# TYPE datahub_http_responses_total counter"
        );
        for (i, c) in self.responses.iter().enumerate().skip(1) {
            let _ = writeln!(
                out,
                "datahub_http_responses_total{{class=\"{i}xx\"}} {}",
                c.load(Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP datahub_http_request_duration_seconds Time to answer a request.\n# TYPE datahub_http_request_duration_seconds histogram"
        );
        let mut cumulative = 0;
        for (i, c) in self.latency.iter().enumerate() {
            cumulative += c.load(Relaxed);
            let le = BUCKETS
                .get(i)
                .map_or_else(|| "+Inf".to_owned(), ToString::to_string);
            let _ = writeln!(
                out,
                "datahub_http_request_duration_seconds_bucket{{le=\"{le}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "datahub_http_request_duration_seconds_sum {}\ndatahub_http_request_duration_seconds_count {cumulative}",
            self.latency_sum_us.load(Relaxed) as f64 / 1e6
        );
        let counters: [(&str, &str, &AtomicU64); 15] = [
            (
                "datahub_deposits_credited_total",
                "Escrow deposits credited to requesters.",
                &self.deposits_credited,
            ),
            (
                "datahub_vouchers_redeemed_total",
                "Vouchers seen redeemed on chain.",
                &self.vouchers_redeemed,
            ),
            (
                "datahub_vouchers_returned_total",
                "Expired vouchers credited back to contributors.",
                &self.vouchers_returned,
            ),
            (
                "datahub_chain_deep_reorgs_total",
                "Reorgs deeper than the confirmations (each halts its chain).",
                &self.deep_reorgs,
            ),
            ("datahub_leases_total", "Tasks leased.", &self.leases),
            (
                "datahub_submissions_accepted_total",
                "Submissions accepted and credited.",
                &self.accepted,
            ),
            (
                "datahub_submissions_rejected_total",
                "Submissions rejected.",
                &self.rejected,
            ),
            (
                "datahub_submissions_pending_total",
                "Submissions that waited for consensus.",
                &self.pending,
            ),
            (
                "datahub_credited_units_total",
                "Ledger units (millionths of a token) credited.",
                &self.credited_units,
            ),
            (
                "datahub_vouchers_total",
                "Claim vouchers issued.",
                &self.vouchers,
            ),
            (
                "datahub_sessions_total",
                "Sessions opened by sign-in.",
                &self.sessions,
            ),
            (
                "datahub_rate_limited_total",
                "Requests refused by a rate limit.",
                &self.rate_limited,
            ),
            (
                "datahub_shards_repaired_total",
                "Shards rebuilt by repair.",
                &self.shards_repaired,
            ),
            (
                "datahub_audits_passed_total",
                "Storage audits passed.",
                &self.audits_passed,
            ),
            (
                "datahub_audits_failed_total",
                "Storage audits failed.",
                &self.audits_failed,
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                value.load(Relaxed)
            );
        }
        let gauges: [(&str, &str, &AtomicI64); 3] = [
            (
                "datahub_nodes_alive",
                "Storage nodes that sent a recent heartbeat.",
                &self.nodes_alive,
            ),
            (
                "datahub_segments_at_risk",
                "Segments missing at least one healthy shard.",
                &self.segments_at_risk,
            ),
            (
                "datahub_leader",
                "1 if this relay runs the background work (audits, repair, sweeps, the chain watcher).",
                &self.leader,
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {}",
                value.load(Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP datahub_db_statements_total Statements sent to the database (transaction control and savepoints included).\n# TYPE datahub_db_statements_total counter\ndatahub_db_statements_total {statements}"
        );
        if let Some(seconds) = process_cpu_seconds() {
            let _ = writeln!(
                out,
                "# HELP process_cpu_seconds_total User and system CPU time of the relay process.\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total {seconds}"
            );
        }
        self.render_chains(&mut out);
        let _ = writeln!(
            out,
            "# HELP datahub_info The relay's build and database.\n# TYPE datahub_info gauge\ndatahub_info{{version=\"{}\",database=\"{backend}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        out
    }
}

/// The CPU time (user and system) this process used so far, from `/proc/self/stat` (Linux; `None`
/// elsewhere). CPU time, not wall time, is what tells a request's cost on a shared machine.
pub fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    cpu_seconds_of_stat(&stat)
}

/// `utime + stime` of a `/proc/PID/stat` line, in seconds. The fields are counted after the
/// command name's closing parenthesis (the name may hold spaces); their unit is `USER_HZ`,
/// which Linux fixes at 100 for every user-space interface.
pub fn cpu_seconds_of_stat(stat: &str) -> Option<f64> {
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((user + system) as f64 / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_read_after_the_command_name() {
        // A command name with spaces and a parenthesis must not shift the fields.
        let stat = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 8 0 100 0";
        assert_eq!(cpu_seconds_of_stat(stat), Some(3.25));
        assert_eq!(cpu_seconds_of_stat("garbage"), None);
        assert_eq!(cpu_seconds_of_stat("1 (x) S 1 2"), None);
        #[cfg(target_os = "linux")]
        assert!(process_cpu_seconds().is_some());
    }

    #[test]
    fn statements_and_cpu_are_exported() {
        let text = Metrics::default().render("sqlite", 42);
        assert!(text.contains("\ndatahub_db_statements_total 42\n"));
        #[cfg(target_os = "linux")]
        assert!(text.contains("\nprocess_cpu_seconds_total "));
    }
}
