-- The relay's schema, version 1. Portable SQL: the same text runs on SQLite and PostgreSQL.
-- Amounts are BIGINT in the ledger unit (one millionth of a token); addresses are lower-case
-- 0x-hex; times are Unix milliseconds.

CREATE TABLE campaigns (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    kind TEXT NOT NULL,
    token TEXT NOT NULL,
    reward BIGINT NOT NULL,
    budget BIGINT NOT NULL,
    overlap BIGINT NOT NULL,
    min_task_ms BIGINT NOT NULL,
    lease_ms BIGINT NOT NULL,
    chains TEXT NOT NULL,
    -- The definition without its items (they are in `items`), and BLAKE3 of it with them.
    spec TEXT NOT NULL,
    spec_hash TEXT NOT NULL,
    status TEXT NOT NULL,
    -- Paid answers still possible: budget / reward, less active leases and counted answers.
    open_slots BIGINT NOT NULL CHECK (open_slots >= 0),
    created_ms BIGINT NOT NULL
);

CREATE TABLE items (
    campaign TEXT NOT NULL,
    idx BIGINT NOT NULL,
    payload TEXT NOT NULL,
    golden TEXT,
    wanted BIGINT NOT NULL,
    taken BIGINT NOT NULL CHECK (taken >= 0),
    resolved BIGINT NOT NULL,
    PRIMARY KEY (campaign, idx)
);
CREATE INDEX items_open ON items (campaign, taken, idx);

CREATE TABLE leases (
    id TEXT PRIMARY KEY,
    campaign TEXT NOT NULL,
    idx BIGINT NOT NULL,
    worker TEXT NOT NULL,
    session TEXT NOT NULL,
    state TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    UNIQUE (campaign, idx, worker)
);
-- Partial indexes: only active leases are looked up by expiry or by holder, and answering a
-- lease then only removes an entry instead of moving it.
CREATE INDEX leases_expiry ON leases (expires_ms) WHERE state = 'active';
CREATE INDEX leases_worker ON leases (worker, campaign) WHERE state = 'active';

CREATE TABLE submissions (
    id TEXT PRIMARY KEY,
    lease TEXT NOT NULL,
    signer TEXT NOT NULL,
    nonce TEXT NOT NULL,
    worker TEXT NOT NULL,
    campaign TEXT NOT NULL,
    idx BIGINT NOT NULL,
    answer TEXT NOT NULL,
    answer_key TEXT NOT NULL,
    manifest TEXT NOT NULL,
    signature TEXT NOT NULL,
    session TEXT NOT NULL,
    status TEXT NOT NULL,
    reward BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    UNIQUE (signer, nonce)
);
CREATE INDEX submissions_item ON submissions (campaign, idx, status);
CREATE INDEX submissions_worker ON submissions (worker, created_ms);

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    owner TEXT NOT NULL,
    token TEXT NOT NULL,
    chains TEXT NOT NULL,
    balance BIGINT NOT NULL,
    -- Only the outside world (a requester's funding account) may go below zero.
    CHECK (kind = 'funding' OR balance >= 0)
);
CREATE INDEX accounts_owner ON accounts (owner, token);

CREATE TABLE transfers (
    id TEXT PRIMARY KEY,
    debit TEXT NOT NULL,
    credit TEXT NOT NULL,
    amount BIGINT NOT NULL CHECK (amount > 0),
    token TEXT NOT NULL,
    memo TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX transfers_credit ON transfers (credit, created_ms);
CREATE INDEX transfers_debit ON transfers (debit, created_ms);

CREATE TABLE siwe_nonces (
    nonce TEXT PRIMARY KEY,
    expires_ms BIGINT NOT NULL
);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    wallet TEXT NOT NULL,
    session_key TEXT NOT NULL,
    campaigns TEXT NOT NULL,
    reward_cap TEXT NOT NULL,
    committed BIGINT NOT NULL,
    chain_id BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    not_before_ms BIGINT,
    created_ms BIGINT NOT NULL
);

CREATE TABLE vouchers (
    id TEXT PRIMARY KEY,
    recipient TEXT NOT NULL,
    request TEXT NOT NULL,
    chain_id BIGINT NOT NULL,
    token TEXT NOT NULL,
    token_address TEXT NOT NULL,
    contract TEXT NOT NULL,
    amount_units BIGINT NOT NULL,
    amount TEXT NOT NULL,
    nonce TEXT NOT NULL,
    deadline BIGINT NOT NULL,
    signature TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    UNIQUE (recipient, request)
);
CREATE INDEX vouchers_recipient ON vouchers (recipient, created_ms);

CREATE TABLE nodes (
    address TEXT PRIMARY KEY,
    endpoint TEXT NOT NULL,
    region TEXT NOT NULL,
    capacity BIGINT NOT NULL,
    used BIGINT NOT NULL,
    shards BIGINT NOT NULL,
    reputation BIGINT NOT NULL,
    registered_ms BIGINT NOT NULL,
    last_seen_ms BIGINT NOT NULL
);

CREATE TABLE objects (
    id TEXT PRIMARY KEY,
    manifest TEXT NOT NULL,
    uploader TEXT NOT NULL,
    size BIGINT NOT NULL,
    shard_count BIGINT NOT NULL,
    created_ms BIGINT NOT NULL
);

-- One row per shard position of an object. `node` is where it is placed (NULL: nowhere yet);
-- `stored` is 1 once that node confirmed it, 0 while the upload to it is in flight.
CREATE TABLE shards (
    object TEXT NOT NULL,
    segment BIGINT NOT NULL,
    position BIGINT NOT NULL,
    shard TEXT NOT NULL,
    len BIGINT NOT NULL,
    node TEXT,
    stored BIGINT NOT NULL,
    PRIMARY KEY (object, segment, position)
);
CREATE INDEX shards_node ON shards (node);
CREATE INDEX shards_id ON shards (shard);
