//! One owner per table: SQL whose main table (the one after FROM, INTO or
//! UPDATE) is one of these appears only in the files of its owning module.
//! A JOIN only reads alongside the main table, whose owner holds the
//! statement and says why.

use std::path::{Path, PathBuf};

/// (table, the files or folders under src/ that may name it as main table).
const OWNERS: &[(&str, &[&str])] = &[
    ("job_logs", &["queue/"]),
    ("job_attempts", &["queue/"]),
    ("job_counts", &["queue/"]),
    ("job_count_deltas", &["queue/"]),
    ("maintenance_leader", &["queue/maintenance.rs"]),
    ("workers", &["queue/workers.rs"]),
    ("transfers", &["transfers/"]),
    ("signing_locks", &["transfers/"]),
    ("tron_access", &["transfers/"]),
    ("energy_pool_state", &["transfers/"]),
    ("system_config", &["settings/"]),
    ("config_proposals", &["settings/"]),
    ("user_wallets", &["wallets/"]),
    ("auth.users", &["wallets/"]),
    ("wallet_transactions", &["wallets/"]),
    ("deposit_follower", &["wallets/deposits.rs"]),
    ("pending_deposits", &["wallets/deposits.rs"]),
    ("stale_balances", &["wallets/"]),
    ("admin_actions", &["audit/"]),
    ("audit_head", &["audit/"]),
    ("security_events", &["audit/"]),
    ("security_acks", &["audit/"]),
    ("operators", &["admin/operators.rs", "admin/identity.rs"]),
    ("api_tokens", &["admin/tokens.rs"]),
];

/// Statements whose main table is another one although a listed table
/// follows FROM. Each entry: (file, table), and why:
/// - `UPDATE operators o ... FROM auth.users u` finds the operator by email;
/// - the processing flag of `user_wallets` is valid only while its job's
///   lease is live, so taking, clearing and releasing it read `job_logs` in
///   the same statement (a separate read could see a lease that ends before
///   the update).
const SPANNING: &[(&str, &str)] = &[
    ("admin/operators.rs", "auth.users"),
    ("wallets/processing.rs", "job_logs"),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The tables that follow FROM, INTO or UPDATE in `text`.
fn main_tables(text: &str) -> Vec<String> {
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || matches!(c, '"' | '(' | ')' | ','))
        .filter(|w| !w.is_empty())
        .collect();
    words
        .windows(2)
        .filter(|w| matches!(w[0], "FROM" | "INTO" | "UPDATE"))
        .map(|w| w[1].to_string())
        .collect()
}

#[test]
fn each_table_is_written_only_by_its_owner() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut strays = Vec::new();
    for file in files {
        let rel = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(&file).unwrap();
        for table in main_tables(&text) {
            let Some((_, owners)) = OWNERS.iter().find(|(t, _)| *t == table) else {
                continue;
            };
            let allowed = owners.iter().any(|o| rel.starts_with(o))
                || SPANNING.contains(&(rel.as_str(), table.as_str()));
            if !allowed {
                strays.push(format!("src/{rel}: {table}"));
            }
        }
    }
    assert!(
        strays.is_empty(),
        "SQL on a table outside its owner (ask the owner instead):\n{}",
        strays.join("\n")
    );
}

#[test]
fn the_scan_finds_main_tables() {
    let sql =
        "UPDATE user_wallets w SET a = 1 FROM auth.users u WHERE x IN (SELECT id FROM\n job_logs)";
    assert_eq!(
        main_tables(sql),
        ["user_wallets", "auth.users", "job_logs"].map(String::from)
    );
    assert!(main_tables("SELECT 1 FROM x JOIN user_wallets w ON true").contains(&"x".into()));
    assert!(
        !main_tables("SELECT 1 FROM x JOIN user_wallets w ON true")
            .contains(&"user_wallets".into())
    );
}
