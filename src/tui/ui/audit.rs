//! The audit trail: admin actions, newest first, filterable.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table};

use super::{editing_hint, panel, row_marker, sort_note, sorted_header, window};
use crate::tui::keymap::Context;
use crate::tui::model::Snapshot;
use crate::tui::state::App;

pub fn draw(frame: &mut Frame, area: Rect, app: &App, s: &Snapshot) {
    let theme = &app.theme;
    let [bar, table] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
    let search = app.audit.search.value();
    let mut spans = vec![Span::styled(" filter ", theme.dim())];
    if app.editing {
        spans.push(Span::styled(format!("{search}_"), theme.selected()));
        spans.push(Span::styled(editing_hint(app), theme.dim()));
    } else if search.is_empty() {
        spans.push(Span::styled("(none)", theme.dim()));
    } else {
        spans.push(Span::raw(format!("\"{search}\"")));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), bar);
    if app.audit.detail && app.selected_audit().is_some() {
        let lines = super::detail::audit_detail_lines(app);
        super::detail::draw(
            frame,
            table,
            app,
            ("Audit entry", Context::Audit),
            lines,
            app.audit.scroll,
        );
        return;
    }

    let height = usize::from(table.height.saturating_sub(3));
    let cursor = &app.audit.cursor;
    let len = app.audit.rows.len();
    let first = window(cursor.offset, cursor.index, len, height);
    let rows: Vec<Row> = app
        .audit
        .rows
        .iter()
        .enumerate()
        .skip(first)
        .take(height)
        .map(|(i, row)| {
            let a = &s.audit[*row];
            let (style, marker) = row_marker(i == cursor.index, theme);
            Row::new(vec![
                marker.to_string(),
                a.at.format("%m-%d %H:%M:%S").to_string(),
                a.actor.clone(),
                a.action.clone(),
                a.target.clone(),
                a.details.clone(),
            ])
            .style(style)
        })
        .collect();
    let header = Row::new(sorted_header(
        &[" ", "time (UTC)", "actor", "action", "target", "details"],
        app.audit.sort,
        theme,
    ))
    .style(theme.dim());
    let widths = [
        Constraint::Length(1),
        Constraint::Length(14),
        Constraint::Length(18),
        Constraint::Length(16),
        Constraint::Length(12),
        Constraint::Min(8),
    ];
    let title = format!(
        "Audit trail ({len} shown{})",
        sort_note(app.audit.sort, theme)
    );
    frame.render_widget(
        Table::new(rows, widths)
            .header(header)
            .column_spacing(1)
            .block(panel(&title, theme)),
        table,
    );
}
