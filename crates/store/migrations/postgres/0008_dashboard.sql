-- The web dashboard (postgres dialect; keep in step with migrations/sqlite/0005_dashboard.sql).
-- A signed-in browser holds a random token in a cookie; only its SHA-256 is stored here, with
-- the operator and key it signed in with, the CSRF token its forms carry and its expiry.
CREATE TABLE dashboard_sessions (
    token_hash  TEXT PRIMARY KEY NOT NULL,
    operator_id TEXT NOT NULL REFERENCES operators (id),
    key_id      TEXT NOT NULL REFERENCES api_keys (id),
    csrf_token  TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX dashboard_sessions_expires_idx ON dashboard_sessions (expires_at);

-- The transfers page pages newest first by (created_at, id) with optional filters; these keep
-- every page a short index walk at 100,000 rows (the account filter has transfers_account_idx).
CREATE INDEX transfers_created_idx ON transfers (created_at, id);
CREATE INDEX transfers_status_created_idx ON transfers (status, created_at, id);
CREATE INDEX transfers_counterparty_created_idx ON transfers (counterparty, created_at, id);
