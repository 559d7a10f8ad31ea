//! The keymap: which key means which [`Action`], per context, declared in one
//! table. The help overlay and the README's key table are generated from it,
//! so neither can drift from what the keys really do. Users rebind actions by
//! name in the config file's `[console.keys]` section.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::{Action, Intent, Screen};
use crate::config::KeyList;

/// Where a binding applies. Screens fall back to `Lists` (for the list
/// screens) and then `Global`; the modal contexts stand alone, so no
/// screen key fires behind a dialog or into a text field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Context {
    Global,
    Lists,
    Dashboard,
    Jobs,
    Audit,
    /// A detail view (a job, an audit entry): movement keys scroll it.
    Detail,
    Help,
    Confirm,
    /// A text field: printable keys are text, only these keys are actions.
    TextInput,
    Wizard,
}

impl Context {
    pub fn title(self) -> &'static str {
        match self {
            Context::Global => "Everywhere",
            Context::Lists => "Lists (jobs, workers, audit)",
            Context::Dashboard => "Dashboard (failed jobs by error)",
            Context::Jobs => "Jobs",
            Context::Audit => "Audit",
            Context::Detail => "Detail view (job, audit entry)",
            Context::Help => "Help",
            Context::Confirm => "Confirmation",
            Context::TextInput => "Text field (filter, wallet search)",
            Context::Wizard => "Dispatch wizard",
        }
    }

    /// The contexts consulted on a screen, most specific first.
    pub fn chain(screen: Screen) -> &'static [Context] {
        match screen {
            Screen::Dashboard => &[Context::Dashboard, Context::Global],
            Screen::Jobs => &[Context::Jobs, Context::Lists, Context::Global],
            Screen::Workers => &[Context::Lists, Context::Global],
            Screen::Audit => &[Context::Audit, Context::Lists, Context::Global],
        }
    }

    /// The contexts consulted while a screen shows a detail view.
    pub fn detail_chain(screen: Screen) -> Vec<Context> {
        let mut chain = vec![Context::Detail];
        chain.extend_from_slice(Context::chain(screen));
        chain
    }

    const ALL: [Context; 10] = [
        Context::Global,
        Context::Lists,
        Context::Dashboard,
        Context::Jobs,
        Context::Audit,
        Context::Detail,
        Context::Help,
        Context::Confirm,
        Context::TextInput,
        Context::Wizard,
    ];
}

/// One key with its modifiers, e.g. `Ctrl-C`, `G`, `Shift-Tab`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyChord {
    code: KeyCode,
    ctrl: bool,
    alt: bool,
}

impl KeyChord {
    pub const fn plain(code: KeyCode) -> Self {
        Self {
            code,
            ctrl: false,
            alt: false,
        }
    }

    pub const fn ctrl(c: char) -> Self {
        Self {
            code: KeyCode::Char(c),
            ctrl: true,
            alt: false,
        }
    }

    /// The chord a key event means. Shift is folded into the character
    /// (`G`, `?`), since terminals report it inconsistently.
    pub fn from_event(key: &KeyEvent) -> Self {
        let code = match key.code {
            KeyCode::Char(c) if key.modifiers.contains(KeyModifiers::CONTROL) => {
                KeyCode::Char(c.to_ascii_lowercase())
            }
            other => other,
        };
        Self {
            code,
            ctrl: key.modifiers.contains(KeyModifiers::CONTROL),
            alt: key.modifiers.contains(KeyModifiers::ALT),
        }
    }

    /// Whether Ctrl is held: such a chord is never text.
    pub fn is_ctrl(self) -> bool {
        self.ctrl
    }

    /// A key event for this chord, for tests and tools.
    pub fn to_event(self) -> KeyEvent {
        let mut mods = KeyModifiers::NONE;
        if self.ctrl {
            mods |= KeyModifiers::CONTROL;
        }
        if self.alt {
            mods |= KeyModifiers::ALT;
        }
        if let KeyCode::Char(c) = self.code
            && c.is_ascii_uppercase()
        {
            mods |= KeyModifiers::SHIFT;
        }
        KeyEvent::new(self.code, mods)
    }
}

const NAMED: [(&str, KeyCode); 14] = [
    ("Esc", KeyCode::Esc),
    ("Enter", KeyCode::Enter),
    ("Tab", KeyCode::Tab),
    ("Shift-Tab", KeyCode::BackTab),
    ("Space", KeyCode::Char(' ')),
    ("Up", KeyCode::Up),
    ("Down", KeyCode::Down),
    ("Left", KeyCode::Left),
    ("Right", KeyCode::Right),
    ("PgUp", KeyCode::PageUp),
    ("PgDn", KeyCode::PageDown),
    ("Home", KeyCode::Home),
    ("End", KeyCode::End),
    ("Backspace", KeyCode::Backspace),
];

impl fmt::Display for KeyChord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            f.write_str("Ctrl-")?;
        }
        if self.alt {
            f.write_str("Alt-")?;
        }
        if let Some((name, _)) = NAMED.iter().find(|(_, c)| *c == self.code) {
            return f.write_str(name);
        }
        match self.code {
            KeyCode::Char(c) if self.ctrl => write!(f, "{}", c.to_ascii_uppercase()),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::F(n) => write!(f, "F{n}"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// A key name the config file cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeymapError {
    /// The key's name is not one the console knows.
    #[error(
        "[console.keys] {action}: unknown key {key:?}; use a character, F1-F12, \
         Esc, Enter, Tab, Shift-Tab, Space, Up, Down, Left, Right, PgUp, PgDn, Home, End, \
         Backspace, with Ctrl- or Alt- in front if wanted"
    )]
    UnknownKey { action: String, key: String },
    /// The action's name is not one the console knows.
    #[error("[console.keys] unknown action {0:?}; the README's key table lists them")]
    UnknownAction(String),
    /// Two actions would share a key where both apply.
    #[error("[console.keys] key {key} would mean both {first} and {second} ({context})")]
    Conflict {
        key: String,
        first: &'static str,
        second: &'static str,
        context: &'static str,
    },
    /// An action left without a key could never be used.
    #[error("[console.keys] {0}: give at least one key")]
    Empty(String),
}

impl FromStr for KeyChord {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut rest = s.trim();
        let (mut ctrl, mut alt) = (false, false);
        loop {
            let lower = rest.to_ascii_lowercase();
            if rest.len() > 5 && lower.starts_with("ctrl-") {
                ctrl = true;
                rest = &rest[5..];
            } else if rest.len() > 4 && lower.starts_with("alt-") {
                alt = true;
                rest = &rest[4..];
            } else {
                break;
            }
        }
        let code = if let Some((_, code)) = NAMED
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(rest))
        {
            *code
        } else if let Some(n) = rest
            .strip_prefix(['F', 'f'])
            .and_then(|n| n.parse::<u8>().ok())
            .filter(|n| (1..=12).contains(n))
        {
            KeyCode::F(n)
        } else {
            let mut chars = rest.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if !c.is_control() => {
                    KeyCode::Char(if ctrl { c.to_ascii_lowercase() } else { c })
                }
                _ => return Err(s.to_string()),
            }
        };
        Ok(Self { code, ctrl, alt })
    }
}

/// One action's keys in one context, with the help text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub context: Context,
    pub action: Action,
    pub keys: Vec<KeyChord>,
    pub help: &'static str,
}

impl Binding {
    /// The keys as the help and README show them: `q, Ctrl-C`.
    pub fn keys_text(&self) -> String {
        self.keys
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn mutating(&self) -> bool {
        self.action.intent().is_some()
    }
}

/// The whole keymap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keymap {
    bindings: Vec<Binding>,
}

fn c(ch: char) -> KeyChord {
    KeyChord::plain(KeyCode::Char(ch))
}

fn k(code: KeyCode) -> KeyChord {
    KeyChord::plain(code)
}

impl Default for Keymap {
    /// The defaults follow k9s, lazydocker, bottom and htop. Big switches
    /// (pause, start, clear, reset) take capitals so a stray key cannot
    /// even open their confirmation.
    fn default() -> Self {
        use Action as A;
        use Context as X;
        let b = |context, action, keys: Vec<KeyChord>, help| Binding {
            context,
            action,
            keys,
            help,
        };
        let bindings = vec![
            b(
                X::Global,
                A::Quit,
                vec![c('q'), KeyChord::ctrl('c')],
                "quit",
            ),
            b(
                X::Global,
                A::Help,
                vec![c('?')],
                "show the keys of this screen",
            ),
            b(
                X::Global,
                A::Back,
                vec![k(KeyCode::Esc)],
                "dismiss a message, close, go back",
            ),
            b(
                X::Global,
                A::NextScreen,
                vec![k(KeyCode::Tab)],
                "next screen",
            ),
            b(
                X::Global,
                A::PrevScreen,
                vec![k(KeyCode::BackTab)],
                "previous screen",
            ),
            b(
                X::Global,
                A::GoTo(Screen::Dashboard),
                vec![c('1')],
                "dashboard",
            ),
            b(X::Global, A::GoTo(Screen::Jobs), vec![c('2')], "jobs"),
            b(X::Global, A::GoTo(Screen::Workers), vec![c('3')], "workers"),
            b(
                X::Global,
                A::GoTo(Screen::Audit),
                vec![c('4')],
                "audit trail",
            ),
            b(X::Global, A::Refresh, vec![c('r')], "refresh now"),
            b(
                X::Global,
                A::Freeze,
                vec![c('f'), c(' ')],
                "freeze or unfreeze the view",
            ),
            b(
                X::Global,
                A::Request(Intent::Dispatch),
                vec![c('d')],
                "dispatch a job (wizard)",
            ),
            b(
                X::Global,
                A::Request(Intent::PauseWorkers),
                vec![c('P')],
                "pause all workers",
            ),
            b(
                X::Global,
                A::Request(Intent::StartWorkers),
                vec![c('S')],
                "start all workers",
            ),
            b(
                X::Global,
                A::Request(Intent::ClearFailed),
                vec![c('F')],
                "clear failed jobs",
            ),
            b(
                X::Global,
                A::Request(Intent::ResetProcessing),
                vec![c('U')],
                "reset processing states",
            ),
            b(X::Lists, A::Up, vec![k(KeyCode::Up), c('k')], "move up"),
            b(
                X::Lists,
                A::Down,
                vec![k(KeyCode::Down), c('j')],
                "move down",
            ),
            b(
                X::Lists,
                A::PageUp,
                vec![k(KeyCode::PageUp), KeyChord::ctrl('b')],
                "page up",
            ),
            b(
                X::Lists,
                A::PageDown,
                vec![k(KeyCode::PageDown), KeyChord::ctrl('f')],
                "page down",
            ),
            b(
                X::Lists,
                A::Top,
                vec![k(KeyCode::Home), c('g')],
                "first row",
            ),
            b(
                X::Lists,
                A::Bottom,
                vec![k(KeyCode::End), c('G')],
                "last row",
            ),
            b(X::Lists, A::Sort, vec![c('o')], "sort by the next column"),
            b(X::Lists, A::SortReverse, vec![c('O')], "reverse the sort"),
            b(
                X::Dashboard,
                A::Up,
                vec![k(KeyCode::Up), c('k')],
                "select the error above",
            ),
            b(
                X::Dashboard,
                A::Down,
                vec![k(KeyCode::Down), c('j')],
                "select the error below",
            ),
            b(
                X::Dashboard,
                A::Request(Intent::RetryFailures),
                vec![c('R')],
                "retry the selected error's failed jobs",
            ),
            b(
                X::Dashboard,
                A::Request(Intent::CancelFailures),
                vec![c('x')],
                "cancel the selected error's pending jobs",
            ),
            b(
                X::Jobs,
                A::Request(Intent::RetryFailures),
                vec![c('A')],
                "retry the failed jobs the filters select",
            ),
            b(
                X::Jobs,
                A::Request(Intent::CancelFailures),
                vec![c('X')],
                "cancel the pending jobs the filters select",
            ),
            b(
                X::Jobs,
                A::Open,
                vec![k(KeyCode::Enter)],
                "show or hide the job's detail",
            ),
            b(
                X::Jobs,
                A::Filter,
                vec![c('/')],
                "search by wallet address or user",
            ),
            b(
                X::Jobs,
                A::CycleStatus,
                vec![c('s')],
                "filter by status (cycles)",
            ),
            b(
                X::Jobs,
                A::CycleType,
                vec![c('t')],
                "filter by job type (cycles)",
            ),
            b(
                X::Jobs,
                A::Request(Intent::RetryJob),
                vec![c('R')],
                "retry the selected job",
            ),
            b(
                X::Jobs,
                A::Request(Intent::CancelJob),
                vec![c('x')],
                "cancel the selected job",
            ),
            b(
                X::Audit,
                A::Open,
                vec![k(KeyCode::Enter)],
                "show or hide the entry's detail",
            ),
            b(
                X::Audit,
                A::Filter,
                vec![c('/')],
                "filter by actor, action or target",
            ),
            b(X::Detail, A::Up, vec![k(KeyCode::Up), c('k')], "scroll up"),
            b(
                X::Detail,
                A::Down,
                vec![k(KeyCode::Down), c('j')],
                "scroll down",
            ),
            b(
                X::Detail,
                A::PageUp,
                vec![k(KeyCode::PageUp), KeyChord::ctrl('b')],
                "scroll a page up",
            ),
            b(
                X::Detail,
                A::PageDown,
                vec![k(KeyCode::PageDown), KeyChord::ctrl('f')],
                "scroll a page down",
            ),
            b(X::Detail, A::Top, vec![k(KeyCode::Home), c('g')], "top"),
            b(
                X::Detail,
                A::Bottom,
                vec![k(KeyCode::End), c('G')],
                "bottom",
            ),
            b(
                X::Help,
                A::Back,
                vec![k(KeyCode::Esc), c('?'), c('q')],
                "close the help",
            ),
            b(X::Help, A::Up, vec![k(KeyCode::Up), c('k')], "scroll up"),
            b(
                X::Help,
                A::Down,
                vec![k(KeyCode::Down), c('j')],
                "scroll down",
            ),
            b(
                X::Confirm,
                A::SwitchFocus,
                vec![
                    k(KeyCode::Tab),
                    k(KeyCode::Left),
                    k(KeyCode::Right),
                    c('h'),
                    c('l'),
                ],
                "move between the buttons",
            ),
            b(
                X::Confirm,
                A::Press,
                vec![k(KeyCode::Enter)],
                "press the focused button",
            ),
            b(
                X::Confirm,
                A::Back,
                vec![k(KeyCode::Esc), c('n')],
                "close, changing nothing",
            ),
            b(
                X::TextInput,
                A::Back,
                vec![k(KeyCode::Esc)],
                "clear and leave the field",
            ),
            b(
                X::TextInput,
                A::Press,
                vec![k(KeyCode::Enter)],
                "keep the text and leave the field",
            ),
            b(X::Wizard, A::Up, vec![k(KeyCode::Up)], "previous choice"),
            b(X::Wizard, A::Down, vec![k(KeyCode::Down)], "next choice"),
            b(
                X::Wizard,
                A::SwitchFocus,
                vec![k(KeyCode::Tab)],
                "move between Back and Dispatch",
            ),
            b(
                X::Wizard,
                A::Press,
                vec![k(KeyCode::Enter)],
                "next step, or press the focused button",
            ),
            b(
                X::Wizard,
                A::Back,
                vec![k(KeyCode::Esc)],
                "previous step, or close",
            ),
        ];
        Self { bindings }
    }
}

impl Keymap {
    /// The defaults with the config file's rebindings applied: each named
    /// action gets exactly the keys given, wherever it is bound. The result
    /// is checked for keys that would mean two things at once.
    pub fn with_overrides(overrides: &BTreeMap<String, KeyList>) -> Result<Self, KeymapError> {
        let mut map = Self::default();
        for (name, keys) in overrides {
            let keys = keys.keys();
            if keys.is_empty() {
                return Err(KeymapError::Empty(name.clone()));
            }
            let chords = keys
                .iter()
                .map(|key| {
                    key.parse::<KeyChord>()
                        .map_err(|_| KeymapError::UnknownKey {
                            action: name.clone(),
                            key: key.clone(),
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let mut found = false;
            for binding in map.bindings.iter_mut().filter(|b| b.action.name() == name) {
                binding.keys = chords.clone();
                found = true;
            }
            if !found {
                return Err(KeymapError::UnknownAction(name.clone()));
            }
        }
        map.check()?;
        Ok(map)
    }

    /// No key may mean two actions in contexts consulted together.
    fn check(&self) -> Result<(), KeymapError> {
        let detail_chains: Vec<Vec<Context>> = [Screen::Jobs, Screen::Audit]
            .into_iter()
            .map(Context::detail_chain)
            .collect();
        let chains: Vec<&[Context]> = Screen::ALL
            .iter()
            .map(|s| Context::chain(*s))
            .chain(detail_chains.iter().map(Vec::as_slice))
            .chain([
                &[Context::Help][..],
                &[Context::Confirm],
                &[Context::TextInput],
                &[Context::Wizard],
            ])
            .collect();
        for chain in chains {
            let mut seen: BTreeMap<String, (&'static str, Context)> = BTreeMap::new();
            for binding in self.bindings.iter().filter(|b| chain.contains(&b.context)) {
                for key in &binding.keys {
                    let name = binding.action.name();
                    match seen.get(&key.to_string()) {
                        // One action bound twice in a chain is harmless.
                        Some((first, _)) if *first == name => {}
                        // A screen key shadowing a global one would leave
                        // the global action unreachable there: refuse it.
                        Some((first, context)) => {
                            return Err(KeymapError::Conflict {
                                key: key.to_string(),
                                first,
                                second: name,
                                context: context.title(),
                            });
                        }
                        None => {
                            seen.insert(key.to_string(), (name, binding.context));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The action a key means on a screen or in a modal context.
    pub fn lookup(&self, chain: &[Context], key: &KeyEvent) -> Option<Action> {
        let chord = KeyChord::from_event(key);
        chain.iter().find_map(|context| {
            self.bindings
                .iter()
                .find(|b| b.context == *context && b.keys.contains(&chord))
                .map(|b| b.action)
        })
    }

    /// The bindings of these contexts, in declaration order; mutating ones
    /// left out when the console may not act.
    pub fn bindings<'a>(
        &'a self,
        contexts: &'a [Context],
        hide_mutating: bool,
    ) -> impl Iterator<Item = &'a Binding> + 'a {
        contexts.iter().flat_map(move |context| {
            self.bindings
                .iter()
                .filter(move |b| b.context == *context && !(hide_mutating && b.mutating()))
        })
    }

    /// How many bindings there are: a bound for anything listing them.
    pub fn len(&self) -> usize {
        self.bindings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bindings.is_empty()
    }

    /// The first key bound to an action in a context, for hints on screen.
    pub fn key_for(&self, context: Context, action: Action) -> Option<KeyChord> {
        self.bindings
            .iter()
            .find(|b| b.context == context && b.action == action)
            .and_then(|b| b.keys.first().copied())
    }

    /// The README's key table, in Markdown.
    pub fn markdown_table(&self) -> String {
        let mut out =
            String::from("| where | keys | action | config name |\n| --- | --- | --- | --- |\n");
        for context in Context::ALL {
            for b in self.bindings.iter().filter(|b| b.context == context) {
                let keys = b
                    .keys
                    .iter()
                    .map(|k| match k.to_string().as_str() {
                        "|" => "`\\|`".to_string(),
                        s => format!("`{s}`"),
                    })
                    .collect::<Vec<_>>()
                    .join(" ");
                let note = if b.mutating() {
                    " (hidden in read-only)"
                } else {
                    ""
                };
                out.push_str(&format!(
                    "| {} | {} | {}{} | `{}` |\n",
                    context.title(),
                    keys,
                    b.help,
                    note,
                    b.action.name()
                ));
            }
        }
        out
    }
}
