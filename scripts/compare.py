#!/bin/sh
# Runs under the Python that scripts/setup.sh installed (.venv), or $PYTHON.
''''exec "${PYTHON:-$(dirname "$0")/../.venv/bin/python}" "$0" "$@" # '''
"""Side-by-side Markdown table of a blog reproduction folder (as written by
scripts/reproduce-blog.sh): rnn-lab, the PyTorch reference and the torch-init
ablation, each over its seeds, against the published single runs.

    scripts/compare.py results/blog-cpu > results/blog-cpu/comparison.md
"""
import glob
import json
import os
import statistics
import sys

PUBLISHED = {  # test correctness in percent, single unseeded Keras runs
    "rnn": (None, 9.32),
    "lstm": (92.95, 94.77),
    "gru": (None, 98.86),
}
SETS = [("rnn-lab", "rnn-lab, Keras init"), ("reference", "PyTorch reference, Keras init"),
        ("rnn-lab-torch-init", "rnn-lab, PyTorch init")]


def summaries(root, label, model):
    paths = sorted(glob.glob(os.path.join(root, label, model, "seed-*", "summary.json")))
    return [json.load(open(p)) for p in paths]


def stats(runs, key):
    xs = [r[key] for r in runs]
    mean = statistics.fmean(xs)
    std = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return mean, std, min(xs), max(xs)


def correctness_cell(runs):
    if not runs:
        return "–"
    mean, std, lo, hi = stats(runs, "correctness")
    return f"{mean:.2f} ± {std:.2f} % ({lo:.2f}..{hi:.2f}, n={len(runs)})"


def pct(x):
    return "–" if x is None else f"{x:.2f} %"


def main(root):
    models = ["rnn", "lstm", "gru"]
    print("Test correctness (share of the 440 test rows within 0.04), mean ± sample std (min..max, seeds)\n")
    print("| model | blog (Keras, 1 run) | textbook (Keras, 1 run) | " + " | ".join(t for _, t in SETS) + " |")
    print("|---|---|---|" + "---|" * len(SETS))
    for m in models:
        blog, book = PUBLISHED[m]
        cells = [correctness_cell(summaries(root, label, m)) for label, _ in SETS]
        print(f"| {m} | {pct(blog)} | {pct(book)} | " + " | ".join(cells) + " |")
    print("\nFinal losses and speed (means over seeds; CPU, 1 thread, both implementations running side by side)\n")
    print("| model | implementation | final loss | final val_loss | test MSE | train s/epoch | wall time of all seeds |")
    print("|---|---|---|---|---|---|---|")
    for m in models:
        for label, title in SETS:
            runs = summaries(root, label, m)
            if not runs:
                continue
            mean = lambda k: statistics.fmean(r[k] for r in runs)  # noqa: E731
            total = sum(r["seconds_total"] for r in runs)
            print(f"| {m} | {title} | {mean('final_loss'):.3e} | {mean('final_val_loss'):.3e} | "
                  f"{mean('test_mse'):.3e} | {mean('train_seconds_per_epoch'):.3f} | {total:.0f} s |")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: scripts/compare.py RESULTS_DIR")
    main(sys.argv[1])
