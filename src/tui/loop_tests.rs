//! The event loop on virtual time: no frame timer, coalesced refreshes, a
//! lost backend that retries without blocking input.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crossterm::event::Event as TermEvent;
use futures_util::stream;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::sync::{Notify, mpsc};
use tokio::time::{Instant, sleep};

use super::action::{ConfirmedAction, Screen};
use super::backend::{ActionOutcome, BackendError, Change, ConsoleBackend};
use super::keymap::{KeyChord, Keymap};
use super::model::{Snapshot, WalletHit};
use super::run::{LoopStats, RefreshGate, RefreshPolicy, event_loop};
use super::state::{App, Connection};
use super::testing::{snapshot, theme};
use super::ui;

/// Answers from the fixture, failing the first `fail_first` refreshes, and
/// reports a change whenever the test notifies.
struct ScriptedBackend {
    fail_first: u32,
    /// The Jobs search text of each snapshot asked for, in order.
    job_searches: std::sync::Mutex<Vec<String>>,
    changes: Notify,
}

impl ScriptedBackend {
    fn new(fail_first: u32) -> Arc<Self> {
        Arc::new(Self {
            fail_first,
            job_searches: std::sync::Mutex::new(Vec::new()),
            changes: Notify::new(),
        })
    }
}

impl ConsoleBackend for ScriptedBackend {
    async fn snapshot(&self, job_search: String) -> Result<Snapshot, BackendError> {
        let n = {
            let mut searches = self.job_searches.lock().unwrap();
            searches.push(job_search);
            searches.len() as u32 - 1
        };
        // A query takes a little while, as a real one would.
        sleep(Duration::from_millis(20)).await;
        if n < self.fail_first {
            Err(BackendError::Unavailable("connection refused".into()))
        } else {
            Ok(snapshot())
        }
    }

    async fn run(&self, action: ConfirmedAction) -> Result<ActionOutcome, BackendError> {
        Ok(ActionOutcome {
            message: action.command().title(8),
            affected: 1,
        })
    }

    async fn search_wallets(&self, _query: &str) -> Result<Vec<WalletHit>, BackendError> {
        Ok(Vec::new())
    }

    async fn changed(&self) -> Change {
        self.changes.notified().await;
        Change::Data
    }
}

type Keys = mpsc::UnboundedSender<std::io::Result<TermEvent>>;

/// Starts the loop on a `TestBackend` terminal; returns the key sender and
/// the task that yields the stats and the final state.
fn start(
    backend: Arc<ScriptedBackend>,
    every: Duration,
) -> (Keys, tokio::task::JoinHandle<(LoopStats, App)>) {
    let (keys, mut rx) = mpsc::unbounded_channel();
    let events = stream::poll_fn(move |cx| rx.poll_recv(cx));
    let task = tokio::spawn(async move {
        let mut app = App::new(Keymap::default(), theme(), false);
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
        let policy = RefreshPolicy::new(every).unwrap();
        let stats = event_loop(backend, &mut app, policy, events, |app| {
            let Ok(_) = terminal.draw(|frame| ui::draw(frame, app));
            Ok(())
        })
        .await
        .unwrap();
        (stats, app)
    });
    (keys, task)
}

fn key(keys: &Keys, name: &str) {
    let chord: KeyChord = name.parse().unwrap();
    keys.send(Ok(TermEvent::Key(chord.to_event()))).unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_idle_console_draws_only_when_data_arrives() {
    let backend = ScriptedBackend::new(0);
    let (keys, task) = start(backend.clone(), Duration::from_secs(15));
    // Just past ten minutes, so the last timer fetch has come back.
    sleep(Duration::from_millis(600_100)).await;
    key(&keys, "q");
    let (stats, app) = task.await.unwrap();
    assert!(app.quit);
    // One fetch at start and one per 15 s timer tick: 41 in ten minutes,
    // each drawn once, plus the first frame. Nothing else wakes the screen.
    assert_eq!(stats.fetches, 41, "{stats:?}");
    assert_eq!(stats.draws, stats.fetches + 1, "{stats:?}");
}

#[tokio::test(start_paused = true)]
async fn a_burst_of_changes_costs_a_handful_of_fetches() {
    let backend = ScriptedBackend::new(0);
    let (keys, task) = start(backend.clone(), Duration::from_secs(3600));
    sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    for _ in 0..2000 {
        backend.changes.notify_one();
        sleep(Duration::from_millis(1)).await;
    }
    let burst = started.elapsed();
    sleep(Duration::from_secs(2)).await;
    key(&keys, "q");
    let (stats, _) = task.await.unwrap();
    // 2,000 notifications over two seconds: at most one fetch per 500 ms,
    // plus the first one and the one the burst's tail asks for.
    assert!(burst >= Duration::from_secs(2), "{burst:?}");
    let bound = 2 + burst.as_millis() as u64 / 500;
    assert!(stats.fetches <= bound, "{stats:?} > {bound}");
    assert!(
        stats.fetches >= 2,
        "the burst did cause a refresh: {stats:?}"
    );
    assert!(stats.draws <= stats.fetches + 1, "{stats:?}");
}

#[tokio::test(start_paused = true)]
async fn a_lost_database_shows_retries_with_backoff_and_input_keeps_working() {
    let backend = ScriptedBackend::new(3);
    let (keys, task) = start(backend.clone(), Duration::from_secs(3600));
    sleep(Duration::from_millis(600)).await;
    assert_eq!(
        backend.job_searches.lock().unwrap().len(),
        1,
        "the first retry waits for the backoff"
    );
    key(&keys, "2");
    sleep(Duration::from_secs(10)).await;
    key(&keys, "q");
    let (stats, app) = task.await.unwrap();
    assert_eq!(
        app.screen,
        Screen::Jobs,
        "keys worked while the database was lost"
    );
    assert_eq!(app.connection, Connection::Connected);
    assert_eq!(stats.fetches, 4, "three failures, then success: {stats:?}");
}

/// Typing in the Jobs search asks the backend again with the text, so that
/// jobs older than the fetched ones are found; a burst of keys is one fetch.
#[tokio::test(start_paused = true)]
async fn a_jobs_search_is_sent_to_the_backend() {
    let backend = ScriptedBackend::new(0);
    let (keys, task) = start(backend.clone(), Duration::from_secs(3600));
    sleep(Duration::from_millis(100)).await;
    for name in ["2", "/", "T", "A", "B", "Enter"] {
        key(&keys, name);
    }
    sleep(Duration::from_secs(2)).await;
    key(&keys, "q");
    let (stats, app) = task.await.unwrap();
    assert_eq!(app.job_search(), "TAB");
    let searches = backend.job_searches.lock().unwrap().clone();
    assert_eq!(searches.first().map(String::as_str), Some(""));
    assert_eq!(
        searches.last().map(String::as_str),
        Some("TAB"),
        "{searches:?}"
    );
    assert!(stats.fetches <= 3, "the keys were coalesced: {stats:?}");
}

#[test]
fn the_gate_coalesces_keeps_the_minimum_interval_and_backs_off() {
    let policy = RefreshPolicy::new(Duration::from_secs(15)).unwrap();
    let mut gate = RefreshGate::new(policy);
    let t0 = Instant::now();
    assert!(!gate.start(t0), "nothing asked for");
    for _ in 0..1000 {
        gate.request();
    }
    assert!(gate.start(t0));
    assert!(!gate.start(t0), "one fetch at a time");
    gate.request();
    gate.finished(true);
    let min = policy.at_most_every;
    assert_eq!(gate.wake_at(), Some(t0 + min));
    assert!(!gate.start(t0 + min / 2), "the minimum interval holds");
    assert!(gate.start(t0 + min));

    // Failures retry on their own after 2x, 4x, ... the interval, capped.
    gate.finished(false);
    assert_eq!(gate.wake_at(), Some(t0 + min + min * 2));
    assert!(gate.start(t0 + min * 3));
    let mut last = t0 + min * 3;
    for _ in 0..20 {
        gate.finished(false);
        let wake = gate.wake_at().unwrap();
        assert!(wake - last <= policy.max_backoff);
        assert!(gate.start(wake));
        last = wake;
    }
    assert_eq!(gate.wake_at(), None);
    gate.finished(true);
    assert_eq!(gate.wake_at(), None, "success clears the retry");

    assert!(RefreshPolicy::new(Duration::from_millis(999)).is_err());
}

#[tokio::test(start_paused = true)]
async fn quitting_waits_for_a_confirmed_action_to_report() {
    struct Slow(AtomicU64);
    impl ConsoleBackend for Slow {
        async fn snapshot(&self, _job_search: String) -> Result<Snapshot, BackendError> {
            Ok(snapshot())
        }
        async fn run(&self, _: ConfirmedAction) -> Result<ActionOutcome, BackendError> {
            sleep(Duration::from_secs(2)).await;
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(ActionOutcome {
                message: "paused".into(),
                affected: 3,
            })
        }
        async fn search_wallets(&self, _: &str) -> Result<Vec<WalletHit>, BackendError> {
            Ok(Vec::new())
        }
    }
    let backend = Arc::new(Slow(AtomicU64::new(0)));
    let (keys, mut rx) = mpsc::unbounded_channel::<std::io::Result<TermEvent>>();
    let events = stream::poll_fn(move |cx| rx.poll_recv(cx));
    let task = {
        let backend = backend.clone();
        tokio::spawn(async move {
            let mut app = App::new(Keymap::default(), theme(), false);
            let policy = RefreshPolicy::new(Duration::from_secs(60)).unwrap();
            event_loop(backend, &mut app, policy, events, |_| Ok(()))
                .await
                .unwrap()
        })
    };
    sleep(Duration::from_millis(100)).await;
    for k in ["P", "Tab", "Enter", "q"] {
        key(&keys, k);
    }
    task.await.unwrap();
    assert_eq!(backend.0.load(Ordering::SeqCst), 1, "the action completed");
}

/// A footer notice (here: starting workers that already run) goes away by
/// itself after a few seconds, with no key pressed.
#[tokio::test(start_paused = true)]
async fn a_footer_notice_clears_itself() {
    for (wait, shown) in [
        (Duration::from_secs(1), true),
        (Duration::from_secs(6), false),
    ] {
        let backend = ScriptedBackend::new(0);
        let (keys, task) = start(backend.clone(), Duration::from_secs(3600));
        sleep(Duration::from_millis(100)).await;
        key(&keys, "S");
        sleep(wait).await;
        key(&keys, "q");
        let (_, app) = task.await.unwrap();
        assert!(app.toasts.is_empty());
        assert_eq!(
            app.notice.is_some(),
            shown,
            "after {wait:?}: {:?}",
            app.notice
        );
    }
}
