//! The blog's test report as plain numbers: test MSE, and correctness, the
//! share of test rows predicted within Hochreiter & Schmidhuber's 0.04.

use serde::Serialize;

/// Hochreiter & Schmidhuber's threshold: a prediction within 0.04 of the
/// target counts as correct.
pub const CORRECT_WITHIN: f64 = 0.04;

/// The blog's final report on the test set.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Evaluation {
    pub test_mse: f64,
    /// Share of test rows with |prediction - target| <= 0.04, in percent.
    pub correctness: f64,
    pub failures: i64,
    pub rows: i64,
    /// Targets and predictions of every test row.
    #[serde(skip)]
    pub targets: Vec<f32>,
    #[serde(skip)]
    pub predictions: Vec<f32>,
}

/// Within the threshold; a NaN prediction is never correct.
fn is_correct(prediction: f32, target: f32) -> bool {
    (prediction - target).abs() as f64 <= CORRECT_WITHIN
}

impl Evaluation {
    /// The report of `predictions` against `targets` (one per test row),
    /// whose MSE is `test_mse`.
    pub fn of(test_mse: f64, predictions: Vec<f32>, targets: Vec<f32>) -> Evaluation {
        let failures = predictions
            .iter()
            .zip(&targets)
            .filter(|(p, t)| !is_correct(**p, **t))
            .count() as i64;
        let rows = targets.len() as i64;
        let correctness = (rows - failures) as f64 / rows as f64 * 100.0;
        Evaluation {
            test_mse,
            correctness,
            failures,
            rows,
            targets,
            predictions,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_rows_within_the_threshold_and_never_a_nan() {
        let e = Evaluation::of(0.5, vec![0.0, 0.04, 0.05, f32::NAN], vec![0.0; 4]);
        assert_eq!((e.failures, e.rows), (2, 4));
        assert_eq!(e.correctness, 50.0);
    }
}
