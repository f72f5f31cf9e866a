-- The operator service (PostgreSQL dialect): operators, accounts and their policies, transfers,
-- agent sessions, the settlement outbox, events and webhook deliveries, API keys, request
-- nonces and the append-only audit log.
-- Keep in step with migrations/sqlite/0003_operator.sql: same tables, columns and constraints.
-- Amounts are base units in BIGINT (never negative); times are Unix seconds; lists are JSON text.

CREATE TABLE operators (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- A wallet an operator manages for one agent. A custodial account's secret key is held here,
-- sealed with the service's master key (AEAD); a non-custodial one has none.
CREATE TABLE accounts (
    id            TEXT PRIMARY KEY,
    operator_id   TEXT NOT NULL REFERENCES operators (id),
    handle        TEXT NOT NULL,
    address       TEXT NOT NULL,
    currency      TEXT NOT NULL,
    token_account TEXT NULL,
    custody_mode  TEXT NOT NULL CHECK (custody_mode IN ('custodial', 'non_custodial')),
    status        TEXT NOT NULL CHECK (status IN ('active', 'paused')),
    sealed_key    BYTEA NULL,
    created_at    BIGINT NOT NULL,
    CHECK ((custody_mode = 'custodial') = (sealed_key IS NOT NULL)),
    UNIQUE (operator_id, handle)
);
CREATE INDEX accounts_operator_idx ON accounts (operator_id, created_at, id);

-- One policy per account; NULL limits and lists mean "no limit".
CREATE TABLE account_policies (
    account_id             TEXT PRIMARY KEY REFERENCES accounts (id),
    max_single_transfer    BIGINT NULL CHECK (max_single_transfer >= 0),
    max_daily_spend        BIGINT NULL CHECK (max_daily_spend >= 0),
    allowed_counterparties TEXT NULL,
    categories             TEXT NULL,
    require_memo           BOOLEAN NOT NULL,
    escalation_threshold   BIGINT NULL CHECK (escalation_threshold >= 0),
    paused                 BOOLEAN NOT NULL,
    updated_at             BIGINT NOT NULL
);

-- Spent per account and UTC day: accepted transfers add, failed ones give back.
CREATE TABLE account_daily_spend (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    day        TEXT NOT NULL,
    total      BIGINT NOT NULL CHECK (total >= 0),
    PRIMARY KEY (account_id, day)
);

-- Pay-as-you-go sessions an agent holds with a provider.
CREATE TABLE agent_sessions (
    id                   TEXT PRIMARY KEY,
    account_id           TEXT NOT NULL REFERENCES accounts (id),
    provider_endpoint    TEXT NOT NULL,
    cap                  BIGINT NOT NULL CHECK (cap >= 0),
    running_total        BIGINT NOT NULL CHECK (running_total >= 0 AND running_total <= cap),
    status               TEXT NOT NULL CHECK (status IN ('open', 'settling', 'settled')),
    settlement_signature TEXT NULL,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);
CREATE INDEX agent_sessions_account_idx ON agent_sessions (account_id, created_at, id);

-- Money leaving an account: requested transfers, custodial charge credentials, and payments
-- agents made themselves and reported (receipts). `request_hash` (SHA-256 of the canonical
-- request) tells an idempotent retry from a conflicting reuse of the key.
CREATE TABLE transfers (
    id               TEXT PRIMARY KEY,
    account_id       TEXT NOT NULL REFERENCES accounts (id),
    kind             TEXT NOT NULL CHECK (kind IN ('transfer', 'charge', 'receipt')),
    amount           BIGINT NOT NULL CHECK (amount >= 0),
    currency         TEXT NOT NULL,
    counterparty     TEXT NOT NULL,
    memo             TEXT NULL,
    category         TEXT NULL,
    session_id       TEXT NULL REFERENCES agent_sessions (id),
    idempotency_key  TEXT NOT NULL,
    request_hash     BYTEA NOT NULL CHECK (octet_length(request_hash) = 32),
    signature        TEXT NULL,
    status           TEXT NOT NULL
        CHECK (status IN ('pending_approval', 'pending', 'settled', 'rejected', 'failed')),
    rejection_rule   TEXT NULL,
    rejection_reason TEXT NULL,
    -- The UTC day whose counter this transfer was added to (NULL: never counted).
    counted_day      TEXT NULL,
    -- When the service signed a custodial charge (claimed before signing: once per charge).
    signed_at        BIGINT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    settled_at       BIGINT NULL,
    UNIQUE (account_id, idempotency_key),
    CHECK (status <> 'rejected' OR (rejection_rule IS NOT NULL AND rejection_reason IS NOT NULL)),
    CHECK ((status = 'settled') = (settled_at IS NOT NULL))
);
CREATE UNIQUE INDEX transfers_signature_idx ON transfers (signature) WHERE signature IS NOT NULL;
CREATE INDEX transfers_account_idx ON transfers (account_id, created_at, id);
CREATE INDEX transfers_status_idx ON transfers (status);

-- Work for the settlement worker, written in the transaction that creates the transfer.
-- `settle_transfer`: sign and send it; `confirm_charge`: a custodial charge credential whose
-- transaction the payee broadcasts; watch it land.
CREATE TABLE outbox_jobs (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('settle_transfer', 'confirm_charge')),
    transfer_id     TEXT NOT NULL UNIQUE REFERENCES transfers (id),
    status          TEXT NOT NULL CHECK (status IN ('pending', 'in_progress', 'done', 'failed')),
    attempts        BIGINT NOT NULL CHECK (attempts >= 0),
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT NULL,
    last_error      TEXT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX outbox_jobs_due_idx ON outbox_jobs (status, next_attempt_at);

-- Business events, the source of webhooks; the id is the idempotency key receivers see.
CREATE TABLE events (
    -- Insertion order: webhook senders and readers page by it.
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    operator_id TEXT NOT NULL REFERENCES operators (id),
    account_id  TEXT NULL REFERENCES accounts (id),
    type        TEXT NOT NULL CHECK (type IN ('transfer.settled', 'transfer.failed',
        'transfer.pending_approval', 'session.opened', 'session.settled', 'policy.violation')),
    subject_id  TEXT NOT NULL,
    payload     TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX events_operator_idx ON events (operator_id, seq);

CREATE TABLE webhook_endpoints (
    id            TEXT PRIMARY KEY,
    operator_id   TEXT NOT NULL REFERENCES operators (id),
    url           TEXT NOT NULL,
    sealed_secret BYTEA NOT NULL,
    event_types   TEXT NULL,
    status        TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    created_at    BIGINT NOT NULL
);

-- One row per (event, endpoint): the sender's queue and its delivery log.
CREATE TABLE webhook_deliveries (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id         TEXT NOT NULL REFERENCES events (id),
    endpoint_id      TEXT NOT NULL REFERENCES webhook_endpoints (id),
    status           TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         BIGINT NOT NULL CHECK (attempts >= 0),
    next_attempt_at  BIGINT NOT NULL,
    lease_until      BIGINT NULL,
    last_status_code BIGINT NULL,
    last_error       TEXT NULL,
    delivered_at     BIGINT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    UNIQUE (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (status, next_attempt_at);

-- API keys. The secret is never stored: `sealed_verifier` is the request-signing key derived
-- from it (one-way), sealed with the master key. Agent keys are bound to one account.
CREATE TABLE api_keys (
    id              TEXT PRIMARY KEY,
    operator_id     TEXT NOT NULL REFERENCES operators (id),
    role            TEXT NOT NULL CHECK (role IN ('operator', 'agent')),
    account_id      TEXT NULL REFERENCES accounts (id),
    sealed_verifier BYTEA NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
    replaced_by     TEXT NULL,
    created_at      BIGINT NOT NULL,
    revoked_at      BIGINT NULL,
    CHECK ((role = 'agent') = (account_id IS NOT NULL)),
    CHECK ((status = 'revoked') = (revoked_at IS NOT NULL))
);
CREATE INDEX api_keys_operator_idx ON api_keys (operator_id, created_at, id);

-- Request nonces seen while their request could still be replayed (inside the clock-skew
-- window): each is accepted once per key.
CREATE TABLE request_nonces (
    key_id     TEXT NOT NULL,
    nonce      TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (key_id, nonce)
);
CREATE INDEX request_nonces_expires_idx ON request_nonces (expires_at);

-- Who did what. Append-only: the code has no UPDATE or DELETE for it, and these triggers
-- refuse both.
CREATE TABLE audit_log (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operator_id TEXT NOT NULL REFERENCES operators (id),
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    subject_id  TEXT NOT NULL,
    detail      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX audit_log_operator_idx ON audit_log (operator_id, id);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
