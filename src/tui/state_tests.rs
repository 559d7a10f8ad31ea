//! Key handling on the state machine: no terminal, no database.

use std::collections::BTreeMap;

use super::action::{Action, AdminCommand, Intent, Screen};
use super::backend::{ActionOutcome, BackendError};
use super::keymap::{Context, KeyChord, Keymap, KeymapError};
use super::model::{JobStatus, JobType, Role};
use super::state::{
    App, Choice, Connection, Effect, Event, Overlay, ToastKind, WizardStep, address_problem, update,
};
use super::testing::{self, app, app_with, hit, id, press, snapshot, type_text};
use crate::config::KeyList;

fn wizard(app: &App) -> &super::state::Wizard {
    match &app.overlay {
        Some(Overlay::Wizard(w)) => w,
        other => panic!("expected the wizard, found {other:?}"),
    }
}

fn confirmation(app: &App) -> &super::state::Confirmation {
    match &app.overlay {
        Some(Overlay::Confirm(c)) => c,
        other => panic!("expected a confirmation, found {other:?}"),
    }
}

/// The footer notice's text; panics when none shows.
fn notice(app: &App) -> &str {
    &app.notice.as_ref().expect("a footer notice").text
}

/// Whether `effects` do nothing but time out a footer notice.
fn only_notice(effects: &[Effect]) -> bool {
    effects
        .iter()
        .all(|e| matches!(e, Effect::ExpireNotice { .. }))
}

fn admin_effects(effects: &[Effect]) -> Vec<AdminCommand> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::RunAdminAction(a) => Some(a.command().clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn the_wizard_walks_type_wallet_review_and_dispatches_only_on_confirm() {
    let mut app = app();
    assert!(press(&mut app, &["d"]).is_empty());
    assert_eq!(wizard(&app).step, WizardStep::JobType);

    press(&mut app, &["Down", "Enter"]);
    assert_eq!(wizard(&app).step, WizardStep::Wallet);
    assert_eq!(wizard(&app).job_type(), JobType::GasTopup);

    // One character is too few to search; from two on, every change searches.
    assert!(type_text(&mut app, "a").is_empty());
    let effects = type_text(&mut app, "li");
    assert_eq!(
        effects,
        [
            Effect::SearchWallets("al".into()),
            Effect::SearchWallets("ali".into())
        ]
    );
    // Enter with no result stays put.
    press(&mut app, &["Enter"]);
    assert_eq!(wizard(&app).step, WizardStep::Wallet);

    // A result for an older query is dropped; only the latest counts.
    update(
        &mut app,
        Event::SearchDone {
            query: "al".into(),
            result: Ok(vec![hit(0, vec![])]),
        },
    );
    assert!(wizard(&app).hits.is_empty());
    update(
        &mut app,
        Event::SearchDone {
            query: "ali".into(),
            result: Ok(vec![hit(0, vec![]), hit(1, vec![])]),
        },
    );
    assert_eq!(wizard(&app).hits.len(), 2);

    press(&mut app, &["Down", "Enter"]);
    assert_eq!(wizard(&app).step, WizardStep::Review);
    assert_eq!(wizard(&app).focus, Choice::Cancel, "Cancel is focused");
    assert_eq!(wizard(&app).picked(), Some(&hit(1, vec![])));

    // Enter on Cancel goes back to the wallet step; nothing is dispatched.
    assert!(press(&mut app, &["Enter"]).is_empty());
    assert_eq!(wizard(&app).step, WizardStep::Wallet);

    press(&mut app, &["Enter", "Tab"]);
    assert_eq!(wizard(&app).focus, Choice::Confirm);
    let effects = press(&mut app, &["Enter"]);
    assert_eq!(
        admin_effects(&effects),
        [AdminCommand::Dispatch {
            job_type: JobType::GasTopup,
            wallet: hit(1, vec![]),
        }]
    );
    assert_eq!(wizard(&app).step, WizardStep::Sending);
    assert!(app.busy.is_some());

    let effects = update(
        &mut app,
        Event::ActionDone {
            command: AdminCommand::Dispatch {
                job_type: JobType::GasTopup,
                wallet: hit(1, vec![]),
            },
            result: Ok(ActionOutcome {
                message: "queued gas-topup job 1234abcd".into(),
                affected: 1,
            }),
        },
    );
    assert_eq!(effects, [Effect::Refresh], "a result triggers a refresh");
    assert_eq!(wizard(&app).step, WizardStep::Done);
    assert_eq!(
        wizard(&app).result,
        Some(Ok("queued gas-topup job 1234abcd".into()))
    );
    assert!(
        app.toasts.is_empty(),
        "shown in place, not again as a toast"
    );
    assert!(app.busy.is_none());
    press(&mut app, &["Esc"]);
    assert!(app.overlay.is_none(), "one Esc closes the result");
    assert!(app.toasts.is_empty());
}

#[test]
fn typing_on_the_first_step_searches_and_the_result_page_lets_screen_keys_through() {
    let mut app = app();
    press(&mut app, &["d"]);
    // As the README walks it: pick the type with the arrows, then type.
    let effects = type_text(&mut app, "al");
    assert_eq!(wizard(&app).step, WizardStep::Wallet);
    assert_eq!(wizard(&app).job_type(), JobType::Consolidation);
    assert_eq!(wizard(&app).input.value(), "al");
    assert_eq!(effects, [Effect::SearchWallets("al".into())]);
    update(
        &mut app,
        Event::SearchDone {
            query: "al".into(),
            result: Ok(vec![hit(0, vec![])]),
        },
    );
    let effects = press(&mut app, &["Enter", "Tab", "Enter"]);
    let command = admin_effects(&effects).pop().unwrap();
    update(
        &mut app,
        Event::ActionDone {
            command,
            result: Ok(ActionOutcome {
                message: "consolidation job 7f4a7c15 queued".into(),
                affected: 1,
            }),
        },
    );
    assert_eq!(wizard(&app).step, WizardStep::Done);
    // `2` on the result page closes it and goes to the Jobs screen at once.
    press(&mut app, &["2"]);
    assert!(app.overlay.is_none());
    assert_eq!(app.screen, Screen::Jobs);
    assert!(app.toasts.is_empty());
}

#[test]
fn the_wizard_explains_refusals_duplicates_and_bad_addresses_in_place() {
    let mut app = app();
    press(&mut app, &["d", "Enter"]);
    type_text(&mut app, "TJRab");
    update(
        &mut app,
        Event::SearchDone {
            query: "TJRab".into(),
            result: Ok(vec![hit(0, vec![(JobType::Consolidation, id(42))])]),
        },
    );
    press(&mut app, &["Enter"]);
    assert_eq!(wizard(&app).duplicate(), Some(id(42)));
    let effects = press(&mut app, &["Tab", "Enter"]);
    let command = admin_effects(&effects).pop().unwrap();
    update(
        &mut app,
        Event::ActionDone {
            command,
            result: Err(BackendError::Refused("wallet has no key in custody".into())),
        },
    );
    let w = wizard(&app);
    assert_eq!(w.step, WizardStep::Done);
    let reason = w.result.clone().unwrap().unwrap_err();
    assert!(reason.contains("wallet has no key in custody"), "{reason}");
    assert!(app.toasts.is_empty(), "said once, in place");

    assert_eq!(address_problem("alice@example.com"), None);
    assert_eq!(address_problem("TJRabPrwbZy45sbavfcjinPJC18kjpRTv8"), None);
    assert!(
        address_problem("TJRabPrwbZy45sbavfcjinPJC18kjpRTv0")
            .unwrap()
            .contains("'0'")
    );
    assert!(
        address_problem("TJRabPrwbZy45sbavfcjinPJC18kjpRT")
            .unwrap()
            .contains("32 characters")
    );
}

#[test]
fn the_wizard_steps_back_with_esc_and_closes_from_its_first_step() {
    let mut app = app();
    press(&mut app, &["d", "Enter"]);
    assert_eq!(wizard(&app).step, WizardStep::Wallet);
    press(&mut app, &["Esc"]);
    assert_eq!(wizard(&app).step, WizardStep::JobType);
    press(&mut app, &["Esc"]);
    assert!(app.overlay.is_none());
}

#[test]
fn confirmation_starts_on_cancel_and_only_confirm_runs_the_action() {
    // The count clear-failed's own predicate gave, not the per-type counts.
    let failed = snapshot().failures.total;
    assert!(failed > 0);
    let expected = AdminCommand::ClearFailed { count: failed };

    let mut app = app();
    assert!(press(&mut app, &["F"]).is_empty());
    assert_eq!(confirmation(&app).command, expected);
    assert_eq!(confirmation(&app).focus, Choice::Cancel);
    assert!(press(&mut app, &["Enter"]).is_empty(), "Enter on Cancel");
    assert!(app.overlay.is_none());

    press(&mut app, &["F", "Tab"]);
    assert!(press(&mut app, &["Esc"]).is_empty(), "Esc cancels");
    assert!(app.overlay.is_none());

    press(&mut app, &["F", "Tab"]);
    assert!(press(&mut app, &["n"]).is_empty(), "n cancels");

    // Keys of the screen behind the dialog do nothing while it is open.
    press(&mut app, &["F"]);
    assert!(press(&mut app, &["q", "2", "d"]).is_empty());
    assert!(!app.quit);
    assert_eq!(app.screen, Screen::Dashboard);

    let effects = press(&mut app, &["Right", "Enter"]);
    assert_eq!(admin_effects(&effects), [expected]);
    assert!(app.overlay.is_none());

    // One action at a time: the next request waits for the first.
    press(&mut app, &["U"]);
    assert!(app.overlay.is_none());
    assert!(notice(&app).contains("still running"));
}

#[test]
fn confirmations_name_the_selected_job_and_the_counts() {
    let mut app = app();
    press(&mut app, &["2"]);
    let job = select(&mut app, JobStatus::Failed);
    press(&mut app, &["R"]);
    assert_eq!(
        confirmation(&app).command,
        AdminCommand::RetryJob {
            job: job.id,
            job_type: job.job_type,
            wallet: job.wallet_address.clone()
        }
    );
    press(&mut app, &["Esc"]);
    let job = select(&mut app, JobStatus::Pending);
    press(&mut app, &["x"]);
    assert!(matches!(
        confirmation(&app).command,
        AdminCommand::CancelJob { job: j, .. } if j == job.id
    ));
    press(&mut app, &["Esc", "U"]);
    assert_eq!(
        confirmation(&app).command,
        AdminCommand::ResetProcessing {
            count: snapshot().stuck_total,
            wallets: 0,
        }
    );
    press(&mut app, &["Esc", "P"]);
    assert_eq!(
        confirmation(&app).command,
        AdminCommand::PauseWorkers { workers: 3 }
    );
    // Starting running workers has nothing to confirm: said, not offered.
    press(&mut app, &["Esc", "S"]);
    assert!(app.overlay.is_none());
    assert!(notice(&app).contains("already running"));
}

/// Moves the Jobs cursor to the first job of `status` and returns it.
fn select(app: &mut App, status: JobStatus) -> super::model::JobView {
    let at = app
        .visible_jobs()
        .position(|j| j.status == status)
        .expect("a job of that status");
    update(app, Event::Resize(160, 48));
    press(app, &["g"]);
    for _ in 0..at {
        press(app, &["j"]);
    }
    app.selected_job().unwrap().clone()
}

#[test]
fn retry_and_cancel_refuse_at_once_a_job_they_cannot_change() {
    let mut app = app();
    press(&mut app, &["2"]);
    let done = select(&mut app, JobStatus::Completed);
    let effects = press(&mut app, &["R"]);
    assert!(only_notice(&effects));
    assert!(app.overlay.is_none(), "no confirmation before the refusal");
    assert_eq!(
        notice(&app),
        format!(
            "job {} is completed: only failed or cancelled jobs can be retried",
            app.short(&done.id)
        )
    );
    let failed = select(&mut app, JobStatus::Failed);
    press(&mut app, &["x"]);
    assert!(app.overlay.is_none());
    assert!(notice(&app).contains(&format!(
        "job {} is failed: only pending jobs can be cancelled",
        app.short(&failed.id)
    )));
    // A notice goes by itself; an older timer does not clear a newer one.
    let id = app.notice.as_ref().unwrap().id;
    update(&mut app, Event::NoticeExpired(id - 1));
    assert!(app.notice.is_some());
    update(&mut app, Event::NoticeExpired(id));
    assert!(app.notice.is_none());
}

/// Every mutating key of the default keymap, with the screen it lives on.
fn mutating_keys() -> Vec<(Screen, String, Intent)> {
    let keymap = Keymap::default();
    let mut out = Vec::new();
    for screen in Screen::ALL {
        for b in keymap.bindings(Context::chain(screen), false) {
            if let Some(intent) = b.action.intent() {
                out.push((screen, b.keys[0].to_string(), intent));
            }
        }
    }
    let intents: std::collections::HashSet<_> = out.iter().map(|(_, _, i)| *i).collect();
    assert_eq!(intents.len(), 9, "every intent has a key: {out:?}");
    out
}

#[test]
fn read_only_refuses_every_mutating_action_in_one_place() {
    for (screen, key, intent) in mutating_keys() {
        let mut app = app_with(snapshot(), true);
        app.screen = screen;
        let effects = press(&mut app, &[&key]);
        assert!(only_notice(&effects), "{intent:?}");
        assert!(app.overlay.is_none(), "{intent:?} opened {:?}", app.overlay);
        // Said briefly in the footer: a wall screen collects no boxes.
        assert!(app.toasts.is_empty());
        let shown = app.notice.clone().expect("the refusal is shown");
        assert_eq!(shown.kind, ToastKind::Refusal);
        assert!(shown.text.contains("read-only"), "{}", shown.text);
        assert_eq!(app.authorize(intent), Err(shown.text.clone()));
    }
}

#[test]
fn roles_limit_actions_and_a_viewer_console_becomes_read_only() {
    let mut viewer = snapshot();
    viewer.access.role = Role::Viewer;
    viewer.access.note = Some("connected as walletops_viewer".into());
    for (screen, key, intent) in mutating_keys() {
        let mut app = app_with(viewer.clone(), false);
        app.screen = screen;
        assert!(app.acts_read_only());
        assert!(only_notice(&press(&mut app, &[&key])), "{intent:?}");
        assert!(app.overlay.is_none());
        let text = notice(&app);
        assert!(text.contains("viewer role"), "{text}");
        assert!(text.contains("walletops_viewer"), "{text}");
    }

    let mut operator = snapshot();
    operator.access.role = Role::Operator;
    operator.paused = true;
    let mut app = app_with(operator, false);
    press(&mut app, &["S"]);
    assert!(app.overlay.is_none(), "operators may not start workers");
    press(&mut app, &["F"]);
    assert!(matches!(
        confirmation(&app).command,
        AdminCommand::ClearFailed { .. }
    ));
}

#[test]
fn a_role_lost_while_the_dialog_is_open_is_checked_again_on_confirm() {
    let mut app = app();
    press(&mut app, &["F", "Tab"]);
    let mut viewer = snapshot();
    viewer.access.role = Role::Viewer;
    update(&mut app, Event::Snapshot(Ok(viewer)));
    assert!(only_notice(&press(&mut app, &["Enter"])));
    assert_eq!(app.notice.as_ref().unwrap().kind, ToastKind::Refusal);
}

#[test]
fn nothing_is_allowed_before_the_first_snapshot() {
    let mut app = App::new(Keymap::default(), testing::theme(), false);
    assert!(only_notice(&press(&mut app, &["F", "d"])));
    assert!(app.overlay.is_none());
    assert!(notice(&app).contains("not connected"));
}

#[test]
fn filters_by_status_type_and_text() {
    let mut app = app();
    press(&mut app, &["2"]);
    assert_eq!(app.visible_jobs().len(), 40);

    press(&mut app, &["s"]);
    assert_eq!(app.jobs.status, Some(JobStatus::Pending));
    press(&mut app, &["s", "s", "s"]);
    assert_eq!(app.jobs.status, Some(JobStatus::Failed));
    assert!(app.visible_jobs().all(|j| j.status == JobStatus::Failed));
    assert_eq!(app.visible_jobs().len(), 8);

    press(&mut app, &["t"]);
    assert!(
        app.visible_jobs()
            .all(|j| j.status == JobStatus::Failed && j.job_type == JobType::Consolidation)
    );

    // Esc on the screen clears every filter.
    press(&mut app, &["Esc"]);
    assert_eq!((app.jobs.status, app.jobs.job_type), (None, None));
    assert_eq!(app.visible_jobs().len(), 40);

    // `/` types a search; keys are text there, even q and j.
    press(&mut app, &["/"]);
    type_text(&mut app, "user3");
    assert!(!app.quit);
    assert_eq!(app.jobs.search.value(), "user3");
    assert!(
        app.visible_jobs()
            .all(|j| j.user.as_deref() == Some("user3@example.com"))
    );
    assert_eq!(app.visible_jobs().len(), 8);
    press(&mut app, &["Enter"]);
    assert!(!app.editing);
    assert_eq!(app.visible_jobs().len(), 8, "Enter keeps the search");

    press(&mut app, &["/"]);
    type_text(&mut app, "zzz");
    assert_eq!(app.visible_jobs().len(), 0);
    press(&mut app, &["Esc"]);
    assert_eq!(app.jobs.search.value(), "", "Esc in the field clears it");
    assert_eq!(app.visible_jobs().len(), 40);

    // The audit trail has its own filter.
    press(&mut app, &["4", "/"]);
    type_text(&mut app, "clear");
    let s = app.snapshot.as_ref().unwrap();
    assert_eq!(app.audit.rows.len(), 3);
    assert!(
        app.audit
            .rows
            .iter()
            .all(|i| s.audit[*i].action == "clear_failed")
    );
}

#[test]
fn ctrl_c_quits_but_never_from_a_text_field() {
    let mut app = app();
    press(&mut app, &["2", "/"]);
    assert!(only_notice(&press(&mut app, &["Ctrl-C"])));
    assert!(!app.quit);
    assert!(app.editing, "still typing");
    assert!(notice(&app).contains("Esc leaves it"));

    press(&mut app, &["Esc", "d", "Enter"]);
    assert!(only_notice(&press(&mut app, &["Ctrl-C"])));
    assert!(!app.quit, "nor from the wizard's search");

    press(&mut app, &["Esc", "Esc"]);
    assert_eq!(press(&mut app, &["Ctrl-C"]), [Effect::Quit]);
    assert!(app.quit);
}

#[test]
fn freeze_holds_the_view_and_unfreeze_shows_the_newest_data() {
    let mut app = app();
    press(&mut app, &["f"]);
    assert!(app.frozen);
    let mut newer = snapshot();
    newer.taken_at = testing::at(14, 31, 0);
    newer.paused = true;
    update(&mut app, Event::Snapshot(Ok(newer.clone())));
    assert!(
        !app.snapshot.as_ref().unwrap().paused,
        "the view holds still"
    );
    assert_eq!(
        app.last_refresh,
        Some(newer.taken_at),
        "the footer still knows"
    );
    // A confirmation counts from the newest data, not the frozen view.
    let mut fewer_failed = newer.clone();
    fewer_failed.depth[0].counts.failed = 0;
    update(&mut app, Event::Snapshot(Ok(fewer_failed)));
    press(&mut app, &["F"]);
    let shown_failed = snapshot().count(JobStatus::Failed);
    assert_eq!(
        confirmation(&app).command,
        AdminCommand::ClearFailed {
            count: shown_failed - 4
        }
    );
    press(&mut app, &["Esc"]);
    update(&mut app, Event::Snapshot(Ok(newer.clone())));

    press(&mut app, &["Space"]);
    assert!(!app.frozen);
    assert_eq!(app.snapshot.as_ref(), Some(&newer));
    assert!(app.held.is_none());
}

#[test]
fn the_selected_row_stays_put_when_new_jobs_arrive() {
    let mut app = app();
    press(&mut app, &["2"]);
    press(&mut app, &["j", "j", "j", "j", "j"]);
    let before = app.selected_job().unwrap().id;
    let cursor = app.jobs.cursor.clone();
    assert_eq!(cursor.index, 5);

    // Three newer jobs arrive on top.
    let mut newer = snapshot();
    let mut fresh = testing::jobs(43);
    fresh.truncate(3);
    fresh.extend(newer.jobs);
    newer.jobs = fresh;
    update(&mut app, Event::Snapshot(Ok(newer)));
    assert_eq!(app.selected_job().unwrap().id, before);
    assert_eq!(app.jobs.cursor.index, 8);
    assert_eq!(
        app.jobs.cursor.index - app.jobs.cursor.offset,
        cursor.index - cursor.offset,
        "the row keeps its line on screen"
    );

    // With no row selected (Home), the view follows the newest jobs.
    press(&mut app, &["g"]);
    assert_eq!(app.jobs.cursor.selected, None);
    update(&mut app, Event::Snapshot(Ok(snapshot())));
    assert_eq!(app.jobs.cursor.index, 0);

    // A selected row that disappears leaves the cursor where it was.
    press(&mut app, &["j", "j"]);
    let mut fewer = snapshot();
    fewer.jobs.remove(2);
    update(&mut app, Event::Snapshot(Ok(fewer)));
    assert_eq!(app.jobs.cursor.index, 2);
    assert_eq!(
        app.selected_job().unwrap().id,
        app.jobs.cursor.selected.unwrap()
    );
}

#[test]
fn paging_and_bounds() {
    let mut app = app();
    update(&mut app, Event::Resize(80, 24));
    press(&mut app, &["2", "G"]);
    assert_eq!(app.jobs.cursor.index, 39);
    press(&mut app, &["j"]);
    assert_eq!(app.jobs.cursor.index, 39);
    press(&mut app, &["PgUp"]);
    assert_eq!(app.jobs.cursor.index, 39 - app.page());
    press(&mut app, &["Home", "k"]);
    assert_eq!(app.jobs.cursor.index, 0);
}

#[test]
fn esc_dismisses_messages_before_anything_else() {
    let mut app = app();
    press(&mut app, &["2", "Enter"]);
    assert!(app.jobs.detail);
    app.toast(ToastKind::Error, "bang");
    app.toast(ToastKind::Error, "boom");
    assert_eq!(app.toasts.len(), 2, "two results, both kept");
    press(&mut app, &["Esc"]);
    assert_eq!(app.toasts.len(), 1);
    press(&mut app, &["Esc"]);
    assert!(app.toasts.is_empty());
    assert!(app.jobs.detail, "the Escs only dismissed the messages");
    press(&mut app, &["Esc"]);
    assert!(!app.jobs.detail);
}

#[test]
fn screens_help_refresh_and_connection_state() {
    let mut app = app();
    press(&mut app, &["Tab"]);
    assert_eq!(app.screen, Screen::Jobs);
    press(&mut app, &["Shift-Tab", "Shift-Tab"]);
    assert_eq!(app.screen, Screen::Audit);
    press(&mut app, &["3"]);
    assert_eq!(app.screen, Screen::Workers);
    assert_eq!(press(&mut app, &["r"]), [Effect::Refresh]);
    press(&mut app, &["?"]);
    assert!(matches!(app.overlay, Some(Overlay::Help { .. })));
    press(&mut app, &["?"]);
    assert!(app.overlay.is_none());

    update(
        &mut app,
        Event::Snapshot(Err(BackendError::Unavailable("connection refused".into()))),
    );
    assert!(matches!(app.connection, Connection::Lost(_)));
    assert!(app.snapshot.is_some(), "the last data stays on screen");
    press(&mut app, &["1"]);
    assert_eq!(app.screen, Screen::Dashboard, "input works while lost");
    update(&mut app, Event::Snapshot(Ok(snapshot())));
    assert_eq!(app.connection, Connection::Connected);
}

#[test]
fn key_releases_and_unbound_keys_do_not_redraw() {
    let mut app = app();
    app.dirty = false;
    press(&mut app, &["z"]);
    assert!(!app.dirty);
    let mut release = KeyChord::plain(crossterm::event::KeyCode::Char('q')).to_event();
    release.kind = crossterm::event::KeyEventKind::Release;
    update(&mut app, Event::Key(release));
    assert!(!app.dirty && !app.quit);
}

fn keys(pairs: &[(&str, &[&str])]) -> BTreeMap<String, KeyList> {
    pairs
        .iter()
        .map(|(a, k)| {
            (
                a.to_string(),
                KeyList::Many(k.iter().map(|s| s.to_string()).collect()),
            )
        })
        .collect()
}

#[test]
fn users_rebind_keys_and_bad_rebindings_are_refused() {
    let map =
        Keymap::with_overrides(&keys(&[("refresh", &["F5"]), ("quit", &["Ctrl-Q"])])).unwrap();
    let mut app = App::new(map, testing::theme(), false);
    update(&mut app, Event::Snapshot(Ok(snapshot())));
    assert_eq!(press(&mut app, &["F5"]), [Effect::Refresh]);
    assert!(
        press(&mut app, &["r", "q", "Ctrl-C"]).is_empty(),
        "old keys are gone"
    );
    assert_eq!(press(&mut app, &["ctrl-q"]), [Effect::Quit]);

    assert_eq!(
        Keymap::with_overrides(&keys(&[("launch", &["l"])])),
        Err(KeymapError::UnknownAction("launch".into()))
    );
    assert!(matches!(
        Keymap::with_overrides(&keys(&[("refresh", &["Hyper-R"])])),
        Err(KeymapError::UnknownKey { .. })
    ));
    assert_eq!(
        Keymap::with_overrides(&keys(&[("refresh", &[])])),
        Err(KeymapError::Empty("refresh".into()))
    );
    let err = Keymap::with_overrides(&keys(&[("refresh", &["q"])])).unwrap_err();
    assert!(
        matches!(
            err,
            KeymapError::Conflict {
                first: "quit",
                second: "refresh",
                ..
            }
        ),
        "{err}"
    );
    // A list-screen key that shadows a global one is a conflict too.
    assert!(Keymap::with_overrides(&keys(&[("down", &["r"])])).is_err());
    assert!(Keymap::with_overrides(&keys(&[("filter-status", &["d"])])).is_err());
}

#[test]
fn key_names_round_trip() {
    for name in [
        "q",
        "?",
        "G",
        "Ctrl-C",
        "Alt-x",
        "Esc",
        "Enter",
        "Tab",
        "Shift-Tab",
        "Space",
        "Up",
        "PgDn",
        "F5",
        "/",
    ] {
        let chord: KeyChord = name.parse().unwrap();
        assert_eq!(chord.to_string(), name);
        assert_eq!(KeyChord::from_event(&chord.to_event()), chord, "{name}");
    }
    assert_eq!("ctrl-c".parse::<KeyChord>(), "Ctrl-C".parse::<KeyChord>());
    assert!("".parse::<KeyChord>().is_err());
    assert!("qq".parse::<KeyChord>().is_err());
}

#[test]
fn every_action_a_key_can_name_is_in_the_keymap() {
    // The config file names actions; each must resolve to a binding.
    let map = Keymap::default();
    let contexts = [
        Context::Global,
        Context::Lists,
        Context::Jobs,
        Context::Audit,
        Context::Detail,
        Context::Help,
        Context::Confirm,
        Context::TextInput,
        Context::Wizard,
    ];
    let bound: Vec<Action> = map.bindings(&contexts, false).map(|b| b.action).collect();
    for action in bound.iter() {
        let overrides = keys(&[(action.name(), &["F12"])]);
        assert!(
            !matches!(
                Keymap::with_overrides(&overrides),
                Err(KeymapError::UnknownAction(_))
            ),
            "{}",
            action.name()
        );
    }
}

#[test]
fn the_readme_key_table_is_generated_from_the_keymap() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    let (start, end) = ("<!-- keys:start -->\n", "<!-- keys:end -->");
    let from = readme
        .find(start)
        .expect("README.md has <!-- keys:start -->")
        + start.len();
    let to = readme.find(end).expect("README.md has <!-- keys:end -->");
    let expected = Keymap::default().markdown_table();
    assert!(
        readme[from..to] == expected,
        "README.md's key table differs from the keymap; put this between the markers:\n{expected}"
    );
}

#[test]
fn pasted_text_goes_into_the_field_whole_and_never_runs_as_keys() {
    let mut app = app();
    // On a screen, a pasted address (with its q and d) does nothing.
    let address = "TQn9Y2khEsLJW1ChVWFMSMeRDow5KcbLSE";
    assert!(only_notice(&update(&mut app, Event::Paste(address.into()))));
    assert!(!app.quit && app.overlay.is_none());
    assert!(notice(&app).contains("paste ignored"));

    // Into the wizard's search, one paste is one search.
    press(&mut app, &["Esc", "d", "Enter"]);
    let effects = update(&mut app, Event::Paste(format!("{address}\n")));
    assert_eq!(effects, [Effect::SearchWallets(address.into())]);
    assert_eq!(
        wizard(&app).input.value(),
        address,
        "the newline is dropped"
    );

    // And into the jobs filter.
    press(&mut app, &["Esc", "Esc", "2", "/"]);
    update(&mut app, Event::Paste("user3".into()));
    assert_eq!(app.visible_jobs().len(), 8);
}

#[test]
fn searches_take_a_job_ids_tail_or_prefix() {
    let mut app = app();
    let target = id(3);
    let tail = app.short(&target);
    press(&mut app, &["2", "/"]);
    type_text(&mut app, &tail);
    let found: Vec<_> = app.visible_jobs().map(|j| j.id).collect();
    assert_eq!(found, [target]);
    // Every fixture job shares the head (one millisecond): a prefix
    // matches them all, as it should.
    press(&mut app, &["Esc", "/"]);
    type_text(&mut app, "01932a4b");
    assert_eq!(app.visible_jobs().len(), 40);

    // The audit trail finds the rows naming that job by its tail too.
    press(&mut app, &["Esc", "4", "/"]);
    type_text(&mut app, &tail);
    let s = app.snapshot.as_ref().unwrap();
    assert_eq!(app.audit.rows.len(), 1);
    assert!(
        s.audit[app.audit.rows[0]]
            .target
            .ends_with(&target.to_string())
    );
}

#[test]
fn a_dispatch_refused_on_confirm_stays_on_the_review() {
    let mut app = app();
    press(&mut app, &["d"]);
    type_text(&mut app, "al");
    update(
        &mut app,
        Event::SearchDone {
            query: "al".into(),
            result: Ok(vec![hit(0, vec![])]),
        },
    );
    press(&mut app, &["Enter", "Tab"]);
    let mut viewer = snapshot();
    viewer.access.role = Role::Viewer;
    update(&mut app, Event::Snapshot(Ok(viewer)));
    let effects = press(&mut app, &["Enter"]);
    assert!(only_notice(&effects));
    assert_eq!(wizard(&app).step, WizardStep::Review, "not stuck sending");
    assert!(app.busy.is_none());
    assert!(notice(&app).contains("viewer"), "{}", notice(&app));
}

fn with_failures() -> App {
    let mut s = snapshot();
    *s.failures = testing::failures();
    app_with(s, false)
}

#[test]
fn an_error_group_is_selected_counted_by_admin_then_confirmed_with_that_count() {
    use super::model::{BulkAction, BulkCount, JobSelection};
    let mut app = with_failures();
    assert_eq!(app.failure_group, 0);
    press(&mut app, &["j", "j", "j", "j", "j"]);
    assert_eq!(app.failure_group, 3, "stops at the last group");
    press(&mut app, &["k", "k"]);
    assert_eq!(app.failure_group, 1);

    // R asks admin for the count first; no dialog yet, nothing runs.
    let effects = press(&mut app, &["R"]);
    let [Effect::CountSelection(command)] = &effects[..] else {
        panic!("expected a count request, got {effects:?}");
    };
    let AdminCommand::Selection {
        action, selection, ..
    } = command
    else {
        panic!("expected a selection, got {command:?}");
    };
    assert_eq!(*action, BulkAction::Retry);
    assert_eq!(
        *selection,
        JobSelection {
            error_class: Some("TRON node answered # after # tries".into()),
            ..JobSelection::status(JobStatus::Failed)
        }
    );
    assert!(app.overlay.is_none());

    // The dialog shows the count admin gave (11 of the 12 failed: one left
    // alone), and confirming runs exactly that command.
    let count = BulkCount {
        jobs: 11,
        skipped: 1,
    };
    update(
        &mut app,
        Event::Counted {
            command: command.clone(),
            result: Ok(count),
        },
    );
    let shown = confirmation(&app).command.clone();
    assert_eq!(shown.title(8), "Retry 11 failed jobs with this error?");
    assert!(
        shown
            .consequences()
            .iter()
            .any(|l| l.starts_with("1 more left alone")),
        "{:?}",
        shown.consequences()
    );
    let effects = press(&mut app, &["Tab", "Enter"]);
    let [
        AdminCommand::Selection {
            count: ran,
            selection: ran_selection,
            ..
        },
    ] = &admin_effects(&effects)[..]
    else {
        panic!("expected the selection to run, got {effects:?}");
    };
    assert_eq!((*ran, ran_selection), (count, selection));
    update(
        &mut app,
        Event::ActionDone {
            command: shown,
            result: Ok(ActionOutcome {
                message: "11 failed jobs back to pending".into(),
                affected: 11,
            }),
        },
    );

    // x cancels the pending jobs with that error; a count of 0 opens nothing.
    let effects = press(&mut app, &["x"]);
    let [Effect::CountSelection(cancel)] = &effects[..] else {
        panic!("expected a count request, got {effects:?}");
    };
    assert!(
        matches!(cancel, AdminCommand::Selection { action: BulkAction::Cancel, selection, .. }
        if selection.status == JobStatus::Pending)
    );
    update(
        &mut app,
        Event::Counted {
            command: cancel.clone(),
            result: Ok(BulkCount::default()),
        },
    );
    assert!(app.overlay.is_none());
    assert!(app.toasts.last().unwrap().text.starts_with("nothing to do"));
}

#[test]
fn error_groups_are_not_acted_on_read_only_or_off_the_dashboard() {
    let mut s = snapshot();
    *s.failures = testing::failures();
    let mut ro = app_with(s, true);
    assert!(only_notice(&press(&mut ro, &["R"])));
    assert!(ro.overlay.is_none());
    assert!(notice(&ro).contains("read-only"), "{}", notice(&ro));

    // A count arriving after the operator left the dashboard opens nothing.
    let mut app = with_failures();
    let effects = press(&mut app, &["R"]);
    let [Effect::CountSelection(command)] = &effects[..] else {
        panic!("expected a count request, got {effects:?}");
    };
    press(&mut app, &["2"]);
    update(
        &mut app,
        Event::Counted {
            command: command.clone(),
            result: Ok(super::model::BulkCount {
                jobs: 3,
                skipped: 0,
            }),
        },
    );
    assert!(app.overlay.is_none());
    // On the Jobs screen, R is the selected job's retry, not the group's.
    let effects = press(&mut app, &["j", "R"]);
    assert!(effects.is_empty());
    assert!(matches!(
        confirmation(&app).command,
        AdminCommand::RetryJob { .. }
    ));
}

#[test]
fn a_reset_with_only_wallets_to_release_is_offered_with_their_count() {
    let mut s = snapshot();
    s.stuck.clear();
    s.stuck_total = 0;
    s.orphaned_wallets = 2;
    let mut app = app_with(s, false);
    press(&mut app, &["U"]);
    let command = &confirmation(&app).command;
    assert_eq!(
        *command,
        AdminCommand::ResetProcessing {
            count: 0,
            wallets: 2
        }
    );
    assert_eq!(command.title(8), "Reset 0 stuck jobs and 2 wallet flags?");
}

fn shown_jobs(app: &App) -> Vec<uuid::Uuid> {
    app.visible_jobs().map(|j| j.id).collect()
}

#[test]
fn sorting_cycles_columns_flips_direction_and_keeps_the_selected_job() {
    let mut app = app();
    press(&mut app, &["2", "j", "j"]);
    let selected = app.selected_job().unwrap().id;
    let newest_first = shown_jobs(&app);

    // o: updated, newest first; the selected job stays selected.
    press(&mut app, &["o"]);
    assert_eq!(app.jobs.sort.column, crate::tui::sort::JobColumn::Updated);
    assert!(app.jobs.sort.descending);
    let s = app.snapshot.clone().unwrap();
    let updated: Vec<_> = app.visible_jobs().map(|j| j.updated_at).collect();
    assert!(updated.windows(2).all(|w| w[0] >= w[1]), "{updated:?}");
    assert_eq!(app.selected_job().unwrap().id, selected);

    // o again: type, A to Z; O flips it.
    press(&mut app, &["o"]);
    let types: Vec<&str> = app.visible_jobs().map(|j| j.job_type.as_str()).collect();
    assert!(types.windows(2).all(|w| w[0] <= w[1]), "{types:?}");
    press(&mut app, &["O"]);
    let types: Vec<&str> = app.visible_jobs().map(|j| j.job_type.as_str()).collect();
    assert!(types.windows(2).all(|w| w[0] >= w[1]), "{types:?}");
    assert_eq!(app.selected_job().unwrap().id, selected);

    // A refresh keeps the sort; rows that tie keep the snapshot's order.
    update(&mut app, Event::Snapshot(Ok(s)));
    let types: Vec<&str> = app.visible_jobs().map(|j| j.job_type.as_str()).collect();
    assert!(types.windows(2).all(|w| w[0] >= w[1]), "{types:?}");
    let syncs: Vec<_> = app
        .visible_jobs()
        .filter(|j| j.job_type == JobType::Sync)
        .map(|j| j.id)
        .collect();
    let syncs_before: Vec<_> = newest_first
        .iter()
        .copied()
        .filter(|id| syncs.contains(id))
        .collect();
    assert_eq!(syncs, syncs_before);

    // Around the cycle (6 columns) back to created, newest first.
    press(&mut app, &["o", "o", "o", "o"]);
    assert_eq!(app.jobs.sort.column, crate::tui::sort::JobColumn::Created);
    assert_eq!(shown_jobs(&app), newest_first);
}

#[test]
fn workers_and_audit_sort_by_their_own_columns() {
    let mut app = app();
    press(&mut app, &["3"]);
    let hosts: Vec<String> = app
        .worker_rows
        .iter()
        .map(|i| app.snapshot.as_ref().unwrap().workers[*i].host.clone())
        .collect();
    assert_eq!(hosts, ["worker-a", "worker-b", "worker-c"]);
    // state, then beat: the stalest heartbeat first.
    press(&mut app, &["o", "o"]);
    let ages: Vec<u64> = app
        .worker_rows
        .iter()
        .map(|i| {
            app.snapshot.as_ref().unwrap().workers[*i]
                .heartbeat_age
                .as_secs()
        })
        .collect();
    assert_eq!(ages, [95, 4, 2]);
    press(&mut app, &["G"]);
    assert_eq!(app.selected_worker().unwrap().host, "worker-a");

    press(&mut app, &["4", "o"]);
    let s = app.snapshot.as_ref().unwrap();
    let actors: Vec<&str> = app
        .audit
        .rows
        .iter()
        .map(|i| s.audit[*i].actor.as_str())
        .collect();
    assert!(actors.windows(2).all(|w| w[0] <= w[1]), "{actors:?}");
    // Within one actor, newest first as before.
    let times: Vec<_> = app
        .audit
        .rows
        .iter()
        .filter(|i| s.audit[**i].actor == "lead@example.com")
        .map(|i| s.audit[*i].at)
        .collect();
    assert!(times.windows(2).all(|w| w[0] > w[1]));
}

#[test]
fn the_job_detail_reads_its_job_follows_refreshes_and_scrolls_within_bounds() {
    let mut app = app();
    update(&mut app, Event::Resize(80, 24));
    press(&mut app, &["2", "j"]);
    let job = app.selected_job().unwrap().clone();
    assert_eq!(press(&mut app, &["Enter"]), [Effect::LoadJobDetail(job.id)]);
    assert_eq!(app.contexts()[0], Context::Detail);

    // A detail read for another job (the answer to an older request) is dropped.
    let other = testing::job_detail(&testing::job(0, JobType::Sync, JobStatus::Failed));
    update(
        &mut app,
        Event::JobDetail {
            id: other.job.id,
            result: Ok(other),
        },
    );
    assert!(app.jobs.loaded.is_none());
    let detail = testing::job_detail(&job);
    update(
        &mut app,
        Event::JobDetail {
            id: job.id,
            result: Ok(detail.clone()),
        },
    );
    assert_eq!(app.jobs.loaded.as_ref().unwrap().result, Ok(detail));

    // Each refresh reads it again; a frozen view does not.
    let effects = update(&mut app, Event::Snapshot(Ok(snapshot())));
    assert_eq!(effects, [Effect::LoadJobDetail(job.id)]);
    press(&mut app, &["f"]);
    assert!(update(&mut app, Event::Snapshot(Ok(snapshot()))).is_empty());
    press(&mut app, &["f"]);

    // Movement keys scroll the detail, never past its last page, and
    // leave the list's cursor where it was.
    let lines = crate::tui::ui::job_detail_lines(&app).len();
    let last = (lines - app.detail_page()) as u16;
    assert!(last > 0, "the fixture is longer than a 24-row screen");
    press(&mut app, &["j", "j"]);
    assert_eq!(app.jobs.scroll, 2);
    press(&mut app, &["G", "j", "PgDn"]);
    assert_eq!(app.jobs.scroll, last);
    press(&mut app, &["PgUp", "k"]);
    assert_eq!(
        app.jobs.scroll,
        last.saturating_sub(app.detail_page() as u16 + 1)
    );
    press(&mut app, &["g"]);
    assert_eq!(app.jobs.scroll, 0);
    assert_eq!(app.selected_job().unwrap().id, job.id);

    // A failed read is said in the view; Esc closes it.
    update(
        &mut app,
        Event::JobDetail {
            id: job.id,
            result: Err(BackendError::Unavailable("connection refused".into())),
        },
    );
    let first = crate::tui::ui::job_detail_lines(&app)[0].to_string();
    assert!(first.contains("connection refused"), "{first}");

    // A filter that moves the selection to another job reads that one.
    let effects = press(&mut app, &["t"]);
    let now = app.selected_job().unwrap().id;
    assert_ne!(now, job.id);
    assert_eq!(effects, [Effect::LoadJobDetail(now)]);

    press(&mut app, &["Esc"]);
    assert!(!app.jobs.detail);
    assert_eq!(app.contexts()[0], Context::Jobs);
    let index = app.jobs.cursor.index;
    press(&mut app, &["j"]);
    assert_eq!(app.jobs.cursor.index, index + 1, "the cursor moves again");
}

#[test]
fn the_audit_detail_opens_on_the_selected_entry_and_closes_with_esc() {
    let mut s = snapshot();
    s.audit.insert(0, testing::config_change());
    let mut app = app_with(s, false);
    press(&mut app, &["4", "Enter"]);
    assert!(app.audit.detail);
    let text: Vec<String> = crate::tui::ui::audit_detail_lines(&app)
        .iter()
        .map(|l| l.to_string())
        .collect();
    assert!(
        text.iter()
            .any(|l| l.contains("system_config gas.min_balance_sun"))
    );
    let old = text
        .iter()
        .position(|l| l.contains("old") && l.contains("900000000"));
    let new = text
        .iter()
        .position(|l| l.contains("new") && l.contains("1200000000"));
    assert!(old.is_some() && new > old, "{text:#?}");
    press(&mut app, &["Esc"]);
    assert!(!app.audit.detail);
    assert!(app.audit.search.value().is_empty());
}

#[test]
fn the_jobs_filters_select_jobs_to_retry_or_cancel_counted_by_admin_first() {
    use super::model::{BulkAction, BulkCount, JobSelection};
    let mut app = app();
    press(&mut app, &["2"]);
    app.jobs.status = Some(JobStatus::Failed);
    app.jobs.job_type = Some(JobType::Sync);
    let effects = press(&mut app, &["A"]);
    let [Effect::CountSelection(command)] = &effects[..] else {
        panic!("expected a count request, got {effects:?}");
    };
    let AdminCommand::Selection {
        action, selection, ..
    } = command
    else {
        panic!("expected a selection, got {command:?}");
    };
    assert_eq!(*action, BulkAction::Retry);
    assert_eq!(
        *selection,
        JobSelection {
            job_type: Some(JobType::Sync),
            ..JobSelection::status(JobStatus::Failed)
        }
    );
    assert!(
        app.overlay.is_none(),
        "nothing is asked before admin counts"
    );
    update(
        &mut app,
        Event::Counted {
            command: command.clone(),
            result: Ok(BulkCount {
                jobs: 4,
                skipped: 0,
            }),
        },
    );
    let shown = &confirmation(&app).command;
    assert_eq!(shown.title(8), "Retry 4 failed jobs the filters select?");
    assert!(shown.consequences()[0].contains("type sync"));
    press(&mut app, &["Esc"]);

    // A whole address in the search narrows to that wallet; any other
    // search text is refused at once, as is a status the action cannot take.
    let address = "TXYZopYRdj2D9XRtbG411XZZ3kM5VkAeBf";
    app.jobs.status = None;
    press(&mut app, &["/"]);
    type_text(&mut app, address);
    press(&mut app, &["Enter"]);
    let effects = press(&mut app, &["X"]);
    let [
        Effect::CountSelection(AdminCommand::Selection {
            action, selection, ..
        }),
    ] = &effects[..]
    else {
        panic!("expected a count request, got {effects:?}");
    };
    assert_eq!(*action, BulkAction::Cancel);
    assert_eq!(selection.status, JobStatus::Pending);
    assert_eq!(selection.wallet_address.as_deref(), Some(address));

    press(&mut app, &["/"]);
    type_text(&mut app, "@example.com");
    press(&mut app, &["Enter"]);
    assert!(only_notice(&press(&mut app, &["X"])));
    assert!(
        notice(&app).contains("whole wallet address"),
        "{}",
        notice(&app)
    );
    app.jobs.status = Some(JobStatus::Completed);
    assert!(only_notice(&press(&mut app, &["A"])));
    assert!(app.overlay.is_none());
}
