//! What the CLI prints, as the real binary prints it: tables that fit 80
//! columns (and more with `--wide` or a wider terminal), job ids typed as
//! a prefix or a tail, errors as one line, completions and the man page.

mod common;

use std::process::Output;
use std::time::{Duration, Instant};

use common::TestDb;
use common::admin::{login_name, url_as};
use uuid::Uuid;

/// Runs walletops against `url` with `env` set, stdout and stderr piped.
fn run_env(url: &str, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = common::walletops();
    cmd.env("DATABASE_URL", url)
        .env_remove("COLUMNS")
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run walletops")
}

fn run(db: &TestDb, args: &[&str]) -> Output {
    run_env(db.url.expose(), &[], args)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}: {}{}",
        o.status.code(),
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stdout)
}

/// Fails with exactly one line on stderr, `error: ` and `needle` in it,
/// and no escape byte.
fn one_line_error(o: &Output, needle: &str) -> String {
    assert!(!o.status.success(), "should fail: {}", text(&o.stdout));
    let err = text(&o.stderr);
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    assert!(
        err.starts_with("error: ") && err.contains(needle),
        "{needle:?} in {err:?}"
    );
    assert!(
        !o.stderr.contains(&0x1b),
        "no colour codes into a pipe: {err:?}"
    );
    err
}

fn widest(out: &str) -> usize {
    out.lines().map(|l| l.chars().count()).max().unwrap_or(0)
}

/// A migrated database with an admin operator (the URL of its own login)
/// and `n` jobs made in one statement (one millisecond, one timestamp
/// prefix), a third of them failed with a long error, the rest cancelled.
async fn with_jobs(n: i64) -> (TestDb, String, Vec<Uuid>) {
    let db = common::fresh_db().await;
    let login = login_name(&db, "boss@example.com");
    ok(run(
        &db,
        &[
            "operators",
            "add",
            "boss@example.com",
            "--role",
            "admin",
            "--login",
            &login,
        ],
    ));
    let admin = url_as(&db.url, &login).expose().to_string();
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO job_logs (job_type, status, wallet_address, error_message, finished_at)
         SELECT 'sync', CASE WHEN g % 3 = 0 THEN 'failed' ELSE 'cancelled' END,
                'TXYZ' || lpad(g::text, 30, '0'),
                CASE WHEN g % 3 = 0 THEN 'broadcast refused by the node: insufficient energy \
for the transfer, the account needs more TRX staked or burned before a retry' END,
                now()
           FROM generate_series(1, $1) g
         RETURNING id",
    )
    .bind(n)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    (db, admin, ids)
}

#[tokio::test]
async fn list_tables_fit_80_columns_and_wide_shows_everything() {
    let (db, admin, ids) = with_jobs(40).await;
    // Jobs of one statement share their timestamp: the first 8 digits
    // (the old short form) cannot tell them apart.
    let heads: std::collections::HashSet<String> = ids
        .iter()
        .map(|id| id.simple().to_string()[..8].to_string())
        .collect();
    assert!(heads.len() < ids.len());
    sqlx::query(
        "INSERT INTO workers (id, host, pid, version, state, last_error)
         VALUES (gen_random_uuid(), 'worker-7.example.internal', 4242,
                 '0.1.0', 'active', 'the last claim failed because the database went away')",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    ok(run_env(
        &admin,
        &[],
        &[
            "tokens",
            "create",
            "--role",
            "viewer",
            "--name",
            "wall-screen",
        ],
    ));

    let lists: &[&[&str]] = &[
        &["jobs", "list", "--limit", "100"],
        &["workers", "list"],
        &["audit"],
        &["config", "list"],
        &["config", "keys"],
        &["operators", "list"],
        &["tokens", "list"],
    ];
    for args in lists {
        let out = ok(run(&db, args));
        assert!(
            widest(&out) <= 80,
            "walletops {args:?} is wider than 80:\n{out}"
        );
        let header = out.lines().next().unwrap_or_default();
        assert!(
            header.split_whitespace().all(|w| w == w.to_uppercase()) && !header.is_empty(),
            "walletops {args:?} starts with a header row: {header:?}"
        );
        let wide = ok(run(&db, &[args, &["--wide"][..]].concat()));
        assert!(!wide.contains('…'), "--wide cuts nothing: {wide}");
    }

    // jobs list: a time column; short ids that are tails, all different,
    // although every id starts with the same timestamp.
    let out = ok(run(&db, &["jobs", "list", "--limit", "100"]));
    assert!(out.lines().next().unwrap().contains("CREATED"), "{out}");
    let shown: Vec<&str> = out
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(shown.len(), ids.len(), "{out}");
    let distinct: std::collections::HashSet<&&str> = shown.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "short ids differ: {out}");
    for s in &shown {
        assert!(
            ids.iter().any(|id| id.simple().to_string().ends_with(s)),
            "{s} is the tail of a job id"
        );
    }
    assert!(out.contains("s ago"), "relative times: {out}");
    assert!(out.contains('…'), "the long error is cut and marked: {out}");

    // --wide: full ids, whole errors, absolute times with their zone.
    let wide = ok(run(&db, &["jobs", "list", "--limit", "100", "--wide"]));
    assert!(wide.contains(&ids[0].to_string()), "{wide}");
    assert!(
        wide.contains("before a retry") && wide.contains(" UTC ("),
        "{wide}"
    );
    assert!(wide.lines().next().unwrap().contains("UPDATED"), "{wide}");

    // A wider terminal gets wider columns and the columns kept for it.
    let url = db.url.expose().to_string();
    let at_160 = ok(run_env(&url, &[("COLUMNS", "160")], &["jobs", "list"]));
    assert!(widest(&at_160) <= 160 && widest(&at_160) > 80, "{at_160}");
    assert!(
        at_160.lines().next().unwrap().contains("UPDATED"),
        "{at_160}"
    );

    // config list: every key with its description, aligned.
    let config = ok(run(&db, &["config", "list"]));
    assert!(
        config.contains("When true, workers claim no new jobs"),
        "{config}"
    );
    let value_at: Vec<usize> = config
        .lines()
        .filter(|l| !l.starts_with(' '))
        .map(|l| {
            l.find(char::is_whitespace).unwrap()
                + l[l.find(' ').unwrap()..].find(|c: char| c != ' ').unwrap()
        })
        .collect();
    assert!(
        value_at.windows(2).all(|w| w[0] == w[1]),
        "values start in one column: {config}"
    );

    // Workers by host:pid.
    let workers = ok(run(&db, &["workers", "list"]));
    assert!(
        workers.contains("worker-7.example.internal:4242"),
        "{workers}"
    );
}

#[tokio::test]
async fn job_ids_are_taken_as_a_prefix_or_a_tail() {
    let (db, admin, ids) = with_jobs(6).await;
    let act = |args: &[&str]| run_env(&admin, &[], args);
    let status = |id: Uuid| {
        let pool = db.pool.clone();
        async move {
            sqlx::query_scalar::<_, String>("SELECT status FROM job_logs WHERE id = $1")
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let cancelled = ids[0];
    assert_eq!(status(cancelled).await, "cancelled");

    // The tail people see names one job.
    let tail = walletops::admin::short_id(&cancelled);
    let out = ok(act(&["jobs", "retry", &tail]));
    assert!(out.contains(&cancelled.to_string()), "{out}");
    assert_eq!(status(cancelled).await, "pending");

    // The shared prefix names them all: refused, listing a few, nothing changed.
    let hex: Vec<String> = ids.iter().map(|id| id.simple().to_string()).collect();
    let shared = (0..32)
        .take_while(|&i| hex.iter().all(|h| h.as_bytes()[i] == hex[0].as_bytes()[i]))
        .count();
    assert!(shared >= 4, "one statement's ids share their time: {hex:?}");
    let head = &hex[0][..shared];
    let o = act(&["jobs", "cancel", head]);
    let err = one_line_error(&o, "give more digits");
    assert!(err.contains("6 jobs match"), "{err}");
    assert!(err.contains(&walletops::admin::short_id(&ids[1])), "{err}");
    assert_eq!(status(ids[0]).await, "pending");

    // A longer prefix, hyphens and capitals allowed, is one job again.
    let full = ids[1].to_string().to_uppercase();
    let out = ok(act(&["jobs", "retry", &full[..]]));
    assert!(out.contains(&ids[1].to_string()), "{out}");
    let prefix = &ids[2].simple().to_string()[..26];
    ok(act(&["jobs", "retry", prefix]));
    assert_eq!(status(ids[2]).await, "pending");

    one_line_error(
        &act(&["jobs", "retry", "deadbeefdeadbeef"]),
        "no job id starts or ends with deadbeefdeadbeef",
    );
    let o = act(&["jobs", "retry", "xyz"]);
    assert!(!o.status.success() && text(&o.stderr).contains("not a job id"));
    let o = act(&["jobs", "retry", "abc"]);
    assert!(!o.status.success() && text(&o.stderr).contains("at least 4 hex digits"));
}

#[tokio::test]
async fn errors_are_one_plain_line() {
    // Nothing listens on a port just freed: refused, said so, at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let started = Instant::now();
    let o = run_env(&url, &[], &["jobs", "list"]);
    one_line_error(&o, "connection refused");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let o = run_env(&url, &[], &["status"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        text(&o.stdout).contains("connection refused"),
        "{}",
        text(&o.stdout)
    );

    // A database without walletops' tables: the hint, not a missing relation.
    let empty = common::empty_db().await;
    for args in [&["jobs", "list"][..], &["config", "list"], &["audit"]] {
        let err = one_line_error(&run(&empty, args), "has no walletops tables");
        assert!(
            err.contains("walletops migrate") && err.contains("walletops_demo"),
            "{err}"
        );
    }
    // ... and --migrate is what the hint says it is.
    ok(run(&empty, &["--migrate", "jobs", "list"]));

    // A refusal is the error line alone (the log line that said it first is gone).
    let db = common::fresh_db().await;
    one_line_error(&run(&db, &["jobs", "clear-failed"]), "is not an operator");

    // Log lines asked for come without colour codes into a pipe.
    let o = run(&db, &["--log", "debug", "config", "list"]);
    assert!(
        o.status.success() && o.stderr.len() > 100,
        "{}",
        text(&o.stderr)
    );
    assert!(!o.stderr.contains(&0x1b), "{}", text(&o.stderr));

    // A database error names no line of the server's C code.
    sqlx::query("DROP TABLE api_tokens CASCADE")
        .execute(&db.pool)
        .await
        .unwrap();
    let err = one_line_error(
        &run(&db, &["tokens", "list"]),
        "\"api_tokens\" does not exist",
    );
    assert!(!err.contains(" at line "), "{err}");
    assert!(!err.contains("error returned from database"), "{err}");
}

#[test]
fn completions_and_man_page_come_from_the_commands() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let o = common::walletops()
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o.stderr));
        let script = text(&o.stdout);
        for sub in ["jobs", "retry", "completions", "wide"] {
            assert!(script.contains(sub), "{shell} completes {sub}");
        }
        if shell == "bash" {
            let path = dir.path().join("walletops.bash");
            std::fs::write(&path, &o.stdout).unwrap();
            let check = std::process::Command::new("bash")
                .arg("-n")
                .arg(&path)
                .output()
                .unwrap();
            assert!(check.status.success(), "bash -n: {}", text(&check.stderr));
        }
    }
    let o = common::walletops().arg("man").output().unwrap();
    assert!(o.status.success());
    let page = text(&o.stdout);
    assert!(
        page.starts_with(".ie") || page.contains(".TH walletops"),
        "{page}"
    );
    for sub in [
        "migrate",
        "jobs",
        "config",
        "audit",
        "workers",
        "completions",
        "man",
    ] {
        assert!(page.contains(sub), "the man page names {sub}");
    }
    // A reader that stops early is no failure.
    let o = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "{} completions bash | head -1",
            env!("CARGO_BIN_EXE_walletops")
        ))
        .output()
        .unwrap();
    assert!(!text(&o.stderr).contains("panicked"), "{}", text(&o.stderr));
}
