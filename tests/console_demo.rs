//! The demo end to end, as a new user meets it: plain `walletops` with no
//! database configured, the real binary in a real terminal (tmux), on a local PostgreSQL cluster of this test's own (a
//! fresh `WALLETOPS_PG_DIR`, stopped at the end), with the in-process TRON
//! simulator and embedded workers. The health badge shows, a consolidation
//! dispatched through the wizard completes on screen, `q` exits and gives
//! the terminal back.

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The test's own tmux server and local cluster; both are stopped on drop,
/// whatever happened.
struct Demo {
    socket: String,
    pg_dir: PathBuf,
    /// Every byte the demo writes to the terminal.
    output: PathBuf,
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
        let demo = Self {
            socket: format!("walletops-demo-{}", std::process::id()),
            pg_dir: dir.path().join("pg"),
            output: dir.path().join("output"),
            _dir: dir,
        };
        let state = demo._dir.path().join("state");
        // The demo waits for a first Enter, so that the copy of its output starts first.
        let command = format!(
            "read _; {} NO_COLOR=1 LANG=C.UTF-8 WALLETOPS_PG_DIR={} XDG_STATE_HOME={} \
             XDG_CONFIG_HOME=/nonexistent-walletops-test-config {}; echo \"exit status: $?\"",
            clean_env(),
            demo.pg_dir.display(),
            state.display(),
            env!("CARGO_BIN_EXE_walletops"),
        );
        demo.tmux(&[
            "new-session",
            "-d",
            "-x",
            "100",
            "-y",
            "30",
            "-s",
            "t",
            "sh",
            "-c",
            &command,
        ]);
        demo.tmux(&["set-option", "-t", "t", "remain-on-exit", "on"]);
        let copy = format!("cat > {}", demo.output.display());
        demo.tmux(&["pipe-pane", "-o", "-t", "t", &copy]);
        demo.keys(&["Enter"]);
        demo
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-u")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux is installed: this test drives the console in it");
        assert!(out.status.success(), "tmux {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "t"])
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.tmux(&["send-keys", "-t", "t", k]);
        }
    }

    fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "t", "-l", text]);
    }

    /// Waits up to `secs` for `check` to hold on the screen.
    fn wait(&self, what: &str, secs: u64, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let screen = self.screen();
            if check(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
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
    // The first start initialises a cluster: allow for a slow machine.
    demo.wait("the demo console", 180, |s| s.contains("DEMO"));
    demo.wait("the healthy badge", 90, |s| s.contains("OK Healthy"));

    // d: the wizard; consolidation is the first type; search by owner.
    demo.keys(&["d"]);
    demo.wait("the wizard", 10, |s| s.contains("Which job?"));
    demo.keys(&["Enter"]);
    demo.type_text("alice");
    demo.wait("alice's wallet", 20, |s| s.contains("alice@example.com"));
    demo.keys(&["Enter"]);
    demo.wait("the review", 10, |s| s.contains("will be queued"));
    demo.keys(&["Tab", "Enter"]);
    demo.wait("the dispatch", 20, |s| s.contains("Dispatched"));
    demo.keys(&["Escape", "Escape"]);

    // The Jobs screen, consolidations only (t cycles the type filter).
    demo.keys(&["2", "t"]);
    let done = demo.wait("the consolidation to complete", 120, |s| {
        s.lines()
            .any(|l| l.contains("consolidation") && l.contains("completed"))
    });
    assert!(done.contains("alice@example.com"), "{done}");

    demo.keys(&["q"]);
    let screen = demo.wait("the demo to exit", 60, |s| s.contains("exit status: "));
    assert!(screen.contains("exit status: 0"), "{screen}");
    assert!(screen.contains("console log: "), "{screen}");
    assert_eq!(
        demo.tmux(&["display-message", "-p", "-t", "t", "#{alternate_on}"])
            .trim(),
        "0",
        "the terminal is back on its main screen"
    );
    // pipe-pane's copy may lag the screen by a moment.
    std::thread::sleep(Duration::from_millis(300));
    let output = String::from_utf8_lossy(&std::fs::read(&demo.output).unwrap()).into_owned();
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
