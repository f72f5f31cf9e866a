//! The watchtower: runs beside the server (or as `mppsol watch`) over the same store.
//! - A payer's `requestClose` seen on chain → metering stops and `settleAndSeal` with the
//!   highest stored voucher lands (with `distribute`) before the grace period ends.
//! - Channels idle past their negotiated timeout → cooperative close.
//! - Large unsettled amounts → `settle`, several channels per transaction.
//! - Closes left half-done by a crash → finished.

use std::sync::Arc;
use std::time::Duration;

use mpp::{Clock, MethodError};
use mppsol_solana::channel::{ChannelState, ChannelStatus, ed25519_voucher_instruction, ix};
use mppsol_solana::session::SignedVoucher;
use mppsol_store::{ChannelRecord, CloseStart, SessionStatus};
use solana_address::Address;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::SolanaSession;
use super::chain::{operator_tx, send_and_confirm};
use super::close::close_channel;
use super::store_error;
use crate::solana_charge::ledger_error;

/// Channels settled per `settle` transaction (each needs its 162-byte precompile instruction).
const SETTLES_PER_TX: usize = 4;

/// Channels examined per pass.
const BATCH: u32 = 1_000;

/// A closing channel untouched this long is a close that crashed half-way: finish it.
const STUCK_CLOSE_SECS: i64 = 60;

/// Watchtower settings.
#[derive(Clone)]
pub struct WatchConfig {
    /// Time between passes.
    pub interval: Duration,
    /// Settle a channel once this much is accepted but unsettled (`None`: never early).
    pub settle_threshold: Option<u64>,
    /// Close channels idle past their timeout.
    pub close_idle: bool,
    /// The time source (idle timeouts).
    pub clock: Arc<dyn Clock>,
}

impl WatchConfig {
    /// Every second, idle closes on, no early settlement.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            interval: Duration::from_secs(1),
            settle_threshold: None,
            close_idle: true,
            clock,
        }
    }
}

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WatchReport {
    /// Channels whose forced close was answered with `settleAndSeal`.
    pub forced_closes: usize,
    /// Channels closed for idleness.
    pub idle_closes: usize,
    /// Channels settled early.
    pub settled: usize,
    /// Half-done closes finished.
    pub resumed_closes: usize,
    /// Failures (logged).
    pub errors: usize,
}

/// A running watchtower. It runs until [`WatchHandle::stop`] or the end of the runtime;
/// dropping the handle detaches it.
pub struct WatchHandle {
    stop: Arc<Notify>,
    task: JoinHandle<()>,
}

impl WatchHandle {
    /// Stops after the current pass.
    pub async fn stop(self) {
        // A stored permit: the loop sees it even if it is mid-pass right now.
        self.stop.notify_one();
        let _ = self.task.await;
    }
}

/// Starts the watchtower for `method`'s channels.
pub fn spawn(method: Arc<SolanaSession>, cfg: WatchConfig) -> WatchHandle {
    let stop = Arc::new(Notify::new());
    let signal = stop.clone();
    let task = tokio::spawn(async move {
        loop {
            match pass(&method, &cfg).await {
                Ok(r) if r != WatchReport::default() => info!(?r, "watchtower pass"),
                Ok(_) => {}
                Err(e) => warn!(error = %e, "watchtower pass failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(cfg.interval) => {}
                _ = signal.notified() => break,
            }
        }
    });
    WatchHandle { stop, task }
}

/// One pass over every open and closing channel.
pub async fn pass(m: &SolanaSession, cfg: &WatchConfig) -> Result<WatchReport, MethodError> {
    let mut report = WatchReport::default();
    let now = cfg.clock.now().unix();
    let open = m
        .store
        .channels_with_status(SessionStatus::Open, BATCH)
        .await
        .map_err(store_error)?;
    let closing = m
        .store
        .channels_with_status(SessionStatus::Closing, BATCH)
        .await
        .map_err(store_error)?;
    let all: Vec<&ChannelRecord> = open.iter().chain(closing.iter()).collect();
    let mut states = Vec::with_capacity(all.len());
    for chunk in all.chunks(100) {
        let keys: Vec<Address> = chunk
            .iter()
            .map(|r| r.channel_id.parse().unwrap_or_default())
            .collect();
        let accounts = m
            .ledger
            .get_multiple_accounts(&keys)
            .await
            .map_err(ledger_error)?;
        states.extend(accounts.into_iter().map(|a| {
            a.filter(|a| a.owner == m.cfg.channel_program)
                .and_then(|a| ChannelState::decode(&a.data).ok())
        }));
    }
    let mut to_settle = Vec::new();
    for (rec, state) in all.into_iter().zip(states) {
        let forced = state
            .as_ref()
            .is_some_and(|s| s.closure_started_at != 0 || s.status == ChannelStatus::Closing);
        let result = if forced && rec.closure_started_at == 0 {
            // Stop metering first, then settle with the highest voucher while grace lasts.
            let at = state.as_ref().map_or(now, |s| s.closure_started_at);
            m.store
                .set_closure_started(&rec.channel_id, at)
                .await
                .map_err(store_error)?;
            let mut r = rec.clone();
            r.status = SessionStatus::Closing;
            report.forced_closes += 1;
            close_channel(m, &r, None).await.map(|_| ())
        } else if rec.status == SessionStatus::Closing {
            if rec.closure_started_at != 0 || now - rec.last_activity_at >= STUCK_CLOSE_SECS {
                report.resumed_closes += 1;
                close_channel(m, rec, None).await.map(|_| ())
            } else {
                Ok(())
            }
        } else if state.is_none() {
            // Gone from chain while we thought it open (closed by another party).
            report.resumed_closes += 1;
            close_channel(m, rec, None).await.map(|_| ())
        } else if cfg.close_idle && now - rec.last_activity_at >= i64::from(rec.idle_timeout) {
            match m
                .store
                .begin_close(&rec.channel_id)
                .await
                .map_err(store_error)?
            {
                CloseStart::Started(r) => {
                    report.idle_closes += 1;
                    close_channel(m, &r, None).await.map(|_| ())
                }
                CloseStart::NotOpen(_) => Ok(()),
            }
        } else {
            if let Some(t) = cfg.settle_threshold
                && rec.accepted_cumulative.saturating_sub(rec.settled_on_chain) >= t
                && let Some(s) = &state
                && rec.accepted_cumulative > s.settled
            {
                to_settle.push(rec.clone());
            }
            Ok(())
        };
        if let Err(e) = result {
            report.errors += 1;
            warn!(channel = %rec.channel_id, error = %e, "watchtower could not act on a channel");
        }
    }
    for batch in to_settle.chunks(SETTLES_PER_TX) {
        match settle_batch(m, batch).await {
            Ok(n) => report.settled += n,
            Err(e) => {
                report.errors += 1;
                warn!(error = %e, "watchtower settle failed");
            }
        }
    }
    Ok(report)
}

/// Lands `settle` for several channels in one transaction; returns how many.
async fn settle_batch(m: &SolanaSession, batch: &[ChannelRecord]) -> Result<usize, MethodError> {
    let mut ixs = Vec::new();
    let mut done = Vec::new();
    for rec in batch {
        let Some(v) = rec
            .highest_voucher
            .as_deref()
            .and_then(|j| serde_json::from_str::<SignedVoucher>(j).ok())
        else {
            continue;
        };
        let sig = v
            .signature()
            .map_err(|e| MethodError::verification(e.to_string()))?;
        let channel = v.voucher.channel_id;
        let onchain = mppsol_solana::channel::Voucher {
            channel_id: channel,
            cumulative_amount: v.voucher.cumulative_amount,
            expires_at: v.voucher.expires_at.unwrap_or(0),
        };
        ixs.push(ed25519_voucher_instruction(&v.signer, &sig, &onchain));
        ixs.push(ix::settle(&m.cfg.channel_program, &channel));
        done.push((rec.channel_id.clone(), v.voucher.cumulative_amount));
    }
    if done.is_empty() {
        return Ok(0);
    }
    let blockhash = m.ledger.latest_blockhash().await.map_err(ledger_error)?;
    let tx = operator_tx(m, &ixs, blockhash.blockhash, &[])?;
    send_and_confirm(m, &tx).await?;
    for (id, amount) in &done {
        m.store
            .set_settled(id, *amount)
            .await
            .map_err(store_error)?;
    }
    Ok(done.len())
}
