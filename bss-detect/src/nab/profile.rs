//! Owns NAB's application profiles (`config/profiles.json`): the weights of a
//! true positive, a false positive and a false negative that make a score.
//! It must never hold a weight of its own; the committed subset carries
//! NAB's file unchanged.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::error::NabError;

/// One profile's weights, NAB's `CostMatrix`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostMatrix {
    /// What detecting a window at its very start earns.
    #[serde(rename = "tpWeight")]
    pub tp_weight: f64,
    /// What a false positive far from any window costs.
    #[serde(rename = "fpWeight")]
    pub fp_weight: f64,
    /// What missing a window costs.
    #[serde(rename = "fnWeight")]
    pub fn_weight: f64,
    /// Read from the file but unused: NAB scores true negatives 0.
    #[serde(rename = "tnWeight")]
    pub tn_weight: f64,
}

/// A named profile (`standard`, `reward_low_FP_rate`, `reward_low_FN_rate`).
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub name: String,
    pub cost: CostMatrix,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileEntry {
    #[serde(rename = "CostMatrix")]
    cost: CostMatrix,
}

/// The profiles of a NAB `profiles.json`, in name order.
pub fn load_profiles(path: &Path) -> Result<Vec<Profile>, NabError> {
    let text = std::fs::read_to_string(path).map_err(|source| NabError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let entries: BTreeMap<String, ProfileEntry> =
        serde_json::from_str(&text).map_err(|source| NabError::Json {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(entries
        .into_iter()
        .map(|(name, e)| Profile { name, cost: e.cost })
        .collect())
}

/// The profiles committed with the subset.
pub fn load_committed_profiles() -> Result<Vec<Profile>, NabError> {
    load_profiles(&super::corpus::committed_subset_dir().join("profiles.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_profiles_are_nabs_three() {
        let profiles = load_committed_profiles().expect("profiles.json loads");
        let got: Vec<(&str, f64, f64, f64)> = profiles
            .iter()
            .map(|p| {
                (
                    p.name.as_str(),
                    p.cost.tp_weight,
                    p.cost.fp_weight,
                    p.cost.fn_weight,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("reward_low_FN_rate", 1.0, 0.11, 2.0),
                ("reward_low_FP_rate", 1.0, 0.22, 1.0),
                ("standard", 1.0, 0.11, 1.0),
            ]
        );
    }
}
