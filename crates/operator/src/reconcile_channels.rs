//! The reconciler's session check against the chain: for every session that pays through a
//! channel, the channel account (decoded by the host decoders of `mppsol_solana::channel`)
//! against the session's cap, running total and status.
//!
//! | chain says | store says | reported as | `repair` |
//! |---|---|---|---|
//! | deposit ≠ cap | | `deposit` | cap := deposit (when it covers the running total) |
//! | settled > running total | | `settled_amount` | running total := settled, the difference recorded as a settled transfer |
//! | sealed or distributed, settled < running total | | `settled_amount` | no: the store recorded vouchers the close did not settle (money question) |
//! | sealed, distributed, or the account is gone | open or settling | `status` | settled, with the newest successful transaction on the channel account (its close) |
//! | open or closing | settled | `status` | no (reported) |
//! | not a channel account | | `account` | no |
//! | the channel's payer is neither the account nor its wallet | | `payer` | no (nothing else is compared) |

use mppsol_ledger::Ledger;
use mppsol_solana::channel::{ChannelState, ChannelStatus};
use mppsol_store::OperatorStore;
use mppsol_store::operator::{ChannelSession, SessionRepair};
use serde::Serialize;
use solana_address::Address;

use crate::reconcile::ReconcileError;

/// A session whose channel on chain disagrees with the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelDrift {
    /// The session.
    pub session_id: String,
    /// Its channel.
    pub channel_id: String,
    /// `deposit`, `settled_amount`, `status`, `payer` or `account`.
    pub problem: String,
    /// What the store holds.
    pub stored: String,
    /// What the chain holds.
    pub chain: String,
    /// Whether this run repaired it.
    pub repaired: bool,
}

fn is_closed(status: ChannelStatus) -> bool {
    matches!(status, ChannelStatus::Sealed | ChannelStatus::Distributed)
}

/// The drifts of one session given its channel account (`None`: the account is gone, which
/// only a closed and reclaimed channel is), and the repair the chain justifies.
pub fn compare(
    s: &ChannelSession,
    chain: Option<&ChannelState>,
) -> (Vec<ChannelDrift>, Option<SessionRepair>) {
    let drift = |problem: &str, stored: String, chain: String| ChannelDrift {
        session_id: s.session_id.clone(),
        channel_id: s.channel_id.clone(),
        problem: problem.to_owned(),
        stored,
        chain,
        repaired: false,
    };
    let mut drifts = Vec::new();
    let Some(c) = chain else {
        if s.status == "settled" {
            return (drifts, None);
        }
        drifts.push(drift(
            "status",
            s.status.clone(),
            "closed (account gone)".into(),
        ));
        let repair = SessionRepair {
            expected: s.clone(),
            cap: s.cap,
            running_total: None,
            settled: Some(None),
            payee: String::new(),
        };
        return (drifts, Some(repair));
    };
    // A channel another payer funds is not this account's: nothing on it says anything about
    // the session (an agent reported someone else's channel).
    let payer = c.payer.to_string();
    if payer != s.account_address && Some(&payer) != s.wallet.as_ref() {
        drifts.push(drift("payer", s.account_address.clone(), payer));
        return (drifts, None);
    }
    let mut repair = SessionRepair {
        expected: s.clone(),
        cap: s.cap,
        running_total: None,
        settled: None,
        payee: c.payee.to_string(),
    };
    if c.deposit != s.cap {
        drifts.push(drift("deposit", s.cap.to_string(), c.deposit.to_string()));
        if c.deposit >= s.running_total.max(c.settled) {
            repair.cap = c.deposit;
        }
    }
    if c.settled > s.running_total {
        drifts.push(drift(
            "settled_amount",
            s.running_total.to_string(),
            c.settled.to_string(),
        ));
        repair.running_total = Some(c.settled);
    } else if is_closed(c.status) && c.settled < s.running_total {
        drifts.push(drift(
            "settled_amount",
            s.running_total.to_string(),
            c.settled.to_string(),
        ));
    }
    let chain_status = format!("{:?}", c.status).to_lowercase();
    match (is_closed(c.status), s.status == "settled") {
        (true, false) => {
            drifts.push(drift("status", s.status.clone(), chain_status));
            repair.settled = Some(None);
        }
        (false, true) => drifts.push(drift("status", s.status.clone(), chain_status)),
        _ => {}
    }
    let useful = repair.cap != s.cap || repair.running_total.is_some() || repair.settled.is_some();
    (drifts, useful.then_some(repair))
}

/// Checks every channel session; repairs what the chain proves when `repair`.
pub async fn check_channels(
    store: &dyn OperatorStore,
    ledger: &dyn Ledger,
    repair: bool,
    now: i64,
) -> Result<Vec<ChannelDrift>, ReconcileError> {
    let mut out = Vec::new();
    for s in store.channel_sessions().await? {
        let Ok(address) = s.channel_id.parse::<Address>() else {
            out.push(ChannelDrift {
                session_id: s.session_id.clone(),
                channel_id: s.channel_id.clone(),
                problem: "account".into(),
                stored: s.channel_id.clone(),
                chain: "not an address".into(),
                repaired: false,
            });
            continue;
        };
        let state = match ledger.get_account(&address).await? {
            None => None,
            Some(a) => match ChannelState::decode(&a.data) {
                Ok(state) => Some(state),
                Err(e) => {
                    out.push(ChannelDrift {
                        session_id: s.session_id.clone(),
                        channel_id: s.channel_id.clone(),
                        problem: "account".into(),
                        stored: "a channel".into(),
                        chain: e.to_string(),
                        repaired: false,
                    });
                    continue;
                }
            },
        };
        let (mut drifts, mut fix) = compare(&s, state.as_ref());
        if repair && let Some(fix) = fix.as_mut() {
            fix.settled = match fix.settled.take() {
                // A session settled by this repair carries the transaction that closed its
                // channel: the newest successful one touching the channel account.
                Some(None) => Some(closing_signature(ledger, &address).await?),
                other => other,
            };
        }
        if repair
            && let Some(fix) = fix
            && store.repair_session(&fix, now).await?
        {
            // Mark what the repair covered: cap, an upward total, and the settled status.
            for d in &mut drifts {
                d.repaired = match d.problem.as_str() {
                    "deposit" => fix.cap != s.cap,
                    "settled_amount" => fix.running_total.is_some(),
                    "status" => fix.settled.is_some(),
                    _ => false,
                };
            }
        }
        out.extend(drifts);
    }
    Ok(out)
}

/// The newest successful transaction that touched a closed channel's account (its close or,
/// after a reclaim, the reclaim), when the chain still has it.
async fn closing_signature(
    ledger: &dyn Ledger,
    channel: &Address,
) -> Result<Option<String>, ReconcileError> {
    let history = ledger.signatures_for_address(channel, None, 16).await?;
    Ok(history
        .into_iter()
        .find(|h| h.err.is_none())
        .map(|h| h.signature.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(status: &str, cap: u64, total: u64) -> ChannelSession {
        ChannelSession {
            session_id: "sess_a".into(),
            operator_id: "op_a".into(),
            channel_id: Address::new_from_array([7; 32]).to_string(),
            cap,
            running_total: total,
            status: status.into(),
            settlement_signature: None,
            // A blank channel's payer.
            account_address: Address::default().to_string(),
            wallet: None,
        }
    }

    fn channel(status: ChannelStatus, deposit: u64, settled: u64) -> ChannelState {
        let mut d = [0u8; mppsol_solana::channel::state::CHANNEL_ACCOUNT_LEN];
        d[0] = mppsol_solana::channel::state::CHANNEL_DISCRIMINATOR;
        d[1] = mppsol_solana::channel::state::CHANNEL_VERSION;
        let mut c = ChannelState::decode(&d).expect("a blank channel decodes");
        c.status = status;
        c.deposit = deposit;
        c.settled = settled;
        c
    }

    #[test]
    fn an_open_channel_ahead_of_its_settlement_is_no_drift() {
        let (d, r) = compare(
            &session("open", 1_000, 300),
            Some(&channel(ChannelStatus::Open, 1_000, 0)),
        );
        assert_eq!((d, r), (vec![], None));
    }

    #[test]
    fn a_closed_channel_settles_the_session_and_corrects_amounts_upward_only() {
        let (d, r) = compare(
            &session("open", 1_000, 300),
            Some(&channel(ChannelStatus::Distributed, 1_500, 400)),
        );
        let problems: Vec<&str> = d.iter().map(|d| d.problem.as_str()).collect();
        assert_eq!(problems, ["deposit", "settled_amount", "status"]);
        let r = r.expect("a repair");
        assert_eq!(
            (r.cap, r.running_total, r.settled),
            (1_500, Some(400), Some(None))
        );

        let (d, r) = compare(
            &session("open", 1_000, 300),
            Some(&channel(ChannelStatus::Sealed, 1_000, 200)),
        );
        assert_eq!(d[0].problem, "settled_amount");
        let r = r.expect("the status is still repaired");
        assert_eq!((r.running_total, r.settled), (None, Some(None)));
    }

    #[test]
    fn a_channel_of_another_payer_is_reported_and_nothing_repaired() {
        let mut s = session("open", 1_000, 300);
        s.account_address = Address::new_from_array([9; 32]).to_string();
        let (d, r) = compare(&s, Some(&channel(ChannelStatus::Distributed, 5_000, 5_000)));
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].problem.as_str(), r), ("payer", None));
        s.wallet = Some(Address::default().to_string());
        let (d, _) = compare(&s, Some(&channel(ChannelStatus::Open, 1_000, 0)));
        assert_eq!(d, vec![], "the account's wallet pays its channels");
    }

    #[test]
    fn a_vanished_channel_settles_an_open_session() {
        let (d, r) = compare(&session("open", 1_000, 300), None);
        assert_eq!(d[0].problem, "status");
        assert_eq!(r.expect("repair").settled, Some(None));
        assert_eq!(
            compare(&session("settled", 1_000, 300), None),
            (vec![], None)
        );
    }
}
