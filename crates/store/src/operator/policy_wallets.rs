//! Policy wallets of custodial accounts (`migrations/*/0006_policy_wallets.sql`): each
//! operator's sealed owner key and each account's wallet in the spending-policy program. The
//! SQL is expanded inside each backend's `operator_sql` module by [`operator_sql_policy_wallets`].

use serde::Serialize;

/// An operator's policy-wallet owner key, sealed with the master key.
#[derive(Clone, PartialEq, Eq)]
pub struct PolicyOwner {
    /// The owner's address (base58).
    pub address: String,
    /// The sealed secret key.
    pub sealed_key: Vec<u8>,
}

impl std::fmt::Debug for PolicyOwner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyOwner")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// A custodial account's wallet in the policy program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyWalletRecord {
    /// The policy program (base58).
    pub program: String,
    /// The wallet's owner: the operator's owner key (base58).
    pub owner: String,
    /// The wallet PDA (base58); its agent is the account's address.
    pub wallet: String,
}

/// Expands the policy-wallet SQL.
macro_rules! operator_sql_policy_wallets {
    () => {
        use crate::operator::policy_wallets::{PolicyOwner, PolicyWalletRecord};

        pub(super) async fn policy_owner(
            pool: &Pool,
            operator_id: &str,
        ) -> Result<Option<PolicyOwner>, StoreError> {
            let found: Option<(String, Vec<u8>)> = sqlx::query_as(
                "SELECT address, sealed_key FROM policy_owners WHERE operator_id = $1",
            )
            .bind(operator_id)
            .fetch_optional(pool)
            .await?;
            Ok(found.map(|(address, sealed_key)| PolicyOwner { address, sealed_key }))
        }

        pub(super) async fn insert_policy_owner(
            pool: &Pool,
            operator_id: &str,
            owner: &PolicyOwner,
            now: i64,
        ) -> Result<PolicyOwner, StoreError> {
            // First writer wins: two requests creating the key at once end with one key.
            sqlx::query(
                "INSERT INTO policy_owners (operator_id, address, sealed_key, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (operator_id) DO NOTHING",
            )
            .bind(operator_id)
            .bind(&owner.address)
            .bind(&owner.sealed_key)
            .bind(now)
            .execute(pool)
            .await?;
            policy_owner(pool, operator_id)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("policy owner of {operator_id}")))
        }

        pub(super) async fn set_account_policy_wallet(
            pool: &Pool,
            account_id: &str,
            wallet: &PolicyWalletRecord,
            now: i64,
        ) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO account_policy_wallets (account_id, program, owner, wallet, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(account_id)
            .bind(&wallet.program)
            .bind(&wallet.owner)
            .bind(&wallet.wallet)
            .bind(now)
            .execute(pool)
            .await?;
            Ok(())
        }

        pub(super) async fn account_policy_wallet(
            pool: &Pool,
            account_id: &str,
        ) -> Result<Option<PolicyWalletRecord>, StoreError> {
            let found: Option<(String, String, String)> = sqlx::query_as(
                "SELECT program, owner, wallet FROM account_policy_wallets WHERE account_id = $1",
            )
            .bind(account_id)
            .fetch_optional(pool)
            .await?;
            Ok(found.map(|(program, owner, wallet)| PolicyWalletRecord { program, owner, wallet }))
        }
    };
}

pub(crate) use operator_sql_policy_wallets;
