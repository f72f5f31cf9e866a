//! Header field codecs: each header's `parse_*` and `format_*` side by side.

pub mod accept_payment;
pub mod auth_params;
pub mod authorization;
pub mod payment_receipt;
pub mod www_authenticate;
