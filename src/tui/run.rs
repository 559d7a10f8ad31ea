//! The event loop: one crossterm `EventStream` for the process, background
//! tasks for every backend call, and a redraw only when the state says
//! something changed. There is no frame timer: an idle console sleeps until
//! a key, a result, a change notification or the refresh timer wakes it.

use std::io::{self, Stdout, Write};
use std::panic;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
    Event as TermEvent, EventStream,
};
use crossterm::terminal::{
    BeginSynchronizedUpdate, EndSynchronizedUpdate, EnterAlternateScreen, LeaveAlternateScreen,
    disable_raw_mode, enable_raw_mode,
};
use crossterm::{cursor, execute};
use futures_util::{Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::action::AdminCommand;
use super::backend::{Change, ConsoleBackend};
use super::state::{App, Effect, Event, update};
use super::ui;

/// What can stop the console.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// The terminal could not be set up, read or written.
    #[error("terminal: {0}")]
    Terminal(#[from] io::Error),
    /// The refresh settings make no sense.
    #[error("invalid refresh interval: {0}")]
    Refresh(String),
}

/// How often the console refreshes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshPolicy {
    /// The timer: a refresh at least this often (`ui.refresh_seconds`, `--refresh`).
    pub every: Duration,
    /// Never two refreshes closer than this, however many changes are
    /// notified: a burst of job events costs a handful of fetches.
    pub at_most_every: Duration,
    /// The longest wait between retries while the database is lost.
    pub max_backoff: Duration,
}

impl RefreshPolicy {
    /// The policy for a timer of `every`, checked.
    pub fn new(every: Duration) -> Result<Self, ConsoleError> {
        if every < Duration::from_secs(1) {
            return Err(ConsoleError::Refresh(format!(
                "{every:?} is shorter than the 1 s minimum"
            )));
        }
        Ok(Self {
            every,
            at_most_every: Duration::from_millis(500).min(every),
            max_backoff: Duration::from_secs(30),
        })
    }
}

/// Decides when to fetch: coalesces requests, keeps the minimum interval,
/// and backs off while the backend fails. Pure, so tests drive it with
/// made-up instants.
#[derive(Debug, Clone)]
pub struct RefreshGate {
    policy: RefreshPolicy,
    wanted: bool,
    in_flight: bool,
    last_start: Option<Instant>,
    failures: u32,
}

impl RefreshGate {
    pub fn new(policy: RefreshPolicy) -> Self {
        Self {
            policy,
            wanted: false,
            in_flight: false,
            last_start: None,
            failures: 0,
        }
    }

    /// Something wants fresh data; many requests make one fetch.
    pub fn request(&mut self) {
        self.wanted = true;
    }

    /// The earliest moment the next fetch may start.
    fn earliest(&self) -> Option<Instant> {
        let gap = if self.failures == 0 {
            self.policy.at_most_every
        } else {
            let factor = 1u32 << self.failures.min(16);
            (self.policy.at_most_every * factor).min(self.policy.max_backoff)
        };
        self.last_start.map(|t| t + gap)
    }

    /// When the loop must wake up to start a wanted fetch.
    pub fn wake_at(&self) -> Option<Instant> {
        if !self.wanted || self.in_flight {
            return None;
        }
        Some(self.earliest().unwrap_or_else(Instant::now))
    }

    /// Whether to start a fetch now; if so, it counts as started.
    pub fn start(&mut self, now: Instant) -> bool {
        let ready = self.earliest().is_none_or(|t| now >= t);
        if self.wanted && !self.in_flight && ready {
            self.wanted = false;
            self.in_flight = true;
            self.last_start = Some(now);
            true
        } else {
            false
        }
    }

    /// A fetch ended; a failed one is retried after a growing pause.
    pub fn finished(&mut self, ok: bool) {
        self.in_flight = false;
        if ok {
            self.failures = 0;
        } else {
            self.failures = self.failures.saturating_add(1);
            self.wanted = true;
        }
    }
}

/// Whether the terminal is ours: the panic hook restores it only then.
static TERMINAL_TAKEN: AtomicBool = AtomicBool::new(false);

/// Puts the terminal back as it was: raw mode off, main screen, cursor
/// shown, bracketed paste and mouse capture off. Safe to call more than once.
pub fn restore_terminal() {
    if TERMINAL_TAKEN.swap(false, Ordering::SeqCst) {
        let _ = disable_raw_mode();
        let _ = execute!(
            io::stdout(),
            DisableBracketedPaste,
            DisableMouseCapture,
            LeaveAlternateScreen,
            cursor::Show
        );
    }
}

/// Restores the terminal when dropped, on every way out of `run`.
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

fn take_terminal(
    mouse: bool,
) -> Result<(TerminalGuard, Terminal<CrosstermBackend<Stdout>>), io::Error> {
    let hook = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        let console_up = TERMINAL_TAKEN.load(Ordering::SeqCst);
        // The message must land on the normal screen, after the restore.
        restore_terminal();
        hook(info);
        if console_up {
            // A panic in any task (a fetch, an action) ends the console: it
            // cannot go on drawing on a terminal just given back.
            std::process::exit(101);
        }
    }));
    enable_raw_mode()?;
    TERMINAL_TAKEN.store(true, Ordering::SeqCst);
    let guard = TerminalGuard;
    execute!(
        io::stdout(),
        EnterAlternateScreen,
        EnableBracketedPaste,
        cursor::Hide
    )?;
    if mouse {
        execute!(io::stdout(), EnableMouseCapture)?;
    }
    let terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    Ok((guard, terminal))
}

/// How long quitting waits for an admin action already sent.
const ACTION_GRACE: Duration = Duration::from_secs(10);

/// What one run of the loop did, for tests and the exit line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoopStats {
    pub draws: u64,
    pub fetches: u64,
}

/// Runs the console until the operator quits. Settings and keymap errors
/// must be reported before this is called: from here the screen is taken.
pub async fn run<B: ConsoleBackend>(
    backend: Arc<B>,
    mut app: App,
    policy: RefreshPolicy,
) -> Result<LoopStats, ConsoleError> {
    let (_guard, mut terminal) = take_terminal(app.mouse)?;
    let size = terminal.size()?;
    update(&mut app, Event::Resize(size.width, size.height));
    let stats = event_loop(backend, &mut app, policy, EventStream::new(), |app| {
        // One synchronized frame: no tearing over SSH or inside tmux.
        execute!(terminal.backend_mut(), BeginSynchronizedUpdate)?;
        terminal.draw(|frame| ui::draw(frame, app))?;
        execute!(terminal.backend_mut(), EndSynchronizedUpdate)
    })
    .await?;
    terminal.show_cursor()?;
    io::stdout().flush()?;
    Ok(stats)
}

/// The loop itself, over any source of terminal events and any way of
/// drawing, so tests run it with a scripted stream and a `TestBackend`.
pub async fn event_loop<B, S, D>(
    backend: Arc<B>,
    app: &mut App,
    policy: RefreshPolicy,
    mut events: S,
    mut draw: D,
) -> Result<LoopStats, ConsoleError>
where
    B: ConsoleBackend,
    S: Stream<Item = io::Result<TermEvent>> + Unpin,
    D: FnMut(&App) -> io::Result<()>,
{
    let mut stats = LoopStats::default();
    let (tx, mut results) = mpsc::unbounded_channel::<Event>();
    let (change_tx, mut changes) = mpsc::channel::<Change>(4);
    let mut fetches = JoinSet::new();
    let mut actions = JoinSet::new();
    let mut searches = JoinSet::new();
    let mut notices = JoinSet::new();
    // One detail read at a time: a newer one replaces the one running.
    let mut detail: Option<tokio::task::JoinHandle<()>> = None;
    let watcher = {
        let backend = backend.clone();
        tokio::spawn(async move {
            loop {
                let sent = match backend.changed().await {
                    // A full channel already holds a wake-up: that is the coalescing.
                    Change::Data => !matches!(
                        change_tx.try_send(Change::Data),
                        Err(mpsc::error::TrySendError::Closed(_))
                    ),
                    // The link's state is never dropped.
                    link => change_tx.send(link).await.is_ok(),
                };
                if !sent {
                    break;
                }
            }
        })
    };

    let mut gate = RefreshGate::new(policy);
    let mut timer = Instant::now() + policy.every;
    // The search running and the newest query typed while it ran.
    let mut search_running = false;
    let mut search_next: Option<String> = None;
    gate.request();

    let outcome = loop {
        if app.dirty {
            app.dirty = false;
            stats.draws += 1;
            draw(app)?;
        }
        if gate.start(Instant::now()) {
            stats.fetches += 1;
            let (backend, tx) = (backend.clone(), tx.clone());
            let job_search = app.job_search();
            fetches.spawn(async move {
                let _ = tx.send(Event::Snapshot(backend.snapshot(job_search).await));
            });
        }
        // The state asks for the clock when its data is about to turn stale.
        let tick = app
            .next_tick()
            .map(|at| Instant::now() + (at - chrono::Utc::now()).to_std().unwrap_or_default());
        let wake = [gate.wake_at(), tick]
            .into_iter()
            .flatten()
            .fold(timer, Instant::min);
        let effects = tokio::select! {
            input = events.next() => match input {
                Some(Ok(TermEvent::Key(key))) => update(app, Event::Key(key)),
                Some(Ok(TermEvent::Resize(w, h))) => update(app, Event::Resize(w, h)),
                Some(Ok(TermEvent::Paste(text))) => update(app, Event::Paste(text)),
                Some(Ok(TermEvent::Mouse(mouse))) if app.mouse => update(app, Event::Mouse(mouse)),
                Some(Ok(_)) => Vec::new(),
                Some(Err(err)) => break Err(ConsoleError::Terminal(err)),
                None => break Ok(()),
            },
            Some(event) = results.recv() => {
                match &event {
                    Event::Snapshot(result) => {
                        gate.finished(result.is_ok());
                        // Stamps the data's arrival on the console's clock.
                        update(app, Event::Tick(chrono::Utc::now()));
                    }
                    Event::SearchDone { .. } => search_running = false,
                    _ => {}
                }
                update(app, event)
            }
            Some(change) = changes.recv() => {
                gate.request();
                match change {
                    Change::Data => Vec::new(),
                    Change::LinkUp => update(app, Event::LinkUp),
                    Change::LinkDown(why) => update(app, Event::LinkDown(why)),
                }
            }
            () = tokio::time::sleep_until(wake) => {
                let now = Instant::now();
                if now >= timer {
                    gate.request();
                    timer = now + policy.every;
                }
                if tick.is_some_and(|t| now >= t) {
                    update(app, Event::Tick(chrono::Utc::now()))
                } else {
                    Vec::new()
                }
            }
        };
        let mut quit = false;
        for effect in effects {
            match effect {
                Effect::Refresh => gate.request(),
                Effect::Quit => quit = true,
                Effect::RunAdminAction(action) => {
                    let (backend, tx) = (backend.clone(), tx.clone());
                    actions.spawn(async move {
                        let command = action.command().clone();
                        let result = backend.run(action).await;
                        let _ = tx.send(Event::ActionDone { command, result });
                    });
                }
                Effect::SearchWallets(query) => search_next = Some(query),
                Effect::ExpireNotice { id, after } => {
                    let tx = tx.clone();
                    notices.spawn(async move {
                        tokio::time::sleep(after).await;
                        let _ = tx.send(Event::NoticeExpired(id));
                    });
                }
                Effect::CountSelection(command) => {
                    let (backend, tx) = (backend.clone(), tx.clone());
                    searches.spawn(async move {
                        let result = match &command {
                            AdminCommand::Selection {
                                action, selection, ..
                            } => backend.count_selection(*action, selection.clone()).await,
                            _ => return,
                        };
                        let _ = tx.send(Event::Counted { command, result });
                    });
                }
                Effect::LoadJobDetail(id) => {
                    let (backend, tx) = (backend.clone(), tx.clone());
                    if let Some(running) = detail.take() {
                        running.abort();
                    }
                    detail = Some(tokio::spawn(async move {
                        let result = backend.job_detail(id).await;
                        let _ = tx.send(Event::JobDetail { id, result });
                    }));
                }
            }
        }
        if !search_running && let Some(query) = search_next.take() {
            search_running = true;
            let (backend, tx) = (backend.clone(), tx.clone());
            searches.spawn(async move {
                let result = backend.search_wallets(&query).await;
                let _ = tx.send(Event::SearchDone { query, result });
            });
        }
        if quit {
            break Ok(());
        }
    };

    watcher.abort();
    fetches.abort_all();
    searches.abort_all();
    notices.abort_all();
    if let Some(running) = detail {
        running.abort();
    }
    if !actions.is_empty() {
        // An action already confirmed is let finish, so its result and
        // audit row are not cut off halfway; it is logged either way.
        let _ = tokio::time::timeout(ACTION_GRACE, async {
            while actions.join_next().await.is_some() {}
        })
        .await;
    }
    while let Ok(event) = results.try_recv() {
        if let Event::ActionDone { result, .. } = event {
            tracing::info!(?result, "action finished while quitting");
        }
    }
    outcome.map(|()| stats)
}
