-- Sign-out (POST /v1/auth/signout) revokes a session here, in the database, so every relay
-- sharing it refuses the token at once; no relay keeps sessions in memory.
ALTER TABLE sessions ADD COLUMN revoked_ms BIGINT;
