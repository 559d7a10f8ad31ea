//! Where things are on screen, computed once for drawing and for the
//! mouse: a click is mapped back through the same functions that placed
//! what was clicked, so no geometry is written twice.

use ratatui::layout::{Constraint, Layout, Rect};

use super::{MIN_HEIGHT, MIN_WIDTH, audit, dialogs, header_tabs, jobs, window};
use crate::tui::action::Screen;
use crate::tui::state::{App, Choice, ListCursor, Overlay};

/// Header, body and footer of a terminal of `area`.
pub fn frame(area: Rect) -> [Rect; 3] {
    Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area)
}

/// Whether the normal layout fits at all.
pub fn fits(area: Rect) -> bool {
    area.width >= MIN_WIDTH && area.height >= MIN_HEIGHT
}

/// The data rows of a bordered table with a header row.
pub fn table_rows(table: Rect) -> Rect {
    Rect::new(
        table.x + 1,
        table.y + 2,
        table.width.saturating_sub(2),
        table.height.saturating_sub(3),
    )
}

/// The list table of the screen shown (Jobs, Workers, Audit).
fn list_table(app: &App, body: Rect) -> Option<Rect> {
    match app.screen {
        Screen::Jobs if app.jobs.detail => None,
        Screen::Jobs => Some(jobs::areas(body).1),
        Screen::Audit if app.audit.detail => None,
        Screen::Workers => Some(body),
        Screen::Audit => Some(audit::areas(body).1),
        Screen::Dashboard => None,
    }
}

/// What is at a terminal cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Tab(Screen),
    /// A row of the current screen's list: its index in the list.
    Row(usize),
    /// A dialog's button.
    Button(Choice),
}

/// What the mouse would hit at column `x`, row `y` of the terminal.
pub fn target(app: &App, x: u16, y: u16) -> Option<Target> {
    let area = Rect::new(0, 0, app.viewport.0, app.viewport.1);
    if !fits(area) {
        return None;
    }
    let [header, body, _] = frame(area);
    match &app.overlay {
        Some(Overlay::Confirm(c)) => {
            let [cancel, confirm] = dialogs::confirm_layout(app, body, c).buttons;
            return [(cancel, Choice::Cancel), (confirm, Choice::Confirm)]
                .into_iter()
                .find(|(r, _)| r.contains((x, y).into()))
                .map(|(_, choice)| Target::Button(choice));
        }
        Some(_) => return None,
        None => {}
    }
    if y == header.y {
        return header_tabs(app, header.width)
            .tabs
            .into_iter()
            .find(|(_, _, columns)| columns.contains(&x))
            .map(|(screen, _, _)| Target::Tab(screen));
    }
    let rows = table_rows(list_table(app, body)?);
    if !rows.contains((x, y).into()) {
        return None;
    }
    let (cursor, len) = list(app)?;
    let first = window(cursor.offset, cursor.index, len, usize::from(rows.height));
    let index = first + usize::from(y - rows.y);
    (index < len).then_some(Target::Row(index))
}

/// The current screen's list cursor and length.
fn list(app: &App) -> Option<(&ListCursor, usize)> {
    match app.screen {
        Screen::Jobs => Some((&app.jobs.cursor, app.jobs.rows.len())),
        Screen::Audit => Some((&app.audit.cursor, app.audit.rows.len())),
        Screen::Workers => Some((
            &app.workers,
            app.snapshot.as_ref().map_or(0, |s| s.workers.len()),
        )),
        Screen::Dashboard => None,
    }
}
