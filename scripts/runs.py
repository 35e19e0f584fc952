"""Reading rnn-lab's runs for the analysis scripts (compare.py, plot.py):
the one reader of every layout. A run is a folder with summary.json and
history.csv, written by `rnn-lab` (a study's `<run>/`, an older
reproduction's `<model>/seed-<n>/`), scripts/reference.py or
scripts/keras_reference.py.

Sets: each ROOT given is searched for runs; a run's set is the folder that
holds it (for `<model>/seed-<n>/` runs, the folder above the model), named
relative to ROOT, or ROOT's own name when ROOT holds the runs itself.
Same-named sets of several ROOTs are merged. Within a set, runs are grouped
by every setting that varies over the runs read (task, model, init,
seq_len, any other), the seed aside; compare.py and plot.py leave out a
setting that only tells sets apart (`within_sets`). A task is known by its name of today
(`blog-add` in a file that says `add`), as `rnn-lab info --json` lists it.

Errors are one line and exit 1: a missing package names scripts/setup.sh,
a corrupt or truncated file names itself.
"""
import csv
import json
import os
import re

from common import DEFAULTS as ALL_DEFAULTS, cell_names, fail, task_info

DEFAULTS = ALL_DEFAULTS["config"]
# The order axes are shown in; the seed is never an axis of a cell.
AXIS_ORDER = ["task", "model", "init", "seq_len"] + [
    k for k in DEFAULTS if k not in ("task", "model", "init", "seq_len", "seed")]
PUBLISHED = {  # test correctness in percent, single unseeded Keras runs
    "rnn": {"blog": None, "textbook": 9.32},
    "lstm": {"blog": 92.95, "textbook": 94.77},
    "gru": {"blog": None, "textbook": 98.86},
}


def read_history(path, epochs_run=None):
    """[(epoch from 1, loss, val_loss)] of a history.csv, checked whole."""
    try:
        with open(path) as f:
            rows = list(csv.DictReader(f))
        out = [(int(r["epoch"]) + 1, float(r["loss"]), float(r["val_loss"])) for r in rows]
    except (OSError, KeyError, TypeError, ValueError) as e:
        fail(f"{path} is not a readable history.csv ({type(e).__name__}: {e})")
    if epochs_run is not None and len(out) != epochs_run:
        fail(f"{path} has {len(out)} epochs but its summary.json says {epochs_run}: "
             f"the run folder was cut or changed after the run")
    return out


class Run:
    def __init__(self, folder, label, threshold):
        path = os.path.join(folder, "summary.json")
        try:
            summary = json.load(open(path))
            self.config = {**DEFAULTS, **summary["config"]}
            self.config["task"] = task_info(self.config["task"])["name"]
            self.correctness = float(summary["correctness"])
            self.seed = int(self.config["seed"])
        except (OSError, KeyError, TypeError, ValueError) as e:
            fail(f"{path} is not a readable summary.json ({type(e).__name__}: {e})")
        self.folder, self.set = folder, label
        # Keras's blog path draws its own data and weights: its seed numbers
        # name other runs than rnn-lab's, so it is never paired.
        self.pairable = summary.get("path") != "blog"
        self.history = read_history(os.path.join(folder, "history.csv"), summary.get("epochs_run"))
        # Training rows (sequences) per epoch; absent in hand-made folders.
        self.train_rows = (summary.get("split") or {}).get("train")
        self.baseline = self._baseline(summary)
        self.losses = [(loss, val) for _, loss, val in self.history]
        below = [e for e, _, v in self.history if v < threshold]
        self.epochs_to_learn = below[0] if below else None
        # Censored: one epoch past the last, for rank tests.
        self.epochs_rank = self.epochs_to_learn if below else len(self.history) + 1

    def _baseline(self, summary):
        """(loss, kind) of learning nothing, kind "mse" (predicting the mean
        training target) or "cross-entropy" (chance); None if unknown. Files
        older than baseline_mse have test_mse and predictions.csv: the test
        targets' variance stands in (predicting their own mean)."""
        if summary.get("baseline_mse") is not None:
            return float(summary["baseline_mse"]), "mse"
        if summary.get("baseline_loss") is not None:
            return float(summary["baseline_loss"]), "cross-entropy"
        path = os.path.join(self.folder, "predictions.csv")
        if summary.get("test_mse") is None or not os.path.exists(path):
            return None
        try:
            with open(path) as f:
                targets = [float(r["target"]) for r in csv.DictReader(f)]
        except (OSError, KeyError, TypeError, ValueError) as e:
            fail(f"{path} is not a readable predictions.csv ({type(e).__name__}: {e})")
        mean = sum(targets) / len(targets)
        return sum((t - mean) ** 2 for t in targets) / len(targets), "mse"

    def published(self):
        """The blog's and textbook's runs, when this run is the blog's experiment."""
        blog = all(self.config[k] == v for k, v in DEFAULTS.items() if k not in ("model", "seed", "adam"))
        return PUBLISHED.get(self.config["model"], {}) if blog else {}


def set_label(folder, root):
    holder = os.path.dirname(folder)
    if re.fullmatch(r"seed-\d+", os.path.basename(folder)):
        holder = os.path.dirname(holder)
    rel = os.path.relpath(holder, root)
    if rel == "." or rel.startswith(".."):
        return os.path.basename(os.path.normpath(root))
    return rel


def load_runs(roots, threshold):
    """Every run under the ROOTs, a seed at most once per set and cell."""
    runs = []
    for root in roots:
        if not os.path.isdir(root):
            fail(f"{root} is not a folder")
        for here, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d != "logs" and not d.startswith("."))
            if "summary.json" in files:
                runs.append(Run(here, set_label(here, root), threshold))
    if not runs:
        fail(f"no runs (folders with summary.json) under {', '.join(roots)}")
    axes = varying_axes(runs)
    seen = {}
    for r in runs:
        key = (r.set, cell_key(r, axes), r.seed)
        if key in seen:
            fail(f"seed {r.seed} appears twice in set {r.set} ({seen[key]} and {r.folder})")
        seen[key] = r.folder
    return runs


def varying_axes(runs, always=("model",)):
    """The settings (seed aside) with more than one value over `runs`."""
    return [a for a in AXIS_ORDER
            if a in always or len({json.dumps(r.config.get(a)) for r in runs}) > 1]


def within_sets(by_set, axes):
    """The axes that vary inside some set: a setting that only tells sets
    apart (the init of a set of torch-init runs) is the set's, not a cell's."""
    return [a for a in axes if a == "model" or any(
        len({json.dumps(r.config.get(a)) for r in rs}) > 1 for rs in by_set.values())]


def model_rank(model, unknown=9):
    """Where a cell comes in rnn-lab's order of cells (rnn, irnn, lstm,
    gru), for tables and figures; `unknown` for a model it does not list."""
    cells = cell_names()
    return cells.index(model) if model in cells else unknown


def cell_key(run, axes):
    return tuple(run.config.get(a) for a in axes)


def cell_label(key, axes):
    """"lstm" or "lstm, seq_len 50": the model bare, other axes named."""
    parts = []
    for a, v in zip(axes, key):
        parts.append(str(v) if a in ("model", "task", "init") else f"{a} {v}")
    return ", ".join(parts)
