//! The local PostgreSQL cluster: used when no database is configured.
//!
//! It runs from the server binaries installed on the machine, keeps its data
//! under `$XDG_DATA_HOME/walletops/pg` (or `WALLETOPS_PG_DIR`), and listens
//! only on a Unix socket in its own folder, never on TCP. Run as root, the
//! server runs as the `postgres` system user, so its folder must be one that
//! user can reach: `/var/lib/walletops/pg` unless told otherwise.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::config::{DatabaseUrl, xdg_dir};

/// The database walletops uses inside the local cluster (spelled out again in
/// the `CREATE DATABASE` statement, which takes a literal).
pub const DATABASE: &str = "walletops";
/// The demo's own database in this cluster, reset at every demo start.
pub const DEMO_DATABASE: &str = "walletops_demo";
/// The cluster's superuser.
const SUPERUSER: &str = "postgres";
/// Folder used by root when `WALLETOPS_PG_DIR` is not set.
const ROOT_DEFAULT_DIR: &str = "/var/lib/walletops/pg";

/// What can go wrong with the local cluster.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// No PostgreSQL server binaries were found.
    #[error(
        "no PostgreSQL server binaries found (looked for initdb and pg_ctl on PATH, through \
         pg_config --bindir, and in {searched}); install them (Debian/Ubuntu: \
         apt-get install postgresql) or set DATABASE_URL"
    )]
    NoBinaries { searched: String },
    /// Running as root needs the `postgres` system user to own the server.
    #[error(
        "running as root, the local cluster runs as the 'postgres' system user, which does not \
         exist; install the PostgreSQL server package or set DATABASE_URL"
    )]
    NoPostgresUser,
    /// The `postgres` user cannot reach the cluster's folder.
    #[error(
        "the 'postgres' user cannot reach {path} ({reason}); choose another folder with \
         WALLETOPS_PG_DIR"
    )]
    Unreachable { path: PathBuf, reason: String },
    /// No folder for the data could be chosen.
    #[error("cannot choose a folder for the local cluster: set WALLETOPS_PG_DIR or HOME")]
    NoHome,
    /// A file operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A server command failed.
    #[error("{command} failed: {detail} (server log: {log})")]
    Command {
        command: String,
        detail: String,
        log: PathBuf,
    },
    /// The server started but the database could not be prepared.
    #[error("local cluster is running but {0}")]
    Setup(String),
}

/// Whether the cluster is running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// `initdb` has not run yet.
    NotInitialised,
    Stopped,
    Running {
        pid: u32,
    },
}

/// The local cluster's places and the binaries that run it.
#[derive(Debug, Clone)]
pub struct Cluster {
    root: PathBuf,
    bindir: PathBuf,
    /// The system user the server runs as, when that is not us (running as root).
    owner: Option<nix::unistd::User>,
}

impl Cluster {
    /// The cluster at its default place (`WALLETOPS_PG_DIR`, else per user).
    pub fn locate() -> Result<Self, LocalError> {
        Self::at(default_root()?)
    }

    /// The cluster kept in `root`.
    pub fn at(root: impl Into<PathBuf>) -> Result<Self, LocalError> {
        let owner = if nix::unistd::geteuid().is_root() {
            let user = nix::unistd::User::from_name(SUPERUSER)
                .ok()
                .flatten()
                .ok_or(LocalError::NoPostgresUser)?;
            Some(user)
        } else {
            None
        };
        Ok(Self {
            root: root.into(),
            bindir: find_bindir()?,
            owner,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    pub fn socket_dir(&self) -> PathBuf {
        self.root.join("run")
    }

    pub fn log_file(&self) -> PathBuf {
        self.root.join("server.log")
    }

    /// The URL of walletops' database in this cluster (over the Unix socket).
    pub fn url(&self) -> DatabaseUrl {
        self.url_for(DATABASE)
    }

    /// The URL of another database in this cluster.
    pub fn url_for(&self, database: &str) -> DatabaseUrl {
        let mut url = url::Url::parse("postgres://localhost").expect("static URL");
        url.set_username(SUPERUSER).expect("URL has a host");
        url.set_path(&format!("/{database}"));
        url.query_pairs_mut()
            .append_pair("host", &self.socket_dir().to_string_lossy());
        url.as_str().parse().expect("a postgres URL built here")
    }

    /// Running, stopped, or never initialised.
    pub fn status(&self) -> Result<Status, LocalError> {
        if !self.data_dir().join("PG_VERSION").exists() {
            return Ok(Status::NotInitialised);
        }
        let out = self.run("pg_ctl", |c| {
            c.arg("status").arg("-D").arg(self.data_dir());
        })?;
        // pg_ctl status: 0 running, 3 not running, 4 no data directory.
        match out.status.code() {
            Some(0) => Ok(Status::Running {
                pid: self.pid().unwrap_or(0),
            }),
            _ => Ok(Status::Stopped),
        }
    }

    /// Initialises and starts the cluster unless it already runs, then makes
    /// sure walletops' database exists. Several processes may call this at
    /// once: a lock file lets one start the server and the others reuse it.
    pub async fn ensure_running(&self) -> Result<DatabaseUrl, LocalError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.start_blocking())
            .await
            .map_err(|e| LocalError::Setup(format!("start task failed: {e}")))??;
        self.ensure_database(DATABASE).await?;
        Ok(self.url())
    }

    /// Stops the server; `false` when it was not running.
    pub fn stop(&self) -> Result<bool, LocalError> {
        let _lock = self.lock()?;
        if !matches!(self.status()?, Status::Running { .. }) {
            return Ok(false);
        }
        self.run_checked("pg_ctl stop", "pg_ctl", |c| {
            c.args(["stop", "-w", "-t", "60", "-m", "fast", "-D"])
                .arg(self.data_dir());
        })?;
        Ok(true)
    }

    fn start_blocking(&self) -> Result<(), LocalError> {
        self.prepare_root()?;
        let _lock = self.lock()?;
        match self.status()? {
            Status::Running { .. } => return Ok(()),
            Status::NotInitialised => self.init()?,
            Status::Stopped => {}
        }
        self.run_checked("pg_ctl start", "pg_ctl", |c| {
            c.args(["start", "-w", "-t", "60", "-D"])
                .arg(self.data_dir())
                .arg("-l")
                .arg(self.log_file());
        })?;
        tracing::info!(root = %self.root.display(), "local PostgreSQL cluster started");
        Ok(())
    }

    fn init(&self) -> Result<(), LocalError> {
        let data = self.data_dir();
        // A failed earlier initdb leaves a partial folder that initdb refuses.
        if data.exists() {
            fs::remove_dir_all(&data).map_err(io("cannot remove partial data folder", &data))?;
        }
        self.run_checked("initdb", "initdb", |c| {
            c.arg("-D").arg(&data).args([
                "-U",
                SUPERUSER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
            ]);
        })?;
        // Unix socket in our own folder, no TCP: nothing else on the machine
        // collides with it, and nothing off the machine reaches it.
        let socket_dir = self.socket_dir().to_string_lossy().replace('\'', "''");
        let conf = data.join("postgresql.conf");
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(&conf)
            .map_err(io("cannot open", &conf))?;
        writeln!(
            f,
            "\n# walletops local cluster\nlisten_addresses = ''\n\
             unix_socket_directories = '{socket_dir}'\nmax_connections = 200\n\
             shared_buffers = 128MB"
        )
        .map_err(io("cannot write", &conf))?;
        Ok(())
    }

    /// Drops the database `name` (closing its sessions) and creates it
    /// empty: the demo starts from a clean slate each time.
    pub async fn reset_database(&self, name: &str) -> Result<(), LocalError> {
        use sqlx::Connection;
        check_database_name(name)?;
        let mut conn = sqlx::PgConnection::connect(self.url_for("postgres").expose())
            .await
            .map_err(|e| LocalError::Setup(format!("cannot connect: {e}")))?;
        // Checked to be a plain identifier: safe to splice in.
        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .map_err(|e| LocalError::Setup(format!("cannot drop database {name}: {e}")))?;
        self.ensure_database(name).await
    }

    /// Creates the database `name` in the running cluster unless it exists
    /// (the demo keeps its data in a database of its own). `name` must be a
    /// plain lower-case identifier.
    pub async fn ensure_database(&self, name: &str) -> Result<(), LocalError> {
        use sqlx::Connection;
        check_database_name(name)?;
        let url = self.url_for("postgres");
        let mut conn = sqlx::PgConnection::connect(url.expose())
            .await
            .map_err(|e| LocalError::Setup(format!("cannot connect: {e}")))?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(name)
                .fetch_one(&mut conn)
                .await
                .map_err(|e| LocalError::Setup(e.to_string()))?;
        if !exists {
            // Checked above to be a plain identifier: safe to splice in.
            let sql = format!("CREATE DATABASE {name}");
            let created = sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await;
            match created {
                Ok(_) => {}
                // Another process created it between our check and our create
                // (42P04, or 23505 when both inserts race in the catalogue).
                Err(sqlx::Error::Database(e))
                    if matches!(e.code().as_deref(), Some("42P04" | "23505")) => {}
                Err(e) => return Err(LocalError::Setup(format!("cannot create database: {e}"))),
            }
        }
        Ok(())
    }

    /// Creates the root and socket folders, owned by the server's user.
    fn prepare_root(&self) -> Result<(), LocalError> {
        for dir in [&self.root, &self.socket_dir()] {
            fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .map_err(io("cannot set permissions on", dir))?;
            if let Some(owner) = &self.owner {
                nix::unistd::chown(dir.as_path(), Some(owner.uid), Some(owner.gid)).map_err(
                    |e| LocalError::Io {
                        what: "cannot hand to the postgres user",
                        path: dir.clone(),
                        source: e.into(),
                    },
                )?;
            }
        }
        if let Some(owner) = &self.owner {
            check_reachable(&self.root, owner)?;
        }
        Ok(())
    }

    /// An exclusive lock on the cluster, held while it is started or stopped.
    fn lock(&self) -> Result<File, LocalError> {
        let path = self.root.join("lock");
        let file = File::create(&path).map_err(io("cannot create lock file", &path))?;
        file.lock().map_err(io("cannot lock", &path))?;
        Ok(file)
    }

    fn pid(&self) -> Option<u32> {
        let text = fs::read_to_string(self.data_dir().join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    /// Runs a server binary as the cluster's owner.
    fn run(&self, bin: &str, args: impl FnOnce(&mut Command)) -> Result<Output, LocalError> {
        let path = self.bindir.join(bin);
        let mut cmd = Command::new(&path);
        args(&mut cmd);
        // The server inherits this folder; the owner must be able to enter it.
        cmd.current_dir(&self.root);
        if let Some(owner) = &self.owner {
            cmd.uid(owner.uid.as_raw()).gid(owner.gid.as_raw());
            cmd.env("HOME", &owner.dir);
        }
        cmd.output().map_err(io("cannot run", &path))
    }

    fn run_checked(
        &self,
        name: &str,
        bin: &str,
        args: impl FnOnce(&mut Command),
    ) -> Result<Output, LocalError> {
        let out = self.run(bin, args)?;
        if out.status.success() {
            return Ok(out);
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        // The last line of stderr says why; stdout when stderr is empty.
        let detail = stderr
            .lines()
            .rev()
            .chain(stdout.lines().rev())
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("no output")
            .to_string();
        Err(LocalError::Command {
            command: name.to_string(),
            detail: format!("{} ({})", detail, out.status),
            log: self.log_file(),
        })
    }
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> LocalError + 'a {
    move |source| LocalError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

fn default_root() -> Result<PathBuf, LocalError> {
    if let Some(dir) = std::env::var_os("WALLETOPS_PG_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    if nix::unistd::geteuid().is_root() && std::env::var_os("XDG_DATA_HOME").is_none() {
        return Ok(PathBuf::from(ROOT_DEFAULT_DIR));
    }
    xdg_dir("XDG_DATA_HOME", ".local/share")
        .map(|d| d.join("walletops").join("pg"))
        .ok_or(LocalError::NoHome)
}

/// Database names spliced into SQL must be plain lower-case identifiers.
fn check_database_name(name: &str) -> Result<(), LocalError> {
    let plain = !name.is_empty()
        && name.len() < 64
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        Ok(())
    } else {
        Err(LocalError::Setup(format!(
            "database name {name:?} must be lower-case letters, digits and _"
        )))
    }
}

/// Every folder above `root` must let the postgres user pass through.
fn check_reachable(root: &Path, owner: &nix::unistd::User) -> Result<(), LocalError> {
    for dir in root.ancestors().skip(1) {
        let meta = fs::metadata(dir).map_err(io("cannot inspect", dir))?;
        let mode = meta.permissions().mode();
        use std::os::unix::fs::MetadataExt;
        let passable = mode & 0o001 != 0
            || (meta.uid() == owner.uid.as_raw() && mode & 0o100 != 0)
            || (meta.gid() == owner.gid.as_raw() && mode & 0o010 != 0);
        if !passable {
            return Err(LocalError::Unreachable {
                path: root.to_path_buf(),
                reason: format!("{} has mode {:o}", dir.display(), mode & 0o777),
            });
        }
    }
    Ok(())
}

/// Finds the folder holding `initdb` and `pg_ctl`.
fn find_bindir() -> Result<PathBuf, LocalError> {
    let has_server = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();

    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if has_server(&dir) {
                // Follow a symlinked initdb (Debian's /usr/bin wrappers) to the real folder.
                let real = fs::canonicalize(dir.join("initdb"))
                    .ok()
                    .and_then(|p| p.parent().map(Path::to_path_buf))
                    .filter(|d| has_server(d));
                return Ok(real.unwrap_or(dir));
            }
        }
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if has_server(&dir) {
            return Ok(dir);
        }
    }
    let patterns = [
        "/usr/lib/postgresql",
        "/usr/local/pgsql",
        "/opt/homebrew/opt",
        "/usr/local/opt",
    ];
    let mut found: Vec<(u32, PathBuf)> = Vec::new();
    for base in patterns {
        let Ok(entries) = fs::read_dir(base) else {
            continue;
        };
        for entry in entries.flatten() {
            let dir = entry.path().join("bin");
            let name = entry.file_name().to_string_lossy().into_owned();
            let version = name
                .trim_start_matches("postgresql@")
                .trim_start_matches("postgresql")
                .parse()
                .unwrap_or(0);
            if has_server(&dir) {
                found.push((version, dir));
            }
        }
    }
    // /usr/pgsql-15 (RPM layout)
    if let Ok(entries) = fs::read_dir("/usr") {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(v) = name.strip_prefix("pgsql-") {
                let dir = entry.path().join("bin");
                if has_server(&dir) {
                    found.push((v.parse().unwrap_or(0), dir));
                }
            }
        }
    }
    found.sort();
    found
        .pop()
        .map(|(_, d)| d)
        .ok_or_else(|| LocalError::NoBinaries {
            searched: patterns.join(", ") + ", /usr/pgsql-*",
        })
}
