//! `walletops wallet ...`: keys, addresses and key custody.

use std::io::Read;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use zeroize::Zeroizing;

use crate::admin;
use crate::config::Settings;
use crate::tron::PrivateKey;
use crate::wallets::{MasterKey, WalletRole};

#[derive(Debug, Subcommand)]
pub enum WalletAction {
    /// Read a hex private key on stdin and print its base58 TRON address
    Address,
    /// Read a hex private key on stdin, store it encrypted under the master
    /// key as a wallet of USER (created if new), and print its address; a gas,
    /// treasury or energy wallet stays inactive until a second admin approves it
    Import {
        /// The owner's email; the user is created if new
        #[arg(long, value_name = "EMAIL")]
        user: String,
        /// deposit, gas, treasury or energy
        #[arg(long, default_value = "deposit", value_parser = |s: &str| s.parse::<WalletRole>())]
        role: WalletRole,
    },
}

pub async fn run(
    action: WalletAction,
    settings: &Settings,
    migrate: bool,
) -> anyhow::Result<ExitCode> {
    match action {
        WalletAction::Address => {
            let key = read_key_from_stdin()?;
            println!("{}", key.address());
            Ok(ExitCode::SUCCESS)
        }
        WalletAction::Import { user, role } => {
            // Everything that can be checked without the database first.
            let key = read_key_from_stdin()?;
            let master = MasterKey::load(settings.master_key.as_ref())?;
            let pool = super::db::connect(settings, migrate).await?;
            let import = admin::wallets::import(&pool, &master, &user, role, &key).await?;
            if import.wallet.created_user {
                eprintln!("created user {}", user.trim());
            }
            if let Some(p) = &import.activation {
                eprintln!(
                    "the {role} wallet is stored but inactive: a different admin approves \
                     proposal {id} with `walletops config approve {id}`, and it becomes active \
                     after policy.change_delay_seconds ({})",
                    p.describe(),
                    id = p.id
                );
            }
            println!("{}", import.wallet.address);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A private key is 64 hex digits; anything much longer on stdin is a
/// mistake (a file piped by accident), not a key.
const MAX_STDIN_BYTES: u64 = 1024;

/// Reads the key from stdin, keeping the text only in zeroized buffers.
fn read_key_from_stdin() -> anyhow::Result<PrivateKey> {
    let mut buf = Zeroizing::new(Vec::with_capacity(128));
    std::io::stdin()
        .take(MAX_STDIN_BYTES + 1)
        .read_to_end(&mut buf)
        .context("cannot read the private key from stdin")?;
    if buf.len() as u64 > MAX_STDIN_BYTES {
        bail!("stdin holds more than {MAX_STDIN_BYTES} bytes; expected one hex private key");
    }
    let text = std::str::from_utf8(&buf)
        .map_err(|_| anyhow::anyhow!("stdin is not text; expected one hex private key"))?;
    if text.trim().is_empty() {
        bail!(
            "no private key on stdin; pipe 64 hex digits, e.g. `walletops wallet address < key.hex`"
        );
    }
    Ok(PrivateKey::from_hex(text)?)
}
