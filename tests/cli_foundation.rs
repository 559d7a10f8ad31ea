//! The binary's edge: bad configuration gives one clear line and a non-zero
//! exit, secrets stay out of `--help`, and the local cluster works as the
//! embedded default when no database is configured.

mod common;

use std::process::Output;

use common::walletops;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// One line starting with `error:`, no panic, no backtrace.
fn assert_one_clear_line(out: &Output, expect: &str) {
    assert!(!out.status.success(), "must fail: {out:?}");
    let err = stderr(out);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "exactly one line, got: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    assert!(lines[0].contains(expect), "expected {expect:?} in: {err}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
}

#[test]
fn unreachable_database_is_one_line() {
    let out = walletops()
        .arg("migrate")
        .env("DATABASE_URL", "postgres://nobody:pw@127.0.0.1:1/nothing")
        .output()
        .unwrap();
    assert_one_clear_line(
        &out,
        "cannot connect to postgres://nobody:********@127.0.0.1:1/nothing",
    );
    assert!(
        !stderr(&out).contains(":pw@"),
        "the password is never printed"
    );
}

#[test]
fn malformed_database_url_is_one_line() {
    for (url, expect) in [
        ("not a url", "invalid database URL"),
        ("mysql://u@h/d", "is not postgres://"),
        (
            "postgres://u:secret@db.example.supabase.com:6543/postgres",
            "transaction-mode pooler",
        ),
    ] {
        let out = walletops()
            .arg("migrate")
            .env("DATABASE_URL", url)
            .output()
            .unwrap();
        assert_one_clear_line(&out, expect);
        assert!(!stderr(&out).contains("secret"));
    }
}

#[test]
fn bad_config_files_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "operator = [unclosed\n").unwrap();
    let out = walletops()
        .arg("--config")
        .arg(&bad)
        .arg("migrate")
        .output()
        .unwrap();
    assert_one_clear_line(&out, "is invalid");

    let unknown = dir.path().join("unknown.toml");
    std::fs::write(&unknown, "databse_url = \"postgres://x@y/z\"\n").unwrap();
    let out = walletops()
        .env("WALLETOPS_CONFIG", &unknown)
        .arg("migrate")
        .output()
        .unwrap();
    assert_one_clear_line(&out, "databse_url");

    let out = walletops()
        .arg("--config")
        .arg(dir.path().join("missing.toml"))
        .arg("migrate")
        .output()
        .unwrap();
    assert_one_clear_line(&out, "does not exist");
}

#[test]
fn help_never_shows_secrets_from_the_environment() {
    let out = walletops()
        .arg("--help")
        .env("DATABASE_URL", "postgres://u:hunter2@h/d")
        .env("TRON_API_KEY", "apikey-hunter3")
        .env("WALLET_MASTER_KEY", "ab".repeat(32))
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("DATABASE_URL"), "{text}");
    for secret in ["hunter2", "hunter3", &"ab".repeat(32)] {
        assert!(!text.contains(secret), "{text}");
    }
}

#[test]
fn the_example_config_file_parses() {
    let out = walletops()
        .arg("--config")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/assets/config.example.toml"
        ))
        .args(["db", "url"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

/// The embedded default: with no database configured, commands start and
/// use walletops' own cluster. This test runs a private one of its own, so
/// stopping it disturbs nothing else.
#[test]
fn local_cluster_starts_is_reused_and_stops() {
    let root = std::env::temp_dir().join(format!("wo-cluster-{}", uuid::Uuid::new_v4().simple()));
    let run = |args: &[&str]| {
        walletops()
            .args(args)
            .env("WALLETOPS_PG_DIR", &root)
            .output()
            .unwrap()
    };
    let status = run(&["db", "status"]);
    assert_eq!(status.status.code(), Some(3), "{}", stderr(&status));
    assert!(String::from_utf8_lossy(&status.stdout).contains("not initialised"));

    // Two processes starting at once: one initialises and starts, the other reuses.
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let root = root.clone();
            std::thread::spawn(move || {
                walletops()
                    .args(["db", "start"])
                    .env("WALLETOPS_PG_DIR", &root)
                    .output()
                    .unwrap()
            })
        })
        .collect();
    for h in handles {
        let out = h.join().unwrap();
        assert!(out.status.success(), "db start: {}", stderr(&out));
        let url = String::from_utf8_lossy(&out.stdout);
        assert!(url.contains("host=") && url.contains("/walletops"), "{url}");
    }

    let status = run(&["db", "status"]);
    assert!(status.status.success(), "{}", stderr(&status));
    assert!(String::from_utf8_lossy(&status.stdout).starts_with("running (pid "));

    // No DATABASE_URL: migrate goes to the local cluster's database.
    let migrate = run(&["migrate"]);
    assert!(migrate.status.success(), "{}", stderr(&migrate));

    // It listens on its own socket and on no TCP port.
    let conf = std::fs::read_to_string(root.join("data/postgresql.conf")).unwrap();
    assert!(conf.contains("listen_addresses = ''"));

    let stop = run(&["db", "stop"]);
    assert!(stop.status.success(), "{}", stderr(&stop));
    assert_eq!(String::from_utf8_lossy(&stop.stdout).trim(), "stopped");
    assert_eq!(run(&["db", "status"]).status.code(), Some(3));
    std::fs::remove_dir_all(&root).unwrap();
}
