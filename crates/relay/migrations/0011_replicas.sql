-- Signed requests seen (their digest), so that a request replayed to another relay sharing this
-- database is refused as it would be by the relay that saw it first. A row is needed only while
-- the request's time is within the accepted clock skew; the leader's reaper deletes older ones.
CREATE TABLE signed_requests (digest TEXT PRIMARY KEY, expires_ms BIGINT NOT NULL);
CREATE INDEX signed_requests_expiry ON signed_requests (expires_ms);
