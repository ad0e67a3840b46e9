//! How well predictions match labels: per class precision, recall, F1 and
//! support, their unweighted mean (macro-F1), accuracy and the confusion
//! matrix. Owns only the arithmetic.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassScore {
    pub class: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// How many examples have this label.
    pub support: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scores {
    pub classes: Vec<ClassScore>,
    pub macro_f1: f64,
    pub accuracy: f64,
    /// `confusion[i][j]`: examples labelled `classes[i]` predicted `classes[j]`.
    pub confusion: Vec<Vec<usize>>,
}

impl Scores {
    /// Scores of `(label, predicted)` pairs over `classes` (labels or
    /// predictions outside them are counted under neither: callers pass
    /// every class there is).
    pub fn of(classes: &[String], pairs: &[(String, String)]) -> Scores {
        let index = |c: &str| classes.iter().position(|x| x == c);
        let n = classes.len();
        let mut confusion = vec![vec![0usize; n]; n];
        for (label, predicted) in pairs {
            if let (Some(i), Some(j)) = (index(label), index(predicted)) {
                confusion[i][j] += 1;
            }
        }
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let per: Vec<ClassScore> = (0..n)
            .map(|k| {
                let tp = confusion[k][k];
                let predicted: usize = (0..n).map(|i| confusion[i][k]).sum();
                let support: usize = confusion[k].iter().sum();
                let (p, r) = (ratio(tp, predicted), ratio(tp, support));
                ClassScore {
                    class: classes[k].clone(),
                    precision: p,
                    recall: r,
                    f1: if p + r == 0.0 {
                        0.0
                    } else {
                        2.0 * p * r / (p + r)
                    },
                    support,
                }
            })
            .collect();
        let correct: usize = (0..n).map(|k| confusion[k][k]).sum();
        Scores {
            macro_f1: per.iter().map(|c| c.f1).sum::<f64>() / n.max(1) as f64,
            accuracy: ratio(correct, pairs.len()),
            classes: per,
            confusion,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn a_hand_counted_case() {
        let classes = s(&["a", "b"]);
        // a: 3 labelled, 2 right; b: 1 labelled, 1 right, plus one wrong "b".
        let pairs: Vec<(String, String)> = [("a", "a"), ("a", "a"), ("a", "b"), ("b", "b")]
            .iter()
            .map(|(x, y)| (x.to_string(), y.to_string()))
            .collect();
        let sc = Scores::of(&classes, &pairs);
        assert_eq!(sc.confusion, vec![vec![2, 1], vec![0, 1]]);
        let a = &sc.classes[0];
        assert_eq!((a.precision, a.recall, a.support), (1.0, 2.0 / 3.0, 3));
        assert!((a.f1 - 0.8).abs() < 1e-12);
        let b = &sc.classes[1];
        assert_eq!((b.precision, b.recall), (0.5, 1.0));
        assert!((b.f1 - 2.0 / 3.0).abs() < 1e-12);
        assert!((sc.macro_f1 - (0.8 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
        assert_eq!(sc.accuracy, 0.75);
    }

    #[test]
    fn a_class_never_predicted_scores_zero_not_nan() {
        let classes = s(&["a", "b"]);
        let pairs = vec![("b".to_string(), "a".to_string())];
        let sc = Scores::of(&classes, &pairs);
        assert!(sc.classes.iter().all(|c| c.f1 == 0.0));
        assert_eq!(sc.macro_f1, 0.0);
    }
}
