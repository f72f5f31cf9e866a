//! Paying `solana`/`charge` challenges: read the request, build and sign the transfer (pull),
//! or send it ourselves and present the signature (push).

use std::sync::Arc;
use std::time::Duration;

use mpp::{BoxFuture, Challenge, ClientMethod, Credential, MethodError, MethodName, Quote};
use mppsol_ledger::{Commitment, Ledger};
use mppsol_solana::charge::build::{BuildOptions, build_charge_transaction, sign_partial};
use mppsol_solana::charge::payload::ChargePayload;
use mppsol_solana::charge::request::{ChargeRequest, Currency};
use mppsol_solana::network::Network;
use mppsol_solana::policy::ix::{Payment, WalletKeys, pay_with_receipt};
use mppsol_solana::policy::{PolicyErrorCode, WalletState, challenge_hash};
use mppsol_solana::token::{TokenProgram, TransferFee};
use solana_address::Address;
use solana_keypair::Keypair;
use solana_message::{Message, VersionedMessage};
use solana_signer::Signer;
use solana_transaction::versioned::VersionedTransaction;
use spl_token_2022_interface::extension::transfer_fee::TransferFeeConfig;
use spl_token_2022_interface::extension::{BaseStateWithExtensions, StateWithExtensions};
use spl_token_2022_interface::state::Mint;

/// Pull (the server broadcasts; required when it sponsors fees) or push (we broadcast).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChargeMode {
    /// Send the signed transaction in the credential.
    #[default]
    Pull,
    /// Broadcast ourselves and send the signature (only for unsponsored challenges).
    Push,
}

/// An agent's policy wallet (`programs/policy`): payments leave the wallet's vault through
/// `payWithReceipt`, under the owner's on-chain policy, signed by the agent key (which also
/// pays the receipt account's rent, so it needs some SOL even when the server sponsors fees).
/// Clones share the nonce counter: give the charge and session clients clones of one value.
#[derive(Clone)]
pub struct PolicyWallet {
    /// The policy program.
    pub program: Address,
    /// The payments program that records the receipt (the wallet's policy must name it).
    pub payments_program: Address,
    /// The wallet's owner.
    pub owner: Address,
    /// The provider category the agent declares (policy rule 8).
    pub category: u8,
    /// Last nonce handed out; nonces are `max(unix µs, last + 1)` (the program allows gaps),
    /// and `last` starts from the wallet's on-chain `last_nonce` ([`PolicyWallet::sync_nonce`]),
    /// so a restart or a clock set back cannot replay one.
    last_nonce: Arc<std::sync::atomic::AtomicU64>,
    /// Whether the counter has been raised to the chain's value in this process.
    synced: Arc<std::sync::atomic::AtomicBool>,
}

impl PolicyWallet {
    /// The wallet `(owner, agent)` in `program`, paying through `payments_program`.
    pub fn new(program: Address, payments_program: Address, owner: Address) -> Self {
        Self {
            program,
            payments_program,
            owner,
            category: 0,
            last_nonce: Arc::default(),
            synced: Arc::default(),
        }
    }

    /// Raises the nonce counter to the wallet's on-chain `last_nonce`, once per process (later
    /// calls return at once). A missing wallet is left to the payment to report.
    pub async fn sync_nonce(
        &self,
        ledger: &dyn Ledger,
        agent: &Address,
    ) -> Result<(), MethodError> {
        use std::sync::atomic::Ordering;
        if self.synced.load(Ordering::SeqCst) {
            return Ok(());
        }
        let wallet = self.keys(agent).wallet();
        let account = ledger
            .get_account(&wallet)
            .await
            .map_err(|e| MethodError::verification(format!("reading the policy wallet: {e}")))?;
        if let Some(a) = account {
            let state = WalletState::decode(&a.data)
                .map_err(|e| MethodError::verification(format!("policy wallet: {e}")))?;
            self.last_nonce
                .fetch_max(state.last_nonce, Ordering::SeqCst);
        }
        self.synced.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// The wallet's keys for `agent`.
    pub fn keys(&self, agent: &Address) -> WalletKeys {
        WalletKeys {
            program: self.program,
            owner: self.owner,
            agent: *agent,
        }
    }

    /// A fresh nonce, greater than every earlier one from this process and (clock permitting)
    /// every one from an earlier run.
    pub fn next_nonce(&self) -> u64 {
        use std::sync::atomic::Ordering;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        let mut last = self.last_nonce.load(Ordering::SeqCst);
        loop {
            let next = now.max(last.saturating_add(1));
            match self
                .last_nonce
                .compare_exchange(last, next, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return next,
                Err(seen) => last = seen,
            }
        }
    }
}

/// Pays `solana`/`charge` challenges from one keypair.
pub struct SolanaChargeClient {
    payer: Arc<Keypair>,
    wallet: Option<PolicyWallet>,
    ledger: Arc<dyn Ledger>,
    network: Network,
    mode: ChargeMode,
    method: MethodName,
    /// Fee payers we accept to co-sign for us (any when empty).
    pub expected_fee_payers: Vec<Address>,
    /// Priority fee we add, micro-lamports per CU.
    pub compute_unit_price: Option<u64>,
    /// Mints whose program and transfer fee were looked up beforehand (see
    /// [`SolanaChargeClient::with_known_mint`]); others are read from the chain per payment.
    known_mints: Vec<(Address, TokenProgram, TransferFee)>,
}

impl SolanaChargeClient {
    /// A payer on `network`, reading the chain through `ledger`.
    pub fn new(payer: Arc<Keypair>, ledger: Arc<dyn Ledger>, network: Network) -> Self {
        Self {
            payer,
            wallet: None,
            ledger,
            network,
            mode: ChargeMode::Pull,
            method: MethodName::solana(),
            expected_fee_payers: Vec::new(),
            compute_unit_price: None,
            known_mints: Vec::new(),
        }
    }

    /// Trusts `program` and `fee` for `mint` instead of reading the mint before each payment
    /// (for a caller that read it once with [`SolanaChargeClient::read_mint`], such as a load
    /// generator with many payers). A Token-2022 fee change is then not seen.
    pub fn with_known_mint(
        mut self,
        mint: Address,
        program: TokenProgram,
        fee: TransferFee,
    ) -> Self {
        self.known_mints.push((mint, program, fee));
        self
    }

    /// Chooses pull or push.
    pub fn with_mode(mut self, mode: ChargeMode) -> Self {
        self.mode = mode;
        self
    }

    /// Pays from `wallet` (the payer key is its agent) instead of the payer's own accounts.
    pub fn with_policy_wallet(mut self, wallet: PolicyWallet) -> Self {
        self.wallet = Some(wallet);
        self
    }

    /// The payer's address.
    pub fn payer(&self) -> Address {
        self.payer.pubkey()
    }

    fn request(challenge: &Challenge) -> Result<ChargeRequest, MethodError> {
        ChargeRequest::from_json(challenge.request_value())
            .map_err(|e| MethodError::verification(format!("unusable charge request: {e}")))
    }

    /// Token program and transfer fee of a mint: remembered, or from the chain.
    async fn mint(&self, mint: Address) -> Result<(TokenProgram, TransferFee), MethodError> {
        if let Some((_, program, fee)) = self.known_mints.iter().find(|(m, _, _)| *m == mint) {
            return Ok((*program, *fee));
        }
        Self::read_mint(self.ledger.as_ref(), mint).await
    }

    /// Token program and transfer fee of a mint, from the chain (the spec forbids guessing the
    /// program when the request omits it).
    pub async fn read_mint(
        ledger: &dyn Ledger,
        mint: Address,
    ) -> Result<(TokenProgram, TransferFee), MethodError> {
        let acct = ledger
            .get_account(&mint)
            .await
            .map_err(|e| MethodError::verification(format!("reading mint: {e}")))?
            .ok_or_else(|| MethodError::verification("mint does not exist"))?;
        let program = TokenProgram::from_id(&acct.owner)
            .ok_or_else(|| MethodError::verification("currency is not a token mint"))?;
        let state = StateWithExtensions::<Mint>::unpack(&acct.data)
            .map_err(|_| MethodError::verification("currency is not a token mint"))?;
        let fee = state
            .get_extension::<TransferFeeConfig>()
            .map(|c| TransferFee {
                basis_points: u16::from(c.newer_transfer_fee.transfer_fee_basis_points),
                maximum_fee: u64::from(c.newer_transfer_fee.maximum_fee),
            })
            .unwrap_or(TransferFee::NONE);
        Ok((program, fee))
    }

    async fn pay(&self, challenge: &Challenge) -> Result<Credential, MethodError> {
        let req = Self::request(challenge)?;
        let sponsor = req.sponsor();
        if let Some(fp) = sponsor
            && !self.expected_fee_payers.is_empty()
            && !self.expected_fee_payers.contains(&fp)
        {
            return Err(MethodError::verification(
                "unexpected fee payer in the challenge",
            ));
        }
        let blockhash = match req.method_details.recent_blockhash {
            Some(h) => h,
            None => {
                self.ledger
                    .latest_blockhash()
                    .await
                    .map_err(|e| MethodError::verification(format!("blockhash: {e}")))?
                    .blockhash
            }
        };
        let mut opts = BuildOptions::new(blockhash);
        opts.compute_unit_price = self.compute_unit_price;
        if let Currency::Mint(mint) = req
            .currency()
            .map_err(|e| MethodError::verification(e.to_string()))?
        {
            let (program, fee) = self.mint(mint).await?;
            if let Some(stated) = req.token_program()
                && stated != program
            {
                return Err(MethodError::verification(
                    "the challenge's token program is not the mint's",
                ));
            }
            opts.token_program = Some(program);
            opts.transfer_fee = fee;
        }
        let mut tx = match &self.wallet {
            Some(w) => {
                w.sync_nonce(self.ledger.as_ref(), &self.payer.pubkey())
                    .await?;
                self.wallet_transaction(w, challenge, &req, &opts)?
            }
            None => build_charge_transaction(&req, &self.payer.pubkey(), &opts)
                .map_err(|e| MethodError::verification(e.to_string()))?,
        };
        sign_partial(&mut tx, self.payer.as_ref())
            .map_err(|e| MethodError::verification(e.to_string()))?;
        let payload = if self.mode == ChargeMode::Push && sponsor.is_none() {
            let sig = self.ledger.send(&tx).await.map_err(|e| match e {
                mppsol_ledger::LedgerError::TransactionFailed { err, .. } => failed_on_chain(&err),
                e => MethodError::verification(format!("sending: {e}")),
            })?;
            // The spec asks push clients to wait for `confirmed` before presenting.
            match self
                .ledger
                .confirm(&sig, Commitment::Confirmed, Duration::from_secs(30))
                .await
            {
                Ok(Some(s)) if s.err.is_none() => ChargePayload::from_signature(&sig),
                Ok(Some(s)) => {
                    return Err(failed_on_chain(&s.err.unwrap_or_default()));
                }
                Ok(None) => {
                    return Err(
                        MethodError::verification("payment not confirmed in time").retryable()
                    );
                }
                Err(e) => return Err(MethodError::verification(format!("confirming: {e}"))),
            }
        } else {
            ChargePayload::from_transaction(&tx)
                .map_err(|e| MethodError::verification(e.to_string()))?
        };
        Ok(Credential::new(challenge.clone(), payload.to_json())
            .with_source(self.payer.pubkey().to_string()))
    }
}

/// Whether `challenge` is a `solana`/`charge` challenge on `network` (shared by every signer
/// that answers charge challenges).
pub fn supports_charge(challenge: &Challenge, network: Network) -> bool {
    challenge.method == MethodName::solana()
        && challenge.intent == "charge"
        && SolanaChargeClient::request(challenge).is_ok_and(|r| r.network() == network)
}

/// What a `solana`/`charge` challenge asks, read without signing (shared by every signer that
/// answers charge challenges).
pub fn charge_quote(challenge: &Challenge) -> Result<Quote, MethodError> {
    let r = SolanaChargeClient::request(challenge)?;
    Ok(Quote {
        amount: r.amount,
        // Mints are case-sensitive base58; only the `sol` keyword is normalised.
        currency: if r.currency.eq_ignore_ascii_case("sol") {
            "sol".into()
        } else {
            r.currency.clone()
        },
        recipient: Some(r.recipient.to_string()),
        network: Some(r.network().to_string()),
    })
}

impl SolanaChargeClient {
    /// `payWithReceipt` from the policy wallet: fee payer the server when it sponsors, else
    /// the agent (who also funds the receipt account).
    fn wallet_transaction(
        &self,
        w: &PolicyWallet,
        challenge: &Challenge,
        req: &ChargeRequest,
        opts: &BuildOptions,
    ) -> Result<VersionedTransaction, MethodError> {
        let (Ok(Currency::Mint(mint)), Some(token_program)) = (req.currency(), opts.token_program)
        else {
            return Err(MethodError::verification(
                "a policy wallet pays token charges only",
            ));
        };
        if !req.method_details.splits.is_empty() {
            return Err(MethodError::verification(
                "a policy wallet cannot pay a charge with splits",
            ));
        }
        let agent = self.payer.pubkey();
        let payment = Payment {
            recipient: req.recipient,
            mint,
            token_program,
            amount: req.amount.get(),
            nonce: w.next_nonce(),
            category: w.category,
            memo: req
                .external_id
                .as_ref()
                .map(|e| e.as_bytes().to_vec())
                .unwrap_or_default(),
            owner_signs: false,
        };
        let ix = pay_with_receipt(
            &w.keys(&agent),
            &payment,
            &w.payments_program,
            &challenge_hash(&challenge.id),
        );
        let fee_payer = req.sponsor().unwrap_or(agent);
        let msg = Message::new_with_blockhash(&[ix], Some(&fee_payer), &opts.blockhash);
        let n = usize::from(msg.header.num_required_signatures);
        let mut tx = VersionedTransaction {
            signatures: vec![solana_signature::Signature::default(); n],
            message: VersionedMessage::Legacy(msg),
        };
        sign_partial(&mut tx, self.payer.as_ref())
            .map_err(|e| MethodError::verification(e.to_string()))?;
        Ok(tx)
    }
}

/// A transaction that failed on chain; a spending-policy denial is named so the paying client
/// reports it as [`crate::PolicyRule::OnChain`].
fn failed_on_chain(err: &str) -> MethodError {
    match PolicyErrorCode::from_error_text(err) {
        Some(code) => {
            MethodError::verification(format!("{}{code}", crate::error::ON_CHAIN_REFUSAL))
        }
        None => MethodError::verification(format!("payment failed on chain: {err}")),
    }
}

impl ClientMethod for SolanaChargeClient {
    fn method(&self) -> &MethodName {
        &self.method
    }

    fn supports(&self, challenge: &Challenge) -> bool {
        supports_charge(challenge, self.network)
    }

    fn quote(&self, challenge: &Challenge) -> Result<Quote, MethodError> {
        charge_quote(challenge)
    }

    fn create_credential<'a>(
        &'a self,
        challenge: &'a Challenge,
    ) -> BoxFuture<'a, Result<Credential, MethodError>> {
        Box::pin(self.pay(challenge))
    }
}
