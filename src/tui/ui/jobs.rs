//! The jobs screen: a filterable, searchable table and a detail pane.
//! Only the rows in view are built, so 10,000 jobs draw as fast as 20.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table};

use super::{age, editing_hint, fit, panel, row_marker, sort_note, sorted_header, window};
use crate::tui::action::short_id;
use crate::tui::keymap::Context;
use crate::tui::model::{JobStatus, Snapshot};
use crate::tui::state::App;
use crate::tui::theme::Theme;

pub fn draw(frame: &mut Frame, area: Rect, app: &App, s: &Snapshot) {
    let [bar, rest] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
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
    let height = usize::from(area.height.saturating_sub(3));
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
    let title = format!("Jobs {position}{}", sort_note(app.jobs.sort, theme));
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
