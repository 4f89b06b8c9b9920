-- Compute nodes and their jobs (docs/relay.md §4d). A compute node is a key that registered
-- the models it runs; each upload to a campaign that declares a compute job gets one job here,
-- leased to up to `n` nodes (one assignment each) until `k` of their signed results agree.

CREATE TABLE compute_nodes (
    address TEXT PRIMARY KEY,
    -- The capabilities as registered: a JSON array of {kind, model, runtime}.
    capabilities TEXT NOT NULL,
    -- Where its fees go (the operator's wallet; the node's own address when it named none).
    -- Nodes with the same payout count as one operator when spreading a job.
    payout TEXT NOT NULL,
    registered_ms BIGINT NOT NULL,
    last_seen_ms BIGINT NOT NULL,
    -- The trust evidence (core::quality::TrustEvidence): golden jobs passed and failed, results
    -- that agreed with a decision and results outvoted by one.
    golden_right BIGINT NOT NULL DEFAULT 0,
    golden_wrong BIGINT NOT NULL DEFAULT 0,
    agreed BIGINT NOT NULL DEFAULT 0,
    disagreed BIGINT NOT NULL DEFAULT 0,
    -- 1 once its trust fell below the bar: it gets no more jobs.
    restricted BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE compute_jobs (
    id TEXT PRIMARY KEY,
    campaign TEXT NOT NULL,
    -- The upload submission it decides; NULL for a golden job.
    submission TEXT,
    idx BIGINT NOT NULL,
    object TEXT NOT NULL,
    kind TEXT NOT NULL,
    model TEXT NOT NULL,
    -- The expected prediction (JSON) of a golden job; NULL for a real one.
    golden TEXT,
    -- How many nodes are asked now: k, one more per disagreement, at most n.
    wanted BIGINT NOT NULL,
    -- 'open', 'decided' (k results agreed) or 'escalated' (handed to the validators).
    state TEXT NOT NULL,
    -- The decided prediction (JSON), and whether it accepted the upload.
    decision TEXT,
    accepted BIGINT,
    created_ms BIGINT NOT NULL,
    decided_ms BIGINT
);
CREATE INDEX compute_jobs_open ON compute_jobs (state, model, created_ms);

-- One node's lease of one job, and its result kept exactly as signed (the request's path, body,
-- time and signature: anyone can recompute the core::request digest and recover the node).
CREATE TABLE compute_assignments (
    id TEXT PRIMARY KEY,
    job TEXT NOT NULL,
    node TEXT NOT NULL,
    payout TEXT NOT NULL,
    -- 'leased', 'answered', 'paid' (agreed with the decision or passed a golden job),
    -- 'unpaid' (outvoted, failed, or its job escalated), 'expired' (lease ran out) or 'voided'
    -- (its node was restricted before the job was decided).
    state TEXT NOT NULL,
    lease_expires_ms BIGINT NOT NULL,
    -- The fee held for it from the requester's funds (ledger units).
    fee BIGINT NOT NULL,
    prediction TEXT,
    path TEXT,
    body TEXT,
    time_ms BIGINT,
    signature TEXT,
    created_ms BIGINT NOT NULL,
    UNIQUE (job, node)
);
CREATE INDEX compute_assignments_node ON compute_assignments (node, state);
CREATE INDEX compute_assignments_lease ON compute_assignments (state, lease_expires_ms);
CREATE INDEX compute_assignments_job ON compute_assignments (job);
