//! The help overlay, generated from the keymap so it cannot drift from what
//! the keys do. Keys for changes the console may not make (read-only, or
//! beyond the operator's role) are left out.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::{centered, panel};
use crate::tui::action::{Action, Screen};
use crate::tui::keymap::Context;
use crate::tui::state::App;

/// The contexts the help shows for a screen: its own keys (with the
/// detail view's first while one is open), and the text field's where the
/// screen has a filter, and how to close the help.
pub fn help_contexts(screen: Screen, detail: bool) -> Vec<Context> {
    let mut contexts = if detail {
        Context::detail_chain(screen)
    } else {
        Context::chain(screen).to_vec()
    };
    if matches!(screen, Screen::Jobs | Screen::Audit) {
        contexts.push(Context::TextInput);
    }
    contexts.push(Context::Help);
    contexts
}

/// Each section's title and its (keys, description) lines, as shown.
pub fn help_entries(app: &App) -> Vec<(&'static str, Vec<(String, &'static str)>)> {
    help_contexts(app.screen, app.detail_open())
        .into_iter()
        .map(|context| {
            let entries = app
                .keymap
                .bindings(std::slice::from_ref(&context), false)
                .filter(|b| b.action.intent().is_none_or(|i| app.may(i)))
                .map(|b| (b.keys_text(), b.help))
                .collect::<Vec<_>>();
            (context.title(), entries)
        })
        .filter(|(_, entries)| !entries.is_empty())
        .collect()
}

pub fn draw(frame: &mut Frame, body: Rect, app: &App, scroll: u16) {
    let theme = &app.theme;
    let mut lines: Vec<Line> = Vec::new();
    for (title, entries) in help_entries(app) {
        if !lines.is_empty() {
            lines.push(Line::raw(""));
        }
        lines.push(Line::styled(title, theme.title()));
        for (keys, help) in entries {
            lines.push(Line::from(vec![
                Span::styled(format!("  {keys:<22}"), theme.warning()),
                Span::raw(help),
            ]));
        }
    }
    if app.acts_read_only() {
        lines.push(Line::raw(""));
        lines.push(Line::styled(
            "Read-only: keys that change the system are not offered.",
            theme.dim(),
        ));
    }
    let height = (lines.len() as u16 + 2).min(body.height);
    let max_scroll = (lines.len() as u16 + 2).saturating_sub(height);
    let rect = centered(body, 72, height);
    let title = format!("Keys: {}", app.screen.title());
    frame.render_widget(Clear, rect);
    let scroll = scroll.min(max_scroll);
    let mut block = panel(&title, theme);
    if max_scroll > 0 {
        let (up, down) = (
            app.keymap.key_for(Context::Help, Action::Up),
            app.keymap.key_for(Context::Help, Action::Down),
        );
        let more = match (scroll < max_scroll, up, down) {
            (true, _, Some(down)) => format!(" more below: {down} "),
            (false, Some(up), _) => format!(" end; {up} scrolls back "),
            _ => String::new(),
        };
        block = block.title_bottom(Line::styled(more, theme.warning()).right_aligned());
    }
    frame.render_widget(Paragraph::new(lines).scroll((scroll, 0)).block(block), rect);
}
