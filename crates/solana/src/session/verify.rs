//! The server's pure checks of client-built session transactions (`open`, `topUp`), before
//! anything is co-signed: the transaction must do exactly what the credential and the challenge
//! say, and nothing with the operator's key beyond paying fees and channel rent.

use solana_address::Address;
use solana_message::VersionedMessage;
use solana_transaction::versioned::VersionedTransaction;

use super::payload::{OpenAction, TopUpAction};
use super::request::{SessionRequest, VoucherSigner};
use super::{OPEN_SLOT_WINDOW, SessionError};
use crate::channel::ix::decode;
use crate::channel::ix::{OpenArgs, OpenKeys, TokenKeys};
use crate::channel::{ChannelInstruction, ChannelSeeds, DistributionSplit, find_channel_address};
use crate::token::{TokenProgram, associated_token_address};

/// Compute-budget program: the only other program an open or top-up may call.
const COMPUTE_BUDGET: Address =
    Address::from_str_const("ComputeBudget111111111111111111111111111111");

/// Highest compute-unit price (micro-lamports) the operator pays for a client-built transaction.
pub const MAX_PRIORITY_MICRO_LAMPORTS: u64 = 1_000_000;

/// What the server knows when checking an open.
#[derive(Debug, Clone, Copy)]
pub struct OpenTerms<'a> {
    /// The echoed challenge request.
    pub request: &'a SessionRequest,
    /// The operator: fee payer and rent payer.
    pub operator: &'a Address,
    /// The configured channel program.
    pub program: &'a Address,
    /// The mint's token program, as the server read it.
    pub token_program: TokenProgram,
    /// The cluster's current slot, as the server sees it.
    pub current_slot: u64,
    /// The policy program whose `fundChannel` may open the channel (`None`: direct opens only).
    pub policy_program: Option<&'a Address>,
}

/// A checked open.
#[derive(Debug, Clone)]
pub struct CheckedOpen {
    /// Decoded arguments.
    pub args: OpenArgs,
    /// Decoded accounts.
    pub keys: OpenKeys,
    /// Direct, or through a policy wallet.
    pub route: Route,
}

fn invalid(what: &'static str) -> SessionError {
    SessionError::Invalid(what)
}

/// How a client-built transaction reaches the channel program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The channel instruction itself, signed by the channel's payer.
    Direct,
    /// The policy program's `fundChannel` / `topUpChannel`: the channel's payer is the wallet
    /// PDA of `(owner, agent)`, which signs by CPI; the agent signed the transaction (and pays
    /// the channel's rent on open).
    PolicyWallet {
        /// The wallet's agent (the transaction's signer, the channel's voucher signer).
        agent: Address,
        /// The wallet's owner.
        owner: Address,
    },
}

/// `fundChannel` / `topUpChannel` discriminators and account counts (`docs/003`).
const FUND_CHANNEL: (u8, usize) = (5, 15);
const TOP_UP_CHANNEL: (u8, usize) = (6, 9);
/// `fundChannel`'s payee account.
const FUND_CHANNEL_PAYEE: usize = 4;

/// The channel instruction a policy-program instruction performs by CPI, rebuilt in the
/// channel program's own account order, and the wallet's agent and owner.
fn through_policy(
    policy_program: &Address,
    channel_program: &Address,
    operator: &Address,
    accounts: &[Address],
    data: &[u8],
) -> Result<(solana_instruction::Instruction, Route), SessionError> {
    use solana_instruction::AccountMeta;
    let (&d, rest) = data
        .split_first()
        .ok_or(invalid("transaction (empty policy instruction)"))?;
    let expected = match d {
        x if x == FUND_CHANNEL.0 => FUND_CHANNEL.1,
        x if x == TOP_UP_CHANNEL.0 => TOP_UP_CHANNEL.1,
        _ => {
            return Err(invalid(
                "transaction (only fundChannel or topUpChannel of the policy program)",
            ));
        }
    };
    if accounts.len() != expected || rest.len() < 8 {
        return Err(invalid("transaction (malformed policy instruction)"));
    }
    // The operator pays fees; it must not be the agent, owner or any account the wallet moves.
    // It may be the open's payee (a server that is its own operator), which nothing signs for.
    let payee_at = (d == FUND_CHANNEL.0).then_some(FUND_CHANNEL_PAYEE);
    if accounts
        .iter()
        .enumerate()
        .any(|(i, a)| a == operator && Some(i) != payee_at)
    {
        return Err(invalid(
            "transaction (the operator is an account of the policy instruction)",
        ));
    }
    let (agent, owner, wallet) = (accounts[0], accounts[1], accounts[2]);
    if accounts[3] != *channel_program {
        return Err(invalid(
            "transaction (the policy instruction calls another channel program)",
        ));
    }
    if crate::policy::find_wallet_address(policy_program, &owner, &agent).0 != wallet {
        return Err(invalid(
            "transaction (the wallet is not [wallet, owner, agent])",
        ));
    }
    let meta = |a: Address| AccountMeta::new(a, false);
    let metas: Vec<AccountMeta> = if d == FUND_CHANNEL.0 {
        // open: payer (the wallet), rent payer (the agent), then the channel's own order.
        [wallet, agent]
            .into_iter()
            .chain(accounts[4..15].iter().copied())
            .chain([*channel_program])
            .map(meta)
            .collect()
    } else {
        // topUp: payer, channel, payer token account, escrow, mint, token program.
        [wallet]
            .into_iter()
            .chain(accounts[4..9].iter().copied())
            .map(meta)
            .collect()
    };
    Ok((
        solana_instruction::Instruction {
            program_id: *channel_program,
            accounts: metas,
            data: rest[8..].to_vec(),
        },
        Route::PolicyWallet { agent, owner },
    ))
}

/// The one channel instruction of a sponsored transaction, with the checks every such
/// transaction needs: fee payer = operator, only compute-budget instructions besides it, no
/// lookup tables, exactly the operator and the client as signers. The instruction is the
/// channel program's, signed by `payer`, or (with `policy_program`) the policy program's
/// `fundChannel`/`topUpChannel` for the wallet `payer`, signed by its agent.
fn sole_channel_instruction(
    tx: &VersionedTransaction,
    operator: &Address,
    program: &Address,
    payer: &Address,
    policy_program: Option<&Address>,
) -> Result<(ChannelInstruction, Route), SessionError> {
    let msg = &tx.message;
    if let VersionedMessage::V0(m) = msg
        && !m.address_table_lookups.is_empty()
    {
        return Err(invalid(
            "transaction (address lookup tables are not accepted)",
        ));
    }
    let keys = msg.static_account_keys();
    if keys.first() != Some(operator) {
        return Err(invalid(
            "transaction fee payer (must be the challenge's feePayerKey)",
        ));
    }
    let header = msg.header();
    if header.num_required_signatures != 2 || tx.signatures.len() != 2 {
        return Err(invalid(
            "transaction signers (exactly the operator and the payer)",
        ));
    }
    let signer = *keys
        .get(1)
        .ok_or(invalid("transaction signer (the payer must sign)"))?;
    // The client's signature must already be valid: we add only ours.
    let message_bytes = msg.serialize();
    if !tx.signatures[1].verify(signer.as_ref(), &message_bytes) {
        return Err(SessionError::BadSignature("payer transaction"));
    }
    let mut found = None;
    for ix in msg.instructions() {
        let pid = keys
            .get(usize::from(ix.program_id_index))
            .ok_or(invalid("transaction (program index out of range)"))?;
        if *pid == COMPUTE_BUDGET {
            check_compute_budget(&ix.data)?;
            continue;
        }
        if pid != program && Some(pid) != policy_program {
            return Err(invalid(
                "transaction (only the channel program may be called)",
            ));
        }
        if found.is_some() {
            return Err(invalid("transaction (exactly one channel instruction)"));
        }
        let (instruction, route) = if pid == program {
            let metas = ix
                .accounts
                .iter()
                .map(|&i| {
                    let i = usize::from(i);
                    let key = keys
                        .get(i)
                        .copied()
                        .ok_or(invalid("transaction (account index out of range)"))?;
                    Ok(solana_instruction::AccountMeta {
                        pubkey: key,
                        is_signer: msg.is_signer(i),
                        is_writable: static_writable(msg, i),
                    })
                })
                .collect::<Result<Vec<_>, SessionError>>()?;
            let instruction = solana_instruction::Instruction {
                program_id: *pid,
                accounts: metas,
                data: ix.data.clone(),
            };
            (instruction, Route::Direct)
        } else {
            let accounts = ix
                .accounts
                .iter()
                .map(|&i| keys.get(usize::from(i)).copied())
                .collect::<Option<Vec<_>>>()
                .ok_or(invalid("transaction (account index out of range)"))?;
            through_policy(pid, program, operator, &accounts, &ix.data)?
        };
        let expected_signer = match route {
            Route::Direct => *payer,
            Route::PolicyWallet { agent, .. } => agent,
        };
        if signer != expected_signer {
            return Err(invalid("transaction signer (the payer must sign)"));
        }
        let decoded = decode(program, &instruction).map_err(|e| SessionError::Malformed {
            what: "transaction",
            detail: e.to_string(),
        })?;
        found = Some((decoded, route));
    }
    found.ok_or(invalid("transaction (no channel instruction)"))
}

/// Whether static account `i` is writable per the message header.
fn static_writable(msg: &VersionedMessage, i: usize) -> bool {
    let h = msg.header();
    let signed = usize::from(h.num_required_signatures);
    let n = msg.static_account_keys().len();
    if i < signed {
        i < signed - usize::from(h.num_readonly_signed_accounts)
    } else {
        i < n.saturating_sub(usize::from(h.num_readonly_unsigned_accounts))
    }
}

fn check_compute_budget(data: &[u8]) -> Result<(), SessionError> {
    match data.first() {
        // SetComputeUnitLimit(u32)
        Some(2) if data.len() == 5 => Ok(()),
        // SetComputeUnitPrice(u64)
        Some(3) if data.len() == 9 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&data[1..9]);
            if u64::from_le_bytes(b) > MAX_PRIORITY_MICRO_LAMPORTS {
                Err(invalid("transaction (priority fee above the cap)"))
            } else {
                Ok(())
            }
        }
        _ => Err(invalid(
            "transaction (unsupported compute-budget instruction)",
        )),
    }
}

/// Spec §Open steps 1–11: the decoded transaction, the credential, the challenge and the derived
/// PDA must all agree.
pub fn check_open_transaction(
    tx: &VersionedTransaction,
    open: &OpenAction,
    terms: &OpenTerms<'_>,
) -> Result<CheckedOpen, SessionError> {
    let req = terms.request;
    let d = &req.method_details;
    if d.channel_id.is_some() {
        return Err(invalid("open (the challenge resumes a channel)"));
    }
    let (instruction, route) = sole_channel_instruction(
        tx,
        terms.operator,
        terms.program,
        &open.payer,
        terms.policy_program,
    )?;
    let ChannelInstruction::Open { args, keys } = instruction else {
        return Err(invalid("transaction (the channel instruction is not open)"));
    };
    let keys = *keys;
    if Some(tx.message.recent_blockhash()) != d.recent_blockhash.as_ref() {
        return Err(invalid(
            "transaction blockhash (must be the challenge's recentBlockhash)",
        ));
    }
    if keys.payer != open.payer {
        return Err(invalid("open payer"));
    }
    let rent_payer = match route {
        Route::Direct => *terms.operator,
        Route::PolicyWallet { agent, .. } => agent,
    };
    if keys.rent_payer != rent_payer {
        return Err(invalid(
            "open rentPayer (the operator, or the agent of a policy wallet)",
        ));
    }
    if keys.payee != req.recipient || open.payee != req.recipient {
        return Err(invalid("open payee (must be the challenge's recipient)"));
    }
    let mint = req.mint()?;
    if keys.mint != mint || open.mint != mint {
        return Err(invalid("open mint (must be the challenge's currency)"));
    }
    if keys.authorized_signer != open.authorized_signer || !open.authorized_signer.is_on_curve() {
        return Err(invalid("open authorizedSigner"));
    }
    match req.voucher_signer() {
        VoucherSigner::Client => {
            if open.authentication.is_some() {
                return Err(invalid("open authentication (client vouchers carry none)"));
            }
        }
        VoucherSigner::Operator => {
            if Some(open.authorized_signer) != d.operator {
                return Err(invalid(
                    "open authorizedSigner (must be the challenged operator)",
                ));
            }
            if open.authentication.is_none() {
                return Err(invalid(
                    "open authentication (required for operator vouchers)",
                ));
            }
        }
    }
    if args.salt != open.salt {
        return Err(invalid("open salt"));
    }
    if args.deposit != open.deposit_amount || args.deposit == 0 {
        return Err(invalid("open depositAmount"));
    }
    if req.minimum_deposit.is_some_and(|m| args.deposit < m.get()) {
        return Err(invalid("open depositAmount (below minimumDeposit)"));
    }
    if Some(open.grace_period_seconds) != d.grace_period_seconds
        || args.grace_period != open.grace_period_seconds
    {
        return Err(invalid("open gracePeriodSeconds"));
    }
    if args.open_slot != open.open_slot {
        return Err(invalid("open openSlot"));
    }
    let recent = d.recent_slot.unwrap_or(0);
    let in_window = |reference: u64| {
        open.open_slot <= reference && reference - open.open_slot <= OPEN_SLOT_WINDOW
    };
    if !in_window(recent) || !in_window(terms.current_slot.max(recent)) {
        return Err(invalid("open openSlot (outside the open-slot window)"));
    }
    let challenged: Vec<DistributionSplit> = d
        .distribution_splits
        .iter()
        .map(|e| DistributionSplit {
            recipient: e.recipient,
            share_bps: e.share_bps,
        })
        .collect();
    let declared: Vec<DistributionSplit> = open
        .distribution_splits
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|e| DistributionSplit {
            recipient: e.recipient,
            share_bps: e.share_bps,
        })
        .collect();
    if args.splits != challenged || declared != challenged {
        return Err(invalid(
            "open distributionSplits (must match the challenge)",
        ));
    }
    let (pda, _) = find_channel_address(
        terms.program,
        &ChannelSeeds {
            payer: open.payer,
            payee: req.recipient,
            mint,
            authorized_signer: open.authorized_signer,
            salt: open.salt,
            open_slot: open.open_slot,
        },
    );
    if keys.channel != pda || open.channel_id != pda {
        return Err(invalid(
            "open channelId (does not derive from the open parameters)",
        ));
    }
    if keys.token_program != terms.token_program.id()
        || d.token_program.is_some_and(|t| t != keys.token_program)
    {
        return Err(invalid("open token program"));
    }
    if keys.channel_token_account != associated_token_address(&pda, &mint, terms.token_program) {
        return Err(invalid(
            "open escrow (must be the channel's associated token account)",
        ));
    }
    Ok(CheckedOpen { args, keys, route })
}

/// A checked top-up.
#[derive(Debug, Clone)]
pub struct CheckedTopUp {
    /// Amount added.
    pub amount: u64,
    /// Decoded accounts.
    pub keys: TokenKeys,
}

/// Spec §TopUp step 2: the transaction only increases the deposit of this channel.
pub fn check_top_up_transaction(
    tx: &VersionedTransaction,
    top_up: &TopUpAction,
    payer: &Address,
    operator: &Address,
    program: &Address,
    policy_program: Option<&Address>,
) -> Result<CheckedTopUp, SessionError> {
    let (ChannelInstruction::TopUp { amount, keys }, _) =
        sole_channel_instruction(tx, operator, program, payer, policy_program)?
    else {
        return Err(invalid(
            "transaction (the channel instruction is not topUp)",
        ));
    };
    if keys.channel != top_up.channel_id || keys.payer != *payer {
        return Err(invalid("topUp channel or payer"));
    }
    if amount != top_up.additional_amount || amount == 0 {
        return Err(invalid("topUp additionalAmount"));
    }
    Ok(CheckedTopUp { amount, keys })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::DEV_CHANNEL_PROGRAM_ID as CHANNEL;
    use crate::policy::DEV_POLICY_PROGRAM_ID as POLICY;
    use crate::policy::ix::{WalletChannel, WalletKeys, fund_channel, top_up_channel};

    fn addr(n: u8) -> Address {
        Address::new_from_array([n; 32])
    }

    fn wallet_channel() -> WalletChannel {
        WalletChannel {
            channel_program: CHANNEL,
            payee: addr(4),
            mint: addr(5),
            token_program: TokenProgram::Token,
        }
    }

    fn args() -> OpenArgs {
        OpenArgs {
            salt: 7,
            deposit: 20_000,
            grace_period: 900,
            open_slot: 3,
            splits: Vec::new(),
        }
    }

    fn keys_of(ix: &solana_instruction::Instruction) -> Vec<Address> {
        ix.accounts.iter().map(|m| m.pubkey).collect()
    }

    #[test]
    fn fund_channel_is_rebuilt_as_the_open_the_wallet_signs_by_cpi() {
        let k = WalletKeys {
            program: POLICY,
            owner: addr(2),
            agent: addr(3),
        };
        let ix = fund_channel(&k, &wallet_channel(), &args(), 1, false);
        let (inner, route) = through_policy(&POLICY, &CHANNEL, &addr(9), &keys_of(&ix), &ix.data)
            .expect("well-formed fundChannel");
        assert_eq!(
            route,
            Route::PolicyWallet {
                agent: addr(3),
                owner: addr(2)
            }
        );
        let ChannelInstruction::Open { args: a, keys } = decode(&CHANNEL, &inner).unwrap() else {
            panic!("not an open");
        };
        assert_eq!(a, args());
        assert_eq!(keys.payer, k.wallet());
        assert_eq!(keys.rent_payer, addr(3));
        assert_eq!(keys.authorized_signer, addr(3));
        assert_eq!(
            keys.payer_token_account,
            k.vault(&addr(5), TokenProgram::Token)
        );
        assert_eq!(keys.channel, wallet_channel().channel_address(&k, &args()));

        let top = top_up_channel(&k, &wallet_channel(), &keys.channel, 500, 2, false);
        let (inner, _) =
            through_policy(&POLICY, &CHANNEL, &addr(9), &keys_of(&top), &top.data).unwrap();
        let ChannelInstruction::TopUp { amount, keys: t } = decode(&CHANNEL, &inner).unwrap()
        else {
            panic!("not a topUp");
        };
        assert_eq!(
            (amount, t.payer, t.channel),
            (500, k.wallet(), keys.channel)
        );
    }

    #[test]
    fn the_operator_another_channel_program_or_a_foreign_wallet_is_refused() {
        let operator = addr(9);
        // The operator as the wallet's owner (or agent) would lend its signature to the wallet.
        for (owner, agent) in [(operator, addr(3)), (addr(2), operator)] {
            let k = WalletKeys {
                program: POLICY,
                owner,
                agent,
            };
            let ix = fund_channel(&k, &wallet_channel(), &args(), 1, false);
            assert!(through_policy(&POLICY, &CHANNEL, &operator, &keys_of(&ix), &ix.data).is_err());
        }
        let k = WalletKeys {
            program: POLICY,
            owner: addr(2),
            agent: addr(3),
        };
        let ix = fund_channel(&k, &wallet_channel(), &args(), 1, false);
        let accounts = keys_of(&ix);
        assert!(through_policy(&POLICY, &addr(8), &operator, &accounts, &ix.data).is_err());
        let mut foreign = accounts.clone();
        foreign[2] = addr(6);
        assert!(through_policy(&POLICY, &CHANNEL, &operator, &foreign, &ix.data).is_err());
        // The operator may be the payee (a server operating its own channels).
        let own = WalletChannel {
            payee: operator,
            ..wallet_channel()
        };
        let ix = fund_channel(&k, &own, &args(), 1, false);
        assert!(through_policy(&POLICY, &CHANNEL, &operator, &keys_of(&ix), &ix.data).is_ok());
        // Any other policy instruction (here `setPaused`) is not a channel route.
        assert!(through_policy(&POLICY, &CHANNEL, &operator, &accounts, &[7, 1]).is_err());
    }
}
