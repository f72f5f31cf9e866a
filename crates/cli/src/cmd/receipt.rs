//! `mppsol receipt verify`: check a receipt's server signature and, with an RPC endpoint, that
//! its on-chain reference landed.

use anyhow::{Context as _, bail};
use mpp::{ReceiptKey, parse_payment_receipt};

use super::common::rpc_ledger;

/// `mppsol receipt …`
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Verify a `Payment-Receipt` header value.
    Verify {
        /// The header value (base64url).
        receipt: String,
        /// The server's receipt key (base58), as published in its /openapi.json.
        #[arg(long)]
        key: Option<String>,
        /// Fetch the key from this server's discovery document instead.
        #[arg(long, conflicts_with = "key")]
        server: Option<String>,
        /// Also check the referenced transaction on this JSON-RPC endpoint.
        #[arg(long)]
        rpc_url: Option<String>,
    },
}

/// Runs `mppsol receipt`.
pub async fn run(c: Command) -> anyhow::Result<()> {
    let Command::Verify {
        receipt,
        key,
        server,
        rpc_url,
    } = c;
    let r = parse_payment_receipt(receipt.trim()).context("parsing the receipt")?;
    let keys: Vec<ReceiptKey> = match (key, server) {
        (Some(k), _) => vec![ReceiptKey::parse(&k).context("--key is not a base58 Ed25519 key")?],
        (None, Some(s)) => {
            let doc: mpp::DiscoveryDocument =
                reqwest::get(format!("{}/openapi.json", s.trim_end_matches('/')))
                    .await
                    .context("fetching the discovery document")?
                    .json()
                    .await
                    .context("reading the discovery document")?;
            doc.receipt_keys()
        }
        (None, None) => bail!("give --key or --server"),
    };
    let ok = keys.iter().any(|k| k.verify(&r).is_ok());
    if !ok {
        bail!(
            "receipt signature does not verify with {} key(s)",
            keys.len()
        );
    }
    println!("signature: valid");
    if let Some(url) = rpc_url {
        let sig = mppsol_solana::charge::payload::decode_signature(&r.reference)
            .context("the reference is not a Solana signature")?;
        let ledger = rpc_ledger(&url, "localnet")?;
        match ledger.get_transaction(&sig).await? {
            Some(t) if t.err.is_none() => println!("on chain: landed in slot {}", t.slot),
            Some(t) => bail!("on chain: failed ({})", t.err.unwrap_or_default()),
            None => bail!("on chain: {} not found", r.reference),
        }
    }
    Ok(())
}
