//! The detail views: a job explained (its row, every attempt that did not
//! succeed, its transfers with the chain's answer, its data) and an audit
//! entry (who, what, the target in full, what changed). Both scroll; their
//! lines are built here for drawing and for `state` to bound the scroll.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use serde_json::Value;

use super::{age, panel};
use crate::tui::action::Action;
use crate::tui::keymap::Context;
use crate::tui::model::{AttemptOutcome, AuditView, JobDetail, JobView, TransferStatus};
use crate::tui::state::App;
use crate::tui::theme::Theme;

/// `2026-12-07 14:03:22 UTC (5m12s ago)`: absolute with its time zone, and
/// relative to the database clock of the read.
fn when(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let absolute = t.format("%Y-%m-%d %H:%M:%S UTC");
    match (now - t).to_std() {
        Ok(d) => format!("{absolute} ({} ago)", age(d)),
        Err(_) => format!(
            "{absolute} (in {})",
            age((t - now).to_std().unwrap_or_default())
        ),
    }
}

fn field(name: &str, value: impl Into<String>, theme: &Theme) -> Line<'static> {
    field_styled(name, value, Style::new(), theme)
}

fn field_styled(
    name: &str,
    value: impl Into<String>,
    style: Style,
    theme: &Theme,
) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("  {name:<10}"), theme.dim()),
        Span::styled(value.into(), style),
    ])
}

fn heading(text: impl Into<String>, theme: &Theme) -> Line<'static> {
    Line::styled(text.into(), theme.title())
}

/// The job detail view's lines: the selected job's row from the snapshot,
/// completed by its detail once read.
pub fn job_detail_lines(app: &App) -> Vec<Line<'static>> {
    wrap(job_detail_unwrapped(app), detail_width(app))
}

fn job_detail_unwrapped(app: &App) -> Vec<Line<'static>> {
    let theme = &app.theme;
    let Some(row) = app.selected_job() else {
        return Vec::new();
    };
    let loaded = app.jobs.loaded.as_ref().filter(|l| l.id == row.id);
    let detail = loaded.and_then(|l| l.result.as_ref().ok());
    let job = detail.map_or(row, |d| &d.job);
    let now = detail.map_or_else(
        || app.snapshot.as_ref().map_or(job.updated_at, |s| s.taken_at),
        |d| d.taken_at,
    );
    let mut lines = job_lines(job, row.user.as_deref(), detail, now, theme);
    match loaded.map(|l| &l.result) {
        None => lines.insert(
            0,
            Line::styled(
                format!("reading attempts and transfers{}", theme.ellipsis()),
                theme.dim(),
            ),
        ),
        Some(Err(e)) => lines.insert(
            0,
            Line::styled(format!("attempts and transfers unread: {e}"), theme.error()),
        ),
        Some(Ok(_)) => {}
    }
    lines
}

fn job_lines(
    job: &JobView,
    user: Option<&str>,
    detail: Option<&JobDetail>,
    now: DateTime<Utc>,
    theme: &Theme,
) -> Vec<Line<'static>> {
    let status_style = super::jobs::status_style(job.status, theme);
    let mut lines = vec![
        Line::from(vec![
            Span::styled("job ", theme.dim()),
            Span::raw(job.id.to_string()),
        ]),
        Line::from(vec![
            Span::styled(format!("  {:<10}", "status"), theme.dim()),
            Span::styled(job.status.as_str().to_string(), status_style),
            Span::raw(format!("  {}  {}", job.job_type.as_str(), attempts(job))),
        ]),
        field("wallet", job.wallet_address.clone(), theme),
    ];
    if let Some(user) = user.or(job.user.as_deref()) {
        lines.push(field("user", user.to_string(), theme));
    }
    let worker = detail.and_then(|d| d.worker.clone());
    match (worker, &job.locked_by) {
        (Some(w), _) => lines.push(field("worker", w, theme)),
        // The row's label: host:pid, or the id of a worker since deleted.
        (None, Some(label)) => lines.push(field("worker", label.clone(), theme)),
        (None, None) => {}
    }
    lines.push(field("created", when(job.created_at, now), theme));
    if let Some(t) = job.started_at {
        lines.push(field("started", when(t, now), theme));
    }
    if let Some(t) = job.finished_at {
        lines.push(field("finished", when(t, now), theme));
    }
    lines.push(field("updated", when(job.updated_at, now), theme));
    if let Some(err) = &job.error_message {
        lines.push(field_styled("error", err.clone(), theme.error(), theme));
    }
    if let Some(d) = detail {
        lines.push(Line::raw(""));
        lines.extend(attempt_lines(d, now, theme));
        lines.push(Line::raw(""));
        lines.extend(transfer_lines(d, now, theme));
    }
    lines.push(Line::raw(""));
    lines.push(heading("Data", theme));
    lines.extend(job.data.lines().map(|l| Line::raw(format!("  {l}"))));
    lines
}

fn attempt_lines(d: &JobDetail, now: DateTime<Utc>, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = vec![heading(
        format!(
            "Attempts that did not succeed ({}); the job's own row is its latest",
            d.attempts.len()
        ),
        theme,
    )];
    if d.attempts.is_empty() {
        lines.push(Line::styled("  none", theme.dim()));
    }
    for a in &d.attempts {
        let (word, style) = match a.outcome {
            AttemptOutcome::Retry => ("retried", theme.warning()),
            AttemptOutcome::Failed => ("failed", theme.error()),
            AttemptOutcome::Rescued => ("rescued", theme.warning()),
        };
        let took = a
            .started_at
            .and_then(|s| (a.ended_at - s).to_std().ok())
            .map(|d| format!(", ran {}", age(d)))
            .unwrap_or_default();
        lines.push(Line::from(vec![
            Span::raw(format!("  #{:<3}", a.attempt)),
            Span::styled(format!("{word:<8}"), style),
            Span::raw(format!(
                "on {}{took}",
                a.worker.as_deref().unwrap_or("no worker")
            )),
        ]));
        if let Some(s) = a.started_at {
            lines.push(field("  started", when(s, now), theme));
        }
        lines.push(field("  ended", when(a.ended_at, now), theme));
        if let Some(e) = &a.error {
            lines.push(field_styled("  error", e.clone(), theme.error(), theme));
        }
    }
    lines
}

fn transfer_lines(d: &JobDetail, now: DateTime<Utc>, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = vec![heading(format!("Transfers ({})", d.transfers.len()), theme)];
    if d.transfers.is_empty() {
        lines.push(Line::styled("  none", theme.dim()));
    }
    for t in &d.transfers {
        let style = match t.status {
            TransferStatus::Confirmed => theme.good(),
            TransferStatus::Failed | TransferStatus::Expired => theme.error(),
            TransferStatus::Signed | TransferStatus::Broadcast => theme.warning(),
        };
        lines.push(Line::from(vec![
            Span::raw(format!("  {:<19}", t.kind.as_str())),
            Span::raw(format!("{}  ", t.asset.format(t.amount))),
            Span::styled(t.status.as_str().to_string(), style),
        ]));
        lines.push(field("  txID", t.tx_id.clone(), theme));
        lines.push(field(
            "  route",
            format!("{} -> {}", t.from_address, t.to_address),
            theme,
        ));
        let cost = match t.fee_sun {
            Some(fee) => crate::admin::Asset::Trx.format(fee),
            None => "not known (not mined, or resolved before fees were kept)".into(),
        };
        lines.push(field("  fee", cost, theme));
        let chain = match (t.block_number, t.resolved_at) {
            (Some(block), Some(at)) => format!("in block {block}, resolved {}", when(at, now)),
            (None, Some(at)) => format!("resolved {}", when(at, now)),
            (_, None) => format!(
                "no answer yet; broadcast {} time{}",
                t.broadcast_count,
                if t.broadcast_count == 1 { "" } else { "s" }
            ),
        };
        lines.push(field("  chain", chain, theme));
        if let Some(e) = &t.last_error {
            lines.push(field_styled("  answer", e.clone(), style, theme));
        }
        lines.push(field("  signed", when(t.created_at, now), theme));
    }
    lines
}

/// The audit detail view's lines: the entry in full, and what changed.
pub fn audit_detail_lines(app: &App) -> Vec<Line<'static>> {
    let Some(a) = app.selected_audit() else {
        return Vec::new();
    };
    let now = app.snapshot.as_ref().map_or(a.at, |s| s.taken_at);
    wrap(audit_lines(a, now, &app.theme), detail_width(app))
}

/// The text width of a detail view: the whole body less its borders.
fn detail_width(app: &App) -> usize {
    usize::from(app.viewport.0.saturating_sub(2)).max(1)
}

/// Lines cut into rows of `width` characters, styles kept, so that the
/// line count is the row count the scroll is bounded by.
fn wrap(lines: Vec<Line<'static>>, width: usize) -> Vec<Line<'static>> {
    let mut out = Vec::with_capacity(lines.len());
    for line in lines {
        if line.width() <= width {
            out.push(line);
            continue;
        }
        let mut row: Vec<Span<'static>> = Vec::new();
        let mut used = 0;
        for span in line.spans {
            let mut chars = span.content.chars().peekable();
            while chars.peek().is_some() {
                let piece: String = chars.by_ref().take(width - used).collect();
                used += piece.chars().count();
                row.push(Span::styled(piece, span.style));
                if used == width {
                    out.push(Line::from(std::mem::take(&mut row)));
                    used = 0;
                }
            }
        }
        if !row.is_empty() {
            out.push(Line::from(row));
        }
    }
    out
}

fn audit_lines(a: &AuditView, now: DateTime<Utc>, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = vec![
        Line::from(vec![
            Span::styled("audit entry ", theme.dim()),
            Span::raw(a.id.to_string()),
        ]),
        field("at", when(a.at, now), theme),
        field("actor", a.actor.clone(), theme),
        field("action", a.action.clone(), theme),
        field("target", a.target.clone(), theme),
    ];
    let details: Value = serde_json::from_str(&a.details).unwrap_or(Value::Null);
    let changes = changes(&details);
    if !changes.is_empty() {
        lines.push(Line::raw(""));
        lines.push(heading("What changed", theme));
        for (name, old, new) in changes {
            lines.push(Line::styled(format!("  {name}"), theme.dim()));
            lines.push(Line::from(vec![
                Span::styled(format!("    {:<6}", "old"), theme.dim()),
                Span::styled(old, theme.error()),
            ]));
            lines.push(Line::from(vec![
                Span::styled(format!("    {:<6}", "new"), theme.dim()),
                Span::styled(new, theme.good()),
            ]));
        }
    }
    if !details.is_null() {
        lines.push(Line::raw(""));
        lines.push(heading("Details", theme));
        let pretty = serde_json::to_string_pretty(&details).unwrap_or_default();
        lines.extend(pretty.lines().map(|l| Line::raw(format!("  {l}"))));
    }
    lines
}

/// The old and new values an entry's details carry: a config key's
/// (`{"key", "old", "new"}`), or each field of `old`/`new` objects that
/// differs (a wallet's address, role, user). A value absent on one side
/// reads `(none)`.
fn changes(details: &Value) -> Vec<(String, String, String)> {
    let (old, new) = (&details["old"], &details["new"]);
    if old.is_null() && new.is_null() {
        return Vec::new();
    }
    let show = |v: &Value| match v {
        Value::Null => "(none)".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if let (Value::Object(o), Value::Object(n)) = (old, new) {
        let mut keys: Vec<&String> = o.keys().chain(n.keys()).collect();
        keys.sort();
        keys.dedup();
        return keys
            .into_iter()
            .filter(|k| o.get(*k) != n.get(*k))
            .map(|k| {
                let get =
                    |m: &serde_json::Map<String, Value>| show(m.get(k).unwrap_or(&Value::Null));
                (k.clone(), get(o), get(n))
            })
            .collect();
    }
    let name = details["key"].as_str().unwrap_or("value").to_string();
    vec![(name, show(old), show(new))]
}

/// Draws a detail view in `area`, scrolled to `scroll` (bounded to its
/// last page here too, for a resize since).
pub fn draw(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    (title, context): (&str, Context),
    lines: Vec<Line<'static>>,
    scroll: u16,
) {
    let theme = &app.theme;
    let height = usize::from(area.height.saturating_sub(2)).max(1);
    let last = u16::try_from(lines.len().saturating_sub(height)).unwrap_or(u16::MAX);
    let scroll = scroll.min(last);
    let close = app
        .keymap
        .key_for(context, Action::Open)
        .map(|k| format!(", {k} closes"))
        .unwrap_or_default();
    let position = if lines.len() > height {
        format!(
            " (lines {}-{} of {}{close})",
            scroll + 1,
            (usize::from(scroll) + height).min(lines.len()),
            lines.len()
        )
    } else if close.is_empty() {
        String::new()
    } else {
        format!(" ({})", close.trim_start_matches(", "))
    };
    frame.render_widget(
        Paragraph::new(lines)
            .scroll((scroll, 0))
            .block(panel(&format!("{title}{position}"), theme)),
        area,
    );
}

/// `ran 2 times, 1 failed of 3 allowed`: attempts made, and how close the
/// job is to failing for good.
fn attempts(job: &JobView) -> String {
    let ran = match job.attempts {
        0 => "not run yet".to_string(),
        1 => "ran once".to_string(),
        n => format!("ran {n} times"),
    };
    format!(
        "{ran}, {} failed of {} allowed",
        job.retry_count, job.max_retries
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_wrap_into_rows_of_the_width_keeping_styles() {
        let style = Theme::new(crate::tui::theme::ThemeKind::Color, false).error();
        let line = Line::from(vec![Span::raw("ab"), Span::styled("cdefg", style)]);
        let rows = wrap(vec![line, Line::raw("xy")], 3);
        let text: Vec<String> = rows.iter().map(|l| l.to_string()).collect();
        assert_eq!(text, ["abc", "def", "g", "xy"]);
        assert_eq!(rows[1].spans[0].style, style);
    }

    #[test]
    fn a_config_change_shows_its_old_and_new_value() {
        let d: Value = serde_json::json!({"key": "gas.min_balance_sun", "old": 1, "new": 2});
        assert_eq!(
            changes(&d),
            [("gas.min_balance_sun".into(), "1".into(), "2".into())]
        );
        let inserted: Value = serde_json::json!({"key": "ui.refresh_seconds", "new": 5});
        assert_eq!(
            changes(&inserted),
            [("ui.refresh_seconds".into(), "(none)".into(), "5".into())]
        );
    }

    #[test]
    fn an_object_change_shows_only_the_fields_that_differ() {
        let d: Value = serde_json::json!({
            "old": {"address": "TA", "role": "deposit", "user_id": null},
            "new": {"address": "TA", "role": "treasury", "user_id": null},
        });
        assert_eq!(
            changes(&d),
            [("role".into(), "deposit".into(), "treasury".into())]
        );
        assert!(changes(&serde_json::json!({"rows": 3})).is_empty());
    }
}
