//! SPL Token / Token-2022 account parsing, the extension allow-lists, ATA derivation and the
//! token CPIs (built here because `pinocchio-token` pins the classic program id).

use pinocchio::{
    AccountView, Address, ProgramResult,
    cpi::{Signer, invoke_signed},
    error::ProgramError,
    instruction::{InstructionAccount, InstructionView},
};

use crate::error::{ChannelError, fail};

/// SPL Token.
pub const TOKEN_PROGRAM_ID: Address =
    Address::from_str_const("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA");
/// Token-2022.
pub const TOKEN_2022_PROGRAM_ID: Address =
    Address::from_str_const("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb");
/// Associated Token Account program.
pub const ATA_PROGRAM_ID: Address =
    Address::from_str_const("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL");
/// System program.
pub const SYSTEM_PROGRAM_ID: Address = Address::from_str_const("11111111111111111111111111111111");

const MINT_LEN: usize = 82;
const ACCOUNT_LEN: usize = 165;
/// Token-2022 puts the account-type byte right after the 165-byte base (mints are padded).
const ACCOUNT_TYPE_OFFSET: usize = 165;
const ACCOUNT_TYPE_MINT: u8 = 1;
const ACCOUNT_TYPE_ACCOUNT: u8 = 2;

/// Token-2022 mint extensions a channel accepts (spec "Token-2022 Extension Policy"):
/// MetadataPointer, TokenMetadata, GroupPointer, TokenGroup, GroupMemberPointer,
/// TokenGroupMember.
const MINT_ALLOWED: [u16; 6] = [18, 19, 20, 21, 22, 23];
/// Token-2022 account extensions a channel accepts: ImmutableOwner.
const ACCOUNT_ALLOWED: [u16; 1] = [7];

/// Checks a token program id.
#[inline(always)]
pub fn check_token_program(tp: &AccountView) -> ProgramResult {
    let id = tp.address();
    if id != &TOKEN_PROGRAM_ID && id != &TOKEN_2022_PROGRAM_ID {
        return fail(ChannelError::InvalidMintTokenProgram);
    }
    Ok(())
}

/// Walks a Token-2022 TLV trailer; `Ok(true)` when every extension is in `allowed`.
#[inline(always)]
fn tlv_all_allowed(tlv: &[u8], allowed: &[u16]) -> Result<bool, ()> {
    let mut i = 0usize;
    while i < tlv.len() {
        if tlv.len() - i < 4 {
            // Trailing bytes shorter than a TLV header: only zero padding is tolerated.
            if tlv[i..].iter().all(|b| *b == 0) {
                return Ok(true);
            }
            return Err(());
        }
        let ty = u16::from_le_bytes([tlv[i], tlv[i + 1]]);
        let len = u16::from_le_bytes([tlv[i + 2], tlv[i + 3]]) as usize;
        if ty == 0 {
            // Uninitialized marks the end of the written extensions.
            return Ok(true);
        }
        i += 4;
        if tlv.len() - i < len {
            return Err(());
        }
        if !allowed.contains(&ty) {
            return Ok(false);
        }
        i += len;
    }
    Ok(true)
}

/// Validates the mint for `tp` (owner, layout, initialised, extension allow-list) and returns
/// its decimals.
#[inline(always)]
pub fn check_mint(mint: &AccountView, tp: &AccountView) -> Result<u8, ProgramError> {
    if !mint.owned_by(tp.address()) {
        return fail(ChannelError::MintAccountMismatch);
    }
    let d = mint.try_borrow()?;
    if d.len() < MINT_LEN {
        return fail(ChannelError::MintAccountMismatch);
    }
    if d[45] != 1 {
        return fail(ChannelError::MintAccountMismatch);
    }
    if d.len() > MINT_LEN {
        if tp.address() != &TOKEN_2022_PROGRAM_ID
            || d.len() <= ACCOUNT_TYPE_OFFSET
            || d[ACCOUNT_TYPE_OFFSET] != ACCOUNT_TYPE_MINT
            || d[MINT_LEN..ACCOUNT_TYPE_OFFSET].iter().any(|b| *b != 0)
        {
            return fail(ChannelError::MalformedMintTokenExtensions);
        }
        match tlv_all_allowed(&d[ACCOUNT_TYPE_OFFSET + 1..], &MINT_ALLOWED) {
            Ok(true) => {}
            Ok(false) => return fail(ChannelError::UnsupportedMintExtension),
            Err(()) => return fail(ChannelError::MalformedMintTokenExtensions),
        }
    }
    Ok(d[44])
}

/// Why a beneficiary token account cannot receive a payout (the `PayoutRedirected` reason).
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Unusable {
    /// A Token-2022 account extension outside the allow-list.
    UnsupportedExtension = 0,
    /// Closed (owned elsewhere) or its authority was reassigned.
    ClosedOrMalformed = 1,
    /// Missing, uninitialised or frozen.
    NotInitialized = 2,
}

/// A token account's standing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Initialised, unfrozen, right mint and owner, allowed extensions.
    Usable,
    /// Exists in a state that cannot receive tokens.
    Unusable(Unusable),
}

/// Classifies a token account that must hold `mint` for `owner`. Garbage data under the token
/// program or the wrong mint is malformed (`Err(malformed)`); anything a user can put an
/// account into (missing, closed, frozen, reassigned, bad extension) is a `Standing`.
#[inline(always)]
pub fn standing(
    acct: &AccountView,
    mint: &Address,
    owner: &[u8],
    tp: &Address,
) -> Result<Standing, ()> {
    if !acct.owned_by(tp) {
        if acct.is_data_empty() {
            return Ok(Standing::Unusable(Unusable::NotInitialized));
        }
        return Ok(Standing::Unusable(Unusable::ClosedOrMalformed));
    }
    let d = acct.try_borrow().map_err(|_| ())?;
    if d.len() < ACCOUNT_LEN {
        return Err(());
    }
    if &d[0..32] != mint.as_ref() {
        return Err(());
    }
    if d.len() > ACCOUNT_LEN
        && (tp != &TOKEN_2022_PROGRAM_ID || d[ACCOUNT_TYPE_OFFSET] != ACCOUNT_TYPE_ACCOUNT)
    {
        return Err(());
    }
    if d[108] != 1 {
        return Ok(Standing::Unusable(Unusable::NotInitialized));
    }
    if &d[32..64] != owner {
        return Ok(Standing::Unusable(Unusable::ClosedOrMalformed));
    }
    if d.len() > ACCOUNT_LEN {
        match tlv_all_allowed(&d[ACCOUNT_TYPE_OFFSET + 1..], &ACCOUNT_ALLOWED) {
            Ok(true) => {}
            Ok(false) => return Ok(Standing::Unusable(Unusable::UnsupportedExtension)),
            Err(()) => return Err(()),
        }
    }
    Ok(Standing::Usable)
}

/// The errors to raise for one role's token account.
#[derive(Clone, Copy)]
pub struct RoleErrors {
    /// The account is unusable.
    pub invalid: ChannelError,
    /// The account carries a forbidden extension.
    pub extensions: ChannelError,
}

/// Requires a usable token account (escrow, payer source, treasury).
#[inline(always)]
pub fn require_usable(
    acct: &AccountView,
    mint: &Address,
    owner: &Address,
    tp: &Address,
    errs: &RoleErrors,
) -> ProgramResult {
    match standing(acct, mint, owner.as_ref(), tp) {
        Ok(Standing::Usable) => Ok(()),
        Ok(Standing::Unusable(Unusable::UnsupportedExtension)) => fail(errs.extensions),
        Ok(Standing::Unusable(_)) => fail(errs.invalid),
        Err(()) => fail(ChannelError::MalformedMintTokenAccountData),
    }
}

/// The token amount held by a (validated) token account.
#[inline(always)]
pub fn amount_of(acct: &AccountView) -> Result<u64, ProgramError> {
    let d = acct.try_borrow()?;
    if d.len() < 72 {
        return fail(ChannelError::MalformedMintTokenAccountData);
    }
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[64..72]);
    Ok(u64::from_le_bytes(b))
}

/// Whether `acct` is `ATA(wallet, mint, token_program)`.
#[inline(always)]
pub fn is_ata(acct: &Address, wallet: &Address, mint: &Address, tp: &Address) -> bool {
    crate::pda::is_found(acct, &[wallet.as_ref(), tp.as_ref(), mint.as_ref()], &ATA_PROGRAM_ID)
}

/// The token program, mint and decimals every transfer needs.
pub struct TokenCtx<'a> {
    pub program: &'a AccountView,
    pub mint: &'a AccountView,
    pub decimals: u8,
}

/// `TransferChecked` of `amount` from `from` to `to`, authorised by `authority` (signed by
/// `signers` when it is a PDA).
#[inline(always)]
pub fn transfer(
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

/// `CloseAccount`: drains `acct`'s rent to `dest`; `authority` is a PDA signing with `signers`.
#[inline(always)]
pub fn close_account(
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

/// The accounts of an ATA `CreateIdempotent`.
pub struct CreateAta<'a> {
    pub funder: &'a AccountView,
    pub ata: &'a AccountView,
    pub wallet: &'a AccountView,
    pub mint: &'a AccountView,
    pub system_program: &'a AccountView,
    pub token_program: &'a AccountView,
}

impl CreateAta<'_> {
    /// Creates the ATA unless it already exists (idempotent, so a front-run cannot block open).
    #[inline(always)]
    pub fn invoke(&self) -> ProgramResult {
        let metas = [
            InstructionAccount::writable_signer(self.funder.address()),
            InstructionAccount::writable(self.ata.address()),
            InstructionAccount::readonly(self.wallet.address()),
            InstructionAccount::readonly(self.mint.address()),
            InstructionAccount::readonly(self.system_program.address()),
            InstructionAccount::readonly(self.token_program.address()),
        ];
        let data = [1u8];
        let ix = InstructionView {
            program_id: &ATA_PROGRAM_ID,
            accounts: &metas,
            data: &data,
        };
        invoke_signed(
            &ix,
            &[
                self.funder,
                self.ata,
                self.wallet,
                self.mint,
                self.system_program,
                self.token_program,
            ],
            &[],
        )
    }
}

/// The token side of a payer instruction (`topUp`, `withdrawPayer`): the channel's escrow and
/// the payer's ATA under the channel's mint.
pub struct PayerSide<'a> {
    pub channel: &'a AccountView,
    pub escrow: &'a AccountView,
    pub payer_ata: &'a AccountView,
    pub mint: &'a AccountView,
    pub token_program: &'a AccountView,
}

impl<'a> PayerSide<'a> {
    /// Checks the mint (the channel's, allowed extensions), the token program, that both token
    /// accounts are the canonical ATAs and usable (extensions re-checked). Returns the transfer
    /// context.
    #[inline(always)]
    pub fn check(&self, mint: &Address, payer: &Address) -> Result<TokenCtx<'a>, ProgramError> {
        if self.mint.address() != mint {
            return fail(ChannelError::InvalidChannelMint);
        }
        check_token_program(self.token_program)?;
        let decimals = check_mint(self.mint, self.token_program)?;
        let tp = self.token_program.address();
        if !is_ata(self.escrow.address(), self.channel.address(), mint, tp) {
            return fail(ChannelError::InvalidChannelTokenAccount);
        }
        if !is_ata(self.payer_ata.address(), payer, mint, tp) {
            return fail(ChannelError::PayerAccountMismatch);
        }
        require_usable(self.escrow, mint, self.channel.address(), tp, &ESCROW_ERRORS)?;
        require_usable(self.payer_ata, mint, payer, tp, &PAYER_ERRORS)?;
        Ok(TokenCtx {
            program: self.token_program,
            mint: self.mint,
            decimals,
        })
    }
}

/// Errors for the escrow token account.
pub const ESCROW_ERRORS: RoleErrors = RoleErrors {
    invalid: ChannelError::InvalidChannelTokenAccount,
    extensions: ChannelError::InvalidChannelTokenExtensions,
};
/// Errors for the payer's token account.
pub const PAYER_ERRORS: RoleErrors = RoleErrors {
    invalid: ChannelError::InvalidPayerTokenAccount,
    extensions: ChannelError::InvalidPayerTokenExtensions,
};
