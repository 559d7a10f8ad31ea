//! `walletops costs [--since DATE] [--json]`: what the chain charged the
//! mined transfers, per UTC day and kind, with TRX burned per sweep.

use std::process::ExitCode;

use chrono::{NaiveDate, Utc};
use clap::Args;

use super::identity::print_json;
use super::table::{Fit, Table};
use crate::admin::stats::{self, CostReport};
use crate::config::Settings;
use crate::tron::format_units;

#[derive(Debug, Args)]
pub struct CostsArgs {
    /// First UTC day reported, YYYY-MM-DD (default: 6 days before today)
    #[arg(long, value_name = "DATE")]
    since: Option<NaiveDate>,
    /// Print the report as one JSON object
    #[arg(long)]
    json: bool,
    /// Every column, whatever the width
    #[arg(long)]
    wide: bool,
}

pub async fn run(settings: &Settings, migrate: bool, args: CostsArgs) -> anyhow::Result<ExitCode> {
    let since = args
        .since
        .unwrap_or_else(|| Utc::now().date_naive() - chrono::Days::new(6));
    let pool = super::db::connect(settings, migrate).await?;
    let report = stats::cost_report(&pool, since).await?;
    if args.json {
        print_json(&report)?;
    } else if report.rows.is_empty() {
        println!("no mined transfers since {since}");
    } else {
        print_report(&report, Fit::detect(args.wide));
    }
    Ok(ExitCode::SUCCESS)
}

fn print_report(r: &CostReport, fit: Fit) {
    let mut t = Table::new(fit)
        .key("DAY")
        .column("KIND")
        .number("COUNT")
        .number("TRX BURNED")
        .number("ENERGY")
        .number("BURNED ENERGY")
        .shown_from(100)
        .number("BANDWIDTH")
        .shown_from(100)
        .number("PER SWEEP");
    let dash = || "-".to_string();
    for day in &r.days {
        for row in r.rows.iter().filter(|row| row.day == day.day) {
            t.row([
                row.day.to_string(),
                row.kind.to_string(),
                row.totals.transfers.to_string(),
                row.totals.burned.to_string(),
                row.totals.energy_total.to_string(),
                row.totals.energy_burned.to_string(),
                row.totals.net_usage.to_string(),
                dash(),
            ]);
        }
        t.row([
            day.day.to_string(),
            "all".to_string(),
            day.totals.transfers.to_string(),
            day.totals.burned.to_string(),
            day.totals.energy_total.to_string(),
            day.totals.energy_burned.to_string(),
            day.totals.net_usage.to_string(),
            day.burned_per_sweep.map_or_else(dash, |s| s.to_string()),
        ]);
    }
    let total = &r.total;
    t.row([
        format!("since {}", r.since),
        "total".to_string(),
        total.transfers.to_string(),
        total.burned.to_string(),
        total.energy_total.to_string(),
        total.energy_burned.to_string(),
        total.net_usage.to_string(),
        r.burned_per_sweep.map_or_else(dash, |s| s.to_string()),
    ]);
    t.print();
    println!(
        "{} sweeps; activations {} (not in PER SWEEP)",
        total.sweeps, total.activation_fee
    );
    match &r.priced {
        Some(p) => println!(
            "at the current energy price ({} per energy): burning all that energy would have \
             cost {}; saved {}",
            format_units(p.energy_price.0.into(), 0, "SUN"),
            p.burn_equivalent,
            format_units(p.saving_sun.into(), 6, "TRX")
        ),
        None => {
            println!("burn equivalent unknown: no running worker has read the energy price yet")
        }
    }
}
