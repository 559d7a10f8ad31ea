//! The console's state and its one update path.
//!
//! [`update`] takes every event (a key, new data, an action's result) and
//! returns the [`Effect`]s the event loop must carry out. It does no I/O, so
//! the tests drive it key by key without a terminal or a database.
//! Permission to act is checked in one function, [`App::authorize`], on the
//! way into a confirmation and again on the way out of it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use crossterm::event::{
    Event as TermEvent, KeyEvent, KeyEventKind, MouseButton, MouseEvent, MouseEventKind,
};
use tui_input::backend::crossterm::EventHandler;
use tui_input::{Input, InputRequest};
use uuid::Uuid;

use super::action::{Action, AdminCommand, ConfirmedAction, Intent, Screen};
use super::backend::{ActionOutcome, BackendError};
use super::history::History;
use super::keymap::{Context, KeyChord, Keymap};
use super::model::{
    BulkAction, BulkCount, JOB_TYPES, JobDetail, JobSelection, JobStatus, JobType, JobView, Role,
    Snapshot, WalletHit,
};
use super::sort::{self, AuditColumn, JobColumn, Sort, WorkerColumn};
use super::theme::Theme;
use super::ui::layout::{self, Target};
use crate::admin::{IdFragment, short_id_len, short_len};

/// Something that happened, for [`update`].
#[derive(Debug, Clone)]
pub enum Event {
    Key(KeyEvent),
    /// A click or a wheel turn (unless the mouse is off).
    Mouse(MouseEvent),
    /// Text pasted into the terminal (bracketed paste): typed into the
    /// focused text field at once, never read as keys.
    Paste(String),
    /// The terminal's new size in columns and rows.
    Resize(u16, u16),
    /// A refresh finished.
    Snapshot(Result<Snapshot, BackendError>),
    /// The console's clock: the loop sends it when [`App::next_tick`] asks,
    /// and before each refresh's result, so that the state knows how old
    /// its data is without reading a clock itself.
    Tick(DateTime<Utc>),
    /// The live link (LISTEN, the API's event stream) dropped: changes are
    /// no longer seen, and the source may be gone. The text says why.
    LinkDown(String),
    /// The live link is back; a refresh follows.
    LinkUp,
    /// A confirmed action finished.
    ActionDone {
        command: AdminCommand,
        result: Result<ActionOutcome, BackendError>,
    },
    /// A wallet search finished.
    SearchDone {
        query: String,
        result: Result<Vec<WalletHit>, BackendError>,
    },
    /// The footer notice with this number has been shown long enough.
    NoticeExpired(u64),
    /// `admin` counted what a retry or cancel by filter would change: the
    /// command to confirm, its count not yet filled in.
    Counted {
        command: AdminCommand,
        result: Result<BulkCount, BackendError>,
    },
    /// A job's detail was read.
    JobDetail {
        id: Uuid,
        result: Result<JobDetail, BackendError>,
    },
}

/// What the event loop must do after an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Refresh,
    RunAdminAction(ConfirmedAction),
    SearchWallets(String),
    /// Send [`Event::NoticeExpired`] with this number after this long.
    ExpireNotice {
        id: u64,
        after: Duration,
    },
    /// Ask `admin` how many jobs the command's selection holds, for its
    /// confirmation ([`Event::Counted`]).
    CountSelection(AdminCommand),
    /// Read one job's attempts and transfers for the detail view.
    LoadJobDetail(Uuid),
    Quit,
}

/// How long a footer notice stays.
pub const NOTICE_FOR: Duration = Duration::from_secs(5);

/// A short message in the footer, gone by itself after [`NOTICE_FOR`]: a
/// refusal or a note on a key just pressed. Unlike a [`Toast`] it needs no
/// Esc, so on a wall screen, which nobody tends, they never pile up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub id: u64,
    pub kind: ToastKind,
    pub text: String,
}

/// The link to the backend, for the footer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    Connecting,
    Connected,
    /// The last refresh failed; the loop keeps retrying.
    Lost(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToastKind {
    Success,
    Info,
    Refusal,
    Error,
}

/// A message that stays until the operator dismisses it with Esc, so no
/// result or refusal goes unseen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toast {
    pub kind: ToastKind,
    pub text: String,
}

/// A dialog's two buttons: the one that leaves things as they are, where
/// the focus starts, and the one that acts. Their labels name their effect
/// (`AdminCommand::buttons`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Choice {
    #[default]
    Cancel,
    Confirm,
}

impl Choice {
    fn toggled(self) -> Self {
        match self {
            Choice::Cancel => Choice::Confirm,
            Choice::Confirm => Choice::Cancel,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmation {
    pub command: AdminCommand,
    pub focus: Choice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WizardStep {
    JobType,
    Wallet,
    Review,
    /// Confirmed; waiting for `admin`.
    Sending,
    Done,
}

/// The dispatch wizard: job type, wallet, review, confirm.
#[derive(Debug, Clone)]
pub struct Wizard {
    pub step: WizardStep,
    pub type_index: usize,
    pub input: Input,
    pub hits: Vec<WalletHit>,
    pub hit_index: usize,
    /// The query a search is running for, if one is.
    pub searching: Option<String>,
    pub search_error: Option<String>,
    pub focus: Choice,
    /// The outcome, shown in place: the message or the refusal.
    pub result: Option<Result<String, String>>,
}

impl Wizard {
    fn new() -> Self {
        Self {
            step: WizardStep::JobType,
            type_index: 0,
            input: Input::default(),
            hits: Vec::new(),
            hit_index: 0,
            searching: None,
            search_error: None,
            focus: Choice::Cancel,
            result: None,
        }
    }

    pub fn job_type(&self) -> JobType {
        JOB_TYPES[self.type_index]
    }

    pub fn picked(&self) -> Option<&WalletHit> {
        self.hits.get(self.hit_index)
    }

    /// The job this dispatch would return instead of creating one.
    pub fn duplicate(&self) -> Option<Uuid> {
        let job_type = self.job_type();
        self.picked().and_then(|w| {
            w.active_jobs
                .iter()
                .find(|(t, _)| *t == job_type)
                .map(|(_, id)| *id)
        })
    }
}

/// Why a typed query cannot be a TRON address, when it tries to be one.
/// The checksum is `admin`'s to verify; this catches what a glance can.
pub fn address_problem(query: &str) -> Option<String> {
    const BASE58: &str = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let q = query.trim();
    if !q.starts_with('T') || q.len() < 25 || q.contains(['@', ' ']) {
        return None;
    }
    if let Some(bad) = q.chars().find(|c| !BASE58.contains(*c)) {
        return Some(format!(
            "not a TRON address: {bad:?} never appears in base58 (no 0, O, I or l)"
        ));
    }
    if q.len() != 34 {
        return Some(format!(
            "not a TRON address: it has {} characters, an address has 34",
            q.len()
        ));
    }
    None
}

#[derive(Debug, Clone)]
pub enum Overlay {
    Help { scroll: u16 },
    Confirm(Confirmation),
    Wizard(Box<Wizard>),
}

/// A cursor in a list that stays on its row when data arrives. With no
/// row selected it follows the top, where the newest rows appear.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListCursor {
    pub selected: Option<Uuid>,
    pub index: usize,
    /// The first row shown.
    pub offset: usize,
}

impl ListCursor {
    fn move_to(&mut self, index: usize, ids: &[Uuid], page: usize) {
        if ids.is_empty() {
            *self = Self::default();
            return;
        }
        self.index = index.min(ids.len() - 1);
        self.selected = Some(ids[self.index]);
        self.keep_visible(page);
    }

    fn move_by(&mut self, delta: isize, ids: &[Uuid], page: usize) {
        let index = self.index.saturating_add_signed(delta);
        self.move_to(index, ids, page);
    }

    fn top(&mut self) {
        *self = Self::default();
    }

    fn keep_visible(&mut self, page: usize) {
        let page = page.max(1);
        if self.index < self.offset {
            self.offset = self.index;
        } else if self.index >= self.offset + page {
            self.offset = self.index + 1 - page;
        }
    }

    /// Finds the selected row in new data and moves the view with it, so
    /// the row stays where the operator's eyes are.
    fn reanchor(&mut self, ids: &[Uuid], page: usize) {
        let Some(selected) = self.selected else {
            self.index = 0;
            self.offset = 0;
            return;
        };
        match ids.iter().position(|id| *id == selected) {
            Some(new_index) => {
                let screen_row = self.index.saturating_sub(self.offset);
                self.index = new_index;
                self.offset = new_index.saturating_sub(screen_row);
            }
            // The row is gone (finished, cleared): stay at the same place.
            None if ids.is_empty() => *self = Self::default(),
            None => {
                self.index = self.index.min(ids.len() - 1);
                self.selected = Some(ids[self.index]);
            }
        }
        self.keep_visible(page);
    }
}

/// A job's detail as last read, for the job it was read for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedDetail {
    pub id: Uuid,
    /// The detail, or why it could not be read.
    pub result: Result<JobDetail, String>,
}

#[derive(Debug, Clone, Default)]
pub struct JobsPane {
    pub status: Option<JobStatus>,
    pub job_type: Option<JobType>,
    pub search: Input,
    /// The selected job's detail view is open (in place of the table).
    pub detail: bool,
    /// The detail view's first line shown.
    pub scroll: u16,
    pub loaded: Option<LoadedDetail>,
    pub sort: Sort<JobColumn>,
    pub cursor: ListCursor,
    /// Indices into the snapshot's jobs that pass the filters, in the
    /// order shown.
    pub rows: Vec<usize>,
}

#[derive(Debug, Clone, Default)]
pub struct AuditPane {
    pub search: Input,
    /// The selected entry's detail view is open (in place of the table).
    pub detail: bool,
    pub scroll: u16,
    pub sort: Sort<AuditColumn>,
    pub cursor: ListCursor,
    pub rows: Vec<usize>,
}

/// The whole console state. Drawing reads it; only [`update`] changes it.
#[derive(Debug, Clone)]
pub struct App {
    pub keymap: Keymap,
    pub theme: Theme,
    /// `--read-only`: no mutating action is offered or accepted.
    pub read_only: bool,
    /// Clicks and the wheel are read (`--no-mouse` turns it off, leaving
    /// the terminal's own selection alone).
    pub mouse: bool,
    /// `walletops demo`: the header says DEMO, so nobody takes it for production.
    pub demo: bool,
    /// `console --api`: a lost connection is the API's, not the database's.
    pub over_api: bool,
    pub screen: Screen,
    pub overlay: Option<Overlay>,
    /// What the screens show.
    pub snapshot: Option<Snapshot>,
    /// The newest data, kept aside while the view is frozen.
    pub held: Option<Snapshot>,
    pub frozen: bool,
    pub connection: Connection,
    /// When the newest data was read (also while frozen), by the database's clock.
    pub last_refresh: Option<DateTime<Utc>>,
    /// The console's clock at the latest [`Event::Tick`].
    pub clock: Option<DateTime<Utc>>,
    /// The console's clock when the newest data arrived.
    pub received_at: Option<DateTime<Utc>>,
    /// The console's clock when the data shown arrived (older while frozen).
    pub shown_received_at: Option<DateTime<Utc>>,
    /// Why the live link is down, while it is.
    pub link_down: Option<String>,
    /// The live link dropped and no refresh has succeeded since.
    pub link_stale: bool,
    /// The refresh timer: data older than two of these is stale.
    pub refresh_every: Duration,
    /// What the charts plot: every refresh's minutes, frozen or not (a
    /// frozen view plots up to its own time).
    pub history: History,
    /// Typing into the current screen's filter.
    pub editing: bool,
    pub jobs: JobsPane,
    pub workers: ListCursor,
    pub worker_sort: Sort<WorkerColumn>,
    /// Indices into the snapshot's workers, in the order shown.
    pub worker_rows: Vec<usize>,
    pub audit: AuditPane,
    /// The failure group selected on the dashboard (an index into the
    /// snapshot's groups).
    pub failure_group: usize,
    pub toasts: Vec<Toast>,
    /// The footer's brief message, if one is showing.
    pub notice: Option<Notice>,
    /// Notices shown so far: each one's number, so that only its own timer
    /// clears it.
    pub notices_shown: u64,
    /// Hex digits of the short job ids on screen: enough that no two of the
    /// jobs the console holds look the same.
    pub id_len: usize,
    /// The action in flight, if any: one at a time.
    pub busy: Option<AdminCommand>,
    pub viewport: (u16, u16),
    /// Set when the screen must be drawn again.
    pub dirty: bool,
    pub quit: bool,
}

impl App {
    pub fn new(keymap: Keymap, theme: Theme, read_only: bool) -> Self {
        Self {
            keymap,
            theme,
            read_only,
            mouse: true,
            demo: false,
            over_api: false,
            screen: Screen::Dashboard,
            overlay: None,
            snapshot: None,
            held: None,
            frozen: false,
            connection: Connection::Connecting,
            last_refresh: None,
            clock: None,
            received_at: None,
            shown_received_at: None,
            link_down: None,
            link_stale: false,
            refresh_every: Duration::from_secs(15),
            history: History::default(),
            editing: false,
            jobs: JobsPane::default(),
            workers: ListCursor::default(),
            worker_sort: Sort::default(),
            worker_rows: Vec::new(),
            audit: AuditPane::default(),
            failure_group: 0,
            toasts: Vec::new(),
            notice: None,
            notices_shown: 0,
            id_len: short_len(&[] as &[Uuid]),
            busy: None,
            viewport: (80, 24),
            dirty: true,
            quit: false,
        }
    }

    /// Read-only by flag, or because the role may not act: mutating keys
    /// are then hidden and refused.
    pub fn acts_read_only(&self) -> bool {
        self.read_only || self.role() == Some(Role::Viewer)
    }

    fn role(&self) -> Option<Role> {
        self.newest().map(|s| s.access.role)
    }

    /// Whether the flag and the role allow this change at all: the help
    /// offers only the keys that pass.
    pub fn may(&self, intent: Intent) -> bool {
        !self.read_only && self.role().is_some_and(|r| r.allows(intent.permission()))
    }

    /// Why the role limits the console, for the footer.
    pub fn access_note(&self) -> Option<String> {
        let access = &self.newest()?.access;
        match access.role {
            Role::Admin => None,
            Role::Operator => Some("operator role: no start or pause".into()),
            Role::Viewer => Some(match &access.note {
                Some(note) => format!("viewer role: {note}"),
                None => "viewer role".into(),
            }),
        }
    }

    /// When the newest data was read, if the console can no longer vouch
    /// for it: a refresh failed, the live link dropped and no refresh has
    /// succeeded since, or it is older than two refresh intervals.
    pub fn stale_since(&self) -> Option<DateTime<Utc>> {
        let since = self.last_refresh?;
        let old = match (self.clock, self.received_at) {
            (Some(now), Some(at)) => {
                (now - at).to_std().unwrap_or_default() >= 2 * self.refresh_every
            }
            _ => false,
        };
        let lost = matches!(self.connection, Connection::Lost(_));
        (old || lost || self.link_stale).then_some(since)
    }

    /// Why the data is stale, in words, while [`App::stale_since`] says it is.
    pub fn stale_reason(&self) -> String {
        match (&self.connection, &self.link_down) {
            (Connection::Lost(err), _) => err.clone(),
            (_, Some(reason)) => format!("live updates lost: {reason}"),
            _ => "no new data for two refresh intervals".to_string(),
        }
    }

    /// When the loop must send the next [`Event::Tick`]: when the data turns
    /// stale, then every second while it is (its ages keep growing).
    pub fn next_tick(&self) -> Option<DateTime<Utc>> {
        let received = self.received_at?;
        if self.stale_since().is_some() {
            let now = self.clock.unwrap_or(received);
            return Some(now + chrono::Duration::seconds(1));
        }
        Some(received + chrono::Duration::from_std(2 * self.refresh_every).ok()?)
    }

    /// An age read with the data shown, as of now: it keeps growing while
    /// no new data comes (a dead worker's heartbeat does not stay at 0s).
    pub fn aged(&self, age: Duration) -> Duration {
        match (self.clock, self.shown_received_at) {
            (Some(now), Some(at)) => age + (now - at).to_std().unwrap_or_default(),
            _ => age,
        }
    }

    /// The newest data, frozen or not: permissions follow the truth.
    pub fn newest(&self) -> Option<&Snapshot> {
        self.held.as_ref().or(self.snapshot.as_ref())
    }

    /// The one permission check for every change the console can ask for.
    pub fn authorize(&self, intent: Intent) -> Result<(), String> {
        let verb = intent.verb();
        if self.read_only {
            return Err(format!("read-only console: cannot {verb}"));
        }
        let Some(snapshot) = self.newest() else {
            return Err(format!("not connected yet: cannot {verb}"));
        };
        let access = &snapshot.access;
        if !access.role.allows(intent.permission()) {
            let who = access.operator.as_deref().unwrap_or("this console");
            let note = access
                .note
                .as_deref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            return Err(format!(
                "{who} has the {} role and may not {verb}{note}",
                access.role.as_str()
            ));
        }
        if let Some(busy) = &self.busy {
            return Err(format!(
                "cannot {verb} yet: {} is still running",
                busy.intent().verb()
            ));
        }
        Ok(())
    }

    /// The contexts whose keys apply right now, most specific first.
    pub fn contexts(&self) -> Vec<Context> {
        match &self.overlay {
            Some(Overlay::Help { .. }) => vec![Context::Help],
            Some(Overlay::Confirm(_)) => vec![Context::Confirm],
            // The result page closes with any screen key, which then acts.
            Some(Overlay::Wizard(w)) if w.step == WizardStep::Done => {
                let mut chain = vec![Context::Wizard];
                chain.extend_from_slice(Context::chain(self.screen));
                chain
            }
            Some(Overlay::Wizard(_)) => vec![Context::Wizard],
            None if self.editing => vec![Context::TextInput],
            None if self.detail_open() => Context::detail_chain(self.screen),
            None => Context::chain(self.screen).to_vec(),
        }
    }

    /// Whether the current screen shows a detail view.
    pub fn detail_open(&self) -> bool {
        match self.screen {
            Screen::Jobs => self.jobs.detail,
            Screen::Audit => self.audit.detail,
            _ => false,
        }
    }

    /// The selected audit entry.
    pub fn selected_audit(&self) -> Option<&super::model::AuditView> {
        let audit = &self.snapshot.as_ref()?.audit;
        self.audit
            .rows
            .get(self.audit.cursor.index)
            .map(|i| &audit[*i])
    }

    /// The selected worker.
    pub fn selected_worker(&self) -> Option<&super::model::WorkerView> {
        let workers = &self.snapshot.as_ref()?.workers;
        self.worker_rows
            .get(self.workers.index)
            .map(|i| &workers[*i])
    }

    /// Lines of the detail view that fit on screen (header, footer, the
    /// filter bar and the panel's borders take five rows).
    pub fn detail_page(&self) -> usize {
        usize::from(self.viewport.1.saturating_sub(5)).max(1)
    }

    /// Rows of a list that fit on screen: the page for PgUp/PgDn.
    pub fn page(&self) -> usize {
        usize::from(self.viewport.1.saturating_sub(8)).max(1)
    }

    pub fn toast(&mut self, kind: ToastKind, text: impl Into<String>) {
        let text = text.into();
        match kind {
            ToastKind::Error | ToastKind::Refusal => tracing::warn!("{text}"),
            _ => tracing::info!("{text}"),
        }
        self.toasts.push(Toast { kind, text });
    }

    pub fn visible_jobs(&self) -> impl ExactSizeIterator<Item = &JobView> {
        let jobs = self.snapshot.as_ref().map(|s| &s.jobs[..]).unwrap_or(&[]);
        self.jobs.rows.iter().map(move |i| &jobs[*i])
    }

    pub fn selected_job(&self) -> Option<&JobView> {
        let jobs = &self.snapshot.as_ref()?.jobs;
        self.jobs
            .rows
            .get(self.jobs.cursor.index)
            .map(|i| &jobs[*i])
    }

    fn job_ids(&self) -> Vec<Uuid> {
        self.visible_jobs().map(|j| j.id).collect()
    }

    fn audit_ids(&self) -> Vec<Uuid> {
        let Some(s) = &self.snapshot else {
            return Vec::new();
        };
        self.audit.rows.iter().map(|i| s.audit[*i].id).collect()
    }

    fn worker_ids(&self) -> Vec<Uuid> {
        let Some(s) = &self.snapshot else {
            return Vec::new();
        };
        self.worker_rows.iter().map(|i| s.workers[*i].id).collect()
    }

    /// The Jobs screen's search text, as the backend searches it.
    pub fn job_search(&self) -> String {
        self.jobs.search.value().trim().to_string()
    }

    /// Recomputes the filtered rows and keeps each cursor on its row.
    fn refilter(&mut self) {
        let page = self.page();
        let Some(s) = &self.snapshot else {
            return;
        };
        let text = self.jobs.search.value().trim().to_lowercase();
        let fragment = text.parse::<IdFragment>().ok();
        self.jobs.rows = s
            .jobs
            .iter()
            .enumerate()
            .filter(|(_, j)| self.jobs.status.is_none_or(|st| j.status == st))
            .filter(|(_, j)| self.jobs.job_type.is_none_or(|t| j.job_type == t))
            .filter(|(_, j)| {
                text.is_empty()
                    || j.wallet_address.to_lowercase().contains(&text)
                    || j.user
                        .as_deref()
                        .is_some_and(|u| u.to_lowercase().contains(&text))
                    || fragment.as_ref().is_some_and(|f| f.matches(&j.id))
            })
            .map(|(i, _)| i)
            .collect();
        let text = self.audit.search.value().trim().to_lowercase();
        let fragment = text.parse::<IdFragment>().ok();
        self.audit.rows = s
            .audit
            .iter()
            .enumerate()
            .filter(|(_, a)| {
                text.is_empty()
                    || [&a.actor, &a.action, &a.target]
                        .iter()
                        .any(|f| f.to_lowercase().contains(&text))
                    || fragment
                        .as_ref()
                        .zip(target_id(&a.target))
                        .is_some_and(|(f, id)| f.matches(&id))
            })
            .map(|(i, _)| i)
            .collect();
        sort::order(&mut self.audit.rows, &s.audit, self.audit.sort, sort::audit);
        sort::order(&mut self.jobs.rows, &s.jobs, self.jobs.sort, sort::jobs);
        self.worker_rows = (0..s.workers.len()).collect();
        sort::order(
            &mut self.worker_rows,
            &s.workers,
            self.worker_sort,
            sort::workers,
        );
        let ids = self.job_ids();
        self.jobs.cursor.reanchor(&ids, page);
        let ids = self.audit_ids();
        self.audit.cursor.reanchor(&ids, page);
        let ids = self.worker_ids();
        self.workers.reanchor(&ids, page);
        let groups = s.failures.groups.len();
        self.failure_group = self.failure_group.min(groups.saturating_sub(1));
    }

    fn show(&mut self, snapshot: Snapshot) {
        self.id_len = short_len(&ids_on_screen(&snapshot));
        self.snapshot = Some(snapshot);
        self.refilter();
    }

    /// A job id as the screens show it: its tail, [`App::id_len`] digits.
    pub fn short(&self, id: &Uuid) -> String {
        short_id_len(id, self.id_len)
    }

    /// A footer notice that goes away by itself; a newer one replaces it.
    pub fn note(&mut self, kind: ToastKind, text: impl Into<String>) -> Vec<Effect> {
        let text = text.into();
        match kind {
            ToastKind::Error | ToastKind::Refusal => tracing::warn!("{text}"),
            _ => tracing::info!("{text}"),
        }
        self.notices_shown += 1;
        let id = self.notices_shown;
        self.notice = Some(Notice { id, kind, text });
        vec![Effect::ExpireNotice {
            id,
            after: NOTICE_FOR,
        }]
    }
}

/// Every job id the screens may show at once, so that their short forms
/// all differ: the jobs, the workers' current jobs, the dashboard's, and
/// the jobs the audit trail names.
fn ids_on_screen(s: &Snapshot) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = s.jobs.iter().map(|j| j.id).collect();
    ids.extend(s.workers.iter().filter_map(|w| w.current_job));
    ids.extend(s.oldest_pending.iter().chain(&s.stuck).map(|j| j.id));
    ids.extend(s.audit.iter().filter_map(|a| target_id(&a.target)));
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The id an audit target names (`job 0193…`), if it names one.
pub fn target_id(target: &str) -> Option<Uuid> {
    target
        .rsplit(' ')
        .next()
        .and_then(|word| Uuid::parse_str(word).ok())
}

/// The one update path: every event goes through here.
pub fn update(app: &mut App, event: Event) -> Vec<Effect> {
    app.dirty = true;
    match event {
        Event::Key(key) => on_key(app, key),
        Event::Mouse(mouse) => on_mouse(app, mouse),
        Event::Paste(text) => on_paste(app, &text),
        Event::Resize(width, height) => {
            app.viewport = (width, height);
            app.refilter();
            Vec::new()
        }
        Event::Snapshot(Ok(snapshot)) => {
            app.connection = Connection::Connected;
            app.last_refresh = Some(snapshot.taken_at);
            app.received_at = app.clock;
            app.link_stale = false;
            app.history.record(&snapshot.history);
            if app.frozen {
                app.held = Some(snapshot);
                return Vec::new();
            }
            app.shown_received_at = app.clock;
            app.show(snapshot);
            // An open detail follows its job as the data does.
            match app.selected_job().filter(|_| app.jobs.detail) {
                Some(job) => vec![Effect::LoadJobDetail(job.id)],
                None => Vec::new(),
            }
        }
        Event::Tick(now) => {
            let was_stale = app.stale_since().is_some();
            app.clock = Some(now);
            // Time alone changes the screen only when the data turns stale,
            // and while it is (its ages grow): an idle console stays asleep.
            app.dirty = was_stale || app.stale_since().is_some();
            Vec::new()
        }
        Event::LinkDown(reason) => {
            app.dirty = app.link_down.as_ref() != Some(&reason) || !app.link_stale;
            app.link_down = Some(reason);
            app.link_stale = true;
            Vec::new()
        }
        Event::LinkUp => {
            app.dirty = app.link_down.take().is_some();
            Vec::new()
        }
        Event::Snapshot(Err(err)) => {
            app.connection = Connection::Lost(err.to_string());
            Vec::new()
        }
        Event::ActionDone { command, result } => on_action_done(app, command, result),
        Event::NoticeExpired(id) => {
            if app.notice.as_ref().is_some_and(|n| n.id == id) {
                app.notice = None;
            } else {
                app.dirty = false;
            }
            Vec::new()
        }
        Event::JobDetail { id, result } => {
            // Only the detail of the job still shown counts.
            if app.jobs.detail && app.selected_job().is_some_and(|j| j.id == id) {
                app.jobs.loaded = Some(LoadedDetail {
                    id,
                    result: result.map_err(|e| e.to_string()),
                });
            } else {
                app.dirty = false;
            }
            Vec::new()
        }
        Event::Counted { command, result } => on_counted(app, command, result),
        Event::SearchDone { query, result } => {
            // Only the search for the text now in the field counts: results
            // for what the operator typed before are dropped.
            if let Some(Overlay::Wizard(w)) = &mut app.overlay
                && w.searching.as_deref() == Some(query.as_str())
            {
                w.searching = None;
                match result {
                    Ok(hits) => {
                        w.hits = hits;
                        w.hit_index = 0;
                        w.search_error = None;
                    }
                    Err(err) => {
                        w.hits.clear();
                        w.search_error = Some(err.to_string());
                    }
                }
            } else {
                app.dirty = false;
            }
            Vec::new()
        }
    }
}

/// The count for a retry or cancel by filter arrived: open its
/// confirmation with that count, unless the operator moved on meanwhile.
/// Every job the Jobs screen's filters select, for a retry or cancel of
/// them all: the status filter (failed or cancelled to retry, pending to
/// cancel; none means those), the type filter, and the search when it is
/// one whole wallet address. `admin` counts it before anything is asked.
fn jobs_selection(app: &App, intent: Intent) -> Result<AdminCommand, String> {
    let pane = &app.jobs;
    let (action, status) = match (intent, pane.status) {
        (Intent::RetryFailures, None) => (BulkAction::Retry, JobStatus::Failed),
        (Intent::RetryFailures, Some(s @ (JobStatus::Failed | JobStatus::Cancelled))) => {
            (BulkAction::Retry, s)
        }
        (Intent::RetryFailures, Some(_)) => {
            return Err(
                "retry takes failed or cancelled jobs: set the status filter to one of them".into(),
            );
        }
        (_, None | Some(JobStatus::Pending)) => (BulkAction::Cancel, JobStatus::Pending),
        (_, Some(_)) => {
            return Err("cancel takes pending jobs: set the status filter to pending".into());
        }
    };
    let search = app.job_search();
    let wallet = if search.is_empty() {
        None
    } else if search.starts_with('T') && search.len() == 34 && address_problem(&search).is_none() {
        Some(search)
    } else {
        return Err(
            "jobs are acted on by status, type and one whole wallet address: search for an address or clear the search".into(),
        );
    };
    let mut label = vec![format!("status {status}")];
    if let Some(t) = pane.job_type {
        label.push(format!("type {t}"));
    }
    if let Some(w) = &wallet {
        label.push(format!("wallet {w}"));
    }
    Ok(AdminCommand::Selection {
        action,
        selection: JobSelection {
            job_type: pane.job_type,
            wallet_address: wallet,
            ..JobSelection::status(status)
        },
        label: label.join(", "),
        count: BulkCount::default(),
    })
}

fn on_counted(
    app: &mut App,
    command: AdminCommand,
    result: Result<BulkCount, BackendError>,
) -> Vec<Effect> {
    let verb = command.intent().verb();
    let AdminCommand::Selection {
        action,
        selection,
        label,
        ..
    } = command
    else {
        return Vec::new();
    };
    match result {
        Err(err) => app.toast(
            ToastKind::Error,
            format!("cannot count the jobs to {verb}: {err}"),
        ),
        // Asked from the dashboard (an error group) or the Jobs screen (its
        // filters): the dialog opens only where it was asked for.
        Ok(count)
            if app.overlay.is_some()
                || app.screen
                    != if selection.error_class.is_some() {
                        Screen::Dashboard
                    } else {
                        Screen::Jobs
                    } =>
        {
            app.dirty = false;
            tracing::info!(?count, "count arrived after the operator moved on");
        }
        Ok(count) if count.jobs == 0 => app.toast(
            ToastKind::Info,
            match action {
                BulkAction::Retry => "nothing to do: none of these jobs can be retried now",
                _ => "nothing to do: no pending job matches",
            },
        ),
        Ok(count) => {
            app.overlay = Some(Overlay::Confirm(Confirmation {
                command: AdminCommand::Selection {
                    action,
                    selection,
                    label,
                    count,
                },
                focus: Choice::Cancel,
            }));
        }
    }
    Vec::new()
}

fn on_action_done(
    app: &mut App,
    command: AdminCommand,
    result: Result<ActionOutcome, BackendError>,
) -> Vec<Effect> {
    app.busy = None;
    let verb = command.intent().verb();
    let shown = match &result {
        Ok(outcome) => Ok(outcome.message.clone()),
        Err(BackendError::Refused(reason)) => Err(format!("cannot {verb}: {reason}")),
        Err(err) => Err(format!("could not {verb}: {err}")),
    };
    if let Some(Overlay::Wizard(w)) = &mut app.overlay
        && w.step == WizardStep::Sending
    {
        // Shown in place: a toast as well would take a second Esc.
        w.step = WizardStep::Done;
        w.result = Some(shown);
        return vec![Effect::Refresh];
    }
    match shown {
        Ok(message) => app.toast(ToastKind::Success, message),
        Err(message) => {
            let kind = match result {
                Err(BackendError::Refused(_)) => ToastKind::Refusal,
                _ => ToastKind::Error,
            };
            app.toast(kind, message);
        }
    }
    vec![Effect::Refresh]
}

fn on_key(app: &mut App, key: KeyEvent) -> Vec<Effect> {
    if key.kind == KeyEventKind::Release {
        app.dirty = false;
        return Vec::new();
    }
    let contexts = app.contexts();
    if let Some(action) = app.keymap.lookup(&contexts, &key) {
        return dispatch(app, action);
    }
    let chord = KeyChord::from_event(&key);
    if starts_wallet_search(app, &key) {
        // Typing on the wizard's first step takes the highlighted job type
        // and begins the wallet search with what was typed.
        if let Some(Overlay::Wizard(w)) = &mut app.overlay {
            w.step = WizardStep::Wallet;
        }
    }
    if !in_text_field(app) {
        app.dirty = false;
        return Vec::new();
    }
    let quit_key = app.keymap.lookup(&[Context::Global], &key) == Some(Action::Quit);
    if quit_key && chord.is_ctrl() {
        // Ctrl-C in a text field quits by accident (k9s#1599): explain instead.
        return app.note(
            ToastKind::Info,
            format!("{chord} does not quit from a text field: Esc leaves it, then q quits"),
        );
    }
    let input = text_field(app);
    if input.handle_event(&TermEvent::Key(key)).is_none() {
        app.dirty = false;
        return Vec::new();
    }
    text_changed(app)
}

/// Rows one wheel notch moves a list.
const WHEEL_ROWS: usize = 3;

/// A click acts on what the screen shows under it (a tab, a list row, a
/// dialog's button), found through the same layout the screen was drawn
/// with; the wheel moves the list or the help as the arrow keys do.
fn on_mouse(app: &mut App, mouse: MouseEvent) -> Vec<Effect> {
    match mouse.kind {
        MouseEventKind::ScrollDown | MouseEventKind::ScrollUp
            if !app.editing && !matches!(app.overlay, Some(Overlay::Confirm(_))) =>
        {
            let action = if mouse.kind == MouseEventKind::ScrollDown {
                Action::Down
            } else {
                Action::Up
            };
            (0..WHEEL_ROWS)
                .flat_map(|_| dispatch(app, action))
                .collect()
        }
        MouseEventKind::Down(MouseButton::Left) => {
            match layout::target(app, mouse.column, mouse.row) {
                Some(Target::Tab(screen)) if !app.editing => on_screen(app, Action::GoTo(screen)),
                Some(Target::Row(index)) if !app.editing => {
                    let page = app.page();
                    let (ids, cursor) = match app.screen {
                        Screen::Jobs => (app.job_ids(), &mut app.jobs.cursor),
                        Screen::Audit => (app.audit_ids(), &mut app.audit.cursor),
                        Screen::Workers => (app.worker_ids(), &mut app.workers),
                        Screen::Dashboard => return Vec::new(),
                    };
                    // A click on the selected job opens it, as Enter does.
                    let again = cursor.selected.is_some() && cursor.index == index;
                    cursor.move_to(index, &ids, page);
                    if again && app.screen == Screen::Jobs {
                        return on_screen(app, Action::Open);
                    }
                    Vec::new()
                }
                Some(Target::Button(choice)) => {
                    if let Some(Overlay::Confirm(c)) = &mut app.overlay {
                        c.focus = choice;
                    }
                    dispatch(app, Action::Press)
                }
                _ => {
                    app.dirty = false;
                    Vec::new()
                }
            }
        }
        _ => {
            app.dirty = false;
            Vec::new()
        }
    }
}

/// A printable key, without Ctrl or Alt, on the wizard's job type step.
fn starts_wallet_search(app: &App, key: &KeyEvent) -> bool {
    use crossterm::event::{KeyCode, KeyModifiers};
    matches!(&app.overlay, Some(Overlay::Wizard(w)) if w.step == WizardStep::JobType)
        && matches!(key.code, KeyCode::Char(c) if !c.is_control())
        && !key
            .modifiers
            .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
}

fn in_text_field(app: &App) -> bool {
    match &app.overlay {
        Some(Overlay::Wizard(w)) => w.step == WizardStep::Wallet,
        Some(_) => false,
        None => app.editing,
    }
}

/// The focused text field; call only when [`in_text_field`] holds.
fn text_field(app: &mut App) -> &mut Input {
    match &mut app.overlay {
        Some(Overlay::Wizard(w)) => &mut w.input,
        _ if app.screen == Screen::Audit => &mut app.audit.search,
        _ => &mut app.jobs.search,
    }
}

fn on_paste(app: &mut App, text: &str) -> Vec<Effect> {
    if !in_text_field(app) {
        // A pasted address must not run as keys (its q would quit).
        return app.note(
            ToastKind::Info,
            "paste ignored: open a search first (/ or the dispatch wizard)",
        );
    }
    let input = text_field(app);
    let mut changed = false;
    for c in text.chars().filter(|c| !c.is_control()) {
        changed |= input.handle(InputRequest::InsertChar(c)).is_some();
    }
    if !changed {
        app.dirty = false;
        return Vec::new();
    }
    text_changed(app)
}

/// The current text field changed: filter again, or search wallets.
fn text_changed(app: &mut App) -> Vec<Effect> {
    if let Some(Overlay::Wizard(w)) = &mut app.overlay {
        let query = w.input.value().trim().to_string();
        w.search_error = None;
        if query.chars().count() < 2 {
            w.hits.clear();
            w.searching = None;
            return Vec::new();
        }
        w.searching = Some(query.clone());
        return vec![Effect::SearchWallets(query)];
    }
    app.refilter();
    if app.screen == Screen::Audit {
        return Vec::new();
    }
    // The fetched rows are filtered at once; the database is searched too,
    // for matching jobs older than the newest ones fetched.
    vec![Effect::Refresh]
}

fn dispatch(app: &mut App, action: Action) -> Vec<Effect> {
    if let Some(intent) = action.intent() {
        if let Err(why) = app.authorize(intent) {
            return app.note(ToastKind::Refusal, why);
        }
        return request(app, intent);
    }
    match app.overlay.take() {
        Some(Overlay::Help { scroll }) => {
            app.overlay = match action {
                Action::Up => Some(Overlay::Help {
                    scroll: scroll.saturating_sub(1),
                }),
                // The help never has more lines than twice the bindings.
                Action::Down => Some(Overlay::Help {
                    scroll: (scroll + 1).min(2 * app.keymap.len() as u16),
                }),
                _ => None,
            };
            Vec::new()
        }
        Some(Overlay::Confirm(mut confirmation)) => match action {
            Action::SwitchFocus => {
                confirmation.focus = confirmation.focus.toggled();
                app.overlay = Some(Overlay::Confirm(confirmation));
                Vec::new()
            }
            Action::Press if confirmation.focus == Choice::Confirm => {
                confirm(app, confirmation.command)
            }
            // Cancel pressed, Esc or n: the dialog closes and nothing runs.
            _ => Vec::new(),
        },
        Some(Overlay::Wizard(wizard)) => on_wizard(app, *wizard, action),
        None if app.editing => {
            app.editing = false;
            if action == Action::Back {
                match app.screen {
                    Screen::Audit => app.audit.search.reset(),
                    _ => app.jobs.search.reset(),
                }
                app.refilter();
            }
            Vec::new()
        }
        None => on_screen(app, action),
    }
}

/// A mutating request that passed [`App::authorize`]: open its
/// confirmation, or say why there is nothing to confirm.
fn request(app: &mut App, intent: Intent) -> Vec<Effect> {
    // Counts come from the newest data, even while the view is frozen.
    let Some(s) = app.newest() else {
        return Vec::new();
    };
    let command = match intent {
        Intent::Dispatch => {
            app.overlay = Some(Overlay::Wizard(Box::new(Wizard::new())));
            return Vec::new();
        }
        Intent::PauseWorkers => AdminCommand::PauseWorkers {
            workers: s.workers.len(),
        },
        Intent::StartWorkers => AdminCommand::StartWorkers {
            workers: s.workers.len(),
        },
        // The count clear-failed's own predicate gives (not the per-type
        // counts, which another statement maintains).
        Intent::ClearFailed => AdminCommand::ClearFailed {
            count: s.failures.total,
        },
        Intent::RetryFailures | Intent::CancelFailures if app.screen == Screen::Jobs => {
            return match jobs_selection(app, intent) {
                Ok(command) => vec![Effect::CountSelection(command)],
                Err(why) => app.note(
                    ToastKind::Refusal,
                    format!("cannot {}: {why}", intent.verb()),
                ),
            };
        }
        Intent::RetryFailures | Intent::CancelFailures => {
            let group = s
                .failures
                .groups
                .get(app.failure_group)
                .filter(|_| app.screen == Screen::Dashboard);
            let Some(group) = group else {
                app.toast(
                    ToastKind::Info,
                    format!(
                        "cannot {}: select an error under Failed jobs on the dashboard first",
                        intent.verb()
                    ),
                );
                return Vec::new();
            };
            let (action, status) = if intent == Intent::RetryFailures {
                (BulkAction::Retry, JobStatus::Failed)
            } else {
                (BulkAction::Cancel, JobStatus::Pending)
            };
            let command = AdminCommand::Selection {
                action,
                selection: JobSelection {
                    error_class: Some(group.class.clone()),
                    ..JobSelection::status(status)
                },
                label: group.example.clone(),
                count: BulkCount::default(),
            };
            return vec![Effect::CountSelection(command)];
        }
        Intent::ResetProcessing => AdminCommand::ResetProcessing {
            count: s.stuck_total,
            wallets: s.orphaned_wallets,
        },
        Intent::RetryJob | Intent::CancelJob => {
            let Some(job) = app.selected_job().filter(|_| app.screen == Screen::Jobs) else {
                return app.note(
                    ToastKind::Info,
                    format!("cannot {}: select a job first", intent.verb()),
                );
            };
            // Refused at once, as `admin` would refuse it, instead of after
            // a confirmation.
            let (may, only) = match intent {
                Intent::RetryJob => (
                    matches!(job.status, JobStatus::Failed | JobStatus::Cancelled),
                    "only failed or cancelled jobs can be retried",
                ),
                _ => (
                    job.status == JobStatus::Pending,
                    "only pending jobs can be cancelled",
                ),
            };
            if !may {
                let why = format!(
                    "job {} is {}: {only}",
                    app.short(&job.id),
                    job.status.as_str()
                );
                return app.note(ToastKind::Refusal, why);
            }
            let (job, job_type, wallet) = (job.id, job.job_type, job.wallet_address.clone());
            if intent == Intent::RetryJob {
                AdminCommand::RetryJob {
                    job,
                    job_type,
                    wallet,
                }
            } else {
                AdminCommand::CancelJob {
                    job,
                    job_type,
                    wallet,
                }
            }
        }
    };
    let nothing = match &command {
        AdminCommand::ClearFailed { count: 0 } => Some("there are no failed jobs to clear"),
        AdminCommand::ResetProcessing {
            count: 0,
            wallets: 0,
        } => Some("no processing job is past its lease and no wallet is flagged by a finished job"),
        AdminCommand::PauseWorkers { .. } if s.paused => Some("the workers are already paused"),
        AdminCommand::StartWorkers { .. } if !s.paused => Some("the workers are already running"),
        _ => None,
    };
    if let Some(why) = nothing {
        return app.note(ToastKind::Info, format!("nothing to do: {why}"));
    }
    app.overlay = Some(Overlay::Confirm(Confirmation {
        command,
        focus: Choice::Cancel,
    }));
    Vec::new()
}

/// The operator confirmed: check again (the role or the flag may have
/// changed while the dialog was open) and hand the action to the loop.
fn confirm(app: &mut App, command: AdminCommand) -> Vec<Effect> {
    if let Err(why) = app.authorize(command.intent()) {
        return app.note(ToastKind::Refusal, why);
    }
    app.busy = Some(command.clone());
    vec![Effect::RunAdminAction(ConfirmedAction::new(command))]
}

fn on_wizard(app: &mut App, mut w: Wizard, action: Action) -> Vec<Effect> {
    let mut effects = Vec::new();
    let keep = match (w.step, action) {
        (WizardStep::JobType, Action::Up) => {
            w.type_index = w.type_index.saturating_sub(1);
            true
        }
        (WizardStep::JobType, Action::Down) => {
            w.type_index = (w.type_index + 1).min(JOB_TYPES.len() - 1);
            true
        }
        (WizardStep::JobType, Action::Press) => {
            w.step = WizardStep::Wallet;
            true
        }
        (WizardStep::JobType, Action::Back) => false,
        (WizardStep::Wallet, Action::Up) => {
            w.hit_index = w.hit_index.saturating_sub(1);
            true
        }
        (WizardStep::Wallet, Action::Down) => {
            w.hit_index = (w.hit_index + 1).min(w.hits.len().saturating_sub(1));
            true
        }
        (WizardStep::Wallet, Action::Press) => {
            if w.picked().is_some() {
                w.step = WizardStep::Review;
                w.focus = Choice::Cancel;
            }
            true
        }
        (WizardStep::Wallet, Action::Back) => {
            w.step = WizardStep::JobType;
            true
        }
        (WizardStep::Review, Action::SwitchFocus) => {
            w.focus = w.focus.toggled();
            true
        }
        (WizardStep::Review, Action::Press) if w.focus == Choice::Confirm => {
            if let Some(wallet) = w.picked().cloned() {
                let command = AdminCommand::Dispatch {
                    job_type: w.job_type(),
                    wallet,
                };
                effects = confirm(app, command);
                if effects
                    .iter()
                    .any(|e| matches!(e, Effect::RunAdminAction(_)))
                {
                    w.step = WizardStep::Sending;
                }
            }
            true
        }
        (WizardStep::Review, Action::Press | Action::Back) => {
            w.step = WizardStep::Wallet;
            true
        }
        (WizardStep::Sending, _) => true,
        (WizardStep::Done, Action::Press | Action::Back) => false,
        (WizardStep::Done, other) => return on_screen(app, other),
        _ => true,
    };
    if keep {
        app.overlay = Some(Overlay::Wizard(Box::new(w)));
    }
    effects
}

fn on_screen(app: &mut App, action: Action) -> Vec<Effect> {
    let page = app.page();
    match action {
        Action::Quit => {
            app.quit = true;
            return vec![Effect::Quit];
        }
        Action::Help => app.overlay = Some(Overlay::Help { scroll: 0 }),
        Action::Back => back(app),
        Action::NextScreen => {
            app.screen = Screen::ALL[(app.screen.index() + 1) % Screen::ALL.len()];
        }
        Action::PrevScreen => {
            let n = Screen::ALL.len();
            app.screen = Screen::ALL[(app.screen.index() + n - 1) % n];
        }
        Action::GoTo(screen) => app.screen = screen,
        Action::Refresh => return vec![Effect::Refresh],
        Action::Freeze => {
            app.frozen = !app.frozen;
            if !app.frozen
                && let Some(held) = app.held.take()
            {
                app.shown_received_at = app.received_at;
                app.show(held);
            }
        }
        Action::Up
        | Action::Down
        | Action::PageUp
        | Action::PageDown
        | Action::Top
        | Action::Bottom
            if app.detail_open() =>
        {
            scroll_detail(app, action);
        }
        Action::Up | Action::Down | Action::PageUp | Action::PageDown | Action::Bottom => {
            let delta = match action {
                Action::Up => -1,
                Action::Down => 1,
                Action::PageUp => -(page as isize),
                Action::PageDown => page as isize,
                _ => isize::MAX,
            };
            let (ids, cursor) = match app.screen {
                Screen::Jobs => (app.job_ids(), &mut app.jobs.cursor),
                Screen::Audit => (app.audit_ids(), &mut app.audit.cursor),
                Screen::Workers => (app.worker_ids(), &mut app.workers),
                Screen::Dashboard => {
                    let groups = app.snapshot.as_ref().map_or(0, |s| s.failures.groups.len());
                    app.failure_group = app
                        .failure_group
                        .saturating_add_signed(delta.signum())
                        .min(groups.saturating_sub(1));
                    return Vec::new();
                }
            };
            cursor.move_by(delta, &ids, page);
        }
        Action::Top => match app.screen {
            Screen::Jobs => app.jobs.cursor.top(),
            Screen::Audit => app.audit.cursor.top(),
            Screen::Workers => app.workers.top(),
            Screen::Dashboard => {}
        },
        Action::Open => return open(app),
        Action::Sort | Action::SortReverse => {
            match (app.screen, action) {
                (Screen::Jobs, Action::Sort) => app.jobs.sort.next_column(),
                (Screen::Jobs, _) => app.jobs.sort.flip(),
                (Screen::Workers, Action::Sort) => app.worker_sort.next_column(),
                (Screen::Workers, _) => app.worker_sort.flip(),
                (Screen::Audit, Action::Sort) => app.audit.sort.next_column(),
                (Screen::Audit, _) => app.audit.sort.flip(),
                (Screen::Dashboard, _) => {}
            }
            // The selected row stays selected, where it was on screen.
            app.refilter();
        }
        Action::Filter => app.editing = true,
        Action::CycleStatus => {
            app.jobs.status = cycle(JobStatus::ALL, app.jobs.status);
            app.refilter();
        }
        Action::CycleType => {
            app.jobs.job_type = cycle(&JOB_TYPES, app.jobs.job_type);
            app.refilter();
        }
        Action::SwitchFocus | Action::Press | Action::Request(_) => {}
    }
    detail_to_read(app)
}

/// When the open job detail now shows another job than the one read (a
/// filter changed the selection, the view was unfrozen), read that one.
fn detail_to_read(app: &App) -> Vec<Effect> {
    match app.selected_job().filter(|_| app.jobs.detail) {
        Some(job) if app.jobs.loaded.as_ref().is_none_or(|l| l.id != job.id) => {
            vec![Effect::LoadJobDetail(job.id)]
        }
        _ => Vec::new(),
    }
}

/// Enter on a list: open or close the selected row's detail view, reading
/// a job's attempts and transfers when it opens.
fn open(app: &mut App) -> Vec<Effect> {
    match app.screen {
        Screen::Jobs => {
            app.jobs.detail = !app.jobs.detail;
            app.jobs.scroll = 0;
            let Some(id) = app.selected_job().filter(|_| app.jobs.detail).map(|j| j.id) else {
                app.jobs.detail = false;
                return Vec::new();
            };
            if app.jobs.loaded.as_ref().is_some_and(|l| l.id != id) {
                app.jobs.loaded = None;
            }
            vec![Effect::LoadJobDetail(id)]
        }
        Screen::Audit => {
            app.audit.detail = !app.audit.detail && app.selected_audit().is_some();
            app.audit.scroll = 0;
            Vec::new()
        }
        _ => Vec::new(),
    }
}

/// A movement key in a detail view scrolls it, up to its last page.
fn scroll_detail(app: &mut App, action: Action) {
    let page = app.detail_page();
    let lines = match app.screen {
        Screen::Jobs => super::ui::job_detail_lines(app).len(),
        _ => super::ui::audit_detail_lines(app).len(),
    };
    let last = u16::try_from(lines.saturating_sub(page)).unwrap_or(u16::MAX);
    let step = u16::try_from(page).unwrap_or(u16::MAX);
    let scroll = match app.screen {
        Screen::Jobs => &mut app.jobs.scroll,
        _ => &mut app.audit.scroll,
    };
    *scroll = match action {
        Action::Up => scroll.saturating_sub(1),
        Action::Down => scroll.saturating_add(1),
        Action::PageUp => scroll.saturating_sub(step),
        Action::PageDown => scroll.saturating_add(step),
        Action::Top => 0,
        _ => last,
    }
    .min(last);
}

/// Esc on a screen: undo the nearest thing, one at a time.
fn back(app: &mut App) {
    if app.toasts.pop().is_some() {
        return;
    }
    match app.screen {
        Screen::Jobs if app.jobs.detail => app.jobs.detail = false,
        Screen::Audit if app.audit.detail => app.audit.detail = false,
        Screen::Jobs
            if app.jobs.status.is_some()
                || app.jobs.job_type.is_some()
                || !app.jobs.search.value().is_empty() =>
        {
            app.jobs.status = None;
            app.jobs.job_type = None;
            app.jobs.search.reset();
            app.refilter();
        }
        Screen::Audit if !app.audit.search.value().is_empty() => {
            app.audit.search.reset();
            app.refilter();
        }
        _ => app.dirty = false,
    }
}

/// The next filter value: all, then each value in turn, then all again.
fn cycle<T: Copy + PartialEq>(all: &[T], current: Option<T>) -> Option<T> {
    match current {
        None => all.first().copied(),
        Some(v) => all
            .iter()
            .position(|x| *x == v)
            .and_then(|i| all.get(i + 1))
            .copied(),
    }
}
