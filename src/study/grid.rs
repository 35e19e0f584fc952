//! A study's grid: the fixed settings (`base`) and the values of each
//! setting that varies (its axes), over any run setting. Expanded into one
//! run per point, ordered task, model, init, length, the other axes, seed,
//! each with a folder name that is a function of its config alone.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::{value_text, TrainConfig};
use crate::nn::ModelSpec;

/// The settings every study varies, always named in a run's folder name.
pub const CANONICAL_AXES: [&str; 5] = ["task", "model", "init", "seq_len", "seed"];

/// The axes of a grid and its fixed settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "GridFile")]
pub struct Grid {
    /// The fixed settings (a setting that is an axis takes each of its
    /// values instead).
    pub base: TrainConfig,
    /// Each axis's values, by `TrainConfig` field name.
    pub axes: Map<String, Value>,
}

/// A grid as a file holds it: its axes' values as the version that wrote
/// it named them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GridFile {
    base: TrainConfig,
    axes: Map<String, Value>,
}

impl From<GridFile> for Grid {
    /// Each value of an axis as a config writes it today, so a study.json
    /// or --grid file that says `"task": ["add"]` is written back with
    /// `blog-add`. A value no config takes stays as it was, for `validate`
    /// to name.
    fn from(file: GridFile) -> Grid {
        let base = to_map(&file.base);
        let canonical = |setting: &String, value: Value| -> Value {
            // Only names have older spellings; numbers pass as they are
            // (a grid of 10^5 seeds reads without 10^5 config round trips).
            if !value.is_string() || !base.contains_key(setting) {
                return value;
            }
            let mut point = base.clone();
            point.insert(setting.clone(), value.clone());
            match serde_json::from_value::<TrainConfig>(Value::Object(point)) {
                Ok(config) => to_map(&config).remove(setting).unwrap_or(value),
                Err(_) => value,
            }
        };
        let axes = file
            .axes
            .into_iter()
            .map(|(setting, values)| {
                let values = match values {
                    Value::Array(list) => {
                        Value::Array(list.into_iter().map(|v| canonical(&setting, v)).collect())
                    }
                    other => other,
                };
                (setting, values)
            })
            .collect();
        Grid {
            base: file.base,
            axes,
        }
    }
}

/// One run of a study: its folder name (stable for its settings) and its
/// settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    pub name: String,
    pub config: TrainConfig,
}

/// Every setting in expansion order: the canonical axes first (seed
/// last), the others in `TrainConfig`'s order.
pub fn setting_order() -> Vec<String> {
    let all = serde_json::to_value(TrainConfig::default()).expect("a config serialises");
    let mut order: Vec<String> = CANONICAL_AXES[..4].iter().map(|s| s.to_string()).collect();
    for key in all.as_object().expect("an object").keys() {
        if !CANONICAL_AXES.contains(&key.as_str()) {
            order.push(key.clone());
        }
    }
    order.push("seed".into());
    order
}

/// The folder name of a run in a study whose fixed settings are `base`:
/// `multiply-lstm-keras-len100-seed1`, with `-<setting><value>` before the
/// seed for every other setting where the run differs from `base`
/// (`multiply-lstm-keras-len100-lr0.01-seed1`).
pub fn run_name(c: &TrainConfig, base: &TrainConfig) -> String {
    let mut name = format!("{}-{}-{}-len{}", c.task, c.model, c.init, c.seq_len);
    let (config, base) = (to_map(c), to_map(base));
    for setting in setting_order() {
        if CANONICAL_AXES.contains(&setting.as_str()) || config[&setting] == base[&setting] {
            continue;
        }
        name += &format!(
            "-{}{}",
            setting.replace('_', ""),
            value_text(&config[&setting])
        );
    }
    name + &format!("-seed{}", c.seed)
}

fn to_map(c: &TrainConfig) -> Map<String, Value> {
    match serde_json::to_value(c).expect("a config serialises") {
        Value::Object(map) => map,
        _ => unreachable!("a config is an object"),
    }
}

impl Grid {
    /// The configs of every point, in expansion order.
    pub fn configs(&self) -> Result<Vec<TrainConfig>> {
        let mut points = vec![to_map(&self.base)];
        for setting in setting_order() {
            let Some(values) = self.axes.get(&setting) else {
                continue;
            };
            let values = values
                .as_array()
                .with_context(|| format!("axis {setting} is not a list"))?;
            points = points
                .iter()
                .flat_map(|p| {
                    let setting = &setting;
                    values.iter().map(move |v| {
                        let mut p = p.clone();
                        p.insert(setting.clone(), v.clone());
                        p
                    })
                })
                .collect();
        }
        points
            .into_iter()
            .map(|p| serde_json::from_value(Value::Object(p)).context("a grid point"))
            .collect()
    }

    /// Every run, named against the study's fixed settings `base`.
    pub fn runs(&self, base: &TrainConfig) -> Result<Vec<RunSpec>> {
        Ok(self
            .configs()?
            .into_iter()
            .map(|config| RunSpec {
                name: run_name(&config, base),
                config,
            })
            .collect())
    }

    /// Checks the axes (known settings, at least one value, none twice) and
    /// every run's settings.
    pub fn validate(&self) -> Result<()> {
        let known = setting_order();
        for (setting, values) in &self.axes {
            if !known.contains(setting) {
                bail!("{setting} is not a run setting");
            }
            let values = values.as_array().map(Vec::as_slice).unwrap_or_default();
            if values.is_empty() {
                bail!("{setting} needs at least one value");
            }
            let mut seen = std::collections::BTreeSet::new();
            for v in values {
                if !seen.insert(v.to_string()) {
                    bail!("{setting} lists {} twice", value_text(v));
                }
            }
        }
        for config in self.configs()? {
            config
                .validate()
                .and_then(|()| ModelSpec::for_config(&config).check_size())
                .with_context(|| format!("run {}", run_name(&config, &self.base)))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn grid() -> Grid {
        let axes = json!({
            "seed": [1, 2, 3],
            "task": ["multiply", "blog-add"],
            "model": ["rnn", "lstm", "gru"],
            "init": ["keras"],
            "seq_len": [10, 25, 50, 100, 200],
        });
        Grid {
            base: TrainConfig::default(),
            axes: axes.as_object().unwrap().clone(),
        }
    }

    #[test]
    fn grid_expands_in_order_with_stable_names() {
        let g = grid();
        let runs = g.runs(&g.base).unwrap();
        assert_eq!(runs.len(), 2 * 3 * 5 * 3);
        assert_eq!(runs[0].name, "multiply-rnn-keras-len10-seed1");
        assert_eq!(runs[1].name, "multiply-rnn-keras-len10-seed2");
        assert_eq!(runs[3].name, "multiply-rnn-keras-len25-seed1");
        assert_eq!(runs[89].name, "blog-add-gru-keras-len200-seed3");
        assert_eq!(runs[89].config.seq_len, 200);
        let mut names: Vec<_> = runs.iter().map(|r| r.name.clone()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 90, "names are unique");
    }

    /// A grid file (or study.json) written when blog-add was `add` reads
    /// with the task's name today, and is written back with it.
    #[test]
    fn a_grid_read_with_an_old_task_name_holds_the_name_of_today() {
        let text = json!({"base": TrainConfig::default(),
            "axes": {"task": ["multiply", "add"], "seed": [1, 2], "colour": ["red"]}});
        let g: Grid = serde_json::from_value(text).unwrap();
        assert_eq!(g.axes["task"], json!(["multiply", "blog-add"]));
        assert_eq!(g.axes["seed"], json!([1, 2]));
        assert_eq!(
            g.axes["colour"],
            json!(["red"]),
            "left for validate to name"
        );
        let written = serde_json::to_value(&g).unwrap();
        assert_eq!(written["axes"]["task"], json!(["multiply", "blog-add"]));
        assert_eq!(written["base"]["task"], json!("multiply"));
        let back: Grid = serde_json::from_value(written).unwrap();
        assert_eq!(back, g);
    }

    #[test]
    fn any_setting_is_an_axis_and_named_where_it_differs_from_the_base() {
        let mut g = grid();
        g.axes.insert("lr".into(), json!([0.001, 0.01]));
        g.axes.insert("seq_len".into(), json!([10]));
        let runs = g.runs(&g.base).unwrap();
        assert_eq!(runs.len(), 2 * 3 * 2 * 3);
        assert_eq!(runs[0].name, "multiply-rnn-keras-len10-seed1");
        assert_eq!(runs[3].name, "multiply-rnn-keras-len10-lr0.01-seed1");
        assert_eq!(runs[3].config.lr, 0.01);
        let base = TrainConfig {
            epochs: 50,
            ..TrainConfig::default()
        };
        let c = TrainConfig {
            batch_size: 16,
            ..base.clone()
        };
        assert_eq!(
            run_name(&c, &base),
            "multiply-lstm-keras-len100-batchsize16-seed1"
        );
    }

    #[test]
    fn grid_validation_names_the_axis() {
        let mut g = grid();
        g.axes.insert("seq_len".into(), json!([10, 10]));
        assert_eq!(
            g.validate().unwrap_err().to_string(),
            "seq_len lists 10 twice"
        );
        g.axes.insert("seq_len".into(), json!([]));
        assert_eq!(
            g.validate().unwrap_err().to_string(),
            "seq_len needs at least one value"
        );
        g.axes.insert("seq_len".into(), json!([1]));
        let err = format!("{:#}", g.validate().unwrap_err());
        assert!(
            err.contains("run multiply-rnn-keras-len1-seed1: seq_len must be at least 2"),
            "{err}"
        );
        g.axes.insert("colour".into(), json!([1]));
        assert_eq!(
            g.validate().unwrap_err().to_string(),
            "colour is not a run setting"
        );
    }
}
