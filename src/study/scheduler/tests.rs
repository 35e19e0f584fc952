//! The scheduler with a mock launcher: slots, failures, signals, locks.
use std::cell::Cell as Counter;

use super::*;
use crate::config::TrainConfig;
use crate::run::Job;
use crate::store::console::Console;
use crate::store::{text::summary_json, EpochRecord, HistoryFile, Summary, HISTORY};

/// A child that "trains" its plan after `ticks` polls: each run gets a
/// finished folder, except seeds in `fail`.
struct Mock {
    ticks: usize,
    fail: Vec<u64>,
    started: Vec<Vec<String>>,
    running: usize,
    most_running: usize,
}

struct MockChild {
    plan: Plan,
    polls: usize,
}

fn finish(job: &Job) {
    fs::create_dir_all(&job.out).unwrap();
    let r = EpochRecord::core(0, 0.1, 0.1, 1.0, 1.0);
    HistoryFile::create(&job.out.join(HISTORY))
        .unwrap()
        .append(&r)
        .unwrap();
    let s = Summary::example(job.config.clone(), 50.0, &[r]);
    fs::write(job.out.join(SUMMARY), summary_json(&s).unwrap()).unwrap();
}

impl Launcher for Mock {
    type Child = MockChild;
    fn start(&mut self, plan: &Path, _log: &Path) -> Result<MockChild> {
        let plan = Plan::read(plan)?;
        self.started.push(
            plan.jobs
                .iter()
                .map(|j| j.out.file_name().unwrap().to_string_lossy().into_owned())
                .collect(),
        );
        self.running += 1;
        self.most_running = self.most_running.max(self.running);
        Ok(MockChild { plan, polls: 0 })
    }
    fn poll(&mut self, child: &mut MockChild) -> Result<Option<Ended>> {
        child.polls += 1;
        if child.polls < self.ticks {
            return Ok(None);
        }
        self.running -= 1;
        let mut ok = true;
        for job in &child.plan.jobs {
            if self.fail.contains(&job.config.seed) {
                ok = false;
            } else {
                finish(job);
            }
        }
        Ok(Some(Ended {
            status: if ok {
                "exit status: 0"
            } else {
                "exit status: 1"
            }
            .into(),
            by_signal: false,
            stopped: false,
        }))
    }
    fn stop(&mut self, _child: &MockChild) {}
    fn kill(&mut self, _child: &MockChild) {}
}

fn runs(seeds: std::ops::RangeInclusive<u64>) -> Vec<RunSpec> {
    seeds
        .map(|seed| RunSpec {
            name: format!("run-seed{seed}"),
            config: TrainConfig {
                seed,
                ..TrainConfig::default()
            },
        })
        .collect()
}

fn go(
    mock: &mut Mock,
    packs: Vec<Vec<RunSpec>>,
    jobs: usize,
    signal_after: Option<usize>,
) -> (Outcome, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir_all(tmp.path().join("logs")).unwrap();
    let n = packs.iter().map(Vec::len).sum();
    let calls = Counter::new(0);
    let interrupts = || {
        calls.set(calls.get() + 1);
        usize::from(signal_after.is_some_and(|a| calls.get() > a))
    };
    let mut ends = 0;
    let mut on_end = || ends += 1;
    let mut sink = Vec::new();
    let mut console = Console::new(&mut sink);
    let s = Schedule {
        dir: tmp.path(),
        jobs,
        execution: Execution::default(),
        quiet: false,
        interrupts: &interrupts,
        on_end: &mut on_end,
        status_every: 1e9,
        force: false,
    };
    let outcome = schedule(mock, packs, n, 0, s, &mut console).unwrap();
    (outcome, tmp)
}

fn mock(ticks: usize, fail: Vec<u64>) -> Mock {
    Mock {
        ticks,
        fail,
        started: vec![],
        running: 0,
        most_running: 0,
    }
}

#[test]
fn runs_every_pack_at_most_jobs_at_a_time() {
    let mut m = mock(3, vec![]);
    let packs = runs(1..=5).chunks(2).map(<[RunSpec]>::to_vec).collect();
    let (o, tmp) = go(&mut m, packs, 2, None);
    assert_eq!(
        (o.finished, o.failed.len(), o.left(), o.interrupted),
        (5, 0, 0, false)
    );
    assert_eq!(m.most_running, 2);
    assert_eq!(
        m.started,
        [
            vec!["run-seed1", "run-seed2"],
            vec!["run-seed3", "run-seed4"],
            vec!["run-seed5"]
        ]
    );
    let plan = Plan::read(&tmp.path().join("logs/run-seed1.plan.json")).unwrap();
    assert!(
        plan.force && !plan.quiet,
        "a child restarts cut-off runs and logs its epochs"
    );
    let note = fs::read_to_string(tmp.path().join("logs/run-seed2.log")).unwrap();
    assert!(
        note.starts_with("trained in the pack of run-seed1"),
        "{note}"
    );
}

#[test]
fn a_failed_run_is_named_and_the_others_finish() {
    let mut m = mock(1, vec![2]);
    let (o, _tmp) = go(
        &mut m,
        runs(1..=3).into_iter().map(|r| vec![r]).collect(),
        1,
        None,
    );
    assert_eq!(o.finished, 2);
    assert_eq!(o.failed, ["run-seed2"]);
}

#[test]
fn a_signal_stops_launching_and_lets_the_running_finish() {
    let mut m = mock(5, vec![]);
    let (o, _tmp) = go(
        &mut m,
        runs(1..=4).into_iter().map(|r| vec![r]).collect(),
        2,
        Some(2),
    );
    assert!(o.interrupted);
    assert_eq!(m.started.len(), 2, "no launch after the signal");
    assert_eq!((o.finished, o.left()), (2, 2));
}

#[test]
fn a_run_held_by_another_process_is_left_to_it() {
    let mut m = mock(1, vec![]);
    let tmp_runs = runs(1..=2);
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir_all(tmp.path().join("logs")).unwrap();
    let held = lock_run(tmp.path(), "run-seed1").unwrap().unwrap();
    let interrupts = || 0;
    let mut on_end = || {};
    let mut sink = Vec::new();
    let mut console = Console::new(&mut sink);
    let s = Schedule {
        dir: tmp.path(),
        jobs: 1,
        execution: Execution::default(),
        quiet: true,
        interrupts: &interrupts,
        on_end: &mut on_end,
        status_every: 1e9,
        force: false,
    };
    let o = schedule(&mut m, vec![tmp_runs], 2, 0, s, &mut console).unwrap();
    drop(held);
    assert_eq!((o.elsewhere, o.finished), (1, 1));
    assert_eq!(m.started, [vec!["run-seed2"]]);
}
