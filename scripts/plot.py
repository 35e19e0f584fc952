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

Every figure says in its title the task, length, budget (epochs x
training sequences) and seeds its panels share; its panels share one y
scale and the figure one legend. Reference lines: the criterion
(--threshold) and what learning nothing scores (predicting the mean,
or chance's cross-entropy) on the curves; chance (from `rnn-lab info
--json`) on correctness for classification tasks.

--strips-only skips the curves; --models rnn,lstm limits every figure to
those models; --describe also writes <figure>.json beside each PNG (what
it draws, for tests).

    scripts/plot.py --inspect runs/lstm/inspect.csv runs/rnn/inspect.csv --out inside.png

draws instead what `rnn-lab inspect` wrote: for test row --row (0), a
column per CSV, a heatmap per layer of its state h (and the LSTM's cell
state c), units against steps, with the marked steps dashed.
"""
import argparse
import json
import math
import os
import sys
import textwrap
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import fail, guard, need, task_info, write_atomic, writable_folder  # noqa: E402
from runs import cell_key, load_runs, model_rank, varying_axes, within_sets  # noqa: E402

MODEL_TITLE = {"rnn": "SimpleRNN (Elman)", "irnn": "IRNN", "lstm": "LSTM", "gru": "GRU"}
MODEL_MARKER = {"rnn": "o", "irnn": "s", "lstm": "^", "gru": "D"}
# Artists plot.py --describe reports: reference lines and data lines.
REFERENCE, DATA = "reference", "data"
BASELINE_LABEL = {"mse": "predicting the mean (test MSE)", "cross-entropy": "chance (test cross-entropy)"}
np = plt = matplotlib = None  # imported in main(), after --help
DESCRIBE = False  # --describe


def chance_percent(task):
    """What guessing scores, in percent, as `rnn-lab info --json` lists it
    (copy: one symbol in 8; order: one class in 4); None for a value's score."""
    return task_info(task)["chance"]


def cell_words(key, axes):
    """"lstm" or "lstm, length 50": the model and task bare, others named."""
    parts = []
    for a, v in zip(axes, key):
        if a in ("model", "task", "init"):
            parts.append(MODEL_TITLE.get(v, str(v)) if a == "model" else str(v))
        else:
            parts.append(f"length {v}" if a == "seq_len" else f"{a} {v}")
    return ", ".join(parts)


def train_rows(run):
    """Training sequences per epoch: the run's split, else its settings' (rnn-lab's rule)."""
    if run.train_rows is not None:
        return run.train_rows
    return math.floor(run.config["fit_rows"] * (1.0 - run.config["val_split"]))


def what_ran(runs, axes):
    """"multiply, length 100, 100 epochs x 2048 training sequences, 20 seeds":
    the settings these runs share (what varies is in the panels) and the
    seeds per cell."""
    parts = []
    tasks = {r.config["task"] for r in runs}
    lengths = {r.config["seq_len"] for r in runs}
    if len(tasks) == 1:
        parts.append(tasks.pop())
    if len(lengths) == 1:
        parts.append(f"length {lengths.pop()}")
    epochs = {len(r.history) for r in runs}  # as run: a hand-made folder may not say
    rows = {train_rows(r) for r in runs}
    if len(epochs) == 1 and len(rows) == 1:
        parts.append(f"{epochs.pop()} epochs x {rows.pop()} training sequences")
    cells = defaultdict(int)
    for r in runs:
        cells[(r.set, cell_key(r, axes))] += 1
    low, high = min(cells.values()), max(cells.values())
    parts.append(f"{low} seeds" if low == high else f"{low}-{high} seeds per cell")
    return ", ".join(parts)


def title(fig, head, settings):
    """The figure's title, wrapped to its width so a narrow figure keeps it all."""
    chars = int(fig.get_figwidth() * fig.dpi / 9)
    fig.suptitle(textwrap.fill(f"{head} ({settings})", chars), fontsize=11)


def reference(ax, y, label, color, ls):
    ax.axhline(y, color=color, ls=ls, lw=1.1, gid=REFERENCE, label=label, zorder=1.5)


def figure_legend(fig, handles=(), ncol=4):
    """One legend under the panels: the handles given, then every labelled
    reference line once."""
    seen = {h.get_label() for h in handles}
    handles = list(handles)
    for ax in fig.axes:
        for line in ax.get_lines():
            if line.get_gid() in (REFERENCE, DATA) and line.get_label() not in seen:
                seen.add(line.get_label())
                handles.append(line)
    fig.legend(handles=handles, loc="outside lower center", ncol=min(ncol, len(handles)), fontsize=8)


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
    models = sorted({k[i] for k in keys}, key=model_rank)
    rows = list(dict.fromkeys(k[:i] + k[i + 1:] for k in keys))
    rows.sort(key=lambda k: [v if isinstance(v, (int, float)) else str(v) for v in k])
    return models, rows


def seed_curves(ax, runs, few):
    for k, r in enumerate(sorted(runs, key=lambda r: r.seed)):
        epochs = [e for e, _, _ in r.history]
        color = f"C{k % 10}"
        alpha = 1.0 if few else 0.35
        ax.plot(epochs, [x for _, x, _ in r.history], color=color, lw=1.0, alpha=alpha)
        ax.plot(epochs, [v for _, _, v in r.history], color=color, lw=1.0, ls="--", alpha=alpha)


def band_curves(ax, runs):
    for idx, style, color in ((1, "-", "C0"), (2, "--", "C3")):
        epochs, med, q1, q3 = median_band([[h[idx] for h in r.history] for r in runs])
        ax.plot(epochs, med, style, color=color, lw=1.8)
        ax.fill_between(epochs, q1, q3, color=color, alpha=0.2)


def loss_references(ax, runs, threshold):
    """The criterion of having learned, and what learning nothing scores."""
    reference(ax, threshold, f"criterion: val_loss {threshold:g} (learned)", "black", ":")
    known = [r.baseline for r in runs if r.baseline is not None]
    for kind in dict.fromkeys(k for _, k in known):
        y = float(np.median([v for v, k in known if k == kind]))
        reference(ax, y, BASELINE_LABEL[kind], "dimgrey", "-.")


def curves_legend(fig, split, few):
    Line2D, Patch = matplotlib.lines.Line2D, matplotlib.patches.Patch
    handles = []
    if few or split:
        handles += [Line2D([], [], color="grey", lw=1, label="a seed's loss (a colour per seed)"),
                    Line2D([], [], color="grey", lw=1, ls="--", label="a seed's val_loss")]
    handles += [Line2D([], [], color="C0", lw=1.8, label="median loss"),
                Line2D([], [], color="C3", lw=1.8, ls="--", label="median val_loss"),
                Patch(color="C0", alpha=0.2, label="loss: interquartile band over seeds"),
                Patch(color="C3", alpha=0.2, label="val_loss: interquartile band")]
    figure_legend(fig, handles)


def plot_curves(label, runs, axes, out_dir, threshold, several_sets):
    """<set>-curves.png: with one row of cells, every seed above and the
    median band below; with several, both in one panel per cell. Every
    panel on one y scale, with the criterion and the baseline."""
    models, rows = layout(runs, axes)
    i = axes.index("model")
    rest = axes[:i] + axes[i + 1:]
    split = len(rows) == 1
    height = 2 if split else len(rows)
    fig, grid = plt.subplots(height, len(models), figsize=(4.6 * len(models), 3.4 * height + 0.9),
                             squeeze=False, sharex=True, sharey=True, layout="constrained")
    for col, model in enumerate(models):
        for row, other in enumerate(rows):
            key = other[:i] + (model,) + other[i:]
            cell = [r for r in runs if cell_key(r, axes) == key]
            ax = grid[0 if split else row][col]
            name = MODEL_TITLE.get(model, model)
            where = f", {cell_words(other, rest)}" if rest else ""
            if not cell:
                ax.set_visible(False)
                continue
            seed_curves(ax, cell, few=len(cell) <= 12)
            ax.set_title(f"{name}{where}: {len(cell)} seeds", fontsize=9)
            band = grid[1][col] if split else ax
            band_curves(band, cell)
            if split:
                band.set_title(f"{name}{where}: median over {len(cell)} seeds", fontsize=9)
            for a in dict.fromkeys([ax, band]):
                loss_references(a, cell, threshold)
                a.set_yscale("log")
                a.grid(True, which="both", alpha=0.3)
    for a in grid[-1]:
        a.set_xlabel("epoch")
    mse = all(r.baseline is None or r.baseline[1] == "mse" for r in runs)
    loss = "MSE" if mse else "loss (MSE or cross-entropy)"
    for row in grid:
        row[0].set_ylabel(f"{loss}, log scale")
    curves_legend(fig, split, len(runs) <= 12)
    prefix = f"{label}: " if several_sets else ""
    title(fig, f"{prefix}loss and val_loss per epoch", what_ran(runs, axes))
    save(fig, os.path.join(out_dir, f"{label.replace(os.sep, '-')}-curves.png"))


def describe(fig, target):
    """<figure>.json beside the PNG: what the figure draws, read from its
    artists (title, shared y, legends, reference and data lines, texts and
    whether each stays inside its panel), for tests and for reading."""
    renderer = fig.canvas.get_renderer()
    shown = [ax for ax in fig.axes if ax.get_visible()]
    panels = []
    for ax in shown:
        box = ax.get_window_extent(renderer)
        texts = []
        for t in ax.texts:
            if t.get_visible() and t.get_text():
                e = t.get_window_extent(renderer)
                inside = e.x0 >= box.x0 - 1 and e.x1 <= box.x1 + 1 and e.y0 >= box.y0 - 1 and e.y1 <= box.y1 + 1
                texts.append({"text": t.get_text(), "inside": bool(inside)})
        panels.append({
            "title": ax.get_title(),
            "ylim": [float(v) for v in ax.get_ylim()],
            "legend": ax.get_legend() is not None,
            "references": [{"label": line.get_label(), "y": float(line.get_ydata()[0])}
                           for line in ax.get_lines() if line.get_gid() == REFERENCE],
            "lines": [{"label": line.get_label(), "marker": str(line.get_marker()),
                       "x": [float(v) for v in line.get_xdata()], "y": [float(v) for v in line.get_ydata()]}
                      for line in ax.get_lines() if line.get_gid() == DATA],
            "texts": texts,
        })
    heading = " ".join(fig._suptitle.get_text().split()) if fig._suptitle else ""  # unwrapped
    sharey = all(shown[0].get_shared_y_axes().joined(shown[0], ax) for ax in shown[1:])
    text = json.dumps({"figure": os.path.basename(target), "title": heading, "sharey": sharey,
                       "figure_legends": len(fig.legends),
                       "axes_legends": sum(p["legend"] for p in panels), "axes": panels}, indent=1)
    write_atomic(target[:-len(".png")] + ".json", text + "\n")


def save(fig, target):
    """Writes the figure whole or not at all: a full disk fails in one line."""
    tmp = f"{target}.partial-{os.getpid()}"
    try:
        fig.savefig(tmp, dpi=100, format="png")
        os.replace(tmp, target)
        if DESCRIBE:
            describe(fig, target)
    except OSError as e:
        fail(f"cannot write {target}: {e.strerror or e}; give --out a writable folder")
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.remove(tmp)
    print(f"plot: wrote {target}")


def plot_vs_length(by_set, axes, out_dir):
    """correctness-vs-length.png: a panel per task and set (three to a
    row), a line per cell (its own marker, set a little apart in length so
    lines at 100 % stay visible), chance where the task has one."""
    others = [a for a in axes if a not in ("task", "seq_len")]
    panels = []
    for label, runs in by_set.items():
        for task in dict.fromkeys(r.config["task"] for r in runs):
            panels.append((label, task, [r for r in runs if r.config["task"] == task]))
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig, grid = plt.subplots(rows, cols, figsize=(max(6.4, 5.2 * cols), 3.9 * rows + 0.9), squeeze=False,
                             sharey=True, layout="constrained")
    for ax in grid.flat[len(panels):]:
        ax.set_visible(False)
    everything = [r for _, _, rs in panels for r in rs]
    lengths = sorted({r.config["seq_len"] for r in everything})
    m = others.index("model")
    keys = sorted({tuple(r.config.get(a) for a in others) for r in everything},
                  key=lambda k: (model_rank(k[m]), [str(v) for v in k]))
    for ax, (label, task, runs) in zip(grid.flat, panels):
        lines = defaultdict(lambda: defaultdict(list))
        for r in runs:
            lines[tuple(r.config.get(a) for a in others)][r.config["seq_len"]].append(r.correctness)
        for key in sorted(lines, key=keys.index):
            k = keys.index(key)
            points = sorted(lines[key].items())
            # A few percent apart on the log axis, centred on the length.
            shift = 1.035 ** (k - (len(keys) - 1) / 2)
            x = [length * shift for length, _ in points]
            q1, med, q3 = np.array([np.percentile(v, [25, 50, 75]) for _, v in points]).T
            model = key[m]
            color = f"C{model_rank(model, 4 + k) if len(others) == 1 else k % 10}"
            marker = MODEL_MARKER.get(model, "v") if len(others) == 1 else "os^Dv<>ph*"[k % 10]
            ax.plot(x, med, marker=marker, ms=6, mfc="none", mew=1.4, color=color, alpha=0.9,
                    gid=DATA, label=cell_words(key, others))
            ax.fill_between(x, q1, q3, color=color, alpha=0.12)
        chance = chance_percent(task)
        if chance is not None:
            reference(ax, chance, f"chance {chance:g} %", "grey", "--")
        ax.set_xscale("log")
        ax.set_xticks(lengths)
        ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.get_xaxis().set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlim(lengths[0] / 1.2, lengths[-1] * 1.2)
        ax.set_ylim(-3, 104)
        ax.set_xlabel("sequence length")
        ax.set_title(f"{task}" + (f" ({label})" if len(by_set) > 1 else ""))
        ax.grid(True, alpha=0.3)
    for row in grid:
        row[0].set_ylabel("test score, % (median; band: interquartile range)")
    figure_legend(fig, ncol=6)
    title(fig, "Correctness against sequence length", what_ran(everything, axes))
    save(fig, os.path.join(out_dir, "correctness-vs-length.png"))


def strip(by_set, keys, axes, value, ylabel, heading, target, ylim=None, published=True, never=None,
          chance=False):
    """One panel per cell, a column of dots per set (seeds), a bar at the median."""
    sets = list(by_set)
    runs = [r for rs in by_set.values() for r in rs if cell_key(r, axes) in keys]
    fig, grid = plt.subplots(1, len(keys), figsize=(max(4.2, 1.2 * len(sets)) * len(keys), 5.0),
                             squeeze=False, sharey=True, layout="constrained")
    jitter = np.random.default_rng(0)
    for ax, key in zip(grid[0], keys):
        cells = {s: [r for r in by_set[s] if cell_key(r, axes) == key] for s in sets}
        for k, s in enumerate(sets):
            xs = [value(r) for r in cells[s]]
            if not xs:
                continue
            ax.scatter(k + jitter.uniform(-0.12, 0.12, len(xs)), xs, s=16, color=f"C{k % 10}", alpha=0.8)
            ax.hlines(np.median(xs), k - 0.3, k + 0.3, color="black", lw=2)
        pub = next((r.published() for s in sets for r in cells[s]), {}) if published else {}
        for name, v in pub.items():
            if v is not None:
                reference(ax, v, f"{name}'s published run (1 Keras run)", "grey", "--" if name == "blog" else ":")
        if chance:
            task = next(r.config["task"] for s in sets for r in cells[s])
            c = chance_percent(task)
            if c is not None:
                reference(ax, c, f"chance {c:g} %", "darkred", "-.")
        if never is not None:
            reference(ax, never, f"never: val_loss stayed >= the criterion (plotted at {never})", "grey", ":")
            # Inside the panel whatever its width: at its left edge, clipped to it.
            ax.text(0.01, never, "never", transform=matplotlib.transforms.blended_transform_factory(
                ax.transAxes, ax.transData), fontsize=7, va="bottom", ha="left", color="grey", clip_on=True)
        ax.set_xticks(range(len(sets)))
        many = len(sets) > 4
        ax.set_xticklabels([f"{s}\n(n={len(cells[s])})" for s in sets], fontsize=7,
                           rotation=30 if many else 0, ha="right" if many else "center")
        ax.set_title(cell_words(key, axes))
        if ylim:
            ax.set_ylim(*ylim)
        ax.grid(True, axis="y", alpha=0.3)
    grid[0][0].set_ylabel(ylabel)
    Line2D = matplotlib.lines.Line2D
    figure_legend(fig, [Line2D([], [], ls="none", marker="o", color="grey", label="a seed (a colour per set)"),
                        Line2D([], [], color="black", lw=2, label="median over seeds")])
    title(fig, heading, what_ran(runs, axes))
    save(fig, target)


def plot_strips(by_set, axes, out_dir, threshold):
    runs = [r for rs in by_set.values() for r in rs]
    axes = within_sets(by_set, axes)
    keys = sorted({cell_key(r, axes) for r in runs},
                  key=lambda k: (model_rank(k[axes.index("model")]), [str(v) for v in k]))
    strip(by_set, keys, axes, lambda r: r.correctness, "test correctness, %",
          "Test correctness per seed", os.path.join(out_dir, "correctness-strip.png"), ylim=(-3, 104),
          chance=True)
    learned = [k for k in keys if any(r.epochs_to_learn for r in runs if cell_key(r, axes) == k)]
    if learned:
        last = max(len(r.history) for r in runs if cell_key(r, axes) in learned)
        strip(by_set, learned, axes, lambda r: r.epochs_to_learn if r.epochs_to_learn else last + 1,
              f"first epoch with val_loss < {threshold:g}",
              "End of the plateau per seed", os.path.join(out_dir, "epochs-strip.png"),
              ylim=(0, last * 1.08 + 2), published=False, never=last + 1)


def plot_inspect(paths, out, row):
    """--inspect: each CSV of `rnn-lab inspect` (one per run) as a column of
    heatmaps, one per layer and quantity drawn (the layer's state h, and
    the LSTM's cell state c), units against steps for test row `row`, the
    marked steps as dashed lines, the target and the model's answer in the
    title."""
    pd = need("pandas")
    columns = []
    for path in paths:
        try:
            frame = pd.read_csv(path)
        except (OSError, ValueError) as e:
            fail(f"cannot read --inspect {path}: {e}")
        missing = {"row", "step", "layer", "quantity", "unit", "value", "marker"} - set(frame.columns)
        if missing:
            fail(f"{path} is not an `rnn-lab inspect` CSV: no {', '.join(sorted(missing))} column")
        frame = frame[frame["row"] == row]
        if frame.empty:
            fail(f"{path} has no test row {row}; inspect more rows (rnn-lab inspect --rows)")
        summary = os.path.join(os.path.dirname(os.path.abspath(path)), "summary.json")
        name = os.path.splitext(os.path.basename(path))[0]
        if os.path.exists(summary):
            with open(summary) as f:
                config = json.load(f)["config"]
            name = f"{MODEL_TITLE.get(config['model'], config['model'])}, {config['task']} at {config['seq_len']}"
        columns.append((name, frame))
    panels = []
    for name, frame in columns:
        kinds = [(layer, q) for layer in sorted(frame["layer"].unique())
                 for q in ("h", "c") if ((frame["layer"] == layer) & (frame["quantity"] == q)).any()]
        panels.append(kinds)
    height = max(len(k) for k in panels)
    fig, axs = plt.subplots(height, len(columns), figsize=(5.5 * len(columns), 2.6 * height + 0.8),
                            squeeze=False)
    for c, ((name, frame), kinds) in enumerate(zip(columns, panels)):
        marked = sorted(frame.loc[frame["marker"].fillna(0) == 1, "step"].unique())
        target = frame["target"].iloc[0] if "target" in frame else ""
        answer = frame["prediction"].iloc[0] if "prediction" in frame else ""
        for r in range(height):
            ax = axs[r][c]
            if r >= len(kinds):
                ax.set_visible(False)
                continue
            layer, q = kinds[r]
            part = frame[(frame["layer"] == layer) & (frame["quantity"] == q)]
            grid = part.pivot(index="unit", columns="step", values="value")
            bound = float(np.nanmax(np.abs(grid.values))) or 1.0
            image = ax.imshow(grid.values, aspect="auto", cmap="RdBu_r", vmin=-bound, vmax=bound,
                              interpolation="nearest")
            for s in marked:
                line = ax.axvline(s, color="black", ls="--", lw=0.8)
                line.set_gid(REFERENCE)
                line.set_label(f"marked step {s}")
            fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
            what = "cell state c" if q == "c" else "state h"
            ax.set_title(f"{name}: layer {layer + 1}, {what}" if r == 0 else f"layer {layer + 1}, {what}",
                         fontsize=9)
            ax.set_ylabel("unit")
            if r == len(kinds) - 1:
                ax.set_xlabel("step")
        axs[0][c].text(0.0, 1.18, f"target {target}, answer {answer}", transform=axs[0][c].transAxes,
                       fontsize=8, va="bottom")
    fig.suptitle(f"Inside the trained cells: test row {row}, the marked steps dashed", fontsize=11)
    fig.tight_layout()
    save(fig, out)


def main():
    global np, plt, matplotlib, DESCRIBE
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("roots", nargs="*", help="studies, or folders of sets of runs")
    p.add_argument("--sweep", action="append", default=[], help="a study folder (the same as a ROOT)")
    p.add_argument("--out", help="folder for the PNG files [default: the ROOT, or the folder the ROOTs share]")
    p.add_argument("--threshold", type=float, default=0.01, help="val_loss that counts as learned")
    p.add_argument("--strips-only", action="store_true", help="only the strip plots, no curves")
    p.add_argument("--models", help="these models only, e.g. rnn,lstm")
    p.add_argument("--describe", action="store_true",
                   help="also write <figure>.json beside each PNG: its title, panels, legends, reference lines")
    p.add_argument("--inspect", nargs="+", metavar="CSV",
                   help="instead: heatmaps of `rnn-lab inspect` CSVs (one column each) into --out PNG")
    p.add_argument("--row", type=int, default=0, help="with --inspect: the test row drawn [default: 0]")
    args = p.parse_args()
    DESCRIBE = args.describe
    if args.inspect:
        if not args.out or not args.out.endswith(".png"):
            p.error("--inspect needs --out FILE.png")
        np = need("numpy")
        matplotlib = need("matplotlib")
        matplotlib.use("Agg")
        plt = need("matplotlib.pyplot")
        writable_folder(os.path.dirname(os.path.abspath(args.out)))
        plot_inspect(args.inspect, args.out, args.row)
        return
    roots = args.roots + args.sweep
    if not roots:
        p.error("give a study or a folder of runs")
    if args.strips_only and len(roots) < 2:
        p.error("--strips-only needs two ROOTs or more")
    np = need("numpy")
    matplotlib = need("matplotlib")
    matplotlib.use("Agg")
    plt = need("matplotlib.pyplot")
    for module in ("ticker", "lines", "patches", "transforms"):
        need(f"matplotlib.{module}")
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
        plot_curves(label, set_runs, within_sets({label: set_runs}, axes), out, args.threshold, len(by_set) > 1)
    if "seq_len" in axes and not args.strips_only:
        plot_vs_length(by_set, axes, out)
    if len(by_set) > 1:
        plot_strips(by_set, axes, out, args.threshold)


if __name__ == "__main__":
    guard(main)
