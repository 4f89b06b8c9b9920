-- Consent in the receipt (issue 22): what a submission's signature covers besides the columns
-- already here, so that an export can hand out the receipt and anyone can check it. NULL on
-- rows from before this migration (their receipts cannot be rebuilt: the deadline was not kept).
-- The chain of the EIP-712 domain the receipt was signed under (the session's).
ALTER TABLE submissions ADD COLUMN chain_id BIGINT;
ALTER TABLE submissions ADD COLUMN deadline BIGINT;
ALTER TABLE submissions ADD COLUMN licence TEXT;
ALTER TABLE submissions ADD COLUMN terms_hash TEXT;
