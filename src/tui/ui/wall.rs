//! The wall screen: the dashboard of a `--read-only` console on a big
//! terminal, read from across a room. A full-width band in the health
//! colour with the status in large letters, the reasons in words, the few
//! numbers that matter in large digits, and the charts below. And the other
//! end: a terminal too small for the console (a tmux pane) still gets the
//! health in one line, with the reasons under it when there is room.

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::{MIN_HEIGHT, MIN_WIDTH, age, chart, dashboard, fit, panel};
use crate::admin::health::Status;
use crate::tui::history::Metric;
use crate::tui::model::{JobStatus, Snapshot, WorkerState};
use crate::tui::state::{App, Connection};

/// The smallest body the wall layout draws in; below it, the dashboard.
const WALL_WIDTH: u16 = 120;
const WALL_HEIGHT: u16 = 36;

/// Whether the dashboard's body is big enough for the wall layout.
pub fn fits(body: Rect) -> bool {
    body.width >= WALL_WIDTH && body.height >= WALL_HEIGHT
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, s: &Snapshot) {
    let theme = &app.theme;
    let reasons = s.health.reasons.len().clamp(1, 6) as u16;
    // The energy figures, when the workers record them: three lines.
    let costs_height = if s.costs.is_some() { 5 } else { 0 };
    let [band, reasons_area, tiles, costs, charts] = Layout::vertical([
        Constraint::Length(BIG_HEIGHT + 2),
        Constraint::Length(reasons + 2),
        Constraint::Length(BIG_HEIGHT + 2),
        Constraint::Length(costs_height),
        Constraint::Min(0),
    ])
    .areas(area);
    draw_band(frame, band, app, s);
    let lines: Vec<Line> = if s.health.reasons.is_empty() {
        vec![Line::styled("All checks pass.", theme.good())]
    } else {
        s.health
            .reasons
            .iter()
            .map(|r| Line::styled(format!("{} {r}", bullet(app)), theme.text().bold()))
            .collect()
    };
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(panel("Why", theme)),
        reasons_area,
    );
    draw_tiles(frame, tiles, app, s);
    if let Some(c) = &s.costs {
        let block = panel("TRX burned and energy", theme);
        let width = block.inner(costs).width;
        let lines = [
            dashboard::costs_line(c, width),
            dashboard::priced_line(c),
            dashboard::pool_line(c, app),
        ]
        .map(|l| Line::raw(fit(&l, usize::from(width), theme)));
        frame.render_widget(Paragraph::new(lines.to_vec()).block(block), costs);
    }
    let rows = if charts.height >= 30 { 2 } else { 1 };
    chart::panels(frame, charts, app, s, rows);
}

fn bullet(app: &App) -> &'static str {
    if app.theme.ascii { "-" } else { "•" }
}

/// The status in large letters across a band of its colour.
fn draw_band(frame: &mut Frame, area: Rect, app: &App, s: &Snapshot) {
    let theme = &app.theme;
    // A lost connection outranks the last health read: the figures below
    // are old, and a green band would say otherwise.
    let (word, style, detail) = match app.stale_since() {
        Some(since) => (
            "NO DATA".to_string(),
            theme.health(Status::Down).style,
            format!(
                "since {}{}{}",
                since.format("%H:%M:%S UTC"),
                theme.dot(),
                app.stale_reason()
            ),
        ),
        None => {
            let run = if s.paused { "PAUSED" } else { "RUNNING" };
            (
                s.health.level.as_str().to_uppercase(),
                theme.health(s.health.level).style,
                format!(
                    "{run}{}{} of {} workers live{}data of {}",
                    theme.dot(),
                    live_workers(s),
                    s.workers.len(),
                    theme.dot(),
                    s.taken_at.format("%H:%M:%S UTC"),
                ),
            )
        }
    };
    frame.render_widget(Block::new().style(style), area);
    let mut lines = vec![Line::raw("")];
    lines.extend(big(&word, area.width, app.theme.ascii));
    lines.push(Line::raw(fit(&detail, usize::from(area.width), theme)));
    frame.render_widget(
        Paragraph::new(lines)
            .style(style)
            .alignment(Alignment::Center),
        area,
    );
}

fn live_workers(s: &Snapshot) -> usize {
    s.workers
        .iter()
        .filter(|w| matches!(w.state, WorkerState::Active | WorkerState::Idle))
        .count()
}

/// Waiting, running, done and failed in the last minutes, workers, the
/// oldest wait: each in large digits when its tile has the room.
fn draw_tiles(frame: &mut Frame, area: Rect, app: &App, s: &Snapshot) {
    let theme = &app.theme;
    // The last whole minute: the current one is still filling.
    let last_minute = |metric| -> u64 {
        app.history
            .series(s.taken_at, 2, metric)
            .iter()
            .filter_map(|(_, points)| points.first().copied().flatten())
            .sum()
    };
    let failed_15m: u64 = app
        .history
        .series(s.taken_at, 15, Metric::Failed)
        .iter()
        .flat_map(|(_, points)| points.iter().flatten())
        .sum();
    let group = |n: u64| crate::tron::amount::group_thousands(u128::from(n));
    let oldest = s
        .oldest_pending
        .as_ref()
        .map_or("0".to_string(), |j| (j.age.as_secs() / 60).to_string());
    let tiles = [
        ("waiting", group(s.count(JobStatus::Pending)), Style::new()),
        (
            "running",
            group(s.count(JobStatus::Processing)),
            Style::new(),
        ),
        (
            "done last minute",
            group(last_minute(Metric::Completed)),
            Style::new(),
        ),
        (
            "failed in 15 min",
            group(failed_15m),
            if failed_15m > 0 {
                theme.error()
            } else {
                Style::new()
            },
        ),
        (
            "workers live",
            live_workers(s).to_string(),
            if live_workers(s) == 0 {
                theme.error()
            } else {
                Style::new()
            },
        ),
        ("oldest wait, min", oldest, Style::new()),
    ];
    let cells =
        Layout::horizontal(vec![Constraint::Ratio(1, tiles.len() as u32); tiles.len()]).split(area);
    for ((label, value, style), cell) in tiles.iter().zip(cells.iter()) {
        let block = panel(label, theme);
        let inner = block.inner(*cell);
        frame.render_widget(block, *cell);
        let lines: Vec<Line> = big(value, inner.width, theme.ascii)
            .into_iter()
            .map(|l| l.style(*style))
            .collect();
        let top = inner.height.saturating_sub(lines.len() as u16) / 2;
        frame.render_widget(
            Paragraph::new(lines).alignment(Alignment::Center),
            Rect::new(inner.x, inner.y + top, inner.width, inner.height - top),
        );
    }
}

/// Rows of the large letters.
const BIG_HEIGHT: u16 = 5;

/// The glyph of `c` in a 5-row block font, `#` for a filled cell.
fn glyph(c: char) -> Option<[&'static str; 5]> {
    Some(match c {
        '0' | 'O' => ["###", "# #", "# #", "# #", "###"],
        '1' => [" # ", "## ", " # ", " # ", "###"],
        '2' => ["###", "  #", "###", "#  ", "###"],
        '3' => ["###", "  #", "###", "  #", "###"],
        '4' => ["# #", "# #", "###", "  #", "  #"],
        '5' => ["###", "#  ", "###", "  #", "###"],
        '6' => ["###", "#  ", "###", "# #", "###"],
        '7' => ["###", "  #", "  #", "  #", "  #"],
        '8' => ["###", "# #", "###", "# #", "###"],
        '9' => ["###", "# #", "###", "  #", "###"],
        ',' => ["  ", "  ", "  ", " #", "# "],
        ' ' => ["  ", "  ", "  ", "  ", "  "],
        'A' => ["###", "# #", "###", "# #", "# #"],
        'D' => ["## ", "# #", "# #", "# #", "## "],
        'E' => ["###", "#  ", "## ", "#  ", "###"],
        'G' => ["###", "#  ", "# #", "# #", "###"],
        'H' => ["# #", "# #", "###", "# #", "# #"],
        'L' => ["#  ", "#  ", "#  ", "#  ", "###"],
        'N' => ["#  #", "## #", "# ##", "#  #", "#  #"],
        'R' => ["## ", "# #", "## ", "# #", "# #"],
        'T' => ["###", " # ", " # ", " # ", " # "],
        'W' => ["#   #", "#   #", "# # #", "## ##", "#   #"],
        'Y' => ["# #", "# #", " # ", " # ", " # "],
        _ => return None,
    })
}

/// `text` in large letters, twice as wide when that fits in `width`; as
/// one plain bold line when it has a character the font lacks or does not
/// fit at all.
fn big(text: &str, width: u16, ascii: bool) -> Vec<Line<'static>> {
    let glyphs: Option<Vec<[&str; 5]>> = text.chars().map(glyph).collect();
    let plain = || vec![Line::from(Span::raw(text.to_string()).bold())];
    let Some(glyphs) = glyphs else {
        return plain();
    };
    let natural: usize = glyphs
        .iter()
        .map(|g| g[0].len() + 1)
        .sum::<usize>()
        .saturating_sub(1);
    let scale = if natural * 2 <= usize::from(width) {
        2
    } else if natural <= usize::from(width) {
        1
    } else {
        return plain();
    };
    let fill = if ascii { "#" } else { "█" };
    (0..5)
        .map(|row| {
            let mut line = String::new();
            for (i, g) in glyphs.iter().enumerate() {
                if i > 0 {
                    line.push_str(&" ".repeat(scale));
                }
                for c in g[row].chars() {
                    let cell = if c == '#' { fill } else { " " };
                    line.push_str(&cell.repeat(scale));
                }
            }
            Line::raw(line)
        })
        .collect()
}

/// A terminal smaller than the console needs: the health in one line,
/// then its reasons as far as they fit, and how to get the full console.
pub fn tiny(frame: &mut Frame, area: Rect, app: &App) {
    let theme = &app.theme;
    let width = usize::from(area.width);
    let mut lines: Vec<Line> = Vec::new();
    match (app.snapshot.as_ref(), app.stale_since()) {
        (None, _) => {
            let text = match &app.connection {
                Connection::Lost(err) => format!(
                    "Cannot reach the {}, retrying: {err}",
                    if app.over_api { "API" } else { "database" }
                ),
                _ => format!("Connecting{}", theme.ellipsis()),
            };
            lines.push(Line::styled(fit(&text, width, theme), theme.error()));
        }
        (Some(_), Some(since)) => {
            let badge = theme.health(Status::Down);
            let since = fit(
                &format!(" NO DATA since {}", since.format("%H:%M:%S")),
                width.saturating_sub(badge.text.chars().count()),
                theme,
            );
            lines.push(Line::from(vec![
                Span::styled(badge.text, badge.style),
                Span::styled(since, theme.error()),
            ]));
        }
        (Some(s), None) => {
            let badge = theme.health(s.health.level);
            let mut summary = vec![
                s.health.level.as_str().to_string(),
                format!("{} waiting", s.count(JobStatus::Pending)),
                format!("{} running", s.count(JobStatus::Processing)),
                format!("{}/{} workers", live_workers(s), s.workers.len()),
            ];
            if s.paused {
                summary.insert(1, "PAUSED".into());
            }
            if let Some(j) = &s.oldest_pending {
                summary.push(format!("oldest {}", age(j.age)));
            }
            let summary = fit(
                &format!(" {}", summary.join(theme.dot())),
                width.saturating_sub(badge.text.chars().count()),
                theme,
            );
            lines.push(Line::from(vec![
                Span::styled(badge.text, badge.style),
                Span::raw(summary),
            ]));
            for reason in &s.health.reasons {
                lines.push(Line::raw(fit(&format!("- {reason}"), width, theme)));
            }
        }
    }
    let room = usize::from(area.height);
    if room >= 3 {
        lines.truncate(room - 1);
        lines.push(Line::styled(
            fit(
                &format!(
                    "{}x{}: the console needs {MIN_WIDTH}x{MIN_HEIGHT}; q quits",
                    area.width, area.height
                ),
                width,
                theme,
            ),
            theme.dim(),
        ));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

#[cfg(test)]
mod tests {
    use crate::admin::health::Status;
    use crate::tui::backend::BackendError;
    use crate::tui::render_tests;
    use crate::tui::state::{Event, update};
    use crate::tui::testing::{app_with, snapshot};

    fn text(app: &crate::tui::state::App, width: u16, height: u16) -> String {
        render_tests::text(&render_tests::render(app, width, height))
    }

    #[test]
    fn a_read_only_console_on_a_big_terminal_is_a_wall() {
        let wall = app_with(snapshot(), true);
        let big = text(&wall, 200, 60);
        insta::assert_snapshot!("wall_200x60", big);
        assert!(big.contains("██████  ██████"), "DEGRADED in large letters");
        assert!(
            big.contains("failure rate 12% over 15 min"),
            "reasons in words"
        );
        insta::assert_snapshot!("wall_120x40", text(&wall, 120, 40));
        assert!(
            big.contains("energy pool:") && big.contains("burning would have cost"),
            "the energy figures: {big}"
        );
        // Below the wall's size a read-only console is the dashboard.
        let small = text(&wall, 80, 24);
        assert!(small.contains("Queue depth"), "{small}");
        // The same terminal, not read-only: the dashboard, its spare height
        // given to a second row of charts.
        let desk = app_with(snapshot(), false);
        insta::assert_snapshot!("dashboard_120x40", text(&desk, 120, 40));
        insta::assert_snapshot!("dashboard_200x60", text(&desk, 200, 60));
    }

    #[test]
    fn a_tmux_pane_gets_the_health_in_one_line_and_reasons_below() {
        let mut s = snapshot();
        s.health.level = Status::Down;
        s.paused = true;
        let tiny = text(&app_with(s, true), 40, 10);
        insta::assert_snapshot!("tiny_40x10", tiny);
        let first = tiny.lines().next().unwrap();
        assert!(
            first.starts_with(" ✖ CRIT  Down · PAUSED · 55 waiting"),
            "{first}"
        );
    }

    #[test]
    fn a_lost_connection_turns_the_band_to_no_data() {
        let mut wall = app_with(snapshot(), true);
        update(
            &mut wall,
            Event::Snapshot(Err(BackendError::Unavailable("connection refused".into()))),
        );
        let big = text(&wall, 120, 40);
        insta::assert_snapshot!("wall_no_data_120x40", big);
        assert!(
            big.contains("since 14:30:00 UTC · connection refused"),
            "{big}"
        );
        assert_eq!(
            big.lines().nth(2).unwrap().trim(),
            "██    ██  ██████        ████    ██████  ██████  ██████",
            "NO DATA in large letters, in place of the last health"
        );
        let tiny = text(&wall, 40, 10);
        assert!(
            tiny.starts_with(" ✖ CRIT  NO DATA since 14:30:00"),
            "{tiny}"
        );
    }

    #[test]
    fn big_letters_fall_back_to_plain_text_when_they_do_not_fit() {
        let lines = |text: &str, width| {
            super::big(text, width, true)
                .iter()
                .map(|l| l.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(lines("10", 20)[0], "  ##    ######", "doubled when it fits");
        assert_eq!(lines("10", 7)[4], "### ###");
        assert_eq!(lines("10", 6), vec!["10"]);
        assert_eq!(lines("3m", 40), vec!["3m"], "no glyph for m");
    }
}
