-- Funding that exists (docs/relay.md, "Funding"). Portable SQL, like 0001.
--
-- Until now a requester's `funding:{owner}:{TOKEN}` account could go negative, so campaign
-- budgets were made from nothing. Only the accounts that stand for the outside world may now go
-- below zero: `escrow:{chain}:{TOKEN}` and `operator:{chain}:{TOKEN}`. A CHECK cannot be changed
-- in place on SQLite, so the table is copied. The old funding accounts are kept, under their old
-- ids, as kind `operator`: what they lent was, in effect, granted by whoever ran the relay, and
-- the sum of all balances stays zero. New funding accounts are per chain:
-- `funding:{owner}:{chain}:{TOKEN}`, never negative.
CREATE TABLE accounts_new (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    owner TEXT NOT NULL,
    token TEXT NOT NULL,
    chains TEXT NOT NULL,
    balance BIGINT NOT NULL,
    CHECK (kind IN ('escrow', 'operator') OR balance >= 0)
);
INSERT INTO accounts_new (id, kind, owner, token, chains, balance)
    SELECT id, CASE WHEN kind = 'funding' THEN 'operator' ELSE kind END, owner, token, chains, balance
    FROM accounts;
DROP TABLE accounts;
ALTER TABLE accounts_new RENAME TO accounts;
CREATE INDEX accounts_owner ON accounts (owner, token);

-- Voucher nonces are sequential per (recipient, chain, contract) from 0: the escrow keeps used
-- nonces in a bitmap, 256 to a storage word, so sequential ones cost a fresh word only every
-- 256 claims. `seq` is the nonce as a number (NULL for the random nonces issued before); the
-- unique index is what stops two claims from getting the same one.
ALTER TABLE vouchers ADD COLUMN seq BIGINT;
CREATE UNIQUE INDEX vouchers_seq ON vouchers (recipient, chain_id, contract, seq);
