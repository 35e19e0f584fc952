#!/bin/sh
# Runs under $PYTHON, else the Python scripts/setup.sh installed (.venv), else python3 (enough for --help).
'''':; py="${PYTHON:-$(dirname "$0")/../.venv/bin/python}"; [ -x "$py" ] || py=python3; exec "$py" "$0" "$@" # '''
__doc__ = """Loss curves, correctness over seeds, and correctness against length,
from any study or set of runs (rnn-lab's, the PyTorch reference's, Keras's).

    scripts/plot.py runs/sweep                       # next to the study
    scripts/plot.py --out results/blog-cpu results/blog-cpu/rnn-lab results/blog-cpu/reference

Each ROOT is a study (a sweep, a reproduction) or a folder of sets of runs;
sets and cells are found as scripts/runs.py says (every setting that varies
makes cells). Written into --out, by default the ROOT itself (several ROOTs:
the folder they share; a read-only study needs a writable --out):

  <set>-curves.png  per set: each cell's every seed, loss (solid) and
                    val_loss (dashed) per epoch, and the median over seeds
                    with its interquartile band, on a log scale; a column
                    per model, a row per value of the other axes (a panel
                    per length in a sweep over lengths);
  correctness-vs-length.png   when lengths vary: a panel per task (and
                    set), the median over seeds per cell with its
                    interquartile band;
  correctness-strip.png, epochs-strip.png   with several sets: every seed's
                    correctness per cell and set with its median and the
                    published runs; and the epoch each seed's val_loss first
                    fell below --threshold (the end of the plateau; "never"
                    on top), for the cells whose runs learned.

--strips-only skips the curves; --models rnn,lstm limits every figure to
those models.
"""
import argparse
import os
import sys
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import fail, guard, need, writable_folder  # noqa: E402
from runs import cell_key, cell_label, load_runs, varying_axes  # noqa: E402

MODEL_ORDER = {"rnn": 0, "irnn": 1, "lstm": 2, "gru": 3}
MODEL_TITLE = {"rnn": "SimpleRNN (Elman)", "irnn": "IRNN", "lstm": "LSTM", "gru": "GRU"}
np = plt = matplotlib = None  # imported in main(), after --help


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


def layout(runs, axes):
    """(models, rows): the models in order, and the values of the other
    axes (one row each) of these runs' cells."""
    i = axes.index("model")
    keys = sorted({cell_key(r, axes) for r in runs}, key=lambda k: [str(v) for v in k])
    models = sorted({k[i] for k in keys}, key=lambda m: MODEL_ORDER.get(m, 9))
    rows = list(dict.fromkeys(k[:i] + k[i + 1:] for k in keys))
    rows.sort(key=lambda k: [v if isinstance(v, (int, float)) else str(v) for v in k])
    return models, rows


def seed_curves(ax, runs, few):
    for k, r in enumerate(sorted(runs, key=lambda r: r.seed)):
        epochs = [e for e, _, _ in r.history]
        color = f"C{k % 10}"
        alpha = 1.0 if few else 0.35
        ax.plot(epochs, [x for _, x, _ in r.history], color=color, lw=1.0, alpha=alpha,
                label=f"seed {r.seed} loss")
        ax.plot(epochs, [v for _, _, v in r.history], color=color, lw=1.0, ls="--", alpha=alpha,
                label=f"seed {r.seed} val_loss")


def band_curves(ax, runs):
    for idx, name, style, color in ((1, "loss", "-", "C0"), (2, "val_loss", "--", "C3")):
        epochs, med, q1, q3 = median_band([[h[idx] for h in r.history] for r in runs])
        ax.plot(epochs, med, style, color=color, lw=1.8, label=f"median {name}")
        ax.fill_between(epochs, q1, q3, color=color, alpha=0.2, label=f"{name} interquartile band")


def plot_curves(label, runs, axes, out_dir):
    """<set>-curves.png: with one row of cells, every seed above and the
    median band below; with several, both in one panel per cell."""
    models, rows = layout(runs, axes)
    i = axes.index("model")
    rest = axes[:i] + axes[i + 1:]
    split = len(rows) == 1
    height = 2 if split else len(rows)
    fig, grid = plt.subplots(height, len(models), figsize=(5.2 * len(models), 4.0 * height),
                             squeeze=False, sharex="col")
    for col, model in enumerate(models):
        for row, other in enumerate(rows):
            key = other[:i] + (model,) + other[i:]
            cell = [r for r in runs if cell_key(r, axes) == key]
            ax = grid[0 if split else row][col]
            name = MODEL_TITLE.get(model, model)
            where = f" - {cell_label(other, rest)}" if rest else ""
            if not cell:
                ax.set_visible(False)
                continue
            seed_curves(ax, cell, few=len(cell) <= 12)
            ax.set_title(f"{name}{where}, {len(cell)} seed(s)", fontsize=9)
            band = grid[1][col] if split else ax
            band_curves(band, cell)
            if split:
                band.set_title(f"{name}{where}: median over {len(cell)} seed(s), IQR band", fontsize=9)
            for a in {ax, band}:
                a.set_yscale("log")
                a.grid(True, which="both", alpha=0.3)
    for a in grid[-1]:
        a.set_xlabel("epoch")
    grid[0][0].set_ylabel("MSE (log scale): loss solid, val_loss dashed")
    if split:
        grid[1][0].set_ylabel("MSE (log scale), median and interquartile band")
        if len(runs) <= 12:
            grid[0][-1].legend(fontsize=7, ncol=2, loc="upper right")
    grid[-1][-1].legend(fontsize=8, loc="upper right")
    fig.suptitle(f"{label}: training and validation loss per epoch")
    fig.tight_layout()
    save(fig, os.path.join(out_dir, f"{label.replace(os.sep, '-')}-curves.png"))


def save(fig, target):
    """Writes the figure whole or not at all: a full disk fails in one line."""
    tmp = f"{target}.partial-{os.getpid()}"
    try:
        fig.savefig(tmp, dpi=110, format="png")
        os.replace(tmp, target)
    except OSError as e:
        fail(f"cannot write {target}: {e.strerror or e}; give --out a writable folder")
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.remove(tmp)
    print(f"plot: wrote {target}")


def plot_vs_length(by_set, axes, out_dir):
    """correctness-vs-length.png: a panel per task and set (three to a row), a line per cell."""
    others = [a for a in axes if a not in ("task", "seq_len")]
    panels = []
    for label, runs in by_set.items():
        for task in dict.fromkeys(r.config["task"] for r in runs):
            panels.append((label, task, [r for r in runs if r.config["task"] == task]))
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig, grid = plt.subplots(rows, cols, figsize=(6.0 * cols, 4.6 * rows), squeeze=False, sharey=True)
    for ax in grid.flat[len(panels):]:
        ax.set_visible(False)
    lengths = sorted({r.config["seq_len"] for _, _, rs in panels for r in rs})
    for ax, (label, task, runs) in zip(grid.flat, panels):
        lines = defaultdict(lambda: defaultdict(list))
        for r in runs:
            lines[tuple(r.config.get(a) for a in others)][r.config["seq_len"]].append(r.correctness)
        ordered = sorted(lines, key=lambda k: (MODEL_ORDER.get(k[others.index("model")], 9), [str(v) for v in k]))
        for k, key in enumerate(ordered):
            points = sorted(lines[key].items())
            x = [length for length, _ in points]
            q1, med, q3 = np.array([np.percentile(v, [25, 50, 75]) for _, v in points]).T
            seeds = max(len(v) for _, v in points)
            model = key[others.index("model")]
            color = f"C{MODEL_ORDER.get(model, 4 + k) if len(others) == 1 else k}"
            ax.plot(x, med, marker="o", color=color,
                    label=f"{cell_label(key, others)} (median of {seeds} seeds)")
            ax.fill_between(x, q1, q3, color=color, alpha=0.15)
        ax.set_xscale("log")
        ax.set_xticks(lengths)
        ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.get_xaxis().set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_ylim(0, 100)
        ax.set_xlabel("sequence length")
        ax.set_title(f"{task}" + (f" ({label})" if len(by_set) > 1 else ""))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    for row in grid:
        row[0].set_ylabel("test score, % (band: interquartile range over seeds)")
    fig.suptitle("Long-term dependencies: correctness against sequence length")
    fig.tight_layout()
    save(fig, os.path.join(out_dir, "correctness-vs-length.png"))


def strip(by_set, keys, axes, value, ylabel, title, target, ylim=None, published=True, never=None):
    """One panel per cell, a column of dots per set (seeds), a bar at the median."""
    sets = list(by_set)
    fig, grid = plt.subplots(1, len(keys), figsize=(max(4.2, 1.2 * len(sets)) * len(keys), 4.6),
                             squeeze=False, sharey=True)
    jitter = np.random.default_rng(0)
    for ax, key in zip(grid[0], keys):
        cells = {s: [r for r in by_set[s] if cell_key(r, axes) == key] for s in sets}
        for k, s in enumerate(sets):
            xs = [value(r) for r in cells[s]]
            if not xs:
                continue
            ax.scatter(k + jitter.uniform(-0.12, 0.12, len(xs)), xs, s=16, color=f"C{k}", alpha=0.8)
            ax.hlines(np.median(xs), k - 0.3, k + 0.3, color="black", lw=2)
        pub = next((r.published() for s in sets for r in cells[s]), {}) if published else {}
        for j, (name, v) in enumerate((n, v) for n, v in pub.items() if v is not None):
            ax.axhline(v, color="grey", ls=":" if j else "--", lw=1, label=f"{name} (1 Keras run)")
        if any(v is not None for v in pub.values()):
            ax.legend(fontsize=7, loc="best")
        if never is not None:
            ax.axhline(never, color="grey", ls=":", lw=1)
            ax.text(-0.4, never, "never", fontsize=7, va="bottom", color="grey")
        ax.set_xticks(range(len(sets)))
        many = len(sets) > 4
        ax.set_xticklabels([f"{s}\n(n={len(cells[s])})" for s in sets], fontsize=7,
                           rotation=30 if many else 0, ha="right" if many else "center")
        ax.set_title(cell_label(key, axes))
        if ylim:
            ax.set_ylim(*ylim)
        ax.grid(True, axis="y", alpha=0.3)
    grid[0][0].set_ylabel(ylabel)
    fig.suptitle(title)
    fig.tight_layout()
    save(fig, target)


def plot_strips(by_set, axes, out_dir, threshold):
    runs = [r for rs in by_set.values() for r in rs]
    keys = sorted({cell_key(r, axes) for r in runs},
                  key=lambda k: (MODEL_ORDER.get(k[axes.index("model")], 9), [str(v) for v in k]))
    strip(by_set, keys, axes, lambda r: r.correctness, "test correctness, % (dots: seeds, bar: median)",
          "Test correctness per seed", os.path.join(out_dir, "correctness-strip.png"), ylim=(0, 100))
    learned = [k for k in keys if any(r.epochs_to_learn for r in runs if cell_key(r, axes) == k)]
    if learned:
        last = max(len(r.history) for r in runs if cell_key(r, axes) in learned)
        strip(by_set, learned, axes, lambda r: r.epochs_to_learn if r.epochs_to_learn else last + 1,
              f"first epoch with val_loss < {threshold} (dots: seeds, bar: median)",
              "End of the plateau per seed", os.path.join(out_dir, "epochs-strip.png"),
              ylim=(0, last + 4), published=False, never=last + 1)


def main():
    global np, plt, matplotlib
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("roots", nargs="*", help="studies, or folders of sets of runs")
    p.add_argument("--sweep", action="append", default=[], help="a study folder (the same as a ROOT)")
    p.add_argument("--out", help="folder for the PNG files [default: the ROOT, or the folder the ROOTs share]")
    p.add_argument("--threshold", type=float, default=0.01, help="val_loss that counts as learned")
    p.add_argument("--strips-only", action="store_true", help="only the strip plots, no curves")
    p.add_argument("--models", help="these models only, e.g. rnn,lstm")
    args = p.parse_args()
    roots = args.roots + args.sweep
    if not roots:
        p.error("give a study or a folder of runs")
    if args.strips_only and len(roots) < 2:
        p.error("--strips-only needs two ROOTs or more")
    np = need("numpy")
    matplotlib = need("matplotlib")
    matplotlib.use("Agg")
    plt = need("matplotlib.pyplot")
    need("matplotlib.ticker")
    runs = load_runs(roots, args.threshold)
    if args.models:
        runs = [r for r in runs if r.config["model"] in args.models.split(",")]
        if not runs:
            fail(f"no runs of --models {args.models} under {', '.join(roots)}")
    out = args.out or (roots[0] if len(roots) == 1 else os.path.commonpath([os.path.abspath(r) for r in roots]))
    writable_folder(out)
    axes = varying_axes(runs)
    by_set = defaultdict(list)
    for r in runs:
        by_set[r.set].append(r)
    for label, set_runs in ([] if args.strips_only else by_set.items()):
        plot_curves(label, set_runs, axes, out)
    if "seq_len" in axes and not args.strips_only:
        plot_vs_length(by_set, axes, out)
    if len(by_set) > 1:
        plot_strips(by_set, axes, out, args.threshold)


if __name__ == "__main__":
    guard(main)
