//! How long the console takes to take in and draw 10,000 jobs: applying a
//! snapshot (filter and cursor), typing into the search, and drawing a
//! frame of the jobs screen; and the CPU an idle console burns. Prints one
//! line per figure.
//!
//! `cargo bench --bench console_render`

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use uuid::Uuid;
use walletops::admin::health::Status;
use walletops::tui::model::*;
use walletops::tui::run::{RefreshPolicy, event_loop};
use walletops::tui::{
    ActionOutcome, App, BackendError, ConfirmedAction, ConsoleBackend, Event, Keymap, Theme,
    ThemeKind, ui, update,
};

const JOBS: usize = 10_000;

fn snapshot() -> Snapshot {
    let at = Utc.with_ymd_and_hms(2026, 11, 28, 14, 0, 0).unwrap();
    let jobs = (0..JOBS)
        .map(|i| JobView {
            id: Uuid::from_u128(i as u128 + 1),
            job_type: JobType::ALL[i % 3],
            status: JobStatus::ALL[i % 5],
            wallet_address: format!("TJRabPrwbZy45sbavfcjinPJC18kj{i:05}"),
            user: Some(format!("user{}@example.com", i % 500)),
            attempts: 1,
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
        .collect();
    Snapshot {
        taken_at: at,
        health: Health {
            level: Status::Healthy,
            reasons: Vec::new(),
        },
        paused: false,
        access: Access {
            operator: None,
            role: Role::Admin,
            note: None,
        },
        workers: Vec::new(),
        depth: Vec::new(),
        depth_estimated: false,
        // The charts' half hour, as a console's first read brings it.
        history: (0..30)
            .flat_map(|i| {
                JobType::ALL.iter().map(move |job_type| HistoryMinute {
                    minute: at - chrono::Duration::minutes(29 - i),
                    job_type: *job_type,
                    completed: i as u64,
                    failed: 1,
                    pending: 100,
                    processing: 3,
                })
            })
            .collect(),
        oldest_pending: None,
        stuck: Vec::new(),
        stuck_total: 0,
        orphaned_wallets: 0,
        jobs,
        audit: Vec::new(),
        pending_changes: Vec::new(),
        failures: Default::default(),
        costs: None,
        deposits: None,
    }
}

fn key(c: KeyCode) -> Event {
    Event::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

/// The mean of `runs` calls, after one warm-up call.
fn time(runs: u32, mut f: impl FnMut()) -> Duration {
    f();
    let start = Instant::now();
    for _ in 0..runs {
        f();
    }
    start.elapsed() / runs
}

/// Serves one fixed snapshot.
struct Fixed(Snapshot);

impl ConsoleBackend for Fixed {
    async fn snapshot(&self, _job_search: String) -> Result<Snapshot, BackendError> {
        Ok(self.0.clone())
    }

    async fn run(&self, _: ConfirmedAction) -> Result<ActionOutcome, BackendError> {
        Err(BackendError::Refused("benchmark".into()))
    }

    async fn search_wallets(&self, _: &str) -> Result<Vec<WalletHit>, BackendError> {
        Ok(Vec::new())
    }
}

/// User plus system CPU time of this process (Linux), in clock ticks of 10 ms.
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15; field 3 is the first after the name.
    let field = |n: usize| {
        fields
            .get(n - 3)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(14) + field(15)
}

/// Runs the real event loop with no input for `secs` seconds of wall time.
fn idle_cpu(data: Snapshot, secs: u64) -> Duration {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut app = App::new(
        Keymap::default(),
        Theme::new(ThemeKind::Color, false),
        false,
    );
    update(&mut app, Event::Resize(160, 48));
    let mut terminal = Terminal::new(TestBackend::new(160, 48)).unwrap();
    let before = cpu_ticks();
    runtime.block_on(async {
        let policy = RefreshPolicy::new(Duration::from_secs(15)).unwrap();
        let idle = event_loop(
            std::sync::Arc::new(Fixed(data)),
            &mut app,
            policy,
            futures_util::stream::pending(),
            |app| {
                let Ok(_) = terminal.draw(|f| ui::draw(f, app));
                Ok(())
            },
        );
        let _ = tokio::time::timeout(Duration::from_secs(secs), idle).await;
    });
    Duration::from_millis((cpu_ticks() - before) * 10)
}

fn main() {
    let data = snapshot();
    let mut app = App::new(
        Keymap::default(),
        Theme::new(ThemeKind::Color, false),
        false,
    );
    update(&mut app, Event::Resize(160, 48));
    let apply = time(50, || {
        update(&mut app, Event::Snapshot(Ok(data.clone())));
    });
    // Select a row in the middle, so the cursor must be found in new data.
    update(&mut app, key(KeyCode::Char('2')));
    for _ in 0..5000 {
        update(&mut app, key(KeyCode::Char('j')));
    }
    let apply_selected = time(50, || {
        update(&mut app, Event::Snapshot(Ok(data.clone())));
    });
    println!("apply a 10,000-job snapshot: {apply:?} (selected row kept: {apply_selected:?})");

    for (w, h) in [(80u16, 24u16), (160, 48)] {
        update(&mut app, Event::Resize(w, h));
        let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
        let draw = time(200, || {
            terminal.draw(|f| ui::draw(f, black_box(&app))).unwrap();
        });
        println!("draw the jobs screen with 10,000 jobs at {w}x{h}: {draw:?} per frame");
    }

    update(&mut app, key(KeyCode::Char('/')));
    let typing = time(50, || {
        update(&mut app, key(KeyCode::Char('7')));
        update(&mut app, key(KeyCode::Backspace));
    }) / 2;
    println!("filter 10,000 jobs on a keystroke: {typing:?}");

    let secs = 20;
    let cpu = idle_cpu(data, secs);
    println!(
        "idle console, 10,000 jobs, refresh every 15 s: {cpu:?} CPU in {secs} s ({:.3}%)",
        cpu.as_secs_f64() * 100.0 / secs as f64
    );
}
