//! Reporting session receipts to the operator service: a non-custodial agent that pays with
//! its own [`crate::SolanaSessionClient`] tells its operator about each receipt (the channel,
//! the accepted cumulative amount, the close), so the operator's session record follows the
//! real channel (`POST /v1/accounts/{id}/receipts`, see `docs/operator.md`).

use mpp::{Credential, Receipt, format_payment_receipt};
use mppsol_store::ClientChannel;
use reqwest::Method;

use crate::operator::OperatorApi;

/// Posts session receipts of one operator account.
#[derive(Debug, Clone)]
pub struct SessionReporter {
    api: OperatorApi,
    account_id: String,
}

/// Why a report was not recorded (the session client logs it and goes on: the next report
/// carries a higher cumulative amount, and the operator's reconciler reads the channel).
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The operator could not be reached.
    #[error("operator unreachable: {0}")]
    Unreachable(#[from] crate::PayError),
    /// The operator refused the report.
    #[error("operator refused the report ({status})")]
    Refused {
        /// The HTTP status.
        status: u16,
    },
}

impl SessionReporter {
    /// Reports to `api` for `account_id`.
    pub fn new(api: OperatorApi, account_id: impl Into<String>) -> Self {
        Self {
            api,
            account_id: account_id.into(),
        }
    }

    /// Reports `receipt`, which answered `credential` on channel `ch`.
    pub async fn report(
        &self,
        credential: &Credential,
        receipt: &Receipt,
        ch: &ClientChannel,
    ) -> Result<(), ReportError> {
        let body = serde_json::json!({
            "receipt": format_payment_receipt(receipt),
            "counterparty": ch.payee,
            "session": {
                "provider_endpoint": credential.challenge.realm,
                "cap": ch.deposit.to_string(),
                "channel_program": ch.channel_program,
            },
        });
        let path = format!("/v1/accounts/{}/receipts", self.account_id);
        let response = self.api.send(Method::POST, &path, Some(&body)).await?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(ReportError::Refused {
                status: status.as_u16(),
            })
        }
    }
}
