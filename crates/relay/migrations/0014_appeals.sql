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

-- Pay held until a wallet's record is known (docs/relay.md §4a): 1 while an accepted answer's
-- reward waits for its author's golden record; paid (0) or voided (rejected, 0) later.
ALTER TABLE submissions ADD COLUMN held BIGINT NOT NULL DEFAULT 0;
CREATE INDEX submissions_held ON submissions (campaign, worker) WHERE held = 1;

-- Per contributor and campaign: answers to decided items that everyone else's answers backed
-- (leave-one-out support at least one half), and those they did not (`quality::hold`).
ALTER TABLE contributors ADD COLUMN backed BIGINT NOT NULL DEFAULT 0;
ALTER TABLE contributors ADD COLUMN unbacked BIGINT NOT NULL DEFAULT 0;
