//! `walletops serve [--listen ADDR] [limits]`: the HTTP admin API.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;

use crate::api::Limits;
use crate::config::Settings;
use crate::db::{self, PoolOptions};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; anything but loopback exposes the API to the network
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    listen: SocketAddr,

    /// A request's headers must arrive within this many seconds (from accept, or from the first byte of a kept-alive connection's next request)
    #[arg(long, value_name = "SECS", default_value_t = Limits::default().header_timeout.as_secs(), value_parser = seconds())]
    header_timeout: u64,

    /// A request's body must arrive within this many seconds
    #[arg(long, value_name = "SECS", default_value_t = Limits::default().body_timeout.as_secs(), value_parser = seconds())]
    body_timeout: u64,

    /// Close a kept-alive connection after this many seconds without a request, and one whose response moves no byte for as long
    #[arg(long, value_name = "SECS", default_value_t = Limits::default().idle_timeout.as_secs(), value_parser = seconds())]
    idle_timeout: u64,

    /// Answer 503 when a request takes longer than this many seconds (an event stream then runs on)
    #[arg(long, value_name = "SECS", default_value_t = Limits::default().request_timeout.as_secs(), value_parser = seconds())]
    request_timeout: u64,

    /// Connections served at once; more are answered 503 and closed
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_connections as u64, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    max_connections: u64,

    /// Event streams (/api/events) open at once; more are answered 503
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_event_streams as u64, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    max_event_streams: u64,
}

fn seconds() -> clap::builder::RangedU64ValueParser {
    clap::value_parser!(u64).range(1..=3600)
}

impl ServeArgs {
    fn limits(&self) -> Limits {
        Limits {
            header_timeout: Duration::from_secs(self.header_timeout),
            body_timeout: Duration::from_secs(self.body_timeout),
            idle_timeout: Duration::from_secs(self.idle_timeout),
            request_timeout: Duration::from_secs(self.request_timeout),
            // Bounded by the parser: the casts cannot truncate.
            max_connections: self.max_connections as usize,
            max_event_streams: self.max_event_streams as usize,
        }
    }
}

pub async fn run(settings: &Settings, migrate: bool, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let url = db::resolve_url(settings).await?;
    // A long-running server waits out a database restart rather than failing.
    let pool = db::connect(
        &url,
        PoolOptions {
            max_connections: 16,
            acquire_timeout: std::time::Duration::from_secs(30),
        },
    )
    .await?;
    if migrate {
        db::migrate(&pool).await?;
    }
    if !args.listen.ip().is_loopback() {
        tracing::warn!(listen = %args.listen, "the API listens beyond loopback, as asked");
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    eprintln!(
        "walletops API listening on http://{}",
        listener.local_addr()?
    );
    let stop = super::wiring::shutdown_signal(super::wiring::SecondSignal::Wait)?;
    crate::api::serve(listener, pool, args.limits(), stop).await?;
    Ok(ExitCode::SUCCESS)
}
