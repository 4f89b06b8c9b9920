-- Validators of uploads (docs/relay.md §4a). A campaign that names validator keys leaves each
-- upload submission pending; one job per submission waits here until a validator takes it (a
-- lease that expires, so a crashed validator's job comes back) and signs a verdict.

CREATE TABLE validation_jobs (
    id TEXT PRIMARY KEY,
    submission TEXT NOT NULL UNIQUE,
    campaign TEXT NOT NULL,
    idx BIGINT NOT NULL,
    object TEXT NOT NULL,
    -- The addresses of the campaign's validators, `,0xa…,0xb…,` (so LIKE '%,0xa…,%' is exact).
    validators TEXT NOT NULL,
    -- 'open' (waiting or leased, see lease_expires_ms) or 'done'.
    state TEXT NOT NULL,
    validator TEXT,
    lease_expires_ms BIGINT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX validation_jobs_open ON validation_jobs (state, lease_expires_ms);

-- A verdict is kept as it was signed: the request's path, body, time and signature, so anyone
-- can recompute the core::request digest (audience: the relay's address) and recover the signer.
CREATE TABLE verdicts (
    job TEXT PRIMARY KEY,
    submission TEXT NOT NULL,
    campaign TEXT NOT NULL,
    object TEXT NOT NULL,
    validator TEXT NOT NULL,
    accept BIGINT NOT NULL,
    path TEXT NOT NULL,
    body TEXT NOT NULL,
    time_ms BIGINT NOT NULL,
    signature TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX verdicts_campaign ON verdicts (campaign, created_ms);
