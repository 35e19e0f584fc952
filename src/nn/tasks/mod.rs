//! The tasks' data, generated straight into tensors on the CPU from the
//! seed's data stream (so every device and mode sees the same rows), and
//! the Keras-style fit/validation/test split. One generator a task, each
//! in its family's file with its source; every draw is mirrored op for op
//! by `scripts/reference.py`, so PyTorch rebuilds the same tensors.

mod copy;
mod hochreiter;
mod markers;
#[cfg(test)]
mod tests;

use anyhow::{Context, Result};
use tch::{Device, TchError, Tensor};

use super::seed::{rng_lock, seed_stream, Stream};
use crate::config::{Task, TrainConfig};

/// A task's rows: inputs `x` `[n, steps, features]` float32, padded with
/// zeros after each row's end; targets `y` (`[n, 1]` float32 for a value,
/// `[n]` int64 for a class, `[n, steps]` int64 for a symbol per step); and
/// each row's length `[n]` int64.
#[derive(Debug)]
pub struct Dataset {
    pub x: Tensor,
    pub y: Tensor,
    pub lengths: Tensor,
}

/// What draws a task's rows.
trait Generator: Sync {
    /// `samples` rows of length `seq_len` from libtorch's generator (already
    /// seeded).
    fn rows(&self, samples: i64, seq_len: i64) -> Result<Dataset, TchError>;
}

fn generator(task: Task) -> &'static dyn Generator {
    match task {
        Task::Multiply => &markers::Blog { sum: false },
        Task::BlogAdd => &markers::Blog { sum: true },
        Task::AddHalves => &markers::Halves,
        Task::HsAdd => &hochreiter::Marked { sum: true },
        Task::HsMultiply => &hochreiter::Marked { sum: false },
        Task::Order => &hochreiter::TemporalOrder,
        Task::Copy => &copy::Copy,
    }
}

/// The three sets of one run, as the blog makes them: Keras's `fit` gets
/// the first `fit_rows`, its `validation_split` takes the last share of
/// those, and the rows after `fit_rows` are the test set.
#[derive(Debug)]
pub struct Split {
    pub train: Rows,
    pub val: Rows,
    pub test: Rows,
}

/// One set's inputs, targets and row lengths.
#[derive(Debug)]
pub struct Rows {
    pub x: Tensor,
    pub y: Tensor,
    pub lengths: Tensor,
}

/// Generates `samples` rows of `task` of length `seq_len` from `seed`'s
/// data stream.
pub fn generate(task: Task, samples: i64, seq_len: i64, seed: u64) -> Result<Dataset> {
    let _rng = rng_lock();
    tch::manual_seed(seed_stream(seed, Stream::Data));
    generator(task).rows(samples, seq_len).with_context(|| {
        format!(
            "cannot generate {samples} samples of length {seq_len}: lower --samples or --seq-len"
        )
    })
}

impl Dataset {
    /// Generates the data set of `config`.
    pub fn for_config(config: &TrainConfig) -> Result<Dataset> {
        generate(config.task, config.samples, config.seq_len, config.seed)
    }

    /// Splits as Keras does (validation rows taken from the end of the fit
    /// rows, before any shuffling) and moves every set to `device` once.
    pub fn split(&self, config: &TrainConfig, device: Device) -> Result<Split> {
        let sizes = config.split_sizes();
        let rows = |start: i64, len: i64, what: &str| -> Result<Rows> {
            let part =
                |t: &Tensor| -> Result<Tensor> { Ok(t.f_narrow(0, start, len)?.f_to(device)?) };
            let moved = || -> Result<Rows> {
                Ok(Rows {
                    x: part(&self.x)?,
                    y: part(&self.y)?,
                    lengths: part(&self.lengths)?,
                })
            };
            moved().with_context(|| format!("moving the {what} rows"))
        };
        Ok(Split {
            train: rows(0, sizes.train, "training")?,
            val: rows(sizes.train, sizes.val, "validation")?,
            test: rows(config.fit_rows, sizes.test, "test")?,
        })
    }
}

#[cfg(test)]
mod blog_tests {
    use super::*;
    use tch::Kind;

    fn to_vec(t: &Tensor) -> Vec<f32> {
        Vec::<f32>::try_from(t.flatten(0, -1)).unwrap()
    }

    #[test]
    fn multiply_rows_have_two_markers_and_the_product_as_target() {
        let d = generate(Task::Multiply, 200, 17, 5).unwrap();
        assert_eq!(d.x.size(), [200, 17, 2]);
        assert_eq!(d.y.size(), [200, 1]);
        assert_eq!(d.x.kind(), Kind::Float);
        let markers = d.x.select(2, 0);
        let values = d.x.select(2, 1);
        // Exactly two ones per row, everything else zero.
        assert_eq!(
            to_vec(&markers.sum_dim_intlist(1, false, Kind::Float)),
            vec![2.0; 200]
        );
        assert_eq!(
            to_vec(
                &markers
                    .eq(1.0)
                    .logical_or(&markers.eq(0.0))
                    .to_kind(Kind::Float)
                    .min()
            ),
            [1.0]
        );
        // Target = product of the marked values, bit for bit.
        let masked = values.where_self(&markers.eq(1.0), &Tensor::ones_like(&values));
        let product = masked.prod_dim_int(1, true, Kind::Float);
        assert_eq!(to_vec(&product), to_vec(&d.y));
        // Values in [0, 1), targets in [0, 1).
        assert!(values.min().double_value(&[]) >= 0.0);
        assert!(values.max().double_value(&[]) < 1.0);
        assert!(d.y.max().double_value(&[]) < 1.0);
    }

    #[test]
    fn add_target_is_the_sum_of_the_marked_values() {
        let d = generate(Task::BlogAdd, 300, 10, 2).unwrap();
        let markers = d.x.select(2, 0);
        let values = d.x.select(2, 1);
        let sum = (&values * &markers).sum_dim_intlist(1, true, Kind::Float);
        let diff = (&sum - &d.y).abs().max().double_value(&[]);
        assert!(diff < 1e-6, "largest difference {diff}");
        assert!(d.y.min().double_value(&[]) >= 0.0 && d.y.max().double_value(&[]) < 2.0);
        // Mean of U[0,1) + U[0,1) is 1; variance 1/6.
        let mean = d.y.mean(Kind::Float).double_value(&[]);
        assert!((mean - 1.0).abs() < 0.06, "mean {mean}");
    }

    #[test]
    fn marked_positions_cover_every_step() {
        let d = generate(Task::Multiply, 2000, 5, 9).unwrap();
        let per_step = to_vec(&d.x.select(2, 0).sum_dim_intlist(0, false, Kind::Float));
        // 4000 marks over 5 steps: about 800 each.
        for (step, count) in per_step.iter().enumerate() {
            assert!(
                (*count - 800.0).abs() < 100.0,
                "step {step} marked {count} times"
            );
        }
    }

    #[test]
    fn same_seed_same_data_other_seed_other_data() {
        let a = generate(Task::Multiply, 50, 20, 7).unwrap();
        let b = generate(Task::Multiply, 50, 20, 7).unwrap();
        let c = generate(Task::Multiply, 50, 20, 8).unwrap();
        assert!(a.x.equal(&b.x) && a.y.equal(&b.y));
        assert!(!a.x.equal(&c.x));
    }

    #[test]
    fn split_takes_keras_rows() {
        let config = TrainConfig {
            samples: 30,
            fit_rows: 20,
            val_split: 0.25,
            seq_len: 4,
            ..Default::default()
        };
        let d = Dataset::for_config(&config).unwrap();
        let s = d.split(&config, Device::Cpu).unwrap();
        assert!(s.train.x.equal(&d.x.narrow(0, 0, 15)));
        assert!(s.val.x.equal(&d.x.narrow(0, 15, 5)));
        assert!(s.val.y.equal(&d.y.narrow(0, 15, 5)));
        assert!(s.test.x.equal(&d.x.narrow(0, 20, 10)));
        assert!(s.test.y.equal(&d.y.narrow(0, 20, 10)));
        assert!(s.test.lengths.equal(&d.lengths.narrow(0, 20, 10)));
    }
}
