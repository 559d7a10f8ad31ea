//! The two most used TRON client libraries, unmodified, against the real
//! `walletops tron-sim` binary: tronpy (tests/devnet/tronpy_devnet.py) and
//! TronWeb (tests/devnet/tronweb_devnet.js) send TRX and USDT, read
//! receipts, events and balances, and get the node's errors.
//!
//! `.ci/devnet-libs` installs the pinned libraries under target/devnet/;
//! without them (or without python3 / node) a test says so and skips.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::devnet::{SimProcess, start};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A devnet for one script: fast blocks, quick solidity, two accounts.
fn devnet() -> SimProcess {
    let sim = start(&[
        "--block-ms",
        "200",
        "--solidify-blocks",
        "2",
        "--accounts",
        "2",
    ]);
    assert_eq!(sim.accounts.len(), 2, "{}", sim.banner);
    sim
}

/// Runs `program script` against `sim` and fails with its report unless
/// every library call passed.
fn run_script(sim: &SimProcess, mut cmd: Command, script: &Path) {
    let out = cmd
        .arg(script)
        .env("TRON_SIM_URL", &sim.url)
        .env("TRON_SIM_USDT", walletops::tron::MAINNET_USDT)
        .env("TRON_SIM_KEY0", &sim.accounts[0].1)
        .env("TRON_SIM_KEY1", &sim.accounts[1].1)
        .output()
        .expect("run the script");
    let report = String::from_utf8_lossy(&out.stdout);
    println!("{report}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success() && !report.contains("FAIL"),
        "{} failed:\n{report}",
        script.display()
    );
    assert!(
        report.contains("PASS error: insufficient balance"),
        "{report}"
    );
}

fn skip(reason: &str) {
    println!("SKIPPED: {reason}; `bash .ci/devnet-libs` installs the libraries");
}

#[test]
fn tronpy_sends_reads_and_sees_the_nodes_errors() {
    let python = root().join("target/devnet/py/bin/python");
    if !python.exists() {
        return skip("no tronpy in target/devnet/py");
    }
    let probe = Command::new(&python).args(["-c", "import tronpy"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        return skip("target/devnet/py cannot import tronpy");
    }
    let sim = devnet();
    run_script(
        &sim,
        Command::new(&python),
        &root().join("tests/devnet/tronpy_devnet.py"),
    );
}

#[test]
fn tronweb_sends_reads_and_sees_the_nodes_errors() {
    let modules = root().join("target/devnet/node/node_modules");
    if !modules.join("tronweb/package.json").exists() {
        return skip("no tronweb in target/devnet/node");
    }
    if !Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return skip("no node on PATH");
    }
    let sim = devnet();
    let mut node = Command::new("node");
    node.env("NODE_PATH", &modules);
    run_script(&sim, node, &root().join("tests/devnet/tronweb_devnet.js"));
}
