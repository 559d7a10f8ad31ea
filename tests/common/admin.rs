//! Fixtures for the admin, API and admin CLI tests: operators, wallets,
//! jobs written by plain SQL, audit counts, and login roles.

use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;
use walletops::admin::{self, Identity, Role};
use walletops::config::DatabaseUrl;

use super::TestDb;

/// A valid TRON address made from a seed number.
pub fn address(seed: u32) -> String {
    let mut evm = [0x5au8; 20];
    evm[..4].copy_from_slice(&seed.to_be_bytes());
    walletops::tron::Address::from_evm(evm).to_string()
}

/// An operator with a database login of its own and a pool connected as
/// that login: actions run on `pool`, as the database sees them in
/// production. Derefs to its [`Identity`].
pub struct Op {
    pub id: Identity,
    pub pool: PgPool,
    pub login: String,
    pub url: DatabaseUrl,
}

impl std::ops::Deref for Op {
    type Target = Identity;
    fn deref(&self) -> &Identity {
        &self.id
    }
}

/// A login name unique to this test's database (roles are cluster-wide;
/// `common::drop_stale` drops them with their database).
pub fn login_name(db: &TestDb, who: &str) -> String {
    let who: String = who
        .chars()
        .take_while(|c| *c != '@')
        .filter(|c| c.is_ascii_alphanumeric())
        .take(16)
        .collect::<String>()
        .to_lowercase();
    format!("{who}_{}", db.name)
}

/// `url` connecting as `login` (the test server trusts local logins).
pub fn url_as(url: &DatabaseUrl, login: &str) -> DatabaseUrl {
    let mut url = url::Url::parse(url.expose()).unwrap();
    url.set_username(login).unwrap();
    url.set_password(None).unwrap();
    url.as_str().parse().unwrap()
}

/// A pool connected as `login`.
pub async fn pool_as(db: &TestDb, login: &str) -> PgPool {
    walletops::db::connect(
        &url_as(&db.url, login),
        walletops::db::PoolOptions {
            max_connections: 4,
            ..Default::default()
        },
    )
    .await
    .expect("connect as the login")
}

/// Makes `email` an operator with `role` and a login of its own (as the
/// database owner, through `operators add`), connected as that login.
pub async fn operator(db: &TestDb, email: &str, role: Role) -> Op {
    let login = login_name(db, email);
    admin::operators::add(&db.pool, email, role, Some(&login))
        .await
        .expect("add operator");
    let pool = pool_as(db, &login).await;
    let id = admin::identity::resolve_login(&pool)
        .await
        .expect("resolve the login's operator");
    Op {
        id,
        pool,
        url: url_as(&db.url, &login),
        login,
    }
}

/// An admin, an operator and a viewer, each with a login of its own.
pub async fn staff(db: &TestDb) -> (Op, Op, Op) {
    (
        operator(db, "admin@example.com", Role::Admin).await,
        operator(db, "ops@example.com", Role::Operator).await,
        operator(db, "viewer@example.com", Role::Viewer).await,
    )
}

/// A user (with a display name) owning one deposit wallet at `address(seed)`.
pub async fn wallet(pool: &PgPool, seed: u32, email: &str, name: &str) -> (Uuid, Uuid, String) {
    // As the owner through walletops (as a key import would), not plain SQL.
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SELECT walletops_act_owner()")
        .execute(&mut *tx)
        .await
        .unwrap();
    let user: Uuid = sqlx::query_scalar(
        "INSERT INTO auth.users (email, raw_user_meta_data) VALUES ($1, jsonb_build_object('name', $2::text))
         ON CONFLICT (email) DO UPDATE SET email = EXCLUDED.email RETURNING id",
    )
    .bind(email)
    .bind(name)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    let addr = address(seed);
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO user_wallets (user_id, address) VALUES ($1, $2) RETURNING id",
    )
    .bind(user)
    .bind(&addr)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    (id, user, addr)
}

/// Sets `policy.change_delay_seconds` as the database owner acting through
/// walletops (it is itself a money key, which only the owner may write
/// directly).
pub async fn set_delay(pool: &PgPool, seconds: i64) {
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SELECT walletops_act_owner()")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE system_config SET value = to_jsonb($1) WHERE key = 'policy.change_delay_seconds'",
    )
    .bind(seconds)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// A job in `status` inserted by plain SQL (as an old deployment would).
pub async fn job(pool: &PgPool, status: &str, job_type: &str, wallet_address: &str) -> Uuid {
    sqlx::query_scalar(
        "INSERT INTO job_logs (job_type, status, wallet_address, error_message,
                               finished_at, started_at, locked_until)
         VALUES ($1, $2, $3,
                 CASE WHEN $2 = 'failed' THEN 'boom' END,
                 CASE WHEN $2 IN ('completed', 'failed', 'cancelled') THEN now() END,
                 CASE WHEN $2 = 'processing' THEN now() END,
                 CASE WHEN $2 = 'processing' THEN now() + interval '5 minutes' END)
         RETURNING id",
    )
    .bind(job_type)
    .bind(status)
    .bind(wallet_address)
    .fetch_one(pool)
    .await
    .unwrap()
}

pub async fn audit_count(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM admin_actions")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// The newest audit row: (action_type, target_type, target_id, details).
pub async fn last_audit(pool: &PgPool) -> (String, String, Option<String>, serde_json::Value) {
    sqlx::query_as(
        "SELECT action_type, target_type, target_id, details FROM admin_actions
          ORDER BY seq DESC LIMIT 1",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

pub async fn count(pool: &PgPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

/// A LOGIN role of the test's own, member of `group`; dropped by [`LoginRole::drop_role`].
pub struct LoginRole {
    pub name: String,
    pub url: DatabaseUrl,
    server: DatabaseUrl,
}

impl LoginRole {
    pub async fn create(db_url: &DatabaseUrl, group: &str) -> Self {
        // Ends with the database's name, so that drop_stale drops it with
        // the database if the test does not.
        let database = url::Url::parse(db_url.expose()).unwrap().path()[1..].to_string();
        let name = format!(
            "wo_login_{}_{database}",
            &Uuid::new_v4().simple().to_string()[..6]
        );
        let password = Uuid::new_v4().simple().to_string();
        let mut conn = PgConnection::connect(db_url.expose()).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE ROLE {name} LOGIN PASSWORD '{password}' IN ROLE {group}"
        )))
        .execute(&mut conn)
        .await
        .unwrap();
        let mut url = url::Url::parse(db_url.expose()).unwrap();
        url.set_username(&name).unwrap();
        url.set_password(Some(&password)).unwrap();
        Self {
            name,
            url: url.as_str().parse().unwrap(),
            server: db_url.clone(),
        }
    }

    /// A connection as this role.
    pub async fn connect(&self) -> PgConnection {
        PgConnection::connect(self.url.expose()).await.unwrap()
    }

    pub async fn drop_role(self) {
        let mut conn = PgConnection::connect(self.server.expose()).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP ROLE IF EXISTS {}",
            self.name
        )))
        .execute(&mut conn)
        .await
        .unwrap();
    }
}

/// A pool for the API server, as `walletops serve` runs in production: a
/// shared `walletops_admin`-group login that is no operator, so that every
/// change must be proven by the caller's token. The login is dropped with
/// the test's database (`common::drop_stale`).
pub async fn serve_login(db: &TestDb) -> (LoginRole, PgPool) {
    let login = LoginRole::create(&db.url, "walletops_admin").await;
    let pool = walletops::db::connect(&login.url, Default::default())
        .await
        .expect("connect as the serve login");
    (login, pool)
}

/// An HTTP client for the tests (reqwest is built without a default TLS
/// provider; the project installs ring's).
pub fn http() -> reqwest::Client {
    walletops::tron::client::install_crypto_provider();
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Sets a runtime switch as the database owner, by plain SQL (the audit
/// trigger records it); the key must be one the migrations seed.
pub async fn set_config(pool: &PgPool, key: &str, value: serde_json::Value) {
    let n = sqlx::query("UPDATE system_config SET value = $2 WHERE key = $1")
        .bind(key)
        .bind(value)
        .execute(pool)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(n, 1, "{key} is seeded by the migrations");
}
