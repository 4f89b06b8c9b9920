-- The network a lease was taken from (the sign-in network key: an IPv4 /24 or an IPv6 /64 by
-- default), so that one network's active leases in a campaign can be counted and capped
-- (`limits.leases_per_network`). Leases taken before this, or without a known client address,
-- have none and count for no network.
ALTER TABLE leases ADD COLUMN network TEXT;
CREATE INDEX leases_network ON leases (campaign, network) WHERE state = 'active';
-- Why a submission was rejected (`slots::Rejection`: disagreed, restricted, validator), for the
-- contributor's history; NULL for submissions that were not, or were rejected before this.
ALTER TABLE submissions ADD COLUMN reason TEXT;
-- A validator's rejection waiting for a second validator to agree (campaigns naming two or
-- more): who rejected, and the verdict as it was signed (JSON: path, body, time_ms, signature).
ALTER TABLE validation_jobs ADD COLUMN first_reject TEXT;
ALTER TABLE validation_jobs ADD COLUMN first_reject_verdict TEXT;
