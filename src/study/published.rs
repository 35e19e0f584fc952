//! The published single runs a reproduction is read against: the blog's
//! and the Keras textbook's that it follows (test correctness, percent).

use crate::config::{InitScheme, Task, TrainConfig};
use crate::nn::cells;

/// The published numbers for runs of `config`'s cell, when `config` is
/// the blog's experiment (its task, length, init and sizes; any seed).
pub fn published_for(config: &TrainConfig) -> Option<(Option<f64>, Option<f64>)> {
    let blog = TrainConfig {
        model: config.model,
        seed: config.seed,
        adam: config.adam,
        ..TrainConfig::default()
    };
    (*config == blog && config.task == Task::Multiply && config.init == InitScheme::Keras)
        .then(|| cells::def(config.model).published())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_blogs_experiment_has_published_numbers() {
        let lstm = TrainConfig {
            seed: 7,
            ..TrainConfig::default()
        };
        assert_eq!(published_for(&lstm), Some((Some(92.95), Some(94.77))));
        assert_eq!(
            published_for(&TrainConfig {
                epochs: 50,
                ..lstm.clone()
            }),
            None
        );
        assert_eq!(
            published_for(&TrainConfig {
                seq_len: 50,
                ..lstm
            }),
            None
        );
    }
}
