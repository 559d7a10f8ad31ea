//! Data the console can no longer vouch for: older than two refresh
//! intervals, a failed refresh, or a dropped live link turn the health badge
//! into `NO DATA since …`, dim the figures and let ages grow; freezing says
//! which data it shows. Time enters only as [`Event::Tick`], so these tests
//! set the clock by hand.

use std::time::Duration;

use chrono::{DateTime, Utc};
use ratatui::style::Modifier;

use super::backend::BackendError;
use super::keymap::Keymap;
use super::render_tests::{render, snapshot_screens, text};
use super::state::{App, Event, update};
use super::testing::{at, press, snapshot, theme};

/// The fixture's data read at 14:30:00 and received then, with a 15 s timer.
fn fresh() -> App {
    let mut app = App::new(Keymap::default(), theme(), true);
    update(&mut app, Event::Tick(at(14, 30, 0)));
    update(&mut app, Event::Snapshot(Ok(snapshot())));
    app
}

fn tick(app: &mut App, now: DateTime<Utc>) -> bool {
    update(app, Event::Tick(now));
    app.dirty
}

fn header(app: &App) -> String {
    text(&render(app, 80, 24))
        .lines()
        .next()
        .unwrap()
        .to_string()
}

fn footer(app: &App) -> String {
    text(&render(app, 160, 48))
        .lines()
        .last()
        .unwrap()
        .to_string()
}

#[test]
fn data_turns_stale_after_two_refresh_intervals_and_only_then_wakes_the_screen() {
    let mut app = fresh();
    assert_eq!(app.stale_since(), None);
    assert_eq!(
        app.next_tick(),
        Some(at(14, 30, 30)),
        "wake when it turns stale"
    );
    assert!(
        !tick(&mut app, at(14, 30, 29)),
        "fresh data: no redraw by time"
    );
    assert_eq!(app.stale_since(), None);

    assert!(tick(&mut app, at(14, 30, 30)));
    assert_eq!(app.stale_since(), Some(at(14, 30, 0)));
    assert_eq!(app.next_tick(), Some(at(14, 30, 31)), "then every second");
    assert!(tick(&mut app, at(14, 30, 31)), "ages grow while stale");

    // New data: fresh again, the deadline moves.
    update(&mut app, Event::Snapshot(Ok(snapshot())));
    assert_eq!(app.stale_since(), None);
    assert_eq!(app.next_tick(), Some(at(14, 31, 1)));
}

#[test]
fn the_interval_is_the_consoles_own() {
    let mut app = fresh();
    app.refresh_every = Duration::from_secs(60);
    tick(&mut app, at(14, 31, 59));
    assert_eq!(app.stale_since(), None);
    tick(&mut app, at(14, 32, 0));
    assert_eq!(app.stale_since(), Some(at(14, 30, 0)));
}

#[test]
fn a_dropped_listener_is_stale_at_once_until_a_refresh_succeeds() {
    let mut app = fresh();
    update(
        &mut app,
        Event::LinkDown("the database closed the listening connection".into()),
    );
    assert!(app.dirty);
    assert_eq!(app.stale_since(), Some(at(14, 30, 0)));
    assert!(
        header(&app).contains("NO DATA since 14:30:00"),
        "{}",
        header(&app)
    );

    // Back up: still old data until a refresh brings new.
    update(&mut app, Event::LinkUp);
    assert_eq!(app.link_down, None);
    assert_eq!(app.stale_since(), Some(at(14, 30, 0)));
    update(&mut app, Event::Snapshot(Ok(snapshot())));
    assert_eq!(app.stale_since(), None);
    assert!(header(&app).contains("WARN"), "{}", header(&app));

    // A refresh that succeeds while the link is still down: fresh data,
    // and the footer says live updates are lost.
    update(&mut app, Event::LinkDown("gone".into()));
    update(&mut app, Event::Snapshot(Ok(snapshot())));
    assert_eq!(app.stale_since(), None);
    assert!(
        footer(&app).contains("live updates lost"),
        "{}",
        footer(&app)
    );
}

#[test]
fn a_failed_refresh_is_stale_and_the_header_never_keeps_the_old_badge() {
    let mut app = fresh();
    update(
        &mut app,
        Event::Snapshot(Err(BackendError::Unavailable("connection refused".into()))),
    );
    assert_eq!(app.stale_since(), Some(at(14, 30, 0)));
    let header = header(&app);
    assert!(header.contains("NO DATA since 14:30:00"), "{header}");
    assert!(!header.contains("WARN"), "{header}");
}

#[test]
fn heartbeat_ages_grow_from_the_snapshot_not_frozen_at_their_value() {
    let mut app = fresh();
    press(&mut app, &["3"]);
    let before = text(&render(&app, 160, 48));
    assert!(before.contains(" 2s "), "{before}");
    tick(&mut app, at(14, 31, 5));
    let after = text(&render(&app, 160, 48));
    assert!(after.contains("1m07s"), "2 s + 65 s: {after}");
    assert!(after.contains("2m40s"), "95 s + 65 s: {after}");
}

#[test]
fn stale_figures_are_dimmed_and_the_alarm_is_not() {
    let mut app = fresh();
    tick(&mut app, at(14, 31, 0));
    let buffer = render(&app, 80, 24);
    let body = &buffer[(40, 10)];
    assert!(body.modifier.contains(Modifier::DIM), "{body:?}");
    let badge = buffer.content[..80]
        .iter()
        .find(|c| c.symbol() == "N")
        .expect("the NO DATA badge");
    assert!(!badge.modifier.contains(Modifier::DIM), "{badge:?}");
    let fresh = render(&fresh(), 80, 24);
    assert!(!fresh[(40, 10)].modifier.contains(Modifier::DIM));
}

#[test]
fn freeze_shows_the_time_of_the_data_on_screen_not_the_newest() {
    let mut app = fresh();
    press(&mut app, &["f"]);
    update(&mut app, Event::Tick(at(14, 30, 10)));
    let mut newer = snapshot();
    newer.taken_at = at(14, 30, 10);
    update(&mut app, Event::Snapshot(Ok(newer)));
    let footer = footer(&app);
    assert!(footer.contains("data of 14:30:00 UTC"), "{footer}");
    assert!(
        footer.contains("FROZEN (newer data of 14:30:10 UTC held)"),
        "{footer}"
    );
    assert!(!footer.contains("refreshed"), "{footer}");
    press(&mut app, &["f"]);
    assert!(self::footer(&app).contains("refreshed 14:30:10 UTC"));
}

/// The stale states drawn, in colour (with styles) and monochrome.
#[test]
fn stale_screens() {
    let mut old = fresh();
    tick(&mut old, at(14, 31, 5));

    let mut dropped = fresh();
    press(&mut dropped, &["3"]);
    update(
        &mut dropped,
        Event::LinkDown("the database closed the listening connection".into()),
    );
    tick(&mut dropped, at(14, 30, 20));

    let mut frozen = fresh();
    press(&mut frozen, &["f"]);
    update(&mut frozen, Event::Tick(at(14, 30, 10)));
    let mut newer = snapshot();
    newer.taken_at = at(14, 30, 10);
    update(&mut frozen, Event::Snapshot(Ok(newer)));

    for (name, app) in [
        ("stale_dashboard", old),
        ("stale_link_dropped_workers", dropped),
        ("frozen_newer_held", frozen),
    ] {
        snapshot_screens(name, &app);
    }
}
