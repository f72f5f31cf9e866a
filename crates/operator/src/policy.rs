//! The spending rules, pure: the store runs [`decide`] inside the transaction that records the
//! transfer, on the policy and daily total it just locked. Rules are checked in a fixed order
//! and the first that fails names itself.

use mppsol_store::operator::{AccountStatus, Decision, PolicyContext, Violation};

/// Rule names, as they appear in problems and `policy.violation` events.
pub mod rule {
    /// The account or its policy is paused.
    pub const PAUSED: &str = "paused";
    /// The transfer is not in the account's currency.
    pub const CURRENCY: &str = "currency";
    /// Above the single-transfer limit.
    pub const MAX_SINGLE_TRANSFER: &str = "max_single_transfer";
    /// The counterparty is not on the allowed list.
    pub const COUNTERPARTY: &str = "counterparty";
    /// The memo is missing.
    pub const REQUIRE_MEMO: &str = "require_memo";
    /// The category is missing or not allowed.
    pub const CATEGORY: &str = "category";
    /// The day's total would pass the daily limit.
    pub const MAX_DAILY_SPEND: &str = "max_daily_spend";
}

fn reject(rule: &str, reason: String) -> Decision {
    Decision::Reject(Violation {
        rule: rule.to_owned(),
        reason,
    })
}

/// Accept, escalate (above the threshold, unless an operator is approving) or reject.
pub fn decide(ctx: &PolicyContext<'_>) -> Decision {
    let (account, policy, t) = (ctx.account, ctx.policy, ctx.transfer);
    if policy.paused || account.status == AccountStatus::Paused {
        return reject(rule::PAUSED, format!("account {} is paused", account.id));
    }
    if t.currency != account.currency {
        return reject(
            rule::CURRENCY,
            format!(
                "the account spends {}, not {}",
                account.currency, t.currency
            ),
        );
    }
    if let Some(max) = policy.max_single_transfer
        && t.amount > max
    {
        return reject(
            rule::MAX_SINGLE_TRANSFER,
            format!("{} is above the single-transfer limit of {max}", t.amount),
        );
    }
    if let Some(allowed) = &policy.allowed_counterparties
        && !allowed.contains(&t.counterparty)
    {
        return reject(
            rule::COUNTERPARTY,
            format!("{} is not an allowed counterparty", t.counterparty),
        );
    }
    if policy.require_memo && t.memo.as_deref().is_none_or(str::is_empty) {
        return reject(
            rule::REQUIRE_MEMO,
            "the account's policy requires a memo".into(),
        );
    }
    if let Some(categories) = &policy.categories {
        match &t.category {
            Some(c) if categories.contains(c) => {}
            Some(c) => {
                return reject(
                    rule::CATEGORY,
                    format!(
                        "category {c:?} is not allowed (allowed: {})",
                        categories.join(", ")
                    ),
                );
            }
            None => {
                return reject(
                    rule::CATEGORY,
                    format!("a category is required (one of: {})", categories.join(", ")),
                );
            }
        }
    }
    if let Some(max) = policy.max_daily_spend
        && ctx.spent_today.saturating_add(t.amount) > max
    {
        return reject(
            rule::MAX_DAILY_SPEND,
            format!(
                "{} with {} already spent today is above the daily limit of {max}",
                t.amount, ctx.spent_today
            ),
        );
    }
    if !ctx.approving
        && policy
            .escalation_threshold
            .is_some_and(|threshold| t.amount > threshold)
    {
        return Decision::Escalate;
    }
    Decision::Accept
}

#[cfg(test)]
mod tests {
    use super::*;
    use mppsol_store::operator::{Account, CustodyMode, NewTransfer, Policy, TransferKind};

    fn account() -> Account {
        Account {
            id: "acct_1".into(),
            operator_id: "op_1".into(),
            handle: "a".into(),
            address: "addr".into(),
            currency: "sol".into(),
            token_account: None,
            custody_mode: CustodyMode::Custodial,
            status: AccountStatus::Active,
            created_at: 0,
        }
    }

    fn transfer(amount: u64) -> NewTransfer {
        NewTransfer {
            account_id: "acct_1".into(),
            kind: TransferKind::Transfer,
            amount,
            currency: "sol".into(),
            counterparty: "bob".into(),
            memo: None,
            category: None,
            session_id: None,
            idempotency_key: "k".into(),
            request_hash: [0; 32],
            signature: None,
        }
    }

    fn rule_of(policy: &Policy, t: &NewTransfer, spent: u64, approving: bool) -> Option<String> {
        let account = account();
        match decide(&PolicyContext {
            account: &account,
            policy,
            spent_today: spent,
            transfer: t,
            approving,
        }) {
            Decision::Reject(v) => Some(v.rule),
            Decision::Escalate => Some("escalate".into()),
            Decision::Accept => None,
        }
    }

    #[test]
    fn each_rule_names_itself() {
        let open = Policy::default();
        assert_eq!(rule_of(&open, &transfer(5), 0, false), None);
        let paused = Policy {
            paused: true,
            ..Policy::default()
        };
        assert_eq!(
            rule_of(&paused, &transfer(5), 0, false).as_deref(),
            Some(rule::PAUSED)
        );
        let usdc = NewTransfer {
            currency: "mint".into(),
            ..transfer(5)
        };
        assert_eq!(
            rule_of(&open, &usdc, 0, false).as_deref(),
            Some(rule::CURRENCY)
        );
        let single = Policy {
            max_single_transfer: Some(4),
            ..Policy::default()
        };
        assert_eq!(
            rule_of(&single, &transfer(5), 0, false).as_deref(),
            Some(rule::MAX_SINGLE_TRANSFER)
        );
        assert_eq!(rule_of(&single, &transfer(4), 0, false), None);
        let list = Policy {
            allowed_counterparties: Some(vec!["alice".into()]),
            ..Policy::default()
        };
        assert_eq!(
            rule_of(&list, &transfer(5), 0, false).as_deref(),
            Some(rule::COUNTERPARTY)
        );
        let memo = Policy {
            require_memo: true,
            ..Policy::default()
        };
        assert_eq!(
            rule_of(&memo, &transfer(5), 0, false).as_deref(),
            Some(rule::REQUIRE_MEMO)
        );
        let with_memo = NewTransfer {
            memo: Some("rent".into()),
            ..transfer(5)
        };
        assert_eq!(rule_of(&memo, &with_memo, 0, false), None);
        let cats = Policy {
            categories: Some(vec!["api".into()]),
            ..Policy::default()
        };
        assert_eq!(
            rule_of(&cats, &transfer(5), 0, false).as_deref(),
            Some(rule::CATEGORY)
        );
        let api = NewTransfer {
            category: Some("api".into()),
            ..transfer(5)
        };
        assert_eq!(rule_of(&cats, &api, 0, false), None);
        let daily = Policy {
            max_daily_spend: Some(10),
            ..Policy::default()
        };
        assert_eq!(rule_of(&daily, &transfer(5), 5, false), None);
        assert_eq!(
            rule_of(&daily, &transfer(5), 6, false).as_deref(),
            Some(rule::MAX_DAILY_SPEND)
        );
    }

    #[test]
    fn above_the_threshold_escalates_unless_approving() {
        let policy = Policy {
            escalation_threshold: Some(100),
            ..Policy::default()
        };
        assert_eq!(rule_of(&policy, &transfer(100), 0, false), None);
        assert_eq!(
            rule_of(&policy, &transfer(101), 0, false).as_deref(),
            Some("escalate")
        );
        assert_eq!(rule_of(&policy, &transfer(101), 0, true), None);
    }
}
