//! The scripts under the conditions that break them quietly: two
//! scripts/setup.sh on one cache, an install cut short, a folder that cannot
//! be written; and what compare.py compares when asked nothing.

mod common;

use std::{
    fs,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use common::*;

const WAITING: &str = "setup: waiting for another setup.sh to finish with ";

/// The cache scripts/setup.sh uses when run as a user runs it.
fn default_cache() -> PathBuf {
    if let Some(cache) = std::env::var_os("RNN_LAB_CACHE") {
        return cache.into();
    }
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"))
        .join("rnn-lab")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// While another process holds the cache's lock, setup.sh says once that
/// it waits, and ends only after the holder let go (then quickly: the
/// virtualenv is already complete).
#[test]
fn setup_waits_for_another_setup_on_the_same_cache() {
    let cache = default_cache();
    let marker = cache.join("venv-torch-2.11.0/.rnn-lab-complete");
    assert!(
        marker.exists(),
        "{} missing: run scripts/setup.sh first",
        marker.display()
    );
    let lock = cache.join("setup.lock");
    let mut holder = Command::new("flock")
        .arg(&lock)
        .args(["sh", "-c", "echo held; sleep 3"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start flock");
    let mut line = String::new();
    BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "held");
    let mut setup = Command::new(repo().join("scripts/setup.sh"))
        .env("RNN_LAB_CACHE", &cache)
        .env_remove("LIBTORCH")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start setup.sh");
    assert!(holder.wait().unwrap().success());
    let released = Instant::now();
    let early = setup.try_wait().unwrap();
    let out = setup.wait_with_output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(
        early.is_none(),
        "setup.sh ended while another held {}:\n{stdout}{stderr}",
        lock.display()
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    let said = format!("{stdout}{stderr}");
    assert_eq!(
        said.matches(WAITING).count(),
        1,
        "the waiting line, once:\n{said}"
    );
    assert!(
        said.contains(&format!("{WAITING}{}", cache.display())),
        "{said}"
    );
    assert!(
        said.contains("already installed"),
        "a complete virtualenv is only checked:\n{said}"
    );
    assert!(
        released.elapsed() < Duration::from_secs(60),
        "the check of a complete virtualenv took {:?}",
        released.elapsed()
    );
}

/// The scripts read pandas from setup.sh's virtualenv.
#[test]
fn setup_installs_pandas_into_the_venv() {
    let out = Command::new(python())
        .args(["-c", "import pandas; print(pandas.__version__)"])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
}

/// A stand-in virtualenv Python that imports everything and logs its
/// arguments, with a pip that fails while `fail-pip` exists next to the log.
fn stub_venv(venv: &Path, log: &Path, torch_dir: &Path) {
    fs::create_dir_all(venv.join("bin")).unwrap();
    let python = venv.join("bin/python");
    let flag = log.with_file_name("fail-pip");
    fs::write(
        &python,
        format!(
            "#!/bin/sh\n\
             echo \"$*\" >> '{log}'\n\
             case \"$1 $2 $3\" in\n\
             '-m pip install') [ -e '{flag}' ] && exit 1; exit 0 ;;\n\
             '-m pip '*) exit 0 ;;\n\
             -c*) echo '{torch}'; exit 0 ;;\n\
             -*) cat >/dev/null; exit 0 ;;\n\
             esac\n",
            log = log.display(),
            flag = flag.display(),
            torch = torch_dir.display()
        ),
    )
    .unwrap();
    Command::new("chmod")
        .args(["+x", s(&python)])
        .status()
        .unwrap();
}

/// A virtualenv whose packages import but that was never marked complete
/// (an install cut short, or one from before the marker) is completed by
/// pip under the lock and then marked; a marked one is only checked; a
/// failed pip leaves it unmarked. Torch's and Keras's alike. Runs a copy
/// of setup.sh in a scratch checkout, so the links it makes stay there.
#[test]
fn setup_completes_a_virtualenv_not_marked_complete_and_marks_it() {
    let tmp = tempfile::tempdir().unwrap();
    let checkout = tmp.path().join("clone");
    fs::create_dir_all(checkout.join("scripts")).unwrap();
    for name in ["setup.sh", "lib.sh"] {
        fs::copy(
            repo().join("scripts").join(name),
            checkout.join("scripts").join(name),
        )
        .unwrap();
    }
    let cache = tmp.path().join("cache");
    let log = tmp.path().join("python.log");
    let torch = cache.join("venv-torch-2.11.0");
    let keras = cache.join("venv-keras-3.15.1");
    for venv in [&torch, &keras] {
        stub_venv(venv, &log, &tmp.path().join("torch"));
    }
    let setup = || {
        let _ = fs::remove_file(&log);
        let out = Command::new("bash")
            .arg(checkout.join("scripts/setup.sh"))
            .arg("--keras")
            .env("RNN_LAB_CACHE", &cache)
            .env("PYTHON", "/nonexistent/python3")
            .env_remove("LIBTORCH")
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        let calls = fs::read_to_string(&log).unwrap_or_default();
        (out.status.success(), format!("{stdout}{stderr}"), calls)
    };
    let installs = |calls: &str| {
        calls
            .lines()
            .filter(|l| l.starts_with("-m pip install"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let marker = |venv: &Path| venv.join(".rnn-lab-complete");

    let (ok, said, calls) = setup();
    assert!(ok, "{said}");
    let pip = installs(&calls);
    assert_eq!(
        pip.len(),
        2,
        "an unmarked virtualenv is completed by pip, torch's and keras's:\n{said}\n{calls}"
    );
    assert!(
        pip[0].contains("torch==2.11.0") && pip[0].contains("pandas"),
        "{calls}"
    );
    assert!(pip[1].contains("keras==3.15.1"), "{calls}");
    assert!(marker(&torch).exists() && marker(&keras).exists(), "{said}");
    assert_eq!(
        fs::read_link(checkout.join(".venv")).unwrap(),
        torch,
        "{said}"
    );

    let (ok, said, calls) = setup();
    assert!(ok, "{said}");
    assert_eq!(
        installs(&calls),
        Vec::<String>::new(),
        "a marked virtualenv is only checked:\n{said}"
    );
    assert_eq!(said.matches("already installed").count(), 2, "{said}");

    // An install cut short: pip fails, nothing is marked, and the next
    // run completes it.
    fs::remove_file(marker(&torch)).unwrap();
    fs::write(tmp.path().join("fail-pip"), "").unwrap();
    let (ok, said, _) = setup();
    assert!(!ok, "a failed pip passed:\n{said}");
    assert!(said.contains("rerun to complete it"), "{said}");
    assert!(
        !marker(&torch).exists(),
        "a failed install was marked complete"
    );
    fs::remove_file(tmp.path().join("fail-pip")).unwrap();
    let (ok, said, calls) = setup();
    assert!(ok, "{said}");
    assert_eq!(installs(&calls).len(), 1, "{said}\n{calls}");
    assert!(marker(&torch).exists());
}

/// A small study compare.py and plot.py can read: one set of lstm runs.
fn fake_study(root: &Path) {
    for k in 1..=3u64 {
        fake_run(
            &root.join(format!("lstm/seed-{k}")),
            k,
            "lstm",
            100,
            40.0 + k as f64,
            &[0.05, 0.02],
        );
    }
}

/// Writes a run folder with just what compare.py and plot.py read; the
/// other settings are rnn-lab's defaults (the blog's experiment).
fn fake_run(dir: &Path, seed: u64, model: &str, seq_len: u64, correctness: f64, losses: &[f64]) {
    fs::create_dir_all(dir).unwrap();
    let summary = serde_json::json!({
        "config": {"seed": seed, "model": model, "seq_len": seq_len},
        "correctness": correctness,
    });
    fs::write(dir.join("summary.json"), summary.to_string()).unwrap();
    let mut history = String::from("epoch,loss,val_loss,seconds,train_seconds\n");
    for (e, v) in losses.iter().enumerate() {
        history += &format!("{e},{v},{v},1.0,1.0\n");
    }
    fs::write(dir.join("history.csv"), history).unwrap();
}

fn script_run(name: &str, args: &[&str]) -> Output {
    python_script(name).args(args).output().unwrap()
}

fn script_ok(name: &str, args: &[&str]) -> String {
    let out = script_run(name, args);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{name} {args:?}: {stderr}");
    stdout
}

/// Exit 1 and one line on stderr, no traceback, containing every `expected`.
fn one_line_error(out: &Output, expected: &[&str]) {
    let (_, stderr) = text(out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("Traceback"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "not one line:\n{stderr}");
    for part in expected {
        assert!(stderr.contains(part), "no {part:?} in:\n{stderr}");
    }
}

/// --out under a regular file cannot be made, not even by root.
#[test]
fn plot_into_an_unwritable_out_fails_in_one_line_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let study = tmp.path().join("study");
    fake_study(&study);
    let file = tmp.path().join("a-file");
    fs::write(&file, "").unwrap();
    let out = file.join("plots");
    one_line_error(
        &script_run("plot.py", &["--out", s(&out), s(&study)]),
        &[
            &format!("plot: cannot write {}", out.display()),
            "give --out a writable folder",
        ],
    );
    one_line_error(
        &script_run("plot.py", &["--out", s(&file), s(&study)]),
        &[s(&file), "--out"],
    );
}

/// Unmounts a bind mount when dropped.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A read-only bind mount of `from` at `at`, or None where mounting is not
/// allowed (not root, a container without the right).
fn read_only_view(from: &Path, at: &Path) -> Option<Mount> {
    fs::create_dir_all(at).unwrap();
    let ok = |args: &[&str]| {
        Command::new("mount")
            .args(args)
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if !ok(&["--bind", s(from), s(at)]) {
        return None;
    }
    let mount = Mount(at.to_owned());
    ok(&["-o", "remount,ro,bind", s(at)]).then_some(mount)
}

/// A study on a read-only file system: plot.py, which writes next to it,
/// fails in one line naming the folder; compare.py, which only reads it,
/// prints its table.
#[test]
fn plot_on_a_read_only_study_fails_in_one_line_and_compare_still_reads_it() {
    let tmp = tempfile::tempdir().unwrap();
    let study = tmp.path().join("study");
    fake_study(&study);
    let view = tmp.path().join("read-only");
    let Some(_mount) = read_only_view(&study, &view) else {
        eprintln!("note: cannot bind-mount here (needs root); the read-only study is not tested");
        return;
    };
    assert!(
        fs::write(view.join("probe"), "").is_err(),
        "the bind mount is writable"
    );
    one_line_error(
        &script_run("plot.py", &[s(&view)]),
        &[
            &format!("plot: cannot write {}", view.display()),
            "Read-only file system",
            "give --out a writable folder",
        ],
    );
    one_line_error(
        &script_run("plot.py", &["--out", s(&view.join("plots")), s(&study)]),
        &[
            &view.join("plots").display().to_string(),
            "give --out a writable folder",
        ],
    );
    // With a writable --out the read-only study is plotted.
    let plots = tmp.path().join("plots");
    script_ok("plot.py", &["--out", s(&plots), s(&view)]);
    assert!(plots.join("read-only-curves.png").exists());
    let table = script_ok("compare.py", &[s(&view)]);
    assert!(table.contains("| lstm | read-only | 3 |"), "{table}");
}

/// compare.py's only output is its table: a full disk ends it in one line.
#[test]
fn compare_with_an_unwritable_output_fails_in_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let study = tmp.path().join("study");
    fake_study(&study);
    let out = python_script("compare.py")
        .arg(&study)
        .stdout(fs::File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    one_line_error(&out, &["compare: cannot write", "No space left on device"]);
}

/// A study of two models in one set: compared model against model (paired
/// by seed), never "0 (0..0)" epochs in step (two models never compute the
/// same thing), and no published runs unless asked.
#[test]
fn compare_by_default_compares_the_models_of_one_study() {
    let tmp = tempfile::tempdir().unwrap();
    let set = tmp.path().join("rnn-lab");
    run_ok(&with(
        &with(
            &[
                "reproduce",
                "--models",
                "rnn,gru",
                "--seeds",
                "1,2",
                "--seq-len",
                "10",
            ],
            TINY,
        ),
        &["--epochs", "2", "--quiet", "--out", s(&set)],
    ));
    for args in [vec![s(&set)], vec![s(&set), "--by", "model"]] {
        let table = script_ok("compare.py", &args);
        assert!(
            table
                .lines()
                .any(|l| l.contains("| rnn | gru | paired, 2 |")),
            "{args:?}: no rnn against gru:\n{table}"
        );
        assert!(
            !table.contains("(0..0)"),
            "{args:?}: epochs in step between models:\n{table}"
        );
        assert!(!table.contains("epochs in step"), "{args:?}:\n{table}");
    }
}

/// One model at two lengths: compared length against length.
#[test]
fn compare_by_default_compares_the_lengths_when_only_they_vary() {
    let tmp = tempfile::tempdir().unwrap();
    let set = tmp.path().join("lengths");
    for k in 1..=3u64 {
        fake_run(
            &set.join(format!("len50/seed-{k}")),
            k,
            "lstm",
            50,
            80.0 + k as f64,
            &[0.05, 0.005],
        );
        fake_run(
            &set.join(format!("len100/seed-{k}")),
            k,
            "lstm",
            100,
            20.0 + k as f64,
            &[0.05, 0.05],
        );
    }
    let table = script_ok("compare.py", &[s(&tmp.path().join("lengths"))]);
    assert!(
        table
            .lines()
            .any(|l| l.contains("| 50 | 100 | paired, 3 |")),
        "no length 50 against 100:\n{table}"
    );
    assert!(!table.contains("blog ("), "{table}");
}

/// The blog's and textbook's single runs stand in the tables only with
/// --published.
#[test]
fn compare_shows_the_published_runs_only_with_published() {
    let tmp = tempfile::tempdir().unwrap();
    let set = tmp.path().join("blog-cpu");
    for k in 1..=3u64 {
        for (model, x) in [("lstm", 90.0), ("gru", 97.0)] {
            fake_run(
                &set.join(format!("{model}/seed-{k}")),
                k,
                model,
                100,
                x + k as f64,
                &[0.05, 0.005],
            );
        }
    }
    let plain = script_ok("compare.py", &[s(&set)]);
    assert!(
        plain
            .lines()
            .any(|l| l.contains("| lstm | gru | paired, 3 |")),
        "{plain}"
    );
    for published in ["blog (", "textbook ("] {
        assert!(
            !plain.contains(published),
            "{published} without --published:\n{plain}"
        );
    }
    let with_published = script_ok("compare.py", &[s(&set), "--published"]);
    for row in [
        "| lstm | blog (Keras, 1 unseeded run) | 1 | 92.95 % |",
        "| gru | textbook (Keras, 1 unseeded run) | 1 | 98.86 % |",
        "| blog (92.95 %, 1 run) | lstm | independent, 1 vs 3 |",
        "| textbook (98.86 %, 1 run) | gru | independent, 1 vs 3 |",
    ] {
        assert!(
            with_published.contains(row),
            "no {row:?} in:\n{with_published}"
        );
    }
}
