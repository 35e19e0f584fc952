#!/bin/sh
# Runs under the Python that scripts/setup.sh installed (.venv), or $PYTHON.
''''exec "${PYTHON:-$(dirname "$0")/../.venv/bin/python}" "$0" "$@" # '''
"""Loss curves and correctness over seeds, from any set of rnn-lab (or
reference, or Keras) runs.

Each PATH is a history.csv or a folder searched for them. One PNG per PATH:
a column per model; on top every seed's loss (solid) and val_loss (dashed)
per epoch, below the median over seeds with its interquartile band, both on
a log scale. With several PATHs also correctness-strip.png: every seed's
test correctness per model and PATH, its median, and the published runs;
and epochs-strip.png: the epoch in which each seed's val_loss first fell
below --threshold (the end of the plateau; "never" on top), per model
whose runs learned and PATH, with its median. --strips-only skips the
curves; --models rnn,lstm limits the strips to those models.

    scripts/plot.py --out results/blog-cpu results/blog-cpu/rnn-lab results/blog-cpu/reference

With --sweep DIR (after `rnn-lab aggregate DIR`): correctness against
sequence length, a panel per task, the median over seeds per model and init
with its interquartile band, written to DIR/correctness-vs-length.png.
"""
import argparse
import csv
import glob
import json
import os
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402,F401
import numpy as np  # noqa: E402

MODEL_ORDER = {"rnn": 0, "lstm": 1, "gru": 2}
MODEL_TITLE = {"rnn": "SimpleRNN (Elman)", "lstm": "LSTM", "gru": "GRU"}
PUBLISHED = {"rnn": [("textbook", 9.32)], "lstm": [("blog", 92.95), ("textbook", 94.77)],
             "gru": [("textbook", 98.86)]}


def read_history(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return ([int(r["epoch"]) + 1 for r in rows], [float(r["loss"]) for r in rows],
            [float(r["val_loss"]) for r in rows])


def run_info(history_path):
    """(model, seed, task, seq_len) from the summary.json beside a history."""
    summary = os.path.join(os.path.dirname(history_path), "summary.json")
    if os.path.exists(summary):
        c = json.load(open(summary))["config"]
        return c["model"], c["seed"], c.get("task", "multiply"), c.get("seq_len")
    parts = os.path.normpath(history_path).split(os.sep)
    return parts[-3] if len(parts) >= 3 else "run", parts[-2], None, None


def histories(path):
    if os.path.isfile(path):
        return [path]
    return sorted(glob.glob(os.path.join(path, "**", "history.csv"), recursive=True))


def median_band(curves):
    """Median and quartiles per epoch over the seeds that reached it."""
    length = max(len(c) for c in curves)
    epochs, med, q1, q3 = [], [], [], []
    for e in range(length):
        values = [c[e] for c in curves if len(c) > e and np.isfinite(c[e])]
        if values:
            a, m, b = np.percentile(values, [25, 50, 75])
            epochs.append(e + 1)
            med.append(m)
            q1.append(a)
            q3.append(b)
    return epochs, med, q1, q3


def plot_curves(path, out_dir):
    groups = defaultdict(list)
    for h in histories(path):
        model, seed, task, seq_len = run_info(h)
        groups[model].append((seed, h, task, seq_len))
    if not groups:
        raise SystemExit(f"plot: no history.csv under {path}")
    models = sorted(groups, key=lambda m: MODEL_ORDER.get(m, 9))
    fig, axes = plt.subplots(2, len(models), figsize=(5.2 * len(models), 8.0), squeeze=False, sharex="col")
    label = os.path.basename(os.path.normpath(path))
    for col, model in enumerate(models):
        ax, band = axes[0][col], axes[1][col]
        losses, vals = [], []
        for k, (seed, h, task, seq_len) in enumerate(sorted(groups[model], key=lambda g: str(g[0]))):
            epochs, loss, val = read_history(h)
            losses.append(loss)
            vals.append(val)
            color = f"C{k % 10}"
            ax.plot(epochs, loss, color=color, lw=1.0, label=f"seed {seed} loss")
            ax.plot(epochs, val, color=color, lw=1.0, ls="--", label=f"seed {seed} val_loss")
        for curves, name, style, color in ((losses, "loss", "-", "C0"), (vals, "val_loss", "--", "C3")):
            epochs, med, q1, q3 = median_band(curves)
            band.plot(epochs, med, style, color=color, lw=1.6, label=f"median {name}")
            band.fill_between(epochs, q1, q3, color=color, alpha=0.2, label=f"{name} interquartile band")
        n = len(groups[model])
        ax.set_title(f"{MODEL_TITLE.get(model, model)}, {n} seed(s)")
        band.set_title(f"{MODEL_TITLE.get(model, model)}: median over {n} seed(s), IQR band")
        band.set_xlabel("epoch")
        for a in (ax, band):
            a.set_yscale("log")
            a.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("MSE (log scale): loss solid, val_loss dashed")
    axes[1][0].set_ylabel("MSE (log scale), median and interquartile band")
    if sum(len(g) for g in groups.values()) <= 12:
        axes[0][-1].legend(fontsize=7, ncol=2, loc="upper right")
    axes[1][-1].legend(fontsize=8, loc="upper right")
    fig.suptitle(f"{label}: training and validation loss per epoch")
    fig.tight_layout()
    target = os.path.join(out_dir, f"{label}-curves.png")
    fig.savefig(target, dpi=110)
    plt.close(fig)
    print(f"plot: wrote {target}")


def epochs_to_learn(history_path, threshold):
    """The 1-based epoch whose val_loss first fell below threshold, or None."""
    epochs, _, val = read_history(history_path)
    return next((e for e, v in zip(epochs, val) if v < threshold), None)


def per_seed(path, threshold):
    """{model: [(correctness, epochs to learn or None, epochs run)]} from the runs under path."""
    out = defaultdict(list)
    for h in histories(path):
        summary = os.path.join(os.path.dirname(h), "summary.json")
        if os.path.exists(summary):
            s = json.load(open(summary))
            out[s["config"]["model"]].append(
                (float(s["correctness"]), epochs_to_learn(h, threshold), len(read_history(h)[0])))
    return out


def strip(sets, models, value, ylabel, title, target, ylim=None, published=True, never=None):
    """One panel per model, a column of dots per set (seeds), a bar at the median."""
    fig, axes = plt.subplots(1, len(models), figsize=(max(4.2, 1.2 * len(sets)) * len(models), 4.6),
                             squeeze=False, sharey=True)
    jitter = np.random.default_rng(0)
    for ax, model in zip(axes[0], models):
        for k, (label, by_model) in enumerate(sets):
            xs = [value(r) for r in by_model.get(model, [])]
            if not xs:
                continue
            ax.scatter(k + jitter.uniform(-0.12, 0.12, len(xs)), xs, s=16, color=f"C{k}", alpha=0.8)
            ax.hlines(np.median(xs), k - 0.3, k + 0.3, color="black", lw=2)
        if published:
            for j, (name, v) in enumerate(PUBLISHED.get(model, [])):
                ax.axhline(v, color="grey", ls=":" if j else "--", lw=1, label=f"{name} (1 Keras run)")
            if PUBLISHED.get(model):
                ax.legend(fontsize=7, loc="lower left")
        if never is not None:
            ax.axhline(never, color="grey", ls=":", lw=1)
            ax.text(-0.4, never, "never", fontsize=7, va="bottom", color="grey")
        ax.set_xticks(range(len(sets)))
        many = len(sets) > 4
        ax.set_xticklabels([f"{label}\n(n={len(c.get(model, []))})" for label, c in sets], fontsize=7,
                           rotation=30 if many else 0, ha="right" if many else "center")
        ax.set_title(MODEL_TITLE.get(model, model))
        if ylim:
            ax.set_ylim(*ylim)
        ax.grid(True, axis="y", alpha=0.3)
    axes[0][0].set_ylabel(ylabel)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(target, dpi=110)
    plt.close(fig)
    print(f"plot: wrote {target}")


def plot_strips(paths, out_dir, threshold, only=None):
    """correctness-strip.png for every model (or those in `only`);
    epochs-strip.png for the models whose runs learned."""
    sets = [(os.path.basename(os.path.normpath(p)), per_seed(p, threshold)) for p in paths]
    models = sorted({m for _, c in sets for m in c if not only or m in only}, key=lambda m: MODEL_ORDER.get(m, 9))
    if not models:
        raise SystemExit(f"plot: no runs of --models {','.join(only)} under {', '.join(paths)}")
    strip(sets, models, lambda r: r[0], "test correctness, % within 0.04 (dots: seeds, bar: median)",
          "Test correctness per seed", os.path.join(out_dir, "correctness-strip.png"), ylim=(0, 100))
    learned = [m for m in models if any(r[1] for _, c in sets for r in c.get(m, []))]
    if learned:
        last = max(r[2] for _, c in sets for m in learned for r in c.get(m, []))
        strip(sets, learned, lambda r: r[1] if r[1] else last + 1,
              f"first epoch with val_loss < {threshold} (dots: seeds, bar: median)",
              "End of the plateau per seed", os.path.join(out_dir, "epochs-strip.png"),
              ylim=(0, last + 4), published=False, never=last + 1)


def plot_sweep(sweep_dir):
    path = os.path.join(sweep_dir, "aggregate.csv")
    if not os.path.exists(path):
        raise SystemExit(f"plot: {path} missing; run `rnn-lab aggregate {sweep_dir}` first")
    rows = [r for r in csv.DictReader(open(path)) if r["correctness_median"] not in ("", "NaN")]
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    fig, axes = plt.subplots(1, len(tasks), figsize=(6.0 * len(tasks), 4.4), squeeze=False, sharey=True)
    for ax, task in zip(axes[0], tasks):
        lines = defaultdict(list)
        for r in rows:
            if r["task"] == task:
                lines[(r["model"], r["init"])].append(r)
        for k, ((model, init), pts) in enumerate(sorted(lines.items(), key=lambda kv: MODEL_ORDER.get(kv[0][0], 9))):
            pts.sort(key=lambda r: int(r["seq_len"]))
            x = [int(r["seq_len"]) for r in pts]
            median = [float(r["correctness_median"]) for r in pts]
            lo = [float(r["correctness_q1"]) for r in pts]
            hi = [float(r["correctness_q3"]) for r in pts]
            seeds = max(int(r["runs"]) for r in pts)
            color = f"C{MODEL_ORDER.get(model, k)}"
            style = "-" if init == "keras" else ":"
            ax.plot(x, median, style, marker="o", color=color,
                    label=f"{MODEL_TITLE.get(model, model)}, {init} init (median of {seeds} seeds)")
            ax.fill_between(x, lo, hi, color=color, alpha=0.15)
        ax.set_xscale("log")
        ax.set_xticks(sorted({int(r["seq_len"]) for r in rows}))
        ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.get_xaxis().set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_ylim(0, 100)
        ax.set_xlabel("sequence length (time steps between input and answer, at most)")
        ax.set_title(f"{task} problem")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="lower left")
    axes[0][0].set_ylabel("test correctness, % within 0.04 (band: interquartile range over seeds)")
    fig.suptitle("Long-term dependencies: correctness against sequence length")
    fig.tight_layout()
    target = os.path.join(sweep_dir, "correctness-vs-length.png")
    fig.savefig(target, dpi=110)
    plt.close(fig)
    print(f"plot: wrote {target}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="*", help="history.csv files or folders of runs")
    p.add_argument("--out", default=".", help="folder for the PNG files")
    p.add_argument("--sweep", help="a sweep folder with aggregate.csv")
    p.add_argument("--threshold", type=float, default=0.01, help="val_loss that counts as learned")
    p.add_argument("--strips-only", action="store_true", help="only the strip plots, no curves per PATH")
    p.add_argument("--models", help="strip plots of these models only, e.g. rnn,lstm")
    args = p.parse_args()
    if not args.paths and not args.sweep:
        p.error("give history paths, --sweep DIR, or both")
    os.makedirs(args.out, exist_ok=True)
    if args.strips_only and len(args.paths) < 2:
        p.error("--strips-only needs two PATHs or more")
    for path in args.paths if not args.strips_only else []:
        plot_curves(path, args.out)
    if len(args.paths) > 1:
        plot_strips(args.paths, args.out, args.threshold, args.models.split(",") if args.models else None)
    if args.sweep:
        plot_sweep(args.sweep)


if __name__ == "__main__":
    main()
