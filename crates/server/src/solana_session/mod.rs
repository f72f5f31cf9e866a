//! The `solana`/`session` server method (spec `draft-solana-session-00` §Server State
//! Management, §Settlement Procedure): opens channels from client-built transactions it
//! co-signs as fee and rent payer, meters each request with a cumulative voucher (client mode)
//! or a bearer proof and an operator-signed voucher (operator mode), tops up, and closes with
//! `settleAndSeal` + `distribute` in one transaction.
//!
//! Metering state lives in the [`ChannelStore`]: every debit is a compare-and-set persisted
//! before the response, so requests on one channel serialise across server instances sharing a
//! database, and a crash between persisting and responding loses nothing (a retry with the same
//! `Idempotency-Key` gets the same receipt).

mod cache;
mod chain;
mod close;
mod meter;
mod open;
pub mod watch;

use std::sync::Arc;
use std::time::Duration;

use mpp::{
    BoxFuture, ChallengeUse, Credential, IntentName, MethodError, MethodName, PriceTag,
    ProblemType, Receipt, ServerMethod, Settlement, VerifyContext,
};
use mppsol_ledger::{Commitment, Ledger};
use mppsol_solana::channel::DEV_TREASURY_OWNER;
use mppsol_solana::network::Network;
use mppsol_solana::session::{
    DistributionEntry, SessionDetails, SessionPayload, SessionRequest, VoucherSigner,
};
use mppsol_store::{ChannelRecord, Store};
use serde_json::{Map, Value};
use solana_address::Address;
use solana_keypair::Keypair;
use solana_signer::Signer;

use crate::solana_charge::MintInfo;
use crate::solana_charge::ledger_error;

/// Configuration of a `solana`/`session` offer.
#[derive(Clone)]
pub struct SolanaSessionConfig {
    /// The cluster.
    pub network: Network,
    /// The channel program (configuration, never hard-coded).
    pub channel_program: Address,
    /// The payee: signs cooperative closes and receives the remainder share.
    pub payee: Arc<Keypair>,
    /// Pays fees and channel rent, co-signs opens and top-ups; signs vouchers in operator mode.
    pub operator: Arc<Keypair>,
    /// Mints a channel may hold (the spec's allow-list; a price in any other is refused).
    pub mints: Vec<Address>,
    /// Forced-close grace period bound into new channels, seconds.
    pub grace_period: u32,
    /// Idle timeouts a client may choose from (`None`: the server picks `idle_timeout`).
    pub idle_timeout_options: Option<Vec<u32>>,
    /// The idle timeout used when the client does not choose, seconds.
    pub idle_timeout: u32,
    /// Smallest deposit accepted.
    pub minimum_deposit: Option<u64>,
    /// Deposit suggested to clients.
    pub suggested_deposit: Option<u64>,
    /// Who signs vouchers.
    pub voucher_signer: VoucherSigner,
    /// Co-recipients bound into every new channel.
    pub splits: Vec<DistributionEntry>,
    /// Owner of the treasury token account the program sweeps dust to.
    pub treasury_owner: Address,
    /// Commitment a session transaction must reach.
    pub commitment: Commitment,
    /// How long to wait for it.
    pub confirm_timeout: Duration,
    /// Accept opens and top-ups made through this policy program's `fundChannel` /
    /// `topUpChannel` (a policy wallet as the channel's payer). The dev id on localnet.
    pub policy_program: Option<Address>,
}

impl SolanaSessionConfig {
    /// Defaults: client vouchers, 15-minute grace, 1-hour idle timeout, `confirmed`.
    pub fn new(
        network: Network,
        channel_program: Address,
        payee: Arc<Keypair>,
        operator: Arc<Keypair>,
        mints: Vec<Address>,
    ) -> Self {
        Self {
            network,
            channel_program,
            payee,
            operator,
            mints,
            grace_period: 900,
            idle_timeout_options: None,
            idle_timeout: 3600,
            minimum_deposit: None,
            suggested_deposit: None,
            voucher_signer: VoucherSigner::Client,
            splits: Vec::new(),
            treasury_owner: DEV_TREASURY_OWNER,
            commitment: Commitment::Confirmed,
            confirm_timeout: Duration::from_secs(30),
            policy_program: (network == Network::Localnet)
                .then_some(mppsol_solana::policy::DEV_POLICY_PROGRAM_ID),
        }
    }
}

/// The `solana`/`session` server method.
pub struct SolanaSession {
    pub(crate) cfg: SolanaSessionConfig,
    pub(crate) ledger: Arc<dyn Ledger>,
    pub(crate) store: Arc<dyn Store>,
    method: MethodName,
    intent: IntentName,
    mints: crate::solana_charge::mint::MintCache,
    /// Last known channel states (a hint; the store decides).
    pub(crate) channels: cache::ChannelCache,
}

impl SolanaSession {
    /// A session method settling through `ledger`, metering in `store`.
    pub fn new(cfg: SolanaSessionConfig, ledger: Arc<dyn Ledger>, store: Arc<dyn Store>) -> Self {
        Self {
            cfg,
            ledger,
            store,
            method: MethodName::solana(),
            intent: IntentName::session(),
            mints: crate::solana_charge::mint::MintCache::default(),
            channels: cache::ChannelCache::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SolanaSessionConfig {
        &self.cfg
    }

    pub(crate) fn operator(&self) -> Address {
        self.cfg.operator.pubkey()
    }

    pub(crate) fn payee(&self) -> Address {
        self.cfg.payee.pubkey()
    }

    pub(crate) async fn mint_info(&self, mint: Address) -> Result<MintInfo, MethodError> {
        self.mints.get(self.ledger.as_ref(), mint).await
    }

    async fn build_request(&self, price: &PriceTag) -> Result<SessionRequest, MethodError> {
        let mint = mppsol_solana::charge::request::parse_address(&price.currency)
            .filter(|m| self.cfg.mints.contains(m))
            .ok_or_else(|| {
                MethodError::verification("session price currency is not an allow-listed mint")
            })?;
        let info = self.mint_info(mint).await?;
        let blockhash = self.ledger.latest_blockhash().await.map_err(ledger_error)?;
        let slot = self.ledger.slot().await.map_err(ledger_error)?;
        let operator_mode = self.cfg.voucher_signer == VoucherSigner::Operator;
        let req = SessionRequest {
            amount: price.amount,
            unit_type: Some("request".into()),
            suggested_deposit: self.cfg.suggested_deposit.map(Into::into),
            minimum_deposit: self.cfg.minimum_deposit.map(Into::into),
            recipient: self.payee(),
            currency: mint.to_string(),
            description: price.description.clone(),
            external_id: price.external_id.clone(),
            method_details: SessionDetails {
                network: self.cfg.network,
                channel_program: self.cfg.channel_program,
                channel_id: None,
                recent_blockhash: Some(blockhash.blockhash),
                recent_slot: Some(slot),
                decimals: Some(info.decimals),
                token_program: Some(info.program.id()),
                fee_payer: true,
                fee_payer_key: Some(self.operator()),
                voucher_signer: operator_mode.then_some(VoucherSigner::Operator),
                operator: operator_mode.then(|| self.operator()),
                min_voucher_delta: None,
                ttl_seconds: None,
                idle_timeout_options_seconds: self.cfg.idle_timeout_options.clone(),
                idle_timeout_seconds: None,
                grace_period_seconds: Some(self.cfg.grace_period),
                distribution_splits: self.cfg.splits.clone(),
            },
        };
        req.validate()
            .map_err(|e| MethodError::verification(format!("cannot offer this price: {e}")))?;
        Ok(req)
    }

    /// The challenge must ask for what this route costs now, from this server.
    fn check_pinned(&self, req: &SessionRequest, ctx: &VerifyContext) -> Result<(), MethodError> {
        let price = &ctx.price;
        let d = &req.method_details;
        let mismatch = |what: &str| {
            MethodError::verification(format!(
                "challenge {what} does not match this route's offer"
            ))
        };
        if req.amount != price.amount {
            return Err(mismatch("amount"));
        }
        if req.currency != price.currency {
            return Err(mismatch("currency"));
        }
        if req.recipient != self.payee() {
            return Err(mismatch("recipient"));
        }
        if d.network != self.cfg.network || d.channel_program != self.cfg.channel_program {
            return Err(mismatch("network or channel program"));
        }
        if d.fee_payer_key != Some(self.operator()) {
            return Err(mismatch("fee payer"));
        }
        if req.voucher_signer() != self.cfg.voucher_signer {
            return Err(mismatch("voucher signer"));
        }
        Ok(())
    }

    async fn settle_credential(
        &self,
        credential: &Credential,
        ctx: &VerifyContext,
    ) -> Result<Settlement, MethodError> {
        let challenge = &credential.challenge;
        let req = SessionRequest::from_json(challenge.request_value())
            .map_err(|e| MethodError::new(ProblemType::InvalidChallenge, e.to_string()))?;
        self.check_pinned(&req, ctx)?;
        let payload = SessionPayload::from_json(&Value::Object(credential.payload.clone()))
            .map_err(|e| MethodError::new(ProblemType::MalformedCredential, e.to_string()))?;
        match payload {
            SessionPayload::Open(open) => {
                // Opening binds a new channel to this challenge: it must be fresh.
                if challenge.expires_at().is_some_and(|t| ctx.now > t) {
                    return Err(MethodError::new(
                        ProblemType::PaymentExpired,
                        "challenge expired; open with a fresh one",
                    ));
                }
                open::open(self, &req, &open, &challenge.id, ctx).await
            }
            SessionPayload::Voucher(v) => {
                if self.cfg.voucher_signer != VoucherSigner::Client {
                    return Err(MethodError::verification(
                        "this server signs vouchers itself: send action \"use\"",
                    ));
                }
                meter::voucher(self, &v, &challenge.id, ctx).await
            }
            SessionPayload::Use(u) => {
                if self.cfg.voucher_signer != VoucherSigner::Operator {
                    return Err(MethodError::verification(
                        "action \"use\" needs operator vouchers; send a signed voucher",
                    ));
                }
                meter::use_proof(self, &u, &challenge.id, ctx).await
            }
            SessionPayload::TopUp(t) => {
                if challenge.expires_at().is_some_and(|t| ctx.now > t) {
                    return Err(MethodError::new(
                        ProblemType::PaymentExpired,
                        "challenge expired; top up with a fresh one (its blockhash)",
                    ));
                }
                meter::top_up(self, &t, &challenge.id, ctx).await
            }
            SessionPayload::Close(c) => close::cooperative(self, &c, &challenge.id, ctx).await,
        }
    }
}

/// A session receipt (spec §Receipt Format).
pub(crate) fn receipt(
    m: &SolanaSession,
    ctx: &VerifyContext,
    challenge_id: &str,
    ch: &ChannelRecord,
    accepted: u64,
    spent: u64,
) -> Receipt {
    Receipt::success(m.method.clone(), ctx.now, ch.channel_id.clone())
        .with_field("intent", "session")
        .with_field("challengeId", challenge_id.to_owned())
        .with_field("acceptedCumulative", accepted.to_string())
        .with_field("spent", spent.to_string())
        .with_field("idleTimeoutSeconds", ch.idle_timeout)
}

/// A store failure as a retryable method error (nothing was served).
pub(crate) fn store_error(e: mppsol_store::StoreError) -> MethodError {
    MethodError::verification("session state is temporarily unavailable")
        .retryable()
        .with_source(e)
}

impl ServerMethod for SolanaSession {
    fn method(&self) -> &MethodName {
        &self.method
    }

    fn intent(&self) -> &IntentName {
        &self.intent
    }

    fn prepare<'a>(
        &'a self,
        price: &'a PriceTag,
    ) -> BoxFuture<'a, Result<Map<String, Value>, MethodError>> {
        Box::pin(async move { Ok(self.build_request(price).await?.to_json()) })
    }

    fn verify<'a>(
        &'a self,
        credential: &'a Credential,
        ctx: &'a VerifyContext,
    ) -> BoxFuture<'a, Result<Receipt, MethodError>> {
        Box::pin(async move {
            self.settle_credential(credential, ctx)
                .await
                .map(|s| s.receipt().clone())
        })
    }

    fn challenge_use(&self) -> ChallengeUse {
        ChallengeUse::Reusable
    }

    fn settle<'a>(
        &'a self,
        credential: &'a Credential,
        ctx: &'a VerifyContext,
    ) -> BoxFuture<'a, Result<Settlement, MethodError>> {
        Box::pin(self.settle_credential(credential, ctx))
    }
}
