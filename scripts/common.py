"""What the Python scripts share (standard library only, so it loads under
any of their interpreters and before their heavy imports): rnn-lab's
defaults, the run flags they take as `rnn-lab train` does, the checks of
those flags and of a run folder, and errors as one line with exit 1.

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
TASKS = ("multiply", "add", "add-halves", "hs-add", "hs-multiply", "copy", "order")
CELLS = ("rnn", "irnn", "lstm", "gru")
# The shortest --seq-len each task's definition allows (rnn-lab's Task::min_seq_len).
MIN_SEQ_LEN = {"multiply": 2, "add": 2, "add-halves": 2, "hs-add": 22, "hs-multiply": 22, "copy": 1, "order": 20}


def rnn_lab_info():
    """`rnn-lab info --json` of $RNN_LAB_BIN, else this clone's release
    build; None (with a note on stderr) when neither runs."""
    import subprocess
    binary = os.environ.get("RNN_LAB_BIN") or os.path.join(HERE, "..", "target", "release", "rnn-lab")
    try:
        out = subprocess.run([binary, "info", "--json"], capture_output=True, text=True, check=True)
        return json.loads(out.stdout)
    except (OSError, subprocess.CalledProcessError, ValueError) as e:
        print(f"{PROG}: cannot ask {binary} (build it, or set RNN_LAB_BIN): {e}", file=sys.stderr)
        return None


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
    """`rnn-lab train`'s flags `names`, with rnn-lab's defaults."""
    d, e = DEFAULTS["config"], DEFAULTS["execution"]
    kinds = {"task": (str, TASKS), "model": (str, CELLS),
             "init": (str, ["keras", "torch"]), "adam": (str, ["torch", "keras"]), "device": (str, None),
             "val_split": (float, None), "lr": (float, None), "adam_eps": (float, None),
             "clip_norm": (float, None)}
    for name in names:
        kind, choices = kinds.get(name, (int, None))
        default = e[name] if name in e else d.get(name)
        p.add_argument("--" + name.replace("_", "-"), type=kind, default=default, choices=choices,
                       help=f"as rnn-lab train (default {default})")


def check_settings(args):
    """rnn-lab's checks of the settings, worded as its flags."""
    for name, low in (("samples", 1), ("fit_rows", 1), ("units", 1), ("layers", 1),
                      ("batch_size", 1), ("epochs", 1), ("threads", 1)):
        value = getattr(args, name, None)
        if value is not None and value < low:
            fail(f"--{name.replace('_', '-')} must be at least {low}, got {value}")
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
    task = getattr(args, "task", "multiply")
    if args.seq_len < MIN_SEQ_LEN[task]:
        fail(f"--seq-len must be at least {MIN_SEQ_LEN[task]} for the {task} task, got {args.seq_len}")


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
