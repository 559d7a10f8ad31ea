//! The console's real backend (`tui::AdminBackend`) against a real
//! database: what it shows is what `admin` reports, a confirmed action goes
//! through `admin` and writes its audit row, refusals reach the operator,
//! and an operator or database role that may not act gives a read-only
//! console.

mod common;

use common::admin::Op;
use std::time::Duration;

use serde_json::json;
use sqlx::PgPool;
use walletops::admin::{self, Role, audit, jobs::Dispatch, wallet_lookup::WalletRef};
use walletops::queue::{JobFilter, JobType};
use walletops::tron::{Address, PrivateKey};
use walletops::tui::keymap::KeyChord;
use walletops::tui::model;
use walletops::tui::{
    AdminBackend, AdminCommand, App, BackendError, ConsoleBackend, Effect, Event, Keymap, Theme,
    ThemeKind, update,
};

const ADMIN: &str = "oncall@example.com";

fn address(n: u8) -> Address {
    PrivateKey::from_bytes(&[n; 32]).unwrap().address()
}

/// A user with one deposit wallet (keyless: the console never signs).
async fn wallet(pool: &PgPool, email: &str, n: u8) -> Address {
    let address = address(n);
    // As the owner through walletops (a key import would be), not plain SQL.
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SELECT walletops_act_owner()")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "WITH u AS (INSERT INTO auth.users (email) VALUES ($1) RETURNING id)
         INSERT INTO user_wallets (user_id, address, role) SELECT id, $2, 'deposit' FROM u",
    )
    .bind(email)
    .bind(address.to_string())
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    address
}

/// An admin operator, two wallets, three jobs (one failed).
async fn seeded() -> (common::TestDb, Op) {
    let db = common::fresh_db().await;
    let identity = common::admin::operator(&db, ADMIN, Role::Admin).await;
    let alice = wallet(&db.pool, "alice@example.com", 1).await;
    let bob = wallet(&db.pool, "bob@example.com", 2).await;
    for (wallet, job_type) in [
        (&alice, JobType::Sync),
        (&alice, JobType::Consolidation),
        (&bob, JobType::Sync),
    ] {
        let request = Dispatch {
            wallet: WalletRef::Address(*wallet),
            user_id: None,
            job_type,
        };
        admin::jobs::dispatch(&identity.pool, &identity, &request)
            .await
            .unwrap();
    }
    // A failed job, as a worker would leave it after its last retry.
    sqlx::query(
        "UPDATE job_logs SET status = 'failed', error_message = 'node down', finished_at = now()
          WHERE wallet_address = $1 AND job_type = 'sync'",
    )
    .bind(bob.to_string())
    .execute(&db.pool)
    .await
    .unwrap();
    (db, identity)
}

fn console(snapshot: model::Snapshot) -> App {
    let mut app = App::new(Keymap::default(), Theme::new(ThemeKind::Mono, false), false);
    update(&mut app, Event::Snapshot(Ok(snapshot)));
    app
}

fn press(app: &mut App, keys: &[&str]) -> Vec<Effect> {
    keys.iter()
        .flat_map(|k| {
            let chord: KeyChord = k.parse().unwrap();
            update(app, Event::Key(chord.to_event()))
        })
        .collect()
}

#[tokio::test]
async fn the_snapshot_shows_what_admin_reports() {
    let (db, op) = seeded().await;
    let backend = AdminBackend::new(op.pool.clone(), Some(ADMIN.into()))
        .await
        .unwrap();
    let snapshot = backend.snapshot(String::new()).await.unwrap();
    let stats = admin::stats::snapshot(&db.pool).await.unwrap();

    assert_eq!(snapshot.health.level, stats.health.health.status);
    assert_eq!(snapshot.health.reasons, stats.health.health.reasons);
    assert_eq!(snapshot.paused, stats.health.vitals.paused);
    for (job_type, counts) in &stats.counts.by_type {
        let row = snapshot
            .depth
            .iter()
            .find(|d| d.job_type.as_str() == job_type.as_str())
            .unwrap();
        assert_eq!(row.counts.pending as i64, counts.pending, "{job_type:?}");
        assert_eq!(row.counts.failed as i64, counts.failed, "{job_type:?}");
    }
    assert_eq!(snapshot.count(model::JobStatus::Pending), 2);
    assert_eq!(snapshot.count(model::JobStatus::Failed), 1);

    let jobs = admin::jobs::list(
        &db.pool,
        &JobFilter {
            limit: 1000,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let ids: Vec<_> = snapshot.jobs.iter().map(|j| j.id).collect();
    assert_eq!(ids, jobs.iter().map(|j| j.id).collect::<Vec<_>>());
    let failed = snapshot
        .jobs
        .iter()
        .find(|j| j.status == model::JobStatus::Failed)
        .unwrap();
    assert_eq!(failed.error_message.as_deref(), Some("node down"));
    assert_eq!(failed.user.as_deref(), Some("bob@example.com"));

    let audit = audit::list(&db.pool, None, 200).await.unwrap();
    assert_eq!(
        snapshot.audit.iter().map(|a| a.id).collect::<Vec<_>>(),
        audit.iter().map(|a| a.id).collect::<Vec<_>>()
    );
    assert!(
        snapshot
            .audit
            .iter()
            .any(|a| a.action == "job.dispatch" && a.actor == ADMIN)
    );
    assert_eq!(snapshot.access.role, model::Role::Admin);
    assert_eq!(snapshot.access.note, None);
    // The first read brings the charts' whole half hour; the next only the
    // minutes since (and the one before).
    assert_eq!(snapshot.history.len(), 30 * model::JOB_TYPES.len());
    let newest = snapshot.history.last().unwrap().minute;
    let now: Vec<_> = snapshot
        .history
        .iter()
        .filter(|m| m.minute == newest)
        .collect();
    assert_eq!(
        now.iter().map(|m| m.failed).sum::<u64>(),
        1,
        "the one job finished this minute failed"
    );
    assert_eq!(
        now.iter().map(|m| m.pending).sum::<u64>(),
        2,
        "depth now is the counts'"
    );
    let again = backend.snapshot(String::new()).await.unwrap();
    assert_eq!(again.history.len(), 2 * model::JOB_TYPES.len());

    // The wizard's search: by email, with the wallet's active jobs.
    let hits = backend.search_wallets("ALICE@").await.unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].address, address(1).to_string());
    assert_eq!(hits[0].active_jobs.len(), 2);
    let by_address = backend
        .search_wallets(&address(2).to_string()[..6])
        .await
        .unwrap();
    assert!(
        by_address
            .iter()
            .any(|h| h.address == address(2).to_string())
    );
    assert!(backend.search_wallets("%").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_confirmed_action_goes_through_admin_and_writes_its_audit_row() {
    let (db, op) = seeded().await;
    let backend = AdminBackend::new(op.pool.clone(), Some(ADMIN.into()))
        .await
        .unwrap();
    let mut app = console(backend.snapshot(String::new()).await.unwrap());

    // F asks, Tab moves to Confirm, Enter confirms: only then an action.
    assert!(press(&mut app, &["F"]).is_empty());
    let effects = press(&mut app, &["Tab", "Enter"]);
    let action = effects
        .into_iter()
        .find_map(|e| match e {
            Effect::RunAdminAction(a) => Some(a),
            _ => None,
        })
        .expect("the confirmation yields the action");
    assert_eq!(action.command(), &AdminCommand::ClearFailed { count: 1 });

    let outcome = backend.run(action).await.unwrap();
    assert_eq!(outcome.affected, 1);
    assert_eq!(outcome.message, "cleared 1 failed job");
    let audit = audit::list(&db.pool, None, 10).await.unwrap();
    let row = &audit[0];
    assert_eq!(row.action_type.as_deref(), Some("jobs.clear_failed"));
    assert_eq!(row.admin_email.as_deref(), Some(ADMIN));
    assert_eq!(row.details.as_ref().unwrap()["rows"], json!(1));
    let snapshot = backend.snapshot(String::new()).await.unwrap();
    assert_eq!(snapshot.count(model::JobStatus::Failed), 0);

    // Pause, confirmed while an admin; the operator is demoted before it
    // runs: the backend asks the database again and the refusal is shown.
    let mut app = console(snapshot);
    press(&mut app, &["P"]);
    let action = press(&mut app, &["Tab", "Enter"])
        .into_iter()
        .find_map(|e| match e {
            Effect::RunAdminAction(a) => Some(a),
            _ => None,
        })
        .expect("an admin may pause");
    admin::operators::add(&db.pool, ADMIN, Role::Operator, Some(&op.login))
        .await
        .unwrap();
    let before = audit::list(&db.pool, None, 100).await.unwrap().len();
    match backend.run(action).await {
        Err(BackendError::Refused(reason)) => {
            assert!(reason.contains("may not start or pause"), "{reason}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(!admin::control::is_paused(&db.pool).await.unwrap());
    assert_eq!(
        audit::list(&db.pool, None, 100).await.unwrap().len(),
        before,
        "a refusal writes no audit row"
    );
}

#[tokio::test]
async fn a_viewer_gets_a_read_only_console() {
    let (db, op) = seeded().await;
    let wall = common::admin::operator(&db, "wall@example.com", Role::Viewer).await;
    let viewer = AdminBackend::new(wall.pool.clone(), Some("wall@example.com".into()))
        .await
        .unwrap();
    let snapshot = viewer.snapshot(String::new()).await.unwrap();
    assert_eq!(snapshot.access.role, model::Role::Viewer);
    let mut app = console(snapshot);
    assert!(app.acts_read_only());
    let effects = press(&mut app, &["F", "Tab", "Enter", "P", "Tab", "Enter"]);
    assert!(
        !effects
            .iter()
            .any(|e| matches!(e, Effect::RunAdminAction(_))),
        "{effects:?}"
    );

    // A login linked to no operator: read-only, and the note says how to act.
    let nobody = AdminBackend::new(db.pool.clone(), None).await.unwrap();
    let access = nobody.snapshot(String::new()).await.unwrap().access;
    assert_eq!(access.role, model::Role::Viewer);
    assert!(access.note.unwrap().contains("operators add"));

    // Claiming another operator is refused before the console starts.
    let claimed = AdminBackend::new(op.pool.clone(), Some("who@example.com".into())).await;
    assert!(claimed.is_err());
    let claimed = AdminBackend::new(wall.pool.clone(), Some(ADMIN.into())).await;
    assert!(claimed.is_err(), "a viewer's login cannot act as the admin");
}

#[tokio::test]
async fn a_read_only_database_role_makes_the_console_read_only() {
    let (db, _) = seeded().await;
    if !admin::database_roles_enforced(&db.pool).await.unwrap() {
        eprintln!("the group roles do not exist on this server: nothing to check");
        return;
    }
    // A login role of the viewer group, of this test's own (roles are cluster-wide).
    let role = format!("wo_test_wall_{}", &db.name[db.name.len() - 12..]);
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE ROLE {role} LOGIN PASSWORD 'wall' IN ROLE walletops_viewer"
    )))
    .execute(&db.pool)
    .await
    .unwrap();
    let mut url: url::Url = db.url.expose().parse().unwrap();
    url.set_username(&role).unwrap();
    url.set_password(Some("wall")).unwrap();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(3)
        .connect(url.as_str())
        .await
        .unwrap();
    // Linked (by plain SQL, bypassing `operators add`) to an admin operator.
    sqlx::query(
        "INSERT INTO operators (user_id, role, db_login)
         SELECT id, 'admin', $1 FROM auth.users WHERE email = 'alice@example.com'",
    )
    .bind(&role)
    .execute(&db.pool)
    .await
    .unwrap();
    let backend = AdminBackend::new(pool.clone(), None).await.unwrap();
    let access = backend.snapshot(String::new()).await.unwrap().access;
    assert_eq!(access.role, model::Role::Viewer);
    assert!(
        access.note.as_deref().unwrap().contains("may only read"),
        "{access:?}"
    );
    drop(backend);
    pool.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP ROLE {role}")))
        .execute(&db.pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn changes_are_notified_and_a_burst_wakes_the_console_once() {
    let db = common::fresh_db().await;
    let backend = AdminBackend::new(db.pool.clone(), None).await.unwrap();
    // The listener's first connect counts as a change (it may have missed some).
    tokio::time::timeout(Duration::from_secs(10), backend.changed())
        .await
        .expect("the listener connects");

    // A thousand job notifications in one commit.
    let mut tx = db.pool.begin().await.unwrap();
    for i in 0..1000 {
        sqlx::query("SELECT pg_notify('walletops_jobs', $1)")
            .bind(i.to_string())
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    tokio::time::timeout(Duration::from_secs(5), backend.changed())
        .await
        .expect("the burst is notified");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), backend.changed())
            .await
            .is_err(),
        "the burst woke the console more than once"
    );

    // An audited change is seen too.
    common::admin::operator(&db, ADMIN, Role::Admin).await;
    tokio::time::timeout(Duration::from_secs(5), backend.changed())
        .await
        .expect("the admin action is notified");
}

#[tokio::test]
async fn failed_jobs_stay_in_view_under_a_thousand_newer_finished_ones() {
    let (db, op) = seeded().await;
    sqlx::query(
        "INSERT INTO job_logs (job_type, status, wallet_address, finished_at)
         SELECT 'sync', 'completed', $1, now() FROM generate_series(1, 1200)",
    )
    .bind(address(1).to_string())
    .execute(&db.pool)
    .await
    .unwrap();
    let backend = AdminBackend::new(op.pool.clone(), Some(ADMIN.into()))
        .await
        .unwrap();
    let jobs = backend.snapshot(String::new()).await.unwrap().jobs;
    let failed: Vec<_> = jobs
        .iter()
        .filter(|j| j.status == model::JobStatus::Failed)
        .collect();
    assert_eq!(failed.len(), 1, "the failed job is still listed");
    assert_eq!(
        jobs.iter()
            .filter(|j| j.status == model::JobStatus::Pending)
            .count(),
        2
    );
    assert!(
        jobs.windows(2)
            .all(|w| (w[0].created_at, w[0].id) >= (w[1].created_at, w[1].id)),
        "newest first"
    );
}

/// The Jobs search reaches past the newest jobs: an old job of a wallet is
/// not among the fetched rows until its address (or its user's email) is
/// searched for.
#[tokio::test]
async fn a_jobs_search_finds_jobs_older_than_the_newest_fetched() {
    let (db, op) = seeded().await;
    let old = address(7).to_string();
    let old_id: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO job_logs (job_type, status, wallet_address, created_at, finished_at)
         VALUES ('sync', 'completed', $1, now() - interval '1 day', now() - interval '1 day')
         RETURNING id",
    )
    .bind(&old)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO job_logs (job_type, status, wallet_address, finished_at)
         SELECT 'sync', 'completed', $1, now() FROM generate_series(1, 1200)",
    )
    .bind(address(1).to_string())
    .execute(&db.pool)
    .await
    .unwrap();
    let backend = AdminBackend::new(op.pool.clone(), Some(ADMIN.into()))
        .await
        .unwrap();
    let shown = |jobs: &[model::JobView]| jobs.iter().any(|j| j.id == old_id);
    let jobs = backend.snapshot(String::new()).await.unwrap().jobs;
    assert!(!shown(&jobs), "pushed out by 1,200 newer jobs");
    let jobs = backend.snapshot(old.clone()).await.unwrap().jobs;
    assert!(shown(&jobs), "found by its wallet address");
    assert!(jobs.len() > 1000, "the newest jobs are still there");
}

/// The reset confirmation counts exactly the jobs the reset then takes
/// back, and so do the dashboard's stuck list and the health figure: one
/// definition of stuck (processing with its lease run out, or with no lease
/// and untouched for a lease length), whatever mix of processing jobs there
/// is.
#[tokio::test]
async fn the_reset_confirmation_counts_the_jobs_the_reset_changes() {
    let (db, op) = seeded().await;
    // Jobs without a wallet: the one-active-job-per-wallet index stays out
    // of the way. queue.lease_seconds is 30.
    let processing: Vec<(uuid::Uuid, bool)> = sqlx::query_as(
        "INSERT INTO job_logs (job_type, status, started_at, locked_until, updated_at)
         VALUES ('sync', 'processing', now() - interval '5 minutes',
                 now() - interval '1 minute', now() - interval '5 minutes'),
                ('sync', 'processing', now() - interval '2 minutes',
                 now() - interval '1 second', now() - interval '2 minutes'),
                ('consolidation', 'processing', now() - interval '9 minutes',
                 NULL, now() - interval '9 minutes'),
                ('sync', 'processing', now() - interval '5 minutes',
                 now() + interval '1 minute', now() - interval '5 minutes'),
                ('gas-topup', 'processing', now(), now() + interval '30 seconds', now()),
                ('sync', 'processing', NULL, NULL, now() - interval '5 seconds')
         RETURNING id, coalesce(locked_until < now(), updated_at < now() - interval '30 seconds')",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let stuck: Vec<uuid::Uuid> = processing
        .iter()
        .filter(|(_, stuck)| *stuck)
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(stuck.len(), 3, "two expired leases and one never leased");

    let backend = AdminBackend::new(op.pool.clone(), Some(ADMIN.into()))
        .await
        .unwrap();
    let snapshot = backend.snapshot(String::new()).await.unwrap();
    let shown: Vec<_> = snapshot.stuck.iter().map(|j| j.id).collect();
    assert_eq!(shown.len(), stuck.len());
    assert!(shown.iter().all(|id| stuck.contains(id)), "{shown:?}");
    let vitals = admin::stats::snapshot(&db.pool)
        .await
        .unwrap()
        .health
        .vitals;
    assert_eq!(vitals.stuck_jobs, stuck.len() as i64);

    let mut app = console(snapshot);
    press(&mut app, &["U"]);
    let action = press(&mut app, &["Tab", "Enter"])
        .into_iter()
        .find_map(|e| match e {
            Effect::RunAdminAction(a) => Some(a),
            _ => None,
        })
        .expect("the confirmation yields the action");
    let AdminCommand::ResetProcessing { count, .. } = *action.command() else {
        panic!("{:?}", action.command());
    };

    let before: Vec<(uuid::Uuid, String)> =
        sqlx::query_as("SELECT id, j::text FROM job_logs j ORDER BY id")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    backend.run(action).await.unwrap();
    let after: Vec<(uuid::Uuid, String)> =
        sqlx::query_as("SELECT id, j::text FROM job_logs j ORDER BY id")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    let changed: Vec<uuid::Uuid> = before
        .iter()
        .zip(&after)
        .filter(|(b, a)| b != a)
        .map(|(b, _)| b.0)
        .collect();
    assert_eq!(
        count,
        changed.len() as u64,
        "confirmed {count}, changed {changed:?}"
    );
    let mut changed = changed;
    let mut stuck = stuck;
    changed.sort();
    stuck.sort();
    assert_eq!(changed, stuck, "the reset took back exactly the stuck jobs");
}

/// A jobs search by a user's email prefix finds that user's jobs: admin
/// looks the users up (the queue knows none) and the queue lists their jobs
/// beside the wallet-address matches.
#[tokio::test]
async fn a_jobs_search_by_email_finds_the_users_jobs() {
    let (db, _op) = seeded().await;
    let search = |text: &str| JobFilter {
        search: Some(text.into()),
        ..JobFilter::default()
    };
    let bob = admin::jobs::list(&db.pool, &search("BOB@")).await.unwrap();
    assert_eq!(bob.len(), 1, "{bob:?}");
    assert_eq!(bob[0].wallet_address, Some(address(2).to_string()));
    let alice = admin::jobs::list(&db.pool, &search("alice@example"))
        .await
        .unwrap();
    assert_eq!(alice.len(), 2, "{alice:?}");
    let by_address = admin::jobs::list(&db.pool, &search(&address(1).to_string()[..8]))
        .await
        .unwrap();
    assert_eq!(by_address.len(), 2, "{by_address:?}");
    assert!(
        admin::jobs::list(&db.pool, &search("%@example.com"))
            .await
            .unwrap()
            .is_empty(),
        "wildcards are literal"
    );
}

/// The screen as text, one line per row.
fn screen(app: &App, width: u16, height: u16) -> String {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| walletops::tui::ui::draw(frame, app))
        .unwrap();
    let buffer = terminal.backend().buffer();
    buffer
        .content
        .chunks(usize::from(width))
        .map(|row| row.iter().map(|c| c.symbol()).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn jobs_made_in_one_statement_show_distinct_ids_the_true_total_and_their_worker() {
    let (db, op) = seeded().await;
    // One statement: `walletops_uuid_v7()` stamps many of these with the
    // same millisecond, the head their old short ids were cut from.
    sqlx::query(
        "INSERT INTO job_logs (job_type, status, finished_at)
         SELECT 'sync', 'completed', now() FROM generate_series(1, 1500)",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let worker = uuid::Uuid::new_v4();
    sqlx::query(
        "INSERT INTO workers (id, host, pid, version, state, concurrency)
         VALUES ($1, 'wall-7', 4242, 'test', 'idle', 1)",
    )
    .bind(worker)
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE job_logs SET locked_by = $1
          WHERE id = (SELECT id FROM job_logs ORDER BY created_at DESC, id DESC LIMIT 1)",
    )
    .bind(worker)
    .execute(&db.pool)
    .await
    .unwrap();

    let backend = AdminBackend::new(op.pool.clone(), Some(ADMIN.into()))
        .await
        .unwrap();
    let snapshot = backend.snapshot(String::new()).await.unwrap();
    let mut per_ms: std::collections::HashMap<String, usize> = Default::default();
    for job in &snapshot.jobs {
        *per_ms
            .entry(job.id.simple().to_string()[..12].into())
            .or_default() += 1;
    }
    assert!(
        per_ms.values().any(|n| *n > 1),
        "some jobs share a millisecond"
    );
    assert_eq!(snapshot.jobs[0].locked_by.as_deref(), Some("wall-7:4242"));
    let held = snapshot.jobs.len();
    assert!(held < 1503, "the console holds the newest, not all: {held}");

    let mut app = console(snapshot.clone());
    press(&mut app, &["2"]);
    update(&mut app, Event::Resize(160, 48));
    let shown = screen(&app, 160, 48);
    let title = shown.lines().nth(2).unwrap();
    assert!(
        title.contains(&format!(
            "Jobs 1 of the newest {} of 1,503",
            walletops::tron::format_units(held as i128, 0, "")
        )),
        "{title}"
    );
    // Every short id the console may show differs, and so do those drawn.
    let shorts: std::collections::HashSet<String> =
        snapshot.jobs.iter().map(|j| app.short(&j.id)).collect();
    assert_eq!(shorts.len(), held);
    let drawn: Vec<&str> = shown
        .lines()
        .skip(4)
        .take(40)
        .map(|l| l.split_whitespace().nth(1).unwrap().trim_start_matches('›'))
        .collect();
    let distinct: std::collections::HashSet<&&str> = drawn.iter().collect();
    assert_eq!(distinct.len(), drawn.len(), "{shown}");
    assert!(drawn.iter().all(|id| shorts.contains(*id)), "{shown}");

    // The detail names the worker by host:pid, not its id.
    press(&mut app, &["Enter"]);
    let detail = screen(&app, 160, 48);
    assert!(
        detail.contains("worker    wall-7:4242\n") || detail.contains("worker    wall-7:4242 "),
        "{detail}"
    );
    assert!(!detail.contains(&worker.to_string()), "{detail}");
}
