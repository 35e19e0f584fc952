//! `--pack`: how many runs of a study train together in one process, and
//! the grouping of a study's runs into packs of runs that can share a step.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::config::{serde_as_text, TrainConfig};
use crate::run::MAX_PACK;

/// `--pack`: how many runs train together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum PackSize {
    /// The size with the lowest cost per run, measured on this machine for
    /// each shape of run (`calibration`).
    Auto,
    /// At most this many runs per pack; 1 trains each run alone.
    Fixed(usize),
}

impl fmt::Display for PackSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PackSize::Auto => f.write_str("auto"),
            PackSize::Fixed(n) => write!(f, "{n}"),
        }
    }
}

impl FromStr for PackSize {
    type Err = String;
    fn from_str(s: &str) -> Result<PackSize, String> {
        if s.eq_ignore_ascii_case("auto") {
            return Ok(PackSize::Auto);
        }
        match s.parse::<usize>() {
            Ok(n) if (1..=MAX_PACK).contains(&n) => Ok(PackSize::Fixed(n)),
            _ => Err(format!(
                "invalid pack size '{s}' (expected auto or 1..={MAX_PACK})"
            )),
        }
    }
}

serde_as_text!(PackSize);

/// `items` cut into the fewest packs of at most `size`, as even as can be
/// (10 in packs of at most 8: 5 and 5).
pub fn even_chunks<T: Clone>(items: &[T], size: usize) -> Vec<Vec<T>> {
    let packs = items.len().div_ceil(size.max(1));
    let (base, extra) = (items.len() / packs.max(1), items.len() % packs.max(1));
    let mut rest = items;
    (0..packs)
        .map(|i| {
            let (pack, tail) = rest.split_at(base + usize::from(i < extra));
            rest = tail;
            pack.to_vec()
        })
        .collect()
}

/// Splits `items` (in order) into packs of at most `size` runs that can
/// train together; the relative order of runs is kept.
pub fn group<T>(items: Vec<T>, size: usize, config: impl Fn(&T) -> &TrainConfig) -> Vec<Vec<T>> {
    let mut packs: Vec<Vec<T>> = Vec::new();
    // Packs with room left, in order: only they are searched, so a study
    // of 10^5 runs in packs of one is not quadratic.
    let mut open: Vec<usize> = Vec::new();
    for item in items {
        let found = open
            .iter()
            .position(|&i| config(&packs[i][0]).packs_with(config(&item)));
        let i = match found {
            Some(at) => {
                let i = open[at];
                packs[i].push(item);
                if packs[i].len() >= size {
                    open.remove(at);
                }
                i
            }
            None => {
                packs.push(vec![item]);
                let i = packs.len() - 1;
                if size > 1 {
                    open.push(i);
                }
                i
            }
        };
        debug_assert!(packs[i].len() <= size.max(1));
    }
    packs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Cell, InitScheme, Task};

    #[test]
    fn pack_sizes_parse_and_resolve() {
        assert_eq!("auto".parse::<PackSize>().unwrap(), PackSize::Auto);
        assert_eq!("8".parse::<PackSize>().unwrap(), PackSize::Fixed(8));
        for bad in ["0", "-1", "x", "1025"] {
            assert!(
                bad.parse::<PackSize>()
                    .unwrap_err()
                    .contains("expected auto or 1..=1024"),
                "{bad}"
            );
        }
    }

    #[test]
    fn even_chunks_balance_the_packs() {
        let sizes = |n: usize, s| {
            even_chunks(&(0..n).collect::<Vec<_>>(), s)
                .iter()
                .map(Vec::len)
                .collect::<Vec<_>>()
        };
        assert_eq!(sizes(10, 8), [5, 5]);
        assert_eq!(sizes(20, 8), [7, 7, 6]);
        assert_eq!(sizes(3, 32), [3]);
        assert_eq!(sizes(4, 1), [1, 1, 1, 1]);
        assert_eq!(
            even_chunks(&[1, 2, 3, 4, 5], 2),
            [vec![1, 2], vec![3, 4], vec![5]]
        );
    }

    #[test]
    fn grouping_keeps_order_and_packs_only_compatible_runs() {
        let c = |seed, model, seq_len| TrainConfig {
            seed,
            model,
            seq_len,
            ..TrainConfig::default()
        };
        let runs = vec![
            c(1, Cell::Rnn, 10),
            c(2, Cell::Rnn, 10),
            c(1, Cell::Rnn, 20),
            c(3, Cell::Rnn, 10),
            c(1, Cell::Gru, 10),
            c(4, Cell::Rnn, 10),
        ];
        let packs = group(runs, 3, |c| c);
        let seeds: Vec<Vec<(u64, i64)>> = packs
            .iter()
            .map(|p| p.iter().map(|c| (c.seed, c.seq_len)).collect())
            .collect();
        assert_eq!(
            seeds,
            [
                vec![(1, 10), (2, 10), (3, 10)],
                vec![(1, 20)],
                vec![(1, 10)],
                vec![(4, 10)]
            ]
        );
        assert!(c(1, Cell::Rnn, 10).packs_with(&TrainConfig {
            task: Task::BlogAdd,
            init: InitScheme::Torch,
            ..c(9, Cell::Rnn, 10)
        }));
        // Other shapes of answer (a class, read at each row's end) or of row.
        for task in [Task::Order, Task::HsAdd] {
            assert!(!c(1, Cell::Rnn, 30).packs_with(&TrainConfig {
                task,
                ..c(2, Cell::Rnn, 30)
            }));
        }
        assert!(c(1, Cell::Rnn, 30).packs_with(&TrainConfig {
            task: Task::AddHalves,
            ..c(2, Cell::Rnn, 30)
        }));
        assert!(!c(1, Cell::Rnn, 10).packs_with(&TrainConfig {
            lr: 0.01,
            ..c(1, Cell::Rnn, 10)
        }));
    }
}
