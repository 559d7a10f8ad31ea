//! `GET /metrics`: the stats in Prometheus' text format.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
use crate::admin::health::Status;
use crate::admin::stats::{self, Priced, Stats};
use crate::admin::{JobStatus, Permission, StatusCounts, WorkerState};

pub async fn metrics(
    State(state): State<AppState>,
    Caller(identity): Caller,
) -> Result<Response, ApiError> {
    identity.authorize(Permission::Read)?;
    let stats = stats::snapshot(&state.pool).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render(&stats),
    )
        .into_response())
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// The exposition text; label values are fixed words, so need no escaping.
pub fn render(s: &Stats) -> String {
    let mut out = String::new();
    family(
        &mut out,
        "walletops_jobs",
        "gauge",
        "Jobs by status and type.",
    );
    for (job_type, c) in &s.counts.by_type {
        for (status, n) in by_status(c) {
            let _ = writeln!(
                out,
                "walletops_jobs{{status=\"{status}\",type=\"{job_type}\"}} {n}"
            );
        }
    }
    family(
        &mut out,
        "walletops_jobs_finished",
        "gauge",
        "Jobs finished within the trailing window, by outcome.",
    );
    for t in &s.throughput {
        for (outcome, n) in [
            (JobStatus::Completed, t.completed),
            (JobStatus::Failed, t.failed),
        ] {
            let _ = writeln!(
                out,
                "walletops_jobs_finished{{window_seconds=\"{}\",outcome=\"{outcome}\"}} {n}",
                t.window_seconds
            );
        }
    }
    family(
        &mut out,
        "walletops_workers",
        "gauge",
        "Worker processes with a fresh heartbeat, by state.",
    );
    let running = WorkerState::ALL
        .iter()
        .filter(|st| **st != WorkerState::Stopped);
    for &state in running {
        let n = s
            .workers
            .iter()
            .filter(|w| w.live && w.state == state)
            .count();
        let _ = writeln!(out, "walletops_workers{{state=\"{state}\"}} {n}");
    }
    let dead = s
        .workers
        .iter()
        .filter(|w| !w.live && w.state != WorkerState::Stopped)
        .count();
    family(
        &mut out,
        "walletops_workers_dead",
        "gauge",
        "Unstopped workers whose heartbeat is stale.",
    );
    let _ = writeln!(out, "walletops_workers_dead {dead}");
    let v = &s.health.vitals;
    family(
        &mut out,
        "walletops_paused",
        "gauge",
        "1 when the workers are paused.",
    );
    let _ = writeln!(out, "walletops_paused {}", u8::from(v.paused));
    family(
        &mut out,
        "walletops_oldest_pending_seconds",
        "gauge",
        "Age of the oldest due pending job.",
    );
    let _ = writeln!(
        out,
        "walletops_oldest_pending_seconds {}",
        v.oldest_pending_seconds.unwrap_or(0)
    );
    family(
        &mut out,
        "walletops_stuck_jobs",
        "gauge",
        "Processing jobs past their lease.",
    );
    let _ = writeln!(out, "walletops_stuck_jobs {}", v.stuck_jobs);
    let audit = &v.audit;
    if let Some(head) = &audit.head {
        family(
            &mut out,
            "walletops_audit_head_seq",
            "gauge",
            "Position of the newest audit row; its hash is the label of walletops_audit_head.",
        );
        let _ = writeln!(out, "walletops_audit_head_seq {}", head.seq);
        family(
            &mut out,
            "walletops_audit_head",
            "gauge",
            "1, labelled with the newest audit row's seq and hash (keep it elsewhere).",
        );
        // The hash is hex: no escaping needed.
        let _ = writeln!(
            out,
            "walletops_audit_head{{seq=\"{}\",hash=\"{}\"}} 1",
            head.seq, head.hash
        );
    }
    family(
        &mut out,
        "walletops_audit_chain_ok",
        "gauge",
        "1 when the audit trail's hash chain verifies.",
    );
    let _ = writeln!(
        out,
        "walletops_audit_chain_ok {}",
        u8::from(audit.broken.is_none())
    );
    family(
        &mut out,
        "walletops_audit_unacknowledged",
        "gauge",
        "Changes made outside walletops that no admin has acknowledged.",
    );
    let _ = writeln!(
        out,
        "walletops_audit_unacknowledged {}",
        audit.unacknowledged
    );
    family(
        &mut out,
        "walletops_security_events_unacknowledged",
        "gauge",
        "Policy refusals no admin has acknowledged (health is Down while above 0).",
    );
    let _ = writeln!(
        out,
        "walletops_security_events_unacknowledged {}",
        v.unacknowledged_security_events
    );
    if let Some(d) = &v.deposits {
        family(
            &mut out,
            "walletops_deposits_following",
            "gauge",
            "1 when a worker follows the chain for deposits (deposits.enabled).",
        );
        let _ = writeln!(
            out,
            "walletops_deposits_following {}",
            u8::from(d.following)
        );
        family(
            &mut out,
            "walletops_deposits_lag_blocks",
            "gauge",
            "Solidified blocks the chain follower has not recorded yet.",
        );
        let _ = writeln!(
            out,
            "walletops_deposits_lag_blocks {}",
            d.lag_blocks.unwrap_or(0)
        );
        family(
            &mut out,
            "walletops_deposits_lag_seconds",
            "gauge",
            "Seconds from the follower's last recorded block to now.",
        );
        let _ = writeln!(
            out,
            "walletops_deposits_lag_seconds {}",
            d.lag_seconds.unwrap_or(0)
        );
        family(
            &mut out,
            "walletops_deposits_block",
            "gauge",
            "The last block whose deposits are recorded.",
        );
        let _ = writeln!(
            out,
            "walletops_deposits_block {}",
            d.block_number.unwrap_or(0)
        );
    }
    family(
        &mut out,
        "walletops_trx_burned_sun",
        "gauge",
        "SUN the chain burned for mined transfers (fees, activations included), by window.",
    );
    let windows = [("today", &s.costs.today), ("7d", &s.costs.last_7_days)];
    for (window, c) in windows {
        let _ = writeln!(
            out,
            "walletops_trx_burned_sun{{window=\"{window}\"}} {}",
            c.burned.0
        );
    }
    family(
        &mut out,
        "walletops_sweeps_mined",
        "gauge",
        "USDT consolidations confirmed on chain (sweeps), by window.",
    );
    for (window, c) in windows {
        let _ = writeln!(
            out,
            "walletops_sweeps_mined{{window=\"{window}\"}} {}",
            c.sweeps
        );
    }
    family(
        &mut out,
        "walletops_trx_burned_per_sweep_sun",
        "gauge",
        "SUN burned per sweep (its top-ups included, activations not), by window; absent with no sweep.",
    );
    for (window, c) in windows {
        if let Some(per) = c.burned_per_sweep {
            let _ = writeln!(
                out,
                "walletops_trx_burned_per_sweep_sun{{window=\"{window}\"}} {}",
                per.0
            );
        }
    }
    family(
        &mut out,
        "walletops_energy_used",
        "gauge",
        "Energy mined transfers used, by window and source (stake: own or delegated; burned: bought with TRX).",
    );
    for (window, c) in windows {
        for (source, n) in [
            ("stake", c.energy_stake),
            ("burned", c.energy_total.saturating_sub(c.energy_stake)),
        ] {
            let _ = writeln!(
                out,
                "walletops_energy_used{{window=\"{window}\",source=\"{source}\"}} {n}"
            );
        }
    }
    energy_metrics(&mut out, s);
    family(
        &mut out,
        "walletops_health",
        "gauge",
        "1 for the current health status.",
    );
    for status in [Status::Healthy, Status::Degraded, Status::Down] {
        let on = u8::from(s.health.health.status == status);
        let _ = writeln!(out, "walletops_health{{status=\"{status:?}\"}} {on}");
    }
    out
}

/// One figure of a priced window, as a metric's value.
type PricedFigure = fn(&Priced) -> i128;

/// The energy price and pool as the workers last read them, and the
/// windows priced at it; absent until a worker has read them.
fn energy_metrics(out: &mut String, s: &Stats) {
    let Some(energy) = &s.costs.energy else {
        return;
    };
    let windows = [("today", &s.costs.today), ("7d", &s.costs.last_7_days)];
    family(
        out,
        "walletops_energy_price_sun",
        "gauge",
        "SUN per unit of energy (the chain parameter getEnergyFee), as last read.",
    );
    let _ = writeln!(out, "walletops_energy_price_sun {}", energy.energy_price.0);
    let priced: [(&str, PricedFigure, &str); 2] = [
        (
            "walletops_burn_equivalent_sun",
            |p| p.burn_equivalent.0.into(),
            "SUN that burning all the energy mined transfers used would have cost at the current price, by window.",
        ),
        (
            "walletops_energy_saving_sun",
            |p| p.saving_sun.into(),
            "SUN not burned thanks to staked or delegated energy, less what the delegations burned, by window.",
        ),
    ];
    for (name, value, help) in priced {
        family(out, name, "gauge", help);
        for (window, c) in windows {
            if let Some(p) = &c.priced {
                let _ = writeln!(out, "{name}{{window=\"{window}\"}} {}", value(p));
            }
        }
    }
    let Some(pool) = &energy.pool else {
        return;
    };
    family(
        out,
        "walletops_energy_pool_available",
        "gauge",
        "Energy the pool has available now.",
    );
    let _ = writeln!(
        out,
        "walletops_energy_pool_available {}",
        pool.energy_available()
    );
    family(
        out,
        "walletops_energy_pool_delegated_sun",
        "gauge",
        "Staked SUN whose energy the pool lends out now.",
    );
    let _ = writeln!(
        out,
        "walletops_energy_pool_delegated_sun {}",
        pool.delegated_out.0
    );
    family(
        out,
        "walletops_energy_pool_oldest_delegation_seconds",
        "gauge",
        "Seconds since the pool's oldest delegation was first seen; 0 with none.",
    );
    let oldest = pool.oldest_delegation().map_or(0, |d| {
        (energy.observed_at - d.since).num_seconds() + energy.age_seconds
    });
    let _ = writeln!(
        out,
        "walletops_energy_pool_oldest_delegation_seconds {}",
        oldest.max(0)
    );
}

fn by_status(c: &StatusCounts) -> [(JobStatus, i64); 5] {
    [
        (JobStatus::Pending, c.pending),
        (JobStatus::Processing, c.processing),
        (JobStatus::Completed, c.completed),
        (JobStatus::Failed, c.failed),
        (JobStatus::Cancelled, c.cancelled),
    ]
}
