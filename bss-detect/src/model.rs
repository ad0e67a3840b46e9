//! Owns the choice of algorithm: the `algorithm = "..."` of a configured
//! detector with its parameters ([`Algorithm`]), and the detector state it
//! builds ([`Model`]), one enum so that state saves and restores without
//! trait objects and dispatch stays a jump, not a virtual call.

use serde::{Deserialize, Serialize};

use crate::ewma::{Ewma, EwmaParams};
use crate::hst::{HalfSpaceTrees, HstParams};
use crate::iqr::{Iqr, IqrParams};
use crate::mad::{Mad, MadParams};
use crate::threshold::{Threshold, ThresholdParams};
use crate::zscore::{ZScore, ZScoreParams};
use crate::{Detector, Verdict};

/// An algorithm and its parameters, as configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "algorithm", rename_all = "snake_case")]
pub enum Algorithm {
    Zscore(ZScoreParams),
    Ewma(EwmaParams),
    Iqr(IqrParams),
    Mad(MadParams),
    HalfSpaceTrees(HstParams),
    Threshold(ThresholdParams),
}

impl Algorithm {
    /// The parameters' own checks, as a message naming the algorithm.
    pub fn validate(&self) -> Result<(), String> {
        let r = match self {
            Algorithm::Zscore(p) => p.validate(),
            Algorithm::Ewma(p) => p.validate(),
            Algorithm::Iqr(p) => p.validate(),
            Algorithm::Mad(p) => p.validate(),
            Algorithm::HalfSpaceTrees(p) => p.validate(),
            Algorithm::Threshold(p) => p.validate(),
        };
        r.map_err(|e| format!("{}: {e}", self.name()))
    }

    pub fn name(&self) -> &'static str {
        match self {
            Algorithm::Zscore(_) => "zscore",
            Algorithm::Ewma(_) => "ewma",
            Algorithm::Iqr(_) => "iqr",
            Algorithm::Mad(_) => "mad",
            Algorithm::HalfSpaceTrees(_) => "half_space_trees",
            Algorithm::Threshold(_) => "threshold",
        }
    }

    /// A fresh detector; `seed` makes a randomised model reproducible.
    pub fn build(&self, seed: u64) -> Model {
        match self {
            Algorithm::Zscore(p) => Model::Zscore(ZScore::new(p)),
            Algorithm::Ewma(p) => Model::Ewma(Ewma::new(p)),
            Algorithm::Iqr(p) => Model::Iqr(Iqr::new(p)),
            Algorithm::Mad(p) => Model::Mad(Mad::new(p)),
            Algorithm::HalfSpaceTrees(p) => {
                Model::HalfSpaceTrees(Box::new(HalfSpaceTrees::new(p, seed)))
            }
            Algorithm::Threshold(p) => Model::Threshold(Threshold::new(p)),
        }
    }
}

/// The state of one detector of one key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Model {
    Zscore(ZScore),
    Ewma(Ewma),
    Iqr(Iqr),
    Mad(Mad),
    HalfSpaceTrees(Box<HalfSpaceTrees>),
    Threshold(Threshold),
}

impl Detector for Model {
    fn observe(&mut self, x: &[f64]) -> Verdict {
        match self {
            Model::Zscore(d) => d.observe(x),
            Model::Ewma(d) => d.observe(x),
            Model::Iqr(d) => d.observe(x),
            Model::Mad(d) => d.observe(x),
            Model::HalfSpaceTrees(d) => d.observe(x),
            Model::Threshold(d) => d.observe(x),
        }
    }

    fn seen(&self) -> u64 {
        match self {
            Model::Zscore(d) => d.seen(),
            Model::Ewma(d) => d.seen(),
            Model::Iqr(d) => d.seen(),
            Model::Mad(d) => d.seen(),
            Model::HalfSpaceTrees(d) => d.seen(),
            Model::Threshold(d) => d.seen(),
        }
    }
}
