//! A run's test report as plain numbers and lines: the test loss, the
//! task's score (correctness, in percent: rows within Hochreiter &
//! Schmidhuber's 0.04 of the target, rows classified right, or copied
//! symbols recalled), and one predictions.csv line per test row.

/// Hochreiter & Schmidhuber's threshold: a prediction within 0.04 of the
/// target counts as correct.
pub const CORRECT_WITHIN: f64 = 0.04;

/// A run's report on its test set.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// The task's loss on the test rows (MSE for a value, cross-entropy for
    /// classes), and its name.
    pub test_loss: f64,
    pub loss_name: &'static str,
    /// The share of what is scored that is right, in percent.
    pub correctness: f64,
    /// How many scored things (rows, or copied symbols) are wrong.
    pub failures: i64,
    pub rows: i64,
    /// The last column's name in predictions.csv (after row, target, prediction).
    pub last_column: &'static str,
    /// One line per test row: target, prediction, and the last column.
    pub lines: Vec<[String; 3]>,
    /// The first rows as the console reports them.
    pub report: Vec<String>,
}

/// Within the threshold; a NaN prediction is never correct.
fn is_correct(prediction: f32, target: f32) -> bool {
    (prediction - target).abs() as f64 <= CORRECT_WITHIN
}

fn percent(failures: i64, scored: i64) -> f64 {
    (scored - failures) as f64 / scored as f64 * 100.0
}

impl Evaluation {
    /// A value per row: correct within 0.04; `test_mse` is their MSE.
    pub fn of(test_mse: f64, predictions: Vec<f32>, targets: Vec<f32>) -> Evaluation {
        let failures = predictions
            .iter()
            .zip(&targets)
            .filter(|(p, t)| !is_correct(**p, **t))
            .count() as i64;
        let rows = targets.len() as i64;
        let pairs = predictions.iter().zip(&targets);
        Evaluation {
            test_loss: test_mse,
            loss_name: "mse",
            correctness: percent(failures, rows),
            failures,
            rows,
            last_column: "abs_error",
            lines: pairs
                .clone()
                .map(|(p, t)| [t.to_string(), p.to_string(), (p - t).abs().to_string()])
                .collect(),
            report: pairs
                .take(5)
                .map(|(p, t)| format!("{t:.6}\t{p:.6}\tdiff: {:.6}", (p - t).abs()))
                .collect(),
        }
    }

    /// A class per row: right or wrong.
    pub fn classes(test_loss: f64, predicted: Vec<i64>, targets: Vec<i64>) -> Evaluation {
        let failures = predicted
            .iter()
            .zip(&targets)
            .filter(|(p, t)| p != t)
            .count() as i64;
        let rows = targets.len() as i64;
        let pairs = predicted.iter().zip(&targets);
        Evaluation {
            test_loss,
            loss_name: "cross-entropy",
            correctness: percent(failures, rows),
            failures,
            rows,
            last_column: "correct",
            lines: pairs
                .clone()
                .map(|(p, t)| [t.to_string(), p.to_string(), u8::from(p == t).to_string()])
                .collect(),
            report: pairs
                .take(5)
                .map(|(p, t)| format!("class {t}\tpredicted {p}"))
                .collect(),
        }
    }

    /// Symbols to recall per row (`targets[row]`, against `predicted[row]`):
    /// each symbol scores.
    pub fn recalls(test_loss: f64, predicted: Vec<Vec<i64>>, targets: Vec<Vec<i64>>) -> Evaluation {
        let text = |s: &[i64]| s.iter().map(i64::to_string).collect::<Vec<_>>().join(" ");
        let right = |p: &[i64], t: &[i64]| p.iter().zip(t).filter(|(a, b)| a == b).count() as i64;
        let scored: i64 = targets.iter().map(|t| t.len() as i64).sum();
        let failures = scored
            - predicted
                .iter()
                .zip(&targets)
                .map(|(p, t)| right(p, t))
                .sum::<i64>();
        let pairs = predicted.iter().zip(&targets);
        Evaluation {
            test_loss,
            loss_name: "cross-entropy",
            correctness: percent(failures, scored),
            failures,
            rows: targets.len() as i64,
            last_column: "recalled",
            lines: pairs
                .clone()
                .map(|(p, t)| [text(t), text(p), right(p, t).to_string()])
                .collect(),
            report: pairs
                .take(5)
                .map(|(p, t)| format!("{}\trecalled {}", text(t), text(p)))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_score_counts_what_its_task_scores() {
        let e = Evaluation::of(0.5, vec![0.0, 0.04, 0.05, f32::NAN], vec![0.0; 4]);
        assert_eq!((e.failures, e.rows, e.correctness), (2, 4, 50.0));
        let c = Evaluation::classes(1.0, vec![0, 1, 3, 3], vec![0, 1, 2, 3]);
        assert_eq!((c.failures, c.correctness), (1, 75.0));
        assert_eq!(c.lines[2], ["2".to_string(), "3".into(), "0".into()]);
        let r = Evaluation::recalls(
            0.1,
            vec![vec![1, 2, 3, 4], vec![5, 5, 5, 5]],
            vec![vec![1, 2, 3, 8], vec![5, 5, 5, 5]],
        );
        assert_eq!((r.failures, r.rows, r.correctness), (1, 2, 87.5));
        assert_eq!(
            r.lines[0],
            ["1 2 3 8".to_string(), "1 2 3 4".into(), "3".into()]
        );
    }
}
