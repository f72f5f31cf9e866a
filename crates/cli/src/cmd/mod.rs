//! One module per subcommand.

pub mod bench;
pub mod common;
pub mod conformance;
pub mod demo;
pub mod keys;
pub mod localnet;
pub mod pay;
pub mod receipt;
pub mod serve;
