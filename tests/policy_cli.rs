//! `walletops policy`, `walletops security` and `walletops signer` as real
//! processes: a starting policy written and checked, bad policies refused
//! with the file named, and a security event that keeps `status` Down until
//! an admin acknowledges it.

mod common;

use std::process::Output;

use common::admin::{Op, operator};
use walletops::admin::Role;

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
        .args(["--treasury", walletops::tron::MAINNET_USDT])
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
        words.contains("gas-topup: at most 50.000000 TRX per transfer"),
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
    let admin = operator(&db, "admin@example.com", Role::Admin).await;
    let viewer = operator(&db, "viewer@example.com", Role::Viewer).await;
    sqlx::query(
        "INSERT INTO security_events (kind, rule, message)
         VALUES ('policy-refusal', 'destination', 'sweep destination TX is not a treasury of the policy')",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    // Each command connects as the operator's own login: the database
    // decides who acts.
    let run = |login: &Op, args: &[&str]| {
        common::walletops()
            .env("DATABASE_URL", login.url.expose())
            .args(args)
            .output()
            .unwrap()
    };
    let status = run(&viewer, &["status"]);
    assert_eq!(status.status.code(), Some(2), "{}", text(&status));
    assert!(
        text(&status).contains("policy refused a transfer"),
        "{}",
        text(&status)
    );
    let list = run(&viewer, &["security", "list"]);
    assert!(
        text(&list).lines().any(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words.windows(2).any(|w| w == ["OPEN", "destination"])
        }),
        "{}",
        text(&list)
    );

    let refused = run(&viewer, &["security", "ack", "--all"]);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("may not acknowledge security events"),
        "{}",
        text(&refused)
    );
    // Around the application: a viewer or an admin login writing the
    // acknowledgement itself, or a viewer calling the database's function.
    for (who, sql) in [
        (&viewer, "SELECT walletops_security_ack(NULL, 'mine')"),
        (
            &admin,
            "INSERT INTO security_acks (event_id) SELECT id FROM security_events",
        ),
        (&admin, "DELETE FROM security_events"),
        (&admin, "UPDATE security_events SET message = 'nothing'"),
    ] {
        let err = sqlx::query(sql).execute(&who.pool).await.unwrap_err();
        assert!(
            err.to_string().contains("permission denied"),
            "{sql}: {err}"
        );
    }

    let acked = run(&admin, &["security", "ack", "--all", "--note", "drill"]);
    assert!(acked.status.success(), "{}", text(&acked));
    assert!(text(&acked).contains("acknowledged 1 security event(s)"));

    let status = run(&viewer, &["status"]);
    assert!(
        !text(&status).contains("policy refused a transfer"),
        "{}",
        text(&status)
    );
    // The database wrote the audit row, naming the admin it proved; not an
    // external change.
    let (external, actor, note): (bool, Option<uuid::Uuid>, Option<String>) = sqlx::query_as(
        "SELECT external, admin_user_id, details->>'note' FROM admin_actions
          WHERE action_type = 'security.ack'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(!external);
    assert_eq!(actor, admin.user_id);
    assert_eq!(note.as_deref(), Some("drill"));
    let acked_by: Option<uuid::Uuid> =
        sqlx::query_scalar("SELECT acknowledged_by FROM security_acks")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(acked_by, admin.user_id);
    let again = run(&admin, &["security", "ack", "--all"]);
    assert!(!again.status.success());
    assert!(text(&again).contains("no unacknowledged security event"));
}
