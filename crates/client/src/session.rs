//! Paying `solana`/`session` challenges: open a channel on the first 402 (a deposit transaction
//! the server co-signs), then pay each request with the next cumulative voucher, top up when the
//! deposit runs low, and close on command. Every channel and every signed amount is written to
//! the durable store before it is sent, so a restart resumes the channel (checking the chain)
//! without losing deposited money.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use mpp::{
    BoxFuture, Challenge, ClientMethod, Credential, MethodError, MethodName, Quote, Receipt,
};
use mppsol_ledger::Ledger;
use mppsol_solana::channel::ix::{self, OpenArgs, OpenParties, PayerAccounts};
use mppsol_solana::channel::{DistributionSplit, find_channel_address};
use mppsol_solana::charge::build::sign_partial;
use mppsol_solana::network::Network;
use mppsol_solana::policy::ix::{WalletChannel, fund_channel, top_up_channel};
use mppsol_solana::session::{
    BearerProof, CloseAction, OpenAction, SessionPayload, SessionRequest, TopUpAction, UseAction,
    VoucherAction, VoucherData, VoucherSigner,
};
use mppsol_solana::token::TokenProgram;
use mppsol_store::{ClientChannel, Store};
use serde_json::{Map, Value};
use solana_address::Address;
use solana_keypair::Keypair;
use solana_message::{Message, VersionedMessage};
use solana_signature::Signature;
use solana_signer::Signer;
use solana_transaction::versioned::VersionedTransaction;
use tracing::warn;

pub use crate::session_challenge::{
    session_idempotency_key, session_needs_followup, session_quote, supports_session,
};

/// Pays `solana`/`session` challenges from one keypair.
pub struct SolanaSessionClient {
    payer: Arc<Keypair>,
    /// Deposits come from this policy wallet (the payer key is its agent).
    wallet: Option<crate::charge::PolicyWallet>,
    ledger: Arc<dyn Ledger>,
    store: Arc<dyn Store>,
    network: Network,
    method: MethodName,
    /// Deposit of a new channel (and of each top-up), base units.
    pub deposit: u64,
    /// Highest price per request this client pays from a channel (`None`: any).
    pub max_price: Option<u64>,
    /// Channel programs this client trusts with deposits (any when empty; the spec says to
    /// check it against the program expected for the cluster).
    pub expected_programs: Vec<Address>,
    /// Receipts are reported to the operator service through this.
    reporter: Option<crate::session_report::SessionReporter>,
    /// Channels by scope, loaded from the store on first use.
    channels: Mutex<HashMap<String, ClientChannel>>,
    loaded: tokio::sync::Mutex<Vec<String>>,
}

fn err(e: impl std::fmt::Display) -> MethodError {
    MethodError::verification(e.to_string())
}

/// Which relationship a challenge belongs to: same payer, server, payee, mint and program.
fn scope(payer: &Address, challenge: &Challenge, req: &SessionRequest) -> String {
    format!(
        "{payer}|{}|{}|{}|{}",
        challenge.realm, req.recipient, req.currency, req.method_details.channel_program
    )
}

impl SolanaSessionClient {
    /// A payer on `network` keeping its channels in `store`, depositing `deposit` per channel.
    pub fn new(
        payer: Arc<Keypair>,
        ledger: Arc<dyn Ledger>,
        store: Arc<dyn Store>,
        network: Network,
        deposit: u64,
    ) -> Self {
        Self {
            payer,
            wallet: None,
            ledger,
            store,
            network,
            method: MethodName::solana(),
            deposit,
            max_price: None,
            expected_programs: Vec::new(),
            reporter: None,
            channels: Mutex::new(HashMap::new()),
            loaded: tokio::sync::Mutex::new(Vec::new()),
        }
    }

    /// Funds channels from `wallet` through the policy program (`fundChannel`,
    /// `topUpChannel`): the wallet is the channel's payer (refunds return to its vault), the
    /// payer key its agent, voucher signer and the channel's rent payer. Client vouchers only.
    pub fn with_policy_wallet(mut self, wallet: crate::charge::PolicyWallet) -> Self {
        self.wallet = Some(wallet);
        self
    }

    /// Reports every session receipt (open, vouchers, top-ups, close) to the operator
    /// service, so the operator's session follows the channel.
    pub fn with_operator_reports(
        mut self,
        reporter: crate::session_report::SessionReporter,
    ) -> Self {
        self.reporter = Some(reporter);
        self
    }

    /// The channel's payer: the wallet PDA, or the payer key.
    fn channel_payer(&self) -> Address {
        match &self.wallet {
            Some(w) => w.keys(&self.payer.pubkey()).wallet(),
            None => self.payer.pubkey(),
        }
    }

    /// The payer's address.
    pub fn payer(&self) -> Address {
        self.payer.pubkey()
    }

    fn request(challenge: &Challenge) -> Result<SessionRequest, MethodError> {
        crate::session_challenge::request(challenge)
    }

    fn current(&self, scope: &str) -> Option<ClientChannel> {
        self.channels.lock().ok()?.get(scope).cloned()
    }

    fn remember(&self, ch: ClientChannel) {
        if let Ok(mut m) = self.channels.lock() {
            if ch.status == "closed" {
                m.remove(&ch.scope);
            } else {
                m.insert(ch.scope.clone(), ch);
            }
        }
    }

    /// The live channel of `scope` after a restart: from the store, checked against the chain
    /// (an open that never landed moved no money; a channel gone from chain was closed).
    async fn load(&self, scope: &str) -> Result<(), MethodError> {
        let mut loaded = self.loaded.lock().await;
        if loaded.iter().any(|s| s == scope) {
            return Ok(());
        }
        let stored = self.store.client_channels(scope).await.map_err(err)?;
        for mut ch in stored {
            let addr: Address = ch.channel_id.parse().map_err(err)?;
            let exists = self
                .ledger
                .get_account(&addr)
                .await
                .map_err(|e| err(format!("ledger: {e}")))?
                .is_some();
            let next = match (ch.status.as_str(), exists) {
                ("opening", true) => "open",
                ("opening" | "open", false) => "closed",
                (s, _) => s,
            };
            if next != ch.status {
                ch.status = next.into();
                self.store.save_client_channel(&ch).await.map_err(err)?;
            }
            if ch.status != "closed" && self.current(scope).is_none() {
                self.remember(ch);
            }
        }
        loaded.push(scope.to_owned());
        Ok(())
    }

    fn open_credential(
        &self,
        challenge: &Challenge,
        req: &SessionRequest,
        scope: &str,
    ) -> Result<(Credential, ClientChannel), MethodError> {
        let d = &req.method_details;
        let mint = req.mint().map_err(err)?;
        let token_program = d
            .token_program
            .and_then(|t| TokenProgram::from_id(&t))
            .ok_or_else(|| err("the challenge names no supported tokenProgram"))?;
        let blockhash = d
            .recent_blockhash
            .ok_or_else(|| err("the challenge has no recentBlockhash to open with"))?;
        let open_slot = d
            .recent_slot
            .ok_or_else(|| err("the challenge has no recentSlot"))?;
        let grace = d
            .grace_period_seconds
            .ok_or_else(|| err("the challenge has no gracePeriodSeconds"))?;
        let fee_payer = if d.fee_payer {
            d.fee_payer_key
                .ok_or_else(|| err("feePayer without feePayerKey"))?
        } else {
            self.payer.pubkey()
        };
        let deposit = self
            .deposit
            .max(req.minimum_deposit.map_or(0, |m| m.get()))
            .max(req.amount.get());
        let operator_mode = req.voucher_signer() == VoucherSigner::Operator;
        let authorized_signer = if operator_mode {
            d.operator
                .ok_or_else(|| err("operator vouchers without an operator key"))?
        } else {
            self.payer.pubkey()
        };
        let splits: Vec<DistributionSplit> = d
            .distribution_splits
            .iter()
            .map(|e| DistributionSplit {
                recipient: e.recipient,
                share_bps: e.share_bps,
            })
            .collect();
        let args = OpenArgs {
            salt: rand::random(),
            deposit,
            grace_period: grace,
            open_slot,
            splits,
        };
        if self.wallet.is_some() && operator_mode {
            return Err(err(
                "a policy wallet's channel needs client vouchers (the agent signs them)",
            ));
        }
        let parties = OpenParties {
            payer: self.channel_payer(),
            rent_payer: if self.wallet.is_some() {
                self.payer.pubkey()
            } else {
                fee_payer
            },
            payee: req.recipient,
            mint,
            authorized_signer,
            token_program,
        };
        let program = d.channel_program;
        let (channel, _) = find_channel_address(&program, &parties.seeds(&args));
        let ix = match &self.wallet {
            Some(w) => fund_channel(
                &w.keys(&self.payer.pubkey()),
                &WalletChannel {
                    channel_program: program,
                    payee: req.recipient,
                    mint,
                    token_program,
                },
                &args,
                w.next_nonce(),
                false,
            ),
            None => ix::open(&program, &parties, &args),
        };
        let msg = Message::new_with_blockhash(&[ix], Some(&fee_payer), &blockhash);
        let mut tx = VersionedTransaction {
            signatures: vec![Signature::default(); usize::from(msg.header.num_required_signatures)],
            message: VersionedMessage::Legacy(msg),
        };
        sign_partial(&mut tx, self.payer.as_ref()).map_err(err)?;
        let wire = bincode::serialize(&tx).map_err(err)?;
        let open = OpenAction {
            channel_id: channel,
            payer: self.channel_payer(),
            payee: req.recipient,
            mint,
            authorized_signer,
            salt: args.salt,
            deposit_amount: deposit,
            grace_period_seconds: grace,
            idle_timeout_seconds: None,
            open_slot,
            distribution_splits: (!d.distribution_splits.is_empty())
                .then(|| d.distribution_splits.clone()),
            authorization_policy: None,
            authentication: operator_mode
                .then(|| BearerProof::sign(&self.payer, &channel, &challenge.id)),
            transaction: base64_std(&wire),
            capabilities: None,
        };
        let record = ClientChannel {
            channel_id: channel.to_string(),
            scope: scope.to_owned(),
            network: self.network.as_str().to_owned(),
            channel_program: program.to_string(),
            payer: self.channel_payer().to_string(),
            payee: req.recipient.to_string(),
            mint: mint.to_string(),
            token_program: token_program.id().to_string(),
            authorized_signer: authorized_signer.to_string(),
            salt: args.salt,
            open_slot,
            deposit,
            signed_cumulative: 0,
            accepted: 0,
            status: "opening".into(),
            open_signature: None,
            close_signature: None,
            proof_challenge_id: operator_mode.then(|| challenge.id.clone()),
        };
        let payload = SessionPayload::Open(Box::new(open)).to_json();
        Ok((credential(challenge, payload, self.payer.pubkey()), record))
    }

    fn top_up_credential(
        &self,
        challenge: &Challenge,
        req: &SessionRequest,
        ch: &ClientChannel,
        amount: u64,
    ) -> Result<Credential, MethodError> {
        let d = &req.method_details;
        let blockhash = d
            .recent_blockhash
            .ok_or_else(|| err("the challenge has no recentBlockhash to top up with"))?;
        let fee_payer = if d.fee_payer {
            d.fee_payer_key
                .ok_or_else(|| err("feePayer without feePayerKey"))?
        } else {
            self.payer.pubkey()
        };
        let channel: Address = ch.channel_id.parse().map_err(err)?;
        let token_program = ch
            .token_program
            .parse::<Address>()
            .ok()
            .and_then(|t| TokenProgram::from_id(&t))
            .ok_or_else(|| err("stored token program is unknown"))?;
        let mint = req.mint().map_err(err)?;
        let ix = match &self.wallet {
            Some(w) => top_up_channel(
                &w.keys(&self.payer.pubkey()),
                &WalletChannel {
                    channel_program: d.channel_program,
                    payee: req.recipient,
                    mint,
                    token_program,
                },
                &channel,
                amount,
                w.next_nonce(),
                false,
            ),
            None => ix::top_up(
                &d.channel_program,
                &PayerAccounts {
                    payer: self.payer.pubkey(),
                    channel,
                    mint,
                    token_program,
                },
                amount,
            ),
        };
        let msg = Message::new_with_blockhash(&[ix], Some(&fee_payer), &blockhash);
        let mut tx = VersionedTransaction {
            signatures: vec![Signature::default(); usize::from(msg.header.num_required_signatures)],
            message: VersionedMessage::Legacy(msg),
        };
        sign_partial(&mut tx, self.payer.as_ref()).map_err(err)?;
        let wire = bincode::serialize(&tx).map_err(err)?;
        let payload = SessionPayload::TopUp(TopUpAction {
            channel_id: channel,
            additional_amount: amount,
            transaction: base64_std(&wire),
        })
        .to_json();
        Ok(credential(challenge, payload, self.payer.pubkey()))
    }

    async fn pay(&self, challenge: &Challenge) -> Result<Credential, MethodError> {
        let req = Self::request(challenge)?;
        self.check_request(&req)?;
        let scope = scope(&self.payer.pubkey(), challenge, &req);
        self.load(&scope).await?;
        if let Some(w) = &self.wallet {
            w.sync_nonce(self.ledger.as_ref(), &self.payer.pubkey())
                .await?;
        }
        let Some(mut ch) = self.current(&scope) else {
            let (cred, record) = self.open_credential(challenge, &req, &scope)?;
            // Durable before it is sent: a crash after the server lands it must not lose the
            // deposit (the next start finds the channel on chain).
            self.store.save_client_channel(&record).await.map_err(err)?;
            self.remember(record);
            return Ok(cred);
        };
        let channel: Address = ch.channel_id.parse().map_err(err)?;
        let price = req.amount.get();
        let next = ch.accepted.saturating_add(price);
        if req.voucher_signer() == VoucherSigner::Operator {
            if next > ch.deposit {
                return self.top_up_credential(challenge, &req, &ch, self.deposit.max(price));
            }
            let auth = BearerProof::sign(&self.payer, &channel, &self.proof_challenge(&ch)?);
            let payload = SessionPayload::Use(UseAction {
                channel_id: channel,
                authentication: auth,
            })
            .to_json();
            return Ok(credential(challenge, payload, self.payer.pubkey()));
        }
        if next > ch.deposit {
            return self.top_up_credential(challenge, &req, &ch, self.deposit.max(price));
        }
        let voucher = VoucherData {
            channel_id: channel,
            cumulative_amount: next,
            expires_at: None,
        }
        .sign(&self.payer);
        if next > ch.signed_cumulative {
            ch.signed_cumulative = next;
            self.store
                .raise_client_amounts(&ch.channel_id, next, ch.accepted)
                .await
                .map_err(err)?;
            self.remember(ch);
        }
        let payload = SessionPayload::Voucher(VoucherAction {
            channel_id: channel,
            voucher,
        })
        .to_json();
        Ok(credential(challenge, payload, self.payer.pubkey()))
    }

    /// Operator mode binds the proof to the challenge the channel was opened with.
    fn proof_challenge(&self, ch: &ClientChannel) -> Result<String, MethodError> {
        ch.proof_challenge_id
            .clone()
            .ok_or_else(|| err("no session proof recorded for this channel"))
    }

    fn check_request(&self, req: &SessionRequest) -> Result<(), MethodError> {
        if req.method_details.network != self.network {
            return Err(err("the challenge is for another network"));
        }
        if !self.expected_programs.is_empty()
            && !self
                .expected_programs
                .contains(&req.method_details.channel_program)
        {
            return Err(err(
                "the challenge's channel program is not one this client trusts",
            ));
        }
        if self.max_price.is_some_and(|m| req.amount.get() > m) {
            return Err(err("the price per request is above this client's maximum"));
        }
        Ok(())
    }

    async fn observe(&self, credential: &Credential, receipt: &Receipt) {
        let Ok(payload) = SessionPayload::from_json(&Value::Object(credential.payload.clone()))
        else {
            return;
        };
        let id = payload.channel_id().to_string();
        let Ok(Some(mut ch)) = self.store.client_channel(&id).await else {
            return;
        };
        let accepted = receipt
            .extra
            .get("acceptedCumulative")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<u64>().ok());
        if let Some(a) = accepted {
            ch.accepted = ch.accepted.max(a);
            ch.signed_cumulative = ch.signed_cumulative.max(a);
        }
        match &payload {
            SessionPayload::Open(_) => {
                ch.status = "open".into();
                if let Some(sig) = receipt.extra.get("txHash").and_then(Value::as_str) {
                    ch.open_signature = Some(sig.to_owned());
                }
            }
            SessionPayload::TopUp(t) => {
                let deposit = receipt
                    .extra
                    .get("deposit")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse::<u64>().ok());
                ch.deposit = deposit.unwrap_or(ch.deposit + t.additional_amount);
            }
            SessionPayload::Close(_) => {
                ch.status = "closed".into();
                ch.close_signature = receipt
                    .extra
                    .get("txHash")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
            }
            _ => {}
        }
        if let Err(e) = self.store.save_client_channel(&ch).await {
            warn!(error = %e, "could not record a session receipt");
        }
        if let Some(reporter) = &self.reporter
            && let Err(e) = reporter.report(credential, receipt, &ch).await
        {
            warn!(error = %e, "could not report a session receipt to the operator");
        }
        self.remember(ch);
    }

    async fn refused(&self, credential: &Credential, problem: &Map<String, Value>) {
        let Ok(payload) = SessionPayload::from_json(&Value::Object(credential.payload.clone()))
        else {
            return;
        };
        let id = payload.channel_id().to_string();
        let Ok(Some(mut ch)) = self.store.client_channel(&id).await else {
            return;
        };
        let kind = problem
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let num = |k: &str| {
            problem
                .get(k)
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<u64>().ok())
        };
        if kind.ends_with("session/channel-not-found")
            || kind.ends_with("session/channel-finalized")
        {
            ch.status = "closed".into();
        } else if matches!(payload, SessionPayload::Open(_)) {
            // The open did not land: nothing was deposited.
            ch.status = "closed".into();
        }
        if let Some(a) = num("acceptedCumulative") {
            ch.accepted = ch.accepted.max(a);
            ch.signed_cumulative = ch.signed_cumulative.max(a);
        }
        if let Some(d) = num("deposit") {
            ch.deposit = ch.deposit.max(d);
        }
        if let Err(e) = self.store.save_client_channel(&ch).await {
            warn!(error = %e, "could not record a session refusal");
        }
        self.remember(ch);
    }

    async fn close_for(&self, challenge: &Challenge) -> Result<Credential, MethodError> {
        let req = Self::request(challenge)?;
        let scope = scope(&self.payer.pubkey(), challenge, &req);
        self.load(&scope).await?;
        let ch = self
            .current(&scope)
            .ok_or_else(|| err("no open session channel for this server"))?;
        let channel: Address = ch.channel_id.parse().map_err(err)?;
        let payload = if req.voucher_signer() == VoucherSigner::Operator {
            SessionPayload::Close(CloseAction {
                channel_id: channel,
                voucher: None,
                authentication: Some(BearerProof::sign(
                    &self.payer,
                    &channel,
                    &self.proof_challenge(&ch)?,
                )),
            })
        } else {
            let voucher = VoucherData {
                channel_id: channel,
                cumulative_amount: ch.accepted,
                expires_at: None,
            }
            .sign(&self.payer);
            SessionPayload::Close(CloseAction {
                channel_id: channel,
                voucher: Some(voucher),
                authentication: None,
            })
        };
        Ok(credential(
            challenge,
            payload.to_json(),
            self.payer.pubkey(),
        ))
    }

    /// The live channels this client holds.
    pub async fn channels(&self) -> Vec<ClientChannel> {
        self.channels
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }
}

fn credential(challenge: &Challenge, payload: Value, payer: Address) -> Credential {
    let map = match payload {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    Credential::new(challenge.clone(), map).with_source(format!("did:pkh:solana:{payer}"))
}

fn base64_std(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

impl ClientMethod for SolanaSessionClient {
    fn method(&self) -> &MethodName {
        &self.method
    }

    fn supports(&self, challenge: &Challenge) -> bool {
        supports_session(challenge, self.network)
    }

    fn quote(&self, challenge: &Challenge) -> Result<Quote, MethodError> {
        let req = Self::request(challenge)?;
        let scope = scope(&self.payer.pubkey(), challenge, &req);
        // What leaves the wallet now: a deposit when a channel must be opened (or topped up);
        // a voucher only spends money already in escrow.
        let amount = match self.current(&scope) {
            Some(ch) if ch.accepted.saturating_add(req.amount.get()) <= ch.deposit => 0,
            _ => self.deposit.max(req.minimum_deposit.map_or(0, |m| m.get())),
        };
        Ok(Quote {
            amount: amount.into(),
            currency: req.currency.clone(),
            recipient: Some(req.recipient.to_string()),
            network: Some(req.method_details.network.as_str().to_owned()),
        })
    }

    fn create_credential<'a>(
        &'a self,
        challenge: &'a Challenge,
    ) -> BoxFuture<'a, Result<Credential, MethodError>> {
        Box::pin(self.pay(challenge))
    }

    fn needs_followup(&self, credential: &Credential) -> bool {
        session_needs_followup(credential)
    }

    fn reusable(&self, challenge: &Challenge) -> bool {
        challenge.intent.as_str() == "session"
    }

    fn idempotency_key(&self, credential: &Credential) -> Option<String> {
        session_idempotency_key(credential)
    }

    fn on_receipt<'a>(
        &'a self,
        credential: &'a Credential,
        receipt: &'a Receipt,
    ) -> BoxFuture<'a, ()> {
        Box::pin(self.observe(credential, receipt))
    }

    fn on_refusal<'a>(
        &'a self,
        credential: &'a Credential,
        problem: &'a Map<String, Value>,
    ) -> BoxFuture<'a, ()> {
        Box::pin(self.refused(credential, problem))
    }

    fn close_credential<'a>(
        &'a self,
        challenge: &'a Challenge,
    ) -> Option<BoxFuture<'a, Result<Credential, MethodError>>> {
        Some(Box::pin(self.close_for(challenge)))
    }
}
