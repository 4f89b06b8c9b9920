-- Node earnings (docs/relay.md §7a).
--
-- Where a node's earnings go: the operator's payout address it registered (NULL: the node's own
-- address).
ALTER TABLE nodes ADD COLUMN payout TEXT;

-- Audits per node, epoch and campaign ('' for shards of objects no campaign pays for): what the
-- node earns per audit passed, and whether it failed any in the epoch.
CREATE TABLE node_audits (
    node TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    campaign TEXT NOT NULL,
    passed BIGINT NOT NULL,
    failed BIGINT NOT NULL,
    PRIMARY KEY (node, epoch, campaign)
);
CREATE INDEX node_audits_epoch ON node_audits (epoch);

-- Epochs whose earnings were paid (each once; the transfer ids make a second pass harmless).
CREATE TABLE earning_epochs (
    epoch BIGINT PRIMARY KEY,
    settled_ms BIGINT NOT NULL
);

-- Metering: the bytes a wallet has uploaded are summed on every new object.
CREATE INDEX objects_uploader ON objects (uploader);
