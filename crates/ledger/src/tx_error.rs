//! Transaction errors: one text form for both adapters, and the JSON form the RPC uses.

use serde_json::Value;
use solana_transaction_error::TransactionError;

use crate::LedgerError;

/// Solana's human text for a transaction error (what `LedgerError::TransactionFailed` carries).
pub(crate) fn text(err: &TransactionError) -> String {
    err.to_string()
}

/// The text of an error given in its JSON-RPC form (`{"InstructionError":[0,{"Custom":1}]}`);
/// falls back to the raw JSON when it is not a form we know, so nothing is lost.
pub(crate) fn text_from_json(err: &Value) -> String {
    match serde_json::from_value::<TransactionError>(err.clone()) {
        Ok(e) => text(&e),
        Err(_) => err.to_string(),
    }
}

/// The JSON-RPC form of an error.
pub(crate) fn to_json(err: &TransactionError) -> Value {
    serde_json::to_value(err).unwrap_or_else(|_| Value::String(text(err)))
}

/// The ledger error a rejected transaction maps to.
pub(crate) fn classify(err: TransactionError, logs: Vec<String>) -> LedgerError {
    match err {
        TransactionError::BlockhashNotFound => LedgerError::BlockhashExpired,
        TransactionError::AlreadyProcessed => LedgerError::AlreadyProcessed,
        other => LedgerError::TransactionFailed {
            err: text(&other),
            logs,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use solana_transaction_error::TransactionError;

    #[test]
    fn json_round_trip_gives_the_same_text() {
        let err = TransactionError::InstructionError(
            0,
            solana_instruction::error::InstructionError::Custom(1),
        );
        let json = to_json(&err);
        assert_eq!(
            json,
            serde_json::json!({"InstructionError":[0,{"Custom":1}]})
        );
        assert_eq!(text_from_json(&json), text(&err));
        assert_eq!(
            to_json(&TransactionError::BlockhashNotFound),
            serde_json::json!("BlockhashNotFound")
        );
        assert_eq!(
            classify(TransactionError::AlreadyProcessed, vec![]),
            LedgerError::AlreadyProcessed
        );
    }
}
