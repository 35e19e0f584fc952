"""What the Python scripts share (standard library only, so it loads under
any of their interpreters and before their heavy imports): rnn-lab's
defaults, what rnn-lab lists of itself (`rnn-lab info --json`: its tasks,
cells and limits, never copied here), the run flags they take as `rnn-lab
train` does, the checks of those flags and of a run folder, and errors as
one line with exit 1.

The rule is rnn-lab's: check everything that can fail before an earlier
run's files are touched; write files whole or not at all.
"""
import errno
import importlib
import json
import math
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
# rnn-lab's defaults, the one copy: the blog's experiment.
DEFAULTS = json.load(open(os.path.join(HERE, "..", "src", "config", "defaults.json")))
PROG = os.path.basename(sys.argv[0]).removesuffix(".py")
RUN_FILES = ("summary.json", "history.csv", "predictions.csv", "model.safetensors")
# What the scripts read of `rnn-lab info --json`; a binary without them is
# older than the scripts.
INFO_KEYS = ("tasks", "cells", "limits")
_INFO = {}  # `rnn-lab info --json`, asked once


def rnn_lab_info(required=True):
    """`rnn-lab info --json` of $RNN_LAB_BIN, else this clone's release
    build, asked once: the one source of the tasks, cells and limits. When
    neither answers, fails in one line; or, not `required` (--help, which
    works before a build), returns None."""
    if "info" not in _INFO:
        import subprocess
        binary = os.environ.get("RNN_LAB_BIN") or os.path.join(HERE, "..", "target", "release", "rnn-lab")
        _INFO["info"] = None
        try:
            out = subprocess.run([binary, "info", "--json"], capture_output=True, text=True, check=True)
            info = json.loads(out.stdout)
            missing = [k for k in INFO_KEYS if k not in info]
            if missing:
                _INFO["error"] = (f"{binary} is older than the scripts (its info --json has no "
                                  f"{', '.join(missing)}): rebuild it with cargo build --release")
            else:
                _INFO["info"] = info
        except (OSError, subprocess.CalledProcessError, ValueError) as e:
            _INFO["error"] = (f"cannot ask {binary} for its tasks, cells and limits (build it with "
                              f"cargo build --release, or set RNN_LAB_BIN): {e}")
    if _INFO["info"] is None and required:
        fail(_INFO["error"])
    return _INFO["info"]


def task_info(name):
    """The task `name` as `rnn-lab info --json` lists it (its shape, loss,
    chance, shortest length), found by its name or an older one (`add`, in
    files written before it was `blog-add`); an unknown name fails in
    rnn-lab's words."""
    tasks = rnn_lab_info()["tasks"]
    for task in tasks:
        if name.lower() in [task["name"], *task["old_names"]]:
            return task
    fail(f"unknown task '{name}' (expected one of: {', '.join(t['name'] for t in tasks)})")


def cell_names():
    """The cells (`--model`) rnn-lab has, in its order."""
    return [c["name"] for c in rnn_lab_info()["cells"]]


def history_fields(history, started):
    """The summary.json fields every implementation derives from its
    history, as rnn-lab writes them (src/store/summary.rs): `history` holds
    (loss, val_loss, seconds, train_seconds) per epoch, `started` is the
    run's time.perf_counter() at its start. seconds_per_epoch is the mean
    wall time of an epoch; train_seconds_per_epoch the median of the
    training steps' time, the first (warm-up) epoch left out when there are
    several."""
    import time
    times = sorted(h[3] for h in (history[1:] if len(history) > 1 else history))
    mid = len(times) // 2
    return {
        "epochs_run": len(history),
        "final_loss": history[-1][0],
        "final_val_loss": history[-1][1],
        "seconds_per_epoch": sum(h[2] for h in history) / len(history),
        "train_seconds_per_epoch": times[mid] if len(times) % 2 else (times[mid - 1] + times[mid]) / 2,
        "seconds_total": time.perf_counter() - started,
    }


def fail(message):
    """A user's mistake: one line on stderr, exit 1, no traceback."""
    print(f"{PROG}: {message}", file=sys.stderr)
    sys.exit(1)


def guard(main, *args):
    """Runs `main`; a reader that left (`| head`) is a normal end."""
    try:
        main(*args)
        sys.stdout.flush()
    except BrokenPipeError:
        # Python flushes stdout again at exit: point it at nothing first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except OSError as e:
        # A write to stdout (a full disk, a read-only or failing file it was
        # sent to) names no file; any other error is not this one.
        if e.filename is not None or e.errno not in OUTPUT_ERRORS:
            raise
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        fail(f"cannot write the output: {e.strerror}; send it to a writable file")
    except KeyboardInterrupt:
        sys.exit(130)


OUTPUT_ERRORS = {errno.ENOSPC, errno.EROFS, errno.EIO, errno.EDQUOT, errno.EFBIG}


def writable_folder(folder):
    """Makes `folder` (--out, or the study written next to) if it is not
    there, and checks a file can be written into it; fails in one line
    naming it otherwise. Writes nothing that stays."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        fail(f"--out {folder} is a file, not a folder; give --out a writable folder")
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        fail(f"cannot write {folder}: {e.strerror or e}; give --out a writable folder")


def need(module, quiet=False):
    """Imports `module`, or says how to install it. With `quiet`, what the
    import writes to stderr itself is hidden (TensorFlow's C++ logs two
    lines at import, whatever its log level)."""
    saved = None
    if quiet:
        sys.stderr.flush()
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    try:
        return importlib.import_module(module)
    except ImportError:
        missing = module.split(".")[0]
    finally:
        if saved is not None:
            os.dup2(saved, 2)
            os.close(saved)
    fail(f"Python package {missing} is missing: run scripts/setup.sh "
         f"(or set PYTHON to a Python that has it)")


def add_run_flags(p, names):
    """`rnn-lab train`'s flags `names`, with rnn-lab's defaults. The task
    and cell are checked by check_settings against rnn-lab's lists, which
    --help names when a build answers."""
    d, e = DEFAULTS["config"], DEFAULTS["execution"]
    info = rnn_lab_info(required=False)
    listed = {"task": info and [t["name"] for t in info["tasks"]], "model": info and cell_names()}
    kinds = {"init": (str, ["keras", "torch"]), "adam": (str, ["torch", "keras"]), "device": (str, None),
             "task": (str, None), "model": (str, None),
             "val_split": (float, None), "lr": (float, None), "adam_eps": (float, None),
             "clip_norm": (float, None)}
    for name in names:
        kind, choices = kinds.get(name, (int, None))
        default = e[name] if name in e else d.get(name)
        text = f"as rnn-lab train (default {default})"
        if name in listed:
            which = ", ".join(listed[name]) if listed[name] else "`rnn-lab info` lists them"
            text = f"as rnn-lab train: {which} (default {default})"
        p.add_argument("--" + name.replace("_", "-"), type=kind, default=default, choices=choices, help=text)


def check_settings(args):
    """rnn-lab's checks of the settings, worded as its flags, against the
    limits, cells and tasks rnn-lab lists; a task's older name becomes its
    name (what the run's summary.json records)."""
    info = rnn_lab_info()
    for name, allowed in info["limits"]["ranges"].items():
        value = getattr(args, name, None)
        flag = "--" + name.replace("_", "-")
        if value is not None and value < allowed["min"]:
            fail(f"{flag} must be at least {allowed['min']}, got {value}")
        if value is not None and allowed["max"] is not None and value > allowed["max"]:
            fail(f"{flag} must be at most {allowed['max']}, got {value}")
    if not 0.0 < args.val_split < 1.0:
        fail(f"--val-split must be in (0, 1), got {args.val_split}")
    if args.fit_rows >= args.samples:
        fail(f"--fit-rows ({args.fit_rows}) must be less than --samples ({args.samples}): "
             f"the rows after the fit rows are the test set")
    train = math.floor(args.fit_rows * (1.0 - args.val_split))
    if train < 1 or args.fit_rows - train < 1:
        fail(f"--val-split {args.val_split} of {args.fit_rows} fit rows leaves {train} training and "
             f"{args.fit_rows - train} validation rows; both must be at least 1")
    for name in ("lr", "adam_eps", "clip_norm"):
        value = getattr(args, name, None)
        if value is not None and not (math.isfinite(value) and value > 0):
            fail(f"--{name.replace('_', '-')} must be a positive number, got {value}")
    if getattr(args, "lr", None) is not None and args.lr > info["limits"]["max_lr"]:
        fail(f"--lr must be a positive number up to {info['limits']['max_lr']:g}, got {args.lr}")
    cells = cell_names()
    if getattr(args, "model", None) is not None and args.model.lower() not in cells:
        fail(f"unknown model '{args.model}' (expected one of: {', '.join(cells)})")
    task = task_info(getattr(args, "task", DEFAULTS["config"]["task"]))
    if hasattr(args, "task"):
        args.task = task["name"]
    if hasattr(args, "model"):
        args.model = args.model.lower()
    if args.seq_len < task["min_seq_len"]:
        fail(f"--seq-len must be at least {task['min_seq_len']} for the {task['name']} task, got {args.seq_len}")


def check_file(flag, path):
    if path is None:
        return
    if os.path.isdir(path):
        fail(f"{flag} {path} is a folder; give a file")
    if not os.path.isfile(path):
        fail(f"{flag} {path}: no such file")


def check_new_file(flag, path):
    if path is None:
        return
    if os.path.isdir(path):
        fail(f"{flag} {path} is a folder; give a file path")
    if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        fail(f"{flag} {path}: its folder does not exist; create it first")


def check_out(out, force):
    """A run folder that may be written: absent, empty, or (with --force)
    holding an earlier run, inside a writable folder. Writes nothing."""
    if os.path.exists(out) and not os.path.isdir(out):
        fail(f"--out {out} exists and is not a folder; choose another --out")
    if os.path.isdir(out) and os.listdir(out) and not force:
        fail(f"output folder {out} exists and is not empty; choose a new --out, or pass --force")
    existing = out
    while not os.path.exists(existing):
        existing = os.path.dirname(os.path.abspath(existing))
    if not os.access(existing, os.W_OK):
        fail(f"cannot write --out {out}: {existing} is not writable; choose a writable --out")


def open_out(out):
    """Makes `out` a fresh run folder: an earlier run's files are removed,
    summary first, so it never looks finished with a new history. Call
    once everything that can fail has been checked and built."""
    os.makedirs(out, exist_ok=True)
    for name in RUN_FILES:
        path = os.path.join(out, name)
        if os.path.exists(path):
            os.remove(path)


def write_atomic(path, text):
    """Writes `path` whole or not at all."""
    tmp = f"{path}.partial-{os.getpid()}"
    try:
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
