//! Pure drawing: `draw(frame, &app)` reads the state and paints it. Nothing
//! here changes state or asks the backend for anything.

mod audit;
mod dashboard;
mod detail;
mod dialogs;
pub mod help;
mod jobs;
mod workers;

use std::time::Duration;

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

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
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(frame, area, &app.theme);
        return;
    }
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_header(frame, header, app);
    match app.snapshot.as_ref() {
        None => waiting(frame, body, app),
        Some(snapshot) => match app.screen {
            Screen::Dashboard => dashboard::draw(frame, body, app, snapshot),
            Screen::Jobs => jobs::draw(frame, body, app, snapshot),
            Screen::Workers => workers::draw(frame, body, app, snapshot),
            Screen::Audit => audit::draw(frame, body, app, snapshot),
        },
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

fn too_small(frame: &mut Frame, area: Rect, theme: &Theme) {
    let text = vec![
        Line::styled("Terminal too small", theme.warning()),
        Line::raw(format!(
            "{}x{}, the console needs {MIN_WIDTH}x{MIN_HEIGHT}",
            area.width, area.height
        )),
        Line::raw("Enlarge the window, or press q to quit"),
    ];
    let y = area.height.saturating_sub(3) / 2;
    let rect = Rect::new(area.x, area.y + y, area.width, area.height.min(3));
    frame.render_widget(
        Paragraph::new(text)
            .alignment(Alignment::Center)
            .wrap(Wrap { trim: true }),
        rect,
    );
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

fn draw_header(frame: &mut Frame, area: Rect, app: &App) {
    let theme = &app.theme;
    let mut spans = vec![Span::styled(" walletops ", theme.title())];
    for screen in Screen::ALL {
        let label = format!(" {} {} ", screen.index() + 1, screen.title());
        let style = if screen == app.screen {
            theme.tab_active()
        } else {
            theme.dim()
        };
        spans.push(Span::styled(label, style));
    }
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
    if let Some(s) = &app.snapshot {
        let run = theme.run_state(s.paused);
        right.push(Span::styled(run.text, run.style));
        right.push(Span::raw(" "));
        let health = theme.health(s.health.level);
        right.push(Span::styled(health.text, health.style));
    }
    let mut left_width: usize = spans.iter().map(|s| s.width()).sum();
    let right_width: usize = right.iter().map(|s| s.width()).sum();
    if left_width + right_width > usize::from(area.width) {
        // The badges matter more than the name: drop it on narrow screens.
        left_width -= spans.remove(0).width();
    }
    let gap = usize::from(area.width).saturating_sub(left_width + right_width);
    spans.push(Span::raw(" ".repeat(gap)));
    spans.extend(right);
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_footer(frame: &mut Frame, area: Rect, app: &App) {
    let theme = &app.theme;
    let sep = Span::styled(format!(" {} ", theme.separator()), theme.dim());
    let refreshed = match app.last_refresh {
        Some(at) => format!("refreshed {}", at.format("%H:%M:%S UTC")),
        None => "not refreshed yet".to_string(),
    };
    let connection = match &app.connection {
        Connection::Connecting => Span::styled("connecting", theme.dim()),
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
        let held = if app.held.is_some() {
            "FROZEN (newer data held)"
        } else {
            "FROZEN"
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
    let help = app
        .keymap
        .key_for(Context::Global, Action::Help)
        .map(|k| format!("{k} help "))
        .unwrap_or_default();
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
