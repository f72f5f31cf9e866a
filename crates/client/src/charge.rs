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
use mppsol_solana::token::{TokenProgram, TransferFee};
use solana_address::Address;
use solana_keypair::Keypair;
use solana_signer::Signer;
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

/// Pays `solana`/`charge` challenges from one keypair.
pub struct SolanaChargeClient {
    payer: Arc<Keypair>,
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
        let mut tx = build_charge_transaction(&req, &self.payer.pubkey(), &opts)
            .map_err(|e| MethodError::verification(e.to_string()))?;
        sign_partial(&mut tx, self.payer.as_ref())
            .map_err(|e| MethodError::verification(e.to_string()))?;
        let payload = if self.mode == ChargeMode::Push && sponsor.is_none() {
            let sig = self
                .ledger
                .send(&tx)
                .await
                .map_err(|e| MethodError::verification(format!("sending: {e}")))?;
            // The spec asks push clients to wait for `confirmed` before presenting.
            match self
                .ledger
                .confirm(&sig, Commitment::Confirmed, Duration::from_secs(30))
                .await
            {
                Ok(Some(s)) if s.err.is_none() => ChargePayload::from_signature(&sig),
                Ok(Some(s)) => {
                    return Err(MethodError::verification(format!(
                        "payment failed on chain: {}",
                        s.err.unwrap_or_default()
                    )));
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
