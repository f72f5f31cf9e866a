//! Helpers the mppsol programs share: PDA derivation through out-parameter syscalls (the
//! upstream BPF backend cannot return `(Address, u8)` by value from a non-inlined call), the
//! clock and rent sysvars read with `sol_get_sysvar`, PDA account creation that tolerates
//! prefunding, token-account field reads, `TransferChecked`.

use pinocchio::{
    AccountView, Address, ProgramResult,
    cpi::{Signer, invoke_signed},
    error::ProgramError,
    instruction::{InstructionAccount, InstructionView},
    sysvars::{clock::CLOCK_ID, get_sysvar, rent::RENT_ID},
};

use crate::{ATA_PROGRAM_ID, SYSTEM_PROGRAM_ID, TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID};

/// `find_program_address`: writes the canonical PDA into `out` and returns its bump, or `None`.
#[inline(always)]
pub fn find_pda(seeds: &[&[u8]], program_id: &Address, out: &mut [u8; 32]) -> Option<u8> {
    #[cfg(target_arch = "bpf")]
    {
        let mut bump = 0u8;
        // SAFETY: `seeds` is a slice of fat slices as the syscall expects; `out` has 32 bytes.
        let rc = unsafe {
            pinocchio::syscalls::sol_try_find_program_address(
                seeds.as_ptr() as *const u8,
                seeds.len() as u64,
                program_id.as_ref().as_ptr(),
                out.as_mut_ptr(),
                &mut bump as *mut u8,
            )
        };
        if rc == 0 { Some(bump) } else { None }
    }
    #[cfg(not(target_arch = "bpf"))]
    {
        let _ = (seeds, program_id, out);
        None
    }
}

/// Whether `a` is the canonical PDA of `seeds`; the bump when it is.
#[inline(always)]
pub fn pda_bump(a: &Address, seeds: &[&[u8]], program_id: &Address) -> Option<u8> {
    let mut out = [0u8; 32];
    match find_pda(seeds, program_id, &mut out) {
        Some(bump) if a.as_ref() == &out[..] => Some(bump),
        _ => None,
    }
}

/// Whether `acct` is `ATA(wallet, mint, token_program)`.
#[inline(always)]
pub fn is_ata(acct: &Address, wallet: &Address, mint: &Address, tp: &Address) -> bool {
    pda_bump(
        acct,
        &[wallet.as_ref(), tp.as_ref(), mint.as_ref()],
        &ATA_PROGRAM_ID,
    )
    .is_some()
}

/// Whether `id` is SPL Token or Token-2022.
#[inline(always)]
pub fn is_token_program(id: &Address) -> bool {
    id == &TOKEN_PROGRAM_ID || id == &TOKEN_2022_PROGRAM_ID
}

/// Little-endian u64 at `off` (the caller has checked the length).
#[inline(always)]
pub fn le_u64(d: &[u8], off: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[off..off + 8]);
    u64::from_le_bytes(b)
}

/// The clock's slot and unix timestamp.
#[derive(Clone, Copy, Default)]
pub struct Now {
    /// Current slot.
    pub slot: u64,
    /// Unix timestamp (seconds).
    pub unix: i64,
}

/// Reads the Clock sysvar (pinocchio's `Clock::get` is a zeroing stub on `bpfel-unknown-none`).
#[inline(always)]
pub fn now(out: &mut Now) -> ProgramResult {
    let mut buf = [0u8; 40];
    get_sysvar(&mut buf, &CLOCK_ID, 0)?;
    out.slot = le_u64(&buf, 0);
    out.unix = le_u64(&buf, 32) as i64;
    Ok(())
}

/// Bytes of account metadata the runtime charges rent for besides the data.
const ACCOUNT_STORAGE_OVERHEAD: u64 = 128;

/// Rent-exempt minimum for `len` data bytes, in u64 (thresholds 1.0 and 2.0 only: the upstream
/// BPF backend has no floating point and no 128-bit multiply).
#[inline(always)]
pub fn rent_minimum(len: u64) -> Result<u64, ProgramError> {
    let mut buf = [0u8; 16];
    get_sysvar(&mut buf, &RENT_ID, 0)?;
    let per_byte = le_u64(&buf, 0);
    let threshold = le_u64(&buf, 8);
    let years = if threshold == 2.0f64.to_bits() {
        2
    } else if threshold == 1.0f64.to_bits() {
        1
    } else {
        return Err(ProgramError::InvalidAccountData);
    };
    if per_byte > u32::MAX as u64 || len > u16::MAX as u64 {
        return Err(ProgramError::InvalidAccountData);
    }
    Ok((ACCOUNT_STORAGE_OVERHEAD + len)
        .wrapping_mul(per_byte)
        .wrapping_mul(years))
}

/// Creates the PDA `account` owned by `owner` with `space` bytes, rent from `funder`.
/// Prefund-tolerant: a system-owned, data-empty account holding donated lamports is accepted
/// (plain `CreateAccount` would fail on it, letting anyone block the address). The caller has
/// already refused an account this program owns.
#[inline(always)]
pub fn create_pda(
    funder: &AccountView,
    account: &AccountView,
    space: u64,
    owner: &Address,
    signers: &[Signer],
) -> ProgramResult {
    if !account.owned_by(&SYSTEM_PROGRAM_ID) || !account.is_data_empty() {
        return Err(ProgramError::AccountAlreadyInitialized);
    }
    let shortfall = rent_minimum(space)?.saturating_sub(account.lamports());
    if shortfall > 0 {
        let mut data = [0u8; 12];
        data[0] = 2; // system Transfer
        data[4..12].copy_from_slice(&shortfall.to_le_bytes());
        let metas = [
            InstructionAccount::writable_signer(funder.address()),
            InstructionAccount::writable(account.address()),
        ];
        let ix = InstructionView {
            program_id: &SYSTEM_PROGRAM_ID,
            accounts: &metas,
            data: &data,
        };
        invoke_signed(&ix, &[funder, account], &[])?;
    }
    let metas = [InstructionAccount::writable_signer(account.address())];
    let mut data = [0u8; 12];
    data[0] = 8; // system Allocate
    data[4..12].copy_from_slice(&space.to_le_bytes());
    let ix = InstructionView {
        program_id: &SYSTEM_PROGRAM_ID,
        accounts: &metas,
        data: &data,
    };
    invoke_signed(&ix, &[account], signers)?;
    let mut data = [0u8; 36];
    data[0] = 1; // system Assign
    data[4..36].copy_from_slice(owner.as_ref());
    let ix = InstructionView {
        program_id: &SYSTEM_PROGRAM_ID,
        accounts: &metas,
        data: &data,
    };
    invoke_signed(&ix, &[account], signers)
}

/// A token account's `(mint, owner, amount)` when `acct` is an initialised account of `tp`.
#[inline(always)]
pub fn token_account(acct: &AccountView, tp: &Address, out: &mut TokenAccount) -> bool {
    if !acct.owned_by(tp) {
        return false;
    }
    let Ok(d) = acct.try_borrow() else {
        return false;
    };
    // 165-byte base; state byte 108 is 1 (initialised) or 2 (frozen).
    if d.len() < 165 || d[108] != 1 {
        return false;
    }
    out.mint.copy_from_slice(&d[0..32]);
    out.owner.copy_from_slice(&d[32..64]);
    out.amount = le_u64(&d, 64);
    true
}

/// The fields of a token account the programs read.
#[derive(Default)]
pub struct TokenAccount {
    /// The mint.
    pub mint: [u8; 32],
    /// The owner (authority).
    pub owner: [u8; 32],
    /// Balance, base units.
    pub amount: u64,
}

/// A mint's decimals when `mint` is an initialised mint of `tp`.
#[inline(always)]
pub fn mint_decimals(mint: &AccountView, tp: &Address) -> Option<u8> {
    if !mint.owned_by(tp) {
        return None;
    }
    let d = mint.try_borrow().ok()?;
    if d.len() < 82 || d[45] != 1 {
        return None;
    }
    Some(d[44])
}

/// The token program, mint and decimals a `TransferChecked` needs.
pub struct TokenCtx<'a> {
    /// SPL Token or Token-2022.
    pub program: &'a AccountView,
    /// The mint.
    pub mint: &'a AccountView,
    /// The mint's decimals.
    pub decimals: u8,
}

/// `TransferChecked` of `amount` from `from` to `to`, authorised by `authority` (a PDA signs
/// through `signers`).
#[inline(always)]
pub fn transfer_checked(
    ctx: &TokenCtx,
    from: &AccountView,
    to: &AccountView,
    authority: &AccountView,
    amount: u64,
    signers: &[Signer],
) -> ProgramResult {
    let metas = [
        InstructionAccount::writable(from.address()),
        InstructionAccount::readonly(ctx.mint.address()),
        InstructionAccount::writable(to.address()),
        InstructionAccount::readonly_signer(authority.address()),
    ];
    let mut data = [0u8; 10];
    data[0] = 12;
    data[1..9].copy_from_slice(&amount.to_le_bytes());
    data[9] = ctx.decimals;
    let ix = InstructionView {
        program_id: ctx.program.address(),
        accounts: &metas,
        data: &data,
    };
    invoke_signed(&ix, &[from, ctx.mint, to, authority], signers)
}

/// `CloseAccount`: drains `acct`'s rent to `dest`; `authority` signs through `signers`.
#[inline(always)]
pub fn close_token_account(
    tp: &AccountView,
    acct: &AccountView,
    dest: &AccountView,
    authority: &AccountView,
    signers: &[Signer],
) -> ProgramResult {
    let metas = [
        InstructionAccount::writable(acct.address()),
        InstructionAccount::writable(dest.address()),
        InstructionAccount::readonly_signer(authority.address()),
    ];
    let data = [9u8];
    let ix = InstructionView {
        program_id: tp.address(),
        accounts: &metas,
        data: &data,
    };
    invoke_signed(&ix, &[acct, dest, authority], signers)
}

/// Refuses a callee whose address is not the one the caller expects.
#[inline(always)]
pub fn check_program(program: &AccountView, expected: &Address) -> ProgramResult {
    if program.address() != expected {
        return Err(ProgramError::IncorrectProgramId);
    }
    Ok(())
}
