//! The jobs screen: a filterable, searchable table and a detail pane.
//! Only the rows in view are built, so 10,000 jobs draw as fast as 20.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table, Wrap};

use super::layout::table_rows;
use super::{age, editing_hint, fit, panel, row_marker, window};
use crate::tui::action::{Action, short_id};
use crate::tui::keymap::Context;
use crate::tui::model::{JobStatus, JobView, Snapshot};
use crate::tui::state::App;
use crate::tui::theme::Theme;

/// The filter bar, the table and the detail pane (when open) in `area`.
pub fn areas(app: &App, area: Rect) -> (Rect, Rect, Option<Rect>) {
    let [bar, rest] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
    if app.selected_job().filter(|_| app.jobs.detail).is_none() {
        return (bar, rest, None);
    }
    let [table, detail] = if rest.width >= 140 {
        Layout::horizontal([Constraint::Min(80), Constraint::Length(60)]).areas(rest)
    } else {
        Layout::vertical([Constraint::Min(5), Constraint::Length(10)]).areas(rest)
    };
    (bar, table, Some(detail))
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, s: &Snapshot) {
    let (bar, table, detail) = areas(app, area);
    draw_filter_bar(frame, bar, app);
    draw_table(frame, table, app, s);
    if let (Some(detail), Some(job)) = (detail, app.selected_job()) {
        draw_detail(frame, detail, app, job);
    }
}

fn draw_filter_bar(frame: &mut Frame, area: Rect, app: &App) {
    let theme = &app.theme;
    let pane = &app.jobs;
    let status = pane.status.map(|s| s.as_str()).unwrap_or("all");
    let job_type = pane.job_type.map(|t| t.as_str()).unwrap_or("all");
    let search = pane.search.value();
    let mut spans = vec![
        Span::styled(" status ", theme.dim()),
        Span::raw(status),
        Span::styled("  type ", theme.dim()),
        Span::raw(job_type),
        Span::styled("  search ", theme.dim()),
    ];
    if app.editing {
        spans.push(Span::styled(format!("{search}_"), theme.selected()));
        spans.push(Span::styled(editing_hint(app), theme.dim()));
    } else if search.is_empty() {
        spans.push(Span::styled("(none)", theme.dim()));
    } else {
        spans.push(Span::raw(format!("\"{search}\"")));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
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
                Span::raw(short_id(&job.id)),
                Span::raw(job.job_type.as_str()),
                Span::styled(job.status.as_str(), status_style(job.status, theme)),
                Span::raw(fit(&job.wallet_address, usize::from(wallet_width), theme)),
                Span::raw(format!("{}/{}", job.retry_count, job.max_retries)),
                Span::raw(age(since(s, job.updated_at))),
                Span::raw(job.user.clone().unwrap_or_default()),
            ])
            .style(style)
        })
        .collect();
    let header = Row::new([
        " ", "id", "type", "status", "wallet", "tries", "updated", "user",
    ])
    .style(theme.dim());
    let widths = [
        Constraint::Length(1),
        Constraint::Length(8),
        Constraint::Length(13),
        Constraint::Length(10),
        Constraint::Length(wallet_width),
        Constraint::Length(5),
        Constraint::Length(7),
        Constraint::Min(6),
    ];
    let position = if len == 0 {
        "no job matches".to_string()
    } else {
        format!("{} of {len}", cursor.index + 1)
    };
    let title = format!("Jobs {position}");
    frame.render_widget(
        Table::new(rows, widths)
            .header(header)
            .column_spacing(1)
            .block(panel(&title, theme)),
        area,
    );
}

fn since(s: &Snapshot, at: chrono::DateTime<chrono::Utc>) -> std::time::Duration {
    (s.taken_at - at).to_std().unwrap_or_default()
}

fn draw_detail(frame: &mut Frame, area: Rect, app: &App, job: &JobView) {
    let theme = &app.theme;
    let when = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map(|t| t.format("%H:%M:%S").to_string())
            .unwrap_or_else(|| "-".into())
    };
    let mut lines = vec![
        Line::from(vec![
            Span::styled("job ", theme.dim()),
            Span::raw(job.id.to_string()),
        ]),
        Line::from(vec![
            Span::styled(job.status.as_str(), status_style(job.status, theme)),
            Span::raw(format!(
                "  {}  attempts {}/{}",
                job.job_type.as_str(),
                job.retry_count,
                job.max_retries
            )),
        ]),
        Line::raw(format!("wallet {}", job.wallet_address)),
        Line::raw(format!(
            "created {}  started {}  finished {}",
            job.created_at.format("%Y-%m-%d %H:%M:%S"),
            when(job.started_at),
            when(job.finished_at)
        )),
    ];
    if let Some(worker) = &job.locked_by {
        lines.push(Line::raw(format!("worker {worker}")));
    }
    if let Some(err) = &job.error_message {
        lines.push(Line::styled(format!("error: {err}"), theme.error()));
    }
    lines.push(Line::styled("data", theme.dim()));
    let title = match app.keymap.key_for(Context::Jobs, Action::Open) {
        Some(key) => format!("Detail ({key} closes)"),
        None => "Detail".to_string(),
    };
    lines.extend(job.data.lines().map(|l| Line::raw(l.to_string())));
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(panel(&title, theme)),
        area,
    );
}
