//! The README's everyday commands, run as they are written (at small
//! sizes: a few flags appended, which win over the line's own), in order,
//! in a scratch folder: each exits 0 and leaves what the README says.

mod common;

use std::{fs, process::Command};

use common::*;

/// The lines of README.md's "Everyday commands" shell block, comments cut.
fn everyday_commands() -> Vec<String> {
    let readme = fs::read_to_string(repo().join("README.md")).unwrap();
    let section = readme
        .split("## Everyday commands")
        .nth(1)
        .expect("README has an Everyday commands section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a ```sh block in Everyday commands");
    block
        .lines()
        .map(|l| l.split(" #").next().unwrap().trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Small sizes for a command of the README, by what it starts.
fn small_flags(words: &[&str]) -> Vec<&'static str> {
    let data = [
        "--epochs",
        "1",
        "--samples",
        "240",
        "--fit-rows",
        "200",
        "--units",
        "4",
    ];
    match words {
        ["rnn-lab", "train", ..] => [&data[..], &["--seq-len", "5", "--quiet"]].concat(),
        ["rnn-lab", "reproduce" | "sweep", ..] => [
            &data[..],
            &["--seq-lens", "5", "--seeds", "1", "--pack", "1", "--quiet"],
        ]
        .concat(),
        [suite, ..] if suite.ends_with("suite.sh") => [
            &data[..],
            &[
                "--tasks",
                "multiply",
                "--models",
                "rnn,lstm",
                "--seq-lens",
                "5",
                "--seeds",
                "1",
            ],
            &["--pack", "1", "--jobs", "1", "--quiet"],
        ]
        .concat(),
        _ => Vec::new(),
    }
}

#[test]
fn the_readmes_everyday_commands_run_as_written() {
    let commands = everyday_commands();
    assert!(commands.len() >= 8, "{commands:?}");
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    for line in &commands {
        let words: Vec<&str> = line.split_whitespace().collect();
        let mut cmd = match words[0] {
            "rnn-lab" => bin(),
            // The scripts keep the environment: setup.sh (which suite.sh
            // calls) must find the cache it installed into.
            script if script.starts_with("scripts/") => Command::new(repo().join(script)),
            other => panic!("a README command this test does not know: {other}"),
        };
        cmd.args(&words[1..])
            .args(small_flags(&words))
            .current_dir(cwd);
        if words[0].ends_with("suite.sh") {
            // suite.sh runs from the clone: its relative --out would land
            // there; the last --out wins.
            cmd.args(["--out", s(&cwd.join("runs/suite"))]);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "README: `{line}` failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // What the README says they leave.
    for file in [
        "runs/gru3/summary.json",
        "runs/reproduce/study.json",
        "runs/reproduce/runs.csv",
        "runs/halves/curves.csv",
        "runs/halves/aggregate.md",
        "runs/halves/aggregate.json",
    ] {
        assert!(cwd.join(file).is_file(), "{file} missing");
    }
    let pngs = |dir: &str| {
        fs::read_dir(cwd.join(dir))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "png")
            })
            .count()
    };
    assert!(
        pngs("runs/halves") >= 1,
        "plot.py drew nothing into runs/halves"
    );
    let suite = fs::read_to_string(cwd.join("runs/suite/comparison.md"))
        .expect("suite.sh wrote its comparison.md");
    assert!(suite.contains("lstm"), "{suite}");
}
