//! The HTTP admin API (`walletops serve`): the endpoints of the admin page
//! walletops replaced, over the `admin` module, plus health, metrics, live events and an OpenAPI
//! description. Every route but `/healthz` needs `Authorization: Bearer`.

mod auth;
mod body;
mod console;
mod error;
mod events;
mod handlers;
pub mod metrics;
mod openapi;
mod proposals;
mod server;

pub use events::Notice;
pub use openapi::document as openapi_document;
pub use server::Limits;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{MethodRouter, get, post};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, broadcast, watch};

use error::ApiError;

/// Largest request body accepted; every body here is a few fields.
pub const BODY_LIMIT: usize = 16 * 1024;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub events: broadcast::Sender<Notice>,
    /// Turns true when the server stops, so that endless event streams end
    /// and graceful shutdown does not wait on them.
    pub stopping: watch::Receiver<bool>,
    pub limits: Limits,
    /// One permit per event stream that may still open.
    pub event_streams: Arc<Semaphore>,
}

/// One route: the router and the OpenAPI document are both built from
/// [`ROUTES`], so neither can list a route the other lacks.
#[derive(Debug)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub operation_id: &'static str,
    pub summary: &'static str,
    /// Whether a bearer token is required.
    pub auth: bool,
    /// The request body's schema name, if it takes one.
    pub body_schema: Option<&'static str>,
    /// Query parameters: (name, description); all optional strings.
    pub params: &'static [(&'static str, &'static str)],
}

pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/healthz",
        operation_id: "healthz",
        summary: "The server answers (no auth, no data)",
        auth: false,
        body_schema: None,
        params: &[],
    },
    Route {
        method: "GET",
        path: "/metrics",
        operation_id: "metrics",
        summary: "Queue depth, throughput, failures and workers by state, in Prometheus text format",
        auth: true,
        body_schema: None,
        params: &[],
    },
    Route {
        method: "GET",
        path: "/api/events",
        operation_id: "events",
        summary: "Server-sent events: jobs, job-states, control, config, admin and proposal notifications",
        auth: true,
        body_schema: None,
        params: &[],
    },
    Route {
        method: "GET",
        path: "/api/openapi.json",
        operation_id: "openapi",
        summary: "This document",
        auth: true,
        body_schema: None,
        params: &[],
    },
    Route {
        method: "GET",
        path: "/api/workers/stats",
        operation_id: "workersStats",
        summary: "Health, queue depth by status and type, throughput, workers, last admin actions",
        auth: true,
        body_schema: None,
        params: &[],
    },
    Route {
        method: "POST",
        path: "/api/admin/workers/control",
        operation_id: "workersControl",
        summary: "Start or pause every worker (admin)",
        auth: true,
        body_schema: Some("WorkersControl"),
        params: &[],
    },
    Route {
        method: "POST",
        path: "/api/admin/dispatch-job",
        operation_id: "dispatchJob",
        summary: "Queue a job for a wallet (operator, admin)",
        auth: true,
        body_schema: Some("DispatchJob"),
        params: &[],
    },
    Route {
        method: "POST",
        path: "/api/admin/jobs/clear-failed",
        operation_id: "clearFailed",
        summary: "Delete every failed job (operator, admin); no body needed",
        auth: true,
        body_schema: Some("Empty"),
        params: &[],
    },
    Route {
        method: "GET",
        path: "/api/admin/config/proposals",
        operation_id: "configProposals",
        summary: "Open proposals to change keys that move money, with when each takes effect",
        auth: true,
        body_schema: None,
        params: &[],
    },
    Route {
        method: "POST",
        path: "/api/admin/config/proposals",
        operation_id: "configProposalStep",
        summary: "Propose a change to a key that moves money, or approve (a different admin) or cancel one (admin)",
        auth: true,
        body_schema: Some("ConfigProposalStep"),
        params: &[],
    },
    Route {
        method: "POST",
        path: "/api/admin/reset-processing",
        operation_id: "resetProcessing",
        summary: "Take back jobs past their lease and release wallets left processing (operator, admin); no body needed",
        auth: true,
        body_schema: Some("Empty"),
        params: &[],
    },
    Route {
        method: "GET",
        path: "/api/whoami",
        operation_id: "whoami",
        summary: "The token's name and role, and ui.refresh_seconds",
        auth: true,
        body_schema: None,
        params: &[],
    },
    Route {
        method: "GET",
        path: "/api/console/snapshot",
        operation_id: "consoleSnapshot",
        summary: "Everything the console shows, in one answer: health, workers, depth, jobs, audit (walletops console --api)",
        auth: true,
        body_schema: None,
        params: &[
            (
                "jobSearch",
                "also the newest jobs whose wallet address or user email starts with this",
            ),
            (
                "historyMinutes",
                "minutes of per-minute history (jobs finished, queue depth), 1 to 30; 30 when absent",
            ),
        ],
    },
    Route {
        method: "GET",
        path: "/api/wallets/search",
        operation_id: "searchWallets",
        summary: "Wallets whose address starts with q, or whose owner's email or name contains it (at most 20)",
        auth: true,
        body_schema: None,
        params: &[("q", "the search text; none finds nothing")],
    },
    Route {
        method: "GET",
        path: "/api/jobs/detail",
        operation_id: "jobDetail",
        summary: "One job explained: the row, every attempt that did not succeed (worker host:pid, start, end, error) and its transfers with the chain's answer",
        auth: true,
        body_schema: None,
        params: &[("id", "the job's full id")],
    },
    Route {
        method: "POST",
        path: "/api/admin/jobs/retry",
        operation_id: "retryJob",
        summary: "Put a failed or cancelled job back to pending (operator, admin)",
        auth: true,
        body_schema: Some("JobId"),
        params: &[],
    },
    Route {
        method: "POST",
        path: "/api/admin/jobs/cancel",
        operation_id: "cancelJob",
        summary: "Cancel a pending or processing job (operator, admin)",
        auth: true,
        body_schema: Some("JobId"),
        params: &[],
    },
    Route {
        method: "GET",
        path: "/api/admin/jobs/failures",
        operation_id: "jobFailures",
        summary: "Failed jobs: how many, and the largest groups by error (count, newest time, types)",
        auth: true,
        body_schema: None,
        params: &[("limit", "groups returned, 1 to 100 (default 20)")],
    },
    Route {
        method: "POST",
        path: "/api/admin/jobs/selection/count",
        operation_id: "countSelection",
        summary: "How many jobs a retry or cancel of this selection would change now, and how many matching ones it would leave alone",
        auth: true,
        body_schema: Some("SelectionCount"),
        params: &[],
    },
    Route {
        method: "POST",
        path: "/api/admin/jobs/selection/retry",
        operation_id: "retrySelection",
        summary: "Put every failed (or cancelled) job of the selection back to pending, one audit row (operator, admin); with expect, only if exactly that many match",
        auth: true,
        body_schema: Some("SelectionAction"),
        params: &[],
    },
    Route {
        method: "POST",
        path: "/api/admin/jobs/selection/cancel",
        operation_id: "cancelSelection",
        summary: "Cancel every pending job of the selection, one audit row (operator, admin); with expect, only if exactly that many match",
        auth: true,
        body_schema: Some("SelectionAction"),
        params: &[],
    },
];

fn handler(route: &Route) -> MethodRouter<AppState> {
    match route.operation_id {
        "healthz" => get(handlers::healthz),
        "metrics" => get(metrics::metrics),
        "events" => get(events::events),
        "openapi" => get(openapi::openapi),
        "workersStats" => get(handlers::workers_stats),
        "workersControl" => post(handlers::workers_control),
        "dispatchJob" => post(handlers::dispatch_job),
        "clearFailed" => post(handlers::clear_failed),
        "resetProcessing" => post(handlers::reset_processing),
        "configProposals" => get(proposals::list),
        "configProposalStep" => post(proposals::step),
        "whoami" => get(console::whoami),
        "consoleSnapshot" => get(console::snapshot),
        "searchWallets" => get(console::search_wallets),
        "jobDetail" => get(console::job_detail),
        "retryJob" => post(console::retry_job),
        "cancelJob" => post(console::cancel_job),
        "jobFailures" => get(console::job_failures),
        "countSelection" => post(console::count_selection),
        "retrySelection" => post(console::retry_selection),
        "cancelSelection" => post(console::cancel_selection),
        other => unreachable!("route {other} in ROUTES has no handler"),
    }
}

/// The application, with its state.
pub fn router(state: AppState) -> Router {
    ROUTES
        .iter()
        .fold(Router::new(), |r, route| {
            r.route(route.path, handler(route))
        })
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this route",
            )
        })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// Serves the API on `listener`, within `limits`, until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    pool: PgPool,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    match crate::admin::database_roles_enforced(&pool).await {
        Ok(true) => {}
        Ok(false) => tracing::warn!(
            "the walletops group roles do not exist on this database (managed service?): \
             only the application's own role checks apply"
        ),
        Err(e) => tracing::warn!(error = %e, "cannot tell whether database roles are enforced"),
    }
    let (events, _) = broadcast::channel(1024);
    let (stop, stopping) = watch::channel(false);
    let pump = tokio::spawn(events::pump(pool.clone(), events.clone()));
    let app = router(AppState {
        pool,
        events,
        stopping,
        limits,
        event_streams: Arc::new(Semaphore::new(limits.max_event_streams)),
    });
    let result = server::run(listener, app, limits, async move {
        shutdown.await;
        let _ = stop.send(true);
    })
    .await;
    pump.abort();
    result
}
