-- Jobs whose transaction the service does not sign alone (PostgreSQL dialect; keep in step with
-- migrations/sqlite/0005_agent_signed.sql).
-- `confirm_charge`: the custodial charge's partly signed transaction sits in `signed_tx` and
-- `tx_signature` holds the account's own signature (a sponsored transaction lands under the
-- payee's); `watch_address` is the address whose history shows it landing (the challenge's
-- reference key, else the paying address).
-- `settle_transfer` of a non-custodial account: the agent's signed transaction is stored in
-- the same columns when it arrives; until then the job is not claimed.
ALTER TABLE outbox_jobs ADD COLUMN watch_address TEXT NULL;
