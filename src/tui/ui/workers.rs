//! The workers screen: every worker with its state, job and heartbeat.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Row, Table};

use super::layout::table_rows;
use super::{age, fit, panel, row_marker, sort_note, sorted_header, window};
use crate::tui::model::Snapshot;
use crate::tui::state::App;

pub fn draw(frame: &mut Frame, area: Rect, app: &App, s: &Snapshot) {
    let theme = &app.theme;
    let height = usize::from(table_rows(area).height);
    let cursor = &app.workers;
    let first = window(cursor.offset, cursor.index, app.worker_rows.len(), height);
    // What the fixed columns and their gaps leave the last one.
    let error_width = usize::from(area.width.saturating_sub(2))
        .saturating_sub(1 + 10 + 22 + 7 + app.id_len + 7 + 6 + 7)
        .max(8);
    let rows: Vec<Row> = app
        .worker_rows
        .iter()
        .enumerate()
        .skip(first)
        .take(height)
        .map(|(i, w)| {
            let w = &s.workers[*w];
            let (style, marker) = row_marker(i == cursor.index, theme);
            let badge = theme.worker(w.state);
            Row::new(vec![
                Span::raw(marker),
                Span::styled(badge.text, badge.style),
                Span::raw(fit(&format!("{}:{}", w.host, w.pid), 22, theme)),
                Span::raw(age(app.aged(w.heartbeat_age))),
                Span::raw(
                    w.current_job
                        .map(|j| app.short(&j))
                        .unwrap_or_else(|| "-".into()),
                ),
                Span::raw(w.jobs_done.to_string()),
                Span::raw(w.jobs_failed.to_string()),
                Span::styled(
                    fit(
                        w.last_error.as_deref().unwrap_or_default(),
                        error_width,
                        theme,
                    ),
                    theme.error(),
                ),
            ])
            .style(style)
        })
        .collect();
    let header = Row::new(sorted_header(
        &[
            " ",
            "state",
            "host:pid",
            "beat",
            "job",
            "done",
            "failed",
            "last error",
        ],
        app.worker_sort,
        theme,
    ))
    .style(theme.dim());
    let widths = [
        Constraint::Length(1),
        Constraint::Length(10),
        Constraint::Length(22),
        Constraint::Length(7),
        Constraint::Length(app.id_len as u16),
        Constraint::Length(7),
        Constraint::Length(6),
        Constraint::Min(8),
    ];
    let title = format!(
        "Workers ({}{})",
        s.workers.len(),
        sort_note(app.worker_sort, theme)
    );
    frame.render_widget(
        Table::new(rows, widths)
            .header(header)
            .column_spacing(1)
            .block(panel(&title, theme)),
        area,
    );
}
