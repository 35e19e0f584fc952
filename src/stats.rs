//! Statistics over seeds, the one copy used by `reproduce`, `aggregate`
//! and anything later. Outcomes here are skewed and often bimodal (a seed
//! escapes the LSTM's plateau in time or it does not), so every set is
//! described by its median and interquartile range, its mean with a 95 %
//! bootstrap confidence interval, min..max, and the share of runs that
//! learned the task.

use serde::{Deserialize, Serialize};

use crate::store::{FinishedRun, Summary};

/// val_loss below which a run counts as having learned the task.
pub const DEFAULT_VAL_THRESHOLD: f64 = 0.01;
/// Resamples of the percentile bootstrap.
pub const BOOTSTRAP_RESAMPLES: usize = 10_000;
/// The bootstrap's own seed, so every table is reproducible.
pub const BOOTSTRAP_SEED: u64 = 0;
/// Coverage of the confidence intervals.
pub const CONFIDENCE: f64 = 0.95;

/// One quantity over a set of runs. Fields that need two or more values
/// (`std`, the CI) are None for a single run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub n: usize,
    pub mean: f64,
    /// Sample standard deviation (n - 1).
    pub std: Option<f64>,
    /// Percentile-bootstrap 95 % confidence interval of the mean.
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub median: f64,
    /// First and third quartiles (linear interpolation, numpy's default).
    pub q1: f64,
    pub q3: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    /// None for an empty set. NaN values are kept out of nothing: a NaN
    /// makes the mean NaN, which a table shows rather than hides.
    pub fn of(values: &[f64]) -> Option<Spread> {
        if values.is_empty() {
            return None;
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n as f64;
        let (std, ci) = if n >= 2 {
            let var = values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            (
                Some(var.sqrt()),
                Some(bootstrap_mean_ci(
                    values,
                    BOOTSTRAP_RESAMPLES,
                    BOOTSTRAP_SEED,
                )),
            )
        } else {
            (None, None)
        };
        Some(Spread {
            n,
            mean,
            std,
            ci_low: ci.map(|c| c.0),
            ci_high: ci.map(|c| c.1),
            median: quantile(&sorted, 0.5),
            q1: quantile(&sorted, 0.25),
            q3: quantile(&sorted, 0.75),
            min: sorted[0],
            max: sorted[n - 1],
        })
    }
}

/// The `q`-quantile of sorted values, interpolating linearly between the
/// two nearest ranks (numpy's and R's type 7).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// SplitMix64: a small, fast, well-mixed generator, enough for resampling.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        // Lemire's multiply-shift: unbiased enough for n far below 2^32.
        (((self.next() >> 32) * n as u64) >> 32) as usize
    }
}

/// Percentile bootstrap of the mean: resample the values with replacement
/// `resamples` times and take the central [`CONFIDENCE`] of the means.
pub fn bootstrap_mean_ci(values: &[f64], resamples: usize, seed: u64) -> (f64, f64) {
    let n = values.len();
    let mut rng = SplitMix64(seed);
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| (0..n).map(|_| values[rng.below(n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(f64::total_cmp);
    let tail = (1.0 - CONFIDENCE) / 2.0;
    (quantile(&means, tail), quantile(&means, 1.0 - tail))
}

/// What a set of finished runs (the seeds of one cell) shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSetStats {
    pub runs: usize,
    /// Test correctness in percent.
    pub correctness: Option<Spread>,
    /// Mean test MSE, for a task with a value to give.
    pub test_mse_mean: Option<f64>,
    /// Mean test MSE of the constant-mean predictor (None when no summary has it).
    pub baseline_mse_mean: Option<f64>,
    /// Mean test loss, whatever the task's (MSE or cross-entropy).
    #[serde(default)]
    pub test_loss_mean: Option<f64>,
    /// Mean test loss of learning nothing (`Summary::chance`).
    #[serde(default)]
    pub baseline_loss_mean: Option<f64>,
    pub final_loss_mean: Option<f64>,
    pub final_val_loss_mean: Option<f64>,
    pub train_seconds_per_epoch_mean: Option<f64>,
    /// The val_loss that counts as learned.
    pub val_threshold: f64,
    /// Runs whose val_loss fell below the threshold by their last epoch.
    pub learned: usize,
    pub learned_share: Option<f64>,
    /// First epoch (from 1) below the threshold, over the runs that learned.
    pub epochs_to_threshold: Option<Spread>,
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| sum / n as f64)
}

impl RunSetStats {
    pub fn of(runs: &[FinishedRun], val_threshold: f64) -> RunSetStats {
        let correctness: Vec<f64> = runs.iter().map(|r| r.summary.correctness).collect();
        let epochs: Vec<f64> = runs
            .iter()
            .filter_map(|r| r.epochs_to(val_threshold))
            .map(|e| e as f64)
            .collect();
        let summaries = || runs.iter().map(|r| &r.summary);
        RunSetStats {
            runs: runs.len(),
            correctness: Spread::of(&correctness),
            test_mse_mean: mean(summaries().filter_map(|s| s.test_mse)),
            baseline_mse_mean: mean(summaries().filter_map(|s| s.baseline_mse)),
            test_loss_mean: mean(summaries().filter_map(Summary::loss)),
            baseline_loss_mean: mean(summaries().filter_map(Summary::chance)),
            final_loss_mean: mean(summaries().map(|s| s.final_loss)),
            final_val_loss_mean: mean(summaries().map(|s| s.final_val_loss)),
            train_seconds_per_epoch_mean: mean(summaries().map(|s| s.train_seconds_per_epoch)),
            val_threshold,
            learned: epochs.len(),
            learned_share: (!runs.is_empty()).then(|| epochs.len() as f64 / runs.len() as f64),
            epochs_to_threshold: Spread::of(&epochs),
        }
    }

    /// Flat columns for CSV files: name and value (empty when undefined).
    pub fn columns(&self) -> Vec<(&'static str, String)> {
        let opt = |x: Option<f64>| x.map_or(String::new(), |v| v.to_string());
        let c = self.correctness.as_ref();
        let e = self.epochs_to_threshold.as_ref();
        vec![
            ("runs", self.runs.to_string()),
            ("correctness_median", opt(c.map(|s| s.median))),
            ("correctness_q1", opt(c.map(|s| s.q1))),
            ("correctness_q3", opt(c.map(|s| s.q3))),
            ("correctness_mean", opt(c.map(|s| s.mean))),
            ("correctness_ci_low", opt(c.and_then(|s| s.ci_low))),
            ("correctness_ci_high", opt(c.and_then(|s| s.ci_high))),
            ("correctness_std", opt(c.and_then(|s| s.std))),
            ("correctness_min", opt(c.map(|s| s.min))),
            ("correctness_max", opt(c.map(|s| s.max))),
            ("learned", self.learned.to_string()),
            ("learned_share", opt(self.learned_share)),
            ("epochs_to_threshold_median", opt(e.map(|s| s.median))),
            ("epochs_to_threshold_min", opt(e.map(|s| s.min))),
            ("epochs_to_threshold_max", opt(e.map(|s| s.max))),
            ("test_mse_mean", opt(self.test_mse_mean)),
            ("baseline_mse_mean", opt(self.baseline_mse_mean)),
            ("test_loss_mean", opt(self.test_loss_mean)),
            ("baseline_loss_mean", opt(self.baseline_loss_mean)),
            ("final_loss_mean", opt(self.final_loss_mean)),
            ("final_val_loss_mean", opt(self.final_val_loss_mean)),
            (
                "train_seconds_per_epoch_mean",
                opt(self.train_seconds_per_epoch_mean),
            ),
        ]
    }

    /// Markdown cells: correctness median [IQR], mean [95 % CI], min..max,
    /// learned k/n, epochs to the threshold median (min..max).
    pub fn markdown_cells(&self) -> [String; 5] {
        let Some(c) = &self.correctness else {
            return ["–".into(), "–".into(), "–".into(), "0/0".into(), "–".into()];
        };
        let (median, mean, range) = if c.n == 1 {
            (format!("{:.2} % (n=1)", c.median), "–".into(), "–".into())
        } else {
            (
                format!("{:.2} [{:.2}, {:.2}] %", c.median, c.q1, c.q3),
                format!(
                    "{:.2} [{:.2}, {:.2}] %",
                    c.mean,
                    c.ci_low.unwrap_or(f64::NAN),
                    c.ci_high.unwrap_or(f64::NAN)
                ),
                format!("{:.2} .. {:.2} %", c.min, c.max),
            )
        };
        let epochs = match &self.epochs_to_threshold {
            None => "never".into(),
            Some(e) if e.n == 1 => format!("{}", e.median),
            Some(e) => format!("{} ({}..{})", e.median, e.min, e.max),
        };
        [
            median,
            mean,
            range,
            format!("{}/{}", self.learned, self.runs),
            epochs,
        ]
    }
}

/// The Markdown header cells matching [`RunSetStats::markdown_cells`].
pub fn markdown_headers(threshold: f64) -> [String; 5] {
    [
        "correctness median [IQR]".into(),
        "mean [95 % CI]".into(),
        "min .. max".into(),
        format!("learned (val_loss < {threshold})"),
        "epochs to learn: median (range)".into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TrainConfig;
    use crate::store::{EpochRecord, Summary};

    #[test]
    fn quantiles_interpolate_like_numpy() {
        let xs = [1.0, 2.0, 3.0, 4.0];
        // numpy.percentile([1,2,3,4], [25, 50, 75]) = 1.75, 2.5, 3.25
        assert_eq!(quantile(&xs, 0.25), 1.75);
        assert_eq!(quantile(&xs, 0.5), 2.5);
        assert_eq!(quantile(&xs, 0.75), 3.25);
        assert_eq!(quantile(&[7.0], 0.9), 7.0);
    }

    #[test]
    fn spread_of_known_values() {
        let s = Spread::of(&[9.0, 2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0]).unwrap();
        assert_eq!(
            (s.n, s.mean, s.median, s.min, s.max),
            (8, 5.0, 4.5, 2.0, 9.0)
        );
        assert_eq!((s.q1, s.q3), (4.0, 5.5));
        assert!((s.std.unwrap() - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
        let (lo, hi) = (s.ci_low.unwrap(), s.ci_high.unwrap());
        assert!(
            lo < s.mean && s.mean < hi,
            "CI [{lo}, {hi}] must contain the mean"
        );
        // Standard error 0.756: a 95 % interval is about +-1.5 wide.
        assert!(hi - lo > 2.0 && hi - lo < 4.0, "[{lo}, {hi}]");
        assert_eq!(
            Spread::of(&[9.0, 2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0]).unwrap(),
            s,
            "seeded"
        );
        let one = Spread::of(&[93.41]).unwrap();
        assert_eq!((one.median, one.std, one.ci_low), (93.41, None, None));
        assert_eq!(Spread::of(&[]), None);
    }

    #[test]
    fn bootstrap_interval_covers_the_true_mean_at_about_95_percent() {
        // 200 samples of 20 from a known skewed distribution (exponential,
        // mean 1): a percentile bootstrap covers the mean in roughly 90..97 %.
        let mut rng = SplitMix64(42);
        let mut covered = 0;
        for _ in 0..200 {
            let xs: Vec<f64> = (0..20)
                .map(|_| -(1.0 - (rng.next() >> 11) as f64 / (1u64 << 53) as f64).ln())
                .collect();
            let (lo, hi) = bootstrap_mean_ci(&xs, 2000, 1);
            covered += usize::from(lo <= 1.0 && 1.0 <= hi);
        }
        assert!((170..=197).contains(&covered), "covered {covered} of 200");
    }

    fn run(correctness: f64, val_losses: &[f64]) -> FinishedRun {
        let history: Vec<EpochRecord> = val_losses
            .iter()
            .enumerate()
            .map(|(e, &v)| EpochRecord::core(e as i64, v, v, 1.0, 1.0))
            .collect();
        FinishedRun {
            summary: Summary::example(TrainConfig::default(), correctness, &history),
            history,
        }
    }

    #[test]
    fn run_sets_count_learned_runs_and_epochs_to_threshold() {
        let runs = [
            run(90.0, &[0.05, 0.02, 0.005, 0.001]),
            run(10.0, &[0.05, 0.05, 0.05, 0.05]),
            run(95.0, &[0.05, 0.009, 0.002, 0.001]),
        ];
        let s = RunSetStats::of(&runs, 0.01);
        assert_eq!((s.runs, s.learned), (3, 2));
        assert_eq!(s.learned_share, Some(2.0 / 3.0));
        let e = s.epochs_to_threshold.clone().unwrap();
        assert_eq!((e.median, e.min, e.max), (2.5, 2.0, 3.0));
        assert_eq!(s.correctness.as_ref().unwrap().median, 90.0);
        let cells = s.markdown_cells();
        assert_eq!(cells[0], "90.00 [50.00, 92.50] %");
        assert_eq!(cells[2], "10.00 .. 95.00 %");
        assert_eq!(cells[3], "2/3");
        assert_eq!(cells[4], "2.5 (2..3)");
        let columns = s.columns();
        let get = |name: &str| columns.iter().find(|c| c.0 == name).unwrap().1.clone();
        assert_eq!(get("correctness_median"), "90");
        assert_eq!(get("learned_share"), (2.0f64 / 3.0).to_string());
        assert_eq!(get("epochs_to_threshold_max"), "3");
        let one = RunSetStats::of(&runs[..1], 0.01);
        assert_eq!(one.markdown_cells()[..3], ["90.00 % (n=1)", "–", "–"]);
        assert_eq!(
            one.columns()
                .iter()
                .find(|c| c.0 == "correctness_ci_low")
                .unwrap()
                .1,
            ""
        );
    }
}
