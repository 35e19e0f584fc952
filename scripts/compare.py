#!/bin/sh
# Runs under $PYTHON, else the Python scripts/setup.sh installed (.venv), else python3 (enough for --help).
'''':; py="${PYTHON:-$(dirname "$0")/../.venv/bin/python}"; [ -x "$py" ] || py=python3; exec "$py" "$0" "$@" # '''
__doc__ = """Tables over seeds, and tests that say whether a difference is real.

    scripts/compare.py ROOT [ROOT ...] [--by set|AXIS] [--threshold 0.01] [--per-seed] [--pairs A:B,...] [--published]
    scripts/compare.py results/blog-cpu results/lstm-more-seeds > comparison.md
    scripts/compare.py runs/sweep                 # the models, within each task and length
    scripts/compare.py runs/sweep --by seq_len

Each ROOT is a study (a sweep, a reproduction) or a folder of sets of runs
(rnn-lab, reference, rnn-lab-torch-init, keras-blog, ...): any layout that
rnn-lab, scripts/reference.py and scripts/keras_reference.py write (see
scripts/runs.py for how sets and cells are found). Runs are grouped into
cells by every setting that varies within a set (model, task, length, init,
...); a setting that only tells sets apart (the init of
rnn-lab-torch-init) is the set's, so those sets are compared within one
cell; sets of the same name in several ROOTs are merged; a seed may appear
once per set and cell.

Per cell and set: n, test correctness median [IQR], mean [95 % CI]
(percentile bootstrap over seeds, 10000 resamples, seeded), min..max, the
share of runs that learned (val_loss below --threshold by the last epoch)
and the epochs they needed, median (range).

What is compared is what varies: by default the sets when there are
several (per cell, every pair of sets), else, within the one set, the
models when they vary (every pair of models within each task and length),
else the lengths, else any other setting that varies; --by set|AXIS
chooses (--by model compares the cells within each length and task). On
correctness and on epochs to learn (a run that never learned counts as one
epoch past its last, which rank tests allow):
  - the same seeds in both (rnn-lab vs the PyTorch reference, lockstep
    pairs; never Keras's blog path, whose seeds draw other data): paired difference, mean with 95 % bootstrap CI, and the
    Wilcoxon signed-rank test on the seeds both have;
  - no seed in common: difference of medians with 95 % bootstrap CI, and
    the Mann-Whitney U test;
for paired sets (same cell, so the same run in two implementations; never
between models, lengths or other settings, which compute other things) also
how many leading epochs each seed's two runs stay in step (loss and
val_loss within 1e-4 relative): how long two implementations of the same
run compute the same thing before rounding takes over.
--published adds, for cells of the blog's experiment, the blog's and the
textbook's single Keras runs to the table and tests every set against them
(Mann-Whitney, n = 1).
A difference is called real at p < 0.05; where the numbers of runs cannot
reach that p at all, the table says so instead of "no difference".
--unpaired compares every pair as independent sets: with 5 seeds a
Wilcoxon test cannot reach p < 0.05 (its smallest two-sided p is 2/2^5 =
0.0625), Mann-Whitney on 5 against 5 can (2/252 = 0.0079). The same seed
gives two cells the same data, which makes their results alike if
anything; with that positive (or no) correlation the unpaired test is
conservative.
"""
import argparse
import math
import os
import sys
from collections import defaultdict
from itertools import combinations

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import fail, guard, need  # noqa: E402
from runs import cell_key, cell_label, load_runs, model_rank, varying_axes, within_sets  # noqa: E402

TITLES = {
    "rnn-lab": "rnn-lab, Keras init",
    "reference": "PyTorch reference, Keras init",
    "rnn-lab-torch-init": "rnn-lab, PyTorch init",
    # results/keras-parity (scripts/keras-study.sh, scripts/keras-ablation.sh):
    # from Keras's blog path to rnn-lab, one change at a time.
    "keras-blog": "Keras blog path",
    "keras-rnn-lab-data": "Keras fit, rnn-lab's data",
    "keras-rnn-lab-data-weights": "Keras fit, rnn-lab's data and weights",
    "keras-lockstep": "Keras lockstep",
    "rnn-lab-adam-keras": "rnn-lab, Keras's Adam",
    "rnn-lab-keras-weights": "rnn-lab, Keras's Adam, Keras-drawn weights",
}
ALPHA = 0.05
RESAMPLES = 10_000
IN_STEP = 1e-4  # relative loss difference up to which a paired run counts as in step
SEED = 0
np = stats = None  # imported in main(), after --help


def bootstrap_ci(samples, statistic):
    """Percentile bootstrap 95 % CI, seeded; None when it cannot be formed."""
    if any(len(s) < 2 for s in samples):
        return None
    if all(np.ptp(s) == 0 for s in samples):
        v = statistic(*samples)
        return v, v
    res = stats.bootstrap(samples, statistic, n_resamples=RESAMPLES, method="percentile",
                          confidence_level=0.95, random_state=np.random.default_rng(SEED),
                          vectorized=False, paired=False)
    return res.confidence_interval.low, res.confidence_interval.high


def describe(runs):
    x = np.array([r.correctness for r in runs], dtype=float)
    n = len(x)
    learned = [r.epochs_to_learn for r in runs if r.epochs_to_learn is not None]
    if learned:
        e = np.array(learned, dtype=float)
        epochs = f"{np.median(e):g}" if len(e) == 1 else f"{np.median(e):g} ({e.min():g}..{e.max():g})"
    else:
        epochs = "never"
    if n == 1:
        return [f"{x[0]:.2f} % (n=1)", "–", "–", f"{len(learned)}/1", epochs]
    q1, med, q3 = np.percentile(x, [25, 50, 75])
    lo, hi = bootstrap_ci((x,), np.mean)
    return [f"{med:.2f} [{q1:.2f}, {q3:.2f}] %", f"{x.mean():.2f} [{lo:.2f}, {hi:.2f}] %",
            f"{x.min():.2f} .. {x.max():.2f} %", f"{len(learned)}/{n}", epochs]


def min_p_wilcoxon(n):
    return min(1.0, 2.0 / 2 ** n)


def min_p_mannwhitney(n1, n2):
    return min(1.0, 2.0 / math.comb(n1 + n2, n1))


def signed(x):
    """+1.23 / -1.23, and +0.00 rather than -0.00."""
    return f"{x + 0.0:+.2f}" if round(x, 2) != 0 else "+0.00"


def verdict(p, min_p):
    if p is None:
        return "–"
    if min_p > ALPHA:
        return f"too few runs to tell (p ≥ {min_p:.3g} whatever the data)"
    return f"**different** (p = {p:.3g})" if p < ALPHA else f"no detectable difference (p = {p:.3g})"


def epochs_in_step(a, b):
    """Leading epochs whose loss and val_loss agree within IN_STEP relative."""
    n = 0
    for (la, va), (lb, vb) in zip(a.losses, b.losses):
        if not (abs(la - lb) <= IN_STEP * abs(lb) and abs(va - vb) <= IN_STEP * abs(vb)):
            break
        n += 1
    return n


def in_step(a, b):
    """Median (range) over the shared seeds of the epochs the pair stays in step."""
    n = np.array([epochs_in_step(a[s], b[s]) for s in sorted(set(a) & set(b))], dtype=float)
    return f"{np.median(n):g} ({n.min():g}..{n.max():g})"


def paired(a, b, key, lower_is_better=False):
    """Paired comparison on the seeds both sets have: (text, p, min_p, n).
    Counts the seeds each set is ahead in: higher correctness, or fewer
    epochs to learn (lower_is_better)."""
    seeds = sorted(set(a) & set(b))
    d = np.array([getattr(a[s], key) - getattr(b[s], key) for s in seeds], dtype=float)
    n = len(d)
    if n < 2:
        return "–", None, 1.0, n
    if np.all(d == 0):
        return f"0 (identical in all {n} seeds)", None, 1.0, n
    ci = bootstrap_ci((d,), np.mean)
    p = float(stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue)
    ahead = int((d > 0).sum()), int((d < 0).sum())
    word = "ahead"
    if lower_is_better:
        ahead, word = ahead[::-1], "sooner"
    text = (f"{signed(d.mean())} [{signed(ci[0])}, {signed(ci[1])}] "
            f"(first {word} in {ahead[0]}, second in {ahead[1]} of {n})")
    return text, p, min_p_wilcoxon(n - int((d == 0).sum())), n


def independent(a, b, key):
    x = np.array([getattr(r, key) for r in a.values()], dtype=float)
    y = np.array([getattr(r, key) for r in b.values()], dtype=float)
    if len(x) == 0 or len(y) == 0:
        return "–", None, 1.0
    diff = float(np.median(x) - np.median(y))
    ci = bootstrap_ci((x, y), lambda u, v: np.median(u) - np.median(v))
    p = float(stats.mannwhitneyu(x, y, alternative="two-sided").pvalue)
    ci_text = "" if ci is None else f" [{signed(ci[0])}, {signed(ci[1])}]"
    return f"{signed(diff)}{ci_text} (medians)", p, min_p_mannwhitney(len(x), len(y))


def title(label):
    return TITLES.get(label, label)


def main():
    global np, stats
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("roots", nargs="+", help="studies, or folders of sets of runs")
    p.add_argument("--by", help="what to compare: set, or an axis such as model, seq_len "
                   "(default: the sets if several, else model, seq_len or another axis that varies)")
    p.add_argument("--threshold", type=float, default=0.01, help="val_loss that counts as learned")
    p.add_argument("--per-seed", action="store_true", help="also list every seed's correctness per set")
    p.add_argument("--unpaired", action="store_true",
                   help="compare sets as independent even where they share seeds (Mann-Whitney; for 5 seeds or fewer)")
    p.add_argument("--published", action="store_true",
                   help="also the blog's and textbook's single Keras runs, for cells of the blog's experiment")
    p.add_argument("--pairs", default="", metavar="A:B,...",
                   help="also list, per seed, the differences between these paired sets (e.g. keras-lockstep:rnn-lab-adam-keras)")
    args = p.parse_args()
    np, stats = need("numpy"), need("scipy.stats")
    runs = load_runs(args.roots, args.threshold)
    by_set = defaultdict(list)
    for r in runs:
        by_set[r.set].append(r)
    # A setting that only tells sets apart (rnn-lab-torch-init's init) is
    # the set's: its runs are compared with the other sets' in one cell.
    axes = within_sets(by_set, varying_axes(runs))
    labels = sorted(by_set)
    order = [s for s in TITLES if s in labels] + [s for s in labels if s not in TITLES]
    if args.by in varying_axes(runs, always=()) and args.by not in axes:
        fail(f"--by {args.by}: {args.by} only tells the sets apart here (each set holds one value); "
             f"compare the sets instead (--by set, the default)")
    if args.by is not None and args.by != "set" and args.by not in axes:
        fail(f"--by {args.by}: the axes that vary here are {', '.join(axes)} (or set)")
    by = args.by or default_by(runs, labels)
    # sets[set][cell][seed] = Run
    sets = defaultdict(lambda: defaultdict(dict))
    for r in runs:
        sets[r.set][cell_key(r, axes)][r.seed] = r
    cells = sorted({cell_key(r, axes) for r in runs}, key=lambda k: [natural(v) for v in k])
    cells.sort(key=lambda k: model_rank(k[axes.index("model")]) if "model" in axes else 0)
    pairs = [tuple(x.split(":")) for x in args.pairs.split(",") if x]
    for pair in pairs:
        if len(pair) != 2 or any(s not in sets for s in pair):
            fail(f"--pairs: {':'.join(pair)} is not two sets of {', '.join(sorted(sets))}")

    print(f"Test correctness over seeds (share of the test rows within 0.04). Mean CI: percentile "
          f"bootstrap over seeds, {RESAMPLES} resamples, seed {SEED}. Learned: val_loss < {args.threshold} "
          f"by the last epoch.\n")
    print(f"| {', '.join(axes)} | set | n | correctness median [IQR] | mean [95 % CI] | min .. max | learned | "
          "epochs to learn: median (range) |")
    print("|---|---|---|---|---|---|---|---|")
    for c in cells:
        label = cell_label(c, axes)
        published = next((r.published() for s in order for r in sets[s].get(c, {}).values()), {}) \
            if args.published else {}
        for pub in ("blog", "textbook"):
            if published.get(pub) is not None:
                print(f"| {label} | {pub} (Keras, 1 unseeded run) | 1 | {published[pub]:.2f} % | – | – | – | – |")
        for s in order:
            found = sets[s].get(c)
            if found:
                print(f"| {label} | {title(s)} | {len(found)} | " + " | ".join(describe(list(found.values()))) + " |")

    # In step only between sets: the same cell run twice. Between models,
    # lengths or any other setting the runs compute other things from epoch 1.
    step = by == "set"
    rows = []
    for stratum, units in strata(sets, order, cells, axes, by):
        for (u1, a), (u2, b) in combinations(units, 2):
            rows.append(compare_pair(stratum, u1, u2, a, b, args.unpaired, step))
        if args.published:
            rows += published_rows(stratum, units, step)
    chosen = "" if args.by else " (what varies here; --by chooses)"
    among = "sets, within each cell" if by == "set" else f"values of {by}, within each set and point of the other axes"
    if not rows:
        alone = "one set" if by == "set" else f"one value of {by}"
        print(f"\nNothing to compare by {by}{chosen}: {alone} per cell. --by AXIS compares along an axis that varies "
              f"({', '.join(a for a in axes if a in varying_axes(runs, always=())) or 'none does'}).")
    else:
        print(f"\nComparisons by {by}{chosen}: every pair of {among}, first minus second. Paired: the seeds both "
              "ran, Wilcoxon signed-rank; independent: difference of medians, Mann-Whitney U. Epochs to learn: a "
              "run that never learned counts as one epoch past its last."
              + (f" In step: the leading epochs whose loss and val_loss agree within {IN_STEP:g} relative, median "
                 "(range) over the paired seeds." if step else "") + "\n")
        what = ", ".join(axes) if by == "set" else ", ".join(["set"] + [a for a in axes if a != by])
        columns = ["first", "second", "seeds"] + (["epochs in step"] if step else []) + [
            "correctness difference, points [95 % CI]", "verdict", "epochs-to-learn difference", "verdict"]
        print(f"| {what} | " + " | ".join(columns) + " |")
        print("|---" * (len(columns) + 1) + "|")
        for row in rows:
            print(row)

    if args.published and not any(r.published() for r in runs):
        print("\n--published: nothing published for these cells (the blog's and textbook's runs are of "
              "the blog's experiment, rnn-lab's defaults, with rnn, lstm or gru).")
    if args.per_seed:
        per_seed(sets, order, cells, axes)
    for s1, s2 in pairs:
        seed_pairs(sets, cells, axes, s1, s2)


def natural(value):
    """Sorts numbers as numbers (length 50 before 100), before any text."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value, "")
    return (1, 0, str(value))


def default_by(runs, labels):
    """What varies: the sets when there are several; else the models, the
    lengths, or the first other setting with more than one value."""
    if len(labels) > 1:
        return "set"
    varying = varying_axes(runs, always=())
    return next((a for a in ["model", "seq_len"] + varying if a in varying), "set")


def strata(sets, order, cells, axes, by):
    """[(label, [(unit title, {seed: Run})])]: what is compared within what."""
    out = []
    if by == "set":
        for c in cells:
            units = [(title(s), sets[s][c]) for s in order if sets[s].get(c)]
            out.append((cell_label(c, axes), units))
        return out
    i = axes.index(by)
    rest = [a for a in axes if a != by]
    for s in order:
        groups = defaultdict(list)
        for c in cells:
            if sets[s].get(c):
                groups[c[:i] + c[i + 1:]].append((str(c[i]), sets[s][c]))
        for key, units in groups.items():
            out.append((", ".join([title(s)] + ([cell_label(key, rest)] if rest else [])), units))
    return out


def compare_pair(stratum, s1, s2, a, b, unpaired=False, step_column=True):
    """One row of the comparisons; `step_column` where runs may be in step."""
    pairable = not unpaired and all(r.pairable for r in list(a.values()) + list(b.values()))
    if pairable and len(set(a) & set(b)) >= 2:
        c_text, c_p, c_min, n = paired(a, b, "correctness")
        e_text, e_p, e_min, _ = paired(a, b, "epochs_rank", lower_is_better=True)
        kind = f"paired, {n}"
        step = in_step(a, b) if step_column else None
    else:
        c_text, c_p, c_min = independent(a, b, "correctness")
        e_text, e_p, e_min = independent(a, b, "epochs_rank")
        kind = f"independent, {len(a)} vs {len(b)}"
        step = "–"
    step = f" {step} |" if step_column else ""
    return (f"| {stratum} | {s1} | {s2} | {kind} |{step} {c_text} | {verdict(c_p, c_min)} | "
            f"{e_text} | {verdict(e_p, e_min)} |")


def published_rows(stratum, units, step_column=True):
    """Each unit (a set, or a model's cell) against the published single
    runs of its cell."""
    rows = []
    step = " – |" if step_column else ""
    for pub in ("blog", "textbook"):
        for name, runs in units:
            value = next((r.published() for r in runs.values()), {}).get(pub)
            if value is None:
                continue
            x = np.array([r.correctness for r in runs.values()])
            pval = float(stats.mannwhitneyu([value], x, alternative="two-sided").pvalue)
            below = (x < value).mean() * 100
            rows.append(f"| {stratum} | {pub} ({value:.2f} %, 1 run) | {name} | independent, 1 vs {len(x)} |{step} "
                        f"{signed(value - np.median(x))} (published above {below:.0f} % of seeds) | "
                        f"{verdict(pval, min_p_mannwhitney(1, len(x)))} | – | – |")
    return rows


def per_seed(sets, order, cells, axes):
    print("\nPer seed: test correctness (%) and epochs to learn (– never).\n")
    for c in cells:
        present = [s for s in order if sets[s].get(c)]
        seeds = sorted(set().union(*(sets[s][c] for s in present)))
        print(f"**{cell_label(c, axes)}**\n")
        print("| seed | " + " | ".join(title(s) for s in present) + " |")
        print("|---|" + "---|" * len(present))
        for seed in seeds:
            row = []
            for s in present:
                r = sets[s][c].get(seed)
                row.append("" if r is None else
                           f"{r.correctness:.2f} ({r.epochs_to_learn if r.epochs_to_learn else '–'})")
            print(f"| {seed} | " + " | ".join(row) + " |")
        print()


def seed_pairs(sets, cells, axes, s1, s2):
    print(f"\nPer seed, {title(s1)} minus {title(s2)}: epochs in step (loss and val_loss within {IN_STEP:g} "
          f"relative), test correctness (%) and epochs to learn (– never; differences count never as one "
          f"epoch past the last).\n")
    for c in cells:
        a, b = sets[s1].get(c, {}), sets[s2].get(c, {})
        seeds = sorted(set(a) & set(b))
        if not seeds:
            continue
        print(f"**{cell_label(c, axes)}**\n")
        print(f"| seed | epochs in step | correctness: {title(s1)} | {title(s2)} | difference | "
              f"epochs to learn: {title(s1)} | {title(s2)} | difference |")
        print("|---|---|---|---|---|---|---|---|")
        for seed in seeds:
            x, y = a[seed], b[seed]
            learn = [r.epochs_to_learn if r.epochs_to_learn else "–" for r in (x, y)]
            print(f"| {seed} | {epochs_in_step(x, y)} | {x.correctness:.2f} | {y.correctness:.2f} | "
                  f"{signed(x.correctness - y.correctness)} | {learn[0]} | {learn[1]} | "
                  f"{x.epochs_rank - y.epochs_rank:+d} |")
        print()


if __name__ == "__main__":
    guard(main)
