//! Session channels: the server's metering ledger per channel and the paying client's own record
//! of its channels. One implementation serves both backends (the SQL is portable; placeholders
//! are written `$n` and rewritten to `?n` for SQLite).
//!
//! Every metering step is one compare-and-set on the channel row (expected accepted and spent
//! amounts), together with the idempotency row, in one transaction: two requests on one channel,
//! in one process or across instances sharing PostgreSQL, can never both apply.

use async_trait::async_trait;

use crate::StoreError;

/// Server-side channel status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStatus {
    /// Metering.
    Open,
    /// Close in progress (cooperative, idle or forced): no new service.
    Closing,
    /// Settled and distributed.
    Closed,
}

impl SessionStatus {
    /// The column value.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Open => "open",
            SessionStatus::Closing => "closing",
            SessionStatus::Closed => "closed",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "open" => Ok(SessionStatus::Open),
            "closing" => Ok(SessionStatus::Closing),
            "closed" => Ok(SessionStatus::Closed),
            other => Err(decode(format!("unknown session status {other:?}"))),
        }
    }
}

/// A channel the server meters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRecord {
    /// Channel PDA (base58).
    pub channel_id: String,
    /// Cluster name.
    pub network: String,
    /// Channel program (base58).
    pub channel_program: String,
    /// Depositor.
    pub payer: String,
    /// Payee.
    pub payee: String,
    /// Mint.
    pub mint: String,
    /// Token program of the mint.
    pub token_program: String,
    /// Voucher signer.
    pub authorized_signer: String,
    /// PDA salt.
    pub salt: u64,
    /// PDA open slot.
    pub open_slot: u64,
    /// Forced-close grace period, seconds.
    pub grace_period: u32,
    /// `client` or `operator`.
    pub voucher_signer: String,
    /// The session challenge a bearer proof is bound to (operator mode).
    pub proof_challenge_id: Option<String>,
    /// Distribution splits preimage as JSON.
    pub splits: String,
    /// Deposit.
    pub escrowed: u64,
    /// Highest accepted voucher amount.
    pub accepted_cumulative: u64,
    /// Charged for delivered service.
    pub spent: u64,
    /// Settled on chain.
    pub settled_on_chain: u64,
    /// The highest accepted signed voucher (JSON), kept for on-chain settlement.
    pub highest_voucher: Option<String>,
    /// Status.
    pub status: SessionStatus,
    /// Forced-close start seen on chain (Unix seconds; 0 = none).
    pub closure_started_at: i64,
    /// Effective idle timeout, seconds.
    pub idle_timeout: u32,
    /// Last channel activity (Unix seconds).
    pub last_activity_at: i64,
    /// Created (Unix seconds).
    pub created_at: i64,
    /// The closing transaction.
    pub close_signature: Option<String>,
    /// Refunded to the payer at close.
    pub refunded: Option<u64>,
}

/// One metering step: compare-and-set of the channel's amounts.
#[derive(Debug, Clone)]
pub struct Debit<'a> {
    /// The channel.
    pub channel_id: &'a str,
    /// Accepted amount the step was computed from.
    pub expected_accepted: u64,
    /// Spent amount the step was computed from.
    pub expected_spent: u64,
    /// New accepted amount.
    pub new_accepted: u64,
    /// New spent amount.
    pub new_spent: u64,
    /// New highest voucher (JSON), when the step accepts one.
    pub voucher: Option<&'a str>,
    /// The request's idempotency key.
    pub idempotency_key: Option<&'a str>,
    /// The receipt to return now and to any retry with the same key.
    pub receipt: &'a str,
    /// Activity time (Unix seconds).
    pub now: i64,
}

/// What a metering step found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DebitOutcome {
    /// Applied.
    Applied,
    /// The idempotency key was used before: here is the receipt it got; nothing changed.
    Replayed {
        /// The stored receipt.
        receipt: String,
    },
    /// The channel moved on (another request won), is not open, or the amounts no longer fit:
    /// nothing changed. Carries the current state, when the channel exists.
    Stale(Option<Box<ChannelRecord>>),
}

/// What starting a close found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseStart {
    /// The channel was open and is now closing; metering has stopped.
    Started(Box<ChannelRecord>),
    /// The channel was not open (already closing or closed), or does not exist.
    NotOpen(Option<Box<ChannelRecord>>),
}

/// A channel as the paying client keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientChannel {
    /// Channel PDA.
    pub channel_id: String,
    /// Whom it pays (origin + realm), to find it again.
    pub scope: String,
    /// Cluster name.
    pub network: String,
    /// Channel program.
    pub channel_program: String,
    /// Payer (us).
    pub payer: String,
    /// Payee.
    pub payee: String,
    /// Mint.
    pub mint: String,
    /// Token program.
    pub token_program: String,
    /// Voucher signer.
    pub authorized_signer: String,
    /// PDA salt.
    pub salt: u64,
    /// PDA open slot.
    pub open_slot: u64,
    /// Deposited so far.
    pub deposit: u64,
    /// Highest voucher amount signed (never sign below it again).
    pub signed_cumulative: u64,
    /// Highest amount the server confirmed accepting.
    pub accepted: u64,
    /// `opening`, `open` or `closed`.
    pub status: String,
    /// The opening transaction.
    pub open_signature: Option<String>,
    /// The closing transaction.
    pub close_signature: Option<String>,
    /// The session challenge a bearer proof is bound to (operator mode).
    pub proof_challenge_id: Option<String>,
}

/// Durable session-channel state (server metering, client channels).
#[async_trait]
pub trait ChannelStore: Send + Sync {
    /// Records a newly opened channel; `false` if the id exists.
    async fn insert_channel(&self, channel: &ChannelRecord) -> Result<bool, StoreError>;

    /// One channel.
    async fn channel(&self, channel_id: &str) -> Result<Option<ChannelRecord>, StoreError>;

    /// Applies one metering step atomically (see [`Debit`]).
    async fn debit(&self, debit: &Debit<'_>) -> Result<DebitOutcome, StoreError>;

    /// The receipt a metered request with this idempotency key got, if any.
    async fn idempotent_receipt(
        &self,
        channel_id: &str,
        key: &str,
    ) -> Result<Option<String>, StoreError>;

    /// Raises the deposit after a confirmed top-up; `false` if the channel is not open or the
    /// deposit was already at least `escrowed`.
    async fn set_escrowed(
        &self,
        channel_id: &str,
        escrowed: u64,
        now: i64,
    ) -> Result<bool, StoreError>;

    /// Stops metering (open → closing) before a close is attempted.
    async fn begin_close(&self, channel_id: &str) -> Result<CloseStart, StoreError>;

    /// Back to open after a close transaction certainly failed.
    async fn abort_close(&self, channel_id: &str) -> Result<(), StoreError>;

    /// Marks the channel closed with its settlement.
    async fn finish_close(
        &self,
        channel_id: &str,
        signature: &str,
        settled: u64,
        refunded: u64,
    ) -> Result<(), StoreError>;

    /// Raises the on-chain settled watermark after a confirmed `settle`.
    async fn set_settled(&self, channel_id: &str, settled: u64) -> Result<(), StoreError>;

    /// Records a payer's forced close seen on chain (and stops metering).
    async fn set_closure_started(&self, channel_id: &str, at: i64) -> Result<(), StoreError>;

    /// Channels in `status`, least recently active first.
    async fn channels_with_status(
        &self,
        status: SessionStatus,
        limit: u32,
    ) -> Result<Vec<ChannelRecord>, StoreError>;

    /// Inserts or replaces a client channel.
    async fn save_client_channel(&self, channel: &ClientChannel) -> Result<(), StoreError>;

    /// One client channel.
    async fn client_channel(&self, channel_id: &str) -> Result<Option<ClientChannel>, StoreError>;

    /// The client's channels for `scope` that are not closed, newest first.
    async fn client_channels(&self, scope: &str) -> Result<Vec<ClientChannel>, StoreError>;

    /// Raises the client's signed and accepted amounts (never lowers them).
    async fn raise_client_amounts(
        &self,
        channel_id: &str,
        signed_cumulative: u64,
        accepted: u64,
    ) -> Result<(), StoreError>;
}

pub(crate) fn decode(msg: String) -> StoreError {
    StoreError::Backend(sqlx::Error::Decode(msg.into()))
}

pub(crate) fn u64_text(s: &str, column: &str) -> Result<u64, StoreError> {
    s.parse()
        .map_err(|_| decode(format!("column {column} holds {s:?}, not a u64")))
}

/// The row as stored.
#[derive(sqlx::FromRow)]
pub(crate) struct ChannelRow {
    channel_id: String,
    network: String,
    channel_program: String,
    payer: String,
    payee: String,
    mint: String,
    token_program: String,
    authorized_signer: String,
    salt: String,
    open_slot: String,
    grace_period: i64,
    voucher_signer: String,
    proof_challenge_id: Option<String>,
    splits: String,
    escrowed: i64,
    accepted_cumulative: i64,
    spent: i64,
    settled_on_chain: i64,
    highest_voucher: Option<String>,
    status: String,
    closure_started_at: i64,
    idle_timeout: i64,
    last_activity_at: i64,
    created_at: i64,
    close_signature: Option<String>,
    refunded: Option<i64>,
}

impl ChannelRow {
    pub(crate) fn into_record(self) -> Result<ChannelRecord, StoreError> {
        use crate::common::amount_from_db as amt;
        let small = |v: i64, c: &str| {
            u32::try_from(v).map_err(|_| decode(format!("column {c} holds {v}, not a u32")))
        };
        Ok(ChannelRecord {
            salt: u64_text(&self.salt, "salt")?,
            open_slot: u64_text(&self.open_slot, "open_slot")?,
            grace_period: small(self.grace_period, "grace_period")?,
            escrowed: amt(self.escrowed, "escrowed")?,
            accepted_cumulative: amt(self.accepted_cumulative, "accepted_cumulative")?,
            spent: amt(self.spent, "spent")?,
            settled_on_chain: amt(self.settled_on_chain, "settled_on_chain")?,
            status: SessionStatus::parse(&self.status)?,
            idle_timeout: small(self.idle_timeout, "idle_timeout")?,
            refunded: self.refunded.map(|r| amt(r, "refunded")).transpose()?,
            channel_id: self.channel_id,
            network: self.network,
            channel_program: self.channel_program,
            payer: self.payer,
            payee: self.payee,
            mint: self.mint,
            token_program: self.token_program,
            authorized_signer: self.authorized_signer,
            voucher_signer: self.voucher_signer,
            proof_challenge_id: self.proof_challenge_id,
            splits: self.splits,
            highest_voucher: self.highest_voucher,
            closure_started_at: self.closure_started_at,
            last_activity_at: self.last_activity_at,
            created_at: self.created_at,
            close_signature: self.close_signature,
        })
    }
}

/// The client's row as stored.
#[derive(sqlx::FromRow)]
pub(crate) struct ClientRow {
    channel_id: String,
    scope: String,
    network: String,
    channel_program: String,
    payer: String,
    payee: String,
    mint: String,
    token_program: String,
    authorized_signer: String,
    salt: String,
    open_slot: String,
    deposit: i64,
    signed_cumulative: i64,
    accepted: i64,
    status: String,
    open_signature: Option<String>,
    close_signature: Option<String>,
    proof_challenge_id: Option<String>,
}

impl ClientRow {
    pub(crate) fn into_record(self) -> Result<ClientChannel, StoreError> {
        use crate::common::amount_from_db as amt;
        Ok(ClientChannel {
            salt: u64_text(&self.salt, "salt")?,
            open_slot: u64_text(&self.open_slot, "open_slot")?,
            deposit: amt(self.deposit, "deposit")?,
            signed_cumulative: amt(self.signed_cumulative, "signed_cumulative")?,
            accepted: amt(self.accepted, "accepted")?,
            channel_id: self.channel_id,
            scope: self.scope,
            network: self.network,
            channel_program: self.channel_program,
            payer: self.payer,
            payee: self.payee,
            mint: self.mint,
            token_program: self.token_program,
            authorized_signer: self.authorized_signer,
            status: self.status,
            open_signature: self.open_signature,
            close_signature: self.close_signature,
            proof_challenge_id: self.proof_challenge_id,
        })
    }
}

pub(crate) const CHANNEL_COLUMNS: &str = "channel_id, network, channel_program, payer, payee, \
    mint, token_program, authorized_signer, salt, open_slot, grace_period, voucher_signer, \
    proof_challenge_id, splits, escrowed, accepted_cumulative, spent, settled_on_chain, \
    highest_voucher, status, closure_started_at, idle_timeout, last_activity_at, created_at, \
    close_signature, refunded";

pub(crate) const CLIENT_COLUMNS: &str = "channel_id, scope, network, channel_program, payer, \
    payee, mint, token_program, authorized_signer, salt, open_slot, deposit, signed_cumulative, \
    accepted, status, open_signature, close_signature, proof_challenge_id";

/// The compare-and-set of one metering step: `$1` new accepted, `$2` new spent, `$3` voucher,
/// `$4` now, `$5` channel, `$6`/`$7` the expected accepted and spent amounts.
pub(crate) const DEBIT_UPDATE: &str = "UPDATE session_channels SET accepted_cumulative = $1, \
    spent = $2, highest_voucher = COALESCE($3, highest_voucher), last_activity_at = $4 \
    WHERE channel_id = $5 AND status = 'open' AND accepted_cumulative = $6 AND spent = $7 \
    AND $1 <= escrowed AND $2 <= $1";

/// Implements [`ChannelStore`] for a backend whose struct has a `pool` field.
/// `$begin` opens a write transaction; `$sql` turns `$n` placeholders into the dialect's;
/// `$debit` names the inherent method that applies a debit (`debit_in_transaction`, generated
/// here, or a backend's own that batches).
macro_rules! channel_store_impl {
    ($store:ty, $begin:expr, $sql:expr, debit = $debit:ident) => {
        impl $store {
            /// [`ChannelStore::debit`](crate::channels::ChannelStore::debit) in a
            /// transaction of its own.
            pub(crate) async fn debit_in_transaction(
                &self,
                d: &$crate::channels::Debit<'_>,
            ) -> Result<$crate::channels::DebitOutcome, $crate::StoreError> {
                use $crate::channels::DebitOutcome;
                use $crate::common::amount_to_db as db;
                let update = $sql($crate::channels::DEBIT_UPDATE);
                let cas = sqlx::query(&update)
                    .bind(db(d.new_accepted)?)
                    .bind(db(d.new_spent)?)
                    .bind(d.voucher)
                    .bind(d.now)
                    .bind(d.channel_id)
                    .bind(db(d.expected_accepted)?)
                    .bind(db(d.expected_spent)?);
                let Some(key) = d.idempotency_key else {
                    // Without an idempotency row the step is one statement, atomic on its
                    // own: no transaction round trips around it.
                    let n = cas.execute(&self.pool).await?.rows_affected();
                    if n == 1 {
                        return Ok(DebitOutcome::Applied);
                    }
                    let current =
                        $crate::channels::ChannelStore::channel(self, d.channel_id).await?;
                    return Ok(DebitOutcome::Stale(current.map(Box::new)));
                };
                let mut tx = $begin(&self.pool).await?;
                let sql = $sql(
                    "INSERT INTO session_requests (channel_id, idempotency_key, receipt, \
                     created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                );
                let n = sqlx::query(&sql)
                    .bind(d.channel_id)
                    .bind(key)
                    .bind(d.receipt)
                    .bind(d.now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if n == 0 {
                    let sql = $sql(
                        "SELECT receipt FROM session_requests \
                         WHERE channel_id = $1 AND idempotency_key = $2",
                    );
                    let receipt: String = sqlx::query_scalar(&sql)
                        .bind(d.channel_id)
                        .bind(key)
                        .fetch_one(&mut *tx)
                        .await?;
                    tx.rollback().await?;
                    return Ok(DebitOutcome::Replayed { receipt });
                }
                let n = cas.execute(&mut *tx).await?.rows_affected();
                if n == 1 {
                    tx.commit().await?;
                    return Ok(DebitOutcome::Applied);
                }
                tx.rollback().await?;
                let current =
                    $crate::channels::ChannelStore::channel(self, d.channel_id).await?;
                Ok(DebitOutcome::Stale(current.map(Box::new)))
            }
        }

        #[async_trait::async_trait]
        impl $crate::channels::ChannelStore for $store {
            async fn insert_channel(
                &self,
                c: &$crate::channels::ChannelRecord,
            ) -> Result<bool, $crate::StoreError> {
                use $crate::common::amount_to_db as db;
                let sql = $sql(&format!(
                    "INSERT INTO session_channels ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
                     $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, \
                     $24, $25, $26) ON CONFLICT (channel_id) DO NOTHING",
                    $crate::channels::CHANNEL_COLUMNS
                ));
                let n = sqlx::query(&sql)
                    .bind(&c.channel_id)
                    .bind(&c.network)
                    .bind(&c.channel_program)
                    .bind(&c.payer)
                    .bind(&c.payee)
                    .bind(&c.mint)
                    .bind(&c.token_program)
                    .bind(&c.authorized_signer)
                    .bind(c.salt.to_string())
                    .bind(c.open_slot.to_string())
                    .bind(i64::from(c.grace_period))
                    .bind(&c.voucher_signer)
                    .bind(&c.proof_challenge_id)
                    .bind(&c.splits)
                    .bind(db(c.escrowed)?)
                    .bind(db(c.accepted_cumulative)?)
                    .bind(db(c.spent)?)
                    .bind(db(c.settled_on_chain)?)
                    .bind(&c.highest_voucher)
                    .bind(c.status.as_str())
                    .bind(c.closure_started_at)
                    .bind(i64::from(c.idle_timeout))
                    .bind(c.last_activity_at)
                    .bind(c.created_at)
                    .bind(&c.close_signature)
                    .bind(c.refunded.map(db).transpose()?)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                Ok(n == 1)
            }

            async fn channel(
                &self,
                channel_id: &str,
            ) -> Result<Option<$crate::channels::ChannelRecord>, $crate::StoreError> {
                let sql = $sql(&format!(
                    "SELECT {} FROM session_channels WHERE channel_id = $1",
                    $crate::channels::CHANNEL_COLUMNS
                ));
                let row: Option<$crate::channels::ChannelRow> = sqlx::query_as(&sql)
                    .bind(channel_id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map($crate::channels::ChannelRow::into_record).transpose()
            }

            async fn debit(
                &self,
                d: &$crate::channels::Debit<'_>,
            ) -> Result<$crate::channels::DebitOutcome, $crate::StoreError> {
                self.$debit(d).await
            }

            async fn idempotent_receipt(
                &self,
                channel_id: &str,
                key: &str,
            ) -> Result<Option<String>, $crate::StoreError> {
                let sql = $sql(
                    "SELECT receipt FROM session_requests \
                     WHERE channel_id = $1 AND idempotency_key = $2",
                );
                Ok(sqlx::query_scalar(&sql)
                    .bind(channel_id)
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn set_escrowed(
                &self,
                channel_id: &str,
                escrowed: u64,
                now: i64,
            ) -> Result<bool, $crate::StoreError> {
                let sql = $sql(
                    "UPDATE session_channels SET escrowed = $1, last_activity_at = $2 \
                     WHERE channel_id = $3 AND status = 'open' AND escrowed < $1",
                );
                let n = sqlx::query(&sql)
                    .bind($crate::common::amount_to_db(escrowed)?)
                    .bind(now)
                    .bind(channel_id)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                Ok(n == 1)
            }

            async fn begin_close(
                &self,
                channel_id: &str,
            ) -> Result<$crate::channels::CloseStart, $crate::StoreError> {
                use $crate::channels::CloseStart;
                let sql = $sql(
                    "UPDATE session_channels SET status = 'closing' \
                     WHERE channel_id = $1 AND status = 'open'",
                );
                let n = sqlx::query(&sql)
                    .bind(channel_id)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                let current = self.channel(channel_id).await?.map(Box::new);
                Ok(match (n, current) {
                    (1, Some(c)) => CloseStart::Started(c),
                    (_, c) => CloseStart::NotOpen(c),
                })
            }

            async fn abort_close(&self, channel_id: &str) -> Result<(), $crate::StoreError> {
                let sql = $sql(
                    "UPDATE session_channels SET status = 'open' \
                     WHERE channel_id = $1 AND status = 'closing' AND closure_started_at = 0",
                );
                sqlx::query(&sql).bind(channel_id).execute(&self.pool).await?;
                Ok(())
            }

            async fn finish_close(
                &self,
                channel_id: &str,
                signature: &str,
                settled: u64,
                refunded: u64,
            ) -> Result<(), $crate::StoreError> {
                use $crate::common::amount_to_db as db;
                let sql = $sql(
                    "UPDATE session_channels SET status = 'closed', close_signature = $1, \
                     settled_on_chain = $2, refunded = $3 WHERE channel_id = $4",
                );
                sqlx::query(&sql)
                    .bind(signature)
                    .bind(db(settled)?)
                    .bind(db(refunded)?)
                    .bind(channel_id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn set_settled(
                &self,
                channel_id: &str,
                settled: u64,
            ) -> Result<(), $crate::StoreError> {
                let sql = $sql(
                    "UPDATE session_channels SET settled_on_chain = $1 \
                     WHERE channel_id = $2 AND settled_on_chain < $1",
                );
                sqlx::query(&sql)
                    .bind($crate::common::amount_to_db(settled)?)
                    .bind(channel_id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn set_closure_started(
                &self,
                channel_id: &str,
                at: i64,
            ) -> Result<(), $crate::StoreError> {
                let sql = $sql(
                    "UPDATE session_channels SET closure_started_at = $1, \
                     status = CASE WHEN status = 'closed' THEN status ELSE 'closing' END \
                     WHERE channel_id = $2",
                );
                sqlx::query(&sql)
                    .bind(at)
                    .bind(channel_id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn channels_with_status(
                &self,
                status: $crate::channels::SessionStatus,
                limit: u32,
            ) -> Result<Vec<$crate::channels::ChannelRecord>, $crate::StoreError> {
                let sql = $sql(&format!(
                    "SELECT {} FROM session_channels WHERE status = $1 \
                     ORDER BY last_activity_at, channel_id LIMIT $2",
                    $crate::channels::CHANNEL_COLUMNS
                ));
                let rows: Vec<$crate::channels::ChannelRow> = sqlx::query_as(&sql)
                    .bind(status.as_str())
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter()
                    .map($crate::channels::ChannelRow::into_record)
                    .collect()
            }

            async fn save_client_channel(
                &self,
                c: &$crate::channels::ClientChannel,
            ) -> Result<(), $crate::StoreError> {
                use $crate::common::amount_to_db as db;
                let now = $crate::common::unix_now();
                let sql = $sql(&format!(
                    "INSERT INTO client_channels ({}, created_at, updated_at) VALUES ($1, $2, \
                     $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $19, $16, $18, $17, $17) \
                     ON CONFLICT (channel_id) DO UPDATE SET deposit = excluded.deposit, \
                     open_signature = excluded.open_signature, \
                     signed_cumulative = excluded.signed_cumulative, accepted = \
                     excluded.accepted, status = excluded.status, close_signature = \
                     excluded.close_signature, updated_at = excluded.updated_at",
                    $crate::channels::CLIENT_COLUMNS
                ));
                sqlx::query(&sql)
                    .bind(&c.channel_id)
                    .bind(&c.scope)
                    .bind(&c.network)
                    .bind(&c.channel_program)
                    .bind(&c.payer)
                    .bind(&c.payee)
                    .bind(&c.mint)
                    .bind(&c.token_program)
                    .bind(&c.authorized_signer)
                    .bind(c.salt.to_string())
                    .bind(c.open_slot.to_string())
                    .bind(db(c.deposit)?)
                    .bind(db(c.signed_cumulative)?)
                    .bind(db(c.accepted)?)
                    .bind(&c.status)
                    .bind(&c.close_signature)
                    .bind(now)
                    .bind(&c.proof_challenge_id)
                    .bind(&c.open_signature)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn client_channel(
                &self,
                channel_id: &str,
            ) -> Result<Option<$crate::channels::ClientChannel>, $crate::StoreError> {
                let sql = $sql(&format!(
                    "SELECT {} FROM client_channels WHERE channel_id = $1",
                    $crate::channels::CLIENT_COLUMNS
                ));
                let row: Option<$crate::channels::ClientRow> = sqlx::query_as(&sql)
                    .bind(channel_id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map($crate::channels::ClientRow::into_record).transpose()
            }

            async fn client_channels(
                &self,
                scope: &str,
            ) -> Result<Vec<$crate::channels::ClientChannel>, $crate::StoreError> {
                let sql = $sql(&format!(
                    "SELECT {} FROM client_channels WHERE scope = $1 AND status <> 'closed' \
                     ORDER BY created_at DESC, channel_id",
                    $crate::channels::CLIENT_COLUMNS
                ));
                let rows: Vec<$crate::channels::ClientRow> = sqlx::query_as(&sql)
                    .bind(scope)
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter()
                    .map($crate::channels::ClientRow::into_record)
                    .collect()
            }

            async fn raise_client_amounts(
                &self,
                channel_id: &str,
                signed_cumulative: u64,
                accepted: u64,
            ) -> Result<(), $crate::StoreError> {
                use $crate::common::amount_to_db as db;
                let sql = $sql(
                    "UPDATE client_channels SET \
                     signed_cumulative = CASE WHEN signed_cumulative < $1 THEN $1 \
                         ELSE signed_cumulative END, \
                     accepted = CASE WHEN accepted < $2 THEN $2 ELSE accepted END, \
                     updated_at = $3 WHERE channel_id = $4",
                );
                sqlx::query(&sql)
                    .bind(db(signed_cumulative)?)
                    .bind(db(accepted)?)
                    .bind($crate::common::unix_now())
                    .bind(channel_id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
        }
    };
}
pub(crate) use channel_store_impl;
