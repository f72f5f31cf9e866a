#![allow(clippy::expect_used, clippy::unwrap_used)]
//! The store suite, written once as backend-agnostic async functions and run against:
//! - `sqlite`: a temporary file per test (through `open_store(path)`);
//! - `postgres`: a fresh `mppsol_test_*` database per test (through `open_store(url)`), created
//!   from `MPPSOL_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`). Without
//!   a reachable server these tests fail; they never skip;
//! - `sqlite_memory`: `SqliteStore::in_memory()`, for the single-store cases.
//!
//! Concurrency cases get two stores (two pools) on the same database.

mod channels;
mod concurrency;
mod harness;
mod lifecycle;
mod operator;
mod records;
mod replay;

/// Expands one `#[tokio::test]` per case and backend.
macro_rules! store_suite {
    (
        single: [$($single:path => $single_name:ident),* $(,)?],
        pair: [$($pair:path => $pair_name:ident),* $(,)?],
        reopen: [$($reopen:path => $reopen_name:ident),* $(,)?] $(,)?
    ) => {
        store_suite!(@backend sqlite, crate::harness::TestDb::sqlite();
            [$($single => $single_name),*] [$($pair => $pair_name),*] [$($reopen => $reopen_name),*]);
        store_suite!(@backend postgres, crate::harness::TestDb::postgres().await;
            [$($single => $single_name),*] [$($pair => $pair_name),*] [$($reopen => $reopen_name),*]);

        mod sqlite_memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $single_name() {
                    crate::harness::within_limit(async {
                        let store = mppsol_store::SqliteStore::in_memory().await.unwrap();
                        $single(&store).await;
                    })
                    .await;
                }
            )*
        }
    };
    (@backend $backend:ident, $new_db:expr;
        [$($single:path => $single_name:ident),*]
        [$($pair:path => $pair_name:ident),*]
        [$($reopen:path => $reopen_name:ident),*]
    ) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $single_name() {
                    crate::harness::within_limit(async {
                        let db = $new_db;
                        let store = db.open().await;
                        $single(&*store).await;
                    })
                    .await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $pair_name() {
                    crate::harness::within_limit(async {
                        let db = $new_db;
                        let (a, b) = (db.open().await, db.open().await);
                        $pair(a, b).await;
                    })
                    .await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $reopen_name() {
                    crate::harness::within_limit(async {
                        let db = $new_db;
                        $reopen(&db).await;
                    })
                    .await;
                }
            )*
        }
    };
}

store_suite! {
    single: [
        crate::replay::reservation_outcomes_follow_credential_and_status
            => reservation_outcomes_follow_credential_and_status,
        crate::replay::completed_challenge_retry_returns_the_receipt
            => completed_challenge_retry_returns_the_receipt,
        crate::replay::complete_needs_the_pending_reservation_of_the_same_credential
            => complete_needs_the_pending_reservation_of_the_same_credential,
        crate::replay::released_challenge_can_be_reserved_by_another_credential
            => released_challenge_can_be_reserved_by_another_credential,
        crate::replay::proof_is_consumed_once_and_names_the_first_challenge
            => proof_is_consumed_once_and_names_the_first_challenge,
        crate::replay::release_proof_by_the_wrong_challenge_does_nothing
            => release_proof_by_the_wrong_challenge_does_nothing,
        crate::replay::prune_deletes_expired_reservations_and_keeps_proofs
            => prune_deletes_expired_reservations_and_keeps_proofs,
        crate::records::payments_round_trip_newest_first
            => payments_round_trip_newest_first,
        crate::records::duplicate_payment_for_role_and_challenge_conflicts
            => duplicate_payment_for_role_and_challenge_conflicts,
        crate::records::payment_amount_above_i64_max_is_refused
            => payment_amount_above_i64_max_is_refused,
        crate::records::spend_accepts_up_to_the_cap_then_refuses_with_the_current_total
            => spend_accepts_up_to_the_cap_then_refuses_with_the_current_total,
        crate::records::refund_never_goes_below_zero
            => refund_never_goes_below_zero,
        crate::records::spend_amounts_above_i64_max_are_refused
            => spend_amounts_above_i64_max_are_refused,
        crate::channels::channel_debits_are_compare_and_set_and_idempotent
            => channel_debits_are_compare_and_set_and_idempotent,
        crate::channels::forced_close_stops_metering => forced_close_stops_metering,
        crate::channels::client_channels_only_move_forward => client_channels_only_move_forward,
    ],
    pair: [
        crate::channels::concurrent_debits_never_over_count => concurrent_debits_never_over_count,
        crate::concurrency::concurrent_consumes_of_one_proof_have_exactly_one_winner
            => concurrent_consumes_of_one_proof_have_exactly_one_winner,
        crate::concurrency::concurrent_adds_never_pass_the_cap
            => concurrent_adds_never_pass_the_cap,
        crate::concurrency::concurrent_reservations_of_one_challenge_have_exactly_one_holder
            => concurrent_reservations_of_one_challenge_have_exactly_one_holder,
    ],
    reopen: [
        crate::lifecycle::data_survives_reopening => data_survives_reopening,
        crate::channels::concurrent_debits_on_many_channels_each_apply_and_persist
            => concurrent_debits_on_many_channels_each_apply_and_persist,
        crate::concurrency::concurrent_writes_each_get_their_outcome_and_all_persist
            => concurrent_writes_each_get_their_outcome_and_all_persist,
    ],
}

/// Operator cases: one `#[tokio::test]` per case and backend, on `OperatorStore`.
macro_rules! operator_suite {
    (
        single: [$($single:path => $single_name:ident),* $(,)?],
        pair: [$($pair:path => $pair_name:ident),* $(,)?] $(,)?
    ) => {
        operator_suite!(@backend operator_sqlite, crate::harness::TestDb::sqlite();
            [$($single => $single_name),*] [$($pair => $pair_name),*]);
        operator_suite!(@backend operator_postgres, crate::harness::TestDb::postgres().await;
            [$($single => $single_name),*] [$($pair => $pair_name),*]);
    };
    (@backend $backend:ident, $new_db:expr;
        [$($single:path => $single_name:ident),*]
        [$($pair:path => $pair_name:ident),*]
    ) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $single_name() {
                    crate::harness::within_limit(async {
                        let db = $new_db;
                        $single(db.open_operator().await).await;
                    })
                    .await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $pair_name() {
                    crate::harness::within_limit(async {
                        let db = $new_db;
                        $pair(db.open_operator().await, db.open_operator().await).await;
                    })
                    .await;
                }
            )*
        }
    };
}

operator_suite! {
    single: [
        crate::operator::amounts_above_i64_max_are_refused_before_anything_is_written
            => amounts_above_i64_max_are_refused_before_anything_is_written,
        crate::operator::failed_transfer_gives_its_amount_back_and_emits_transfer_failed
            => failed_transfer_gives_its_amount_back_and_emits_transfer_failed,
        crate::operator::nonces_are_single_use_until_they_expire
            => nonces_are_single_use_until_they_expire,
        crate::operator::rotation_replaces_a_key_once => rotation_replaces_a_key_once,
    ],
    pair: [
        crate::operator::concurrent_requests_never_pass_the_daily_cap
            => concurrent_requests_never_pass_the_daily_cap,
    ],
}
