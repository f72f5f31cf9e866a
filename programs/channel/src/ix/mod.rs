//! One module per instruction.

pub mod distribute;
pub mod open;
pub mod reclaim;
pub mod request_close;
pub mod seal;
pub mod settle;
pub mod settle_and_seal;
pub mod top_up;
pub mod withdraw_payer;
