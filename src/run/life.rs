//! A checked plan's life: every member's data, weights and batch orders
//! built, then every folder locked (and only then cleared), training in the
//! one loop, the test evaluation, and each member's files. A lone run and a
//! pack of 1024 take the same path.

use std::{io::Write, time::Instant};

use anyhow::{Context, Result};
use tch::Tensor;

use super::check::{CheckedJob, CheckedPlan};
use super::memory::{self, guard};
use super::observer::RunObserver;
use super::outputs::{write_outputs, Finished};
use crate::nn::init::draw_weights;
use crate::nn::optim::Optimizer;
use crate::nn::tasks::{Dataset, Split};
use crate::nn::weights::{save_named, Weights};
use crate::nn::Network;
use crate::nn::{device, kernel};
use crate::store::console::Console;
use crate::store::text::final_report;
use crate::store::{EpochRecord, Evaluation, HistoryFile, PackRecord, RunDir, Summary, HISTORY};
use crate::train::batch::PackData;
use crate::train::eval::{baseline, evaluate, predict};
use crate::train::fit;
use crate::train::orders::batch_orders;

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
        match RunDir::lock(&job.job.out, plan.force) {
            Ok(dir) => dirs.push(dir),
            Err(e) => {
                dirs.into_iter().for_each(RunDir::abandon);
                return Err(e);
            }
        }
    }
    for dir in &dirs {
        dir.clear()?;
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
    let Built {
        members,
        data,
        weights,
        net,
        mut opt,
    } = build(plan)?;

    // Every input is checked and built: only now are the folders touched.
    let dirs = open_folders(plan)?;
    for ((job, member), weights) in plan.jobs.iter().zip(&members).zip(&weights) {
        export(job, member, weights)?;
    }
    drop(weights);
    let mut console = Console::new(console);
    if !plan.quiet {
        console.print(&header(plan));
    }
    let histories = dirs
        .iter()
        .map(|d| HistoryFile::create(&d.file(HISTORY)))
        .collect::<Result<Vec<_>>>()?;
    let mut observer = RunObserver::new(
        histories,
        &mut console,
        plan.quiet,
        config.epochs,
        config.batches_per_epoch(),
    );
    let orders: Vec<Vec<Tensor>> = members.into_iter().map(|m| m.orders).collect();
    let trained = guard(
        || memory::training_message(config, k),
        || {
            let ends = fit(&*net, &mut opt, &data, &orders, config, &mut observer)?;
            let readout = config.task.shape().readout;
            Ok((ends, predict(&*net, &data.test, readout)?))
        },
    );
    observer.finish();
    drop(observer);
    let (ends, test) = match trained {
        Ok(t) => t,
        Err(e) => {
            dirs.into_iter().for_each(RunDir::abandon_if_unstarted);
            return Err(e);
        }
    };
    let trained = Trained {
        net: &*net,
        data: &data,
        test: &test,
        started,
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

/// What a plan's members share once trained.
struct Trained<'a> {
    net: &'a dyn Network,
    data: &'a PackData,
    /// Every member's test answers, `[K, rows, ...]`.
    test: &'a Tensor,
    started: Instant,
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
            },
        )?;
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
