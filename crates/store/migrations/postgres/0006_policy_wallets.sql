-- Custodial accounts paying through the spending-policy program (docs/operator.md, "Policy
-- wallets"). Each operator has one owner key for the wallets of its custodial accounts,
-- sealed with the master key like the accounts' own keys; each such account has one wallet
-- (the PDA ["wallet", owner, agent] of the policy program, the agent being the account key).
CREATE TABLE policy_owners (
    operator_id TEXT PRIMARY KEY REFERENCES operators (id),
    address     TEXT NOT NULL,
    sealed_key  BYTEA NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE TABLE account_policy_wallets (
    account_id TEXT PRIMARY KEY REFERENCES accounts (id),
    program    TEXT NOT NULL,
    owner      TEXT NOT NULL,
    wallet     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
