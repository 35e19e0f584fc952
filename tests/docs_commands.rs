//! Every command of a ```sh block in docs/*.md, run as it is written (at
//! small sizes: a few flags appended, which win over the line's own), in
//! order, a page at a time in a scratch folder: each exits 0 and leaves
//! what the page says. Two forms are run another way, and say so:
//! `sbatch ... SCRIPT ARGS` runs SCRIPT ARGS as one Slurm task would run it
//! (tests/slurm.rs submits it to a real Slurm where one can be started),
//! and `COMMAND > results/...` regenerates a committed file: it runs from
//! the clone, and what it prints must be that file, byte for byte.

mod common;

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use common::commands::{doc_command, last_out, sh_commands};
use common::*;

/// The pages with commands, and what each test here runs.
const PAGES: [&str; 4] = [
    "docs/experiment.md",
    "docs/long-runs.md",
    "docs/studies.md",
    "docs/tasks.md",
];

/// The commands of a page, with their line numbers.
fn commands(page: &str) -> Vec<(usize, String)> {
    sh_commands(&fs::read_to_string(repo().join(page)).unwrap())
}

/// Runs one command of `page` in `scratch`; panics naming the line if it
/// fails. A command that `grows` a study an earlier one made runs with
/// seeds 1..2 (the earlier, with the small sizes' one seed), so it grows.
fn run(page: &str, line: usize, text: &str, scratch: &Path, grows: bool) {
    let (mut command, writes) = if let Some((command, file)) = text.split_once(" > ") {
        // Regenerates a committed file: read from the clone, compared, never written.
        let file = file.trim();
        assert!(
            file.starts_with("results/") && repo().join(file).is_file(),
            "{page}:{line}: `{text}` writes {file}, which is not a committed result"
        );
        let mut c = doc_command(command, scratch);
        c.current_dir(repo());
        (c, Some(file.to_owned()))
    } else if let Some(rest) = text.strip_prefix("sbatch ") {
        (as_one_slurm_task(page, line, rest, scratch), None)
    } else {
        (doc_command(text, scratch), None)
    };
    if grows {
        command.args(["--seeds", "1..2"]);
    }
    let started = std::time::Instant::now();
    let out = command.output().unwrap();
    // What each command costs, for keeping this test short (--nocapture).
    eprintln!("{page}:{line}: {:.1} s", started.elapsed().as_secs_f64());
    assert!(
        out.status.success(),
        "{page}:{line}: `{text}` failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if let Some(file) = writes {
        let committed = fs::read_to_string(repo().join(&file)).unwrap();
        let printed = String::from_utf8(out.stdout).unwrap();
        assert!(
            printed == committed,
            "{page}:{line}: `{text}` no longer writes the committed {file}; regenerate it with \
             that command (first differing line: {:?})",
            printed.lines().zip(committed.lines()).find(|(a, b)| a != b)
        );
    }
}

/// `sbatch [OPTIONS] SCRIPT ARGS`: sbatch is not here, so SCRIPT ARGS run
/// as Slurm runs the script for one task of a one-task array (no
/// SLURM_ARRAY_* variables: the whole study as shard 1/1); its options
/// (--gres, --array, ...) are Slurm's, checked by tests/slurm.rs on a real
/// Slurm. The study goes into `scratch/study` (the last --out wins).
fn as_one_slurm_task(page: &str, line: usize, rest: &str, scratch: &Path) -> Command {
    let words: Vec<&str> = rest.split_whitespace().collect();
    let at = words
        .iter()
        .position(|w| !w.starts_with('-'))
        .unwrap_or_else(|| panic!("{page}:{line}: sbatch without a script"));
    assert_eq!(
        words[at], "scripts/slurm-sweep.sh",
        "{page}:{line}: a script this test does not know"
    );
    let mut command = doc_command(&words[at..].join(" "), scratch);
    command.args(["--out", s(&scratch.join("study"))]);
    for name in [
        "SLURM_ARRAY_TASK_ID",
        "SLURM_ARRAY_TASK_COUNT",
        "SLURM_SUBMIT_DIR",
    ] {
        command.env_remove(name);
    }
    command
}

/// Runs every command of `page` in order in one scratch folder; returns it.
fn run_page(page: &str) -> tempfile::TempDir {
    let scratch = tempfile::tempdir().unwrap();
    let all = commands(page);
    assert!(!all.is_empty(), "{page} has no ```sh commands");
    let mut studies = BTreeSet::new();
    for (line, text) in &all {
        let grows = last_out(text).is_some_and(|out| !studies.insert(out.to_owned()));
        run(page, *line, text, scratch.path(), grows);
    }
    scratch
}

fn runs_in(study: &Path) -> BTreeSet<String> {
    json(&study.join("study.json"))["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect()
}

fn is_file(dir: &Path, file: &str) -> bool {
    dir.join(file).is_file()
}

/// No page holds commands this file does not run.
#[test]
fn every_page_with_commands_is_run_here() {
    let mut with_commands: Vec<String> = fs::read_dir(repo().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .map(|p| format!("docs/{}", p.file_name().unwrap().to_string_lossy()))
        .filter(|page| !commands(page).is_empty())
        .collect();
    with_commands.sort();
    assert_eq!(with_commands, PAGES);
    let lines: Vec<String> = commands("docs/studies.md")
        .into_iter()
        .map(|(_, c)| c)
        .collect();
    assert_eq!(
        lines[0], "scripts/blog.sh",
        "joined and cut as written: {lines:?}"
    );
    assert!(
        lines[2].starts_with("target/release/rnn-lab sweep --tasks multiply,blog-add ")
            && lines[2].ends_with(" --out results/study-cpu"),
        "{lines:?}"
    );
}

/// experiment.md: the command that writes results/blog-cpu/comparison.md,
/// whose numbers the page cites, writes exactly the committed file.
#[test]
fn experiment_md_regenerates_the_committed_comparison() {
    let all = commands("docs/experiment.md");
    assert_eq!(
        all.iter().map(|(_, c)| c.as_str()).collect::<Vec<_>>(),
        ["scripts/compare.py results/blog-cpu --published --per-seed > results/blog-cpu/comparison.md"]
    );
    run_page("docs/experiment.md");
}

/// studies.md: blog.sh with and without --out, the committed length
/// study's sweep, and the Slurm script.
#[test]
fn studies_md_commands_run_as_written() {
    let scratch = run_page("docs/studies.md");
    let dir = scratch.path();
    assert_eq!(
        runs_in(&dir.join("runs/blog")).len(),
        2,
        "rnn and lstm, seed 1"
    );
    assert_eq!(
        runs_in(&dir.join("runs/mine")).len(),
        3,
        "three models, one seed"
    );
    let study: PathBuf = dir.join("results/study-cpu");
    assert_eq!(
        runs_in(&study),
        [
            "blog-add-gru-keras-len5-seed1",
            "blog-add-lstm-keras-len5-seed1",
            "blog-add-rnn-keras-len5-seed1",
            "multiply-gru-keras-len5-seed1",
            "multiply-lstm-keras-len5-seed1",
            "multiply-rnn-keras-len5-seed1",
        ]
        .map(String::from)
        .into()
    );
    assert!(is_file(&study, "runs.csv") && is_file(&study, "aggregate.md"));
    assert_eq!(
        runs_in(&dir.join("study")),
        [
            "multiply-lstm-keras-len5-seed1",
            "multiply-rnn-keras-len5-seed1"
        ]
        .map(String::from)
        .into(),
        "the Slurm study's grid, cut to two cells"
    );
}

/// tasks.md: the length study's sweep and plot, the suite, and the suite
/// grown to more seeds.
#[test]
fn tasks_md_commands_run_as_written() {
    let scratch = run_page("docs/tasks.md");
    let dir = scratch.path();
    let study = dir.join("results/study-cpu");
    assert!(
        is_file(&study, "study-cpu-curves.png"),
        "plot.py drew the study"
    );
    let suite = dir.join("results/suite-cpu");
    assert_eq!(
        runs_in(&suite),
        [
            "multiply-lstm-keras-len5-seed1",
            "multiply-lstm-keras-len5-seed2",
            "multiply-rnn-keras-len5-seed1",
            "multiply-rnn-keras-len5-seed2",
        ]
        .map(String::from)
        .into(),
        "the second command grew the suite to seeds 1..2"
    );
    assert!(is_file(&suite, "comparison.md"));
}

/// long-runs.md: a run, a second, both inspected and drawn side by side.
#[test]
fn long_runs_md_commands_run_as_written() {
    let scratch = run_page("docs/long-runs.md");
    let dir = scratch.path();
    for run in ["runs/long", "runs/long-rnn"] {
        assert!(is_file(&dir.join(run), "summary.json"), "{run}");
        assert!(
            !is_file(&dir.join(run), "checkpoint.safetensors"),
            "{run}: a finished run keeps no checkpoint"
        );
    }
    let csv = csv_rows(&dir.join("runs/long/inspect.csv"));
    assert_eq!(
        csv[0].join(","),
        "row,step,layer,quantity,unit,value,input,marker,target,prediction"
    );
    assert!(fs::metadata(dir.join("inside.png")).unwrap().len() > 10_000);
}
