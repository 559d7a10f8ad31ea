//! Pure drawing: `draw(frame, &app)` reads the state and paints it. Nothing
//! here changes state or asks the backend for anything.

mod audit;
mod chart;
mod dashboard;
mod detail;
mod dialogs;
pub mod help;
mod jobs;
pub mod layout;
mod wall;
mod workers;

use std::time::Duration;

use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use tui_input::Input;

use super::action::{Action, Screen};
use super::keymap::Context;
use super::sort::{Column, Sort};
use super::state::{App, Connection, Overlay, ToastKind};
use super::theme::Theme;

pub use detail::{audit_detail_lines, job_detail_lines};
pub use help::{help_contexts, help_entries};

/// The smallest terminal the console draws in.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

/// Draws the whole console.
pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    if !layout::fits(area) {
        wall::tiny(frame, area, app);
        return;
    }
    let [header, body, footer] = layout::frame(area);
    draw_header(frame, header, app);
    match app.snapshot.as_ref() {
        None => waiting(frame, body, app),
        Some(snapshot) => match app.screen {
            Screen::Dashboard if app.read_only && wall::fits(body) => {
                wall::draw(frame, body, app, snapshot)
            }
            Screen::Dashboard => dashboard::draw(frame, body, app, snapshot),
            Screen::Jobs => jobs::draw(frame, body, app, snapshot),
            Screen::Workers => workers::draw(frame, body, app, snapshot),
            Screen::Audit => audit::draw(frame, body, app, snapshot),
        },
    }
    if app.snapshot.is_some() && app.stale_since().is_some() {
        // Figures nobody can vouch for must not look live.
        frame.buffer_mut().set_style(body, app.theme.stale());
    }
    draw_footer(frame, footer, app);
    match &app.overlay {
        Some(Overlay::Help { scroll }) => help::draw(frame, body, app, *scroll),
        Some(Overlay::Confirm(confirmation)) => dialogs::confirm(frame, body, app, confirmation),
        Some(Overlay::Wizard(wizard)) => dialogs::wizard(frame, body, app, wizard),
        None => {}
    }
    draw_toast(frame, body, app);
}

fn waiting(frame: &mut Frame, area: Rect, app: &App) {
    let line = match &app.connection {
        Connection::Lost(err) => Line::styled(
            format!(
                "Cannot reach the {}, retrying: {err}",
                if app.over_api { "API" } else { "database" }
            ),
            app.theme.error(),
        ),
        _ => Line::styled(
            format!("Connecting{}", app.theme.ellipsis()),
            app.theme.dim(),
        ),
    };
    frame.render_widget(
        Paragraph::new(line)
            .alignment(Alignment::Center)
            .wrap(Wrap { trim: true }),
        Rect::new(area.x, area.y + area.height / 2, area.width, 2),
    );
}

/// The header's left part: the name (when there is room) and the tabs,
/// each with the columns it takes. Drawing and the mouse both use it.
pub struct HeaderTabs {
    pub name: bool,
    pub tabs: Vec<(Screen, String, std::ops::Range<u16>)>,
}

const NAME: &str = " walletops ";

/// Lays the header out in `width` columns: the badges (right) matter more
/// than the name, and the name more than the other tabs' words, which
/// shrink to their numbers on a narrow screen.
pub fn header_tabs(app: &App, width: u16) -> HeaderTabs {
    let badges: usize = header_badges(app).iter().map(Span::width).sum();
    let label = |screen: Screen, compact: bool| {
        if compact && screen != app.screen {
            format!(" {} ", screen.index() + 1)
        } else {
            format!(" {} {} ", screen.index() + 1, screen.title())
        }
    };
    let fits = |name: bool, compact: bool| {
        let tabs: usize = Screen::ALL
            .iter()
            .map(|s| label(*s, compact).chars().count())
            .sum();
        usize::from(name) * NAME.len() + tabs + badges <= usize::from(width)
    };
    let (name, compact) = [(true, false), (false, false), (false, true)]
        .into_iter()
        .find(|(n, c)| fits(*n, *c))
        .unwrap_or((false, true));
    let mut x = if name { NAME.len() as u16 } else { 0 };
    let tabs = Screen::ALL
        .iter()
        .map(|screen| {
            let text = label(*screen, compact);
            let w = text.chars().count() as u16;
            let range = x..x + w;
            x += w;
            (*screen, text, range)
        })
        .collect();
    HeaderTabs { name, tabs }
}

/// The header's right part: DEMO, READ-ONLY, the run state and the health
/// (or, when the data cannot be vouched for, NO DATA since when).
fn header_badges(app: &App) -> Vec<Span<'static>> {
    let theme = &app.theme;
    let mut right: Vec<Span> = Vec::new();
    if app.demo {
        right.push(Span::styled(
            "DEMO",
            theme.warning().add_modifier(Modifier::BOLD),
        ));
        right.push(Span::raw(" "));
    }
    if app.acts_read_only() {
        let badge = theme.read_only();
        right.push(Span::styled(badge.text, badge.style));
        right.push(Span::raw(" "));
    }
    // The newest data even while the view is frozen: an alarm is never held back.
    if let Some(s) = app.newest() {
        let run = theme.run_state(s.paused);
        let health = match app.stale_since() {
            Some(since) => {
                right.push(Span::styled(run.text, theme.stale()));
                theme.no_data(&since.format("%H:%M:%S").to_string())
            }
            None => {
                right.push(Span::styled(run.text, run.style));
                theme.health(s.health.level)
            }
        };
        right.push(Span::raw(" "));
        right.push(Span::styled(health.text, health.style));
    }
    right
}

fn draw_header(frame: &mut Frame, area: Rect, app: &App) {
    let theme = &app.theme;
    let layout = header_tabs(app, area.width);
    let mut spans = Vec::new();
    if layout.name {
        spans.push(Span::styled(NAME, theme.title()));
    }
    for (screen, label, _) in layout.tabs {
        let style = if screen == app.screen {
            theme.tab_active()
        } else {
            theme.dim()
        };
        spans.push(Span::styled(label, style));
    }
    let right = header_badges(app);
    let left_width: usize = spans.iter().map(|s| s.width()).sum();
    let right_width: usize = right.iter().map(|s| s.width()).sum();
    let gap = usize::from(area.width).saturating_sub(left_width + right_width);
    spans.push(Span::raw(" ".repeat(gap)));
    spans.extend(right);
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_footer(frame: &mut Frame, area: Rect, app: &App) {
    let theme = &app.theme;
    let sep = Span::styled(format!(" {} ", theme.separator()), theme.dim());
    let refreshed = match (app.frozen, &app.snapshot, app.last_refresh) {
        // The time of the data on screen, never the newest one's.
        (true, Some(shown), _) => format!("data of {}", clock_time(shown.taken_at)),
        (_, _, Some(at)) => format!("refreshed {}", clock_time(at)),
        _ => "not refreshed yet".to_string(),
    };
    let connection = match &app.connection {
        Connection::Connecting => Span::styled("connecting", theme.dim()),
        Connection::Connected if app.link_down.is_some() => {
            Span::styled("live updates lost, retrying", theme.error())
        }
        Connection::Connected => Span::styled("connected", theme.good()),
        Connection::Lost(_) if app.over_api => Span::styled("API LOST, retrying", theme.error()),
        Connection::Lost(_) => Span::styled("DATABASE LOST, retrying", theme.error()),
    };
    let mut spans = vec![Span::raw(format!(" {refreshed}")), sep.clone(), connection];
    if let Some(note) = app.access_note() {
        spans.push(sep.clone());
        spans.push(Span::styled(note, theme.warning()));
    }
    if app.frozen {
        spans.push(sep.clone());
        let held = match (&app.held, app.last_refresh) {
            (Some(_), Some(newest)) => {
                format!("FROZEN (newer data of {} held)", clock_time(newest))
            }
            _ => "FROZEN".to_string(),
        };
        spans.push(Span::styled(held, theme.warning()));
    }
    if let Some(busy) = &app.busy {
        spans.push(sep.clone());
        spans.push(Span::styled(
            format!("running: {}", busy.intent().verb()),
            theme.warning(),
        ));
    }
    let mut help = app
        .keymap
        .key_for(Context::Global, Action::Help)
        .map(|k| format!("{k} help "))
        .unwrap_or_default();
    if let Some(notice) = &app.notice {
        // The notice before the help hint: it is what the operator just did.
        spans.push(sep.clone());
        let used: usize = spans.iter().map(|s| s.width()).sum();
        let room = usize::from(area.width).saturating_sub(used + 1);
        if notice.text.chars().count() + help.len() > room {
            help.clear();
        }
        let style = match notice.kind {
            ToastKind::Refusal => theme.warning(),
            ToastKind::Error => theme.error(),
            ToastKind::Success => theme.good(),
            ToastKind::Info => theme.text(),
        };
        spans.push(Span::styled(fit(&notice.text, room, theme), style));
    }
    let left_width: usize = spans.iter().map(|s| s.width()).sum();
    let gap = usize::from(area.width).saturating_sub(left_width + help.len());
    spans.push(Span::raw(" ".repeat(gap)));
    spans.push(Span::styled(help, theme.dim()));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The newest message, above the footer, until Esc dismisses it.
fn draw_toast(frame: &mut Frame, body: Rect, app: &App) {
    let Some(toast) = app.toasts.last() else {
        return;
    };
    let theme = &app.theme;
    let (word, style) = match toast.kind {
        ToastKind::Success => ("DONE", theme.good()),
        ToastKind::Info => ("NOTE", theme.text()),
        ToastKind::Refusal => ("REFUSED", theme.warning()),
        ToastKind::Error => ("FAILED", theme.error()),
    };
    let more = if app.toasts.len() > 1 {
        format!(" (+{} more)", app.toasts.len() - 1)
    } else {
        String::new()
    };
    let width = body.width.min(76);
    let text = Line::from(vec![
        Span::styled(format!("{word}: "), style.add_modifier(Modifier::BOLD)),
        Span::raw(toast.text.clone()),
    ]);
    let inner_width = usize::from(width.saturating_sub(2)).max(1);
    let lines = (text.width().div_ceil(inner_width)).clamp(1, 4) as u16;
    let height = lines + 2;
    let rect = Rect::new(
        body.x + body.width.saturating_sub(width),
        body.y + body.height.saturating_sub(height),
        width,
        height.min(body.height),
    );
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(text).wrap(Wrap { trim: true }).block(
            Block::bordered()
                .border_set(theme.border_set())
                .border_style(style)
                .title(Line::from(format!(" Esc dismisses{more} ")).right_aligned()),
        ),
        rect,
    );
}

/// What the text field's keys do, from the keymap.
fn editing_hint(app: &App) -> String {
    let key = |action| app.keymap.key_for(Context::TextInput, action);
    match (key(Action::Press), key(Action::Back)) {
        (Some(keep), Some(clear)) => format!("  {keep} keeps, {clear} clears"),
        _ => String::new(),
    }
}

/// `spans` (a filter bar's labels) followed by its search field, in
/// `width` columns: while editing, the text scrolls to keep the cursor in
/// view, a cut is marked with `…`, and the key hint goes before the text
/// is squeezed.
fn search_field<'a>(app: &App, input: &Input, mut spans: Vec<Span<'a>>, width: u16) -> Line<'a> {
    let theme = &app.theme;
    let value = input.value();
    if !app.editing {
        if value.is_empty() {
            spans.push(Span::styled("(none)", theme.dim()));
        } else {
            let used: usize = spans.iter().map(|s| s.width()).sum();
            let room = usize::from(width).saturating_sub(used + 2);
            spans.push(Span::raw(format!("\"{}\"", fit(value, room, theme))));
        }
        return Line::from(spans);
    }
    let used: usize = spans.iter().map(|s| s.width()).sum();
    let hint = editing_hint(app);
    let room = usize::from(width).saturating_sub(used);
    let (room, hint) = if room >= 24 + hint.chars().count() {
        (room - hint.chars().count(), hint)
    } else {
        (room, String::new())
    };
    spans.push(Span::styled(
        field_window(input, room, theme),
        theme.selected(),
    ));
    spans.push(Span::styled(hint, theme.dim()));
    Line::from(spans)
}

/// `input`'s text in at most `width` columns, `_` after it while the
/// cursor is at its end, scrolled so the cursor is in view; a cut end shows
/// `…`.
fn field_window(input: &Input, width: usize, theme: &Theme) -> String {
    let mut chars: Vec<char> = input.value().chars().collect();
    let cursor = input.cursor().min(chars.len());
    if cursor == chars.len() {
        chars.push('_');
    }
    let width = width.max(3);
    if chars.len() <= width {
        return chars.into_iter().collect();
    }
    let start = (cursor + 2).saturating_sub(width).min(chars.len() - width);
    let mut shown: Vec<String> = chars[start..start + width]
        .iter()
        .map(char::to_string)
        .collect();
    if start > 0 {
        shown[0] = theme.ellipsis().to_string();
    }
    if start + width < chars.len() {
        shown[width - 1] = theme.ellipsis().to_string();
    }
    shown.concat()
}

/// A block with the theme's border and a title.
fn panel<'a>(title: &'a str, theme: &Theme) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_set(theme.border_set())
        .border_style(theme.border())
        .title(Span::styled(format!(" {title} "), theme.title()))
}

/// A rectangle of at most `width` x `height`, centred in `area`.
fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect::new(
        area.x + (area.width - width) / 2,
        area.y + (area.height - height) / 2,
        width,
        height,
    )
}

/// A time of day as the footer and the badges show it: `14:03:22 UTC`.
pub fn clock_time(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%H:%M:%S UTC").to_string()
}

/// `4s`, `3m05s`, `2h13m`, `3d04h`.
pub fn age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86400, (s % 86400) / 3600),
    }
}

/// Cuts `s` to `width` characters, marking the cut.
fn fit(s: &str, width: usize, theme: &Theme) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
    out.push_str(theme.ellipsis());
    out
}

/// A table's header cells, the sorted column marked with its direction.
fn sorted_header<C: Column>(labels: &[&'static str], sort: Sort<C>, theme: &Theme) -> Vec<String> {
    labels
        .iter()
        .map(|l| {
            if *l == sort.column.label() {
                format!("{l}{}", theme.sort_arrow(sort.descending))
            } else {
                (*l).to_string()
            }
        })
        .collect()
}

/// `, by created ▼` for a list's title.
fn sort_note<C: Column>(sort: Sort<C>, theme: &Theme) -> String {
    format!(
        ", by {} {}",
        sort.column.label(),
        theme.sort_arrow(sort.descending)
    )
}

/// The row style and marker for a list row.
fn row_marker(selected: bool, theme: &Theme) -> (Style, &'static str) {
    if selected {
        (theme.selected(), theme.cursor())
    } else {
        (Style::new(), " ")
    }
}

/// The first row to show so that `index` is visible, starting from the
/// state's offset (which keeps the selected row still as data arrives).
fn window(offset: usize, index: usize, len: usize, height: usize) -> usize {
    let height = height.max(1);
    let mut offset = offset.min(len.saturating_sub(height));
    if index < offset {
        offset = index;
    } else if index >= offset + height {
        offset = index + 1 - height;
    }
    offset
}
