-- A contributor's withdrawal of consent for future releases (issue 22): from then on, exports
-- of `campaign` ('*': every campaign) leave out what `worker` contributed. One row per
-- (worker, campaign); withdrawing again keeps the first time.
CREATE TABLE consent_withdrawals (
    worker TEXT NOT NULL,
    campaign TEXT NOT NULL,
    withdrawn_ms BIGINT NOT NULL,
    PRIMARY KEY (worker, campaign)
);
