//! A lost database must not look healthy: the real binary, a read-only
//! console in a real terminal (tmux), on a PostgreSQL cluster of this
//! test's own (a fresh `WALLETOPS_PG_DIR` under /tmp, stopped at the end;
//! the shared server is never touched). Stopping that cluster under a
//! running console turns its badge into NO DATA within two seconds, and
//! starting it again brings the console back; a console started while the
//! cluster is down waits on its "cannot reach" screen and connects once the
//! cluster is up, and so does one over an API that is not up yet.

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::tmux::Tmux;
use walletops::config::DatabaseUrl;
use walletops::db::{self, PoolOptions, local::Cluster};

/// The test's own cluster, with walletops' tables, stopped on drop.
struct OwnCluster {
    cluster: Cluster,
    url: DatabaseUrl,
    state: PathBuf,
    _dir: tempfile::TempDir,
}

impl OwnCluster {
    async fn start(name: &str) -> Self {
        // Under /tmp and passable, so the postgres user can reach it when we are root.
        let dir = tempfile::Builder::new()
            .prefix(&format!("walletops-{name}-test-"))
            .tempdir_in("/tmp")
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let cluster = Cluster::at(dir.path().join("pg")).unwrap();
        let url = cluster
            .ensure_running()
            .await
            .expect("start the test's cluster");
        let pool = db::connect(&url, PoolOptions::default()).await.unwrap();
        db::migrate(&pool).await.expect("migrate");
        pool.close().await;
        Self {
            cluster,
            url,
            state: dir.path().join("state"),
            _dir: dir,
        }
    }

    fn stop(&self) {
        assert!(self.cluster.stop().expect("stop the test's cluster"));
    }

    async fn restart(&self) {
        self.cluster
            .ensure_running()
            .await
            .expect("start the test's cluster again");
    }

    /// `walletops console --read-only` on this cluster, in a terminal.
    fn console(&self, name: &str) -> Tmux {
        let command = format!(
            "env -u WALLETOPS_CONFIG -u WALLETOPS_OPERATOR -u WALLETOPS_MIGRATE -u WALLETOPS_LOG \
             NO_COLOR=1 LANG=C.UTF-8 DATABASE_URL='{}' XDG_STATE_HOME={} \
             XDG_CONFIG_HOME=/nonexistent-walletops-test-config {} console --read-only --refresh 5",
            self.url.expose(),
            self.state.display(),
            env!("CARGO_BIN_EXE_walletops"),
        );
        Tmux::start(name, 100, 30, &command)
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = self.cluster.stop();
    }
}

/// How long until `check` holds on the screen, polling every 20 ms; fails
/// with the screen after `limit`.
fn time_until(tmux: &Tmux, what: &str, limit: Duration, check: impl Fn(&str) -> bool) -> Duration {
    let start = Instant::now();
    loop {
        let screen = tmux.screen();
        if check(&screen) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "no {what} after {limit:?}; screen:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn live(screen: &str) -> bool {
    screen.contains("Queue depth") && screen.contains("connected") && !screen.contains("NO DATA")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_database_shows_no_data_within_two_seconds_and_recovers() {
    let own = OwnCluster::start("stale").await;
    let tmux = own.console("stale");
    time_until(&tmux, "live dashboard", Duration::from_secs(60), live);

    // The listener drops as the shutdown begins; `pg_ctl stop` returns
    // only after the checkpoint, so the screen is watched meanwhile.
    let seen = std::thread::scope(|scope| {
        let stop = scope.spawn(|| {
            let start = Instant::now();
            own.stop();
            start.elapsed()
        });
        let seen = time_until(&tmux, "NO DATA badge", Duration::from_secs(10), |s| {
            s.contains("NO DATA since")
        });
        let stopped = stop.join().unwrap();
        eprintln!("NO DATA shown {seen:?} after the stop began; pg_ctl stop took {stopped:?}");
        seen
    });
    assert!(seen < Duration::from_secs(2), "NO DATA took {seen:?}");
    let screen = tmux.screen();
    assert!(
        !screen.contains("OK Healthy"),
        "a lost database still looks healthy:\n{screen}"
    );

    own.restart().await;
    let back = time_until(&tmux, "recovery", Duration::from_secs(60), live);
    eprintln!("live again {back:?} after the restart");
    tmux.keys(&["q"]);
    let (_, status) = tmux.output(20);
    assert_eq!(status, "0");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_only_console_started_without_its_database_waits_for_it() {
    let own = OwnCluster::start("waits").await;
    own.stop();
    let tmux = own.console("waits");
    time_until(
        &tmux,
        "the cannot-reach screen",
        Duration::from_secs(30),
        |s| s.contains("Cannot reach the database, retrying"),
    );

    own.restart().await;
    let back = time_until(&tmux, "the dashboard", Duration::from_secs(60), live);
    eprintln!("connected {back:?} after the database came up");
    tmux.keys(&["q"]);
    let (_, status) = tmux.output(20);
    assert_eq!(status, "0");
}

/// Over the API too: a read-only console started before the API is up
/// waits for it, then shows the dashboard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_console_over_an_api_not_up_yet_waits_for_it() {
    let db = common::fresh_db().await;
    let oncall =
        common::admin::operator(&db, "wall@example.com", walletops::admin::Role::Admin).await;
    let token = common::api::token(&oncall, walletops::admin::Role::Viewer).await;
    // A free port, closed again: nothing listens there until the server starts.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let command = format!(
        "env -u DATABASE_URL NO_COLOR=1 LANG=C.UTF-8 WALLETOPS_TOKEN={token} \
         XDG_STATE_HOME={state} XDG_CONFIG_HOME=/nonexistent-walletops-test-config \
         {exe} console --api http://{addr} --read-only",
        state = dir.path().display(),
        exe = env!("CARGO_BIN_EXE_walletops"),
    );
    let tmux = tokio::task::spawn_blocking(move || {
        let tmux = Tmux::start("stale-api", 100, 30, &command);
        time_until(
            &tmux,
            "the cannot-reach screen",
            Duration::from_secs(30),
            |s| s.contains("Cannot reach the API, retrying"),
        );
        tmux
    })
    .await
    .unwrap();

    let (_, _stop) = common::api::serve(&db, addr, walletops::api::Limits::default()).await;
    tokio::task::spawn_blocking(move || {
        let back = time_until(&tmux, "the dashboard", Duration::from_secs(60), live);
        eprintln!("connected {back:?} after the API came up");
        tmux.keys(&["q"]);
        let (_, status) = tmux.output(20);
        assert_eq!(status, "0");
    })
    .await
    .unwrap();
}
