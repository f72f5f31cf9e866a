//! The `solana`/`charge` server method: builds requests (with a fresh blockhash and a
//! per-challenge reference key), and verifies pull and push credentials through the ledger,
//! consuming each transaction signature exactly once in the store.

pub(crate) mod mint;
mod verify;

use std::sync::Arc;
use std::time::{Duration, Instant};

use mpp::{
    BoxFuture, Credential, IntentName, MethodError, MethodName, PriceTag, Receipt, ServerMethod,
    VerifyContext,
};
use mppsol_ledger::{BlockhashInfo, Commitment, Ledger};
use mppsol_solana::charge::request::{ChargeRequest, MethodDetails, Split};
use mppsol_solana::charge::verify::PullPolicy;
pub use mppsol_solana::charge::verify::policy::ReceiptPrograms;
use mppsol_solana::network::Network;
use mppsol_store::Store;
use serde_json::{Map, Value};
use solana_address::Address;
use solana_keypair::Keypair;
use solana_signer::Signer;
use tokio::sync::Mutex;

pub use mint::MintInfo;

/// How a push (`type="signature"`) payment must be tied to its challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PushBinding {
    /// The transfer must carry the challenge's `reference` key (our clients do this); a
    /// transfer seen on chain cannot be claimed for another challenge. The default.
    #[default]
    Reference,
    /// As the spec has it: any matching transfer not yet consumed is accepted (for clients
    /// that do not add the reference). The first presenter wins.
    Spec,
}

/// How long a localnet blockhash is reused for new challenges (see [`SolanaChargeConfig::new`]).
const LOCALNET_BLOCKHASH_TTL: Duration = Duration::from_millis(10);

/// Configuration of a `solana`/`charge` offer.
#[derive(Clone)]
pub struct SolanaChargeConfig {
    /// The cluster the ledger talks to.
    pub network: Network,
    /// Who is paid when the price names no recipient (the owner; tokens go to its ATA).
    pub recipient: Address,
    /// Sponsor fees and co-sign pull transactions with this key (`feePayer: true`).
    pub fee_payer: Option<Arc<Keypair>>,
    /// Compute-budget and signer caps for sponsored transactions.
    pub policy: PullPolicy,
    /// Push binding mode.
    pub push_binding: PushBinding,
    /// Commitment a payment must reach before the resource is served.
    pub commitment: Commitment,
    /// How long to wait for that commitment.
    pub confirm_timeout: Duration,
    /// Splits added to every request (platform fees), in base units.
    pub splits: Vec<Split>,
    /// How long a fetched blockhash is reused for new challenges.
    pub blockhash_ttl: Duration,
    /// Accept payments through these programs: pull transactions calling the policy
    /// program's `payWithReceipt`, push payments whose receipt the payments program wrote
    /// (`None`: plain transfers only). The dev ids on localnet.
    pub receipt_programs: Option<ReceiptPrograms>,
}

impl SolanaChargeConfig {
    /// Defaults: no sponsorship, reference binding, `confirmed`, 30 s confirmation.
    pub fn new(network: Network, recipient: Address) -> Self {
        Self {
            network,
            recipient,
            fee_payer: None,
            policy: PullPolicy::default(),
            push_binding: PushBinding::Reference,
            commitment: Commitment::Confirmed,
            confirm_timeout: Duration::from_secs(30),
            splits: Vec::new(),
            // A cluster retires a blockhash after 150 slots (about a minute), so a few seconds of
            // reuse is safe there. A localnet (ours advances a slot per landed transaction) can
            // retire it within a tenth of a second under load (150 slots at 1,500 payments/s),
            // so there it is shared only by the challenges of the same 10 ms: at most a few
            // dozen slots of its life, and one fetch instead of one per challenge under load.
            blockhash_ttl: match network {
                Network::Localnet => LOCALNET_BLOCKHASH_TTL,
                _ => Duration::from_secs(5),
            },
            receipt_programs: match network {
                Network::Localnet => Some(ReceiptPrograms {
                    policy: Some(mppsol_solana::policy::DEV_POLICY_PROGRAM_ID),
                    payments: mppsol_solana::policy::DEV_PAYMENTS_PROGRAM_ID,
                }),
                _ => None,
            },
        }
    }

    /// Sponsors fees with `key`.
    pub fn with_fee_payer(mut self, key: Arc<Keypair>) -> Self {
        self.fee_payer = Some(key);
        self
    }
}

/// The `solana`/`charge` server method.
pub struct SolanaCharge {
    cfg: SolanaChargeConfig,
    ledger: Arc<dyn Ledger>,
    store: Arc<dyn Store>,
    method: MethodName,
    intent: IntentName,
    mints: mint::MintCache,
    blockhash: Mutex<Option<(Instant, BlockhashInfo)>>,
}

impl SolanaCharge {
    /// A charge method settling through `ledger`, consuming proofs in `store`.
    pub fn new(cfg: SolanaChargeConfig, ledger: Arc<dyn Ledger>, store: Arc<dyn Store>) -> Self {
        Self {
            cfg,
            ledger,
            store,
            method: MethodName::solana(),
            intent: IntentName::charge(),
            mints: mint::MintCache::default(),
            blockhash: Mutex::new(None),
        }
    }

    /// The fee payer's public key, when fees are sponsored.
    pub fn fee_payer(&self) -> Option<Address> {
        self.cfg.fee_payer.as_ref().map(|k| k.pubkey())
    }

    async fn recent_blockhash(&self) -> Result<BlockhashInfo, MethodError> {
        if self.cfg.blockhash_ttl.is_zero() {
            // Nothing to share: no lock, so concurrent challenges do not queue behind one fetch.
            return self.ledger.latest_blockhash().await.map_err(ledger_error);
        }
        let mut cached = self.blockhash.lock().await;
        if let Some((at, info)) = *cached
            && at.elapsed() < self.cfg.blockhash_ttl
        {
            return Ok(info);
        }
        let info = self.ledger.latest_blockhash().await.map_err(ledger_error)?;
        *cached = Some((Instant::now(), info));
        Ok(info)
    }

    /// The mint's program, decimals and transfer fee, read once per mint.
    async fn mint_info(&self, mint: Address) -> Result<MintInfo, MethodError> {
        self.mints.get(self.ledger.as_ref(), mint).await
    }

    async fn build_request(&self, price: &PriceTag) -> Result<ChargeRequest, MethodError> {
        let recipient = match &price.recipient {
            Some(r) => mppsol_solana::charge::request::parse_address(r)
                .ok_or_else(|| MethodError::verification("price recipient is not an address"))?,
            None => self.cfg.recipient,
        };
        let mut details = MethodDetails {
            network: Some(self.cfg.network),
            fee_payer: self.cfg.fee_payer.is_some(),
            fee_payer_key: self.fee_payer(),
            splits: self.cfg.splits.clone(),
            recent_blockhash: Some(self.recent_blockhash().await?.blockhash),
            reference: Some(Address::new_from_array(rand::random())),
            ..MethodDetails::default()
        };
        if !price.currency.eq_ignore_ascii_case("sol") {
            let mint = mppsol_solana::charge::request::parse_address(&price.currency)
                .ok_or_else(|| MethodError::verification("price currency is not a mint"))?;
            let info = self.mint_info(mint).await?;
            details.decimals = Some(info.decimals);
            details.token_program = Some(info.program.id());
        }
        let req = ChargeRequest {
            amount: price.amount,
            currency: if price.currency.eq_ignore_ascii_case("sol") {
                "sol".into()
            } else {
                price.currency.clone()
            },
            recipient,
            description: price.description.clone(),
            external_id: price.external_id.clone(),
            method_details: details,
        };
        req.validate()
            .map_err(|e| MethodError::verification(format!("cannot offer this price: {e}")))?;
        Ok(req)
    }
}

impl ServerMethod for SolanaCharge {
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
        Box::pin(verify::verify(self, credential, ctx))
    }
}

/// A ledger failure as a method error: transient ones ask the client to retry.
pub(crate) fn ledger_error(e: mppsol_ledger::LedgerError) -> MethodError {
    let retry = e.is_retryable();
    let m = MethodError::verification(format!("ledger: {e}")).with_source(e);
    if retry { m.retryable() } else { m }
}
