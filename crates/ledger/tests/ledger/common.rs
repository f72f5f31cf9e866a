//! Fixtures: an embedded ledger, and the same ledger behind the JSON-RPC server.

use std::net::SocketAddr;
use std::sync::Arc;

use mppsol_ledger::Ledger;
use mppsol_ledger::embedded::{EmbeddedConfig, EmbeddedLedger};
use mppsol_ledger::rpc::{RpcConfig, RpcLedger};
use mppsol_ledger::rpc_server::{self, RpcServerHandle};
use solana_address::Address;
use solana_instruction::Instruction;
use solana_keypair::Keypair;
use solana_message::{Message, VersionedMessage};
use solana_signer::Signer;
use solana_transaction::versioned::VersionedTransaction;

/// One SOL in lamports.
pub const SOL: u64 = 1_000_000_000;

/// A ledger under test plus the embedded ledger behind it (for funding and clock control).
pub struct Fixture {
    /// The chain itself.
    pub embedded: EmbeddedLedger,
    /// The adapter under test.
    pub ledger: Arc<dyn Ledger>,
    /// Keeps the server up for the RPC adapter.
    pub server: Option<RpcServerHandle>,
}

impl Fixture {
    /// The embedded adapter.
    pub async fn embedded() -> Self {
        let embedded = EmbeddedLedger::new(EmbeddedConfig::default())
            .await
            .expect("embedded ledger");
        Fixture {
            ledger: Arc::new(embedded.clone()),
            embedded,
            server: None,
        }
    }

    /// The RPC adapter talking to the server on 127.0.0.1, port 0.
    pub async fn rpc() -> Self {
        let embedded = EmbeddedLedger::new(EmbeddedConfig::default())
            .await
            .expect("embedded ledger");
        let server = rpc_server::serve(embedded.clone(), SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("server");
        let url = format!("http://{}", server.local_addr());
        let ledger = RpcLedger::new(RpcConfig::new(url, "localnet")).expect("rpc ledger");
        Fixture {
            embedded,
            ledger: Arc::new(ledger),
            server: Some(server),
        }
    }

    /// The server's URL (RPC fixture only).
    pub fn url(&self) -> String {
        let server = self.server.as_ref().expect("rpc fixture");
        format!("http://{}", server.local_addr())
    }

    /// A new keypair holding `lamports`.
    pub async fn funded(&self, lamports: u64) -> Keypair {
        let kp = Keypair::new();
        self.embedded
            .fund_sol(&kp.pubkey(), lamports)
            .await
            .expect("fund");
        kp
    }

    /// Signs `instructions` with a fresh blockhash from the adapter under test.
    pub async fn sign(
        &self,
        instructions: &[Instruction],
        signers: &[&Keypair],
    ) -> VersionedTransaction {
        let blockhash = self
            .ledger
            .latest_blockhash()
            .await
            .expect("blockhash")
            .blockhash;
        sign_with(instructions, signers, blockhash)
    }
}

/// Signs with the first signer as fee payer.
pub fn sign_with(
    instructions: &[Instruction],
    signers: &[&Keypair],
    blockhash: solana_hash::Hash,
) -> VersionedTransaction {
    let payer = signers.first().expect("a payer").pubkey();
    let message = Message::new_with_blockhash(instructions, Some(&payer), &blockhash);
    VersionedTransaction::try_new(VersionedMessage::Legacy(message), signers).expect("sign")
}

/// A `transfer_checked` between the owners' associated token accounts.
pub fn transfer_checked(
    token_program: &Address,
    mint: &Address,
    from_owner: &Address,
    to_owner: &Address,
    amount: u64,
    decimals: u8,
) -> Instruction {
    let ata = |owner: &Address| {
        spl_associated_token_account_interface::address::get_associated_token_address_with_program_id(
            owner,
            mint,
            token_program,
        )
    };
    spl_token_2022_interface::instruction::transfer_checked(
        token_program,
        &ata(from_owner),
        mint,
        &ata(to_owner),
        from_owner,
        &[],
        amount,
        decimals,
    )
    .expect("transfer_checked")
}
