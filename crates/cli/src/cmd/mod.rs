//! One module per subcommand.

pub mod bench;
pub mod common;
pub mod conformance;
pub mod demo;
pub mod demo_session;
pub mod keys;
pub mod localnet;
pub mod operator;
pub mod pay;
pub mod programs;
pub mod receipt;
pub mod serve;
pub mod wallet;
