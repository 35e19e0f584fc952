//! Parity with Keras, the blog's framework (scripts/keras_reference.py on
//! Keras 3 with TensorFlow, from `scripts/setup.sh --keras`): lockstep runs
//! from rnn-lab's data, initial weights and batch order, at the blog's
//! sizes for 3 epochs, through Keras's own train step and Adam; rnn-lab in
//! its `--adam keras` mode, which follows Keras's update step exactly. The
//! `--adam torch` figures are printed beside them (about 1e-4 at most:
//! only the optimizer differs).

mod common;

use common::*;

/// Relative tolerance on every epoch's loss and val_loss.
const RTOL: f64 = 1e-4;

fn keras(args: &[&str]) {
    let python = repo().join(".venv-keras/bin/python");
    assert!(
        python.exists(),
        "{} missing: run scripts/setup.sh --keras",
        python.display()
    );
    let out = python_script_with(&python, "keras_reference.py")
        .args(args)
        .env("TF_CPP_MIN_LOG_LEVEL", "3")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "keras_reference.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn lockstep(model: &str) {
    // Every kernel that trains the model alone must follow Keras. The
    // kernels share one Keras run: their data, initial weights and batch
    // order are the same (tests/parity.rs checks the weights), so the
    // files each saves are the ones Keras trained from.
    let kernels: &[&str] = match model {
        "lstm" => &["native", "libtorch", "composed"],
        _ => &["native", "handwritten", "libtorch", "composed"],
    };
    let tmp = tempfile::tempdir().unwrap();
    for kernel in kernels {
        lockstep_with(model, kernel, &tmp);
    }
}

fn lockstep_with(model: &str, kernel: &str, tmp: &tempfile::TempDir) {
    let (init, data) = (
        tmp.path().join("init.safetensors"),
        tmp.path().join("data.safetensors"),
    );
    let common = ["--model", model, "--epochs", "3", "--quiet"];
    let mut worst = Vec::new();
    let theirs = tmp.path().join("keras");
    for adam in ["keras", "torch"] {
        let ours = tmp.path().join(format!("rnn-lab-{kernel}-{adam}"));
        run_ok(&with(
            &with(
                &[
                    "train",
                    "--device",
                    "cpu",
                    "--threads",
                    "1",
                    "--adam",
                    adam,
                    "--kernel",
                    kernel,
                ],
                &common,
            ),
            &[
                "--out",
                s(&ours),
                "--save-init",
                s(&init),
                "--save-data",
                s(&data),
                "--force",
            ],
        ));
        if adam == "keras" && !theirs.join("summary.json").exists() {
            // Same data, weights and batch order for both Adams and every
            // kernel: one Keras run.
            keras(&with(
                &common,
                &[
                    "--data",
                    s(&data),
                    "--init-from",
                    s(&init),
                    "--out",
                    s(&theirs),
                ],
            ));
        }
        assert_eq!(
            json(&theirs.join("summary.json"))["parameters"],
            json(&ours.join("summary.json"))["parameters"],
            "{model}: Keras's model.summary() count"
        );
        worst.push((
            adam,
            largest_relative_loss(&loss_pairs(&ours), &loss_pairs(&theirs)),
        ));
    }
    println!("keras parity {model} {kernel}: largest relative loss/val_loss difference, --adam keras {:.2e}, --adam torch {:.2e}", worst[0].1, worst[1].1);
    assert!(
        worst[0].1 <= RTOL,
        "{model} {kernel}: --adam keras differs from Keras by {:e}",
        worst[0].1
    );
}

#[test]
fn rnn_matches_keras_step_for_step() {
    lockstep("rnn");
}

#[test]
fn lstm_matches_keras_step_for_step() {
    lockstep("lstm");
}

#[test]
fn gru_matches_keras_step_for_step() {
    lockstep("gru");
}

/// Le et al.'s IRNN: Keras's SimpleRNN with ReLU, from rnn-lab's weights.
#[test]
fn irnn_matches_keras_step_for_step() {
    lockstep("irnn");
}

/// Keras's own initial weights, exported with `--save-init` in rnn-lab's
/// layout, are the same network on both sides: Keras trained from the file
/// repeats its own run exactly (the blog path, fit()'s shuffling), and
/// rnn-lab trained from the file in lockstep matches Keras from it. LSTM
/// and GRU (gate order swapped, two biases) at small sizes.
#[test]
fn keras_initial_weights_export_to_rnn_lab_and_back() {
    let tmp = tempfile::tempdir().unwrap();
    for model in ["lstm", "gru"] {
        let dir = tmp.path().join(model);
        let path = |name: &str| dir.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let sizes = with(
            &["--model", model, "--seq-len", "10", "--epochs", "2"],
            TINY,
        );
        let sizes = with(&sizes, &["--seed", "5", "--quiet"]);
        let init = path("keras-init.safetensors");
        keras(&with(
            &sizes,
            &["--save-init", s(&init), "--out", s(&path("own"))],
        ));
        keras(&with(
            &sizes,
            &["--init-from", s(&init), "--out", s(&path("from-file"))],
        ));
        let summary = json(&path("from-file/summary.json"));
        assert_eq!(summary["path"], "blog", "{model}");
        assert_eq!(summary["init"], "rnn-lab --save-init", "{model}");
        assert_eq!(
            loss_pairs(&path("own")),
            loss_pairs(&path("from-file")),
            "{model}: Keras from its exported initial weights is not its own run"
        );

        let data = path("data.safetensors");
        run_ok(&with(
            &with(&["train", "--device", "cpu", "--threads", "1"], &sizes),
            &[
                "--adam",
                "keras",
                "--init-from",
                s(&init),
                "--save-data",
                s(&data),
                "--out",
                s(&path("rnn-lab")),
            ],
        ));
        keras(&with(
            &sizes,
            &[
                "--data",
                s(&data),
                "--init-from",
                s(&init),
                "--out",
                s(&path("lockstep")),
            ],
        ));
        assert_eq!(json(&path("lockstep/summary.json"))["path"], "lockstep");
        let worst = largest_relative_loss(
            &loss_pairs(&path("rnn-lab")),
            &loss_pairs(&path("lockstep")),
        );
        assert!(
            worst <= RTOL,
            "{model}: rnn-lab from Keras's initial weights differs from Keras by {worst:e}"
        );
    }
}
