//! A checked plan's life: every member's data, weights and batch orders
//! built (and, for a cut-off run, its checkpoint restored), then every
//! folder locked (and only then cleared), training in the one loop with
//! checkpoints along the way, the test evaluation, and each member's
//! files. A lone run and a pack of 1024 take the same path; a stop signal
//! ends it with a checkpoint and [`Stopped`].

use std::{io::Write, time::Instant};

use anyhow::{Context, Result};
use tch::Tensor;

use super::check::{CheckedJob, CheckedPlan};
use super::checkpoint::{Checkpoints, Computed};
use super::memory::{self, guard};
use super::observer::RunObserver;
use super::outputs::{write_outputs, Finished};
use super::signals::{catch_signals, signals};
use crate::nn::init::draw_weights;
use crate::nn::optim::Optimizer;
use crate::nn::tasks::{Dataset, Split};
use crate::nn::weights::{save_named, Weights};
use crate::nn::Network;
use crate::nn::{device, kernel};
use crate::store::console::Console;
use crate::store::text::final_report;
use crate::store::{
    CheckpointRecord, EpochRecord, Evaluation, HistoryFile, PackRecord, RunDir, Summary,
    CHECKPOINT, HISTORY,
};
use crate::train::batch::PackData;
use crate::train::eval::{baseline, evaluate, predict};
use crate::train::orders::batch_orders;
use crate::train::{fit, Fitted, TrainState};

/// A run, pack or study stopped by a signal after saving its
/// checkpoints: the same command resumes it (exit code 75, EX_TEMPFAIL).
#[derive(Debug)]
pub struct Stopped(pub String);

impl Stopped {
    /// A plan stopped in `epoch` (from 0) after `batch` batches of it.
    pub fn at(epoch: i64, batch: i64) -> Stopped {
        Stopped(format!(
            "stopped by a signal in epoch {}, after batch {batch}: checkpoint saved; run the same command again to resume",
            epoch + 1
        ))
    }
}

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Stopped {}

/// One member's data and batch orders, built without writing anything.
struct Member {
    split: Split,
    orders: Vec<Tensor>,
    /// Kept only when the job exports it (`--save-data`).
    data: Option<Dataset>,
}

fn prepare(job: &CheckedJob) -> Result<Member> {
    let c = &job.job.config;
    let data = Dataset::for_config(c)?;
    let split = data.split(c, tch::Device::Cpu)?;
    Ok(Member {
        orders: batch_orders(c.seed, c.split_sizes().train, c.epochs),
        split,
        data: job.job.save_data.is_some().then_some(data),
    })
}

/// A member's initial weights: read from its file at check time, or drawn
/// from its seed now.
fn initial_weights(job: &CheckedJob) -> Weights {
    match &job.init_from {
        Some((_, weights)) => shallow(weights),
        None => draw_weights(&job.spec, job.job.config.seed),
    }
}

/// Locks every member's folder, then clears them: a folder that cannot
/// be had stops the plan before any earlier run's files are touched, and
/// the folders made for it are removed again.
fn open_folders(plan: &CheckedPlan) -> Result<Vec<RunDir>> {
    let mut dirs: Vec<RunDir> = Vec::new();
    for job in &plan.jobs {
        let locked = RunDir::lock(&job.job.out, plan.force || job.resume.is_some()).and_then(|d| {
            match &job.resume {
                Some(c) if !c.unchanged() => anyhow::bail!(
                    "{} changed while this run started (another rnn-lab run?); run the command again",
                    c.path.display()
                ),
                _ => Ok(d),
            }
        });
        match locked {
            Ok(dir) => dirs.push(dir),
            Err(e) => {
                dirs.into_iter().for_each(RunDir::abandon);
                return Err(e);
            }
        }
    }
    for (dir, job) in dirs.iter().zip(&plan.jobs) {
        match job.resume {
            Some(_) => dir.clear_to_resume()?,
            None => dir.clear()?,
        }
    }
    Ok(dirs)
}

/// Every member's data and weights, the network and its optimizer: all a
/// plan needs before a folder is touched, each stage's lack of memory told
/// as such.
struct Built {
    members: Vec<Member>,
    data: PackData,
    weights: Vec<Weights>,
    net: Box<dyn Network>,
    opt: Optimizer,
}

fn build(plan: &CheckedPlan) -> Result<Built> {
    let k = plan.jobs.len();
    let config = &plan.jobs[0].job.config;
    let spec = plan.jobs[0].spec;
    memory::check_data_fits(config, k)?;
    let (members, data) = guard(
        || memory::data_message(config, k),
        || {
            let members = plan.jobs.iter().map(prepare).collect::<Result<Vec<_>>>()?;
            let splits: Vec<&Split> = members.iter().map(|m| &m.split).collect();
            let data = PackData::stack(&splits, plan.device)?;
            Ok((members, data))
        },
    )?;
    memory::check_model_fits(&spec, k)?;
    let (weights, net, opt) = guard(
        || memory::model_message(&spec, k),
        || {
            let specs: Vec<_> = plan.jobs.iter().map(|j| j.spec).collect();
            let weights: Vec<Weights> = plan.jobs.iter().map(initial_weights).collect();
            let (net, opt) = kernel::build_with_adam(
                &specs,
                weights.iter().map(shallow).collect(),
                plan.device,
                &plan.execution,
                config,
            )?;
            Ok((weights, net, opt))
        },
    )?;
    Ok(Built {
        members,
        data,
        weights,
        net,
        opt,
    })
}

/// Trains `plan` and writes each member's folder. Returns each member's
/// summary, or why it failed (the others are untouched by it); a lone run
/// prints the blog's report at the end. `console` gets the epoch lines and
/// goes quiet, never stopping the training, when it goes away.
pub fn execute(plan: &CheckedPlan, console: &mut dyn Write) -> Result<Vec<Result<Summary>>> {
    let started = Instant::now();
    tch::set_num_threads(plan.execution.threads as i32);
    memory::keep_freed_memory();
    let k = plan.jobs.len();
    let config = &plan.jobs[0].job.config;
    catch_signals();
    let signals_before = signals();
    let Built {
        members,
        data,
        weights,
        net,
        mut opt,
    } = build(plan)?;
    let state = match &plan.resume {
        Some(state) => {
            for (k, job) in plan.jobs.iter().enumerate() {
                let checkpoint = job.resume.as_ref().expect("every member resumes");
                checkpoint.restore(&*net, &opt, k)?;
            }
            opt.set_steps(
                plan.jobs[0]
                    .resume
                    .as_ref()
                    .expect("resumes")
                    .meta
                    .adam_steps,
            )?;
            state.clone()
        }
        None => TrainState::start(k),
    };

    // Every input is checked and built: only now are the folders touched.
    let dirs = open_folders(plan)?;
    if plan.resume.is_none() {
        for ((job, member), weights) in plan.jobs.iter().zip(&members).zip(&weights) {
            export(job, member, weights)?;
        }
    }
    drop(weights);
    let mut console = Console::new(console);
    let now = computed(plan, &*net);
    if !plan.quiet {
        console.print(&header(plan));
        if let Some(note) = other_computation(plan, &now) {
            console.print(&note);
        }
    }
    let checkpoints = Checkpoints::new(
        plan.jobs
            .iter()
            .map(|j| {
                let init = j.init_from.as_ref().map(|(s, _)| s.clone());
                (j.job.config.clone(), init, j.job.out.clone())
            })
            .collect(),
        now,
        plan.execution.checkpoint_every,
        signals_before,
    );
    let mut checkpoints = checkpoints;
    if plan.resume.is_none() {
        // A folder with an epoch in it always has a checkpoint to go on from.
        checkpoints.save(&*net, &opt, &state);
        if let Some(e) = checkpoints.failed.take() {
            dirs.into_iter().for_each(RunDir::abandon_if_unstarted);
            return Err(anyhow::anyhow!(e).context("cannot save the first checkpoint"));
        }
    }
    let histories = dirs
        .iter()
        .enumerate()
        .map(|(m, d)| match plan.resume {
            Some(_) => HistoryFile::resume(&d.file(HISTORY), &state.histories[m]),
            None => HistoryFile::create(&d.file(HISTORY)),
        })
        .collect::<Result<Vec<_>>>()?;
    let mut observer = RunObserver::new(
        histories,
        &mut console,
        checkpoints,
        plan.quiet,
        config.epochs,
        config.batches_per_epoch(),
    );
    let orders: Vec<Vec<Tensor>> = members.into_iter().map(|m| m.orders).collect();
    let trained = guard(
        || memory::training_message(config, k),
        || {
            let fitted = fit(
                &*net,
                &mut opt,
                &data,
                &orders,
                config,
                state,
                &mut observer,
            )?;
            let ends = match fitted {
                Fitted::Done(ends) => ends,
                Fitted::Stopped => {
                    let (epoch, batch) = observer.checkpoints.saved.unwrap_or((0, 0));
                    return Err(Stopped::at(epoch, batch).into());
                }
            };
            let readout = config.task.shape().readout;
            Ok((ends, predict(&*net, &data.test, readout)?))
        },
    );
    observer.finish();
    let checkpoints = (observer.checkpoints.written, observer.checkpoints.seconds);
    drop(observer);
    let (ends, test) = match trained {
        Ok(t) => t,
        Err(e) => {
            if e.downcast_ref::<Stopped>().is_none() {
                dirs.into_iter().for_each(RunDir::abandon_if_unstarted);
            }
            return Err(e);
        }
    };
    let trained = Trained {
        net: &*net,
        data: &data,
        test: &test,
        started,
        checkpoints,
    };
    let results = plan
        .jobs
        .iter()
        .zip(&dirs)
        .zip(ends)
        .enumerate()
        .map(|(k, ((job, dir), end))| {
            let evaluation = end.and_then(|history| trained.finish(plan, k, job, dir, &history))?;
            if plan.jobs.len() == 1 && !plan.quiet {
                let chance = evaluation.0.chance().unwrap_or(f64::NAN);
                console.print(&final_report(&evaluation.1, chance));
            }
            Ok(evaluation.0)
        })
        .collect();
    Ok(results)
}

/// How `plan` computes, as its checkpoints record it.
fn computed(plan: &CheckedPlan, net: &dyn Network) -> Computed {
    Computed {
        kernel: net.kernel(),
        adam_layout: Optimizer::layout_for(plan.execution.adam_layout, net, plan.device),
        device: device::name(plan.device),
        threads: plan.execution.threads,
        members: plan.jobs.len(),
        position: 0,
    }
}

/// A note when a resumed plan computes otherwise than its checkpoint's
/// run did: it goes on, but not bit for bit as that run would have.
fn other_computation(plan: &CheckedPlan, now: &Computed) -> Option<String> {
    let saved = &plan.jobs[0].resume.as_ref()?.meta.computed;
    let mut differ = Vec::new();
    let mut note = |what: &str, there: String, here: String| {
        if there != here {
            differ.push(format!("{what} {there} there, {here} here"));
        }
    };
    note("kernel", saved.kernel.to_string(), now.kernel.to_string());
    note(
        "adam layout",
        saved.adam_layout.to_string(),
        now.adam_layout.to_string(),
    );
    note("device", saved.device.clone(), now.device.clone());
    note(
        "threads",
        saved.threads.to_string(),
        now.threads.to_string(),
    );
    note(
        "pack of",
        saved.members.to_string(),
        now.members.to_string(),
    );
    (!differ.is_empty()).then(|| {
        format!(
            "note: the checkpoint's run computed otherwise ({}): it goes on, but not bit for bit as it would have\n",
            differ.join(", ")
        )
    })
}

/// What a plan's members share once trained.
struct Trained<'a> {
    net: &'a dyn Network,
    data: &'a PackData,
    /// Every member's test answers, `[K, rows, ...]`.
    test: &'a Tensor,
    started: Instant,
    /// Checkpoints this process wrote, and their seconds.
    checkpoints: (u64, f64),
}

impl Trained<'_> {
    /// Member `k`'s test report and files; its summary, written last.
    fn finish(
        &self,
        plan: &CheckedPlan,
        k: usize,
        job: &CheckedJob,
        dir: &RunDir,
        history: &[EpochRecord],
    ) -> Result<(Summary, Evaluation)> {
        let member = k as i64;
        let task = job.job.config.task.shape();
        let test_y = self.data.test.y.get(member);
        let evaluation = evaluate(&task, &self.test.get(member), &test_y)?;
        let checkpoint = dir.file(CHECKPOINT);
        let bytes = std::fs::metadata(&checkpoint).map_or(0, |m| m.len());
        let summary = write_outputs(
            dir,
            Finished {
                config: &job.job.config,
                device: plan.device,
                threads: plan.execution.threads,
                spec: &job.spec,
                history,
                evaluation: &evaluation,
                baseline: baseline(&task, &self.data.member_train_y(member), &test_y),
                weights: self.net.member_weights(member),
                started: self.started,
                pack: (plan.jobs.len() > 1).then_some(PackRecord {
                    members: plan.jobs.len(),
                    position: k,
                }),
                init_from: job.init_from.as_ref().map(|(source, _)| source.clone()),
                kernel: self.net.kernel(),
                adam_layout: Optimizer::layout_for(
                    plan.execution.adam_layout,
                    self.net,
                    plan.device,
                ),
                checkpoints: Some(CheckpointRecord {
                    written: self.checkpoints.0,
                    seconds: self.checkpoints.1,
                    bytes,
                }),
            },
        )?;
        // Finished: the summary marks it; nothing is left to resume.
        if checkpoint.exists() {
            std::fs::remove_file(&checkpoint)
                .with_context(|| format!("cannot remove {}", checkpoint.display()))?;
        }
        Ok((summary, evaluation))
    }
}

/// "out: error" for each member of `plan` that failed, in order.
pub fn failures(plan: &CheckedPlan, results: &[Result<Summary>]) -> Vec<String> {
    plan.jobs
        .iter()
        .zip(results)
        .filter_map(|(j, r)| {
            r.as_ref()
                .err()
                .map(|e| format!("{}: {e:#}", j.job.out.display()))
        })
        .collect()
}

/// The files a job also writes: its initial weights, its data and orders.
fn export(job: &CheckedJob, member: &Member, weights: &Weights) -> Result<()> {
    if let Some(path) = &job.job.save_init {
        save_named(shallow(weights), path)?;
    }
    if let (Some(path), Some(data)) = (&job.job.save_data, &member.data) {
        save_named(
            vec![
                ("x".into(), data.x.shallow_clone()),
                ("y".into(), data.y.shallow_clone()),
                ("order".into(), Tensor::f_stack(&member.orders, 0)?),
            ],
            path,
        )
        .with_context(|| format!("--save-data {}", path.display()))?;
    }
    Ok(())
}

fn shallow(weights: &Weights) -> Weights {
    weights
        .iter()
        .map(|(n, t)| (n.clone(), t.shallow_clone()))
        .collect()
}

/// The first console line: the model and its data for a lone run, the
/// pack's members for several.
fn header(plan: &CheckedPlan) -> String {
    let resumed = match &plan.resume {
        Some(s) => format!(
            "resuming from its checkpoint: epoch {}/{}, batch {}\n",
            s.epoch + 1,
            plan.jobs[0].job.config.epochs,
            s.batch
        ),
        None => String::new(),
    };
    resumed + &first_line(plan)
}

fn first_line(plan: &CheckedPlan) -> String {
    let device = device::announce(plan.execution.device, plan.device);
    let c = &plan.jobs[0].job.config;
    if let [job] = plan.jobs.as_slice() {
        let sizes = c.split_sizes();
        return format!(
            "{} on {device}: {} parameters, {} train / {} val / {} test rows, seed {}\n",
            c.model,
            job.spec.trainable_count(),
            sizes.train,
            sizes.val,
            sizes.test,
            c.seed
        );
    }
    let seeds: Vec<String> = plan
        .jobs
        .iter()
        .map(|j| j.job.config.seed.to_string())
        .collect();
    format!(
        "pack of {} {} runs on {device}: seeds {}\n",
        plan.jobs.len(),
        c.model,
        seeds.join(",")
    )
}
