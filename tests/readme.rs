//! The README's everyday commands, run as they are written (at small
//! sizes: a few flags appended, which win over the line's own), in order,
//! in a scratch folder: each exits 0 and leaves what the README says.
//! tests/docs_commands.rs does the same for every command of docs/.

mod common;

use std::fs;

use common::commands::{doc_command, sh_commands};
use common::*;

/// The commands of README.md's "Everyday commands" shell block.
fn everyday_commands() -> Vec<String> {
    let readme = fs::read_to_string(repo().join("README.md")).unwrap();
    let section = readme
        .split("## Everyday commands")
        .nth(1)
        .expect("README has an Everyday commands section");
    let section = section.split("\n## ").next().unwrap();
    let commands: Vec<String> = sh_commands(section).into_iter().map(|(_, c)| c).collect();
    assert!(!commands.is_empty(), "a ```sh block in Everyday commands");
    commands
}

#[test]
fn the_readmes_everyday_commands_run_as_written() {
    let commands = everyday_commands();
    assert!(commands.len() >= 8, "{commands:?}");
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    for line in &commands {
        let out = doc_command(line, cwd).output().unwrap();
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
