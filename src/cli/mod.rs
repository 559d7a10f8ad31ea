//! The command line: one binary, one subcommand per process kind or action.
//!
//! This is the edge where `anyhow` turns library errors into one clear line
//! on stderr and a non-zero exit code.

// Everything the CLI prints goes through [`clean`]: much of it is text other
// logins wrote (a worker's security event, an operator's audit row, a job's
// error), and an escape sequence in it must not drive the admin's terminal
// (erase lines, retitle it, or set its clipboard). These shadow the std
// macros in every module below.
macro_rules! println {
    () => { ::std::println!() };
    ($($arg:tt)*) => { ::std::print!("{}\n", $crate::cli::clean(&::std::format!($($arg)*))) };
}
macro_rules! print {
    ($($arg:tt)*) => { ::std::print!("{}", $crate::cli::clean(&::std::format!($($arg)*))) };
}
macro_rules! eprintln {
    () => { ::std::eprintln!() };
    ($($arg:tt)*) => { ::std::eprint!("{}\n", $crate::cli::clean(&::std::format!($($arg)*))) };
}

mod audit;
mod bench;
mod bench_costs;
mod bench_deposits;
mod config;
mod console;
mod console_api;
mod costs;
mod db;
mod demo;
mod deposits;
mod dispatch;
mod energy;
mod identity;
mod jobs;
mod operators;
mod policy;
mod proposals;
mod security;
mod serve;
mod signer;
mod signing;
mod status;
mod table;
mod tokens;
mod tron_sim;
mod wallet;
mod wiring;
mod worker;
mod workers;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory as _, Parser, Subcommand};

use crate::config::{Overrides, Secret, Settings};

#[derive(Debug, Parser)]
#[command(
    name = "walletops",
    version,
    about = "Back office of a custodial TRON wallet service: job queue, workers and operations console",
    long_about = None,
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Settings every subcommand shares. Secrets are read from the environment
/// or the config file only, never shown in `--help`.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Config file (TOML) [default: $XDG_CONFIG_HOME/walletops/config.toml]
    #[arg(long, global = true, env = "WALLETOPS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// PostgreSQL URL; without one, the local cluster is used
    #[arg(
        long,
        global = true,
        env = "DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub database_url: Option<String>,

    /// Apply pending migrations before running the command
    #[arg(long, global = true, env = "WALLETOPS_MIGRATE")]
    pub migrate: bool,

    /// Assert the operator acting (email): refused unless the database login is linked to it
    #[arg(long, global = true, env = "WALLETOPS_OPERATOR", value_name = "EMAIL")]
    pub operator: Option<String>,

    /// Log filter for stderr, e.g. info or walletops=debug [default: warn for
    /// serve, worker, signer and tron-sim; none for one-shot commands, whose
    /// error is the one `error:` line]
    #[arg(long, global = true, env = "WALLETOPS_LOG", value_name = "FILTER")]
    pub log: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply the database migrations
    Migrate,
    /// The local PostgreSQL cluster used when no database is configured
    Db {
        #[command(subcommand)]
        action: db::DbAction,
    },
    /// Health: exit 0 Healthy, 1 Degraded, 2 Down, 3 unknown
    Status(status::StatusArgs),
    /// What the chain charged mined transfers: per day and kind, TRX burned per sweep
    Costs(costs::CostsArgs),
    /// The energy pool that lends sweeps their energy: stake, status
    Energy {
        #[command(subcommand)]
        action: energy::EnergyAction,
    },
    /// The chain follower that finds deposits block by block: status, pending, rescan
    Deposits {
        #[command(subcommand)]
        action: deposits::DepositsAction,
    },
    /// Start or pause every worker
    Workers {
        #[command(subcommand)]
        action: workers::WorkersAction,
    },
    /// Queue a job for a wallet
    Dispatch(dispatch::DispatchArgs),
    /// List and maintain jobs
    Jobs {
        #[command(subcommand)]
        action: jobs::JobsAction,
    },
    /// The runtime switches in system_config
    Config {
        #[command(subcommand)]
        action: config::ConfigAction,
    },
    /// The audit trail of operator actions
    Audit(audit::AuditArgs),
    /// Who may act (needs the database owner's rights)
    Operators {
        #[command(subcommand)]
        action: operators::OperatorsAction,
    },
    /// API tokens for the HTTP API
    Tokens {
        #[command(subcommand)]
        action: tokens::TokensAction,
    },
    /// The HTTP admin API
    Serve(serve::ServeArgs),
    /// Run the worker engine (any number, on any hosts, against one database)
    Worker(worker::WorkerArgs),
    /// Benchmark the queue: one JSON line of enqueue, drain and pickup figures
    /// (`bench costs`: TRX burned per sweep in burn and delegate mode)
    Bench(bench::BenchArgs),
    /// The operations console (the default when a database is configured)
    Console(console::ConsoleArgs),
    /// Local database, TRON simulator, workers and seeded wallets, then the console
    /// (the default when no database is configured)
    Demo(demo::DemoArgs),
    /// Local simulator of the TRON full-node HTTP API
    TronSim(tron_sim::TronSimArgs),
    /// Wallet keys and addresses
    Wallet {
        #[command(subcommand)]
        action: wallet::WalletAction,
    },
    /// The funds policy file: write a starting one, or check one
    Policy {
        #[command(subcommand)]
        action: policy::PolicyAction,
    },
    /// Policy refusals and other security events: list and acknowledge
    Security {
        #[command(subcommand)]
        action: security::SecurityAction,
    },
    /// Sign for workers: holds the master key and the policy, keeps its own log
    Signer(signer::SignerArgs),
    /// Print the shell's completion script, e.g. `walletops completions bash > FILE`
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print the manual page (roff), e.g. `walletops man | man -l -`
    Man,
}

/// The shells completions are written for.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

impl GlobalArgs {
    /// Flags and environment, with the secrets that have no flag read from
    /// the environment here so that clap never prints them.
    fn overrides(&self) -> Overrides {
        let env_secret = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .map(Secret::new)
        };
        Overrides {
            config: self.config.clone(),
            database_url: self.database_url.clone().map(Secret::new),
            operator: self.operator.clone().filter(|v| !v.is_empty()),
            tron_api_url: std::env::var("TRON_API_URL").ok().filter(|v| !v.is_empty()),
            tron_api_key: env_secret("TRON_API_KEY"),
            master_key: env_secret("WALLET_MASTER_KEY"),
            master_key_file: std::env::var_os("WALLET_MASTER_KEY_FILE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        }
    }
}

/// Parses the command line, runs the command, and turns its outcome into an
/// exit code. Errors print as one line, without a backtrace.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let log_dir = match &cli.command {
        Some(Command::Worker(args)) => args.log_dir.clone(),
        Some(Command::Signer(args)) => args.log_dir.clone(),
        _ => None,
    };
    // The console draws on the terminal: it sets up its own log file.
    let console = matches!(
        cli.command,
        None | Some(Command::Console(_) | Command::Demo(_))
    );
    // Dropping the guard flushes the log file: it lives as long as main.
    let _log_guard = if console {
        None
    } else {
        // A one-shot command's failure is its `error:` line; a log line
        // saying the same just before it would only repeat it.
        let long_running = matches!(
            cli.command,
            Some(Command::Serve(_) | Command::Worker(_) | Command::Signer(_) | Command::TronSim(_))
        );
        let default = if long_running { "warn" } else { "off" };
        match init_logging(cli.global.log.as_deref().unwrap_or(default), log_dir) {
            Ok(guard) => guard,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    };

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", crate::db::one_line(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // Generated from the same definitions as `--help`; they need no settings.
    match cli.command {
        Some(Command::Completions { shell }) => {
            let shell = match shell {
                Shell::Bash => clap_complete::Shell::Bash,
                Shell::Zsh => clap_complete::Shell::Zsh,
                Shell::Fish => clap_complete::Shell::Fish,
            };
            // Written whole at the end: the generator panics on a write
            // error, and a reader such as `head` may close the pipe early.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "walletops", &mut script);
            return write_stdout(&script);
        }
        Some(Command::Man) => {
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command()).render(&mut page)?;
            return write_stdout(&page);
        }
        _ => {}
    }
    let settings = Settings::resolve(cli.global.overrides())?;
    match cli.command {
        Some(Command::Completions { .. } | Command::Man) => unreachable!("answered above"),
        // No command: the console, or the demo when there is no database to watch.
        None if settings.database_url.is_some() => {
            console::run(
                &settings,
                cli.global.migrate,
                console::ConsoleArgs::default(),
                &console_log_filter(cli.global.log.as_deref()),
            )
            .await
        }
        None => {
            let args = <demo::DemoArgs as Parser>::parse_from(["demo"]);
            demo::run(
                &settings,
                args,
                &console_log_filter(cli.global.log.as_deref()),
            )
            .await
        }
        Some(Command::Console(args)) => {
            console::run(
                &settings,
                cli.global.migrate,
                args,
                &console_log_filter(cli.global.log.as_deref()),
            )
            .await
        }
        Some(Command::Demo(args)) => {
            demo::run(
                &settings,
                args,
                &console_log_filter(cli.global.log.as_deref()),
            )
            .await
        }
        Some(Command::Migrate) => {
            db::connect(&settings, true).await?;
            println!("migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Db { action }) => db::run(action).await,
        Some(Command::Status(args)) => status::run(&settings, cli.global.migrate, args).await,
        Some(Command::Costs(args)) => costs::run(&settings, cli.global.migrate, args).await,
        Some(Command::Energy { action }) => {
            energy::run(&settings, cli.global.migrate, action).await
        }
        Some(Command::Deposits { action }) => {
            deposits::run(&settings, cli.global.migrate, action).await
        }
        Some(Command::Workers { action }) => {
            workers::run(&settings, cli.global.migrate, action).await
        }
        Some(Command::Dispatch(args)) => dispatch::run(&settings, cli.global.migrate, args).await,
        Some(Command::Jobs { action }) => jobs::run(&settings, cli.global.migrate, action).await,
        Some(Command::Config { action }) => {
            config::run(&settings, cli.global.migrate, action).await
        }
        Some(Command::Audit(args)) => audit::run(&settings, cli.global.migrate, args).await,
        Some(Command::Operators { action }) => {
            operators::run(&settings, cli.global.migrate, action).await
        }
        Some(Command::Tokens { action }) => {
            tokens::run(&settings, cli.global.migrate, action).await
        }
        Some(Command::Serve(args)) => serve::run(&settings, cli.global.migrate, args).await,
        Some(Command::Worker(args)) => worker::run(&settings, cli.global.migrate, args).await,
        Some(Command::Bench(args)) => bench::run(&settings, cli.global.migrate, args).await,
        Some(Command::Wallet { action }) => {
            wallet::run(action, &settings, cli.global.migrate).await
        }
        Some(Command::TronSim(args)) => tron_sim::run(args).await,
        Some(Command::Policy { action }) => policy::run(action),
        Some(Command::Security { action }) => {
            security::run(&settings, cli.global.migrate, action).await
        }
        Some(Command::Signer(args)) => signer::run(&settings, args).await,
    }
}

/// Writes generated text to stdout; a reader that stops early is not an error.
fn write_stdout(bytes: &[u8]) -> anyhow::Result<ExitCode> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// The console's log file keeps walletops' own info lines (actions,
/// refusals, reconnects) unless `--log` asks for something else.
fn console_log_filter(flag: Option<&str>) -> String {
    flag.unwrap_or("warn,walletops=info").to_string()
}

/// Logs to stderr, or to daily-rotated files `walletops.YYYY-MM-DD.log` in
/// `dir` (written by a background thread; the guard flushes it on drop).
fn init_logging(
    filter: &str,
    dir: Option<PathBuf>,
) -> Result<Option<tracing_appender::non_blocking::WorkerGuard>, String> {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("warn"));
    match dir {
        Some(dir) => {
            use tracing_appender::rolling::{RollingFileAppender, Rotation};
            let appender = RollingFileAppender::builder()
                .rotation(Rotation::DAILY)
                .filename_prefix("walletops")
                .filename_suffix("log")
                .build(&dir)
                .map_err(|e| format!("cannot write logs to {}: {e}", dir.display()))?;
            let (writer, guard) = tracing_appender::non_blocking(appender);
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_ansi(false)
                .with_writer(writer)
                .init();
            Ok(Some(guard))
        }
        None => {
            use std::io::IsTerminal as _;
            // Colour only for a person at a terminal: a pipe or a log file
            // would keep the escape codes as noise.
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_ansi(std::io::stderr().is_terminal())
                .with_writer(std::io::stderr)
                .init();
            Ok(None)
        }
    }
}

/// `text` with every control character but newline and tab shown escaped
/// (`\u{1b}`), so that printing it cannot drive a terminal.
pub(crate) fn clean(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}
