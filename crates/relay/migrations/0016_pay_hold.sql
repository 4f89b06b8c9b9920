-- Pay held until a wallet's record is known (docs/relay.md §4a, "Pay on a known record"): 1 while
-- an accepted answer's reward waits for its author's golden record; paid (0) or voided
-- (rejected, 0) later.
ALTER TABLE submissions ADD COLUMN held BIGINT NOT NULL DEFAULT 0;
CREATE INDEX submissions_held ON submissions (campaign, worker) WHERE held = 1;

-- Per contributor and campaign: answers to decided items that everyone else's answers backed
-- (leave-one-out support at least one half), and those they did not (`quality::hold`).
ALTER TABLE contributors ADD COLUMN backed BIGINT NOT NULL DEFAULT 0;
ALTER TABLE contributors ADD COLUMN unbacked BIGINT NOT NULL DEFAULT 0;
