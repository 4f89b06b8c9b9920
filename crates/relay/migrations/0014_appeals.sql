-- Appeals (docs/relay.md §4e). A contributor appeals a rejected submission once; an upload
-- rejected by the only validator of its campaign is appealed by the relay itself (it stays
-- pending until the requester or an operator decides). `origin`: `contributor` or
-- `validator` (a lone validator's rejection). `state`: `open`, `upheld` or `refused`.
CREATE TABLE appeals (
    id TEXT PRIMARY KEY,
    submission TEXT NOT NULL UNIQUE,
    campaign TEXT NOT NULL,
    worker TEXT NOT NULL,
    origin TEXT NOT NULL,
    reason TEXT NOT NULL,
    state TEXT NOT NULL,
    note TEXT,
    decided_by TEXT,
    created_ms BIGINT NOT NULL,
    decided_ms BIGINT
);
CREATE INDEX appeals_campaign ON appeals (campaign, state, id);
CREATE INDEX appeals_worker ON appeals (worker, state);
