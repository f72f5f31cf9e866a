//! The operator API suite, written once and run on SQLite and on PostgreSQL (a fresh database
//! per test), over real HTTP on loopback with an embedded ledger.

// Test code: a failed expectation is the test failing.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

mod accounts;
mod auth;
mod charges;
mod custodial;
mod harness;
mod non_custodial;
mod observability;
mod policy_wallet;
mod reconcile;
mod sessions;
mod settlement;
mod transfers;
mod webhooks;

/// One `#[tokio::test]` per case and backend.
macro_rules! both_backends {
    ($($case:path => $name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $case(mppsol_e2e::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $case(mppsol_e2e::Backend::Postgres).await;
                }
            )*
        }
    };
}

both_backends! {
    crate::accounts::accounts_are_created_listed_in_pages_and_read
        => accounts_are_created_listed_in_pages_and_read,
    crate::accounts::bad_account_input_is_refused_with_the_field_named
        => bad_account_input_is_refused_with_the_field_named,
    crate::accounts::policies_are_validated_and_replaced
        => policies_are_validated_and_replaced,
    crate::accounts::openapi_document_describes_every_route
        => openapi_document_describes_every_route,
    crate::accounts::other_operators_objects_are_not_found
        => other_operators_objects_are_not_found,
    crate::accounts::audit_log_refuses_update_and_delete
        => audit_log_refuses_update_and_delete,
    crate::transfers::same_key_same_body_replays_and_other_body_conflicts
        => same_key_same_body_replays_and_other_body_conflicts,
    crate::transfers::each_policy_violation_is_refused_with_its_rule_and_an_event
        => each_policy_violation_is_refused_with_its_rule_and_an_event,
    crate::transfers::above_threshold_waits_for_approval_then_settles_or_is_rejected
        => above_threshold_waits_for_approval_then_settles_or_is_rejected,
    crate::transfers::transfers_list_with_filters_and_cursor
        => transfers_list_with_filters_and_cursor,
    crate::transfers::receipts_are_recorded_once_and_fill_sessions
        => receipts_are_recorded_once_and_fill_sessions,
    crate::transfers::concurrent_requests_with_one_key_create_one_transfer
        => concurrent_requests_with_one_key_create_one_transfer,
    crate::auth::bad_stale_and_replayed_signatures_are_refused
        => bad_stale_and_replayed_signatures_are_refused,
    crate::auth::agent_keys_are_confined_to_their_account
        => agent_keys_are_confined_to_their_account,
    crate::auth::rotated_and_revoked_keys_stop_working
        => rotated_and_revoked_keys_stop_working,
    crate::custodial::custodial_keys_are_never_stored_in_plain_text
        => custodial_keys_are_never_stored_in_plain_text,
    crate::custodial::agent_with_only_an_api_key_pays_a_priced_route
        => agent_with_only_an_api_key_pays_a_priced_route,
    crate::custodial::custodial_signing_checks_balance_and_policy_first
        => custodial_signing_checks_balance_and_policy_first,
    crate::custodial::escalated_charge_is_signed_once_after_approval
        => escalated_charge_is_signed_once_after_approval,
    crate::settlement::worker_settles_each_transfer_once_and_the_chain_agrees
        => worker_settles_each_transfer_once_and_the_chain_agrees,
    crate::settlement::crash_before_send_resends_the_stored_transaction
        => crash_before_send_resends_the_stored_transaction,
    crate::settlement::crash_after_send_finds_it_landed
        => crash_after_send_finds_it_landed,
    crate::settlement::crash_after_confirm_settles_without_sending
        => crash_after_confirm_settles_without_sending,
    crate::settlement::expired_unsent_transaction_is_rebuilt
        => expired_unsent_transaction_is_rebuilt,
    crate::settlement::expired_but_landed_transaction_is_not_rebuilt
        => expired_but_landed_transaction_is_not_rebuilt,
    crate::settlement::unpayable_transfer_fails_after_its_attempts_and_gives_the_amount_back
        => unpayable_transfer_fails_after_its_attempts_and_gives_the_amount_back,
    crate::settlement::two_workers_share_the_queue_and_pay_each_transfer_once
        => two_workers_share_the_queue_and_pay_each_transfer_once,
    crate::webhooks::webhook_failing_three_times_is_delivered_once_and_verifies
        => webhook_failing_three_times_is_delivered_once_and_verifies,
    crate::webhooks::webhook_urls_and_types_are_validated
        => webhook_urls_and_types_are_validated,
    crate::observability::metrics_count_settlements_and_readiness_checks_the_rpc
        => metrics_count_settlements_and_readiness_checks_the_rpc,
    crate::reconcile::reconciler_reports_drift_and_repairs_counters_and_landed_transfers
        => reconciler_reports_drift_and_repairs_counters_and_landed_transfers,
    crate::charges::worker_settles_a_sponsored_charge_without_the_receipt
        => worker_settles_a_sponsored_charge_without_the_receipt,
    crate::charges::receipt_first_leaves_the_worker_nothing_to_do
        => receipt_first_leaves_the_worker_nothing_to_do,
    crate::charges::unbroadcast_charge_fails_once_its_blockhash_expires
        => unbroadcast_charge_fails_once_its_blockhash_expires,
    crate::non_custodial::agent_signed_transfer_is_checked_then_settled_once
        => agent_signed_transfer_is_checked_then_settled_once,
    crate::non_custodial::expired_agent_transaction_waits_for_a_new_signature
        => expired_agent_transaction_waits_for_a_new_signature,
    crate::non_custodial::agent_transaction_sent_before_a_crash_is_found_landed
        => agent_transaction_sent_before_a_crash_is_found_landed,
    crate::policy_wallet::custodial_charge_lands_through_the_policy_program
        => custodial_charge_lands_through_the_policy_program,
    crate::policy_wallet::onchain_policy_refuses_what_a_tampered_database_allows
        => onchain_policy_refuses_what_a_tampered_database_allows,
    crate::sessions::agent_session_is_recorded_from_the_channel_and_reconciled_with_it
        => agent_session_is_recorded_from_the_channel_and_reconciled_with_it,
    crate::sessions::custodial_agent_pays_a_session_through_the_operator
        => custodial_agent_pays_a_session_through_the_operator,
}
