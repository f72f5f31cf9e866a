//! Well-known program ids.

use solana_address::Address;

/// The System program.
pub const SYSTEM_PROGRAM: Address = Address::from_str_const("11111111111111111111111111111111");
/// The SPL Token program (p-token in LiteSVM 0.16, the same instruction set).
pub const TOKEN_PROGRAM: Address =
    Address::from_str_const("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA");
/// The Token-2022 program.
pub const TOKEN_2022_PROGRAM: Address =
    Address::from_str_const("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb");
/// The Associated Token Account program.
pub const ASSOCIATED_TOKEN_PROGRAM: Address =
    Address::from_str_const("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL");
/// The SPL Memo program, v1 (legacy).
pub const MEMO_V1_PROGRAM: Address =
    Address::from_str_const("Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo");
/// The SPL Memo program, v2 (what wallets use today).
pub const MEMO_PROGRAM: Address =
    Address::from_str_const("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr");
/// The Compute Budget program.
pub const COMPUTE_BUDGET_PROGRAM: Address =
    Address::from_str_const("ComputeBudget111111111111111111111111111111");
/// The Address Lookup Table program.
pub const ADDRESS_LOOKUP_TABLE_PROGRAM: Address =
    Address::from_str_const("AddressLookupTab1e1111111111111111111111111");
/// The Rent sysvar.
pub const SYSVAR_RENT: Address =
    Address::from_str_const("SysvarRent111111111111111111111111111111111");
/// The Clock sysvar.
pub const SYSVAR_CLOCK: Address =
    Address::from_str_const("SysvarC1ock11111111111111111111111111111111");
/// The (deprecated) RecentBlockhashes sysvar, still passed to nonce instructions.
pub const SYSVAR_RECENT_BLOCKHASHES: Address =
    Address::from_str_const("SysvarRecentB1ockHashes11111111111111111111");
/// The Instructions sysvar.
pub const SYSVAR_INSTRUCTIONS: Address =
    Address::from_str_const("Sysvar1nstructions1111111111111111111111111");

/// Whether `program_id` is SPL Token or Token-2022.
pub fn is_token_program(program_id: &Address) -> bool {
    *program_id == TOKEN_PROGRAM || *program_id == TOKEN_2022_PROGRAM
}

/// Whether `program_id` is either Memo program.
pub fn is_memo_program(program_id: &Address) -> bool {
    *program_id == MEMO_PROGRAM || *program_id == MEMO_V1_PROGRAM
}

/// The Ed25519 signature-verification precompile (executed by LiteSVM's `precompiles` feature).
pub const ED25519_PROGRAM: Address =
    Address::from_str_const("Ed25519SigVerify111111111111111111111111111");

/// Where the embedded chain loads the bundled payment-channel program by default. Its keypair
/// is `programs/keys/channel-program-dev.json` (development only). `mppsol_solana::channel`
/// carries the same constant; a test keeps them equal.
pub const DEV_CHANNEL_PROGRAM_ID: Address =
    Address::from_str_const("ADphTeEsWPxkukaNaiyfKNiYwuVwLSv4JVPEZRweh63v");

/// The payment-channel program ELF (`programs/bin/channel.so`, rebuilt and checked against
/// `programs/bin/SHA256SUMS` by `scripts/build-programs.sh`).
pub const CHANNEL_PROGRAM_ELF: &[u8] = include_bytes!("../../../programs/bin/channel.so");

/// Where the embedded chain loads the spending-policy program (`mppsol_solana::policy` carries
/// the same constant; a test keeps them equal).
pub const DEV_POLICY_PROGRAM_ID: Address =
    Address::from_str_const("3q1STtYxB6PU8SoHjgQgqqJcPevvrXNPqBx6pGu3C8A6");
/// Where the embedded chain loads the payments program (receipts per challenge).
pub const DEV_PAYMENTS_PROGRAM_ID: Address =
    Address::from_str_const("AxDNQbSdTpoUifxixQ3pADfazNGv6k24heWGqPzH5i1z");
/// Where the embedded chain loads the example vault (a program paying by CPI).
pub const DEV_EXAMPLE_VAULT_PROGRAM_ID: Address =
    Address::from_str_const("FbWbBmzdNhFtQxKNQaGoHmFZU2yaAwptY9ERGrKEzjEa");

/// The spending-policy program ELF (`programs/bin/policy.so`).
pub const POLICY_PROGRAM_ELF: &[u8] = include_bytes!("../../../programs/bin/policy.so");
/// The payments program ELF (`programs/bin/payments.so`).
pub const PAYMENTS_PROGRAM_ELF: &[u8] = include_bytes!("../../../programs/bin/payments.so");
/// The example-vault program ELF (`programs/bin/example_vault.so`).
pub const EXAMPLE_VAULT_PROGRAM_ELF: &[u8] =
    include_bytes!("../../../programs/bin/example_vault.so");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_the_interface_crates() {
        assert_eq!(TOKEN_PROGRAM, spl_token_interface::ID);
        assert_eq!(TOKEN_2022_PROGRAM, spl_token_2022_interface::ID);
        assert_eq!(
            ASSOCIATED_TOKEN_PROGRAM,
            spl_associated_token_account_interface::program::ID
        );
        assert_eq!(SYSTEM_PROGRAM, solana_system_interface::program::ID);
        assert!(is_token_program(&TOKEN_2022_PROGRAM));
        assert!(!is_token_program(&MEMO_PROGRAM));
    }
}
