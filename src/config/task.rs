//! What each task is, as plain data: its inputs, its answer (one value at
//! the end, a class at each row's own end, or a symbol at every step), its
//! loss and its score. The generators that draw the data are `nn::tasks`;
//! the definitions, with their sources, are there too.

use serde::Serialize;

use super::keywords::Task;

/// Where a task's network gives its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Readout {
    /// After the last step (every row has the same length).
    Last,
    /// After each row's own last step (rows of different lengths, padded).
    AtLength,
    /// At every step.
    EveryStep,
}

/// How a task's answer is scored while training.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Loss {
    /// Mean squared error of one value.
    Mse,
    /// Cross-entropy of classes (per row, or per step with `EveryStep`).
    CrossEntropy,
}

/// A task's shape: what the network reads and gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskShape {
    /// Features per step.
    pub features: i64,
    /// The head's outputs: 1 for a value, the classes otherwise.
    pub outputs: i64,
    pub readout: Readout,
    pub loss: Loss,
    pub score: Score,
}

/// What a task's `correctness` (in percent) counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Score {
    /// Test rows whose value is within 0.04 of the target (Hochreiter &
    /// Schmidhuber's criterion).
    Within,
    /// Test rows classified right, among `classes` equally likely ones.
    Class { classes: i64 },
    /// The `copied` symbols at the end of each row recalled, each drawn
    /// from `symbols`.
    Recall { copied: i64, symbols: i64 },
}

impl Score {
    /// What the score counts, in words.
    pub fn describe(self) -> &'static str {
        match self {
            Score::Within => "test rows within 0.04 of the target",
            Score::Class { .. } => "test rows classified right",
            Score::Recall { .. } => "copied symbols recalled",
        }
    }

    /// What guessing scores, in percent, where the score has a chance
    /// level: one class in `classes`, one symbol in `symbols` per copied
    /// step. A value's score has none (what learning nothing scores there
    /// depends on the data: the run's `baseline_loss`).
    pub fn chance_percent(self) -> Option<f64> {
        match self {
            Score::Within => None,
            Score::Class { classes } => Some(100.0 / classes as f64),
            Score::Recall { symbols, .. } => Some(100.0 / symbols as f64),
        }
    }
}

impl Task {
    pub fn shape(self) -> TaskShape {
        let regression = |readout| TaskShape {
            features: 2,
            outputs: 1,
            readout,
            loss: Loss::Mse,
            score: Score::Within,
        };
        match self {
            Task::Multiply | Task::BlogAdd | Task::AddHalves => regression(Readout::Last),
            Task::HsAdd | Task::HsMultiply => regression(Readout::AtLength),
            Task::Copy => TaskShape {
                features: 10,
                outputs: 9,
                readout: Readout::EveryStep,
                loss: Loss::CrossEntropy,
                score: Score::Recall {
                    copied: 10,
                    symbols: 8,
                },
            },
            Task::Order => TaskShape {
                features: 8,
                outputs: 4,
                readout: Readout::AtLength,
                loss: Loss::CrossEntropy,
                score: Score::Class { classes: 4 },
            },
        }
    }

    /// Time steps of a row of a task of length `seq_len` (the longest row
    /// where lengths vary): the copy task adds its 10 symbols, delimiter and
    /// 9 answer steps; Hochreiter & Schmidhuber's lengths run to T + T/10.
    pub fn steps(self, seq_len: i64) -> i64 {
        match self {
            Task::Copy => seq_len + 20,
            Task::HsAdd | Task::HsMultiply | Task::Order => seq_len + seq_len / 10,
            _ => seq_len,
        }
    }

    /// Where the task is defined.
    pub fn source(self) -> &'static str {
        match self {
            Task::Multiply => "the blog's multiplication problem (Keras textbook sampling): two markers anywhere, target the product",
            Task::BlogAdd => "the blog's sampling with the sum as target (not the papers' adding problem; formerly `add`)",
            Task::AddHalves => "Le et al. 2015, 4.1; Arjovsky et al. 2016, 4.2: one marker in each half, target the sum",
            Task::HsAdd => "Hochreiter & Schmidhuber 1997, experiment 4 (adding)",
            Task::HsMultiply => "Hochreiter & Schmidhuber 1997, experiment 5 (multiplication)",
            Task::Copy => "Arjovsky et al. 2016, 4.1 (copying memory)",
            Task::Order => "Hochreiter & Schmidhuber 1997, experiment 6a (temporal order)",
        }
    }

    /// The shortest `seq_len` the task's definition allows, and why.
    pub fn min_seq_len(self) -> (i64, &'static str) {
        match self {
            Task::Multiply | Task::BlogAdd | Task::AddHalves => (2, "two distinct marked steps"),
            Task::HsAdd | Task::HsMultiply => (
                22,
                "a first marker among the first 10 steps, a second among the first T/2 - 1",
            ),
            Task::Copy => (
                1,
                "at least one blank between the symbols and the delimiter",
            ),
            Task::Order => (20, "symbols at steps T/10..T/5 and T/2..T/2 + T/10"),
        }
    }
}

/// A task as `rnn-lab info --json` lists it.
#[derive(Clone, Debug, Serialize)]
pub struct TaskInfo {
    pub name: &'static str,
    /// Older names of the task, still read on the command line and in files.
    pub old_names: &'static [&'static str],
    pub source: &'static str,
    pub features: i64,
    pub outputs: i64,
    pub readout: Readout,
    pub loss: Loss,
    pub score: &'static str,
    /// What guessing scores, in percent; null for a value's score.
    pub chance: Option<f64>,
    /// Steps of a row of `--seq-len` 100 (the longest, where lengths vary).
    pub steps_at_100: i64,
    pub min_seq_len: i64,
}

/// Every task, for `info`.
pub fn catalogue() -> Vec<TaskInfo> {
    Task::all()
        .iter()
        .map(|&t| {
            let shape = t.shape();
            TaskInfo {
                name: t.name(),
                old_names: t.old_names(),
                source: t.source(),
                features: shape.features,
                outputs: shape.outputs,
                readout: shape.readout,
                loss: shape.loss,
                score: shape.score.describe(),
                chance: shape.score.chance_percent(),
                steps_at_100: t.steps(100),
                min_seq_len: t.min_seq_len().0,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Chance where guessing has one: copy recalls one symbol in 8, order
    /// picks one class in 4; the value tasks have none.
    #[test]
    fn the_catalogue_lists_each_tasks_chance_and_old_names() {
        let tasks = catalogue();
        let listed: Vec<(&str, Option<f64>, &[&str])> = tasks
            .iter()
            .map(|t| (t.name, t.chance, t.old_names))
            .collect();
        assert_eq!(
            listed,
            [
                ("multiply", None, &[][..]),
                ("blog-add", None, &["add"][..]),
                ("add-halves", None, &[][..]),
                ("hs-add", None, &[][..]),
                ("hs-multiply", None, &[][..]),
                ("copy", Some(12.5), &[][..]),
                ("order", Some(25.0), &[][..]),
            ]
        );
    }
}
