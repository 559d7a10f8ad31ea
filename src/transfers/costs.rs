//! What mined transfers cost, summed from the receipts stored on their
//! records (migration 0020): per UTC day and kind for `walletops costs`,
//! and today and the trailing 7 days for the stats. A record counts on the
//! day it was resolved; one mined but failed on chain counts too (its TRX
//! is burned all the same).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgExecutor;

use super::TransferKind;
use crate::tron::Sun;

/// Sums over a set of mined transfers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CostTotals {
    /// Mined records.
    pub transfers: u64,
    /// Confirmed USDT consolidations: the sweeps, what burns energy. A
    /// wallet's TRX consolidation and its top-ups are costs of its sweep.
    pub sweeps: u64,
    /// All TRX burned (the receipts' `fee`), activations included.
    pub burned: Sun,
    pub energy_fee: Sun,
    pub net_fee: Sun,
    pub activation_fee: Sun,
    pub energy_total: u64,
    /// Energy from stake (own or delegated) rather than burned.
    pub energy_stake: u64,
    pub energy_burned: u64,
    pub net_usage: u64,
    /// Burned by the delegations' own transactions (delegate and reclaim):
    /// what delegating cost.
    pub delegation_burned: Sun,
}

impl CostTotals {
    fn add(&mut self, o: &CostTotals) {
        self.transfers += o.transfers;
        self.sweeps += o.sweeps;
        self.burned.0 += o.burned.0;
        self.energy_fee.0 += o.energy_fee.0;
        self.net_fee.0 += o.net_fee.0;
        self.activation_fee.0 += o.activation_fee.0;
        self.energy_total += o.energy_total;
        self.energy_stake += o.energy_stake;
        self.energy_burned += o.energy_burned;
        self.net_usage += o.net_usage;
        self.delegation_burned.0 += o.delegation_burned.0;
    }

    /// What was added since `earlier`, a snapshot of the same sums.
    pub fn since(&self, earlier: &CostTotals) -> CostTotals {
        let sun = |a: Sun, b: Sun| Sun(a.0.saturating_sub(b.0));
        CostTotals {
            transfers: self.transfers.saturating_sub(earlier.transfers),
            sweeps: self.sweeps.saturating_sub(earlier.sweeps),
            burned: sun(self.burned, earlier.burned),
            energy_fee: sun(self.energy_fee, earlier.energy_fee),
            net_fee: sun(self.net_fee, earlier.net_fee),
            activation_fee: sun(self.activation_fee, earlier.activation_fee),
            energy_total: self.energy_total.saturating_sub(earlier.energy_total),
            energy_stake: self.energy_stake.saturating_sub(earlier.energy_stake),
            energy_burned: self.energy_burned.saturating_sub(earlier.energy_burned),
            net_usage: self.net_usage.saturating_sub(earlier.net_usage),
            delegation_burned: sun(self.delegation_burned, earlier.delegation_burned),
        }
    }

    /// TRX burned per sweep: every transfer's burn (top-ups and TRX
    /// consolidations included) over the sweeps, without the one-time
    /// activations; `None` with no
    /// sweep. Rounded down to the sun.
    pub fn burned_per_sweep(&self) -> Option<Sun> {
        let recurring = self.burned.0.saturating_sub(self.activation_fee.0);
        (self.sweeps > 0).then(|| Sun(recurring / self.sweeps))
    }

    /// The burn equivalent and the saving at `energy_price`.
    pub fn priced(&self, energy_price: Sun) -> Priced {
        Priced::of(
            self.energy_total,
            self.energy_stake,
            self.delegation_burned,
            energy_price,
        )
    }
}

/// What the energy used is worth in TRX at one energy price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Priced {
    /// SUN per unit of energy.
    pub energy_price: Sun,
    /// What burning all the energy used would have cost.
    pub burn_equivalent: Sun,
    /// The energy from stake (own or delegated) at that price, less what
    /// the delegations' own transactions burned: the TRX not burned
    /// thanks to the pool. Negative when delegating cost more than it
    /// saved. In SUN.
    pub saving_sun: i64,
}

impl Priced {
    fn of(energy_total: u64, energy_stake: u64, delegation_burned: Sun, price: Sun) -> Priced {
        let value = |energy: u64| u128::from(energy) * u128::from(price.0);
        let clamp = |n: i128| i64::try_from(n).unwrap_or(if n < 0 { i64::MIN } else { i64::MAX });
        Priced {
            energy_price: price,
            burn_equivalent: Sun(u64::try_from(value(energy_total)).unwrap_or(u64::MAX)),
            saving_sun: clamp(
                i128::try_from(value(energy_stake)).unwrap_or(i128::MAX)
                    - i128::from(delegation_burned.0),
            ),
        }
    }
}

/// One UTC day's transfers of one kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CostRow {
    pub day: NaiveDate,
    pub kind: TransferKind,
    #[serde(flatten)]
    pub totals: CostTotals,
}

/// One UTC day, every kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CostDay {
    pub day: NaiveDate,
    #[serde(flatten)]
    pub totals: CostTotals,
    pub burned_per_sweep: Option<Sun>,
    /// At the current energy price; `None` until the workers have read it.
    pub priced: Option<Priced>,
}

/// `walletops costs`: rows per day and kind, then per day, then in all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CostReport {
    pub since: NaiveDate,
    pub rows: Vec<CostRow>,
    pub days: Vec<CostDay>,
    pub total: CostTotals,
    pub burned_per_sweep: Option<Sun>,
    pub priced: Option<Priced>,
}

impl CostReport {
    /// Prices every day and the total at `energy_price`.
    pub fn with_price(mut self, energy_price: Option<Sun>) -> CostReport {
        for d in &mut self.days {
            d.priced = energy_price.map(|p| d.totals.priced(p));
        }
        self.priced = energy_price.map(|p| self.total.priced(p));
        self
    }

    fn from_rows(since: NaiveDate, rows: Vec<CostRow>) -> CostReport {
        let mut days: Vec<CostDay> = Vec::new();
        let mut total = CostTotals::default();
        for r in &rows {
            total.add(&r.totals);
            match days.last_mut() {
                Some(d) if d.day == r.day => d.totals.add(&r.totals),
                _ => days.push(CostDay {
                    day: r.day,
                    totals: r.totals,
                    burned_per_sweep: None,
                    priced: None,
                }),
            }
        }
        for d in &mut days {
            d.burned_per_sweep = d.totals.burned_per_sweep();
        }
        CostReport {
            since,
            rows,
            days,
            burned_per_sweep: total.burned_per_sweep(),
            total,
            priced: None,
        }
    }
}

fn unsigned(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// The costs of transfers resolved on `since` (UTC) or later, by day then
/// kind.
pub async fn report(db: impl PgExecutor<'_>, since: NaiveDate) -> Result<CostReport, sqlx::Error> {
    let from = since.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
    let rows = sqlx::query!(
        r#"SELECT (date_trunc('day', resolved_at AT TIME ZONE 'UTC'))::date AS "day!",
                  kind AS "kind!: TransferKind",
                  count(*) AS "transfers!",
                  count(*) FILTER (WHERE status = 'confirmed' AND kind = 'consolidation-usdt')
                      AS "sweeps!",
                  coalesce(sum(fee_sun), 0)::bigint AS "burned!",
                  coalesce(sum(energy_fee_sun), 0)::bigint AS "energy_fee!",
                  coalesce(sum(net_fee_sun), 0)::bigint AS "net_fee!",
                  coalesce(sum(activation_fee_sun), 0)::bigint AS "activation_fee!",
                  coalesce(sum(energy_total), 0)::bigint AS "energy_total!",
                  coalesce(sum(energy_stake), 0)::bigint AS "energy_stake!",
                  coalesce(sum(energy_total - energy_stake), 0)::bigint AS "energy_burned!",
                  coalesce(sum(net_usage), 0)::bigint AS "net_usage!",
                  coalesce(sum(fee_sun) FILTER (WHERE kind LIKE 'energy-%'), 0)::bigint
                      AS "delegation_burned!"
             FROM transfers
            WHERE fee_sun IS NOT NULL AND resolved_at >= $1
            GROUP BY 1, 2
            ORDER BY 1, 2"#,
        from,
    )
    .fetch_all(db)
    .await?;
    let rows = rows
        .into_iter()
        .map(|r| CostRow {
            day: r.day,
            kind: r.kind,
            totals: CostTotals {
                transfers: unsigned(r.transfers),
                sweeps: unsigned(r.sweeps),
                burned: Sun(unsigned(r.burned)),
                energy_fee: Sun(unsigned(r.energy_fee)),
                net_fee: Sun(unsigned(r.net_fee)),
                activation_fee: Sun(unsigned(r.activation_fee)),
                energy_total: unsigned(r.energy_total),
                energy_stake: unsigned(r.energy_stake),
                energy_burned: unsigned(r.energy_burned),
                net_usage: unsigned(r.net_usage),
                delegation_burned: Sun(unsigned(r.delegation_burned)),
            },
        })
        .collect();
    Ok(CostReport::from_rows(since, rows))
}

/// What burning cost over one window of the stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CostWindow {
    pub since: DateTime<Utc>,
    pub sweeps: u64,
    /// All TRX burned, activations included.
    pub burned: Sun,
    pub activation_fee: Sun,
    pub energy_total: u64,
    pub energy_stake: u64,
    /// Without activations; `None` with no sweep.
    pub burned_per_sweep: Option<Sun>,
    /// Burned by the delegations' own transactions.
    #[serde(default)]
    pub delegation_burned: Sun,
    /// At the current energy price; `None` until the workers have read it.
    #[serde(default)]
    pub priced: Option<Priced>,
}

impl CostWindow {
    /// The window priced at `energy_price`.
    pub fn with_price(self, energy_price: Option<Sun>) -> CostWindow {
        CostWindow {
            priced: energy_price.map(|p| {
                Priced::of(
                    self.energy_total,
                    self.energy_stake,
                    self.delegation_burned,
                    p,
                )
            }),
            ..self
        }
    }
}

/// Today (UTC) and the trailing 7 days, in one pass over the index of
/// resolved costs: today started less than 7 days ago, so the week's rows
/// hold today's.
pub async fn recent(db: impl PgExecutor<'_>) -> Result<(CostWindow, CostWindow), sqlx::Error> {
    let r = sqlx::query!(
        r#"WITH bounds AS (
               SELECT date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS today,
                      now() - interval '7 days' AS week
           )
           SELECT b.today AS "today!", b.week AS "week!",
                  count(*) FILTER (WHERE t.resolved_at >= b.today AND t.status = 'confirmed'
                                     AND t.kind = 'consolidation-usdt')
                      AS "d_sweeps!",
                  coalesce(sum(t.fee_sun) FILTER (WHERE t.resolved_at >= b.today), 0)::bigint
                      AS "d_burned!",
                  coalesce(sum(t.activation_fee_sun) FILTER (WHERE t.resolved_at >= b.today), 0)::bigint
                      AS "d_activation!",
                  coalesce(sum(t.energy_total) FILTER (WHERE t.resolved_at >= b.today), 0)::bigint
                      AS "d_energy!",
                  coalesce(sum(t.energy_stake) FILTER (WHERE t.resolved_at >= b.today), 0)::bigint
                      AS "d_stake!",
                  coalesce(sum(t.fee_sun) FILTER (WHERE t.resolved_at >= b.today
                                                    AND t.kind LIKE 'energy-%'), 0)::bigint
                      AS "d_delegation!",
                  count(t.id) FILTER (WHERE t.status = 'confirmed' AND t.kind = 'consolidation-usdt')
                      AS "w_sweeps!",
                  coalesce(sum(t.fee_sun), 0)::bigint AS "w_burned!",
                  coalesce(sum(t.activation_fee_sun), 0)::bigint AS "w_activation!",
                  coalesce(sum(t.energy_total), 0)::bigint AS "w_energy!",
                  coalesce(sum(t.energy_stake), 0)::bigint AS "w_stake!",
                  coalesce(sum(t.fee_sun) FILTER (WHERE t.kind LIKE 'energy-%'), 0)::bigint
                      AS "w_delegation!"
             FROM bounds b
             LEFT JOIN transfers t
               ON t.fee_sun IS NOT NULL AND t.resolved_at >= b.week
            GROUP BY b.today, b.week"#,
    )
    .fetch_one(db)
    .await?;
    let window = |since, [sweeps, burned, activation, energy, stake, delegation]: [i64; 6]| {
        let totals = CostTotals {
            sweeps: unsigned(sweeps),
            burned: Sun(unsigned(burned)),
            activation_fee: Sun(unsigned(activation)),
            ..CostTotals::default()
        };
        CostWindow {
            since,
            sweeps: totals.sweeps,
            burned: totals.burned,
            activation_fee: totals.activation_fee,
            energy_total: unsigned(energy),
            energy_stake: unsigned(stake),
            burned_per_sweep: totals.burned_per_sweep(),
            delegation_burned: Sun(unsigned(delegation)),
            priced: None,
        }
    };
    Ok((
        window(
            r.today,
            [
                r.d_sweeps,
                r.d_burned,
                r.d_activation,
                r.d_energy,
                r.d_stake,
                r.d_delegation,
            ],
        ),
        window(
            r.week,
            [
                r.w_sweeps,
                r.w_burned,
                r.w_activation,
                r.w_energy,
                r.w_stake,
                r.w_delegation,
            ],
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        day: u32,
        kind: TransferKind,
        transfers: u64,
        sweeps: u64,
        burned: u64,
        activation: u64,
    ) -> CostRow {
        CostRow {
            day: NaiveDate::from_ymd_opt(2026, 12, day).unwrap(),
            kind,
            totals: CostTotals {
                transfers,
                sweeps,
                burned: Sun(burned),
                activation_fee: Sun(activation),
                energy_total: 64_000 * sweeps,
                ..CostTotals::default()
            },
        }
    }

    #[test]
    fn the_energy_is_priced_exactly_and_the_saving_is_net_of_delegating() {
        let totals = CostTotals {
            energy_total: 130_285,
            energy_stake: 128_000,
            delegation_burned: Sun(600_000),
            ..CostTotals::default()
        };
        assert_eq!(
            totals.priced(Sun(100)),
            Priced {
                energy_price: Sun(100),
                burn_equivalent: Sun(13_028_500),
                saving_sun: 12_200_000,
            }
        );
        // Delegating with nothing swept only costs.
        let idle = CostTotals {
            delegation_burned: Sun(600_000),
            ..CostTotals::default()
        };
        assert_eq!(idle.priced(Sun(100)).saving_sun, -600_000);
        let r = CostReport::from_rows(NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(), vec![])
            .with_price(None);
        assert_eq!(r.priced, None);
    }

    #[test]
    fn the_report_sums_per_day_and_in_all_and_averages_without_activations() {
        let since = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let r = CostReport::from_rows(
            since,
            vec![
                row(5, TransferKind::ConsolidationUsdt, 2, 2, 13_000_000, 0),
                row(5, TransferKind::GasTopup, 2, 0, 2_200_000, 1_000_000),
                row(6, TransferKind::GasTopup, 1, 0, 100_000, 0),
            ],
        );
        assert_eq!(r.days.len(), 2);
        assert_eq!(r.days[0].totals.transfers, 4);
        assert_eq!(r.days[0].totals.burned, Sun(15_200_000));
        // (15.2 - 1 activation) / 2 sweeps.
        assert_eq!(r.days[0].burned_per_sweep, Some(Sun(7_100_000)));
        assert_eq!(r.days[1].burned_per_sweep, None);
        assert_eq!(r.total.transfers, 5);
        assert_eq!(r.total.burned, Sun(15_300_000));
        assert_eq!(r.total.energy_total, 128_000);
        assert_eq!(r.burned_per_sweep, Some(Sun(7_150_000)));
    }
}
