//! Every screen and dialog drawn into ratatui's `TestBackend` and compared
//! with `insta` snapshots, at 80x24 and 160x48, in colour and monochrome
//! (what `NO_COLOR` selects). The colour snapshots keep the styles too.

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};

use super::action::Screen;
use super::backend::BackendError;
use super::keymap::Context;
use super::model::JobType;
use super::state::{App, Connection, Event, update};
use super::testing::{app, app_with, hit, id, press, snapshot, type_text};
use super::theme::{Theme, ThemeKind};
use super::ui::{self, help_entries};

pub(super) fn render(app: &App, width: u16, height: u16) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| ui::draw(frame, app)).unwrap();
    terminal.backend().buffer().clone()
}

pub(super) fn text(buffer: &Buffer) -> String {
    let width = usize::from(buffer.area.width);
    buffer
        .content
        .chunks(width)
        .map(|row| row.iter().map(|c| c.symbol()).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The named situations every size and theme is drawn in.
fn scenarios() -> Vec<(&'static str, App)> {
    let mut out = Vec::new();
    out.push(("dashboard", app()));

    let mut jobs = app();
    press(&mut jobs, &["2", "j", "j"]);
    out.push(("jobs", jobs.clone()));
    press(&mut jobs, &["Enter"]);
    out.push(("jobs_detail", jobs.clone()));
    let row = jobs.selected_job().unwrap().clone();
    update(
        &mut jobs,
        Event::JobDetail {
            id: row.id,
            result: Ok(super::testing::job_detail(&row)),
        },
    );
    out.push(("jobs_detail_attempts_transfers", jobs.clone()));
    press(&mut jobs, &["PgDn"]);
    out.push(("jobs_detail_scrolled", jobs));

    let mut sorted = app();
    press(&mut sorted, &["2", "o", "o", "O"]);
    out.push(("jobs_sorted_by_type_descending", sorted));

    let mut audit_detail = snapshot();
    audit_detail
        .audit
        .insert(0, super::testing::config_change());
    let mut audit_detail = app_with(audit_detail, false);
    press(&mut audit_detail, &["4", "Enter"]);
    out.push(("audit_detail_config_change", audit_detail));

    let mut filtered = app();
    press(&mut filtered, &["2", "s", "s", "s", "s", "/"]);
    type_text(&mut filtered, "user3");
    out.push(("jobs_filter_typing", filtered));

    let mut workers = app();
    press(&mut workers, &["3", "j"]);
    out.push(("workers", workers));

    let mut audit = app();
    press(&mut audit, &["4"]);
    out.push(("audit", audit));

    let mut help = app();
    press(&mut help, &["2", "?"]);
    out.push(("help_jobs", help));

    let mut help_ro = app_with(snapshot(), true);
    press(&mut help_ro, &["2", "?"]);
    out.push(("help_jobs_read_only", help_ro));

    let mut confirm = app();
    press(&mut confirm, &["F"]);
    out.push(("confirm_clear_failed", confirm));

    let mut following = snapshot();
    following.deposits = Some(super::testing::deposits());
    out.push(("dashboard_deposits", app_with(following, false)));

    let mut failing = snapshot();
    *failing.failures = super::testing::failures();
    let mut groups = app_with(failing, false);
    press(&mut groups, &["j"]);
    out.push(("dashboard_failure_groups", groups.clone()));
    let effects = press(&mut groups, &["R"]);
    let Some(super::state::Effect::CountSelection(command)) = effects.into_iter().next() else {
        panic!("R on an error group asks for its count");
    };
    update(
        &mut groups,
        Event::Counted {
            command,
            result: Ok(super::model::BulkCount {
                jobs: 11,
                skipped: 1,
            }),
        },
    );
    out.push(("confirm_retry_failure_group", groups));

    let mut cancel = app();
    // The first pending job: only those can be cancelled.
    press(&mut cancel, &["2", "j", "j", "j", "j", "x", "Tab"]);
    out.push(("confirm_cancel_job_focus_confirm", cancel));

    let mut wizard = app();
    press(&mut wizard, &["d", "Down"]);
    out.push(("wizard_job_type", wizard.clone()));
    press(&mut wizard, &["Up", "Enter"]);
    type_text(&mut wizard, "alice");
    update(
        &mut wizard,
        Event::SearchDone {
            query: "alice".into(),
            result: Ok(vec![
                hit(0, vec![(JobType::Consolidation, id(42))]),
                hit(1, vec![]),
            ]),
        },
    );
    out.push(("wizard_wallets", wizard.clone()));
    press(&mut wizard, &["Enter"]);
    out.push(("wizard_review_duplicate", wizard.clone()));
    press(&mut wizard, &["Tab", "Enter"]);
    out.push(("wizard_sending", wizard.clone()));
    update(
        &mut wizard,
        Event::ActionDone {
            command: super::action::AdminCommand::Dispatch {
                job_type: JobType::Consolidation,
                wallet: hit(0, vec![]),
            },
            result: Err(BackendError::Refused(
                "treasury address is not configured (consolidation.treasury_address)".into(),
            )),
        },
    );
    out.push(("wizard_refused", wizard));

    let mut bad = app();
    press(&mut bad, &["d", "Enter"]);
    type_text(&mut bad, "TJRabPrwbZy45sbavfcjinPJC18kjpRT0I");
    out.push(("wizard_bad_address", bad));

    let mut refused = app_with(snapshot(), true);
    press(&mut refused, &["F"]);
    out.push(("read_only_refusal_footer", refused));

    let mut long = app();
    press(&mut long, &["2", "/"]);
    type_text(
        &mut long,
        "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8-alice.liddell.wonderland@example.com-and-more",
    );
    out.push(("jobs_search_long", long));

    let mut wizard_long = app();
    press(&mut wizard_long, &["d"]);
    type_text(
        &mut wizard_long,
        "alice.liddell.wonderland.rabbit-hole.tea-party@looking-glass.example.com",
    );
    out.push(("wizard_search_long", wizard_long));

    let mut lost = app();
    press(&mut lost, &["f"]);
    update(
        &mut lost,
        Event::Snapshot(Err(BackendError::Unavailable("connection refused".into()))),
    );
    out.push(("database_lost_frozen", lost));

    let mut connecting = App::new(Default::default(), super::testing::theme(), false);
    update(
        &mut connecting,
        Event::Snapshot(Err(BackendError::Unavailable(
            "timed out after 5 s connecting to 127.0.0.1:5432".into(),
        ))),
    );
    out.push(("never_connected", connecting));
    out
}

fn with_theme(mut app: App, theme: Theme) -> App {
    app.theme = theme;
    app
}

#[test]
fn every_screen_and_dialog_at_both_sizes_in_colour_and_monochrome() {
    for (name, app) in scenarios() {
        snapshot_screens(name, &app);
    }
}

/// `app` at 80x24 and 160x48, in colour (with its styles once) and in
/// monochrome (which must use no colour), as snapshots named after `name`.
pub(super) fn snapshot_screens(name: &str, app: &App) {
    for (width, height) in [(80, 24), (160, 48)] {
        let mut app = app.clone();
        update(&mut app, Event::Resize(width, height));
        let colour = render(&app, width, height);
        insta::assert_snapshot!(format!("{name}_{width}x{height}"), text(&colour));
        // The styles once per situation: the large size adds bulk, not news.
        if width == 80 {
            insta::assert_debug_snapshot!(format!("{name}_{width}x{height}_styles"), colour);
        }

        let mono = with_theme(app, Theme::new(ThemeKind::Mono, false));
        let mono = render(&mono, width, height);
        for cell in &mono.content {
            assert_eq!((cell.fg, cell.bg), (Color::Reset, Color::Reset), "{name}");
        }
        insta::assert_snapshot!(format!("{name}_{width}x{height}_mono"), text(&mono));
    }
}

/// Ids as `walletops_uuid_v7()` makes them in one millisecond (one head),
/// at their unluckiest: all share their last 8 digits too.
fn same_millisecond(n: u32) -> Vec<uuid::Uuid> {
    (0..n)
        .map(|i| {
            // An odd multiplier is a bijection: every id differs.
            let high = u128::from((i + 1).wrapping_mul(0x9e37_79b9));
            uuid::Uuid::from_u128(0x0193_2a4b_5c6d_7000_8000_0000_dead_beef | high << 32)
        })
        .collect()
}

#[test]
fn jobs_of_one_millisecond_all_show_different_short_ids() {
    let mut s = snapshot();
    let ids = same_millisecond(40);
    for (job, id) in s.jobs.iter_mut().zip(&ids) {
        job.id = *id;
    }
    s.workers[0].current_job = Some(ids[1]);
    let mut app = app_with(s, false);
    press(&mut app, &["2"]);
    update(&mut app, Event::Resize(160, 48));
    let screen = text(&render(&app, 160, 48));
    let shown: Vec<&str> = screen
        .lines()
        .skip(4)
        .take(40)
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .map(|id| id.trim_start_matches('›'))
        .collect();
    assert_eq!(shown.len(), 40);
    let distinct: std::collections::HashSet<&&str> = shown.iter().collect();
    assert_eq!(distinct.len(), 40, "{screen}");
    // The tails collide at 8 digits, so the console shows more.
    assert!(
        shown
            .iter()
            .all(|id| id.len() == app.id_len && app.id_len > 8)
    );
    insta::assert_snapshot!("jobs_same_millisecond_160x48", screen);
    // The Workers screen names the job the same way.
    press(&mut app, &["3"]);
    let workers = text(&render(&app, 160, 48));
    assert!(workers.contains(&app.short(&ids[1])), "{workers}");
}

#[test]
fn light_theme_and_ascii_glyphs() {
    let light = with_theme(app(), Theme::new(ThemeKind::Light, false));
    insta::assert_debug_snapshot!("dashboard_light_styles", render(&light, 80, 24));
    let ascii = with_theme(app(), Theme::new(ThemeKind::Mono, true));
    let buffer = text(&render(&ascii, 80, 24));
    assert!(buffer.is_ascii(), "{buffer}");
    insta::assert_snapshot!("dashboard_ascii_mono", buffer);
}

#[test]
fn badges_carry_a_word_and_a_symbol_in_every_theme() {
    use crate::admin::health::Status;
    for kind in [ThemeKind::Color, ThemeKind::Mono, ThemeKind::Light] {
        for ascii in [false, true] {
            let theme = Theme::new(kind, ascii);
            let words: Vec<String> = [Status::Healthy, Status::Degraded, Status::Down]
                .map(|l| theme.health(l).text)
                .to_vec();
            let expected = if ascii {
                [" + OK ", " ! WARN ", " x CRIT "]
            } else {
                [" ✔ OK ", " ▲ WARN ", " ✖ CRIT "]
            };
            assert_eq!(words, expected);
            if kind == ThemeKind::Mono {
                let style = theme.health(Status::Down).style;
                assert!(style.add_modifier.contains(Modifier::REVERSED));
            }
        }
    }
}

#[test]
fn no_color_selects_monochrome_and_the_locale_selects_glyphs() {
    assert_eq!(
        Theme::resolve(true, true, Some(ThemeKind::Light)).kind,
        ThemeKind::Mono
    );
    assert_eq!(
        Theme::resolve(false, true, Some(ThemeKind::Light)).kind,
        ThemeKind::Light
    );
    assert_eq!(Theme::resolve(false, true, None).kind, ThemeKind::Color);
    assert!(Theme::resolve(false, false, None).ascii);
    assert!(!Theme::resolve(false, true, None).ascii);
}

#[test]
fn the_help_and_footer_follow_the_operators_role() {
    use super::model::Role;
    let mut operator = snapshot();
    operator.access.role = Role::Operator;
    let mut app = app_with(operator, false);
    press(&mut app, &["?"]);
    let shown = text(&render(&app, 160, 48));
    assert!(shown.contains("clear failed jobs"), "{shown}");
    assert!(!shown.contains("pause all workers"), "{shown}");
    assert!(
        shown.contains("operator role: no start or pause"),
        "{shown}"
    );

    let mut viewer = snapshot();
    viewer.access.role = Role::Viewer;
    viewer.access.note = Some("connected as walletops_viewer".into());
    let shown = text(&render(&app_with(viewer, false), 160, 48));
    assert!(shown.lines().next().unwrap().contains("READ-ONLY"));
    assert!(
        shown.contains("viewer role: connected as walletops_viewer"),
        "{shown}"
    );
}

#[test]
fn a_terminal_below_80x24_gets_the_health_in_one_line() {
    for (w, h) in [(79, 24), (80, 23), (40, 10), (30, 1)] {
        let buffer = text(&render(&app(), w, h));
        let first = buffer.lines().next().unwrap();
        assert!(first.contains("WARN  Degraded"), "{w}x{h}: {buffer}");
        if h >= 3 {
            assert!(buffer.contains(&format!("{w}x{h}")), "{w}x{h}");
        }
    }
    insta::assert_snapshot!("too_small_79x24", text(&render(&app(), 79, 24)));
}

#[test]
fn the_demo_says_so_in_the_header_at_80_columns_beside_every_badge() {
    let mut demo = app_with(snapshot(), true);
    demo.demo = true;
    let header = text(&render(&demo, 80, 24));
    let header = header.lines().next().unwrap();
    for badge in ["DEMO", "READ-ONLY", "RUNNING", "WARN"] {
        assert!(header.contains(badge), "{badge}: {header}");
    }
    let plain = text(&render(&app(), 80, 24));
    assert!(!plain.lines().next().unwrap().contains("DEMO"));
}

#[test]
fn the_header_says_read_only_and_the_footer_shows_refresh_and_connection() {
    let ro = text(&render(&app_with(snapshot(), true), 80, 24));
    assert!(ro.lines().next().unwrap().contains("READ-ONLY"), "{ro}");
    let rw = text(&render(&app(), 80, 24));
    assert!(!rw.lines().next().unwrap().contains("READ-ONLY"));
    let footer = rw.lines().last().unwrap();
    assert!(footer.contains("refreshed 14:30:00 UTC"), "{footer}");
    assert!(footer.contains("connected"), "{footer}");

    let mut lost = app();
    lost.connection = Connection::Lost("x".into());
    let footer = text(&render(&lost, 80, 24));
    assert!(footer.lines().last().unwrap().contains("DATABASE LOST"));
}

/// The help overlay's own rectangle, without the screen around it.
fn help_box(screen: &str) -> String {
    let rows: Vec<Vec<char>> = screen.lines().map(|l| l.chars().collect()).collect();
    let top = rows
        .iter()
        .position(|r| r.iter().collect::<String>().contains("Keys: "))
        .expect("the help is shown");
    // The corner just before the title: another panel's may share the row.
    let title = rows[top]
        .windows(6)
        .position(|w| w.iter().collect::<String>() == "Keys: ")
        .unwrap();
    let left = rows[top][..title].iter().rposition(|c| *c == '┌').unwrap();
    let right = left + rows[top][left..].iter().position(|c| *c == '┐').unwrap();
    rows[top..]
        .iter()
        .take_while(|r| r[left] != '└')
        .map(|r| r[left..=right].iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_help_lists_exactly_the_keymap_keys_of_each_screen() {
    let all = [
        Context::Global,
        Context::Lists,
        Context::Dashboard,
        Context::Jobs,
        Context::Audit,
        Context::Detail,
        Context::Help,
        Context::Confirm,
        Context::TextInput,
        Context::Wizard,
    ];
    for read_only in [false, true] {
        for screen in Screen::ALL {
            let mut app = app_with(snapshot(), read_only);
            app.screen = screen;
            press(&mut app, &["?"]);
            update(&mut app, Event::Resize(160, 60));
            let shown = help_box(&text(&render(&app, 160, 60)));
            let contexts = ui::help_contexts(screen, false);
            let entries: Vec<(String, &str)> = help_entries(&app)
                .into_iter()
                .flat_map(|(_, e)| e)
                .collect();
            let expected: Vec<(String, &str)> = app
                .keymap
                .bindings(&contexts, read_only)
                .filter(|b| b.action.intent().is_none_or(|i| app.may(i)))
                .map(|b| (b.keys_text(), b.help))
                .collect();
            assert_eq!(entries, expected, "{screen:?}");
            for (keys, help) in &expected {
                let row = format!("{keys:<22}{help}");
                assert!(
                    shown.contains(&row),
                    "{screen:?}: {row:?} missing:\n{shown}"
                );
            }
            // Nothing else: no key of another context, no hidden key.
            for b in app.keymap.bindings(&all, false) {
                let listed = expected.iter().any(|(_, h)| *h == b.help);
                if !listed && !expected.iter().any(|(_, h)| h.contains(b.help)) {
                    assert!(
                        !shown.contains(b.help),
                        "{screen:?} read_only={read_only}: {} shown but not bound here",
                        b.help
                    );
                }
            }
            if read_only {
                assert!(expected.iter().all(|(_, h)| !h.contains("dispatch")));
            } else {
                assert!(
                    expected
                        .iter()
                        .any(|(_, h)| h.contains("pause all workers"))
                );
            }
        }
    }
}

#[test]
fn the_dashboard_counts_down_pending_changes_that_move_money() {
    use std::time::Duration;

    use super::model::PendingChange;
    let mut s = snapshot();
    s.pending_changes = vec![
        PendingChange {
            id: id(801),
            key: "consolidation.treasury_address".into(),
            value: "\"TJRabPrwbZy45sbavfcjinPJC18kjpRTv8\"".into(),
            proposed_by: "oncall@example.com".into(),
            applies_in: Some(Duration::from_secs(86_399)),
        },
        PendingChange {
            id: id(802),
            key: "gas.topup_sun".into(),
            value: "5000000".into(),
            proposed_by: "lead@example.com".into(),
            applies_in: None,
        },
    ];
    for (width, height) in [(80, 24), (160, 48)] {
        let screen = text(&render(&app_with(s.clone(), false), width, height));
        for needle in [
            "Pending changes that move money: 2",
            "in 23h 59m: consolidation.",
            "needs a 2nd admin (lead@",
        ] {
            assert!(
                screen.contains(needle),
                "{width}x{height} {needle}: {screen}"
            );
        }
    }
}

#[test]
fn over_the_api_a_lost_connection_names_the_api() {
    let mut never = App::new(Default::default(), super::testing::theme(), false);
    never.over_api = true;
    update(
        &mut never,
        Event::Snapshot(Err(BackendError::Unavailable(
            "the API at http://10.0.0.5:8080/: connection refused".into(),
        ))),
    );
    let screen = text(&render(&never, 80, 24));
    assert!(
        screen.contains("Cannot reach the API, retrying"),
        "{screen}"
    );
    assert!(!screen.contains("database"), "{screen}");

    let mut lost = app();
    lost.over_api = true;
    update(
        &mut lost,
        Event::Snapshot(Err(BackendError::Unavailable("connection refused".into()))),
    );
    let screen = text(&render(&lost, 80, 24));
    assert!(screen.contains("API LOST, retrying"), "{screen}");
}

#[test]
fn failure_groups_say_when_they_cover_only_the_newest_failures() {
    let mut s = snapshot();
    *s.failures = super::testing::failures();
    s.failures.total = 9000;
    s.failures.grouped = 5000;
    let screen = text(&render(&app_with(s, false), 160, 48));
    assert!(
        screen.contains("Failed jobs: 9000 (newest 5000: 5 errors)"),
        "{screen}"
    );
}
