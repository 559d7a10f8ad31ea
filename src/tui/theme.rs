//! Colours and glyphs. Colour is never the only signal: every badge carries
//! a word and a symbol, so the monochrome theme (chosen when `NO_COLOR` is
//! set) and colour-blind eyes read the same thing. Glyphs fall back to ASCII
//! for terminals and fonts without them.

use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::border;

use super::model::WorkerState;
use crate::admin::health::Status;

/// Which palette.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThemeKind {
    /// For dark terminals (the default).
    Color,
    /// No colour at all: bold, reverse and underline only.
    Mono,
    /// For light terminal backgrounds.
    Light,
}

impl std::str::FromStr for ThemeKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "color" | "colour" | "dark" => Ok(ThemeKind::Color),
            "mono" | "monochrome" => Ok(ThemeKind::Mono),
            "light" => Ok(ThemeKind::Light),
            other => Err(format!(
                "unknown console theme {other:?}; use color, mono or light"
            )),
        }
    }
}

/// The styles and glyphs the screens draw with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub kind: ThemeKind,
    pub ascii: bool,
}

/// A badge: symbol and word always, colour when the theme has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Badge {
    pub text: String,
    pub style: Style,
}

impl Theme {
    pub fn new(kind: ThemeKind, ascii: bool) -> Self {
        Self { kind, ascii }
    }

    /// The configured theme, forced to monochrome when `NO_COLOR` is set to
    /// anything (no-color.org), and ASCII glyphs unless the locale says UTF-8.
    pub fn from_env(configured: Option<ThemeKind>) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let locale = ["LC_ALL", "LC_CTYPE", "LANG"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
            .unwrap_or_default()
            .to_ascii_lowercase();
        let utf8 = locale.contains("utf-8") || locale.contains("utf8");
        Self::resolve(no_color, utf8, configured)
    }

    /// The theme for what the environment says.
    pub fn resolve(no_color: bool, utf8: bool, configured: Option<ThemeKind>) -> Self {
        let kind = if no_color {
            ThemeKind::Mono
        } else {
            configured.unwrap_or(ThemeKind::Color)
        };
        Self::new(kind, !utf8)
    }

    fn fg(&self, dark: Color, light: Color) -> Style {
        match self.kind {
            ThemeKind::Color => Style::new().fg(dark),
            ThemeKind::Light => Style::new().fg(light),
            ThemeKind::Mono => Style::new(),
        }
    }

    /// A filled badge: black on a colour, or reversed in monochrome.
    fn filled(&self, color: Color) -> Style {
        match self.kind {
            ThemeKind::Mono => Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD),
            _ => Style::new()
                .fg(Color::Black)
                .bg(color)
                .add_modifier(Modifier::BOLD),
        }
    }

    pub fn text(&self) -> Style {
        Style::new()
    }

    pub fn dim(&self) -> Style {
        match self.kind {
            ThemeKind::Mono => Style::new().add_modifier(Modifier::DIM),
            ThemeKind::Color => Style::new().fg(Color::Gray),
            ThemeKind::Light => Style::new().fg(Color::DarkGray),
        }
    }

    pub fn title(&self) -> Style {
        self.fg(Color::Cyan, Color::Blue)
            .add_modifier(Modifier::BOLD)
    }

    pub fn border(&self) -> Style {
        self.fg(Color::DarkGray, Color::Gray)
    }

    /// The selected row or the focused button.
    pub fn selected(&self) -> Style {
        match self.kind {
            ThemeKind::Mono => Style::new().add_modifier(Modifier::REVERSED),
            ThemeKind::Color => Style::new()
                .bg(Color::DarkGray)
                .fg(Color::White)
                .add_modifier(Modifier::BOLD),
            ThemeKind::Light => Style::new()
                .bg(Color::Blue)
                .fg(Color::White)
                .add_modifier(Modifier::BOLD),
        }
    }

    pub fn tab_active(&self) -> Style {
        self.selected()
    }

    pub fn warning(&self) -> Style {
        self.fg(Color::Yellow, Color::Magenta)
            .add_modifier(Modifier::BOLD)
    }

    pub fn error(&self) -> Style {
        self.fg(Color::Red, Color::Red).add_modifier(Modifier::BOLD)
    }

    pub fn good(&self) -> Style {
        self.fg(Color::Green, Color::Green)
    }

    /// The health badge: `✔ OK`, `▲ WARN`, `✖ CRIT`.
    pub fn health(&self, level: Status) -> Badge {
        let (glyph, ascii, word, color) = match level {
            Status::Healthy => ("✔", "+", "OK", Color::Green),
            Status::Degraded => ("▲", "!", "WARN", Color::Yellow),
            Status::Down => ("✖", "x", "CRIT", Color::Red),
        };
        self.badge(glyph, ascii, word, color)
    }

    pub fn worker(&self, state: WorkerState) -> Badge {
        let (glyph, ascii, word, color) = match state {
            WorkerState::Active => ("●", "*", "ACTIVE", Color::Green),
            WorkerState::Idle => ("○", "o", "IDLE", Color::Cyan),
            WorkerState::Paused => ("‖", "=", "PAUSED", Color::Yellow),
            WorkerState::Error => ("✖", "x", "ERROR", Color::Red),
            WorkerState::Stopped => ("■", "-", "STOPPED", Color::DarkGray),
        };
        self.badge(glyph, ascii, word, color)
    }

    /// Running or paused, for the header and dashboard.
    pub fn run_state(&self, paused: bool) -> Badge {
        if paused {
            self.badge("‖", "=", "PAUSED", Color::Yellow)
        } else {
            self.badge("▶", ">", "RUNNING", Color::Green)
        }
    }

    /// The alarm that replaces the health badge when the data cannot be
    /// vouched for: `✖ NO DATA since 14:03:22` (UTC, as the footer says).
    pub fn no_data(&self, since: &str) -> Badge {
        self.badge("✖", "x", &format!("NO DATA since {since}"), Color::Red)
    }

    /// Figures the console can no longer vouch for: dimmed, whatever their
    /// own colour.
    pub fn stale(&self) -> Style {
        match self.kind {
            ThemeKind::Mono => Style::new().add_modifier(Modifier::DIM),
            ThemeKind::Color | ThemeKind::Light => {
                Style::new().fg(Color::DarkGray).add_modifier(Modifier::DIM)
            }
        }
    }

    pub fn read_only(&self) -> Badge {
        self.badge("◉", "o", "READ-ONLY", Color::Magenta)
    }

    fn badge(&self, glyph: &str, ascii: &str, word: &str, color: Color) -> Badge {
        let glyph = if self.ascii { ascii } else { glyph };
        Badge {
            text: format!(" {glyph} {word} "),
            style: self.filled(color),
        }
    }

    /// The marker in front of the selected row, so selection shows without
    /// colour too.
    pub fn cursor(&self) -> &'static str {
        if self.ascii { ">" } else { "›" }
    }

    pub fn separator(&self) -> &'static str {
        if self.ascii { "|" } else { "│" }
    }

    /// Box borders: line drawing, or `+`, `-` and `|`.
    pub fn border_set(&self) -> border::Set<'static> {
        if self.ascii {
            border::Set {
                top_left: "+",
                top_right: "+",
                bottom_left: "+",
                bottom_right: "+",
                vertical_left: "|",
                vertical_right: "|",
                horizontal_top: "-",
                horizontal_bottom: "-",
            }
        } else {
            border::PLAIN
        }
    }

    /// Between hints in a line.
    pub fn dot(&self) -> &'static str {
        if self.ascii { " - " } else { " · " }
    }

    /// The direction of a sorted column.
    pub fn sort_arrow(&self, descending: bool) -> &'static str {
        match (self.ascii, descending) {
            (true, true) => "v",
            (true, false) => "^",
            (false, true) => "▼",
            (false, false) => "▲",
        }
    }

    pub fn ellipsis(&self) -> &'static str {
        if self.ascii { "~" } else { "…" }
    }
}
