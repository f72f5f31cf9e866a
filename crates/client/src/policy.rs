//! The spending policy: checked against a challenge's quote before any signer is called. The
//! daily budget is durable (the store), so restarts and parallel tasks cannot overspend.

use std::sync::Arc;

use mpp::{Quote, Timestamp};
use mppsol_store::{SpendOutcome, Store};

use crate::error::{PayError, PolicyRule};

/// Limits on what this client pays.
#[derive(Clone, Default)]
pub struct SpendingPolicy {
    /// Largest single payment, base units.
    pub max_per_payment: Option<u64>,
    /// Origins (`https://api.example.com`) allowed to charge; any when empty.
    pub allowed_origins: Vec<String>,
    /// Networks allowed (`mainnet`, `devnet`, `localnet`); any when empty.
    pub allowed_networks: Vec<String>,
    /// Currencies (`sol` or mints) allowed; any when empty.
    pub allowed_currencies: Vec<String>,
    /// Most spent per UTC day and currency, base units (needs a store).
    pub daily_budget: Option<u64>,
    /// Where the daily totals live.
    pub store: Option<Arc<dyn Store>>,
}

impl std::fmt::Debug for SpendingPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpendingPolicy")
            .field("max_per_payment", &self.max_per_payment)
            .field("allowed_origins", &self.allowed_origins)
            .field("allowed_networks", &self.allowed_networks)
            .field("allowed_currencies", &self.allowed_currencies)
            .field("daily_budget", &self.daily_budget)
            .finish_non_exhaustive()
    }
}

/// A budget reservation to give back if the payment does not go through.
#[derive(Debug, Clone)]
pub struct Reserved {
    scope: String,
    day: String,
    amount: u64,
}

impl SpendingPolicy {
    /// The static rules (no store): cap, origin, network, currency.
    pub fn check_static(&self, origin: &str, q: &Quote) -> Result<(), PolicyRule> {
        if !self.allowed_origins.is_empty() && !self.allowed_origins.iter().any(|o| o == origin) {
            return Err(PolicyRule::OriginNotAllowed(origin.to_owned()));
        }
        if let Some(n) = &q.network
            && !self.allowed_networks.is_empty()
            && !self.allowed_networks.iter().any(|a| a == n)
        {
            return Err(PolicyRule::NetworkNotAllowed(n.clone()));
        }
        if !self.allowed_currencies.is_empty()
            && !self
                .allowed_currencies
                .iter()
                .any(|c| c.eq_ignore_ascii_case(&q.currency))
        {
            return Err(PolicyRule::CurrencyNotAllowed(q.currency.clone()));
        }
        if let Some(cap) = self.max_per_payment
            && q.amount.get() > cap
        {
            return Err(PolicyRule::MaxPerPayment {
                cap,
                asked: q.amount.get(),
            });
        }
        Ok(())
    }

    /// Reserves the amount against today's budget (atomically, in the store).
    pub async fn reserve(&self, q: &Quote, now: Timestamp) -> Result<Option<Reserved>, PayError> {
        let (Some(cap), Some(store)) = (self.daily_budget, &self.store) else {
            return Ok(None);
        };
        let day = now.to_string().get(..10).unwrap_or_default().to_owned();
        let scope = format!("client:{}", q.currency.to_ascii_lowercase());
        match store
            .add_spend(&scope, &day, q.amount.get(), cap)
            .await
            .map_err(|e| PayError::Store(e.to_string()))?
        {
            SpendOutcome::Accepted { .. } => Ok(Some(Reserved {
                scope,
                day,
                amount: q.amount.get(),
            })),
            SpendOutcome::OverBudget { total } => Err(PayError::PolicyDenied {
                rule: PolicyRule::DailyBudget {
                    cap,
                    spent: total,
                    asked: q.amount.get(),
                },
            }),
        }
    }

    /// Gives a reservation back.
    pub async fn refund(&self, r: Reserved) {
        if let Some(store) = &self.store
            && let Err(e) = store.refund_spend(&r.scope, &r.day, r.amount).await
        {
            tracing::warn!(error = %e, "could not refund a budget reservation");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mpp::Amount;

    fn quote(amount: u64) -> Quote {
        Quote {
            amount: Amount::new(amount),
            currency: "sol".into(),
            recipient: None,
            network: Some("localnet".into()),
        }
    }

    #[test]
    fn each_static_rule_names_itself() {
        let p = SpendingPolicy {
            max_per_payment: Some(100),
            allowed_origins: vec!["http://127.0.0.1:1".into()],
            allowed_networks: vec!["localnet".into()],
            allowed_currencies: vec!["sol".into()],
            ..SpendingPolicy::default()
        };
        assert_eq!(p.check_static("http://127.0.0.1:1", &quote(100)), Ok(()));
        assert_eq!(
            p.check_static("http://127.0.0.1:1", &quote(101)),
            Err(PolicyRule::MaxPerPayment {
                cap: 100,
                asked: 101
            })
        );
        assert_eq!(
            p.check_static("http://evil", &quote(1)),
            Err(PolicyRule::OriginNotAllowed("http://evil".into()))
        );
        let mut dev = quote(1);
        dev.network = Some("mainnet".into());
        assert_eq!(
            p.check_static("http://127.0.0.1:1", &dev),
            Err(PolicyRule::NetworkNotAllowed("mainnet".into()))
        );
        let mut usdc = quote(1);
        usdc.currency = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v".into();
        assert!(matches!(
            p.check_static("http://127.0.0.1:1", &usdc),
            Err(PolicyRule::CurrencyNotAllowed(_))
        ));
    }
}
