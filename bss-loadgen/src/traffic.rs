//! Simulated traffic over days, as counts of each event type per minute:
//! the simulator's type mix (`simulator::MIX`) shaped by the hour of the day
//! as a telco's traffic is (usage follows people, tickets and shops follow
//! opening hours, billing runs at night), by the day of the week, by a
//! level that drifts from day to day, and by noise (bursts of a few minutes
//! and Poisson counting noise). For backtesting rate forecasts
//! (`bss-intel forecast`) without running the pipeline for weeks. Owns the
//! shapes; deterministic: the same seed and settings give the same counts.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::simulator::{Action, MIX, PAYMENT_FAILURE_SHARE};

/// Relative activity by hour of the day (0 to 23, local time), interpolated
/// between hours.
type Shape = [f64; 24];

/// Mobile usage: low at night, a plateau through the day, an evening peak.
const PEOPLE: Shape = [
    0.35, 0.25, 0.20, 0.18, 0.18, 0.22, 0.35, 0.55, 0.75, 0.85, 0.90, 0.95, 1.00, 0.97, 0.95, 0.95,
    0.97, 1.00, 1.00, 0.98, 0.95, 0.85, 0.70, 0.50,
];
/// Support and payments: office hours, a dip at lunch.
const OFFICE: Shape = [
    0.05, 0.03, 0.02, 0.02, 0.02, 0.05, 0.15, 0.50, 0.90, 1.00, 1.00, 0.95, 0.80, 0.90, 1.00, 0.95,
    0.90, 0.70, 0.50, 0.40, 0.30, 0.20, 0.12, 0.08,
];
/// Shops and sign-ups: late morning to evening.
const SHOPS: Shape = [
    0.02, 0.01, 0.01, 0.01, 0.01, 0.02, 0.05, 0.15, 0.40, 0.70, 0.90, 1.00, 1.00, 1.00, 1.00, 1.00,
    1.00, 0.95, 0.85, 0.70, 0.40, 0.15, 0.06, 0.03,
];
/// The billing run: invoices issued in the small hours.
const BILLING: Shape = [
    0.60, 1.00, 1.00, 1.00, 0.80, 0.30, 0.10, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05,
    0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.10, 0.30,
];

/// One event type's traffic: its share of events and when it happens.
struct Kind {
    event_type: &'static str,
    share: f64,
    shape: &'static Shape,
    /// Saturday and Sunday against a weekday.
    weekend: f64,
}

fn kinds() -> Vec<Kind> {
    let share = |a: Action| MIX.iter().find(|(x, _)| *x == a).map_or(0.0, |(_, s)| *s);
    let kind = |event_type, share, shape, weekend| Kind {
        event_type,
        share,
        shape,
        weekend,
    };
    vec![
        kind("usage.recorded", share(Action::Usage), &PEOPLE, 0.9),
        kind(
            "customer.created",
            share(Action::Onboard) / 2.0,
            &SHOPS,
            0.7,
        ),
        kind(
            "subscription.activated",
            share(Action::Onboard) / 2.0,
            &SHOPS,
            0.7,
        ),
        kind("subscription.cancelled", share(Action::Cancel), &SHOPS, 0.7),
        kind("invoice.issued", share(Action::Invoice), &BILLING, 1.0),
        kind(
            "payment.received",
            share(Action::Payment) * (1.0 - PAYMENT_FAILURE_SHARE),
            &OFFICE,
            0.6,
        ),
        kind(
            "payment.failed",
            share(Action::Payment) * PAYMENT_FAILURE_SHARE,
            &OFFICE,
            0.6,
        ),
        kind("ticket.opened", share(Action::Ticket), &OFFICE, 0.5),
    ]
}

/// The event types [`minute_counts`] gives, in its order.
pub fn event_types() -> Vec<&'static str> {
    kinds().iter().map(|k| k.event_type).collect()
}

/// What to simulate.
#[derive(Debug, Clone)]
pub struct TrafficConfig {
    pub seed: u64,
    pub days: u32,
    /// Events a minute of all types together at the busiest hour of an
    /// ordinary weekday.
    pub peak_per_minute: f64,
    /// Day of the week of day 0 (0 Monday to 6 Sunday).
    pub first_weekday: u32,
}

/// One minute's count of one type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinuteCount {
    /// Minutes from the start (midnight of day 0).
    pub minute: u32,
    pub event_type: &'static str,
    pub count: u64,
}

/// `shape` at `minute_of_day`, interpolated between whole hours.
fn at(shape: &Shape, minute_of_day: u32) -> f64 {
    let h = (minute_of_day / 60) as usize;
    let frac = f64::from(minute_of_day % 60) / 60.0;
    shape[h] * (1.0 - frac) + shape[(h + 1) % 24] * frac
}

/// A standard normal draw (Box-Muller).
fn normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A Poisson draw of mean `mean`: exact (Knuth) for small means, the normal
/// approximation for large ones.
fn poisson(rng: &mut impl Rng, mean: f64) -> u64 {
    if mean <= 0.0 {
        return 0;
    }
    if mean < 30.0 {
        let limit = (-mean).exp();
        let (mut k, mut p) = (0u64, 1.0);
        loop {
            p *= rng.random::<f64>();
            if p <= limit {
                return k;
            }
            k += 1;
        }
    }
    (mean + mean.sqrt() * normal(rng)).round().max(0.0) as u64
}

/// Every minute of every day, each type's count, in minute order (types in
/// [`event_types`] order within a minute).
pub fn minute_counts(cfg: &TrafficConfig) -> Vec<MinuteCount> {
    let kinds = kinds();
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    // The busiest weekday hour of the mix, to scale to peak_per_minute.
    let peak_mix = (0..1440)
        .map(|m| kinds.iter().map(|k| k.share * at(k.shape, m)).sum::<f64>())
        .fold(0.0, f64::max);
    let scale = cfg.peak_per_minute / peak_mix;
    let mut out = Vec::with_capacity((cfg.days * 1440) as usize * kinds.len());
    let mut level = 1.0f64;
    // A burst: a few minutes of one type at a multiple of its rate.
    let mut burst: Vec<(u32, f64)> = vec![(0, 1.0); kinds.len()];
    for day in 0..cfg.days {
        if day > 0 {
            // The level drifts: a random walk of about 3% a day, pulled back
            // towards 1 so it stays in a band.
            level = (level + 0.03 * normal(&mut rng) - 0.1 * (level - 1.0)).clamp(0.7, 1.3);
        }
        let weekend = (cfg.first_weekday + day) % 7 >= 5;
        for m in 0..1440 {
            let minute = day * 1440 + m;
            for (k, kind) in kinds.iter().enumerate() {
                let (until, factor) = &mut burst[k];
                if minute >= *until && rng.random_bool(1.0 / 2000.0) {
                    *until = minute + rng.random_range(2..10);
                    *factor = rng.random_range(1.2..1.8);
                }
                let bursting = if minute < *until { *factor } else { 1.0 };
                let day_factor = if weekend { kind.weekend } else { 1.0 };
                // Slower noise than counting: a few percent, per minute.
                let wobble = (0.03 * normal(&mut rng)).exp();
                let mean =
                    scale * kind.share * at(kind.shape, m) * day_factor * level * bursting * wobble;
                out.push(MinuteCount {
                    minute,
                    event_type: kind.event_type,
                    count: poisson(&mut rng, mean),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(seed: u64) -> TrafficConfig {
        TrafficConfig {
            seed,
            days: 7,
            peak_per_minute: 400_000.0,
            first_weekday: 0,
        }
    }

    fn per_type(counts: &[MinuteCount], ty: &str) -> Vec<u64> {
        counts
            .iter()
            .filter(|c| c.event_type == ty)
            .map(|c| c.count)
            .collect()
    }

    #[test]
    fn counts_follow_the_hour_of_day_the_week_and_the_mix_and_repeat_by_seed() {
        let counts = minute_counts(&config(3));
        assert_eq!(counts, minute_counts(&config(3)), "same seed, same counts");
        assert_ne!(counts, minute_counts(&config(4)));
        let types = event_types();
        assert_eq!(counts.len(), 7 * 1440 * types.len());
        let usage = per_type(&counts, "usage.recorded");
        let tickets = per_type(&counts, "ticket.opened");
        let hour = |series: &[u64], day: usize, h: usize| -> u64 {
            series[day * 1440 + h * 60..day * 1440 + (h + 1) * 60]
                .iter()
                .sum()
        };
        // Monday: usage at noon several times its 4 a.m.; tickets at 10 a.m.
        // far above 3 a.m.; Saturday's tickets well under Monday's.
        assert!(hour(&usage, 0, 12) > 4 * hour(&usage, 0, 4));
        assert!(hour(&tickets, 0, 10) > 20 * hour(&tickets, 0, 3));
        assert!(hour(&tickets, 5, 10) < hour(&tickets, 0, 10) * 7 / 10);
        // The mix: usage about 0.85 / 0.03 times the tickets over a week.
        let ratio = usage.iter().sum::<u64>() as f64 / tickets.iter().sum::<u64>() as f64;
        assert!((15.0..60.0).contains(&ratio), "usage/tickets {ratio}");
        // The busiest minute is about the peak asked for.
        let busiest = (0..7 * 1440)
            .map(|m| {
                counts[m * types.len()..(m + 1) * types.len()]
                    .iter()
                    .map(|c| c.count)
                    .sum::<u64>()
            })
            .max()
            .unwrap();
        assert!(
            (300_000..700_000).contains(&busiest),
            "busiest minute {busiest}"
        );
    }

    #[test]
    fn poisson_draws_have_the_mean_and_spread_asked_for() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for mean in [0.5, 4.0, 25.0, 1000.0] {
            let n = 20_000;
            let draws: Vec<f64> = (0..n).map(|_| poisson(&mut rng, mean) as f64).collect();
            let m = draws.iter().sum::<f64>() / n as f64;
            let var = draws.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n as f64;
            assert!(
                (m - mean).abs() < 0.05 * mean.max(1.0),
                "mean {m} for {mean}"
            );
            assert!(
                (var - mean).abs() < 0.1 * mean.max(1.0),
                "variance {var} for {mean}"
            );
        }
    }
}
