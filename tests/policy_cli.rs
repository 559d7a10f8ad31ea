//! `walletops policy`, `walletops security` and `walletops signer` as real
//! processes: a starting policy written and checked, bad policies refused
//! with the file named, and a security event that keeps `status` Down until
//! an admin acknowledges it.

mod common;

use std::process::Output;

use walletops::admin::{self, Role};

const TREASURY: &str = "TCNkawTmcQgYSU8nP8cHswT1QPjharxJr7";
const GAS: &str = "THHsfg2eNiv6MSXC4y5d4t5wkvRVADRKiF";

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn policy_init_writes_a_policy_that_check_describes_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sub").join("policy.toml");
    let init = |treasury: &str| {
        common::walletops()
            .args([
                "policy",
                "init",
                "--treasury",
                treasury,
                "--gas",
                GAS,
                "--out",
            ])
            .arg(&file)
            .output()
            .unwrap()
    };
    let out = init(TREASURY);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(&format!("funds policy written to {}", file.display())));
    let out = init(TREASURY);
    assert!(!out.status.success());
    assert!(text(&out).contains("never overwritten"), "{}", text(&out));
    // The token itself is never a treasury.
    let out = common::walletops()
        .args(["policy", "init", "--gas", GAS, "--out"])
        .arg(dir.path().join("token.toml"))
        .args(["--treasury", walletops::tron::sim::MAINNET_USDT])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("USDT contract"), "{}", text(&out));

    let out = common::walletops()
        .args(["policy", "check"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let words = text(&out);
    assert!(
        words.contains(&format!("Sweeps may go only to: {TREASURY}.")),
        "{words}"
    );
    assert!(
        words.contains("gas-topup: at most 50000000 SUN (50 TRX) per transfer"),
        "{words}"
    );

    // An unknown key, and a float: refused, with the file named.
    let good = std::fs::read_to_string(&file).unwrap();
    for bad in [
        format!("{good}\nsurprise = true\n"),
        good.replace("max_fee_limit_sun = 100000000", "max_fee_limit_sun = 1.5"),
    ] {
        std::fs::write(&file, bad).unwrap();
        let out = common::walletops()
            .args(["policy", "check"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(
            text(&out).contains(&format!("the funds policy {} is malformed", file.display())),
            "{}",
            text(&out)
        );
    }
}

#[test]
fn the_signer_refuses_to_start_without_a_policy_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "s".repeat(64)).unwrap();
    let out = common::walletops()
        .env("XDG_CONFIG_HOME", dir.path())
        .env("WALLET_MASTER_KEY", "00".repeat(32))
        .args(["signer", "--listen", "127.0.0.1:0", "--secret-file"])
        .arg(&secret)
        .arg("--ledger")
        .arg(dir.path().join("ledger.jsonl"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let expected = dir.path().join("walletops").join("policy.toml");
    assert!(
        text(&out).contains(&format!("no funds policy at {}", expected.display())),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains(&"00".repeat(32)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_security_event_keeps_status_down_until_an_admin_acknowledges_it() {
    let db = common::fresh_db().await;
    admin::operators::add(&db.pool, "admin@example.com", Role::Admin)
        .await
        .unwrap();
    admin::operators::add(&db.pool, "viewer@example.com", Role::Viewer)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO security_events (kind, rule, message)
         VALUES ('policy-refusal', 'destination', 'sweep destination TX is not a treasury of the policy')",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let run = |operator: Option<&str>, args: &[&str]| {
        let mut cmd = common::walletops();
        cmd.env("DATABASE_URL", db.url.expose()).args(args);
        if let Some(op) = operator {
            cmd.env("WALLETOPS_OPERATOR", op);
        }
        cmd.output().unwrap()
    };
    let status = run(None, &["status"]);
    assert_eq!(status.status.code(), Some(2), "{}", text(&status));
    assert!(
        text(&status).contains("policy refused a transfer"),
        "{}",
        text(&status)
    );
    let list = run(None, &["security", "list"]);
    assert!(
        text(&list).contains("OPEN policy-refusal destination"),
        "{}",
        text(&list)
    );

    let refused = run(Some("viewer@example.com"), &["security", "ack", "--all"]);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("may not acknowledge security events"),
        "{}",
        text(&refused)
    );
    let acked = run(
        Some("admin@example.com"),
        &["security", "ack", "--all", "--note", "drill"],
    );
    assert!(acked.status.success(), "{}", text(&acked));
    assert!(text(&acked).contains("acknowledged 1 security event(s)"));

    let status = run(None, &["status"]);
    assert!(
        !text(&status).contains("policy refused a transfer"),
        "{}",
        text(&status)
    );
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM admin_actions WHERE action_type = 'security.ack'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(audited, 1);
    let again = run(Some("admin@example.com"), &["security", "ack", "--all"]);
    assert!(!again.status.success());
    assert!(text(&again).contains("no unacknowledged security event"));
}
