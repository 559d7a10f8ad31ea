//! The jobs screen: a filterable, searchable table and a detail pane.
//! Only the rows in view are built, so 10,000 jobs draw as fast as 20.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::widgets::{Paragraph, Row, Table};

use super::layout::table_rows;
use super::{age, fit, panel, row_marker, search_field, sort_note, sorted_header, window};
use crate::tui::keymap::Context;
use crate::tui::model::{JobStatus, Snapshot};
use crate::tui::state::App;
use crate::tui::theme::Theme;

/// The filter bar, and below it the table or, when open, the job's detail.
pub fn areas(area: Rect) -> (Rect, Rect) {
    let [bar, rest] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
    (bar, rest)
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, s: &Snapshot) {
    let (bar, rest) = areas(area);
    draw_filter_bar(frame, bar, app);
    if app.jobs.detail && app.selected_job().is_some() {
        let lines = super::detail::job_detail_lines(app);
        super::detail::draw(
            frame,
            rest,
            app,
            ("Job", Context::Jobs),
            lines,
            app.jobs.scroll,
        );
        return;
    }
    draw_table(frame, rest, app, s);
}

fn draw_filter_bar(frame: &mut Frame, area: Rect, app: &App) {
    let theme = &app.theme;
    let pane = &app.jobs;
    let status = pane.status.map(|s| s.as_str()).unwrap_or("all");
    let job_type = pane.job_type.map(|t| t.as_str()).unwrap_or("all");
    let spans = vec![
        Span::styled(" status ", theme.dim()),
        Span::raw(status),
        Span::styled("  type ", theme.dim()),
        Span::raw(job_type),
        Span::styled("  search ", theme.dim()),
    ];
    let line = search_field(app, &pane.search, spans, area.width);
    frame.render_widget(Paragraph::new(line), area);
}

pub fn status_style(status: JobStatus, theme: &Theme) -> Style {
    match status {
        JobStatus::Failed => theme.error(),
        JobStatus::Processing => theme.warning(),
        JobStatus::Completed => theme.good(),
        JobStatus::Pending | JobStatus::Cancelled => theme.text(),
    }
}

fn draw_table(frame: &mut Frame, area: Rect, app: &App, s: &Snapshot) {
    let theme = &app.theme;
    let height = usize::from(table_rows(area).height);
    // Whole addresses when there is room; they are what operators copy.
    let wallet_width: u16 = if area.width >= 120 { 34 } else { 20 };
    let len = app.jobs.rows.len();
    let id_width = app.id_len as u16;
    // What the fixed columns and their gaps leave the user column.
    let user_width = usize::from(area.width.saturating_sub(2))
        .saturating_sub(1 + usize::from(id_width) + 13 + 10 + usize::from(wallet_width) + 5 + 7 + 7)
        .max(6);
    let cursor = &app.jobs.cursor;
    let first = window(cursor.offset, cursor.index, len, height);
    let rows: Vec<Row> = app
        .jobs
        .rows
        .iter()
        .enumerate()
        .skip(first)
        .take(height)
        .map(|(i, job)| {
            let job = &s.jobs[*job];
            let (style, marker) = row_marker(i == cursor.index, theme);
            Row::new(vec![
                Span::raw(marker),
                Span::raw(app.short(&job.id)),
                Span::raw(job.job_type.as_str()),
                Span::styled(job.status.as_str(), status_style(job.status, theme)),
                Span::raw(fit(&job.wallet_address, usize::from(wallet_width), theme)),
                Span::raw(job.attempts.to_string()),
                Span::raw(age(since(s, job.updated_at))),
                Span::raw(fit(
                    job.user.as_deref().unwrap_or_default(),
                    user_width,
                    theme,
                )),
            ])
            .style(style)
        })
        .collect();
    let header = Row::new(sorted_header(
        &[
            " ", "id", "type", "status", "wallet", "tries", "updated", "user",
        ],
        app.jobs.sort,
        theme,
    ))
    .style(theme.dim());
    let widths = [
        Constraint::Length(1),
        Constraint::Length(id_width),
        Constraint::Length(13),
        Constraint::Length(10),
        Constraint::Length(wallet_width),
        Constraint::Length(5),
        Constraint::Length(7),
        Constraint::Min(6),
    ];
    let title = format!("{}{}", title(app, s, len), sort_note(app.jobs.sort, theme));
    frame.render_widget(
        Table::new(rows, widths)
            .header(header)
            .column_spacing(1)
            .block(panel(&title, theme)),
        area,
    );
}

/// `Jobs 5 of the newest 1,000 of 3,046`: the row, the rows held, and
/// (when the console holds fewer) how many jobs match in all, from the
/// maintained counts. A search has no such count: its rows are all shown.
fn title(app: &App, s: &Snapshot, len: usize) -> String {
    let n = |n: u64| crate::tron::format_units(i128::from(n), 0, "");
    if len == 0 {
        return "Jobs: no job matches".into();
    }
    let position = format!(
        "Jobs {} of {}",
        n(app.jobs.cursor.index as u64 + 1),
        n(len as u64)
    );
    if !app.job_search().is_empty() {
        return position;
    }
    let total: u64 = s
        .depth
        .iter()
        .filter(|d| app.jobs.job_type.is_none_or(|t| d.job_type == t))
        .map(|d| match app.jobs.status {
            Some(status) => d.counts.get(status),
            None => JobStatus::ALL.iter().map(|st| d.counts.get(*st)).sum(),
        })
        .sum();
    if total > len as u64 {
        format!(
            "Jobs {} of the newest {} of {}",
            n(app.jobs.cursor.index as u64 + 1),
            n(len as u64),
            n(total)
        )
    } else {
        position
    }
}

fn since(s: &Snapshot, at: chrono::DateTime<chrono::Utc>) -> std::time::Duration {
    (s.taken_at - at).to_std().unwrap_or_default()
}
