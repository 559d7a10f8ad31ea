//! Finding the wallet an operator means, in admin's terms (not found,
//! ambiguous); the queries are [`crate::wallets::lookup`]'s.

use sqlx::PgConnection;

use super::AdminError;
pub use crate::wallets::{WalletInfo, WalletRef};

/// The one wallet `wallet_ref` names. A user with several wallets must be
/// told apart by address.
pub async fn find(
    conn: &mut PgConnection,
    wallet_ref: &WalletRef,
) -> Result<WalletInfo, AdminError> {
    let found = crate::wallets::lookup::matching(conn, wallet_ref).await?;
    match &found[..] {
        [one] => Ok(one.clone()),
        [] => Err(AdminError::NotFound(format!("{wallet_ref} not found"))),
        many => Err(AdminError::Conflict(format!(
            "{wallet_ref} is ambiguous ({} wallets: {}); name one by address",
            many.len(),
            many.iter()
                .map(|w| w.address.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}
