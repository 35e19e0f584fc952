//! Hardening, round 3: what a hostile probe found at the edges. A study
//! killed in its first milliseconds, `train-pack --force` meeting a member
//! it cannot have, a terminal that closes, memory that runs out, unknown
//! keys in a config, thread counts, and packs where every member fails.
//! Each test failed on the binary before its fix (run it with
//! RNN_LAB_TEST_BIN=<older rnn-lab> to see).

mod common;

use std::{
    fs,
    path::Path,
    process::{Command, Stdio},
};

use common::*;

/// Every failure is one line, exit code 1: no panic (101), no abort (134).
fn one_line_error(out: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.lines().count() == 1,
        "{stderr}"
    );
    stderr
}

fn tiny_sweep(out: &Path, seq_lens: &str) -> Vec<String> {
    with(
        &with(
            &[
                "sweep",
                "--models",
                "rnn",
                "--seq-lens",
                seq_lens,
                "--seeds",
                "1..2",
            ],
            TINY,
        ),
        &[
            "--epochs",
            "2",
            "--device",
            "cpu",
            "--quiet",
            "--out",
            s(out),
        ],
    )
    .into_iter()
    .map(str::to_owned)
    .collect()
}

#[test]
fn a_study_killed_in_its_first_milliseconds_is_taken_over() {
    let tmp = tempfile::tempdir().unwrap();
    for round in 0..8 {
        let out = tmp.path().join(format!("r{round}"));
        let args = tiny_sweep(&out, "5");
        let mut child = bin()
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill it the moment its folder appears, later by a few polls each round.
        wait_until("the study folder", || out.exists());
        for _ in 0..round * 50 {
            let _ = fs::read_dir(&out).map(|d| d.count());
        }
        child.kill().unwrap();
        child.wait().unwrap();
        // The same study, and another grid, both take the folder over.
        let seq_lens = if round % 2 == 0 { "5" } else { "6" };
        let (ok, _, stderr) = run(&tiny_sweep(&out, seq_lens)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>());
        assert!(ok, "round {round}: {stderr}");
        assert!(out
            .join(format!(
                "multiply-rnn-keras-len{seq_lens}-seed2/summary.json"
            ))
            .exists());
    }
}

#[test]
fn train_pack_force_checks_and_locks_every_member_before_clearing_any() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = |n: &str| tmp.path().join(n);
    let small_run = with(&small(), &["--model", "rnn"]);
    for name in ["a", "b"] {
        run_ok(&with(&small_run, &["--out", s(&dir(name))]));
    }
    let before: Vec<Vec<u8>> = ["a", "b"]
        .iter()
        .map(|n| fs::read(dir(n).join("history.csv")).unwrap())
        .collect();
    // c is being trained by another process.
    let mut busy = bin()
        .args(with(
            &with(&small_run, &["--epochs", "100000"]),
            &["--out", s(&dir("c"))],
        ))
        .spawn()
        .unwrap();
    wait_until("c's first epoch", || history_rows(&dir("c")) >= 1);
    let config = json(&dir("a").join("summary.json"))["config"].clone();
    let plan = |outs: &[&Path]| {
        let jobs: Vec<_> = outs
            .iter()
            .map(|o| serde_json::json!({"config": config, "out": s(o)}))
            .collect();
        let path = tmp.path().join("plan.json");
        fs::write(&path, serde_json::Value::Array(jobs).to_string()).unwrap();
        bin()
            .args([
                "train-pack",
                "--plan",
                s(&path),
                "--force",
                "--quiet",
                "--device",
                "cpu",
            ])
            .output()
            .unwrap()
    };
    let err = one_line_error(&plan(&[&dir("a"), &dir("b"), &dir("c")]));
    assert!(err.contains("is in use by another rnn-lab run"), "{err}");
    busy.kill().unwrap();
    busy.wait().unwrap();
    // One folder named twice is refused by name, before anything is touched.
    let err = one_line_error(&plan(&[&dir("a"), &tmp.path().join("./b/../a")]));
    assert!(
        err.contains("two members of one pack write to one folder"),
        "{err}"
    );
    for (name, history) in ["a", "b"].iter().zip(&before) {
        assert_eq!(
            &fs::read(dir(name).join("history.csv")).unwrap(),
            history,
            "{name} was touched"
        );
        assert!(
            dir(name).join("summary.json").exists(),
            "{name} lost its summary"
        );
    }
}

/// Runs `args` on a real pseudo-terminal as its controlling terminal, which
/// closes after `seconds` (as a terminal window does); returns the exit
/// status of rnn-lab as Python's os.waitpid sees it.
fn on_a_terminal_closing_after(args: &[&str], seconds: f64) -> i32 {
    let harness = r#"
import os, pty, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:-1])
time.sleep(float(sys.argv[-1]))
os.close(fd)
_, status = os.waitpid(pid, 0)
print(status)
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(harness)
        .arg(bin_path())
        .args(args)
        .arg(seconds.to_string())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// The first close falls in libtorch's static initialisers (0.6-1 s of
/// start-up here), before `main`: only the executable's pre-init hook
/// covers it. Nothing can run before the dynamic loader is done (a few ms
/// warm); 0.15 s leaves a loaded machine that margin.
#[test]
fn a_closed_terminal_stops_the_printing_never_the_training() {
    let tmp = tempfile::tempdir().unwrap();
    for (k, seconds) in [0.15, 0.5, 1.5].into_iter().enumerate() {
        let out = tmp.path().join(format!("train{k}"));
        let args = with(
            &with(&["train", "--seq-len", "10"], TINY),
            &["--epochs", "60", "--device", "cpu", "--out", s(&out)],
        );
        let status = on_a_terminal_closing_after(&args, seconds);
        assert_eq!(
            status, 0,
            "train, terminal closed after {seconds} s: wait status {status}"
        );
        assert_clean_history(&out, 60);
        assert!(out.join("summary.json").exists());
        let study = tmp.path().join(format!("sweep{k}"));
        let sweep = with(
            &with(
                &[
                    "sweep",
                    "--models",
                    "rnn,gru",
                    "--seq-lens",
                    "5",
                    "--seeds",
                    "1",
                    "--pack",
                    "1",
                ],
                TINY,
            ),
            &["--epochs", "40", "--device", "cpu", "--out", s(&study)],
        );
        let status = on_a_terminal_closing_after(&sweep, seconds);
        assert_eq!(
            status, 0,
            "sweep, terminal closed after {seconds} s: wait status {status}"
        );
        for run in [
            "multiply-rnn-keras-len5-seed1",
            "multiply-gru-keras-len5-seed1",
        ] {
            assert!(study.join(run).join("summary.json").exists(), "{run}");
        }
    }
}

/// rnn-lab under an address-space cap (`prlimit --as`), as a cluster's
/// memory limit or a small machine would have it.
fn capped(gib: u64, args: &[&str]) -> std::process::Output {
    Command::new("prlimit")
        .arg(format!("--as={}", gib << 30))
        .arg(bin_path())
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn out_of_memory_is_one_line_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let big = [
        "--units",
        "8192",
        "--layers",
        "2",
        "--seq-len",
        "10",
        "--samples",
        "300",
        "--fit-rows",
        "250",
    ];
    // Caps at which libtorch still loads: the weights, or their gradients
    // and Adam's moments, meet the limit.
    for gib in [3u64, 4, 6] {
        let out = tmp.path().join(format!("oom{gib}"));
        let args = with(
            &with(&["train"], &big),
            &["--epochs", "1", "--device", "cpu", "-q", "--out", s(&out)],
        );
        let err = one_line_error(&capped(gib, &args));
        assert!(
            err.contains("error: out of memory building a model of 805511169 weights"),
            "{gib} GiB: {err}"
        );
        assert!(err.ends_with("lower --units or --layers\n"), "{err}");
        assert!(
            !out.exists(),
            "{gib} GiB: a failed start left {}",
            out.display()
        );
    }
    // The batch's activations meet it: training stops before its first
    // epoch, and its folder goes.
    let out = tmp.path().join("activations");
    let args = [
        "train",
        "--units",
        "2048",
        "--seq-len",
        "200",
        "--samples",
        "20000",
        "--fit-rows",
        "19000",
        "--batch-size",
        "16000",
        "--epochs",
        "1",
        "--device",
        "cpu",
        "-q",
        "--out",
        s(&out),
    ];
    let err = one_line_error(&capped(6, &args));
    assert!(
        err.contains("out of memory training 1 run(s)") && err.contains("lower --batch-size"),
        "{err}"
    );
    assert!(!out.exists());
    // A pack says how many models it built.
    let info: serde_json::Value = serde_json::from_str(&run_ok(&["info", "--json"])).unwrap();
    let mut config = info["defaults"].clone();
    for (k, v) in [
        ("units", 8192),
        ("seq_len", 10),
        ("samples", 300),
        ("fit_rows", 250),
        ("epochs", 1),
    ] {
        config[k] = v.into();
    }
    let jobs: Vec<_> = (1..=2)
        .map(|seed| {
            let mut c = config.clone();
            c["seed"] = seed.into();
            serde_json::json!({"config": c, "out": s(&tmp.path().join(format!("p{seed}")))})
        })
        .collect();
    let plan = tmp.path().join("plan.json");
    fs::write(&plan, serde_json::Value::Array(jobs).to_string()).unwrap();
    let err = one_line_error(&capped(
        6,
        &["train-pack", "--plan", s(&plan), "--device", "cpu", "-q"],
    ));
    assert!(
        err.contains("out of memory building 2 models of 805511169 weights")
            && err.contains("(or --pack)"),
        "{err}"
    );
    assert!(!tmp.path().join("p1").exists());
}

#[test]
fn unknown_keys_in_a_config_are_refused_by_name_and_old_formats_still_read() {
    let tmp = tempfile::tempdir().unwrap();
    let info: serde_json::Value = serde_json::from_str(&run_ok(&["info", "--json"])).unwrap();
    let mut config = info["defaults"].clone();
    config["epochz"] = 3.into();
    let path = tmp.path().join("c.json");
    fs::write(&path, config.to_string()).unwrap();
    let out = bin()
        .args([
            "train",
            "--config",
            s(&path),
            "--out",
            s(&tmp.path().join("x")),
        ])
        .output()
        .unwrap();
    let err = one_line_error(&out);
    assert!(err.contains("unknown field `epochz`"), "{err}");
    assert!(!tmp.path().join("x").exists());
    // A config as rnn-lab 0.1 wrote it (device and threads inside) still runs.
    let mut old = info["defaults"].clone();
    for (k, v) in [
        ("device", "cpu".into()),
        ("threads", 1.into()),
        ("seq_len", 6.into()),
        ("epochs", 1.into()),
    ] {
        old[k] = v;
    }
    for (k, v) in [("samples", 240), ("fit_rows", 200), ("units", 4)] {
        old[k] = v.into();
    }
    let old = serde_json::json!({"config": old});
    fs::write(&path, old.to_string()).unwrap();
    run_ok(&[
        "train",
        "--config",
        s(&path),
        "--quiet",
        "--out",
        s(&tmp.path().join("y")),
    ]);
    // A plan with an unknown key is refused by name too.
    let plan = tmp.path().join("plan.json");
    fs::write(
        &plan,
        serde_json::json!({"execution": info["default_execution"], "jobs": [], "jobz": 1})
            .to_string(),
    )
    .unwrap();
    let err = one_line_error(
        &bin()
            .args(["train-pack", "--plan", s(&plan)])
            .output()
            .unwrap(),
    );
    assert!(err.contains("unknown field `jobz`"), "{err}");
}

/// What the README says of --threads: the same count gives the same run
/// bit for bit; another count splits libtorch's reductions (MKL's GEMM,
/// oneDNN's LSTM) otherwise, so the run agrees to float32 rounding only.
#[test]
fn the_thread_count_changes_a_run_at_float32_rounding_only() {
    let tmp = tempfile::tempdir().unwrap();
    for model in ["rnn", "lstm", "gru"] {
        let run_with = |threads: &str, k: u32| {
            let out = tmp.path().join(format!("{model}-{threads}-{k}"));
            run_ok(&[
                "train",
                "--model",
                model,
                "--epochs",
                "2",
                "--threads",
                threads,
                "--device",
                "cpu",
                "-q",
                "--out",
                s(&out),
            ]);
            (
                loss_pairs(&out),
                fs::read(out.join("model.safetensors")).unwrap(),
            )
        };
        let (two, again) = (run_with("2", 0), run_with("2", 1));
        assert_eq!(
            two, again,
            "{model}: the same thread count gave another run"
        );
        let one = run_with("1", 0);
        let apart = largest_relative_loss(&one.0, &two.0);
        assert!(
            apart < 1e-5,
            "{model}: --threads 1 and 2 differ by {apart} relative"
        );
    }
}

#[test]
fn a_pack_whose_members_all_fail_says_so_and_names_each_member() {
    let tmp = tempfile::tempdir().unwrap();
    let info: serde_json::Value = serde_json::from_str(&run_ok(&["info", "--json"])).unwrap();
    let mut config = info["defaults"].clone();
    for (k, v) in [
        ("samples", 240),
        ("fit_rows", 200),
        ("units", 4),
        ("seq_len", 6),
        ("epochs", 3),
    ] {
        config[k] = v.into();
    }
    config["lr"] = 1e30.into(); // diverges in its first epoch
    let members: Vec<_> = (1..=3)
        .map(|seed| {
            let mut c = config.clone();
            c["seed"] = seed.into();
            serde_json::json!({"config": c, "out": s(&tmp.path().join(format!("m{seed}")))})
        })
        .collect();
    let plan = tmp.path().join("plan.json");
    fs::write(&plan, serde_json::Value::Array(members.clone()).to_string()).unwrap();
    let args = ["train-pack", "--plan", s(&plan), "--device", "cpu", "-q"];
    let err = one_line_error(&bin().args(args).output().unwrap());
    assert!(
        err.starts_with("error: 3 of 3 run(s) failed, none finished: "),
        "{err}"
    );
    assert!(err.contains("m2: training diverged"), "{err}");
    // A member's bad setting names the member's folder, not only the plan.
    let mut bad = members.clone();
    bad[1]["config"]["epochs"] = 0.into();
    fs::write(&plan, serde_json::Value::Array(bad).to_string()).unwrap();
    let err = one_line_error(&bin().args(args).arg("--force").output().unwrap());
    assert!(
        err.contains(&format!(
            "run {}: epochs must be at least 1",
            s(&tmp.path().join("m2"))
        )),
        "{err}"
    );
}

#[test]
fn a_run_records_the_cpu_code_it_ran() {
    let tmp = tempfile::tempdir().unwrap();
    let run_in = |name: &str, env: &[(&str, &str)]| {
        let out = tmp.path().join(name);
        let status = bin()
            .args(with(&small(), &["--device", "cpu", "--out", s(&out)]))
            .envs(env.iter().copied())
            .status()
            .unwrap();
        assert!(status.success());
        json(&out.join("summary.json"))["cpu"].clone()
    };
    let plain = run_in("plain", &[]);
    assert!(!plain["model"].as_str().unwrap().is_empty(), "{plain}");
    assert!(
        ["AVX512", "AVX2", "DEFAULT"].contains(&plain["aten"].as_str().unwrap()),
        "{plain}"
    );
    assert!(
        plain["onednn_version"].as_str().unwrap().contains("v3."),
        "{plain}"
    );
    assert!(
        plain["mkl_version"]
            .as_str()
            .unwrap()
            .contains("Math Kernel Library"),
        "{plain}"
    );
    assert_eq!(plain["mkl_branch"], "OFF");
    // Each library's own setting shows in the record as the library took it.
    let capped = run_in(
        "capped",
        &[
            ("ATEN_CPU_CAPABILITY", "default"),
            ("ONEDNN_MAX_CPU_ISA", "AVX2"),
            ("MKL_CBWR", "COMPATIBLE"),
        ],
    );
    assert_eq!(capped["aten"], "DEFAULT", "{capped}");
    assert_eq!(capped["onednn_max_isa"], "AVX2");
    assert_eq!(capped["mkl_branch"], "COMPATIBLE");
}
