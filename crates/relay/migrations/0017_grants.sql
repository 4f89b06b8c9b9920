-- Grants (docs/relay.md §4d, "Opening uploads"): the requester re-wraps an object's file key to
-- the compute node that leased its job, so nodes open uploads that were not sealed to them.

-- The node's compressed secp256k1 public key (66 hex digits), sent at registration and checked
-- against its signature: what the requester wraps the file key to. NULL: the node cannot be
-- granted anything (it opens only objects sealed to it).
ALTER TABLE compute_nodes ADD COLUMN public_key TEXT;

-- The grant of one lease (81 bytes, hex; core::header::Grant), posted by the campaign's owner
-- while the lease was live, handed to the node with its job. Set once.
ALTER TABLE compute_assignments ADD COLUMN grant_stanza TEXT;
ALTER TABLE compute_assignments ADD COLUMN granted_ms BIGINT;
