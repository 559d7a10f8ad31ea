//! The help overlay, generated from the keymap so it cannot drift from what
//! the keys do. In read-only mode the mutating keys are left out.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::{centered, panel};
use crate::tui::action::Screen;
use crate::tui::keymap::Context;
use crate::tui::state::App;

/// The contexts the help shows for a screen: its own keys, and the text
/// field's where the screen has a filter.
pub fn help_contexts(screen: Screen) -> Vec<Context> {
    let mut contexts = Context::chain(screen).to_vec();
    if matches!(screen, Screen::Jobs | Screen::Audit) {
        contexts.push(Context::TextInput);
    }
    contexts
}

/// Each section's title and its (keys, description) lines, as shown.
pub fn help_entries(app: &App) -> Vec<(&'static str, Vec<(String, &'static str)>)> {
    help_contexts(app.screen)
        .into_iter()
        .map(|context| {
            let entries = app
                .keymap
                .bindings(std::slice::from_ref(&context), app.acts_read_only())
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
    let close = app
        .keymap
        .bindings(&[Context::Help], false)
        .map(|b| format!("{}: {}", b.keys_text(), b.help))
        .collect::<Vec<_>>()
        .join("  ");
    let height = (lines.len() as u16 + 2).min(body.height);
    let max_scroll = (lines.len() as u16 + 2).saturating_sub(height);
    let rect = centered(body, 72, height);
    let title = format!("Keys: {}", app.screen.title());
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines)
            .scroll((scroll.min(max_scroll), 0))
            .block(
                panel(&title, theme)
                    .title_bottom(Line::styled(format!(" {close} "), theme.dim()).right_aligned()),
            ),
        rect,
    );
}
