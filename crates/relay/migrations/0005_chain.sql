-- The chain watcher (docs/relay.md §6a): the escrow's logs as read from each chain, where reading
-- has got to, and what became of each voucher. Portable SQL, like 0001.

-- Each `Deposited` log once, keyed as the ledger transfer it makes (`deposit:{chain}:{tx}:{log}`).
-- `token` is the configured symbol (NULL: a token the chain's config does not list, recorded and
-- not credited), `units` what was credited in ledger units (NULL: not credited, see `status`).
CREATE TABLE chain_deposits (
    chain_id BIGINT NOT NULL,
    tx_hash TEXT NOT NULL,
    log_index BIGINT NOT NULL,
    contract TEXT NOT NULL,
    block_number BIGINT NOT NULL,
    block_hash TEXT NOT NULL,
    requester TEXT NOT NULL,
    token_address TEXT NOT NULL,
    sender TEXT NOT NULL,
    -- In the token's smallest unit, decimal (a uint256).
    amount TEXT NOT NULL,
    token TEXT,
    units BIGINT,
    -- 'credited', 'unknown_token', 'too_small' (below one ledger unit), 'too_large'.
    status TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (chain_id, tx_hash, log_index)
);
CREATE INDEX chain_deposits_requester ON chain_deposits (requester, created_ms);

-- Each `Claimed` log once; `voucher` is the voucher it redeemed (NULL: none of this relay's).
CREATE TABLE chain_claims (
    chain_id BIGINT NOT NULL,
    tx_hash TEXT NOT NULL,
    log_index BIGINT NOT NULL,
    contract TEXT NOT NULL,
    block_number BIGINT NOT NULL,
    recipient TEXT NOT NULL,
    token_address TEXT NOT NULL,
    nonce TEXT NOT NULL,
    amount TEXT NOT NULL,
    voucher TEXT,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (chain_id, tx_hash, log_index)
);

-- Where reading each escrow has got to: every block up to `last_block` (whose hash was
-- `last_hash`) is done, `next_block` is read next. A stored hash that is no longer the chain's is
-- a reorg deeper than the confirmations: `halted` then says why and the chain is not read again
-- until an operator has looked (docs/relay.md §6a).
CREATE TABLE chain_cursors (
    chain_id BIGINT NOT NULL,
    contract TEXT NOT NULL,
    next_block BIGINT NOT NULL,
    last_block BIGINT,
    last_hash TEXT,
    halted TEXT,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (chain_id, contract)
);

-- A voucher is 'issued', then 'redeemed' (a Claimed log, `settled_tx` its transaction) or
-- 'returned' (expired unredeemed, credited back).
ALTER TABLE vouchers ADD COLUMN state TEXT NOT NULL DEFAULT 'issued';
ALTER TABLE vouchers ADD COLUMN settled_tx TEXT;
ALTER TABLE vouchers ADD COLUMN settled_ms BIGINT;
CREATE INDEX vouchers_open ON vouchers (chain_id, state, deadline);
CREATE INDEX vouchers_nonce ON vouchers (chain_id, contract, recipient, nonce);

-- The escrow's ledger account (`escrow:{chain}:{TOKEN}`, kind 'escrow') goes below zero by what
-- the contract holds for the ledger (docs/relay.md §6a), which the CHECK of 0001 forbade. A CHECK
-- cannot be changed in place on SQLite, so the table is copied. Requester funding per chain
-- (`funding:{owner}:{chain}:{TOKEN}`, three colons) is never negative; the older per-token
-- funding ids (two colons) keep the old rule. Where 0004 already rebuilt the table with the
-- stricter rule (no two-colon funding accounts left), this CHECK is the same rule.
CREATE TABLE accounts_chain (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    owner TEXT NOT NULL,
    token TEXT NOT NULL,
    chains TEXT NOT NULL,
    balance BIGINT NOT NULL,
    CHECK (kind IN ('escrow', 'operator') OR balance >= 0 OR (kind = 'funding' AND id NOT LIKE 'funding:%:%:%'))
);
INSERT INTO accounts_chain (id, kind, owner, token, chains, balance)
    SELECT id, kind, owner, token, chains, balance FROM accounts;
DROP TABLE accounts;
ALTER TABLE accounts_chain RENAME TO accounts;
CREATE INDEX accounts_owner ON accounts (owner, token);
