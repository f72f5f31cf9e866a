//! `confirm_charge` jobs: a custodial charge the service signed and the payee broadcasts. A
//! sponsored transaction lands under the payee's fee-payer signature, unknown here, so the
//! worker finds it in the history of the job's watch address (the challenge's reference key,
//! which our client puts in the transfer) and accepts it only if it carries exactly the message
//! the account signed, with the account's signature in its slot. Settling is conditional on
//! `pending`, so this path and the agent's receipt settle a charge once, whichever is first.
//! A charge whose blockhash expired with nothing found can never land: it fails, and its
//! amount goes back to the day.

use mppsol_store::operator::SettlementJob;
use solana_address::Address;
use solana_signature::Signature;
use solana_transaction::versioned::VersionedTransaction;

use super::{JobOutcome, SettleError, Settler, decode_tx, parse_signature};

/// History entries read per call, and calls per look: the reference key's history holds the
/// one transaction; the paying address (for a challenge without a reference) holds more.
const PAGE: usize = 50;
const MAX_PAGES: usize = 4;

impl Settler {
    pub(super) async fn confirm_charge(
        &self,
        job: &SettlementJob,
    ) -> Result<JobOutcome, SettleError> {
        let Some(attempt) = &job.attempt else {
            // Claims skip charges not signed yet; nothing to look for.
            return Ok(self.retry(job, "the charge is not signed yet", 7).await);
        };
        let own = parse_signature(&attempt.signature)?;
        let signed = decode_tx(&attempt.signed_tx)?;
        if let Some(done) = self.charge_landed(job, &own, &signed).await? {
            return Ok(done);
        }
        if self.still_valid(attempt).await? {
            return Ok(self
                .retry(job, "the charge has not landed yet", job.attempts)
                .await);
        }
        // Expired: one last look, after the expiry, decides it never landed.
        if let Some(done) = self.charge_landed(job, &own, &signed).await? {
            return Ok(done);
        }
        self.fail(
            job,
            "the charge's transaction did not land before its blockhash expired",
        )
        .await
    }

    /// Settles (or fails, if it failed on chain) the charge when its transaction has landed.
    async fn charge_landed(
        &self,
        job: &SettlementJob,
        own: &Signature,
        signed: &VersionedTransaction,
    ) -> Result<Option<JobOutcome>, SettleError> {
        // Not sponsored: the account's signature is the transaction's id.
        if let Some(done) = self.landed(job, own).await? {
            return Ok(Some(done));
        }
        let watch: Address = job
            .watch_address
            .as_deref()
            .unwrap_or(&job.account_address)
            .parse()
            .map_err(|_| SettleError::Transaction("stored watch address".into()))?;
        let mut before = None;
        for _ in 0..MAX_PAGES {
            let page = self
                .ledger
                .signatures_for_address(&watch, before.as_ref(), PAGE)
                .await?;
            for info in &page {
                let Some(landed) = self.ledger.get_transaction(&info.signature).await? else {
                    continue;
                };
                if !is_the_signed_one(&landed.transaction, signed, own) {
                    continue;
                }
                return Ok(Some(match landed.err {
                    Some(err) => {
                        self.fail(job, &format!("the transaction failed on chain: {err}"))
                            .await?
                    }
                    None => self.complete(job, &info.signature).await?,
                }));
            }
            if page.len() < PAGE {
                break;
            }
            before = page.last().map(|info| info.signature);
        }
        Ok(None)
    }
}

/// Whether `landed` is the transaction the account signed: the very same message, and the
/// account's signature in the slot where it signed.
fn is_the_signed_one(
    landed: &VersionedTransaction,
    signed: &VersionedTransaction,
    own: &Signature,
) -> bool {
    let Some(slot) = signed.signatures.iter().position(|s| s == own) else {
        return false;
    };
    landed.signatures.get(slot) == Some(own)
        && landed.message.serialize() == signed.message.serialize()
}

#[cfg(test)]
mod tests {
    use solana_hash::Hash;
    use solana_keypair::Keypair;
    use solana_message::{Message, VersionedMessage};
    use solana_signer::Signer as _;

    use super::*;

    /// A sponsored transfer of `lamports` signed by `payer` only (the sponsor's slot empty).
    fn signed(payer: &Keypair, sponsor: &Address, lamports: u64) -> VersionedTransaction {
        let ix = solana_system_interface::instruction::transfer(
            &payer.pubkey(),
            &Address::new_from_array([7; 32]),
            lamports,
        );
        let message =
            Message::new_with_blockhash(&[ix], Some(sponsor), &Hash::new_from_array([1; 32]));
        let own = payer.sign_message(&message.serialize());
        VersionedTransaction {
            signatures: vec![Signature::default(), own],
            message: VersionedMessage::Legacy(message),
        }
    }

    #[test]
    fn only_the_signed_message_with_our_signature_in_its_slot_matches() {
        let (payer, sponsor) = (Keypair::new(), Address::new_unique());
        let ours = signed(&payer, &sponsor, 10);
        let own = ours.signatures[1];
        let mut landed = ours.clone();
        landed.signatures[0] = Signature::from([5; 64]);
        assert!(is_the_signed_one(&landed, &ours, &own));

        let other = signed(&payer, &sponsor, 11);
        assert!(!is_the_signed_one(&other, &ours, &own), "another message");
        let mut moved = landed.clone();
        moved.signatures.swap(0, 1);
        assert!(
            !is_the_signed_one(&moved, &ours, &own),
            "our signature elsewhere"
        );
        assert!(!is_the_signed_one(
            &landed,
            &ours,
            &Signature::from([6; 64])
        ));
    }
}
