//! The demo end to end, as a new user meets it: plain `walletops` with no
//! database configured, the real binary in a real terminal (tmux), on a local PostgreSQL cluster of this test's own (a
//! fresh `WALLETOPS_PG_DIR`, stopped at the end), with the in-process TRON
//! simulator and embedded workers. The health badge shows, a consolidation
//! dispatched through the wizard completes on screen, `q` exits and gives
//! the terminal back.

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use common::tmux::Tmux;

/// The test's own tmux server and local cluster; both are stopped on drop,
/// whatever happened.
struct Demo {
    tmux: Tmux,
    pg_dir: PathBuf,
    _dir: tempfile::TempDir,
}

impl Demo {
    fn start() -> Self {
        // Under /tmp and passable, so the postgres user can reach the cluster when we are root.
        let dir = tempfile::Builder::new()
            .prefix("walletops-demo-test-")
            .tempdir_in("/tmp")
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let pg_dir = dir.path().join("pg");
        let state = dir.path().join("state");
        let command = format!(
            "{} NO_COLOR=1 LANG=C.UTF-8 WALLETOPS_PG_DIR={} XDG_STATE_HOME={} \
             XDG_CONFIG_HOME=/nonexistent-walletops-test-config {}",
            clean_env(),
            pg_dir.display(),
            state.display(),
            env!("CARGO_BIN_EXE_walletops"),
        );
        Self {
            tmux: Tmux::start("demo", 100, 30, &command),
            pg_dir,
            _dir: dir,
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        // The demo first, then the cluster it runs on.
        self.tmux.kill();
        stop_cluster(&self.pg_dir);
    }
}

/// `env -u` for every setting of the developer's that would change the run.
fn clean_env() -> String {
    let vars = [
        "DATABASE_URL",
        "WALLETOPS_CONFIG",
        "WALLETOPS_OPERATOR",
        "TRON_API_URL",
        "TRON_API_KEY",
        "WALLET_MASTER_KEY",
        "WALLET_MASTER_KEY_FILE",
        "WALLETOPS_MIGRATE",
        "WALLETOPS_LOG",
    ];
    let unset: Vec<String> = vars.iter().map(|v| format!("-u {v}")).collect();
    format!("env {}", unset.join(" "))
}

fn stop_cluster(pg_dir: &Path) {
    if pg_dir.exists() {
        let out = common::walletops()
            .env("WALLETOPS_PG_DIR", pg_dir)
            .args(["db", "stop"])
            .output()
            .expect("run walletops db stop");
        assert!(out.status.success() || std::thread::panicking(), "{out:?}");
    }
}

#[test]
fn the_demo_runs_a_consolidation_dispatched_through_the_wizard() {
    let demo = Demo::start();
    let tmux = &demo.tmux;
    // The first start initialises a cluster: allow for a slow machine.
    tmux.wait("the demo console", 180, |s| s.contains("DEMO"));
    tmux.wait("the healthy badge", 90, |s| s.contains("OK Healthy"));

    // As the README walks it: d, the wizard; consolidation is the first
    // type, and typing takes it and searches wallets by owner.
    tmux.keys(&["d"]);
    tmux.wait("the wizard", 10, |s| s.contains("Which job?"));
    tmux.type_text("alice");
    tmux.wait("alice's wallet", 20, |s| s.contains("alice@example.com"));
    tmux.keys(&["Enter"]);
    tmux.wait("the review", 10, |s| s.contains("will be queued"));
    tmux.keys(&["Tab", "Enter"]);
    tmux.wait("the dispatch", 20, |s| s.contains("Dispatched"));

    // `2` closes the result and opens the Jobs screen; consolidations only
    // (t cycles the type filter).
    tmux.keys(&["2", "t"]);
    let done = tmux.wait("the consolidation to complete", 120, |s| {
        s.lines()
            .any(|l| l.contains("consolidation") && l.contains("completed"))
    });
    assert!(done.contains("alice@example.com"), "{done}");

    tmux.keys(&["q"]);
    let screen = tmux.wait("the demo to exit", 60, |s| s.contains("exit status: "));
    assert!(screen.contains("exit status: 0"), "{screen}");
    assert!(screen.contains("console log: "), "{screen}");
    assert_eq!(
        tmux.var("alternate_on"),
        "0",
        "the terminal is back on its main screen"
    );
    let output = tmux.written();
    let log_line = output.rfind("console log: ").unwrap();
    for (what, sequence) in [
        ("leave the alternate screen", "\x1b[?1049l"),
        ("show the cursor", "\x1b[?25h"),
        ("turn bracketed paste off", "\x1b[?2004l"),
    ] {
        let at = output
            .rfind(sequence)
            .unwrap_or_else(|| panic!("never: {what}"));
        assert!(at < log_line, "{what} before the exit lines");
    }
}
