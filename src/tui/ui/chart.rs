//! Per-minute charts: one column group per minute, stacked by job type
//! (each type its own glyph and colour, so monochrome and ASCII read too),
//! the maximum labelled on the left, a time axis (`-30m … now`) below. The
//! chart fills its panel: minutes get wider with the panel, and a panel
//! narrower than the history shows the newest minutes it has room for,
//! saying how far back on its axis.

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use super::panel;
use crate::tron::amount::group_thousands;
use crate::tui::history::{CHART_MINUTES, Metric};
use crate::tui::model::{JOB_TYPES, JobType, Snapshot};
use crate::tui::state::App;
use crate::tui::theme::{Theme, ThemeKind};

/// One stacked series: a job type and its value per minute, oldest first
/// (`None` where nothing is known of a minute).
pub type Series = (JobType, Vec<Option<u64>>);

/// The glyph and style of the `index`th job type.
pub fn series_look(theme: &Theme, index: usize) -> (&'static str, Style) {
    let glyph = if theme.ascii {
        ["#", "+", "."][index % 3]
    } else {
        ["█", "▒", "░"][index % 3]
    };
    let colors = match theme.kind {
        ThemeKind::Color => [Color::Cyan, Color::Magenta, Color::Yellow],
        ThemeKind::Light => [Color::Blue, Color::Magenta, Color::Red],
        ThemeKind::Mono => return (glyph, Style::new()),
    };
    (glyph, Style::new().fg(colors[index % 3]))
}

/// The key to the charts' glyphs: `█ consolidation ▒ gas_topup ░ sync`.
pub fn legend(theme: &Theme, types: &[JobType]) -> Line<'static> {
    let mut spans = Vec::new();
    for (i, t) in types.iter().enumerate() {
        let (glyph, style) = series_look(theme, i);
        spans.push(Span::styled(format!(" {glyph}{glyph}"), style));
        spans.push(Span::raw(format!(" {}", t.as_str())));
    }
    Line::from(spans)
}

/// The four charts (done, failed, waiting, running per minute) in `rows`
/// rows (1 or 2) under their legend, up to the shown snapshot's time.
pub fn panels(frame: &mut Frame, area: Rect, app: &App, s: &Snapshot, rows: u16) {
    let theme = &app.theme;
    let [key, grid] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
    let mut line = legend(theme, &JOB_TYPES);
    line.spans.insert(
        0,
        Span::styled(" by job type, a column per minute:", theme.dim()),
    );
    frame.render_widget(Paragraph::new(line), key);
    let charts = [
        ("Done/min", Metric::Completed),
        ("Failed/min", Metric::Failed),
        ("Waiting", Metric::Pending),
        ("Running", Metric::Processing),
    ];
    let rows = rows.clamp(1, 2);
    let per_row = charts.len() / usize::from(rows);
    let row_areas = Layout::vertical(vec![
        Constraint::Ratio(1, u32::from(rows));
        usize::from(rows)
    ])
    .split(grid);
    for (r, row) in row_areas.iter().enumerate() {
        let cells =
            Layout::horizontal(vec![Constraint::Ratio(1, per_row as u32); per_row]).split(*row);
        for (c, cell) in cells.iter().enumerate() {
            let (title, metric) = charts[r * per_row + c];
            let series = app.history.series(s.taken_at, CHART_MINUTES, metric);
            draw(frame, *cell, title, &series, theme);
        }
    }
}

/// A panel titled `title` holding the stacked chart of `series`.
pub fn draw(frame: &mut Frame, area: Rect, title: &str, series: &[Series], theme: &Theme) {
    let block = panel(title, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    frame.render_widget(StackedChart { series, theme }, inner);
}

struct StackedChart<'a> {
    series: &'a [Series],
    theme: &'a Theme,
}

impl Widget for StackedChart<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let minutes = self.series.iter().map(|(_, p)| p.len()).max().unwrap_or(0);
        if area.height < 2 || area.width < 8 || minutes == 0 {
            return;
        }
        let total = |i: usize| -> Option<u64> {
            let mut known = self.series.iter().filter_map(|(_, p)| p[i]).peekable();
            known.peek()?;
            Some(known.sum())
        };
        let max = (0..minutes).filter_map(total).max().unwrap_or(0).max(1);
        let top = group_thousands(u128::from(max));
        // Charts side by side with small maxima keep the same minutes.
        let label_width = top.len().max(3) as u16;
        // Ticks at the labelled rows, a plain line between.
        let (tick, line) = if self.theme.ascii {
            ("+", "|")
        } else {
            ("┤", "│")
        };
        let plot_height = area.height - 1;
        let plot = Rect::new(
            area.x + label_width + 1,
            area.y,
            area.width - label_width - 1,
            plot_height,
        );
        let dim = self.theme.dim();
        buf.set_string(
            area.x,
            area.y,
            format!("{top:>w$}", w = label_width as usize),
            dim,
        );
        buf.set_string(
            area.x,
            area.y + plot_height - 1,
            format!("{:>w$}", "0", w = label_width as usize),
            dim,
        );
        for y in area.y..area.y + plot_height {
            let labelled = y == area.y || y == area.y + plot_height - 1;
            let glyph = if labelled { tick } else { line };
            buf.set_string(area.x + label_width, y, glyph, dim);
        }
        // The newest minutes that fit, each as wide as the panel allows.
        let shown = minutes.min(usize::from(plot.width));
        let first = minutes - shown;
        let columns = usize::from(plot.width);
        for (slot, i) in (first..minutes).enumerate() {
            let from = slot * columns / shown;
            let to = (slot + 1) * columns / shown;
            let Some(sum) = total(i) else { continue };
            let height = u64::from(plot_height);
            // Rounded to cells; a minute with any job shows at least one.
            let filled = ((sum * height + max / 2) / max).max(u64::from(sum > 0));
            let mut cum = 0;
            let mut bottom = 0;
            for (k, (_, points)) in self.series.iter().enumerate() {
                cum += points[i].unwrap_or(0);
                let edge = if cum == sum {
                    filled
                } else {
                    ((cum * height + max / 2) / max).min(filled)
                };
                let (glyph, style) = series_look(self.theme, k);
                for row in bottom..edge {
                    let y = plot.y + plot_height - 1 - row as u16;
                    for x in from..to {
                        buf.set_string(plot.x + x as u16, y, glyph, style);
                    }
                }
                bottom = bottom.max(edge);
            }
        }
        let back = format!("-{shown}m");
        let half = format!("-{}m", shown / 2);
        let y = area.y + plot_height;
        let mut axis_line = vec![' '; usize::from(plot.width)];
        let mut put = |at: usize, text: &str| {
            for (j, c) in text.chars().enumerate() {
                if let Some(slot) = axis_line.get_mut(at + j) {
                    *slot = c;
                }
            }
        };
        put(0, &back);
        let now_at = usize::from(plot.width).saturating_sub(3);
        let mid = usize::from(plot.width) / 2 - half.len() / 2;
        if mid > back.len() + 1 && mid + half.len() + 1 < now_at {
            put(mid, &half);
        }
        put(now_at, "now");
        let text: String = axis_line.into_iter().collect();
        Paragraph::new(Line::styled(text, dim)).render(Rect::new(plot.x, y, plot.width, 1), buf);
    }
}

#[cfg(test)]
mod tests {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;
    use crate::tui::testing::theme;

    fn render(width: u16, height: u16, series: &[Series], theme: &Theme) -> Vec<String> {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal
            .draw(|f| draw(f, f.area(), "Done/min", series, theme))
            .unwrap();
        let buf = terminal.backend().buffer().clone();
        (0..height)
            .map(|y| (0..width).map(|x| buf[(x, y)].symbol()).collect())
            .collect()
    }

    #[test]
    fn the_maximum_is_labelled_and_the_axis_spans_the_minutes_shown() {
        let series = vec![
            (JobType::Sync, vec![Some(0), Some(800), Some(600), Some(0)]),
            (JobType::GasTopup, vec![Some(0), Some(434), Some(1), None]),
        ];
        let rows = render(30, 8, &series, &Theme::new(ThemeKind::Mono, true));
        insta::assert_snapshot!(rows.join("\n"), @r"
        + Done/min ------------------+
        |1,234+     ++++++           |
        |     |     ++++++           |
        |     |     ######           |
        |     |     ###########      |
        |    0+     ###########      |
        |      -4m       -2m      now|
        +----------------------------+
        ");
    }

    #[test]
    fn a_narrow_panel_shows_the_newest_minutes_and_says_so() {
        let series = vec![(JobType::Sync, (1..=30).map(Some).collect())];
        let rows = render(16, 5, &series, &theme());
        assert!(rows[1].starts_with("│ 30┤"), "max labelled: {:?}", rows[1]);
        assert_eq!(
            rows[3], "│    -10m   now│",
            "10 newest minutes in 10 columns"
        );
    }
}
