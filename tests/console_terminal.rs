//! The real console loop in a real terminal: tmux runs this test binary's
//! ignored `console_child` test, which opens the console over a fixed
//! in-memory backend; the tests type into it and read the screen and the
//! terminal's modes back from tmux. No database is involved: what is under
//! test is the terminal handling (draw, keys, quit, panic, restore).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use common::tmux::Tmux;
use walletops::admin::health::Status;
use walletops::tui::model::*;
use walletops::tui::{
    ActionOutcome, App, BackendError, ConfirmedAction, ConsoleBackend, Keymap, RefreshPolicy,
    Theme, ThemeKind,
};

const CHILD: &str = "WALLETOPS_TEST_CONSOLE_CHILD";

fn snapshot() -> Snapshot {
    let at = Utc.with_ymd_and_hms(2026, 11, 28, 14, 30, 0).unwrap();
    Snapshot {
        taken_at: at,
        health: Health {
            level: Status::Degraded,
            reasons: vec!["1 job stuck in processing".into()],
        },
        paused: false,
        access: Access {
            operator: Some("oncall@example.com".into()),
            role: Role::Admin,
            note: None,
        },
        workers: Vec::new(),
        depth: Vec::new(),
        depth_estimated: false,
        history: Vec::new(),
        oldest_pending: None,
        stuck: Vec::new(),
        stuck_total: 0,
        orphaned_wallets: 0,
        jobs: (0..50u128)
            .map(|i| JobView {
                id: uuid::Uuid::from_u128(i + 1),
                job_type: JobType::Sync,
                status: JobStatus::Pending,
                wallet_address: format!("TJRabPrwbZy45sbavfcjinPJC18kj{i:05}"),
                user: None,
                attempts: 0,
                retry_count: 0,
                max_retries: 3,
                error_message: None,
                data: "{}".into(),
                created_at: at,
                updated_at: at,
                started_at: None,
                finished_at: None,
                locked_by: None,
            })
            .collect(),
        audit: Vec::new(),
        pending_changes: Vec::new(),
        failures: Default::default(),
        costs: None,
        deposits: None,
    }
}

/// Serves the fixture; in "panic" mode the second refresh panics.
struct Fixed {
    panic_on_second: bool,
    calls: AtomicU32,
}

impl ConsoleBackend for Fixed {
    async fn snapshot(&self, _job_search: String) -> Result<Snapshot, BackendError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        assert!(
            !(self.panic_on_second && n == 1),
            "deliberate panic in a refresh task"
        );
        Ok(snapshot())
    }

    async fn run(&self, action: ConfirmedAction) -> Result<ActionOutcome, BackendError> {
        Ok(ActionOutcome {
            message: action.command().title(8),
            affected: 1,
        })
    }

    async fn search_wallets(&self, _: &str) -> Result<Vec<WalletHit>, BackendError> {
        Ok(Vec::new())
    }
}

/// The console itself, run by tmux through the tests below.
#[tokio::test]
#[ignore = "run inside tmux by the tests of this file"]
async fn console_child() {
    let mode = std::env::var(CHILD).expect("started by a test of this file");
    if mode == "panic" {
        // As if something had turned mouse reporting on: the restore must
        // turn it off again.
        crossterm::execute!(std::io::stdout(), crossterm::event::EnableMouseCapture).unwrap();
    }
    let backend = Arc::new(Fixed {
        panic_on_second: mode == "panic",
        calls: AtomicU32::new(0),
    });
    let app = App::new(Keymap::default(), Theme::new(ThemeKind::Mono, false), false);
    let policy = RefreshPolicy::new(Duration::from_secs(3600)).unwrap();
    let stats = walletops::tui::run(backend, app, policy).await.unwrap();
    println!("console closed after {} draws", stats.draws);
}

/// The console child of this test binary in a tmux of its own, in `mode`
/// (`run`, or `panic` on the second refresh).
fn start(name: &str, mode: &str) -> Tmux {
    let exe = std::env::current_exe().unwrap();
    let command = format!(
        "env {CHILD}={mode} NO_COLOR=1 LANG=C.UTF-8 RUST_BACKTRACE=0 {} \
         console_child --exact --ignored --nocapture",
        exe.display()
    );
    Tmux::start(name, 80, 24, &command)
}

const LEAVE_ALTERNATE_SCREEN: &str = "\x1b[?1049l";
const SHOW_CURSOR: &str = "\x1b[?25h";
const MOUSE_OFF: &str = "\x1b[?1000l";

/// Where `needle` last appears in `haystack`, or a failure naming it.
fn last(haystack: &str, needle: &str) -> usize {
    haystack
        .rfind(needle)
        .unwrap_or_else(|| panic!("{needle:?} never sent:\n{haystack:?}"))
}

#[test]
fn the_console_draws_takes_keys_and_gives_the_terminal_back_on_quit() {
    let tmux = start("quit", "run");
    tmux.wait("the dashboard", 30, |s| s.contains("▲ WARN Degraded"));
    assert_eq!(
        tmux.var("alternate_on"),
        "1",
        "the console uses the alternate screen"
    );
    let screen = tmux.screen();
    assert!(screen.contains("1 Dashboard"), "{screen}");
    assert!(screen.contains("refreshed 14:30:00 UTC"), "{screen}");

    tmux.keys(&["2"]);
    tmux.wait("the jobs screen", 30, |s| s.contains("Jobs 1 of 50"));
    tmux.keys(&["j"]);
    tmux.wait("the cursor to move", 30, |s| s.contains("Jobs 2 of 50"));

    // A paste arrives as one bracketed paste, not as keys: its q does not quit.
    tmux.run(&["set-buffer", "qqq"]);
    tmux.run(&["paste-buffer", "-p", "-t", "t"]);
    tmux.wait("the paste to be refused", 30, |s| {
        s.contains("paste ignored")
    });

    tmux.keys(&["q"]);
    let (output, status) = tmux.output(30);
    assert_eq!(status, "0");
    assert!(last(&output, "\x1b[?2004l") < last(&output, "console closed after"));
    let closed = last(&output, "console closed after");
    assert!(last(&output, LEAVE_ALTERNATE_SCREEN) < closed);
    assert!(last(&output, SHOW_CURSOR) < closed);
    assert!(last(&output, MOUSE_OFF) < closed);
    assert!(tmux.screen().contains("console closed after"));
}

#[test]
fn a_panic_restores_the_terminal_mouse_included_before_its_message() {
    let tmux = start("panic", "panic");
    tmux.wait("the dashboard", 30, |s| s.contains("Degraded"));
    assert_eq!(
        tmux.var("mouse_any_flag"),
        "1",
        "the child turned mouse reporting on"
    );

    // The refresh runs in a background task, which panics.
    tmux.keys(&["r"]);
    let (output, status) = tmux.output(30);
    assert_eq!(status, "101");
    let message = last(&output, "deliberate panic in a refresh task");
    assert!(last(&output, MOUSE_OFF) < message, "mouse off first");
    assert!(last(&output, LEAVE_ALTERNATE_SCREEN) < message);
    assert!(last(&output, SHOW_CURSOR) < message);
    let screen = tmux.screen();
    assert!(
        screen.contains("deliberate panic in a refresh task"),
        "the message is on the main screen:\n{screen}"
    );
}
