//! `study.json`: a study's fixed settings, every grid it was asked for (its
//! history), and the union of their runs, each with its folder. A study
//! grows by appending runs; a run's folder never changes. Older folders
//! read too: a sweep's `sweep.json`, and a folder of finished runs without
//! a manifest (what `reproduce` wrote before it was a study).

use std::{
    collections::BTreeSet,
    fs,
    path::Path,
    time::{SystemTime, UNIX_EPOCH},
};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::discover::discover_runs;
use super::grid::{Grid, RunSpec, CANONICAL_AXES};
use crate::config::{value_text, Cell, InitScheme, Task, TrainConfig};
use crate::store::write_atomic;

pub const MANIFEST: &str = "study.json";
/// The manifest of sweeps made before studies grew.
pub const LEGACY_MANIFEST: &str = "sweep.json";

/// One request that shaped the study.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridRecord {
    pub grid: Grid,
    /// Runs this grid added to the study.
    pub added: usize,
    /// When (seconds since 1970, UTC); 0 when not known.
    #[serde(default)]
    pub unix_time: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The settings a run of this study has unless an axis says otherwise;
    /// folder names are made against them.
    pub base: TrainConfig,
    pub grids: Vec<GridRecord>,
    pub runs: Vec<RunSpec>,
}

/// sweep.json as sweeps wrote it: five fixed axes.
#[derive(Deserialize)]
struct LegacySweep {
    grid: LegacyGrid,
    runs: Vec<RunSpec>,
}

#[derive(Deserialize)]
struct LegacyGrid {
    tasks: Vec<Task>,
    models: Vec<Cell>,
    inits: Vec<InitScheme>,
    seq_lens: Vec<i64>,
    seeds: Vec<u64>,
    base: TrainConfig,
}

impl LegacySweep {
    fn into_manifest(self) -> Result<Manifest> {
        let g = self.grid;
        let mut axes = Map::new();
        axes.insert("task".into(), serde_json::to_value(g.tasks)?);
        axes.insert("model".into(), serde_json::to_value(g.models)?);
        axes.insert("init".into(), serde_json::to_value(g.inits)?);
        axes.insert("seq_len".into(), serde_json::to_value(g.seq_lens)?);
        axes.insert("seed".into(), serde_json::to_value(g.seeds)?);
        let grid = Grid {
            base: g.base.clone(),
            axes,
        };
        Ok(Manifest {
            base: g.base,
            grids: vec![GridRecord {
                grid,
                added: self.runs.len(),
                unix_time: 0,
            }],
            runs: self.runs,
        })
    }
}

/// A run's folder lies inside its study whatever a (hand-edited, shared)
/// manifest says: its name is one plain folder name.
pub fn check_run_name(name: &str) -> Result<()> {
    let plain = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
        && name != "logs";
    if !plain {
        bail!(
            "run name {name:?} is not a folder name inside the study (no '/', '..', or 'logs'); \
             restore the file, or make the study anew in a new folder"
        );
    }
    Ok(())
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match fs::read_to_string(path) {
        Ok(text) => {
            Ok(Some(serde_json::from_str(&text).with_context(|| {
                format!("cannot parse {}", path.display())
            })?))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

impl Manifest {
    /// A new, empty study with fixed settings `base`.
    pub fn new(base: TrainConfig) -> Manifest {
        Manifest {
            base,
            grids: Vec::new(),
            runs: Vec::new(),
        }
    }

    /// The study in `dir`: its study.json, else its sweep.json, else the
    /// finished runs found in it (adopted under their folder names); None
    /// when it holds no study.
    pub fn read(dir: &Path) -> Result<Option<Manifest>> {
        let (manifest, file) = if let Some(m) = read_json::<Manifest>(&dir.join(MANIFEST))? {
            (m, MANIFEST)
        } else if let Some(old) = read_json::<LegacySweep>(&dir.join(LEGACY_MANIFEST))? {
            (old.into_manifest()?, LEGACY_MANIFEST)
        } else {
            return Manifest::adopt(dir);
        };
        for run in &manifest.runs {
            check_run_name(&run.name).with_context(|| format!("{}", dir.join(file).display()))?;
        }
        Ok(Some(manifest))
    }

    /// A manifest for the finished runs of a folder that has none.
    fn adopt(dir: &Path) -> Result<Option<Manifest>> {
        let found = discover_runs(dir)?;
        let Some((_, first)) = found.first() else {
            return Ok(None);
        };
        let mut manifest = Manifest::new(first.summary.config.clone());
        manifest.runs = found
            .iter()
            .map(|(name, run)| RunSpec {
                name: name.clone(),
                config: run.summary.config.clone(),
            })
            .collect();
        manifest.grids.push(GridRecord {
            grid: Grid {
                base: manifest.base.clone(),
                axes: manifest.varying(),
            },
            added: manifest.runs.len(),
            unix_time: 0,
        });
        Ok(Some(manifest))
    }

    /// Writes `dir/study.json` whole; an older sweep.json is removed after.
    pub fn write(&self, dir: &Path) -> Result<()> {
        write_atomic(
            &dir.join(MANIFEST),
            (serde_json::to_string_pretty(self)? + "\n").as_bytes(),
        )?;
        let legacy = dir.join(LEGACY_MANIFEST);
        if legacy.exists() {
            fs::remove_file(&legacy)
                .with_context(|| format!("cannot remove {}", legacy.display()))?;
        }
        Ok(())
    }

    /// The values each setting takes over the study's runs, for the
    /// settings with more than one (and the canonical axes always).
    pub fn varying(&self) -> Map<String, Value> {
        let mut values: Map<String, Value> = Map::new();
        // Each setting's values seen, as JSON text: a set, not a scan of
        // the list (10^5 seeds would be quadratic).
        let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
        for run in &self.runs {
            let config = serde_json::to_value(&run.config).expect("a config serialises");
            for (setting, v) in config.as_object().expect("an object") {
                let list = values
                    .entry(setting.clone())
                    .or_insert_with(|| Value::Array(vec![]));
                let list = list.as_array_mut().expect("a list");
                if seen.insert((setting.clone(), v.to_string())) {
                    list.push(v.clone());
                }
            }
        }
        values.retain(|setting, v| {
            CANONICAL_AXES.contains(&setting.as_str()) || v.as_array().is_some_and(|a| a.len() > 1)
        });
        values
    }

    /// Adds the runs of `grid` that the study lacks, at the end (a grown
    /// study keeps every run's place, so shards keep their runs), and
    /// records the grid. A setting the study holds at one value may not be
    /// fixed at another (that would be another study); `dir` names the
    /// study in that message. Returns how many runs were added.
    pub fn grow(&mut self, grid: &Grid, dir: &Path) -> Result<usize> {
        self.check_fixed(grid, dir)?;
        let mut names: BTreeSet<String> = self.runs.iter().map(|r| r.name.clone()).collect();
        // Configs as their JSON text: a set, so a grid of 10^5 runs grows
        // in a fraction of a second (a scan per run was quadratic).
        let key = |c: &TrainConfig| serde_json::to_string(c).expect("a config serialises");
        let mut configs: BTreeSet<String> = self.runs.iter().map(|r| key(&r.config)).collect();
        let mut added = 0;
        for run in grid.runs(&self.base)? {
            if !configs.insert(key(&run.config)) {
                continue;
            }
            if !names.insert(run.name.clone()) {
                bail!(
                    "{} already holds a run named {} with other settings; grow it with the settings it was made with",
                    dir.display(),
                    run.name
                );
            }
            self.runs.push(run);
            added += 1;
        }
        let unix_time = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.grids.push(GridRecord {
            grid: grid.clone(),
            added,
            unix_time,
        });
        Ok(added)
    }

    fn check_fixed(&self, grid: &Grid, dir: &Path) -> Result<()> {
        if self.runs.is_empty() {
            return Ok(());
        }
        let varying = self.varying();
        let base = serde_json::to_value(&self.base)?;
        let new = serde_json::to_value(&grid.base)?;
        for (setting, value) in new.as_object().expect("an object") {
            if CANONICAL_AXES.contains(&setting.as_str())
                || grid.axes.contains_key(setting)
                || varying.contains_key(setting)
                || base[setting] == *value
            {
                continue;
            }
            let (was, now) = (value_text(&base[setting]), value_text(value));
            let flag = format!("--{}", setting.replace('_', "-"));
            bail!(
                "{setting} is {was} in the study in {} and {now} here: pass {flag} {was} to grow it, \
                 {flag} {was},{now} to vary it, or choose another --out",
                dir.display()
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn grid(axes: Value, base: TrainConfig) -> Grid {
        Grid {
            base,
            axes: axes.as_object().unwrap().clone(),
        }
    }

    #[test]
    fn a_study_grows_by_any_axis_and_keeps_its_runs_in_place() {
        let dir = Path::new("d");
        let base = TrainConfig {
            epochs: 5,
            ..TrainConfig::default()
        };
        let mut m = Manifest::new(base.clone());
        let first = grid(
            json!({"model": ["rnn", "gru"], "seed": [1, 2]}),
            base.clone(),
        );
        assert_eq!(m.grow(&first, dir).unwrap(), 4);
        let before = m.runs.clone();
        let more = grid(
            json!({"model": ["rnn", "gru"], "seed": [1, 2, 3], "seq_len": [100, 50]}),
            base.clone(),
        );
        assert_eq!(m.grow(&more, dir).unwrap(), 8);
        assert_eq!(m.runs[..4], before[..]);
        assert_eq!(m.runs[4].name, "multiply-rnn-keras-len100-seed3");
        assert_eq!(
            m.grow(&more, dir).unwrap(),
            0,
            "nothing new the second time"
        );
        assert_eq!(
            m.grids.iter().map(|g| g.added).collect::<Vec<_>>(),
            [4, 8, 0]
        );
        let lr = grid(
            json!({"model": ["rnn"], "seed": [1], "lr": [0.001, 0.01]}),
            base.clone(),
        );
        assert_eq!(m.grow(&lr, dir).unwrap(), 1);
        assert_eq!(
            m.runs.last().unwrap().name,
            "multiply-rnn-keras-len100-lr0.01-seed1"
        );
    }

    #[test]
    fn a_changed_fixed_setting_is_refused_with_both_values() {
        let base = TrainConfig {
            epochs: 5,
            ..TrainConfig::default()
        };
        let mut m = Manifest::new(base.clone());
        m.grow(&grid(json!({"seed": [1]}), base.clone()), Path::new("d"))
            .unwrap();
        let other = TrainConfig {
            epochs: 100,
            ..base
        };
        let err = m
            .grow(&grid(json!({"seed": [2]}), other), Path::new("d"))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "epochs is 5 in the study in d and 100 here: pass --epochs 5 to grow it, \
             --epochs 5,100 to vary it, or choose another --out"
        );
    }

    #[test]
    fn sweep_json_reads_as_a_study() {
        let tmp = tempfile::tempdir().unwrap();
        let runs =
            json!([{"name": "multiply-rnn-keras-len5-seed1", "config": TrainConfig::default()}]);
        let old = json!({"grid": {"tasks": ["multiply"], "models": ["rnn"], "inits": ["keras"],
            "seq_lens": [5], "seeds": [1], "base": TrainConfig::default()}, "runs": runs});
        fs::write(tmp.path().join(LEGACY_MANIFEST), old.to_string()).unwrap();
        let m = Manifest::read(tmp.path()).unwrap().unwrap();
        assert_eq!(m.runs.len(), 1);
        assert_eq!(m.grids[0].grid.axes["seq_len"], json!([5]));
        m.write(tmp.path()).unwrap();
        assert!(tmp.path().join(MANIFEST).exists() && !tmp.path().join(LEGACY_MANIFEST).exists());
        assert_eq!(Manifest::read(tmp.path()).unwrap().unwrap(), m);
    }
}
