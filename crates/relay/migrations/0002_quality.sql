-- Quality (docs/relay.md §4a): each item's accepted answer, and each contributor's record per
-- campaign. Portable SQL, like 0001.

-- Once an item is accepted: its aggregated answer (JSON in the campaign's answer format), the
-- aggregate's confidence in millionths, and how it was reached (`dawid_skene`, `majority`,
-- `single`, `upload`).
ALTER TABLE items ADD COLUMN answer TEXT;
ALTER TABLE items ADD COLUMN confidence BIGINT;
ALTER TABLE items ADD COLUMN method TEXT;
CREATE INDEX items_accepted ON items (campaign, resolved, idx);
-- Golden items a contributor has not had, looked up at each golden turn.
CREATE INDEX items_golden ON items (campaign, idx) WHERE golden IS NOT NULL;
-- A wallet's leases in a campaign over the last day (the daily cap).
CREATE INDEX leases_daily ON leases (campaign, worker, created_ms);

-- How often each class was accepted, per question dimension (JSON): Dawid–Skene's class prior.
ALTER TABLE campaigns ADD COLUMN class_counts TEXT;

-- A contributor in a campaign. Counts are whole answers; `score_right` and `score_wrong` are
-- the weighted evidence trust is computed from, in thousandths; `confusion` is the JSON of the
-- per-dimension confusion counts ([dimension][true class][answered class]).
CREATE TABLE contributors (
    campaign TEXT NOT NULL,
    worker TEXT NOT NULL,
    tasks BIGINT NOT NULL,
    golden_seen BIGINT NOT NULL,
    golden_right BIGINT NOT NULL,
    golden_wrong BIGINT NOT NULL,
    agreed BIGINT NOT NULL,
    disagreed BIGINT NOT NULL,
    too_fast BIGINT NOT NULL,
    skips BIGINT NOT NULL,
    skip_window_ms BIGINT NOT NULL,
    cooldown_until_ms BIGINT NOT NULL,
    score_right BIGINT NOT NULL,
    score_wrong BIGINT NOT NULL,
    trust_ppm BIGINT NOT NULL,
    confusion TEXT NOT NULL,
    -- NULL: may work; otherwise why not (`low_trust`).
    restricted TEXT,
    restricted_ms BIGINT,
    PRIMARY KEY (campaign, worker)
);
