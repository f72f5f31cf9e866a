#![allow(clippy::expect_used, clippy::unwrap_used)]
//! Integration tests: one adapter suite run against the embedded ledger and against the RPC
//! adapter talking to the JSON-RPC server over loopback; plus server and transport tests.

mod common;
mod embedded_only;
mod rpc_transport;
mod server;
mod suite;

/// Runs each suite function once per adapter.
macro_rules! for_both_adapters {
    ($($name:ident),* $(,)?) => {
        mod embedded_adapter {
            $(
                #[tokio::test]
                async fn $name() {
                    let fx = crate::common::Fixture::embedded().await;
                    crate::suite::$name(&fx).await;
                }
            )*
        }
        mod rpc_adapter {
            $(
                #[tokio::test]
                async fn $name() {
                    let fx = crate::common::Fixture::rpc().await;
                    crate::suite::$name(&fx).await;
                }
            )*
        }
    };
}

for_both_adapters!(
    blockhash,
    airdrop_and_balance,
    spl_token_transfer_checked,
    token_2022_transfer_fee,
    expired_blockhash,
    duplicate_send,
    failing_instruction,
    simulate_success,
    confirm_unknown_signature,
    network_name,
    inner_instructions_recorded,
    versioned_transaction_with_lookup_table,
    signatures_for_address,
);
