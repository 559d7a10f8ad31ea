//! The mouse: a click lands on what was drawn under it (found here by
//! reading the drawn screen, so drawing and hit-testing must agree), the
//! wheel moves lists.

use crossterm::event::{KeyModifiers, MouseButton, MouseEvent, MouseEventKind};

use super::action::Screen;
use super::render_tests::{render, text};
use super::state::{App, Effect, Event, Overlay, update};
use super::testing::{app, press};

fn mouse(app: &mut App, kind: MouseEventKind, column: u16, row: u16) -> Vec<Effect> {
    update(
        app,
        Event::Mouse(MouseEvent {
            kind,
            column,
            row,
            modifiers: KeyModifiers::NONE,
        }),
    )
}

fn click(app: &mut App, (column, row): (u16, u16)) -> Vec<Effect> {
    mouse(app, MouseEventKind::Down(MouseButton::Left), column, row)
}

/// Where `needle` is drawn (its first character), as the terminal counts.
fn find(app: &App, needle: &str) -> (u16, u16) {
    let screen = text(&render(app, app.viewport.0, app.viewport.1));
    for (row, line) in screen.lines().enumerate() {
        if let Some(at) = line.find(needle) {
            let column = line[..at].chars().count();
            return (column as u16, row as u16);
        }
    }
    panic!("{needle:?} is not on screen:\n{screen}");
}

#[test]
fn a_click_on_a_tab_opens_its_screen_at_any_width() {
    for width in [80, 160] {
        let mut app = app();
        update(&mut app, Event::Resize(width, 24));
        let (x, y) = find(&app, "3 Workers");
        click(&mut app, (x + 3, y));
        assert_eq!(app.screen, Screen::Workers, "{width} columns");
        let (x, y) = find(&app, " 4 ");
        click(&mut app, (x + 1, y));
        assert_eq!(app.screen, Screen::Audit, "{width} columns");
    }
}

#[test]
fn a_click_selects_a_row_and_a_second_click_opens_the_job() {
    let mut app = app();
    press(&mut app, &["2"]);
    let fourth = app.visible_jobs().nth(3).unwrap().id;
    let short = crate::admin::short_id(&fourth);
    let at = find(&app, &short);
    click(&mut app, at);
    assert_eq!(app.selected_job().map(|j| j.id), Some(fourth));
    assert!(!app.jobs.detail);
    click(&mut app, at);
    assert!(app.jobs.detail, "the second click opens the detail");

    // Below the last row, nothing happens.
    let before = app.jobs.cursor.clone();
    click(&mut app, (10, 0));
    click(&mut app, (10, 23));
    assert_eq!(app.jobs.cursor, before);
}

#[test]
fn the_wheel_moves_the_list_three_rows_a_notch() {
    let mut app = app();
    press(&mut app, &["2"]);
    mouse(&mut app, MouseEventKind::ScrollDown, 10, 10);
    assert_eq!(app.jobs.cursor.index, 3);
    mouse(&mut app, MouseEventKind::ScrollUp, 10, 10);
    assert_eq!(app.jobs.cursor.index, 0);
}

#[test]
fn dialog_buttons_are_clicked_where_they_are_drawn() {
    let mut app = app();
    press(&mut app, &["F"]);
    let cancel = find(&app, "[ Keep them ]");
    assert!(click(&mut app, cancel).is_empty());
    assert!(app.overlay.is_none(), "Keep them closes the dialog");

    press(&mut app, &["F"]);
    // The wheel does not close a confirmation.
    mouse(&mut app, MouseEventKind::ScrollDown, 40, 12);
    assert!(matches!(app.overlay, Some(Overlay::Confirm(_))));
    let (x, y) = find(&app, "[ Delete failed jobs ]");
    let effects = click(&mut app, (x + 10, y));
    assert!(
        matches!(effects.as_slice(), [Effect::RunAdminAction(_)]),
        "{effects:?}"
    );
}
