//! The workers screen: every worker with its state, job and heartbeat.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Row, Table};

use super::{age, panel, row_marker, sort_note, sorted_header, window};
use crate::tui::action::short_id;
use crate::tui::model::Snapshot;
use crate::tui::state::App;

pub fn draw(frame: &mut Frame, area: Rect, app: &App, s: &Snapshot) {
    let theme = &app.theme;
    let height = usize::from(area.height.saturating_sub(3));
    let cursor = &app.workers;
    let first = window(cursor.offset, cursor.index, app.worker_rows.len(), height);
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
                Span::raw(format!("{}:{}", w.host, w.pid)),
                Span::raw(age(w.heartbeat_age)),
                Span::raw(
                    w.current_job
                        .map(|j| short_id(&j))
                        .unwrap_or_else(|| "-".into()),
                ),
                Span::raw(w.jobs_done.to_string()),
                Span::raw(w.jobs_failed.to_string()),
                Span::styled(w.last_error.clone().unwrap_or_default(), theme.error()),
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
        Constraint::Length(8),
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
