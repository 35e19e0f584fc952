//! The shell commands the README and docs/ show, as the tests run them:
//! each ```sh block's commands in order, small sizes appended (the last
//! flag wins, so they replace the line's own), in a scratch folder.

use std::{path::Path, process::Command};

use super::{bin, bin_path, repo, s};

/// Scripts that run from the clone (they `cd` there, so a relative --out
/// lands in it), with the folder they write without --out.
const RUN_IN_THE_CLONE: [(&str, &str); 2] = [
    ("scripts/blog.sh", "runs/blog"),
    ("scripts/suite.sh", "runs/suite"),
];

/// The commands of every ```sh block of `text`, in order, each with the
/// line it starts on: a trailing `\` joins the next line, and a `#`
/// comment (a line of its own, or after ` #`) is cut.
pub fn sh_commands(text: &str) -> Vec<(usize, String)> {
    let mut commands = Vec::new();
    let mut in_block = false;
    let mut pending: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let fence = line.trim_start().starts_with("```");
        if !in_block {
            in_block = fence && line.trim() == "```sh";
            continue;
        }
        if fence {
            in_block = false;
            continue;
        }
        let code = line.split(" #").next().unwrap().trim();
        if code.starts_with('#') || (code.is_empty() && pending.is_none()) {
            continue;
        }
        let (start, mut so_far) = pending.take().unwrap_or((i + 1, String::new()));
        so_far.push_str(code.trim_end_matches('\\').trim_end());
        if code.ends_with('\\') {
            so_far.push(' ');
            pending = Some((start, so_far));
        } else {
            commands.push((start, so_far));
        }
    }
    assert!(pending.is_none(), "a ```sh block ends in a `\\`");
    commands
}

/// Small sizes for a command, by what it runs: one epoch of 240 rows of 4
/// units at length 5, one seed, packs of one; the suite's and the Slurm
/// study's grids cut to two cells.
pub fn small_flags(words: &[&str]) -> Vec<&'static str> {
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
    let study = [
        &data[..],
        &["--seq-lens", "5", "--seeds", "1", "--pack", "1", "--quiet"],
    ]
    .concat();
    let program = Path::new(words[0]).file_name().unwrap().to_str().unwrap();
    match (program, words.get(1).copied()) {
        ("rnn-lab", Some("train")) => [&data[..], &["--seq-len", "5", "--quiet"]].concat(),
        ("rnn-lab", Some("reproduce" | "sweep")) | ("blog.sh", _) => study,
        ("slurm-sweep.sh" | "suite.sh", _) => [
            &study[..],
            &["--tasks", "multiply", "--models", "rnn,lstm", "--jobs", "1"],
        ]
        .concat(),
        _ => Vec::new(),
    }
}

/// The last --out a command names, if any (the one rnn-lab takes).
pub fn last_out(line: &str) -> Option<&str> {
    let words: Vec<&str> = line.split_whitespace().collect();
    words
        .windows(2)
        .rev()
        .find(|w| w[0] == "--out")
        .map(|w| w[1])
}

/// A command of the docs (`rnn-lab`, `target/release/rnn-lab` or a script
/// of scripts/), to run in `scratch` at small sizes. A script that runs
/// from the clone writes its study into `scratch` instead (the last --out
/// wins), and the Python scripts ask this build for rnn-lab's lists.
pub fn doc_command(line: &str, scratch: &Path) -> Command {
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut command = match words[0] {
        "rnn-lab" | "target/release/rnn-lab" => bin(),
        script if script.starts_with("scripts/") => {
            // The scripts keep the environment: setup.sh (which blog.sh and
            // suite.sh call) must find the cache it installed into.
            let mut command = Command::new(repo().join(script));
            command.env("RNN_LAB_BIN", bin_path());
            command
        }
        other => panic!("a command of the docs that the tests do not know: {other} (in `{line}`)"),
    };
    command
        .args(&words[1..])
        .args(small_flags(&words))
        .current_dir(scratch);
    if let Some((_, default)) = RUN_IN_THE_CLONE.iter().find(|(name, _)| *name == words[0]) {
        let given = last_out(line).unwrap_or(default);
        assert!(
            !given.starts_with('/'),
            "`{line}`: an absolute --out would be written as it is"
        );
        command.args(["--out", s(&scratch.join(given))]);
    }
    command
}
