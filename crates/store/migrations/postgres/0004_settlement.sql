-- The settlement worker's state on each outbox job (PostgreSQL dialect; keep in step with
-- migrations/sqlite/0004_settlement.sql). The signed transaction is written BEFORE it is sent,
-- so a restarted worker looks its signature up instead of paying again; `lease_owner` fences
-- a worker whose lease expired out of every later write.
ALTER TABLE outbox_jobs ADD COLUMN lease_owner TEXT NULL;
ALTER TABLE outbox_jobs ADD COLUMN signed_tx BYTEA NULL;
ALTER TABLE outbox_jobs ADD COLUMN tx_signature TEXT NULL;
ALTER TABLE outbox_jobs ADD COLUMN tx_blockhash TEXT NULL;
ALTER TABLE outbox_jobs ADD COLUMN last_valid_block_height BIGINT NULL;
-- Every transaction ever signed for a job (a rebuilt one does not erase the old): the
-- reconciler and the exactly-once checks look all of them up.
CREATE TABLE settlement_attempts (
    signature  TEXT PRIMARY KEY,
    job_id     BIGINT NOT NULL REFERENCES outbox_jobs (id),
    blockhash  TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX settlement_attempts_job_idx ON settlement_attempts (job_id);
-- Webhook fan-out: each endpoint's deliveries are created from the events after this one
-- (insertion `seq`), so an endpoint gets the events from its creation on, each once.
ALTER TABLE webhook_endpoints ADD COLUMN last_event_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE webhook_deliveries ADD COLUMN lease_owner TEXT NULL;
