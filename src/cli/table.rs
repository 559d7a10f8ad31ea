//! The list commands' tables (comfy-table draws them; the widths are
//! ours): a header row, and columns that fit the terminal (80 columns when
//! stdout is not one), each row on one line with cut text marked `…`, or
//! with its description set under it. `--wide` shows every column and
//! every text whole.

use std::io::IsTerminal as _;

use chrono::{DateTime, Utc};
use comfy_table::{Cell, CellAlignment, ColumnConstraint, ContentArrangement, Row, Width};

/// The width of output that is not a terminal (a pipe, a file, a mail):
/// what a reader's window is assumed to show.
pub const PIPE_WIDTH: u16 = 80;

/// How much room a table has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fit {
    /// Columns available; ignored when `wide`.
    pub width: u16,
    /// Every column, no text cut.
    pub wide: bool,
}

impl Fit {
    /// `COLUMNS` when set (as `ls` reads it), else the terminal's width when
    /// stdout is one, else [`PIPE_WIDTH`].
    pub fn detect(wide: bool) -> Self {
        let from_env = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.trim().parse::<u16>().ok())
            .filter(|w| *w > 0);
        let width = from_env.unwrap_or_else(|| {
            if std::io::stdout().is_terminal() {
                crossterm::terminal::size().map_or(PIPE_WIDTH, |(w, _)| w)
            } else {
                PIPE_WIDTH
            }
        });
        Self { width, wide }
    }
}

/// A column and when it is shown.
#[derive(Debug, Clone, Copy)]
struct Column {
    header: &'static str,
    /// Shown when the terminal has at least this many columns (or `--wide`).
    from_width: u16,
    right: bool,
    give: Give,
    /// Free text that, given too little room in its row, goes under it.
    below: bool,
}

/// In which order columns give up room when a row does not fit: free text
/// first, then ordinary columns, the column that names the row last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Give {
    Free,
    Normal,
    Key,
}

impl Give {
    /// The narrowest a column of this kind gets while a later kind can
    /// still give room.
    fn floor(self, header: &str) -> u16 {
        match self {
            Give::Free => MIN_FREE,
            Give::Normal | Give::Key => header.len() as u16,
        }
    }
}

/// Space between two columns.
const GAP: u16 = 2;

/// A table being filled row by row.
#[derive(Debug)]
pub struct Table {
    fit: Fit,
    columns: Vec<Column>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(fit: Fit) -> Self {
        Self {
            fit,
            columns: Vec::new(),
            rows: Vec::new(),
        }
    }

    /// The column that names the row (an id, a key, an email): cut last.
    pub fn key(self, header: &'static str) -> Self {
        self.push(header, 0, false, Give::Key)
    }

    /// A column always shown, cut only when free text has given up its room.
    pub fn column(self, header: &'static str) -> Self {
        self.push(header, 0, false, Give::Normal)
    }

    /// A right-aligned column (counts, sequence numbers).
    pub fn number(self, header: &'static str) -> Self {
        self.push(header, 0, true, Give::Normal)
    }

    /// A column of free text (errors, descriptions, messages): it takes the
    /// room the other columns leave, and is cut first.
    pub fn text(self, header: &'static str) -> Self {
        self.push(header, 0, false, Give::Free)
    }

    /// Free text worth reading whole (a description): when its row leaves
    /// it fewer than [`MIN_BELOW`] columns, it goes under the row, indented
    /// and wrapped, instead of being cut.
    pub fn text_below(mut self, header: &'static str) -> Self {
        self = self.push(header, 0, false, Give::Free);
        if let Some(column) = self.columns.last_mut() {
            column.below = true;
        }
        self
    }

    /// Shows the column just added only on a terminal at least `width`
    /// wide, or with `--wide`.
    pub fn shown_from(mut self, width: u16) -> Self {
        if let Some(column) = self.columns.last_mut() {
            column.from_width = width;
        }
        self
    }

    fn push(mut self, header: &'static str, from_width: u16, right: bool, give: Give) -> Self {
        self.columns.push(Column {
            header,
            from_width,
            right,
            give,
            below: false,
        });
        self
    }

    /// Each shown column's width (without the gap) so that a row fits
    /// `self.fit.width`: every column as wide as its longest text when that
    /// fits; else free text, then ordinary columns, then the naming column
    /// give up room in turn, each down to a floor; else all share evenly.
    fn widths(&self, shown: &[usize], texts: &[Vec<String>]) -> Vec<u16> {
        let natural: Vec<u16> = shown.iter().map(|&i| self.natural(i, texts)).collect();
        let mut widths = natural.clone();
        let gaps = GAP * (shown.len().saturating_sub(1) as u16);
        let room = self.fit.width.saturating_sub(gaps);
        let total = |w: &[u16]| w.iter().map(|w| u32::from(*w)).sum::<u32>();
        for give in [Give::Free, Give::Normal, Give::Key] {
            if total(&widths) <= u32::from(room) {
                return widths;
            }
            let giving: Vec<usize> = (0..shown.len())
                .filter(|&n| self.columns[shown[n]].give == give)
                .collect();
            let others = total(&widths) - giving.iter().map(|&n| u32::from(widths[n])).sum::<u32>();
            let left = u32::from(room).saturating_sub(others) as u16;
            share(&mut widths, &giving, left);
            for &n in &giving {
                let floor = give.floor(self.columns[shown[n]].header).min(natural[n]);
                widths[n] = widths[n].max(floor);
            }
        }
        if total(&widths) > u32::from(room) {
            let all: Vec<usize> = (0..shown.len()).collect();
            share(&mut widths, &all, room);
        }
        widths
    }

    /// Column `i`'s width with nothing cut.
    fn natural(&self, i: usize, texts: &[Vec<String>]) -> u16 {
        let longest = texts
            .iter()
            .map(|r| r[i].chars().count())
            .max()
            .unwrap_or(0);
        longest
            .max(self.columns[i].header.len())
            .min(usize::from(u16::MAX)) as u16
    }

    /// Adds a row: one text per column, in the order the columns were added.
    pub fn row<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let row: Vec<String> = cells.into_iter().map(Into::into).collect();
        debug_assert_eq!(row.len(), self.columns.len(), "one text per column");
        self.rows.push(row);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as lines without trailing blanks.
    pub fn render(&self) -> String {
        let mut shown: Vec<usize> = (0..self.columns.len())
            .filter(|&i| self.fit.wide || self.fit.width >= self.columns[i].from_width)
            .collect();
        // Text other logins wrote is shown escaped before it is measured,
        // so that the escape is what gets the room.
        let texts: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|cells| cells.iter().map(|c| super::clean(c).into_owned()).collect())
            .collect();
        let mut below = Vec::new();
        let mut widths = Vec::new();
        if !self.fit.wide {
            widths = self.widths(&shown, &texts);
            below = shown
                .iter()
                .zip(&widths)
                .filter(|&(&i, &w)| {
                    self.columns[i].below && w < MIN_BELOW && w < self.natural(i, &texts)
                })
                .map(|(&i, _)| i)
                .collect();
            if !below.is_empty() {
                shown.retain(|i| !below.contains(i));
                widths = self.widths(&shown, &texts);
            }
        }
        let mut table = comfy_table::Table::new();
        table.load_style(comfy_table::presets::NOTHING);
        if self.fit.wide {
            table.set_content_arrangement(ContentArrangement::Disabled);
        } else {
            table
                .set_content_arrangement(ContentArrangement::Dynamic)
                .set_width(self.fit.width)
                .set_truncation_indicator("…");
        }
        table.set_header(shown.iter().map(|&i| self.columns[i].header));
        for cells in &texts {
            let mut row = Row::from(shown.iter().map(|&i| {
                let cell = Cell::new(&cells[i]);
                if self.columns[i].right {
                    cell.set_alignment(CellAlignment::Right)
                } else {
                    cell
                }
            }));
            if !self.fit.wide {
                row.max_height(1);
            }
            table.add_row(row);
        }
        let last = shown.len().saturating_sub(1);
        for (n, column) in table.column_iter_mut().enumerate() {
            let gap = if n == last { 0 } else { GAP };
            column.set_padding((0, gap));
            if let Some(width) = widths.get(n) {
                column.set_constraint(ColumnConstraint::Absolute(Width::Fixed(
                    width.max(&1) + gap,
                )));
            }
        }
        let mut out = String::new();
        // One line per row when narrow: the header, then row k on line k + 1.
        for (k, line) in table.lines().enumerate() {
            out.push_str(line.trim_end());
            out.push('\n');
            let Some(cells) = k.checked_sub(1).and_then(|row| texts.get(row)) else {
                continue;
            };
            for &i in &below {
                for part in wrap(&cells[i], usize::from(self.fit.width) - INDENT.len()) {
                    out.push_str(INDENT);
                    out.push_str(&part);
                    out.push('\n');
                }
            }
        }
        out
    }

    /// Prints the table to stdout.
    pub fn print(&self) {
        print!("{}", self.render());
    }
}

/// The narrowest a free-text column gets before the others give up room.
const MIN_FREE: u16 = 12;

/// Fewer columns than this, and text meant to be read whole goes under its row.
const MIN_BELOW: u16 = 30;

/// How text under its row is set off from the row.
const INDENT: &str = "    ";

/// `text` in lines of at most `width` characters, broken between words
/// (a word longer than a line is cut into pieces).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        while word.len() > width {
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            lines.push(word.drain(..width).collect());
        }
        let word: String = word.into_iter().collect();
        let len = line.chars().count();
        if len > 0 && len + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Shares `room` among the columns `among` (water-filling): each gets an
/// even share, and what a column does not need goes to the others.
fn share(widths: &mut [u16], among: &[usize], room: u16) {
    let mut order: Vec<usize> = among.to_vec();
    order.sort_by_key(|&n| widths[n]);
    let mut left = room;
    for (k, &n) in order.iter().enumerate() {
        let even = left / (order.len() - k) as u16;
        widths[n] = widths[n].min(even).max(1);
        left = left.saturating_sub(widths[n]);
    }
}

/// `-` for what is absent.
pub fn or_dash(text: Option<impl ToString>) -> String {
    text.map_or_else(|| "-".to_string(), |t| t.to_string())
}

/// A long value (a TRON address) cut in the middle on a narrow table
/// (`TXYZ12…9a8b`): its ends are what people compare.
pub fn ends(text: &str, fit: Fit) -> String {
    let chars: Vec<char> = text.chars().collect();
    if fit.wide || chars.len() <= 12 {
        return text.to_string();
    }
    let head: String = chars[..6].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// How long ago `then` was: `42s ago`, `5m ago`, `3h ago`, `12d ago`.
pub fn ago(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let s = (now - then).num_seconds();
    if s < 0 {
        return format!("in {}", span(-s));
    }
    format!("{} ago", span(s))
}

fn span(s: i64) -> String {
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// The time as people compare it across hosts: `2026-01-31 12:00:05 UTC`.
pub fn absolute(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// Relative on a narrow table, relative and absolute with `--wide`.
pub fn when(t: Option<DateTime<Utc>>, now: DateTime<Utc>, fit: Fit) -> String {
    match t {
        None => "-".to_string(),
        Some(t) if fit.wide => format!("{} ({})", absolute(t), ago(t, now)),
        Some(t) => ago(t, now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(fit: Fit) -> String {
        let mut t = Table::new(fit)
            .column("ID")
            .number("N")
            .column("EXTRA")
            .shown_from(120)
            .text("ERROR");
        t.row(["a1b2c3d4", "7", "only when wide", &"word ".repeat(40)]);
        t.row(["e5f6a7b8", "12", "x", "short"]);
        t.render()
    }

    #[test]
    fn a_narrow_table_fits_and_marks_the_cut() {
        let text = sample(Fit {
            width: 80,
            wide: false,
        });
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("ID") && lines[0].contains("ERROR"));
        assert!(!text.contains("EXTRA"), "{text}");
        assert!(lines.iter().all(|l| l.chars().count() <= 80), "{text}");
        assert!(lines[1].ends_with('…'), "{text}");
        // Numbers align right under their header.
        assert!(lines[2].contains("12"), "{text}");
    }

    #[test]
    fn wide_shows_every_column_whole() {
        let text = sample(Fit {
            width: 80,
            wide: true,
        });
        assert!(text.contains("EXTRA") && text.contains("only when wide"));
        assert!(text.contains(&"word ".repeat(40).trim_end().to_string()));
        assert!(!text.contains('…'));
    }

    #[test]
    fn a_wider_terminal_shows_more_columns() {
        let text = sample(Fit {
            width: 160,
            wide: false,
        });
        assert!(text.contains("EXTRA"), "{text}");
        assert!(text.lines().all(|l| l.chars().count() <= 160));
    }

    #[test]
    fn control_characters_are_shown_escaped() {
        let mut t = Table::new(Fit {
            width: 80,
            wide: false,
        })
        .column("TARGET");
        t.row(["T\u{1b}]52;c;x\u{7}"]);
        let text = t.render();
        assert!(
            text.contains("\\u{1b}") && !text.contains('\u{1b}'),
            "{text}"
        );
    }

    #[test]
    fn ages_read_as_people_say_them() {
        let now = Utc::now();
        assert_eq!(ago(now - chrono::Duration::seconds(42), now), "42s ago");
        assert_eq!(ago(now - chrono::Duration::minutes(90), now), "1h ago");
        assert_eq!(ago(now + chrono::Duration::minutes(5), now), "in 5m");
    }
}
