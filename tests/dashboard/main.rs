//! The operator dashboard, end to end: in headless Chromium (Debian's `chromium` through
//! `chromedriver`, driven by fantoccini) on SQLite, and over plain HTTP for access control,
//! CSRF, operator isolation and escaping on SQLite and PostgreSQL. Screenshots go to
//! `target/screenshots/`.

// Test code: a failed expectation is the test failing.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

mod browser;
mod flows;
#[allow(dead_code)]
#[path = "../operator/harness.rs"]
mod harness;
mod security;
mod web;

/// An MPP receipt with `reference`, as an agent reports it.
pub fn receipt(reference: &str) -> String {
    let r = mpp::Receipt::success(
        mpp::MethodName::solana(),
        mpp::Timestamp::parse("2026-11-21T12:00:00Z").unwrap(),
        reference,
    );
    mpp::format_payment_receipt(&r)
}

mod browser_tests {
    macro_rules! browser {
        ($($name:ident),* $(,)?) => {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    crate::flows::$name().await;
                }
            )*
        };
    }
    browser!(
        sign_in_shows_the_overview,
        account_and_policy_are_created_through_the_forms,
        invalid_policy_edit_shows_the_error,
        paid_request_by_the_agent_shows_up_in_transfers,
        approved_transfer_settles,
    );
}

/// One `#[tokio::test]` per case and backend.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    crate::security::$name(mppsol_e2e::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    crate::security::$name(mppsol_e2e::Backend::Postgres).await;
                }
            )*
        }
    };
}

both_backends!(
    pages_refuse_access_without_a_session,
    a_post_without_the_csrf_token_is_refused,
    operators_never_see_each_others_data,
    user_content_is_escaped,
);
