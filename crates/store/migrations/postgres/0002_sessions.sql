-- Session channels (server side), idempotent metered requests, and the paying client's own
-- channels (PostgreSQL dialect). Keep in step with migrations/sqlite/0002_sessions.sql.

-- One row per channel a server meters, keyed by channel id (per-incarnation by construction).
CREATE TABLE session_channels (
    channel_id          TEXT PRIMARY KEY NOT NULL,
    network             TEXT NOT NULL,
    channel_program     TEXT NOT NULL,
    payer               TEXT NOT NULL,
    payee               TEXT NOT NULL,
    mint                TEXT NOT NULL,
    token_program       TEXT NOT NULL,
    authorized_signer   TEXT NOT NULL,
    -- u64 seeds are kept as decimal text: they may exceed BIGINT.
    salt                TEXT NOT NULL,
    open_slot           TEXT NOT NULL,
    grace_period        BIGINT NOT NULL CHECK (grace_period > 0),
    voucher_signer      TEXT NOT NULL CHECK (voucher_signer IN ('client', 'operator')),
    proof_challenge_id  TEXT NULL,
    splits              TEXT NOT NULL,
    escrowed            BIGINT NOT NULL CHECK (escrowed > 0),
    accepted_cumulative BIGINT NOT NULL CHECK (accepted_cumulative >= 0),
    spent               BIGINT NOT NULL CHECK (spent >= 0),
    settled_on_chain    BIGINT NOT NULL CHECK (settled_on_chain >= 0),
    highest_voucher     TEXT NULL,
    status              TEXT NOT NULL CHECK (status IN ('open', 'closing', 'closed')),
    closure_started_at  BIGINT NOT NULL DEFAULT 0,
    idle_timeout        BIGINT NOT NULL CHECK (idle_timeout > 0),
    last_activity_at    BIGINT NOT NULL,
    created_at          BIGINT NOT NULL,
    close_signature     TEXT NULL,
    refunded            BIGINT NULL,
    -- Never serve beyond authorisation, never authorise beyond the deposit.
    CHECK (spent <= accepted_cumulative AND accepted_cumulative <= escrowed)
);
CREATE INDEX session_channels_status_idx ON session_channels (status, last_activity_at);

-- Exactly-once metered requests: a retry with the same Idempotency-Key gets the same receipt.
CREATE TABLE session_requests (
    channel_id      TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    receipt         TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (channel_id, idempotency_key)
);

-- The paying client's channels: what it deposited, signed and saw accepted, so it can resume
-- after a restart without losing deposited money.
CREATE TABLE client_channels (
    channel_id        TEXT PRIMARY KEY NOT NULL,
    scope             TEXT NOT NULL,
    network           TEXT NOT NULL,
    channel_program   TEXT NOT NULL,
    payer             TEXT NOT NULL,
    payee             TEXT NOT NULL,
    mint              TEXT NOT NULL,
    token_program     TEXT NOT NULL,
    authorized_signer TEXT NOT NULL,
    salt              TEXT NOT NULL,
    open_slot         TEXT NOT NULL,
    deposit           BIGINT NOT NULL CHECK (deposit >= 0),
    signed_cumulative BIGINT NOT NULL CHECK (signed_cumulative >= 0),
    accepted          BIGINT NOT NULL CHECK (accepted >= 0),
    status            TEXT NOT NULL CHECK (status IN ('opening', 'open', 'closed')),
    open_signature    TEXT NULL,
    close_signature   TEXT NULL,
    proof_challenge_id TEXT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX client_channels_scope_idx ON client_channels (scope, status);
