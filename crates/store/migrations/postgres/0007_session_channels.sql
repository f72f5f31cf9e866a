-- Agent sessions fed by the session method (docs/operator.md, "Sessions"): the payment
-- channel a session pays through, so the reconciler can read its escrow on chain. A session
-- reported by an agent or opened by the service for a custodial account names its channel;
-- sessions recorded from plain receipts have none.
ALTER TABLE agent_sessions ADD COLUMN channel_id TEXT NULL;
ALTER TABLE agent_sessions ADD COLUMN channel_program TEXT NULL;
CREATE UNIQUE INDEX agent_sessions_channel_idx ON agent_sessions (channel_id);
