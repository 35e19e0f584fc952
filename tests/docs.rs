//! The user documentation as a reader meets it: a short README whose first
//! screen says what rnn-lab is and how to run it, links that lead somewhere
//! (files and GitHub-style heading anchors), and no words or paths that only
//! mean something to the people who wrote it.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

/// The README is a first page; the rest lives in docs/.
const README_MAX_LINES: usize = 250;
/// What a reader sees without scrolling far.
const FIRST_SCREEN_LINES: usize = 40;
/// Words about how the project is worked on, not about what it does.
const FORBIDDEN_WORDS: [&str; 7] = [
    "issue", "issues", "round", "rounds", "lent", "session", "sessions",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// README.md and every docs/*.md, README first.
fn doc_files() -> Vec<PathBuf> {
    let mut pages: Vec<PathBuf> = fs::read_dir(root().join("docs"))
        .expect("docs/ exists")
        .map(|e| e.expect("a docs/ entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    pages.sort();
    let mut files = vec![root().join("README.md")];
    files.extend(pages);
    files
}

fn shown(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The lines outside fenced code blocks, with their 1-based numbers.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut in_fence = false;
    let mut lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if !in_fence {
            lines.push((i + 1, line));
        }
    }
    lines
}

/// A line with its inline code spans removed (backtick to backtick).
fn without_code_spans(line: &str) -> String {
    line.split('`').step_by(2).collect::<Vec<_>>().join(" ")
}

/// GitHub's anchor for a heading: lower case, punctuation dropped except
/// '-' and '_', spaces turned into '-'.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// Every heading's anchor in a markdown text, duplicates numbered as GitHub
/// numbers them (`name`, `name-1`, ...).
fn anchors(text: &str) -> HashSet<String> {
    let mut seen = HashSet::new();
    for (_, line) in prose_lines(text) {
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if !(1..=6).contains(&hashes) || !line[hashes..].starts_with(' ') {
            continue;
        }
        let base = slug(&line[hashes..].replace('`', ""));
        let mut anchor = base.clone();
        let mut n = 0;
        while seen.contains(&anchor) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
        seen.insert(anchor);
    }
    seen
}

/// The targets of inline links and images, `[text](target)`, outside code,
/// with the line each is on.
fn link_targets(text: &str) -> Vec<(usize, String)> {
    let mut targets = Vec::new();
    for (number, line) in prose_lines(text) {
        let line = without_code_spans(line);
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let mut depth = 0;
            let end = after
                .char_indices()
                .find(|&(_, c)| match c {
                    '(' => {
                        depth += 1;
                        false
                    }
                    ')' if depth == 0 => true,
                    ')' => {
                        depth -= 1;
                        false
                    }
                    _ => false,
                })
                .map_or(after.len(), |(i, _)| i);
            let target = after[..end].split_whitespace().next().unwrap_or("");
            targets.push((number, target.trim_matches(['<', '>']).to_string()));
            rest = &after[end..];
        }
    }
    targets
}

fn is_external(target: &str) -> bool {
    ["http://", "https://", "mailto:"]
        .iter()
        .any(|scheme| target.starts_with(scheme))
}

#[test]
fn readme_is_a_first_page() {
    let readme = read(&root().join("README.md"));
    let lines = readme.lines().count();
    assert!(
        lines <= README_MAX_LINES,
        "README.md has {lines} lines, more than {README_MAX_LINES}: move detail into docs/"
    );
    let first: Vec<&str> = readme.lines().take(FIRST_SCREEN_LINES).collect();
    let first = first.join("\n");
    let setup_or_test = ["scripts/setup.sh", "scripts/test.sh"]
        .iter()
        .find(|c| first.contains(*c));
    assert!(
        setup_or_test.is_some() && first.contains("scripts/blog.sh"),
        "README.md's first {FIRST_SCREEN_LINES} lines must name scripts/setup.sh or \
         scripts/test.sh (found: {setup_or_test:?}) and scripts/blog.sh (found: {}); they are:\n{first}",
        first.contains("scripts/blog.sh")
    );
    assert!(
        readme.contains("scripts/test.sh"),
        "README.md never names scripts/test.sh, the test command CI runs (.ci/run)"
    );
    let headings: Vec<&str> = readme.lines().filter(|l| l.starts_with('#')).collect();
    assert!(
        headings
            .iter()
            .any(|h| h.trim_start_matches('#').trim() == "Contents"),
        "README.md has no \"Contents\" heading; its headings are: {headings:?}"
    );
}

#[test]
fn readme_links_every_docs_page() {
    let readme = read(&root().join("README.md"));
    let linked: HashSet<String> = link_targets(&readme)
        .into_iter()
        .map(|(_, t)| t.split('#').next().unwrap_or("").to_string())
        .collect();
    let unlinked: Vec<String> = doc_files()
        .iter()
        .skip(1)
        .map(|p| shown(p))
        .filter(|page| !linked.contains(page))
        .collect();
    assert!(
        unlinked.is_empty(),
        "pages under docs/ that README.md does not link: {unlinked:?}; README links: {linked:?}"
    );
}

#[test]
fn every_relative_link_points_at_a_file_and_heading_that_exist() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in doc_files() {
        let text = read(&file);
        let dir = file.parent().expect("a file has a folder");
        for (line, target) in link_targets(&text) {
            if target.is_empty() || is_external(&target) {
                continue;
            }
            checked += 1;
            let (path, anchor) = match target.split_once('#') {
                Some((p, a)) => (p, Some(a)),
                None => (target.as_str(), None),
            };
            let resolved = if path.is_empty() {
                file.clone()
            } else {
                dir.join(path)
            };
            let place = format!("{}:{line}: ({target})", shown(&file));
            if !resolved.exists() {
                broken.push(format!("{place}: no file {}", resolved.display()));
                continue;
            }
            if let Some(anchor) = anchor {
                if resolved.extension().is_some_and(|x| x == "md") {
                    let known = anchors(&read(&resolved));
                    if !known.contains(anchor) {
                        let mut known: Vec<_> = known.into_iter().collect();
                        known.sort();
                        broken.push(format!(
                            "{place}: no heading #{anchor} in {}; its anchors: {known:?}",
                            shown(&resolved)
                        ));
                    }
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "{} of {checked} relative links are broken:\n{}",
        broken.len(),
        broken.join("\n")
    );
    assert!(
        checked > 0,
        "found no relative links at all in README.md and docs/"
    );
}

#[test]
fn no_words_for_the_people_who_wrote_it() {
    let mut found = Vec::new();
    for file in doc_files() {
        for (i, line) in read(&file).lines().enumerate() {
            for word in line.split(|c: char| !c.is_alphanumeric()) {
                let lower = word.to_lowercase();
                if FORBIDDEN_WORDS.contains(&lower.as_str()) {
                    found.push(format!(
                        "{}:{}: \"{word}\" in: {}",
                        shown(&file),
                        i + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "words a user has no use for (one of {FORBIDDEN_WORDS:?}):\n{}",
        found.join("\n")
    );
}

#[test]
fn no_paths_a_user_does_not_have() {
    let mut found = Vec::new();
    for file in doc_files() {
        for (i, line) in read(&file).lines().enumerate() {
            if line.contains("shared/") {
                found.push(format!("{}:{}: {}", shown(&file), i + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "mentions of shared/, which a user's clone does not have:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_slugs_are_githubs() {
    let cases = [
        (
            "Why the `--adam` default stays `torch`",
            "why-the---adam-default-stays-torch",
        ),
        ("What is in results/", "what-is-in-results"),
        (
            "The plateau: does Keras leave it later than rnn-lab?",
            "the-plateau-does-keras-leave-it-later-than-rnn-lab",
        ),
        ("A study's folder", "a-studys-folder"),
    ];
    for (heading, want) in cases {
        let got = slug(&heading.replace('`', ""));
        assert_eq!(got, want, "slug of {heading:?}: got {got:?}, want {want:?}");
    }
    let twice = anchors("# A\n\n## A\n\n```\n# not a heading\n```\n");
    let mut got: Vec<_> = twice.iter().cloned().collect();
    got.sort();
    assert_eq!(
        got,
        ["a", "a-1"],
        "duplicate headings and fenced code: got {got:?}"
    );
}

/// docs/experiment.md's tests of differences quote
/// results/blog-cpu/comparison.md as that file writes them (the command
/// that writes it is in the page; tests/docs_commands.rs runs it): every
/// interval, p value and difference in points.
#[test]
fn experiment_md_cites_the_blog_comparison_as_written() {
    let page = read(&root().join("docs/experiment.md"));
    let section = page
        .split("### What is a real difference")
        .nth(1)
        .expect("experiment.md has the section")
        .split("\n### ")
        .next()
        .unwrap();
    let file = read(&root().join("results/blog-cpu/comparison.md"));
    let number = |text: &str| -> String {
        text.chars()
            .take_while(|c| c.is_ascii_digit() || ".e+-".contains(*c))
            .collect::<String>()
            .trim_end_matches('.')
            .to_owned()
    };
    let mut cited = Vec::new();
    for piece in section.split('[').skip(1) {
        let inner = piece.split(']').next().unwrap().replace("95 % CI ", "");
        if inner.contains(", ") && inner.starts_with(['+', '-']) {
            cited.push(format!(
                "[{}]",
                inner.split_whitespace().collect::<Vec<_>>().join(" ")
            ));
        }
    }
    for piece in section.split("p = ").skip(1) {
        cited.push(format!("p = {}", number(piece)));
    }
    for word in section.split_whitespace().collect::<Vec<_>>().windows(2) {
        let value = word[0].trim_start_matches('(');
        if word[1].starts_with("points") && value.starts_with(['+', '-']) {
            cited.push(format!("{value} ["));
        }
    }
    assert!(cited.len() >= 20, "{cited:?}");
    let missing: Vec<&String> = cited
        .iter()
        .filter(|c| !file.contains(c.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/experiment.md cites what results/blog-cpu/comparison.md does not say: {missing:?}"
    );
}
