//! A checked plan's life: every member's data, weights and batch orders
//! built, then every folder locked (and only then cleared), training in the
//! one loop, the test evaluation, and each member's files. A lone run and a
//! pack of 1024 take the same path.

use std::{io::Write, time::Instant};

use anyhow::{Context, Result};
use tch::Tensor;

use super::check::{CheckedJob, CheckedPlan};
use super::observer::RunObserver;
use super::outputs::{write_outputs, Finished};
use crate::nn::data::{Dataset, Split};
use crate::nn::init::draw_weights;
use crate::nn::optim::Optimizer;
use crate::nn::weights::{save_named, Weights};
use crate::nn::{device, kernel};
use crate::store::console::Console;
use crate::store::text::final_report;
use crate::store::{HistoryFile, PackRecord, RunDir, Summary, HISTORY};
use crate::train::batch::PackData;
use crate::train::eval::{baseline_mse, predict, score};
use crate::train::fit;
use crate::train::orders::batch_orders;

/// One member's inputs, built without writing anything.
struct Member {
    split: Split,
    weights: Weights,
    orders: Vec<Tensor>,
    /// Kept only when the job exports it (`--save-data`).
    data: Option<Dataset>,
}

fn prepare(job: &CheckedJob) -> Result<Member> {
    let c = &job.job.config;
    let data = Dataset::for_config(c)?;
    let split = data.split(c, tch::Device::Cpu)?;
    let weights = match &job.init_from {
        Some((_, weights)) => weights
            .iter()
            .map(|(n, t)| (n.clone(), t.shallow_clone()))
            .collect(),
        None => draw_weights(&job.spec, c.seed),
    };
    Ok(Member {
        orders: batch_orders(c.seed, c.split_sizes().train, c.epochs),
        split,
        weights,
        data: job.job.save_data.is_some().then_some(data),
    })
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

/// Trains `plan` and writes each member's folder. Returns each member's
/// summary, or why it failed (the others are untouched by it); a lone run
/// prints the blog's report at the end. `console` gets the epoch lines and
/// goes quiet, never stopping the training, when it goes away.
pub fn execute(plan: &CheckedPlan, console: &mut dyn Write) -> Result<Vec<Result<Summary>>> {
    let started = Instant::now();
    tch::set_num_threads(plan.execution.threads as i32);
    let members = plan.jobs.iter().map(prepare).collect::<Result<Vec<_>>>()?;
    let splits: Vec<&Split> = members.iter().map(|m| &m.split).collect();
    let data = PackData::stack(&splits, plan.device)?;
    let specs: Vec<_> = plan.jobs.iter().map(|j| j.spec).collect();
    let weights = members.iter().map(|m| shallow(&m.weights)).collect();
    let net = kernel::build(&specs, weights, plan.device)?;
    let config = &plan.jobs[0].job.config;
    let mut opt = Optimizer::new(net.var_store(), config)?;

    // Every input is checked and built: only now are the folders touched.
    let dirs = open_folders(plan)?;
    for (job, member) in plan.jobs.iter().zip(&members) {
        export(job, member)?;
    }
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
    let ends = fit(&*net, &mut opt, &data, &orders, config, &mut observer)?;
    observer.finish();

    let test = predict(&*net, &data.test_x)?;
    let many = plan.jobs.len() > 1;
    let mut results = Vec::new();
    for (k, ((job, dir), end)) in plan.jobs.iter().zip(&dirs).zip(ends).enumerate() {
        let member = k as i64;
        let finish = |history: Vec<_>| -> Result<(Summary, _)> {
            let evaluation = score(&test.get(member), &data.test_y.get(member))?;
            let summary = write_outputs(
                dir,
                Finished {
                    config: &job.job.config,
                    device: plan.device,
                    threads: plan.execution.threads,
                    spec: &job.spec,
                    history: &history,
                    evaluation: &evaluation,
                    baseline_mse: baseline_mse(
                        &data.member_train_y(member),
                        &data.test_y.get(member),
                    ),
                    weights: net.member_weights(member),
                    started,
                    pack: many.then_some(PackRecord {
                        members: plan.jobs.len(),
                        position: k,
                    }),
                    init_from: job.init_from.as_ref().map(|(source, _)| source.clone()),
                },
            )?;
            Ok((summary, evaluation))
        };
        results.push(end.and_then(finish).map(|(summary, evaluation)| {
            if !many && !plan.quiet {
                console.print(&final_report(&evaluation));
            }
            summary
        }));
    }
    Ok(results)
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
fn export(job: &CheckedJob, member: &Member) -> Result<()> {
    if let Some(path) = &job.job.save_init {
        save_named(shallow(&member.weights), path)?;
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
