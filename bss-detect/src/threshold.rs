//! Owns the business-rule detector: fixed limits written in the
//! configuration ("a single data session over 50 GB", "more than 3 failed
//! payments in 10 minutes" when fed a count). It learns nothing; its score
//! is how far past the limit the value is, relative to the limit.

use serde::{Deserialize, Serialize};

use crate::{finite, Detector, Verdict};

/// The limits; at least one must be set.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThresholdParams {
    /// Anomalous when the value is above this.
    pub above: Option<f64>,
    /// Anomalous when the value is below this.
    pub below: Option<f64>,
}

impl ThresholdParams {
    pub fn validate(&self) -> Result<(), String> {
        match (self.above, self.below) {
            (None, None) => Err("a threshold needs `above`, `below` or both".into()),
            (Some(a), _) if !a.is_finite() => Err(format!("`above` = {a} is not a finite number")),
            (_, Some(b)) if !b.is_finite() => Err(format!("`below` = {b} is not a finite number")),
            (Some(a), Some(b)) if b > a => Err(format!(
                "`below` = {b} is over `above` = {a}: no value would be normal"
            )),
            _ => Ok(()),
        }
    }
}

/// Fixed limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    params: ThresholdParams,
    seen: u64,
}

impl Threshold {
    pub fn new(params: &ThresholdParams) -> Self {
        Threshold {
            params: params.clone(),
            seen: 0,
        }
    }
}

/// How far `x` is past `limit`, relative to the limit's size (at least 1).
fn past(x: f64, limit: f64) -> f64 {
    finite((x - limit).abs() / limit.abs().max(1.0))
}

impl Detector for Threshold {
    fn observe(&mut self, x: &[f64]) -> Verdict {
        self.seen = self.seen.saturating_add(1);
        let x = x[0];
        match (self.params.above, self.params.below) {
            (Some(a), _) if x > a => Verdict::of(past(x, a), true),
            (_, Some(b)) if x < b => Verdict::of(past(x, b), true),
            _ => Verdict::of(0.0, false),
        }
    }

    fn seen(&self) -> u64 {
        self.seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_only_values_past_a_limit() {
        let mut t = Threshold::new(&ThresholdParams {
            above: Some(50e9),
            below: None,
        });
        assert!(!t.observe(&[50e9]).anomalous, "the limit itself is normal");
        let v = t.observe(&[55e9]);
        assert!(v.anomalous);
        assert!((v.score - 0.1).abs() < 1e-9, "{v:?}");
        assert!(!t.observe(&[-1e12]).anomalous, "no lower limit set");

        let mut low = Threshold::new(&ThresholdParams {
            above: Some(3.0),
            below: Some(1.0),
        });
        assert!(low.observe(&[0.0]).anomalous);
        assert!(!low.observe(&[2.0]).anomalous);
        assert!(low.observe(&[4.0]).anomalous);
        assert_eq!(low.seen(), 3);
    }

    #[test]
    fn rejects_limits_that_make_no_sense() {
        assert!(ThresholdParams::default().validate().is_err());
        let inverted = ThresholdParams {
            above: Some(1.0),
            below: Some(2.0),
        };
        assert!(inverted
            .validate()
            .unwrap_err()
            .contains("no value would be normal"));
        let nan = ThresholdParams {
            above: Some(f64::NAN),
            below: None,
        };
        assert!(nan.validate().is_err());
    }
}
