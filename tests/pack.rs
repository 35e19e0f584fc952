//! Packed runs (`train-pack`, `--pack`) against single runs: the same
//! curves for every member at the blog's sizes, every cell, both init
//! schemes and both tasks mixed in one pack; and a diverging member that
//! ends alone while the others finish as they would alone.

mod common;

use std::{fs, path::Path};

use common::*;
use serde_json::json;

/// Relative tolerance on every epoch's loss and val_loss (issue: 1e-5).
const RTOL: f64 = 1e-5;

/// A member: rnn-lab's defaults (`info --json`) with these settings.
fn member(
    model: &str,
    init: &str,
    task: &str,
    seed: u64,
    size: &[(&str, i64)],
    out: &Path,
) -> serde_json::Value {
    let info: serde_json::Value = serde_json::from_str(&run_ok(&["info", "--json"])).unwrap();
    let mut config = info["defaults"].clone();
    config["model"] = json!(model);
    config["init"] = json!(init);
    config["task"] = json!(task);
    config["seed"] = json!(seed);
    for (key, value) in size {
        config[*key] = json!(value);
    }
    json!({"config": config, "out": s(out)})
}

fn train_pack(plan: &[serde_json::Value], dir: &Path) -> (bool, String) {
    train_pack_with(plan, dir, "auto")
}

fn train_pack_with(plan: &[serde_json::Value], dir: &Path, kernel: &str) -> (bool, String) {
    let path = dir.join("plan.json");
    fs::write(&path, serde_json::to_string(plan).unwrap()).unwrap();
    let (ok, _, stderr) = run(&[
        "train-pack",
        "--plan",
        s(&path),
        "--device",
        "cpu",
        "--quiet",
        "--kernel",
        kernel,
    ]);
    (ok, stderr)
}

fn single(config: &serde_json::Value, out: &Path, dir: &Path, extra: &[&str]) {
    let path = dir.join(format!(
        "{}.json",
        out.file_name().unwrap().to_str().unwrap()
    ));
    fs::write(&path, config.to_string()).unwrap();
    run_ok(&with(
        &[
            "train",
            "--config",
            s(&path),
            "--device",
            "cpu",
            "--quiet",
            "--out",
            s(out),
        ],
        extra,
    ));
}

/// The cells of 2018-2024 (composed kernel only), at small sizes:
/// members with both init schemes and two readouts follow their lone runs.
#[test]
fn the_newer_cells_pack_as_they_run_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    for model in ["indrnn", "mingru", "minlstm", "lru"] {
        let size = [
            ("epochs", 3),
            ("samples", 600),
            ("fit_rows", 500),
            ("seq_len", 30),
        ];
        let kinds = [("keras", "multiply", 1), ("torch", "hs-add", 2)];
        let plan: Vec<_> = kinds
            .iter()
            .map(|(init, task, seed)| {
                let out = root.join(format!("{model}-{init}-{task}-{seed}-packed"));
                member(model, init, task, *seed, &size, &out)
            })
            .collect();
        // Members of other tasks share a step only with the same shape:
        // train each kind as its own pack of two seeds.
        for m in &plan {
            let mut twin = m.clone();
            twin["config"]["seed"] = json!(m["config"]["seed"].as_u64().unwrap() + 10);
            twin["out"] = json!(format!("{}-twin", m["out"].as_str().unwrap()));
            let pack = [m.clone(), twin];
            let (ok, stderr) = train_pack_with(&pack, root, "composed");
            assert!(ok, "{model}: {stderr}");
            let packed = Path::new(m["out"].as_str().unwrap()).to_owned();
            let alone = root.join(format!(
                "{}-alone",
                packed.file_name().unwrap().to_str().unwrap()
            ));
            single(&m["config"], &alone, root, &["--kernel", "composed"]);
            let worst = largest_relative_loss(&loss_pairs(&packed), &loss_pairs(&alone));
            assert!(
                worst <= RTOL,
                "{model} {}: {worst:e} relative",
                m["config"]["task"]
            );
            let summary = json(&packed.join("summary.json"));
            assert_eq!(summary["pack"], json!({"members": 2, "position": 0}));
            assert_eq!(summary["kernel"], "composed");
            assert_clean_history(&packed, 3);
        }
    }
}

#[test]
fn packed_members_follow_their_single_runs_at_the_blogs_sizes() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    // Every kernel that packs each model; the single runs use their default.
    for (model, kernel) in [
        ("rnn", "composed"),
        ("rnn", "handwritten"),
        ("rnn", "native"),
        ("irnn", "native"),
        ("lstm", "composed"),
        ("lstm", "native"),
        ("gru", "composed"),
        ("gru", "handwritten"),
        ("gru", "native"),
    ] {
        // Blog sizes, 3 epochs; members mix init schemes and tasks.
        let size = [("epochs", 3)];
        let kinds = [
            ("keras", "multiply", 1),
            ("torch", "multiply", 2),
            ("keras", "blog-add", 3),
        ];
        let plan: Vec<_> = kinds
            .iter()
            .map(|(init, task, seed)| {
                let out = root.join(format!("{model}-{kernel}-{init}-{task}-{seed}-packed"));
                member(model, init, task, *seed, &size, &out)
            })
            .collect();
        let (ok, stderr) = train_pack_with(&plan, root, kernel);
        assert!(ok, "{model} {kernel}: {stderr}");
        for (position, m) in plan.iter().enumerate() {
            let packed = Path::new(m["out"].as_str().unwrap()).to_owned();
            let alone = root.join(format!(
                "{}-alone",
                packed.file_name().unwrap().to_str().unwrap()
            ));
            single(&m["config"], &alone, root, &[]);
            let worst = largest_relative_loss(&loss_pairs(&packed), &loss_pairs(&alone));
            println!(
                "pack {model} {kernel} member {position} ({}): largest relative difference {worst:.2e}",
                m["config"]["init"]
            );
            assert!(
                worst <= RTOL,
                "{model} {kernel} member {position}: {worst:e} relative"
            );
            let summary = json(&packed.join("summary.json"));
            assert_eq!(summary["pack"], json!({"members": 3, "position": position}));
            assert_eq!(summary["kernel"], kernel);
            assert_eq!(
                summary["config"],
                json(&alone.join("summary.json"))["config"]
            );
            assert_eq!(
                summary["parameters"],
                json(&alone.join("summary.json"))["parameters"]
            );
            assert_clean_history(&packed, 3);
        }
    }
}

#[test]
fn a_diverging_member_ends_alone_and_the_others_finish_as_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let size = [
        ("seq_len", 10),
        ("samples", 240),
        ("fit_rows", 200),
        ("units", 8),
        ("epochs", 6),
    ];
    let plan: Vec<_> = (1..=3u64)
        .map(|seed| {
            member(
                "gru",
                "keras",
                "multiply",
                seed,
                &size,
                &root.join(format!("m{seed}")),
            )
        })
        .collect();
    // Member 2 starts from weights with a NaN: its loss is NaN at once.
    let bad = root.join("nan.safetensors");
    run_ok(
        &with(
            &[
                "train", "--model", "gru", "--seed", "2", "--epochs", "1", "--quiet",
            ],
            &[
                "--seq-len",
                "10",
                "--samples",
                "240",
                "--fit-rows",
                "200",
                "--units",
                "8",
            ],
        )
        .into_iter()
        .chain(["--out", s(&root.join("init")), "--save-init", s(&bad)])
        .collect::<Vec<_>>(),
    );
    let mut weights = tch::Tensor::read_safetensors(&bad).unwrap();
    let _ = weights[0].1.fill_(f64::NAN);
    tch::Tensor::write_safetensors(&weights, &bad).unwrap();
    let mut plan = plan;
    plan[1]["init_from"] = json!(s(&bad));

    let (ok, stderr) = train_pack(&plan, root);
    assert!(!ok, "a failed member fails the pack's exit code");
    assert!(
        stderr.contains("1 of 3 run(s) failed, the others finished:")
            && stderr.contains("m2: training diverged: loss NaN and val_loss NaN in epoch 1/6"),
        "{stderr}"
    );
    // The diverged member ends as its single run does: its row, no summary.
    let m2 = root.join("m2");
    assert!(!m2.join("summary.json").exists());
    let rows = csv_rows(&m2.join("history.csv"));
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[1][1], "NaN");
    let alone2 = root.join("alone2");
    let path = root.join("c2.json");
    fs::write(&path, plan[1]["config"].to_string()).unwrap();
    let (ok, _, single_err) = run(&[
        "train",
        "--config",
        s(&path),
        "--init-from",
        s(&bad),
        "--device",
        "cpu",
        "--quiet",
        "--out",
        s(&alone2),
    ]);
    assert!(
        !ok && single_err.contains("training diverged: loss NaN and val_loss NaN in epoch 1/6")
    );
    assert_eq!(
        csv_rows(&alone2.join("history.csv"))[1][1..3],
        rows[1][1..3]
    );
    // The others finish exactly as they do alone.
    for k in [0usize, 2] {
        let packed = root.join(format!("m{}", k + 1));
        let alone = root.join(format!("alone{}", k + 1));
        single(&plan[k]["config"], &alone, root, &[]);
        let worst = largest_relative_loss(&loss_pairs(&packed), &loss_pairs(&alone));
        assert!(worst <= RTOL, "member {k}: {worst:e}");
        assert_clean_history(&packed, 6);
        assert_eq!(
            json(&packed.join("summary.json"))["correctness"],
            json(&alone.join("summary.json"))["correctness"]
        );
    }
}

#[test]
fn packs_refuse_runs_that_cannot_share_a_step() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let size = [
        ("seq_len", 10),
        ("samples", 240),
        ("fit_rows", 200),
        ("units", 8),
        ("epochs", 2),
    ];
    let a = member("rnn", "keras", "multiply", 1, &size, &root.join("a"));
    let mut b = member("rnn", "keras", "multiply", 2, &size, &root.join("b"));
    b["config"]["seq_len"] = json!(12);
    let (ok, stderr) = train_pack(&[a.clone(), b], root);
    assert!(!ok);
    assert!(
        stderr.contains("differ in more than seed, init and task"),
        "{stderr}"
    );
    let (ok, stderr) = train_pack(&[a.clone(), a], root);
    assert!(
        !ok && stderr.contains("two members of one pack write to"),
        "{stderr}"
    );
    assert!(
        !root.join("a").exists() && !root.join("b").exists(),
        "nothing written"
    );
}
