//! Landed transactions and the metadata a node records for them.

use std::collections::HashMap;
use std::sync::Arc;

use litesvm::LiteSVM;
use solana_address::Address;
use solana_message::inner_instruction::InnerInstructionsList;
use solana_signature::Signature;
use solana_transaction::versioned::VersionedTransaction;
use solana_transaction_error::TransactionError;

use crate::{InnerInstructions, LandedTransaction, TokenBalance, token};

/// A landed transaction plus what the JSON-RPC server needs beyond [`LandedTransaction`].
#[derive(Debug, Clone)]
pub(crate) struct LandedRecord {
    /// The trait-level view.
    pub landed: LandedTransaction,
    /// The structured error (for the RPC's JSON form).
    pub tx_error: Option<TransactionError>,
    /// Compute units the transaction consumed.
    pub compute_units: u64,
    /// All account keys: static, then loaded writable, then loaded readonly.
    pub account_keys: Vec<Address>,
    /// Addresses loaded from lookup tables, writable.
    pub loaded_writable: Vec<Address>,
    /// Addresses loaded from lookup tables, readonly.
    pub loaded_readonly: Vec<Address>,
    /// Stack height of each inner instruction, parallel to `landed.inner_instructions`.
    pub inner_stack_heights: Vec<Vec<u32>>,
}

/// Account keys of a transaction with lookup tables resolved.
#[derive(Debug, Clone, Default)]
pub(crate) struct Keys {
    pub all: Vec<Address>,
    pub loaded_writable: Vec<Address>,
    pub loaded_readonly: Vec<Address>,
}

/// Lookup tables start with 56 bytes of metadata, then 32-byte addresses.
const LOOKUP_TABLE_META_SIZE: usize = 56;

/// Resolves the transaction's account keys. Lookups that cannot be resolved are skipped:
/// LiteSVM rejects such a transaction anyway, so it never lands.
pub(crate) fn resolve_keys(svm: &LiteSVM, tx: &VersionedTransaction) -> Keys {
    let mut keys = Keys {
        all: tx.message.static_account_keys().to_vec(),
        ..Keys::default()
    };
    let Some(lookups) = tx.message.address_table_lookups() else {
        return keys;
    };
    let mut readonly = Vec::new();
    for lookup in lookups {
        let Some(table) = svm.get_account(&lookup.account_key) else {
            continue;
        };
        let addresses: Vec<Address> = table
            .data
            .get(LOOKUP_TABLE_META_SIZE..)
            .unwrap_or_default()
            .chunks_exact(32)
            .filter_map(|chunk| {
                <[u8; 32]>::try_from(chunk)
                    .ok()
                    .map(Address::new_from_array)
            })
            .collect();
        let pick = |indexes: &[u8]| -> Vec<Address> {
            indexes
                .iter()
                .filter_map(|i| addresses.get(usize::from(*i)).copied())
                .collect()
        };
        keys.loaded_writable.extend(pick(&lookup.writable_indexes));
        readonly.extend(pick(&lookup.readonly_indexes));
    }
    keys.loaded_readonly = readonly;
    keys.all.extend(keys.loaded_writable.iter().copied());
    keys.all.extend(keys.loaded_readonly.iter().copied());
    keys
}

/// Lamport and token balances of a transaction's accounts at one moment.
#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    pub lamports: Vec<u64>,
    pub tokens: Vec<TokenBalance>,
}

/// Reads lamports of every key and the token balance of every key that is a token account.
pub(crate) fn snapshot(svm: &LiteSVM, keys: &[Address]) -> Snapshot {
    let mut decimals: HashMap<Address, Option<u8>> = HashMap::new();
    let mut snap = Snapshot::default();
    for (index, key) in keys.iter().enumerate() {
        let account = svm.get_account(key);
        snap.lamports
            .push(account.as_ref().map_or(0, |a| a.lamports));
        let Some(state) = account.as_ref().and_then(token::parse_token_account) else {
            continue;
        };
        let mint_decimals = *decimals.entry(state.mint).or_insert_with(|| {
            svm.get_account(&state.mint)
                .as_ref()
                .and_then(token::parse_mint)
                .map(|m| m.decimals)
        });
        // Token balances index into the keys with a u8, as the node's metadata does.
        let (Some(decimals), Ok(account_index)) = (mint_decimals, u8::try_from(index)) else {
            continue;
        };
        snap.tokens.push(TokenBalance {
            account_index,
            mint: state.mint,
            owner: state.owner,
            program_id: state.program_id,
            amount: state.amount,
            decimals,
        });
    }
    snap
}

/// Splits LiteSVM's inner instructions into the trait form and the stack heights; top-level
/// instructions that invoked nothing are left out, as the node does.
pub(crate) fn inner_instructions(
    list: &InnerInstructionsList,
) -> (Vec<InnerInstructions>, Vec<Vec<u32>>) {
    let mut out = Vec::new();
    let mut heights = Vec::new();
    for (index, inner) in list.iter().enumerate() {
        let Ok(index) = u8::try_from(index) else {
            break;
        };
        if inner.is_empty() {
            continue;
        }
        out.push(InnerInstructions {
            index,
            instructions: inner.iter().map(|i| i.instruction.clone()).collect(),
        });
        heights.push(inner.iter().map(|i| u32::from(i.stack_height)).collect());
    }
    (out, heights)
}

/// Every landed transaction, by signature and in landing order.
#[derive(Debug, Default)]
pub(crate) struct History {
    by_signature: HashMap<Signature, Arc<LandedRecord>>,
    order: Vec<Signature>,
}

impl History {
    pub fn contains(&self, signature: &Signature) -> bool {
        self.by_signature.contains_key(signature)
    }

    pub fn get(&self, signature: &Signature) -> Option<Arc<LandedRecord>> {
        self.by_signature.get(signature).cloned()
    }

    pub fn insert(&mut self, record: LandedRecord) {
        let signature = record.landed.signature;
        self.order.push(signature);
        self.by_signature.insert(signature, Arc::new(record));
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Records that touched `address`, newest first, after `before` (exclusive) and down to
    /// `until` (exclusive), at most `limit`.
    pub fn for_address(
        &self,
        address: &Address,
        before: Option<&Signature>,
        until: Option<&Signature>,
        limit: usize,
    ) -> Vec<Arc<LandedRecord>> {
        let mut out = Vec::new();
        let mut started = before.is_none();
        for signature in self.order.iter().rev() {
            if !started {
                started = Some(signature) == before;
                continue;
            }
            if Some(signature) == until || out.len() >= limit {
                break;
            }
            if let Some(record) = self.by_signature.get(signature)
                && record.account_keys.contains(address)
            {
                out.push(Arc::clone(record));
            }
        }
        out
    }
}
