//! Pieces several subcommands share: a ledger from a URL (or the embedded one), amounts in
//! token units, the challenge secret file.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use mpp::ChallengeSecret;
use mppsol_ledger::Ledger;
use mppsol_ledger::rpc::{RpcConfig, RpcLedger};

/// A ledger over JSON-RPC at `url` for `network`.
pub fn rpc_ledger(url: &str, network: &str) -> anyhow::Result<Arc<dyn Ledger>> {
    let l = RpcLedger::new(RpcConfig::new(url, network))
        .with_context(|| format!("connecting to the RPC endpoint for {network}"))?;
    Ok(Arc::new(l))
}

/// `amount` base units with `decimals`, as a decimal string (integer arithmetic only).
pub fn units(amount: u64, decimals: u8) -> String {
    if decimals == 0 {
        return amount.to_string();
    }
    let scale = 10u64.pow(u32::from(decimals));
    format!(
        "{}.{:0width$}",
        amount / scale,
        amount % scale,
        width = usize::from(decimals)
    )
}

/// Reads the challenge secret, creating a random one (owner-only) on first use.
pub fn challenge_secret(path: &Path) -> anyhow::Result<ChallengeSecret> {
    if !path.exists() {
        let bytes: [u8; 32] = rand::random();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts
            .open(path)
            .with_context(|| format!("creating {}", path.display()))?;
        std::io::Write::write_all(&mut f, &bytes)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    ChallengeSecret::new(bytes).with_context(|| format!("challenge secret in {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_use_integer_arithmetic() {
        assert_eq!(units(10_000, 6), "0.010000");
        assert_eq!(units(123_456_789, 6), "123.456789");
        assert_eq!(units(5, 0), "5");
        assert_eq!(units(u64::MAX, 9), "18446744073.709551615");
    }
}
