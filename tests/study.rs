//! Studies as a user meets them: the README's blog.sh example, a
//! reproduction resumed after Ctrl-C, studies grown by seeds and by a new
//! length (only the new runs train), a changed fixed setting refused,
//! --dry-run, curves.csv and runs.csv read back, and every script's --help.

mod common;

use std::{
    collections::BTreeMap,
    fs,
    os::unix::{fs::MetadataExt, process::CommandExt},
    path::Path,
    process::{Command, Stdio},
};

use common::*;

/// Each finished run's summary.json: (inode, bytes), to tell which runs a
/// later command rewrote.
fn finished(dir: &Path) -> BTreeMap<String, (u64, Vec<u8>)> {
    let mut runs = BTreeMap::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path().join("summary.json");
        if let Ok(meta) = fs::metadata(&path) {
            let name = path.parent().unwrap().file_name().unwrap();
            runs.insert(
                name.to_string_lossy().into_owned(),
                (meta.ino(), fs::read(&path).unwrap()),
            );
        }
    }
    runs
}

fn tiny(command: &str, epochs: &str) -> Vec<&'static str> {
    let epochs: &'static str = epochs.to_owned().leak();
    with(
        &with(&[command.to_owned().leak()], TINY),
        &["--epochs", epochs, "--device", "cpu", "--threads", "1"],
    )
}

#[test]
fn readme_blog_example_runs_then_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("mine");
    let blog = |extra: &[&str]| {
        let out = Command::new(repo().join("scripts/blog.sh"))
            .args([
                "--models",
                "rnn,lstm,gru",
                "--seeds",
                "1..2",
                "--out",
                s(&out),
            ])
            .args([
                "--seq-len",
                "6",
                "--samples",
                "240",
                "--fit-rows",
                "200",
                "--units",
                "4",
                "--epochs",
                "2",
            ])
            .args(extra)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    };
    let first = blog(&[]);
    assert!(first.contains("6 runs (6 new)"), "{first}");
    let runs = finished(&out);
    assert_eq!(runs.len(), 6, "the later --out won: {runs:?}");
    let second = blog(&[]);
    assert!(
        second.contains("6 runs (0 new); shard 1/1: 6 runs, 6 finished, 0 to run"),
        "{second}"
    );
    assert_eq!(finished(&out), runs, "a second call rewrites nothing");
}

#[test]
fn a_reproduction_resumed_after_ctrl_c_trains_only_its_unfinished_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("blog");
    let args = with(
        &tiny("reproduce", "40"),
        &[
            "--models",
            "rnn,gru",
            "--seeds",
            "1..2",
            "--seq-len",
            "6",
            "--pack",
            "1",
            "--quiet",
            "--out",
            s(&out),
        ],
    );
    let child = bin()
        .args(&args)
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let second = out.join("multiply-rnn-keras-len6-seed2");
    wait_until("the second run's first epoch", || {
        history_rows(&second) >= 1
    });
    signal("INT", &format!("-{}", child.id()));
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("interrupted: 2 run(s) of this shard not finished"),
        "{stderr}"
    );
    let before = finished(&out);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        [
            "multiply-rnn-keras-len6-seed1",
            "multiply-rnn-keras-len6-seed2"
        ],
        "the running run finished, none started after Ctrl-C"
    );
    run_ok(&args);
    let after = finished(&out);
    assert_eq!(after.len(), 4);
    for (name, run) in &before {
        assert_eq!(&after[name], run, "{name} was trained again");
    }
}

#[test]
fn studies_grow_by_seeds_and_lengths_and_train_only_the_new_runs() {
    let tmp = tempfile::tempdir().unwrap();
    for command in ["reproduce", "sweep"] {
        let out = tmp.path().join(command);
        let base = with(
            &tiny(command, "2"),
            &["--models", "rnn,gru", "--quiet", "--out", s(&out)],
        );
        run_ok(&with(&base, &["--seeds", "1..2", "--seq-lens", "6"]));
        let two = finished(&out);
        assert_eq!(two.len(), 4, "{command}");
        run_ok(&with(&base, &["--seeds", "1..3", "--seq-lens", "6"]));
        let three = finished(&out);
        assert_eq!(three.len(), 6, "{command}: two more seeds");
        run_ok(&with(&base, &["--seeds", "1..3", "--seq-lens", "6,9"]));
        let grown = finished(&out);
        assert_eq!(grown.len(), 12, "{command}: a new length");
        for (name, run) in &three {
            assert_eq!(&grown[name], run, "{command}: {name} was trained again");
        }
        assert!(grown.contains_key("multiply-gru-keras-len9-seed3"));
        let manifest = json(&out.join("study.json"));
        let added: Vec<u64> = manifest["grids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["added"].as_u64().unwrap())
            .collect();
        assert_eq!(added, [4, 2, 6], "{command}: the study's history");
        // A fixed setting that changes is another study: refused, both values named.
        let (ok, _, stderr) = run(&with(
            &with(&base, &["--seeds", "4", "--seq-lens", "6"]),
            &["--lr", "0.01"],
        ));
        assert!(!ok);
        assert!(
            stderr.contains("lr is 0.001 in the study in")
                && stderr.contains("and 0.01 here: pass --lr 0.001"),
            "{stderr}"
        );
        assert_eq!(finished(&out), grown, "{command}: nothing ran");
    }
}

#[test]
fn dry_run_lists_the_packs_and_what_is_done_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("s");
    let base = with(
        &tiny("sweep", "1"),
        &["--models", "rnn,lstm", "--seq-lens", "6", "--out", s(&out)],
    );
    run_ok(&with(&base, &["--seeds", "1", "--quiet"]));
    let manifest = fs::read(out.join("study.json")).unwrap();
    let text = run_ok(&with(
        &base,
        &["--seeds", "1..3", "--pack", "2", "--dry-run"],
    ));
    assert!(
        text.contains("6 runs (4 new); shard 1/1: 6 runs, 2 finished, 4 to run"),
        "{text}"
    );
    assert!(
        text.contains("  process 1: pack of 2: multiply-rnn-keras-len6-seed2, multiply-rnn-keras-len6-seed3\n"),
        "{text}"
    );
    assert!(text.contains(
        "  process 2: pack of 2: multiply-lstm-keras-len6-seed2, multiply-lstm-keras-len6-seed3\n"
    ));
    assert!(
        text.contains("\ndry run: nothing was started or written\nestimated training time: "),
        "{text}"
    );
    assert_eq!(
        fs::read(out.join("study.json")).unwrap(),
        manifest,
        "the manifest is untouched"
    );
    assert_eq!(finished(&out).len(), 2);
}

#[test]
fn curves_and_runs_csv_of_a_two_length_sweep_read_back() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("s");
    run_ok(&with(
        &tiny("sweep", "3"),
        &[
            "--models",
            "rnn,gru",
            "--seq-lens",
            "5,8",
            "--seeds",
            "1..2",
            "--quiet",
            "--out",
            s(&out),
        ],
    ));
    let curves = csv_rows(&out.join("curves.csv"));
    assert_eq!(
        curves[0],
        [
            "run",
            "task",
            "model",
            "init",
            "seq_len",
            "seed",
            "epoch",
            "loss",
            "val_loss",
            "seconds",
            "train_seconds",
            "val_rel_loss",
            "grad_norm",
            "grad_norm_max",
            "sequences"
        ]
    );
    assert_eq!(curves.len() - 1, 8 * 3, "a row per run and epoch");
    let lengths: std::collections::BTreeSet<&str> =
        curves[1..].iter().map(|r| r[4].as_str()).collect();
    assert_eq!(lengths.into_iter().collect::<Vec<_>>(), ["5", "8"]);
    // Each row is that run's history.csv row, losses as written there.
    let row = curves
        .iter()
        .find(|r| r[0] == "multiply-gru-keras-len8-seed2" && r[6] == "1")
        .unwrap();
    let history = csv_rows(&out.join("multiply-gru-keras-len8-seed2/history.csv"));
    assert_eq!(row[6..], history[2][..], "the whole history row");
    assert_eq!(row[2..6], ["gru", "keras", "8", "2"]);
    let runs = csv_rows(&out.join("runs.csv"));
    assert_eq!(runs.len() - 1, 8);
    // Each loss once: the value tasks' MSE is their test_loss and
    // baseline_loss (no test_mse, baseline_mse beside them).
    assert_eq!(
        runs[0],
        [
            "run",
            "task",
            "model",
            "init",
            "seq_len",
            "seed",
            "status",
            "epochs_run",
            "final_loss",
            "final_val_loss",
            "test_loss",
            "baseline_loss",
            "correctness",
            "epochs_to_threshold",
            "seconds_total",
            "device"
        ]
    );
    let status = runs[0].iter().position(|c| c == "status").unwrap();
    assert!(runs[1..].iter().all(|r| r[status] == "finished"));
    let correctness = runs[0].iter().position(|c| c == "correctness").unwrap();
    let summary = json(&out.join(&runs[1][0]).join("summary.json"));
    assert_eq!(
        runs[1][correctness],
        summary["correctness"].as_f64().unwrap().to_string()
    );
}

#[test]
fn every_script_helps_without_a_build_or_its_packages() {
    let tmp = tempfile::tempdir().unwrap();
    // A Python with none of the scripts' packages, as before scripts/setup.sh.
    let bare = tmp.path().join("bare");
    let made = Command::new("python3")
        .args(["-m", "venv", "--without-pip", s(&bare)])
        .status()
        .unwrap();
    assert!(made.success());
    let python = bare.join("bin/python");
    let scripts = repo().join("scripts");
    let mut seen = 0;
    for entry in fs::read_dir(&scripts).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let runnable = name.ends_with(".sh") && name != "lib.sh"
            || [
                "compare.py",
                "plot.py",
                "reference.py",
                "keras_reference.py",
            ]
            .contains(&name.as_str());
        if !runnable {
            continue;
        }
        seen += 1;
        let out = Command::new(&path)
            .arg("--help")
            // No build either: --help must not need to ask rnn-lab.
            .env("RNN_LAB_BIN", "/nonexistent/rnn-lab")
            .env("PYTHON", &python)
            .env("KERAS_PYTHON", &python)
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin", bare.join("bin").display()),
            )
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{name} --help: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.lines().count() >= 3,
            "{name} --help says too little:\n{text}"
        );
        assert!(
            !text.contains("building rnn-lab") && !text.contains("setup: "),
            "{name} did work:\n{text}"
        );
        if name.ends_with(".py") {
            assert!(text.starts_with("usage: "), "{name}:\n{text}");
            assert!(
                !text.contains("''''"),
                "{name} shows its shell trampoline:\n{text}"
            );
            // Past --help, the missing packages are named in one line.
            let target = tmp.path().join("x");
            let args = match name.as_str() {
                "compare.py" | "plot.py" => vec![s(tmp.path())],
                _ => vec!["--out", s(&target)],
            };
            let run = Command::new(&path)
                .args(&args)
                .env("RNN_LAB_BIN", bin_path())
                .env("PYTHON", &python)
                .env("KERAS_PYTHON", &python)
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&run.stderr);
            assert!(
                !run.status.success() && err.lines().count() == 1,
                "{name}: {err}"
            );
            assert!(
                err.contains("is missing: run scripts/setup.sh"),
                "{name}: {err}"
            );
            assert!(!target.exists(), "{name} wrote before it could run");
        }
    }
    assert_eq!(seen, 16, "every script was asked");
}

/// `--pack auto` measures each shape of run once per machine, caches the
/// costs and follows them: a cache that says lone runs are cheaper makes
/// every run lone.
#[test]
fn pack_auto_measures_caches_and_follows_the_costs() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let out = tmp.path().join("s");
    let args = with(
        &tiny("sweep", "1"),
        &[
            "--models",
            "rnn,gru",
            "--seq-lens",
            "6",
            "--seeds",
            "1..3",
            "--out",
            s(&out),
            "--dry-run",
        ],
    );
    let dry = |args: &[&str]| {
        let out = bin()
            .args(args)
            .env("RNN_LAB_CACHE", &cache)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let first = dry(&args);
    assert!(
        first.contains("  --pack auto: multiply rnn at 6 (3 runs): "),
        "{first}"
    );
    assert!(!first.contains("cached"), "{first}");
    assert!(
        !cache.join("pack-costs.json").exists(),
        "a dry run writes no cache"
    );
    // A real run measures and caches; the next plan reads the cache.
    let real: Vec<&str> = args
        .iter()
        .copied()
        .filter(|a| *a != "--dry-run")
        .chain(["--quiet"])
        .collect();
    dry(&real);
    let file = cache.join("pack-costs.json");
    let mut costs: serde_json::Value = serde_json::from_slice(&fs::read(&file).unwrap()).unwrap();
    assert_eq!(
        costs.as_object().unwrap().len(),
        2,
        "one entry per shape: {costs}"
    );
    let again = dry(&with(&args, &["--force"]));
    assert!(again.contains("; cached)"), "{again}");
    for shape in costs.as_object_mut().unwrap().values_mut() {
        shape["1"] = 1e-12.into();
    }
    fs::write(&file, serde_json::to_vec(&costs).unwrap()).unwrap();
    let lone = dry(&with(&args, &["--force"]));
    assert!(
        lone.contains("multiply rnn at 6 (3 runs): 1 (s per run-batch: 1 1.00e-12"),
        "{lone}"
    );
    assert!(!lone.contains("pack of"), "{lone}");
    // Clipping changes a step's cost: another shape, measured anew.
    let elsewhere = tmp.path().join("clipped");
    let clipped = dry(&with(&args, &["--clip-norm", "1", "--out", s(&elsewhere)]));
    assert!(
        clipped.contains("multiply rnn at 6 (3 runs): ") && !clipped.contains("cached"),
        "{clipped}"
    );
    // A cache that does not parse is not used, and the next measurement
    // replaces it.
    fs::write(&file, "{\"half").unwrap();
    let training: Vec<&str> = args.iter().copied().filter(|a| *a != "--dry-run").collect();
    let after = dry(&with(&training, &["--force"]));
    assert!(
        after.contains("multiply rnn at 6 (3 runs): ") && !after.contains("cached"),
        "{after}"
    );
    let rebuilt: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&file).unwrap()).expect("rebuilt as JSON");
    assert!(rebuilt.is_object(), "{rebuilt}");
}

/// runs.csv as rnn-lab wrote it before each loss was written once: the
/// value tasks' MSE twice (test_mse beside test_loss, baseline_mse beside
/// baseline_loss).
const OLD_RUNS_CSV: &str = "run,task,model,init,seq_len,seed,status,epochs_run,final_loss,\
final_val_loss,test_mse,baseline_mse,test_loss,baseline_loss,correctness,epochs_to_threshold,\
seconds_total,device\nadd-rnn-keras-len5-seed1,add,rnn,keras,5,1,finished,2,0.2,0.2,0.2,0.17,\
0.2,0.17,10.0,,0.1,cpu\n";

/// A study made when `blog-add` was called `add` (its study.json, run
/// folder, summary.json and runs.csv say so) aggregates, reruns its run's
/// config, and grows under either name without training its run again;
/// what rnn-lab writes back says blog-add, and the run keeps its folder.
#[test]
fn an_old_study_of_the_task_add_aggregates_and_grows_without_retraining() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("old");
    let study = |task: &str, seeds: &str| {
        run_ok(&with(
            &tiny("sweep", "2"),
            &[
                "--tasks",
                task,
                "--models",
                "rnn",
                "--seq-lens",
                "5",
                "--seeds",
                seeds,
                "--pack",
                "1",
                "--out",
                s(&out),
            ],
        ))
    };
    study("blog-add", "1");
    // Make it what an older rnn-lab left: every "blog-add" an "add".
    fs::rename(
        out.join("blog-add-rnn-keras-len5-seed1"),
        out.join("add-rnn-keras-len5-seed1"),
    )
    .unwrap();
    for file in ["study.json", "add-rnn-keras-len5-seed1/summary.json"] {
        let text = fs::read_to_string(out.join(file)).unwrap();
        assert!(text.contains("blog-add"), "{file}: {text}");
        fs::write(out.join(file), text.replace("blog-add", "add")).unwrap();
    }
    fs::write(out.join("runs.csv"), OLD_RUNS_CSV).unwrap();
    for file in [
        "aggregate.md",
        "aggregate.csv",
        "aggregate.json",
        "curves.csv",
    ] {
        fs::remove_file(out.join(file)).unwrap();
    }

    run_ok(&["aggregate", s(&out)]);
    let table = csv_rows(&out.join("aggregate.csv"));
    let task = table[0].iter().position(|c| c == "task").unwrap();
    assert_eq!(table[1][task], "blog-add", "{table:?}");
    assert!(fs::read_to_string(out.join("aggregate.md"))
        .unwrap()
        .contains("### blog-add"));

    // train --config of the old summary.json reruns it as blog-add.
    let rerun = tmp.path().join("rerun");
    let summary = out.join("add-rnn-keras-len5-seed1/summary.json");
    run_ok(&[
        "train",
        "--config",
        s(&summary),
        "--quiet",
        "--out",
        s(&rerun),
    ]);
    let mut expected = json(&summary)["config"].clone();
    assert_eq!(expected["task"], "add");
    expected["task"] = "blog-add".into();
    assert_eq!(json(&rerun.join("summary.json"))["config"], expected);

    // Grown under the old name on the command line, then the new one.
    let before = finished(&out);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        ["add-rnn-keras-len5-seed1"]
    );
    let grown = study("add", "1..2");
    assert!(grown.contains("2 runs (1 new)"), "{grown}");
    let again = study("blog-add", "1..2");
    assert!(again.contains("2 runs (0 new)"), "{again}");
    let after = finished(&out);
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        ["add-rnn-keras-len5-seed1", "blog-add-rnn-keras-len5-seed2"]
    );
    assert_eq!(
        after["add-rnn-keras-len5-seed1"], before["add-rnn-keras-len5-seed1"],
        "the old run was not trained again"
    );
    let manifest = json(&out.join("study.json"));
    let runs: Vec<(&str, &str)> = manifest["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap(),
                r["config"]["task"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        runs,
        [
            ("add-rnn-keras-len5-seed1", "blog-add"),
            ("blog-add-rnn-keras-len5-seed2", "blog-add")
        ]
    );
    let grids: Vec<&serde_json::Value> = manifest["grids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| &g["grid"]["axes"]["task"])
        .collect();
    assert_eq!(grids, [&serde_json::json!(["blog-add"]); 3]);
    assert!(!fs::read_to_string(out.join("study.json"))
        .unwrap()
        .contains("\"add\""));

    // runs.csv is written anew, each loss once.
    let rows = csv_rows(&out.join("runs.csv"));
    assert_eq!(rows.len(), 3);
    assert!(
        !rows[0].contains(&"test_mse".to_string())
            && !rows[0].contains(&"baseline_mse".to_string()),
        "{:?}",
        rows[0]
    );
    assert_eq!(rows[1][..2], ["add-rnn-keras-len5-seed1", "blog-add"]);

    // compare.py reads the old summary.json as blog-add: one task, one cell.
    let compared = python_script("compare.py").arg(&out).output().unwrap();
    let text = String::from_utf8_lossy(&compared.stdout);
    assert!(
        compared.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&compared.stderr)
    );
    assert!(text.contains("| model | set | n |"), "{text}");
    assert!(text.contains("| rnn | old | 2 |"), "{text}");
}
