//! Parity with the PyTorch reference (scripts/reference.py, run on the
//! torch that scripts/setup.sh installed): same data bit for bit, same
//! initial weights, same curves step for step at the blog's sizes.

mod common;

use std::{collections::HashMap, fs, path::Path, process::Command};

use common::*;
use rnn_lab::{
    config::{Cell, Task},
    nn::tasks,
};
use tch::Tensor;

/// Relative tolerance on every epoch's loss and val_loss.
const LOSS_RTOL: f64 = 1e-4;
/// Absolute tolerance on the final test predictions.
const PRED_ATOL: f64 = 1e-4;

fn column(path: &Path, col: usize) -> Vec<f64> {
    csv_rows(path)[1..]
        .iter()
        .map(|r| r[col].parse().unwrap())
        .collect()
}

fn largest_relative(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / y.abs().max(f64::MIN_POSITIVE))
        .fold(0.0, f64::max)
}

fn largest_absolute(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

fn weights(path: &Path) -> HashMap<String, Tensor> {
    Tensor::read_safetensors(path)
        .unwrap()
        .into_iter()
        .collect()
}

#[test]
fn reference_rebuilds_the_same_data_bit_for_bit() {
    let tmp = tempfile::tempdir().unwrap();
    for &task in Task::all() {
        let name = task.name();
        let path = tmp.path().join(format!("{name}.safetensors"));
        reference(&[
            "--task",
            name,
            "--seed",
            "7",
            "--samples",
            "600",
            "--fit-rows",
            "500",
            "--seq-len",
            "40",
            "--dump-data",
            s(&path),
        ]);
        let theirs = weights(&path);
        let ours = tasks::generate(task, 600, 40, 7).unwrap();
        for (part, t) in [("x", &ours.x), ("y", &ours.y), ("lengths", &ours.lengths)] {
            assert!(
                theirs[part].equal(t),
                "{name}: {part} differs from PyTorch's"
            );
        }
    }
}

/// Trains 3 epochs in rnn-lab with every kernel that trains `model` alone,
/// and in the reference from rnn-lab's initial weights, and compares each
/// rnn-lab run with the reference's. The weights come from the seed, the
/// same for every kernel (checked), so one reference run serves them all.
fn parity(model: &str, extra: &[&str]) {
    parity_on(model, extra, &kernels(model), true);
}

/// Every kernel that can train `model` alone, as `rnn-lab info --json`
/// lists the cell's.
fn kernels(model: &str) -> Vec<String> {
    let info: serde_json::Value = serde_json::from_str(&run_ok(&["info", "--json"])).unwrap();
    info["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == model)
        .unwrap_or_else(|| panic!("info --json lists no cell {model}"))["kernels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect()
}

/// Parity on `kernels`; with `reload`, the reference also loads each
/// rnn-lab run's trained weights and must predict what it predicted.
fn parity_on<K: AsRef<str>>(model: &str, extra: &[&str], kernels: &[K], reload: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let theirs = tmp.path().join("reference");
    let common: Vec<&str> = with(
        &[
            "--model",
            model,
            "--epochs",
            "3",
            "--device",
            "cpu",
            "--threads",
            "1",
            "--quiet",
        ],
        extra,
    );
    for (i, kernel) in kernels.iter().map(AsRef::as_ref).enumerate() {
        let ours = tmp.path().join(format!("rnn-lab-{kernel}"));
        let own_init = tmp.path().join(format!("init-{kernel}.safetensors"));
        run_ok(&with(
            &with(&["train"], &common),
            &[
                "--out",
                s(&ours),
                "--save-init",
                s(&own_init),
                "--kernel",
                kernel,
            ],
        ));
        assert_eq!(json(&ours.join("summary.json"))["kernel"], kernel);
        if i == 0 {
            reference(&with(
                &common,
                &["--out", s(&theirs), "--init-from", s(&own_init)],
            ));
        } else {
            assert_eq!(
                fs::read(&own_init).unwrap(),
                fs::read(
                    tmp.path()
                        .join(format!("init-{}.safetensors", kernels[0].as_ref()))
                )
                .unwrap(),
                "{model} {kernel}: the initial weights depend on the kernel"
            );
        }
        compare(model, extra, kernel, &ours, &theirs);
        if reload {
            // The reference loads rnn-lab's trained weights and predicts the same.
            let out = reference(&with(
                &common,
                &["--predict-from", s(&ours.join("model.safetensors"))],
            ));
            let printed = Predictions::parse(&String::from_utf8(out.stdout).unwrap());
            let worst_loaded = printed.distance(&predictions(&ours.join("predictions.csv")));
            assert!(
                worst_loaded <= 1e-6,
                "{model}: PyTorch predicts {worst_loaded} away with rnn-lab's weights"
            );
            println!("parity {model} {extra:?} {kernel}: PyTorch with rnn-lab's trained weights: largest diff {worst_loaded:.3e}");
        }
    }
}

/// rnn-lab's run `ours` against the reference's `theirs`: every epoch's
/// loss and val_loss, the test predictions, the test loss, baseline and score.
fn compare(model: &str, extra: &[&str], kernel: &str, ours: &Path, theirs: &Path) {
    let (mut worst_loss, mut worst_val) = (0.0f64, 0.0f64);
    for (col, worst) in [(1, &mut worst_loss), (2, &mut worst_val)] {
        let a = column(&ours.join("history.csv"), col);
        let b = column(&theirs.join("history.csv"), col);
        assert_eq!(a.len(), 3);
        *worst = largest_relative(&a, &b);
        assert!(
            *worst <= LOSS_RTOL,
            "{model} {extra:?} {kernel}: column {col} differs by {worst} relative: {a:?} vs {b:?}"
        );
    }
    let a = predictions(&ours.join("predictions.csv"));
    let b = predictions(&theirs.join("predictions.csv"));
    let worst_pred = a.distance(&b);
    assert!(
        worst_pred <= PRED_ATOL,
        "{model} {extra:?} {kernel}: predictions differ by {worst_pred}"
    );
    for key in ["test_loss", "baseline_loss", "correctness"] {
        let (x, y) = (
            json(&ours.join("summary.json"))[key].as_f64().unwrap(),
            json(&theirs.join("summary.json"))[key].as_f64().unwrap(),
        );
        assert!(
            (x - y).abs() <= 1e-4 * y.abs().max(1.0),
            "{model} {extra:?} {kernel}: {key} {x} vs {y}"
        );
    }
    println!(
        "parity {model} {extra:?} {kernel}: largest relative loss diff {worst_loss:.3e}, val_loss {worst_val:.3e}, \
         largest prediction diff {worst_pred:.3e}"
    );
}

/// predictions.csv's prediction column: values, or classes and recalled
/// symbols as text.
enum Predictions {
    Values(Vec<f64>),
    Text(Vec<String>),
}

fn predictions(path: &Path) -> Predictions {
    Predictions::parse(&std::fs::read_to_string(path).unwrap())
}

impl Predictions {
    fn parse(csv: &str) -> Predictions {
        let column: Vec<String> = csv
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(2).unwrap().to_string())
            .collect();
        if csv.starts_with("row,target,prediction,abs_error") {
            Predictions::Values(column.iter().map(|v| v.parse().unwrap()).collect())
        } else {
            Predictions::Text(column)
        }
    }

    /// The largest difference of two values; for classes and symbols, 0
    /// when every row is the same and infinity otherwise.
    fn distance(&self, other: &Predictions) -> f64 {
        match (self, other) {
            (Predictions::Values(a), Predictions::Values(b)) => largest_absolute(a, b),
            (Predictions::Text(a), Predictions::Text(b)) if a == b => 0.0,
            _ => f64::INFINITY,
        }
    }
}

#[test]
fn rnn_matches_pytorch_step_for_step() {
    parity("rnn", &[]);
}

#[test]
fn lstm_matches_pytorch_step_for_step() {
    parity("lstm", &[]);
}

#[test]
fn gru_matches_pytorch_step_for_step() {
    parity("gru", &[]);
}

#[test]
fn torch_init_and_adding_task_match_pytorch() {
    parity("lstm", &["--init", "torch", "--task", "blog-add"]);
}

#[test]
fn irnn_matches_pytorch_step_for_step() {
    parity("irnn", &[]);
}

/// Small rows of each task of the suite: their readouts (each row's own
/// end, every step), cross-entropy and scores, on every kernel.
const SMALL: [&str; 6] = ["--samples", "700", "--fit-rows", "600", "--seq-len", "30"];

#[test]
fn the_suites_tasks_match_pytorch() {
    for (task, model) in [
        ("add-halves", "rnn"),
        ("hs-add", "gru"),
        ("hs-multiply", "lstm"),
        ("copy", "gru"),
        ("copy", "irnn"),
        ("order", "lstm"),
        ("order", "rnn"),
    ] {
        parity(model, &with(&SMALL, &["--task", task]));
    }
}

/// Rows just long enough for every task (Hochreiter & Schmidhuber's need
/// 22 steps).
const TINY: [&str; 6] = ["--samples", "400", "--fit-rows", "340", "--seq-len", "24"];

/// The cells of 2018-2024 on every task (their paper's init drawn by
/// rnn-lab, which the reference starts from); the trained weights are
/// loaded back once.
fn every_task(model: &str) {
    for &task in Task::all() {
        let extra = with(&TINY, &["--task", task.name()]);
        parity_on(model, &extra, &["composed"], task == Task::Multiply);
    }
}

#[test]
fn indrnn_matches_pytorch_on_every_task() {
    every_task("indrnn");
}

#[test]
fn mingru_matches_pytorch_on_every_task() {
    every_task("mingru");
}

#[test]
fn minlstm_matches_pytorch_on_every_task() {
    every_task("minlstm");
}

#[test]
fn lru_matches_pytorch_on_every_task() {
    every_task("lru");
}

#[test]
fn gradient_clipping_matches_pytorchs_clip_grad_norm() {
    let clipped = with(&SMALL, &["--task", "hs-add", "--clip-norm", "0.05"]);
    for model in ["gru", "lstm"] {
        parity(model, &clipped);
    }
    // The clip binds: without it the run is another.
    let tmp = tempfile::tempdir().unwrap();
    let losses = |extra: &[&str], name: &str| {
        let out = tmp.path().join(name);
        let base = with(
            &[
                "train",
                "--model",
                "gru",
                "--epochs",
                "2",
                "--quiet",
                "--out",
                s(&out),
            ],
            extra,
        );
        run_ok(&base);
        column(&out.join("history.csv"), 1)
    };
    let (a, b) = (
        losses(&clipped, "clipped"),
        losses(&with(&SMALL, &["--task", "hs-add"]), "free"),
    );
    assert!(
        largest_relative(&a, &b) > 1e-3,
        "clipping changed nothing: {a:?} vs {b:?}"
    );
}

/// rnn-lab's initial weights equal the reference's own draws bit for bit
/// (Keras scheme re-implemented in PyTorch; torch scheme = PyTorch's
/// `reset_parameters`), so either side can rebuild them from the seed.
#[test]
fn both_init_schemes_equal_the_references_own_draws() {
    let tmp = tempfile::tempdir().unwrap();
    for model in Cell::all().iter().map(|c| c.name()) {
        for init in ["keras", "torch"] {
            let ours = tmp.path().join(format!("{model}-{init}-ours.safetensors"));
            let theirs = tmp
                .path()
                .join(format!("{model}-{init}-theirs.safetensors"));
            let args = [
                "--model",
                model,
                "--init",
                init,
                "--epochs",
                "1",
                "--seq-len",
                "5",
                "--samples",
                "300",
                "--fit-rows",
                "250",
                "--quiet",
            ];
            run_ok(&with(
                &with(&["train"], &args),
                &[
                    "--out",
                    s(&tmp.path().join("o").join(model).join(init)),
                    "--save-init",
                    s(&ours),
                ],
            ));
            reference(&with(
                &args,
                &[
                    "--out",
                    s(&tmp.path().join("r").join(model).join(init)),
                    "--save-init",
                    s(&theirs),
                ],
            ));
            let (a, b) = (weights(&ours), weights(&theirs));
            assert_eq!(a.len(), b.len());
            for (name, t) in &a {
                assert!(
                    t.equal(&b[name]),
                    "{model} {init}: {name} differs from the reference's draw"
                );
            }
            // Every setting left unset comes from src/config/defaults.json on both sides.
            let config = |side: &str| {
                let dir = tmp.path().join(side).join(model).join(init);
                json(&dir.join("summary.json"))["config"].clone()
            };
            assert_eq!(
                config("o"),
                config("r"),
                "{model} {init}: run settings differ"
            );
        }
    }
}

/// PyTorch's own default init (a fresh nn.LSTM/nn.Linear, another seed)
/// and rnn-lab's `--init torch` agree per tensor in bound and variance.
#[test]
fn torch_init_has_pytorchs_distribution() {
    let tmp = tempfile::tempdir().unwrap();
    let ours = tmp.path().join("ours.safetensors");
    run_ok(&[
        "train",
        "--init",
        "torch",
        "--epochs",
        "1",
        "--seq-len",
        "5",
        "--quiet",
        "--save-init",
        s(&ours),
        "--out",
        s(&tmp.path().join("o")),
    ]);
    let theirs = tmp.path().join("theirs.safetensors");
    let script = "import sys, torch\nfrom torch import nn\nfrom safetensors.torch import save_file\n\
                  torch.manual_seed(12345)\nm = nn.Module(); m.rnn = nn.LSTM(2, 30, num_layers=2, batch_first=True); m.head = nn.Linear(30, 1)\n\
                  save_file({k: v.detach().contiguous() for k, v in m.state_dict().items()}, sys.argv[1])\n";
    let status = Command::new(python())
        .args(["-c", script, s(&theirs)])
        .status()
        .unwrap();
    assert!(status.success());
    let (a, b) = (weights(&ours), weights(&theirs));
    assert_eq!(a.len(), b.len());
    let bound = 1.0 / 30f64.sqrt();
    for (name, t) in &a {
        let u = &b[name];
        assert_eq!(t.size(), u.size(), "{name}");
        let (max_ours, max_theirs) = (
            t.abs().max().double_value(&[]),
            u.abs().max().double_value(&[]),
        );
        assert!(
            max_ours <= bound + 1e-7 && max_theirs <= bound + 1e-7,
            "{name}: beyond 1/sqrt(30)"
        );
        if t.numel() >= 100 {
            assert!(
                (max_ours / max_theirs - 1.0).abs() < 0.05,
                "{name}: bounds {max_ours} vs {max_theirs}"
            );
            let (var_ours, var_theirs) =
                (t.var(true).double_value(&[]), u.var(true).double_value(&[]));
            assert!(
                (var_ours / var_theirs - 1.0).abs() < 0.25,
                "{name}: variance {var_ours} vs {var_theirs}"
            );
        }
    }
}

/// The PyTorch reference's cells against their own equations written step
/// by step, their draws against their papers', and the old cells against
/// nn.RNN, nn.LSTM and nn.GRU (scripts/test_cells.py prints each check).
#[test]
fn the_references_cells_pass_their_checks() {
    let out = Command::new(python())
        .arg(repo().join("scripts/test_cells.py"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.trim_end().ends_with("0 failed"),
        "scripts/test_cells.py:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
