-- Replay protection, payment records and daily budgets (SQLite dialect).
-- Keep in step with migrations/postgres/0001_init.sql: same tables, columns and constraints.
-- BIGINT has INTEGER affinity in SQLite (64-bit signed), like PostgreSQL's BIGINT.

-- One row per challenge answered: which credential holds it, and its receipt once paid.
CREATE TABLE challenge_reservations (
    challenge_id      TEXT PRIMARY KEY NOT NULL,
    credential_digest BLOB NOT NULL CHECK (length(credential_digest) = 32),
    status            TEXT NOT NULL CHECK (status IN ('pending', 'completed')),
    receipt           TEXT NULL,
    expires_at        BIGINT NOT NULL,
    created_at        BIGINT NOT NULL,
    -- A completed reservation always carries its receipt; a pending one never does.
    CHECK ((status = 'completed') = (receipt IS NOT NULL))
);
CREATE INDEX challenge_reservations_expires_at_idx ON challenge_reservations (expires_at);

-- A payment proof (transaction signature) is spent once, forever: never pruned.
CREATE TABLE consumed_proofs (
    proof        TEXT PRIMARY KEY NOT NULL,
    challenge_id TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);

CREATE TABLE payments (
    -- INTEGER PRIMARY KEY (exactly this spelling) is SQLite's rowid alias.
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    challenge_id TEXT NOT NULL,
    role         TEXT NOT NULL,
    method       TEXT NOT NULL,
    intent       TEXT NOT NULL,
    reference    TEXT NOT NULL,
    amount       BIGINT NOT NULL CHECK (amount >= 0),
    currency     TEXT NOT NULL,
    recipient    TEXT NOT NULL,
    payer        TEXT NULL,
    realm        TEXT NOT NULL,
    receipt      TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    UNIQUE (role, challenge_id)
);
CREATE INDEX payments_created_at_idx ON payments (created_at);

-- Client-side budgets: one running total per scope and UTC day.
CREATE TABLE daily_spend (
    scope TEXT NOT NULL,
    day   TEXT NOT NULL,
    total BIGINT NOT NULL CHECK (total >= 0),
    PRIMARY KEY (scope, day)
);
