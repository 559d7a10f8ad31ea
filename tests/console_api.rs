//! The console over the HTTP API (`tui::ApiBackend`, `walletops console
//! --api`) against a real server on a real database: it shows what the
//! database backend shows, a viewer token gives a read-only console and the
//! server refuses its actions even from a console that ignores that, an
//! operator token's action is audited as the token, a lost API is shown and
//! retried, and the real binary draws the dashboard in a terminal.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::Duration;

use common::TestDb;
use common::api::{fingerprint, token};
use common::tmux::Tmux;
use serde_json::json;
use walletops::admin::{self, Role, audit, jobs::Dispatch, wallet_lookup::WalletRef};
use walletops::api::Limits;
use walletops::config::Secret;
use walletops::queue::JobType;
use walletops::tui::keymap::KeyChord;
use walletops::tui::model::{self, Snapshot};
use walletops::tui::state::{Choice, Confirmation, Overlay};
use walletops::tui::{
    AdminBackend, AdminCommand, ApiBackend, App, BackendError, ConfirmedAction, ConsoleBackend,
    Effect, Event, Keymap, Theme, ThemeKind, update,
};

const ADMIN: &str = "oncall@example.com";

struct Fixture {
    db: TestDb,
    /// The admin operator, acting through a login of its own.
    oncall: common::admin::Op,
    admin: String,
    operator: String,
    viewer: String,
}

/// An admin operator, two wallets with three jobs (one failed), and a token per role.
async fn seeded() -> Fixture {
    let db = common::fresh_db().await;
    let oncall = common::admin::operator(&db, ADMIN, Role::Admin).await;
    for (seed, email) in [(1, "alice@example.com"), (2, "bob@example.com")] {
        common::admin::wallet(&db.pool, seed, email, email).await;
    }
    for (seed, job_type) in [
        (1, JobType::Sync),
        (1, JobType::Consolidation),
        (2, JobType::Sync),
    ] {
        let request = Dispatch {
            wallet: WalletRef::Address(common::admin::address(seed).parse().unwrap()),
            user_id: None,
            job_type,
        };
        admin::jobs::dispatch(&oncall.pool, &oncall, &request)
            .await
            .unwrap();
    }
    sqlx::query(
        "UPDATE job_logs SET status = 'failed', error_message = 'node down', finished_at = now()
          WHERE wallet_address = $1 AND job_type = 'sync'",
    )
    .bind(common::admin::address(2))
    .execute(&db.pool)
    .await
    .unwrap();
    Fixture {
        admin: token(&oncall, Role::Admin).await,
        operator: token(&oncall, Role::Operator).await,
        viewer: token(&oncall, Role::Viewer).await,
        oncall,
        db,
    }
}

/// `walletops serve`'s server on `addr` (port 0: any); its base URL, and a
/// sender that stops it when dropped.
async fn serve(db: &TestDb, addr: SocketAddr) -> (String, tokio::sync::oneshot::Sender<()>) {
    let (addr, stop) = common::api::serve(db, addr, Limits::default()).await;
    (format!("http://{addr}"), stop)
}

async fn over_api(base: &str, token: &str) -> ApiBackend {
    ApiBackend::connect(base, Secret::new(token))
        .await
        .unwrap()
        .0
}

fn console(snapshot: Snapshot) -> App {
    let mut app = App::new(Keymap::default(), Theme::new(ThemeKind::Mono, false), false);
    update(&mut app, Event::Snapshot(Ok(snapshot)));
    app
}

/// The action the keys confirm, if any.
fn confirmed(app: &mut App, keys: &[&str]) -> Option<ConfirmedAction> {
    keys.iter()
        .flat_map(|k| {
            let chord: KeyChord = k.parse().unwrap();
            update(app, Event::Key(chord.to_event()))
        })
        .find_map(|e| match e {
            Effect::RunAdminAction(a) => Some(a),
            _ => None,
        })
}

/// What differs between two reads of the same data: when, and who asked.
fn normalized(mut s: Snapshot, like: &Snapshot) -> Snapshot {
    s.taken_at = like.taken_at;
    s.access = like.access.clone();
    for w in &mut s.workers {
        w.heartbeat_age = Duration::ZERO;
    }
    for j in s.oldest_pending.iter_mut().chain(s.stuck.iter_mut()) {
        j.age = Duration::ZERO;
    }
    // A countdown read a second later is a second shorter.
    for (c, l) in s.pending_changes.iter_mut().zip(&like.pending_changes) {
        if c.applies_in.is_some() {
            c.applies_in = l.applies_in;
        }
    }
    // Each read brings the minutes since its backend's last read: compare
    // the newest, which every read has.
    let newest = like.history.last().map(|m| m.minute);
    s.history.retain(|m| Some(m.minute) == newest);
    s
}

#[tokio::test]
async fn over_the_api_the_console_shows_what_the_database_backend_shows() {
    let f = seeded().await;
    let (base, _stop) = serve(&f.db, "127.0.0.1:0".parse().unwrap()).await;
    let (api, whoami) = ApiBackend::connect(&base, Secret::new(&f.admin))
        .await
        .unwrap();
    assert_eq!(
        (whoami.role, whoami.name.as_str()),
        (Role::Admin, "admin-token")
    );
    let db = AdminBackend::new(f.oncall.pool.clone(), Some(ADMIN.into()))
        .await
        .unwrap();
    // Pending changes that move money: one waiting for a second admin, one
    // approved and counting down (the default 24 h).
    let second = common::admin::operator(&f.db, "second@example.com", Role::Admin).await;
    let waiting = admin::proposals::propose(
        &f.oncall.pool,
        &f.oncall,
        "consolidation.treasury_address",
        json!(common::admin::address(41)),
    )
    .await
    .unwrap();
    let counting = admin::proposals::propose(
        &f.oncall.pool,
        &f.oncall,
        "gas.wallet_address",
        json!(common::admin::address(42)),
    )
    .await
    .unwrap();
    admin::proposals::approve(&second.pool, &second, counting.id)
        .await
        .unwrap();
    let changes = api.snapshot(String::new()).await.unwrap().pending_changes;
    assert_eq!(changes.len(), 2, "{changes:?}");
    let by_id = |id| changes.iter().find(|c| c.id == id).unwrap();
    assert_eq!(by_id(waiting.id).applies_in, None);
    assert_eq!(by_id(waiting.id).proposed_by, ADMIN);
    let left = by_id(counting.id).applies_in.unwrap();
    assert!(
        left > Duration::from_secs(86_000) && left <= Duration::from_secs(86_400),
        "{left:?}"
    );

    for search in ["", "alice@"] {
        let from_db = db.snapshot(search.into()).await.unwrap();
        let from_api = api.snapshot(search.into()).await.unwrap();
        assert_eq!(from_api.access.role, model::Role::Admin);
        assert_eq!(
            from_api.access.operator.as_deref(),
            Some("token admin-token")
        );
        assert_eq!(
            normalized(from_api, &from_db),
            normalized(from_db.clone(), &from_db),
            "search {search:?}"
        );
    }
    assert_eq!(
        api.search_wallets("ALICE@").await.unwrap(),
        db.search_wallets("ALICE@").await.unwrap()
    );
    assert_eq!(api.search_wallets("ALICE@").await.unwrap().len(), 1);
    assert!(api.search_wallets("%").await.unwrap().is_empty());
    for (minutes, status) in [("0", 422), ("31", 422), ("3", 200)] {
        let answer = common::admin::http()
            .get(format!(
                "{base}/api/console/snapshot?historyMinutes={minutes}"
            ))
            .bearer_auth(&f.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), status, "historyMinutes={minutes}");
        if status == 200 {
            let body: serde_json::Value = answer.json().await.unwrap();
            let history = body["data"]["history"].as_array().unwrap();
            assert_eq!(history.len(), 3 * model::JOB_TYPES.len());
        }
    }
}

#[tokio::test]
async fn a_viewer_token_gives_a_read_only_console_and_the_server_refuses_its_actions() {
    let f = seeded().await;
    let (base, _stop) = serve(&f.db, "127.0.0.1:0".parse().unwrap()).await;
    let viewer = over_api(&base, &f.viewer).await;
    let snapshot = viewer.snapshot(String::new()).await.unwrap();
    assert_eq!(snapshot.access.role, model::Role::Viewer);
    let mut app = console(snapshot.clone());
    assert!(app.acts_read_only());
    assert!(confirmed(&mut app, &["F", "Tab", "Enter", "P", "Tab", "Enter"]).is_none());

    // A console that ignores its read-only state (the attacker's own
    // build): actions confirmed on an admin's screen, sent with the viewer
    // token. The server refuses every one and nothing changes.
    let mut admin_view = snapshot;
    admin_view.access.role = model::Role::Admin;
    let before = fingerprint(&f.db).await;
    let job = admin_view.jobs[0].clone();
    let hit = over_api(&base, &f.admin)
        .await
        .search_wallets(&job.wallet_address)
        .await
        .unwrap()
        .remove(0);
    let mut app = console(admin_view);
    let actions: Vec<ConfirmedAction> = [
        AdminCommand::ClearFailed { count: 1 },
        AdminCommand::PauseWorkers { workers: 0 },
        AdminCommand::ResetProcessing {
            count: 0,
            wallets: 0,
        },
        AdminCommand::RetryJob {
            job: job.id,
            job_type: job.job_type,
            wallet: job.wallet_address.clone(),
        },
        AdminCommand::CancelJob {
            job: job.id,
            job_type: job.job_type,
            wallet: job.wallet_address.clone(),
        },
        AdminCommand::Dispatch {
            job_type: model::JobType::Sync,
            wallet: hit,
        },
    ]
    .into_iter()
    .map(|command| confirm(&mut app, command))
    .collect();
    for action in actions {
        match viewer.run(action.clone()).await {
            Err(BackendError::Refused(reason)) => {
                assert!(reason.contains("may not"), "{action:?}: {reason}")
            }
            other => panic!("{action:?}: expected a refusal, got {other:?}"),
        }
    }
    assert_eq!(fingerprint(&f.db).await, before);
}

#[tokio::test]
async fn an_operator_tokens_actions_are_audited_as_the_token_and_wake_the_console() {
    let f = seeded().await;
    let (base, _stop) = serve(&f.db, "127.0.0.1:0".parse().unwrap()).await;
    let operator = over_api(&base, &f.operator).await;
    // The first wake-up is the event stream opening.
    tokio::time::timeout(Duration::from_secs(5), operator.changed())
        .await
        .expect("the event stream opens");

    let mut app = console(operator.snapshot(String::new()).await.unwrap());
    assert!(!app.acts_read_only());
    let action = confirmed(&mut app, &["F", "Tab", "Enter"]).expect("an operator clears");
    assert_eq!(action.command(), &AdminCommand::ClearFailed { count: 1 });
    let outcome = operator.run(action).await.unwrap();
    assert_eq!(outcome.message, "cleared 1 failed job");
    tokio::time::timeout(Duration::from_secs(5), operator.changed())
        .await
        .expect("the action's notification wakes the console");

    let row = &audit::list(&f.db.pool, None, 1).await.unwrap()[0];
    assert_eq!(row.action_type.as_deref(), Some("jobs.clear_failed"));
    let actor = &row.details.as_ref().unwrap()["actor"];
    assert_eq!(actor["token_name"], json!("operator-token"), "{row:?}");
    assert_eq!(actor["role"], json!("operator"));
    // The console names the token the database recorded, not the token's
    // creator (whose email the row's user column holds), over the API and
    // on the database alike.
    let snapshot = operator.snapshot(String::new()).await.unwrap();
    let on_db = AdminBackend::new(f.oncall.pool.clone(), None)
        .await
        .unwrap()
        .snapshot(String::new())
        .await
        .unwrap();
    assert_eq!(row.admin_email.as_deref(), Some(ADMIN));
    for audit in [&snapshot.audit, &on_db.audit] {
        let cleared = audit
            .iter()
            .find(|a| a.action == "jobs.clear_failed")
            .unwrap();
        assert_eq!(cleared.actor, "token operator-token", "{audit:?}");
        assert!(
            cleared.details.contains("\"operator-token\""),
            "{cleared:?}"
        );
        // The token was made by the operator's own login.
        let made = audit.iter().find(|a| a.action == "token.create").unwrap();
        assert_eq!(made.actor, ADMIN, "{made:?}");
    }

    // Cancel, retry and dispatch (twice: the second finds the first job).
    let pending = snapshot
        .jobs
        .iter()
        .find(|j| j.status == model::JobStatus::Pending)
        .unwrap()
        .clone();
    let mut app = console(snapshot);
    let hit = operator
        .search_wallets(&pending.wallet_address)
        .await
        .unwrap()
        .remove(0);
    let cancel = AdminCommand::CancelJob {
        job: pending.id,
        job_type: pending.job_type,
        wallet: pending.wallet_address.clone(),
    };
    let retry = AdminCommand::RetryJob {
        job: pending.id,
        job_type: pending.job_type,
        wallet: pending.wallet_address.clone(),
    };
    let dispatch = AdminCommand::Dispatch {
        job_type: model::JobType::GasTopup,
        wallet: hit,
    };
    let mut messages = Vec::new();
    for command in [cancel, retry, dispatch.clone(), dispatch] {
        let action = confirm(&mut app, command);
        messages.push(operator.run(action).await.unwrap().message);
    }
    let short = admin::short_id(&pending.id);
    assert_eq!(messages[0], format!("job {short} cancelled"));
    assert_eq!(messages[1], format!("job {short} is pending again"));
    assert!(messages[2].starts_with("gas-topup job "), "{messages:?}");
    assert!(messages[3].contains("nothing new queued"), "{messages:?}");
    let tokens: Vec<String> = sqlx::query_scalar(
        "SELECT details -> 'actor' ->> 'token_name' FROM admin_actions
          WHERE action_type IN ('job.cancel', 'job.retry', 'job.dispatch')
            AND details -> 'actor' ? 'token_name'",
    )
    .fetch_all(&f.db.pool)
    .await
    .unwrap();
    assert_eq!(tokens, ["operator-token"; 3]);
    // Done through walletops: nothing for an admin to acknowledge.
    let (external, _) = audit::unacknowledged(&f.db.pool, 10).await.unwrap();
    assert_eq!(external, 0);

    // An operator may not pause: the console does not offer it, and the
    // server refuses it anyway.
    assert!(!app.may(walletops::tui::Intent::PauseWorkers));
}

/// Confirms `command` the way the console does it: through the dialog.
fn confirm(app: &mut App, command: AdminCommand) -> ConfirmedAction {
    // As if the previous action had come back: one runs at a time.
    app.busy = None;
    app.overlay = Some(Overlay::Confirm(Confirmation {
        command,
        focus: Choice::Cancel,
    }));
    confirmed(app, &["Tab", "Enter"]).expect("the dialog confirms")
}

#[tokio::test]
async fn a_lost_api_is_shown_as_unreachable_and_the_console_recovers() {
    let f = seeded().await;
    let (base, stop) = serve(&f.db, "127.0.0.1:0".parse().unwrap()).await;
    let api = over_api(&base, &f.viewer).await;
    api.snapshot(String::new()).await.unwrap();
    drop(stop);
    tokio::time::sleep(Duration::from_millis(300)).await;
    match api.snapshot(String::new()).await {
        Err(BackendError::Unavailable(reason)) => {
            assert!(reason.contains(&base), "names the API: {reason}")
        }
        other => panic!("expected unreachable, got {other:?}"),
    }
    // The same address again: the next refresh works.
    let addr: SocketAddr = base.trim_start_matches("http://").parse().unwrap();
    let (_, _stop) = serve(&f.db, addr).await;
    api.snapshot(String::new()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_token_url_or_token_file_is_one_line_before_the_terminal_is_taken() {
    let f = seeded().await;
    let (base, _stop) = serve(&f.db, "127.0.0.1:0".parse().unwrap()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{}\n", f.viewer)).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let file = file.to_str().unwrap().to_string();
    let run = |args: &[&str], token: Option<&str>| {
        let mut cmd = common::walletops();
        cmd.args(["console", "--api"]).args(args);
        if let Some(t) = token {
            cmd.env("WALLETOPS_TOKEN", t);
        } else {
            cmd.env_remove("WALLETOPS_TOKEN");
        }
        let out = cmd.stdin(Stdio::null()).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
        assert_eq!(err.lines().count(), 1, "{err}");
        err
    };
    let err = run(&[&base, "--token-file", &file], None);
    assert!(err.contains("chmod 600"), "{err}");
    assert!(run(&[&base], None).contains("WALLETOPS_TOKEN"));
    let refused = run(&[&base], Some("wo_nope"));
    assert!(refused.contains("refused the token"), "{refused}");
    assert!(run(&["ftp://x"], Some("wo_nope")).contains("http://"));
    // The token never crosses a network in clear.
    let clear = run(&["http://192.0.2.1:8080"], Some(&f.viewer));
    assert!(clear.contains("https://"), "{clear}");
    let closed = run(&["http://127.0.0.1:1"], Some(&f.viewer));
    assert!(closed.contains("127.0.0.1:1"), "{closed}");
    // An operator assertion cannot hold for a token: refused, not ignored.
    let asserted = run(&[&base, "--operator", ADMIN], Some(&f.viewer));
    assert!(asserted.contains("over --api the token acts"), "{asserted}");
}

/// A child process killed if the test fails before it exits.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_shows_the_dashboard_over_the_api_to_a_wall_screen_token() {
    let f = seeded().await;
    let (serve_login, _) = common::admin::serve_login(&f.db).await;
    let mut server = Reaped(
        common::walletops()
            .env("DATABASE_URL", serve_login.url.expose())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(server.0.stderr.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().unwrap().unwrap();
        if let Some(base) = line.strip_prefix("walletops API listening on ") {
            break base.to_string();
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, &f.viewer).unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    // No database settings at all reach the console.
    let command = format!(
        "env -u DATABASE_URL -u WALLETOPS_TOKEN NO_COLOR=1 LANG=C.UTF-8 XDG_STATE_HOME={state} \
         XDG_CONFIG_HOME=/nonexistent {exe} console --api {base} --token-file {token}",
        state = dir.path().display(),
        exe = env!("CARGO_BIN_EXE_walletops"),
        token = token.display(),
    );
    tokio::task::spawn_blocking(move || {
        let tmux = Tmux::start("console-api", 100, 30, &command);
        let screen = tmux.wait("the dashboard", 30, |s| {
            s.contains("1 Dashboard") && s.contains("connected")
        });
        assert!(screen.contains("viewer role"), "{screen}");
        // A wall screen: the clear-failed key does nothing.
        tmux.keys(&["F"]);
        std::thread::sleep(Duration::from_millis(300));
        assert!(!tmux.screen().contains("Clear 1 failed job?"));
        tmux.keys(&["q"]);
        let (_, status) = tmux.output(15);
        assert_eq!(status, "0");
    })
    .await
    .unwrap();
    drop(server);
}

#[tokio::test]
async fn a_job_detail_reads_the_same_over_the_api_and_the_database() {
    let f = seeded().await;
    let (base, _stop) = serve(&f.db, "127.0.0.1:0".parse().unwrap()).await;
    let api = over_api(&base, &f.viewer).await;
    let db = AdminBackend::new(f.oncall.pool.clone(), Some(ADMIN.into()))
        .await
        .unwrap();
    let (job, wallet): (uuid::Uuid, uuid::Uuid) =
        sqlx::query_as("SELECT id, wallet_id FROM job_logs WHERE job_type = 'consolidation'")
            .fetch_one(&f.db.pool)
            .await
            .unwrap();
    // An attempt that was retried, and a transfer the chain confirmed.
    sqlx::query(
        "INSERT INTO job_attempts (job_id, attempt, worker, started_at, ended_at, outcome, error)
         VALUES ($1, 1, 'host-a:4242', now() - interval '1 minute', now(), 'retry', 'node down')",
    )
    .bind(job)
    .execute(&f.db.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO transfers (wallet_id, job_id, kind, asset, from_address, to_address, amount,
                                tx_id, signed_tx, expires_at, status, block_number, fee_sun,
                                resolved_at)
         VALUES ($1, $2, 'consolidation-usdt', 'usdt', $3, $4, 1250500000, repeat('ab', 32),
                 '\\x00', now(), 'confirmed', 123, 13844000, now())",
    )
    .bind(wallet)
    .bind(job)
    .bind(common::admin::address(1))
    .bind(common::admin::address(9))
    .execute(&f.db.pool)
    .await
    .unwrap();

    let from_db = db.job_detail(job).await.unwrap();
    let mut from_api = api.job_detail(job).await.unwrap();
    from_api.taken_at = from_db.taken_at;
    assert_eq!(from_api, from_db);
    assert_eq!(from_db.job.id, job);
    let attempt = &from_db.attempts[..];
    assert_eq!(attempt.len(), 1);
    assert_eq!(attempt[0].worker.as_deref(), Some("host-a:4242"));
    assert_eq!(attempt[0].outcome, admin::AttemptOutcome::Retry);
    let transfer = &from_db.transfers[..];
    assert_eq!(transfer.len(), 1);
    assert_eq!(
        transfer[0].asset.format(transfer[0].amount),
        "1,250.500000 USDT"
    );
    assert_eq!(transfer[0].fee_sun, Some(13_844_000));
    assert_eq!(transfer[0].block_number, Some(123));

    // An unknown job is a clear refusal, on both.
    let unknown = uuid::Uuid::new_v4();
    for err in [
        api.job_detail(unknown).await.unwrap_err(),
        db.job_detail(unknown).await.unwrap_err(),
    ] {
        assert!(err.to_string().contains("not found"), "{err}");
    }
    let bad = common::admin::http()
        .get(format!("{base}/api/jobs/detail?id=nope"))
        .bearer_auth(&f.viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
}
