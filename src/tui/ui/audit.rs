//! The audit trail: admin actions, newest first, filterable.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Paragraph, Row, Table};

use super::layout::table_rows;
use super::{fit, panel, row_marker, search_field, sort_note, sorted_header, window};
use crate::tui::keymap::Context;
use crate::tui::model::Snapshot;
use crate::tui::state::{App, target_id};

/// A target as the table shows it: a job by its short id, like every
/// other screen (the detail shows it in full).
fn short_target(app: &App, target: &str) -> String {
    match (target_id(target), target.rsplit_once(' ')) {
        (Some(id), Some((kind, _))) => format!("{kind} {}", app.short(&id)),
        _ => target.to_string(),
    }
}

/// The filter bar and the table in `area`.
pub fn areas(area: Rect) -> (Rect, Rect) {
    let [bar, table] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
    (bar, table)
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, s: &Snapshot) {
    let theme = &app.theme;
    let (bar, table) = areas(area);
    let spans = vec![Span::styled(" filter ", theme.dim())];
    let line = search_field(app, &app.audit.search, spans, bar.width);
    frame.render_widget(Paragraph::new(line), bar);
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

    let height = usize::from(table_rows(table).height);
    let cursor = &app.audit.cursor;
    let len = app.audit.rows.len();
    let first = window(cursor.offset, cursor.index, len, height);
    // Room for `job ` and a short id; what the fixed columns and their
    // gaps leave goes to the details.
    let target_width = (4 + app.id_len).max(12);
    let details_width = usize::from(table.width.saturating_sub(2))
        .saturating_sub(1 + 14 + 18 + 16 + target_width + 5)
        .max(8);
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
                fit(&a.actor, 18, theme),
                fit(&a.action, 16, theme),
                fit(&short_target(app, &a.target), target_width, theme),
                fit(&a.details, details_width, theme),
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
        Constraint::Length(target_width as u16),
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
