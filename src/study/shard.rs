//! Disjoint slices of a study's runs, for job arrays: `--shard K/N`, or a
//! Slurm array task's own slice from its environment.

use std::str::FromStr;

use anyhow::{bail, Context, Result};

/// The K-th (1-based) of N disjoint slices of a grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("invalid shard '{s}' (expected K/N with 1 <= K <= N, e.g. 2/8)");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n): (usize, usize) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if n == 0 || k == 0 || k > n {
            return Err(bad());
        }
        Ok(Shard { index: k, count: n })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    pub const ALL: Shard = Shard { index: 1, count: 1 };

    /// The shard of a Slurm job array task: `SLURM_ARRAY_TASK_ID` counted
    /// from `SLURM_ARRAY_TASK_MIN` (0 when unset) among
    /// `SLURM_ARRAY_TASK_COUNT` tasks. None outside a job array.
    pub fn from_slurm(var: impl Fn(&str) -> Option<String>) -> Result<Option<Shard>> {
        let (Some(id), Some(count)) = (var("SLURM_ARRAY_TASK_ID"), var("SLURM_ARRAY_TASK_COUNT"))
        else {
            return Ok(None);
        };
        let num = |name: &str, v: &str| -> Result<usize> {
            v.trim()
                .parse()
                .with_context(|| format!("{name}={v} is not a number"))
        };
        let id = num("SLURM_ARRAY_TASK_ID", &id)?;
        let count = num("SLURM_ARRAY_TASK_COUNT", &count)?;
        let min = var("SLURM_ARRAY_TASK_MIN")
            .map(|m| num("SLURM_ARRAY_TASK_MIN", &m))
            .transpose()?
            .unwrap_or(0);
        if id < min || id - min >= count {
            bail!(
                "SLURM_ARRAY_TASK_ID={id} is outside the array ({count} tasks from {min}); use a contiguous --array, or pass --shard K/N"
            );
        }
        Ok(Some(Shard {
            index: id - min + 1,
            count,
        }))
    }

    /// Whether the `i`-th run of the grid (0-based) is this shard's.
    /// Round-robin, so every shard gets a mix of cheap and costly runs.
    pub fn owns(&self, i: usize) -> bool {
        i % self.count == self.index - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_disjoint_and_complete_for_any_count() {
        for total in [1usize, 2, 7, 90, 91] {
            for count in 1..=12 {
                let mut owners = vec![0; total];
                for index in 1..=count {
                    let shard = Shard { index, count };
                    for (i, o) in owners.iter_mut().enumerate() {
                        if shard.owns(i) {
                            *o += 1;
                        }
                    }
                }
                assert!(
                    owners.iter().all(|&o| o == 1),
                    "{total} runs over {count} shards: {owners:?}"
                );
            }
        }
    }

    #[test]
    fn shard_flag_and_slurm_environment() {
        assert_eq!(
            "2/8".parse::<Shard>().unwrap(),
            Shard { index: 2, count: 8 }
        );
        for bad in ["0/8", "9/8", "1/0", "x", "1-2"] {
            assert!(
                bad.parse::<Shard>().unwrap_err().contains("expected K/N"),
                "{bad}"
            );
        }
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(Shard::from_slurm(env(&[])).unwrap(), None);
        let s = Shard::from_slurm(env(&[
            ("SLURM_ARRAY_TASK_ID", "0"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ]))
        .unwrap();
        assert_eq!(s, Some(Shard { index: 1, count: 4 }));
        let s = Shard::from_slurm(env(&[
            ("SLURM_ARRAY_TASK_ID", "4"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
        ]))
        .unwrap();
        assert_eq!(s, Some(Shard { index: 4, count: 4 }));
        let err = Shard::from_slurm(env(&[
            ("SLURM_ARRAY_TASK_ID", "9"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ]));
        assert!(err.unwrap_err().to_string().contains("outside the array"));
    }
}
