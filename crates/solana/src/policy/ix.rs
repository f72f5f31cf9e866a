//! Instruction builders for every policy instruction and the example vault's. Layouts:
//! `docs/003-policy-program.md` (one discriminator byte, then little-endian fields).

use solana_address::Address;
use solana_instruction::{AccountMeta, Instruction};

use super::receipt::{PayAccounts, find_receipt_address, pay_data};
use super::state::{PolicyConfig, PolicyError};
use super::{example_vault_agent, example_vault_authority, find_wallet_address, vault_address};
use crate::channel::ix::{OpenArgs, OpenParties, open};
use crate::channel::{self, escrow_address};
use crate::token::{MEMO_PROGRAM, SYSTEM_PROGRAM, TokenProgram, associated_token_address};

/// Instruction discriminators.
pub mod disc {
    /// `createWallet`.
    pub const CREATE_WALLET: u8 = 1;
    /// `setPolicy`.
    pub const SET_POLICY: u8 = 2;
    /// `pay`.
    pub const PAY: u8 = 3;
    /// `payWithReceipt`.
    pub const PAY_WITH_RECEIPT: u8 = 4;
    /// `fundChannel`.
    pub const FUND_CHANNEL: u8 = 5;
    /// `topUpChannel`.
    pub const TOP_UP_CHANNEL: u8 = 6;
    /// `setPaused`.
    pub const SET_PAUSED: u8 = 7;
    /// `withdraw`.
    pub const WITHDRAW: u8 = 8;
    /// `closeWallet`.
    pub const CLOSE_WALLET: u8 = 9;
}

/// One wallet: the policy program it lives in, its owner and its agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalletKeys {
    /// The policy program.
    pub program: Address,
    /// The owner.
    pub owner: Address,
    /// The agent.
    pub agent: Address,
}

impl WalletKeys {
    /// The wallet PDA.
    pub fn wallet(&self) -> Address {
        find_wallet_address(&self.program, &self.owner, &self.agent).0
    }

    /// The wallet's vault for `mint`.
    pub fn vault(&self, mint: &Address, tp: TokenProgram) -> Address {
        vault_address(&self.wallet(), mint, tp)
    }

    fn ix(&self, accounts: Vec<AccountMeta>, data: Vec<u8>) -> Instruction {
        Instruction {
            program_id: self.program,
            accounts,
            data,
        }
    }

    fn owner_and_wallet(&self) -> Vec<AccountMeta> {
        vec![
            AccountMeta::new_readonly(self.owner, true),
            AccountMeta::new(self.wallet(), false),
        ]
    }

    /// The agent (signer) and owner (signer only when `owner_signs`) metas.
    fn agent_owner(&self, agent_writable: bool, owner_signs: bool) -> [AccountMeta; 2] {
        [
            if agent_writable {
                AccountMeta::new(self.agent, true)
            } else {
                AccountMeta::new_readonly(self.agent, true)
            },
            AccountMeta::new_readonly(self.owner, owner_signs),
        ]
    }
}

/// Creates the wallet's vault for `mint` (the ATA program's `CreateIdempotent`, paid by
/// `funder`); anyone may then deposit into it.
pub fn create_vault(
    k: &WalletKeys,
    funder: &Address,
    mint: &Address,
    tp: TokenProgram,
) -> Instruction {
    spl_associated_token_account_interface::instruction::create_associated_token_account_idempotent(
        funder,
        &k.wallet(),
        mint,
        &tp.id(),
    )
}

/// `createWallet`: the owner creates the wallet (and pays its rent).
pub fn create_wallet(k: &WalletKeys, policy: &PolicyConfig) -> Result<Instruction, PolicyError> {
    let mut data = vec![disc::CREATE_WALLET];
    data.extend(policy.encode()?);
    Ok(k.ix(
        vec![
            AccountMeta::new(k.owner, true),
            AccountMeta::new_readonly(k.agent, false),
            AccountMeta::new(k.wallet(), false),
            AccountMeta::new_readonly(SYSTEM_PROGRAM, false),
        ],
        data,
    ))
}

/// `setPolicy`: the owner replaces the rules (the nonce and today's spend are kept).
pub fn set_policy(k: &WalletKeys, policy: &PolicyConfig) -> Result<Instruction, PolicyError> {
    let mut data = vec![disc::SET_POLICY];
    data.extend(policy.encode()?);
    Ok(k.ix(k.owner_and_wallet(), data))
}

/// `setPaused`.
pub fn set_paused(k: &WalletKeys, paused: bool) -> Instruction {
    k.ix(
        k.owner_and_wallet(),
        vec![disc::SET_PAUSED, u8::from(paused)],
    )
}

/// `withdraw`: the owner moves `amount` from the vault to any token account of the mint.
pub fn withdraw(
    k: &WalletKeys,
    mint: &Address,
    tp: TokenProgram,
    destination: &Address,
    amount: u64,
) -> Instruction {
    let mut data = vec![disc::WITHDRAW];
    data.extend_from_slice(&amount.to_le_bytes());
    k.ix(
        vec![
            AccountMeta::new_readonly(k.owner, true),
            AccountMeta::new_readonly(k.wallet(), false),
            AccountMeta::new(k.vault(mint, tp), false),
            AccountMeta::new(*destination, false),
            AccountMeta::new_readonly(*mint, false),
            AccountMeta::new_readonly(tp.id(), false),
        ],
        data,
    )
}

/// `closeWallet`: closes the (empty or absent) vault for `mint` and the wallet; rent to the
/// owner.
pub fn close_wallet(k: &WalletKeys, mint: &Address, tp: TokenProgram) -> Instruction {
    k.ix(
        vec![
            AccountMeta::new(k.owner, true),
            AccountMeta::new(k.wallet(), false),
            AccountMeta::new(k.vault(mint, tp), false),
            AccountMeta::new_readonly(tp.id(), false),
        ],
        vec![disc::CLOSE_WALLET],
    )
}

/// A payment from the wallet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// The counterparty (owner of the token account paid).
    pub recipient: Address,
    /// The mint.
    pub mint: Address,
    /// The mint's token program.
    pub token_program: TokenProgram,
    /// Amount, base units.
    pub amount: u64,
    /// Greater than the wallet's last nonce.
    pub nonce: u64,
    /// The provider's category id.
    pub category: u8,
    /// Memo (empty: none).
    pub memo: Vec<u8>,
    /// The owner co-signs (needed above the escalation threshold).
    pub owner_signs: bool,
}

fn pay_accounts(k: &WalletKeys, p: &Payment, agent_writable: bool) -> Vec<AccountMeta> {
    let tp = p.token_program;
    let mut a = k.agent_owner(agent_writable, p.owner_signs).to_vec();
    a.extend([
        AccountMeta::new(k.wallet(), false),
        AccountMeta::new(k.vault(&p.mint, tp), false),
        AccountMeta::new_readonly(p.recipient, false),
        AccountMeta::new(associated_token_address(&p.recipient, &p.mint, tp), false),
        AccountMeta::new_readonly(p.mint, false),
        AccountMeta::new_readonly(tp.id(), false),
        AccountMeta::new_readonly(MEMO_PROGRAM, false),
    ]);
    a
}

fn pay_head(d: u8, p: &Payment) -> Vec<u8> {
    let mut data = vec![d];
    data.extend_from_slice(&p.amount.to_le_bytes());
    data.extend_from_slice(&p.nonce.to_le_bytes());
    data.push(p.category);
    data
}

/// `pay`: the agent pays `recipient`'s ATA from the vault, under the policy.
pub fn pay(k: &WalletKeys, p: &Payment) -> Instruction {
    let mut data = pay_head(disc::PAY, p);
    data.extend_from_slice(&p.memo);
    k.ix(pay_accounts(k, p, false), data)
}

/// `payWithReceipt`: as [`pay`], through `payments_program`, which records the receipt of
/// `challenge_hash` (the agent funds the receipt account).
pub fn pay_with_receipt(
    k: &WalletKeys,
    p: &Payment,
    payments_program: &Address,
    challenge_hash: &[u8; 32],
) -> Instruction {
    let mut data = pay_head(disc::PAY_WITH_RECEIPT, p);
    data.extend_from_slice(challenge_hash);
    data.extend_from_slice(&p.memo);
    let mut a = pay_accounts(k, p, true);
    a.extend([
        AccountMeta::new_readonly(*payments_program, false),
        AccountMeta::new(
            find_receipt_address(payments_program, challenge_hash).0,
            false,
        ),
        AccountMeta::new_readonly(SYSTEM_PROGRAM, false),
    ]);
    k.ix(a, data)
}

/// A channel funded from the wallet: the wallet is the channel's payer, the agent its voucher
/// signer and rent payer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalletChannel {
    /// The channel program the wallet's policy names.
    pub channel_program: Address,
    /// The paid server.
    pub payee: Address,
    /// The mint.
    pub mint: Address,
    /// The mint's token program.
    pub token_program: TokenProgram,
}

impl WalletChannel {
    fn parties(&self, k: &WalletKeys) -> OpenParties {
        OpenParties {
            payer: k.wallet(),
            rent_payer: k.agent,
            payee: self.payee,
            mint: self.mint,
            authorized_signer: k.agent,
            token_program: self.token_program,
        }
    }

    /// The channel PDA `open` with `args` creates.
    pub fn channel_address(&self, k: &WalletKeys, args: &OpenArgs) -> Address {
        channel::find_channel_address(&self.channel_program, &self.parties(k).seeds(args)).0
    }
}

/// `fundChannel`: opens a channel with the wallet as payer, depositing `args.deposit` from the
/// vault (counted as a payment to the payee).
pub fn fund_channel(
    k: &WalletKeys,
    c: &WalletChannel,
    args: &OpenArgs,
    nonce: u64,
    owner_signs: bool,
) -> Instruction {
    let inner = open(&c.channel_program, &c.parties(k), args);
    let mut data = vec![disc::FUND_CHANNEL];
    data.extend_from_slice(&nonce.to_le_bytes());
    data.extend_from_slice(&inner.data);
    let mut a = k.agent_owner(true, owner_signs).to_vec();
    a.push(AccountMeta::new(k.wallet(), false));
    a.push(AccountMeta::new_readonly(c.channel_program, false));
    // payee, mint, authorizedSigner, channel, payer ATA (the vault), escrow, token program,
    // system program, rent, ATA program, event authority: the channel's own order.
    a.extend(inner.accounts[2..13].iter().map(|m| AccountMeta {
        is_signer: false,
        ..m.clone()
    }));
    k.ix(a, data)
}

/// `topUpChannel`: adds `amount` from the vault to a wallet-funded channel.
pub fn top_up_channel(
    k: &WalletKeys,
    c: &WalletChannel,
    channel: &Address,
    amount: u64,
    nonce: u64,
    owner_signs: bool,
) -> Instruction {
    let mut data = vec![disc::TOP_UP_CHANNEL];
    data.extend_from_slice(&nonce.to_le_bytes());
    data.push(channel::ix::disc::TOP_UP);
    data.extend_from_slice(&amount.to_le_bytes());
    let mut a = k.agent_owner(false, owner_signs).to_vec();
    a.extend([
        AccountMeta::new(k.wallet(), false),
        AccountMeta::new_readonly(c.channel_program, false),
        AccountMeta::new(*channel, false),
        AccountMeta::new(k.vault(&c.mint, c.token_program), false),
        AccountMeta::new(escrow_address(channel, &c.mint, c.token_program), false),
        AccountMeta::new_readonly(c.mint, false),
        AccountMeta::new_readonly(c.token_program.id(), false),
    ]);
    k.ix(a, data)
}

/// An example-vault `buyQuote`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExampleQuote {
    /// The example-vault program.
    pub program: Address,
    /// The payments program the vault PDA is bound to.
    pub payments_program: Address,
    /// The vault's owner (signer).
    pub owner: Address,
    /// Funds the receipt (signer).
    pub rent_payer: Address,
    /// The oracle paid.
    pub oracle: Address,
    /// The mint.
    pub mint: Address,
    /// The mint's token program.
    pub token_program: TokenProgram,
    /// Price, base units.
    pub amount: u64,
    /// `sha256(challenge id)` of the oracle's challenge.
    pub challenge_hash: [u8; 32],
}

/// Example vault `buyQuote`: the vault PDA of `owner` pays `oracle` through the payments
/// program, with a receipt for the challenge.
pub fn example_buy_quote(q: &ExampleQuote) -> Instruction {
    let authority = example_vault_authority(&q.program, &q.owner, &q.payments_program);
    let inner = super::receipt::pay(
        &q.payments_program,
        &PayAccounts {
            authority,
            rent_payer: q.rent_payer,
            source: associated_token_address(&authority, &q.mint, q.token_program),
            destination: associated_token_address(&q.oracle, &q.mint, q.token_program),
            mint: q.mint,
            token_program: q.token_program,
        },
        q.amount,
        &q.challenge_hash,
    );
    let mut accounts = vec![AccountMeta::new_readonly(q.owner, true)];
    accounts.push(inner.accounts[1].clone());
    accounts.push(AccountMeta::new_readonly(authority, false));
    accounts.extend(inner.accounts[2..].iter().cloned());
    accounts.push(AccountMeta::new_readonly(q.payments_program, false));
    let mut data = pay_data(q.amount, &q.challenge_hash);
    data[0] = 1;
    Instruction {
        program_id: q.program,
        accounts,
        data,
    }
}

/// The example vault's agent PDA acting for a policy wallet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExampleViaPolicy {
    /// The example-vault program.
    pub program: Address,
    /// The policy program.
    pub policy_program: Address,
    /// The vault's owner (signs the outer transaction).
    pub owner: Address,
    /// The policy wallet's owner.
    pub wallet_owner: Address,
}

impl ExampleViaPolicy {
    /// The wallet whose agent is the vault's agent PDA.
    pub fn wallet_keys(&self) -> WalletKeys {
        WalletKeys {
            program: self.policy_program,
            owner: self.wallet_owner,
            agent: example_vault_agent(&self.program, &self.owner, &self.policy_program),
        }
    }
}

/// Example vault `buyQuoteViaPolicy`: the vault's agent PDA pays through the policy wallet.
pub fn example_buy_quote_via_policy(via: &ExampleViaPolicy, p: &Payment) -> Instruction {
    let inner = pay(
        &via.wallet_keys(),
        &Payment {
            owner_signs: false,
            ..p.clone()
        },
    );
    let mut accounts = vec![AccountMeta::new_readonly(via.owner, true)];
    accounts.extend(inner.accounts.into_iter().map(|m| AccountMeta {
        is_signer: false,
        ..m
    }));
    accounts.push(AccountMeta::new_readonly(via.policy_program, false));
    let mut data = inner.data;
    data[0] = 2;
    Instruction {
        program_id: via.program,
        accounts,
        data,
    }
}

/// Example vault `buyQuoteViaPolicyWithReceipt`: as [`example_buy_quote_via_policy`], through
/// `payWithReceipt`; the agent PDA (which must hold lamports) funds the receipt.
pub fn example_buy_quote_via_policy_with_receipt(
    via: &ExampleViaPolicy,
    p: &Payment,
    payments_program: &Address,
    challenge_hash: &[u8; 32],
) -> Instruction {
    let k = via.wallet_keys();
    let inner = pay_with_receipt(
        &k,
        &Payment {
            owner_signs: false,
            ..p.clone()
        },
        payments_program,
        challenge_hash,
    );
    let mut accounts = vec![AccountMeta::new_readonly(via.owner, true)];
    accounts.extend(inner.accounts[..9].iter().map(|m| AccountMeta {
        is_signer: false,
        ..m.clone()
    }));
    accounts.push(AccountMeta::new_readonly(via.policy_program, false));
    accounts.extend(inner.accounts[9..].iter().cloned());
    let mut data = inner.data;
    data[0] = 3;
    Instruction {
        program_id: via.program,
        accounts,
        data,
    }
}

/// Example vault `topUpViaPolicy`: the vault program forwards the (keypair) agent's signature to
/// the policy's `topUpChannel`.
pub fn example_top_up_via_policy(
    program: &Address,
    k: &WalletKeys,
    c: &WalletChannel,
    channel: &Address,
    amount: u64,
    nonce: u64,
) -> Instruction {
    let inner = top_up_channel(k, c, channel, amount, nonce, false);
    let mut accounts = inner.accounts;
    accounts.push(AccountMeta::new_readonly(k.program, false));
    let mut data = vec![4];
    data.extend_from_slice(&nonce.to_le_bytes());
    data.extend_from_slice(&amount.to_le_bytes());
    Instruction {
        program_id: *program,
        accounts,
        data,
    }
}
