//! `walletops wallet ...`: keys and addresses.

use std::io::Read;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use zeroize::Zeroizing;

use crate::tron::PrivateKey;

#[derive(Debug, Subcommand)]
pub enum WalletAction {
    /// Read a hex private key on stdin and print its base58 TRON address
    Address,
}

pub async fn run(action: WalletAction) -> anyhow::Result<ExitCode> {
    match action {
        WalletAction::Address => {
            let key = read_key_from_stdin()?;
            println!("{}", key.address());
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
