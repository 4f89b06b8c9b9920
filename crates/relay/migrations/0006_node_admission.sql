-- Storage nodes against hostile operators (docs/relay.md, "Storage nodes").
--
-- Nodes admitted by an operator (`POST /v1/nodes/admit`). The region is the operator's word for
-- the node's failure domain; a node's own claim is not trusted for placement.
CREATE TABLE node_admissions (
    address TEXT PRIMARY KEY,
    region TEXT NOT NULL,
    admitted_by TEXT NOT NULL,
    admitted_ms BIGINT NOT NULL,
    -- 1 admitted, 0 revoked (kept so a revoked node cannot simply register again).
    admitted BIGINT NOT NULL
);

-- Audits answered by a timeout or a 5xx: since when, without a pass in between (NULL: the last
-- audit was answered). After the grace period each such audit counts as a failure.
ALTER TABLE nodes ADD COLUMN failing_since_ms BIGINT;

-- When a shard position was given to its node (0: before this column existed). A placement that
-- never completed (stored = 0) is forgotten once older than the request timeout.
ALTER TABLE shards ADD COLUMN assigned_ms BIGINT NOT NULL DEFAULT 0;
