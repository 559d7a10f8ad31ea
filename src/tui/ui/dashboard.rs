//! The dashboard: health, run state, queue depth, charts of the last half
//! hour, workers, and
//! what needs attention (pending changes to keys that move money among it).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table, Wrap};

use super::{age, chart, fit, panel};
use crate::admin::proposals::countdown;
use crate::tron::format_units;
use crate::tui::action::Intent;
use crate::tui::model::{Costs, Deposits, JobStatus, Snapshot};
use crate::tui::state::App;

pub fn draw(frame: &mut Frame, area: Rect, app: &App, s: &Snapshot) {
    // Spare height goes to the charts: a second row of them, taller; a tall
    // screen also has room for the cost lines under the queue depth.
    let (top_height, chart_rows, chart_height) = if area.height >= 34 {
        (10, 2, area.height.saturating_sub(10 + 12) / 2)
    } else {
        (8, 1, (area.height / 4).max(5))
    };
    let chart_height = chart_height.min(16);
    // The follower's line adds to the queue panel rather than hide its total.
    let top_height = top_height + u16::from(s.deposits.is_some());
    let [top, middle, bottom] = Layout::vertical([
        Constraint::Length(top_height),
        Constraint::Length(1 + chart_rows * chart_height),
        Constraint::Min(0),
    ])
    .areas(area);
    // The badge grows with the screen: a wall display reads it from afar.
    let health_width = if area.width >= 120 {
        area.width * 2 / 5
    } else {
        28
    };
    let [health, depth] =
        Layout::horizontal([Constraint::Length(health_width), Constraint::Min(52)]).areas(top);
    let [workers, attention] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(bottom);
    draw_health(frame, health, app, s);
    draw_depth(frame, depth, app, s);
    chart::panels(frame, middle, app, s, chart_rows);
    draw_workers(frame, workers, app, s);
    draw_attention(frame, attention, app, s);
}

fn draw_health(frame: &mut Frame, area: Rect, app: &App, s: &Snapshot) {
    let theme = &app.theme;
    let badge = theme.health(s.health.level);
    let run = theme.run_state(s.paused);
    let mut lines = Vec::new();
    let mut level = vec![
        Span::styled(badge.text, badge.style),
        Span::styled(format!("{} ", s.health.level.as_str()), badge.style),
    ];
    if let Some(since) = app.stale_since() {
        let alarm = theme.no_data(&since.format("%H:%M:%S").to_string());
        lines.push(Line::styled(alarm.text, alarm.style));
        level.insert(0, Span::styled("was ", theme.dim()));
    }
    lines.push(Line::from(level));
    lines.push(Line::from(Span::styled(run.text, run.style)));
    if s.health.reasons.is_empty() {
        lines.push(Line::styled("all checks pass", theme.dim()));
    }
    for reason in &s.health.reasons {
        lines.push(Line::raw(format!("- {reason}")));
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(panel("Health", theme)),
        area,
    );
}

fn draw_depth(frame: &mut Frame, area: Rect, app: &App, s: &Snapshot) {
    let theme = &app.theme;
    let header =
        Row::new(["type", "pending", "running", "done", "failed", "cancel"]).style(theme.dim());
    let mut rows: Vec<Row> = s
        .depth
        .iter()
        .map(|d| {
            let mut cells = vec![d.job_type.as_str().to_string()];
            cells.extend(
                JobStatus::ALL
                    .iter()
                    .map(|st| d.counts.get(*st).to_string()),
            );
            Row::new(cells)
        })
        .collect();
    let mut total = vec!["total".to_string()];
    total.extend(JobStatus::ALL.iter().map(|st| s.count(*st).to_string()));
    rows.push(Row::new(total).style(theme.title()));
    let title = if s.depth_estimated {
        "Queue depth (estimated)"
    } else {
        "Queue depth"
    };
    let widths = [
        Constraint::Length(13),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(6),
    ];
    let block = panel(title, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    // The table's rows, the rest for the cost lines (one on a short screen),
    // and the follower's line at the bottom.
    let table_height = (s.depth.len() as u16 + 2).min(inner.height);
    let [table, burned, follower] = Layout::vertical([
        Constraint::Length(table_height),
        Constraint::Min(0),
        Constraint::Length(u16::from(s.deposits.is_some())),
    ])
    .areas(inner);
    frame.render_widget(
        Table::new(rows, widths).header(header).column_spacing(1),
        table,
    );
    if let Some(c) = &s.costs {
        let mut lines = vec![costs_line(c, burned.width)];
        if burned.height >= 3 {
            lines.push(priced_line(c));
            lines.push(pool_line(c, app));
        }
        let lines: Vec<Line> = lines
            .into_iter()
            .map(|l| Line::styled(l, theme.dim()))
            .collect();
        frame.render_widget(Paragraph::new(lines), burned);
    }
    if let Some(d) = &s.deposits {
        let style = if d.following {
            theme.dim()
        } else {
            theme.warning()
        };
        let line = deposits_line(d, follower.width);
        frame.render_widget(Paragraph::new(Line::styled(line, style)), follower);
    }
}

/// The chain follower: its block and lag, or that no worker follows.
fn deposits_line(d: &Deposits, width: u16) -> String {
    let or_q = |v: Option<i64>| v.map_or_else(|| "?".to_string(), |v| v.to_string());
    if !d.following {
        return "deposits: no worker follows the chain".into();
    }
    let pending = if d.pending > 0 {
        format!(", {} unconfirmed", d.pending)
    } else {
        String::new()
    };
    if width >= 90 {
        format!(
            "deposits: block {}, {} blocks / {} s behind{pending}",
            or_q(d.block),
            or_q(d.lag_blocks),
            or_q(d.lag_seconds)
        )
    } else {
        format!(
            "deposits lag {} blk / {} s{pending}",
            or_q(d.lag_blocks),
            or_q(d.lag_seconds)
        )
    }
}

/// The 7 days' burn equivalent and saving at the current energy price.
pub(super) fn priced_line(c: &Costs) -> String {
    match c.priced {
        None => "burn equivalent: the workers have not read the energy price yet".into(),
        Some(p) => format!(
            "7 days burning would have cost {}, saved {} (energy at {})",
            p.burn_equivalent,
            format_units(p.saving_sun.into(), 6, "TRX"),
            format_units(p.energy_price.0.into(), 0, "SUN")
        ),
    }
}

/// The energy pool: what it can still lend, and what is lent out since when.
pub(super) fn pool_line(c: &Costs, app: &App) -> String {
    let Some(p) = c.pool else {
        return "energy pool: none (energy.wallet_address)".into();
    };
    let sweeps = p
        .sweeps_covered
        .map_or_else(String::new, |n| format!(" ({n} sweeps)"));
    let lent = match p.oldest {
        Some(oldest) if p.delegations > 0 => format!(
            "lent {} to {}, oldest {}",
            p.delegated_out,
            p.delegations,
            age(app.aged(oldest))
        ),
        _ => "nothing lent".into(),
    };
    format!(
        "energy pool: {} free{sweeps}, {lent}",
        format_units(p.energy_available.into(), 0, "energy")
    )
}

/// TRX burned: today, the 7 days and per sweep when there is room; today
/// and per sweep when not.
pub(super) fn costs_line(c: &Costs, width: u16) -> String {
    let per_sweep = c
        .per_sweep
        .map_or_else(|| "-".to_string(), |s| s.to_string());
    if width >= 90 {
        format!(
            "TRX burned: today {}, 7 days {}, per sweep {per_sweep} (7 days)",
            c.today, c.last_7_days
        )
    } else {
        format!("burned today {}, {per_sweep}/sweep", c.today)
    }
}

fn draw_workers(frame: &mut Frame, area: Rect, app: &App, s: &Snapshot) {
    let theme = &app.theme;
    let width = usize::from(area.width.saturating_sub(2));
    let mut lines: Vec<Line> = Vec::new();
    if s.workers.is_empty() {
        lines.push(Line::styled("no worker has reported", theme.warning()));
    }
    for w in &s.workers {
        let badge = theme.worker(w.state);
        let job = w
            .current_job
            .map(|j| format!(" job {}", app.short(&j)))
            .unwrap_or_default();
        let rest = format!(
            " {}:{} {}{}",
            w.host,
            w.pid,
            age(app.aged(w.heartbeat_age)),
            job
        );
        let rest = fit(
            &rest,
            width.saturating_sub(badge.text.chars().count()),
            theme,
        );
        lines.push(Line::from(vec![
            Span::styled(badge.text, badge.style),
            Span::raw(rest),
        ]));
    }
    let title = format!("Workers ({})", s.workers.len());
    frame.render_widget(Paragraph::new(lines).block(panel(&title, theme)), area);
}

fn draw_attention(frame: &mut Frame, area: Rect, app: &App, s: &Snapshot) {
    let theme = &app.theme;
    let width = usize::from(area.width.saturating_sub(2));
    let mut lines: Vec<Line> = Vec::new();
    // Changes that will move money come first: they must not be missed.
    if !s.pending_changes.is_empty() {
        lines.push(Line::styled(
            format!(
                "Pending changes that move money: {}",
                s.pending_changes.len()
            ),
            theme.warning(),
        ));
    }
    // The countdown first: a narrow panel cuts the value, never the time.
    for c in &s.pending_changes {
        let when = match c.applies_in {
            None => format!("needs a 2nd admin ({})", c.proposed_by),
            Some(left) => format!(
                "in {}",
                countdown(i64::try_from(left.as_secs()).unwrap_or(i64::MAX))
            ),
        };
        lines.push(Line::raw(fit(
            &format!("  {when}: {} -> {}", c.key, c.value),
            width,
            theme,
        )));
    }
    // Energy lent out comes back after its sweep: the oldest one's age
    // (first, so that a narrow panel keeps it) shows one that did not.
    if let Some(p) = s.costs.as_ref().and_then(|c| c.pool)
        && let Some(oldest) = p.oldest.filter(|_| p.delegations > 0)
    {
        lines.push(Line::raw(fit(
            &format!(
                "Energy lent {}: {} to {}",
                age(app.aged(oldest)),
                p.delegated_out,
                p.delegations
            ),
            width,
            theme,
        )));
    }
    match &s.oldest_pending {
        Some(j) => lines.push(Line::raw(fit(
            &format!(
                "Oldest pending: {} {} waiting {}",
                j.job_type.as_str(),
                app.short(&j.id),
                age(app.aged(j.age))
            ),
            width,
            theme,
        ))),
        None => lines.push(Line::styled("No job is waiting", theme.dim())),
    }
    if s.stuck.is_empty() {
        lines.push(Line::styled("No job is stuck", theme.dim()));
    } else {
        // Every stuck job, not only the few listed: what a reset takes back.
        lines.push(Line::styled(
            format!("Stuck in processing: {}", s.stuck_total),
            theme.warning(),
        ));
        for j in s.stuck.iter().take(3) {
            lines.push(Line::raw(fit(
                &format!(
                    "  {} {} for {}",
                    j.job_type.as_str(),
                    app.short(&j.id),
                    age(app.aged(j.age))
                ),
                width,
                theme,
            )));
        }
    }
    // The admin actions below fill what is left; the failures keep at
    // least three lines for their groups.
    let room = usize::from(area.height.saturating_sub(2)).saturating_sub(lines.len() + 2);
    lines.extend(failure_lines(app, s, width, room.max(3)));
    lines.push(Line::styled("Latest admin actions", theme.title()));
    let room = usize::from(area.height.saturating_sub(2)).saturating_sub(lines.len());
    if s.audit.is_empty() {
        lines.push(Line::styled("none yet", theme.dim()));
    }
    for a in s.audit.iter().take(room) {
        lines.push(Line::raw(fit(
            &format!("{} {} {}", a.at.format("%H:%M"), a.actor, a.action),
            width,
            theme,
        )));
    }
    frame.render_widget(Paragraph::new(lines).block(panel("Attention", theme)), area);
}

/// The failed jobs: how many, and the largest groups by error (count, the
/// newest's time, types, message), the selected one marked; at most
/// `room` lines for the groups, scrolled to keep the selection in view.
fn failure_lines(app: &App, s: &Snapshot, width: usize, room: usize) -> Vec<Line<'static>> {
    let theme = &app.theme;
    let f = &s.failures;
    if f.total == 0 {
        return vec![Line::styled("No failed jobs", theme.dim())];
    }
    let errors = if f.group_count == 1 {
        "error"
    } else {
        "errors"
    };
    let mut head = if f.grouped < f.total {
        format!(
            "Failed jobs: {} (newest {}: {} {errors})",
            f.total, f.grouped, f.group_count
        )
    } else {
        format!("Failed jobs: {} ({} {errors})", f.total, f.group_count)
    };
    let acts = app.may(Intent::RetryFailures) || app.may(Intent::CancelFailures);
    // The keys only where they fit whole; `?` lists them anyway.
    let hint = format!(" {} R retry, x cancel pending", theme.separator());
    if acts && head.chars().count() + hint.chars().count() <= width {
        head.push_str(&hint);
    }
    let mut lines = vec![Line::styled(fit(&head, width, theme), theme.warning())];
    let first = (app.failure_group + 1).saturating_sub(room);
    for (i, g) in f.groups.iter().enumerate().skip(first).take(room) {
        let selected = acts && i == app.failure_group;
        let marker = if selected { theme.cursor() } else { " " };
        let when = g
            .newest
            .map(|t| t.format("%H:%M").to_string())
            .unwrap_or_else(|| "--:--".into());
        let message = if g.example.is_empty() {
            "(no error message)".to_string()
        } else {
            g.example.replace(['\n', '\r'], " ")
        };
        // The message before the types: a narrow panel cuts the types.
        let text = format!(
            "{marker}{:>4} {when} {message} ({})",
            g.count,
            g.job_types.join(", ")
        );
        let style = if selected {
            theme.selected()
        } else {
            theme.text()
        };
        lines.push(Line::styled(fit(&text, width, theme), style));
    }
    lines
}
