//! `walletops console` (and plain `walletops` with a database configured)
//! reports every problem it can know of before it takes the terminal: one
//! line on stderr, a non-zero exit, and not one byte of screen drawing.

mod common;

use std::process::Output;

use walletops::admin::{self, Role};

/// The escape sequence that takes the alternate screen.
const ALTERNATE_SCREEN: &str = "\x1b[?1049h";

fn refused(out: &Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{out:?}");
    assert!(
        stderr.contains(expected),
        "expected {expected:?} in {stderr}"
    );
    assert_eq!(
        stderr.trim().lines().count(),
        1,
        "one line on stderr: {stderr}"
    );
    assert!(
        !stdout.contains(ALTERNATE_SCREEN) && !stderr.contains(ALTERNATE_SCREEN),
        "the terminal was taken: {out:?}"
    );
}

#[tokio::test]
async fn problems_are_reported_before_the_terminal_is_taken() {
    let db = common::fresh_db().await;
    // The console connects as oncall's own login.
    let oncall = common::admin::operator(&db, "oncall@example.com", Role::Admin).await;
    let url = oncall.url.expose().to_string();
    let run = |args: &[&str]| {
        common::walletops()
            .env("DATABASE_URL", &url)
            .args(args)
            .output()
            .unwrap()
    };

    // --operator only asserts: it cannot pick anyone but the login's operator.
    let out = run(&["console", "--operator", "nobody@example.com"]);
    refused(
        &out,
        "says nobody@example.com, but this connection is operator oncall@example.com",
    );
    // No subcommand with a database configured is the console, not the demo.
    let out = run(&["--operator", "nobody@example.com"]);
    refused(&out, "says nobody@example.com, but this connection is");

    let out = run(&[
        "console",
        "--operator",
        "oncall@example.com",
        "--embedded-workers",
        "2",
    ]);
    refused(&out, "--embedded-workers needs a TRON node");
    // With a node but no funds policy: it names the file it looked for.
    let home = tempfile::tempdir().unwrap();
    let out = common::walletops()
        .env("DATABASE_URL", &url)
        .env("TRON_API_URL", "http://127.0.0.1:9")
        .env("XDG_CONFIG_HOME", home.path())
        .args(["console", "--operator", "oncall@example.com"])
        .args(["--embedded-workers", "2"])
        .output()
        .unwrap();
    let expected = home.path().join("walletops").join("policy.toml");
    refused(&out, &format!("no funds policy at {}", expected.display()));

    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(config.path(), "[console]\ntheme = \"neon\"\n").unwrap();
    let out = run(&["console", "--config", config.path().to_str().unwrap()]);
    refused(&out, "color, mono or light");

    let out = run(&["console", "--refresh", "0"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--refresh"));

    // Nothing was written: no audit row beyond the operator's creation (and
    // the migrations' own).
    let audit = admin::audit::list(&db.pool, None, 100).await.unwrap();
    let made: Vec<_> = audit
        .iter()
        .filter(|a| {
            a.details
                .as_ref()
                .is_none_or(|d| d["actor"]["via"] != "migration")
        })
        .collect();
    assert_eq!(made.len(), 1, "{audit:?}");
}
