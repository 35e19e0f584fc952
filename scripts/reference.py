#!/bin/sh
# Runs under $PYTHON, else the Python scripts/setup.sh installed (.venv), else python3 (enough for --help).
'''':; py="${PYTHON:-$(dirname "$0")/../.venv/bin/python}"; [ -x "$py" ] || py=python3; exec "$py" "$0" "$@" # '''
__doc__ = """PyTorch reference for rnn-lab: the same experiment written the way a
PyTorch user would (nn.RNN/LSTM/GRU and the hand-written cells of
scripts/cells.py, nn.Linear, torch.optim.Adam, an explicit loop), with the
same flags and output files as `rnn-lab train`.

The data are rebuilt from the seed alone (the same libtorch ops on the same
CPU generator as rnn-lab), the batch order too; with --init-from it starts
from rnn-lab's initial weights, so both runs are the same computation.

Extra modes:
  --predict-from PATH  load a model.safetensors (rnn-lab's) and print the
                       test predictions as CSV instead of training
  --dump-data PATH     write the generated x and y as safetensors and exit
"""
import argparse
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (add_run_flags, check_file, check_new_file, check_out, check_settings,  # noqa: E402
                    fail, guard, history_fields, need, open_out, write_atomic)

RUN_SETTINGS = ["task", "samples", "seq_len", "fit_rows", "val_split", "model", "units", "layers", "init", "lr",
                "adam_eps", "adam", "batch_size", "epochs", "seed", "clip_norm"]


def parse_args(argv):
    """The flags, checked before anything is imported, built or written."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_flags(p, RUN_SETTINGS + ["device", "threads"])
    p.add_argument("--out")
    p.add_argument("--force", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--init-from", help="start from these weights (safetensors)")
    p.add_argument("--save-init", help="write the initial weights (safetensors)")
    p.add_argument("--predict-from", help="print test predictions of these weights, no training")
    p.add_argument("--dump-data", help="write x and y (safetensors) and exit")
    args = p.parse_args(argv)
    check_settings(args)
    check_file("--init-from", args.init_from)
    check_file("--predict-from", args.predict_from)
    check_new_file("--save-init", args.save_init)
    check_new_file("--dump-data", args.dump_data)
    if not (args.predict_from or args.dump_data):
        args.out = args.out or f"runs/reference-{args.model}-seed{args.seed}"
        check_out(args.out, args.force)
    return args


if __name__ == "__main__":
    ARGS = parse_args(sys.argv[1:])
np = need("numpy")
torch = need("torch")
F = need("torch.nn.functional")
nn = need("torch.nn")
load_file, save_file = need("safetensors.torch").load_file, need("safetensors.torch").save_file
tasks = need("tasks")
cells = need("cells")

DATA, INIT, SHUFFLE = 1, 2, 3          # seed streams, as rnn-lab's seed.rs
EVAL_CHUNK = 1024                      # rows per forward pass when evaluating
MASK64 = (1 << 64) - 1


def seed_stream(seed, stream):
    """SplitMix64 of (seed, stream), cut to 63 bits: rnn-lab's seed_stream."""
    z = (seed * 0x9E3779B97F4A7C15 + stream) & MASK64
    z = (z + 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    z ^= z >> 31
    return z >> 1


def generate(task, samples, seq_len, seed):
    """The task's rows from the seed's data stream (scripts/tasks.py)."""
    torch.manual_seed(seed_stream(seed, DATA))
    return tasks.generate(task, samples, seq_len)


def split(data, fit_rows, val_split):
    """Keras's fit(validation_split): validation = last rows of the fit rows."""
    train = int(math.floor(fit_rows * (1.0 - val_split)))
    return ([t[:train] for t in data], [t[train:fit_rows] for t in data], [t[fit_rows:] for t in data])


class Net(nn.Module):
    """The cell (scripts/cells.py) and a linear head on the steps the task reads."""

    def __init__(self, task, cell, units, layers, steps):
        super().__init__()
        features, outputs, self.readout, _ = tasks.shape(task)
        self.rnn = cells.CELLS[cell](features, units, layers, steps)
        self.head = nn.Linear(units, outputs)

    def forward(self, x, lengths):
        return self.head(tasks.read(self.rnn(x), self.readout, lengths))


def build(args, steps, device):
    """The network, from --init-from's weights or drawn from the seed's init
    stream; `steps` is the data's padded length (a cell's bounds may depend on it)."""
    net = Net(args.task, args.model, args.units, args.layers, steps)
    if args.init_from:
        try:
            net.load_state_dict(load_file(args.init_from))
        except Exception as e:  # a file that is not safetensors, or of another model
            fail(f"--init-from {args.init_from}: cannot load it into a {args.model} of {args.units} units "
                 f"x {args.layers} layers for the {args.task} task ({str(e).splitlines()[0]})")
    else:
        torch.manual_seed(seed_stream(args.seed, INIT))
        net.rnn.init_(args.init, net.head)
    net.rnn.freeze_(args.init)
    return net.to(device)


@torch.no_grad()
def predict(net, x, lengths):
    return torch.cat([net(x[i:i + EVAL_CHUNK], lengths[i:i + EVAL_CHUNK]) for i in range(0, x.shape[0], EVAL_CHUNK)])


def f32(x):
    return np.float32(x)


def resolve_device(spec):
    if spec == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if spec.startswith("cuda") and not torch.cuda.is_available():
        fail(f"--device {spec}: no CUDA device is visible; use --device cpu (or auto)")
    if spec not in ("cpu", "cuda") and not spec.startswith("cuda:"):
        fail(f"unknown device '{spec}' (expected auto, cpu, cuda or cuda:N)")
    return torch.device("cuda:0" if spec == "cuda" else spec)


def predictions_csv(column, lines, first_row):
    text = [f"row,target,prediction,{column}"]
    text += [f"{first_row + k},{t},{p},{last}" for k, (t, p, last) in enumerate(lines)]
    return "\n".join(text) + "\n"


class KerasAdam(torch.optim.Optimizer):
    """Keras 3's Adam.update_step: bias correction folded into the step
    size, epsilon added to the uncorrected sqrt(v), in float32."""

    def __init__(self, params, lr, eps):
        super().__init__(params, {"lr": lr, "eps": eps})
        self.t = 0

    @torch.no_grad()
    def step(self):
        self.t += 1
        b1, b2 = torch.tensor(0.9), torch.tensor(0.999)
        for group in self.param_groups:
            alpha = torch.tensor(group["lr"]) * torch.sqrt(1 - b2 ** self.t) / (1 - b1 ** self.t)
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["m"], state["v"] = torch.zeros_like(p), torch.zeros_like(p)
                m, v = state["m"], state["v"]
                m.add_((p.grad - m) * (1 - 0.9))
                v.add_((p.grad.square() - v) * (1 - 0.999))
                p.sub_(m * alpha.item() / (v.sqrt() + group["eps"]))


def main(args):
    if args.model not in cells.CELLS:
        fail(f"--model {args.model}: rnn-lab has it, scripts/cells.py not yet; add its class there")
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    loss_kind = tasks.shape(args.task)[3]
    x, y, lengths = generate(args.task, args.samples, args.seq_len, args.seed)
    if args.dump_data:
        save_file({"x": x, "y": y, "lengths": lengths}, args.dump_data)
        return
    (tx, ty, tl), (vx, vy, vl), (sx, sy, sl) = [[t.to(device) for t in part]
                                                for part in split((x, y, lengths), args.fit_rows, args.val_split)]

    if args.predict_from:
        args.init_from = args.predict_from
        net = build(args, x.shape[1], device)
        _, _, _, _, column, lines = tasks.score(args.task, predict(net, sx, sl).cpu(), sy.cpu(), f32)
        sys.stdout.write(predictions_csv(column, lines, args.fit_rows))
        return

    out = args.out
    started = time.perf_counter()
    net = build(args, x.shape[1], device)
    # Everything is checked and built: only now is an earlier run replaced.
    open_out(out)
    if args.save_init:
        save_file({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}, args.save_init)
    params = [p for p in net.parameters() if p.requires_grad]
    if args.adam == "keras":
        opt = KerasAdam(params, lr=args.lr, eps=args.adam_eps)
    else:
        opt = torch.optim.Adam(params, lr=args.lr, betas=(0.9, 0.999), eps=args.adam_eps)
    n = tx.shape[0]
    batches = (n + args.batch_size - 1) // args.batch_size
    torch.manual_seed(seed_stream(args.seed, SHUFFLE))
    history = []
    with open(os.path.join(out, "history.csv"), "w") as hist:
        hist.write("epoch,loss,val_loss,seconds,train_seconds\n")
        hist.flush()
        for epoch in range(args.epochs):
            t0 = time.perf_counter()
            order = torch.randperm(n).to(device)
            total = torch.zeros((), dtype=torch.float64, device=device)
            for first in range(0, n, args.batch_size):
                idx = order[first:first + args.batch_size]
                out_b = net(tx.index_select(0, idx), tl.index_select(0, idx))
                loss = tasks.train_loss(loss_kind, out_b, ty.index_select(0, idx))
                opt.zero_grad()
                loss.backward()
                if args.clip_norm is not None:
                    torch.nn.utils.clip_grad_norm_(params, args.clip_norm)
                opt.step()
                net.rnn.constrain_()
                total += loss.detach().double() * idx.shape[0]
            loss = total.item() / n
            train_seconds = time.perf_counter() - t0
            val_loss = tasks.set_loss(loss_kind, predict(net, vx, vl), vy)
            seconds = time.perf_counter() - t0
            history.append((loss, val_loss, seconds, train_seconds))
            hist.write(f"{epoch},{f32(loss)},{f32(val_loss)},{seconds:.4f},{train_seconds:.4f}\n")
            hist.flush()
            if not args.quiet:
                print(f"Epoch {epoch + 1}/{args.epochs} - {batches}/{batches} - {seconds:.2f}s"
                      f" - loss: {loss:.4g} - val_loss: {val_loss:.4g}", flush=True)
            if not (math.isfinite(loss) and math.isfinite(val_loss)):
                fail(f"training diverged: loss {loss} and val_loss {val_loss} in epoch {epoch + 1}/{args.epochs}")

    pred = predict(net, sx, sl)
    test_loss = tasks.set_loss(loss_kind, pred, sy)
    chance = tasks.baseline(args.task, ty, sy)
    failures, correctness, rows, what, column, lines = tasks.score(args.task, pred.cpu(), sy.cpu(), f32)
    write_atomic(os.path.join(out, "predictions.csv"), predictions_csv(column, lines, args.fit_rows))
    save_file({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()},
              os.path.join(out, "model.safetensors"))
    config = {k: getattr(args, k) for k in RUN_SETTINGS if not (k == "clip_norm" and args.clip_norm is None)}
    mse = loss_kind == "mse"
    summary = {
        "config": config,
        "device": str(device),
        "threads": args.threads,
        "versions": {"implementation": "pytorch-reference", "torch": torch.__version__,
                     "cuda_runtime": torch.version.cuda if device.type == "cuda" else None,
                     "cudnn": torch.backends.cudnn.version() if device.type == "cuda" else None},
        "split": {"train": n, "val": vx.shape[0], "test": sx.shape[0]},
        "parameters": sum(p.numel() for p in params),
        **history_fields(history, started),
        **({"test_mse": test_loss, "baseline_mse": chance} if mse else {}),
        "test_loss": test_loss,
        "baseline_loss": chance,
        "correctness": correctness,
        "score": what,
        "test_failures": failures,
        "test_rows": rows,
    }
    write_atomic(os.path.join(out, "summary.json"), json.dumps(summary, indent=2) + "\n")
    if not args.quiet:
        print(f"test {'mse' if mse else 'cross-entropy'}: {test_loss:.4g} (chance: {chance:.4g})")
        for t, p, last in lines[:5]:
            print(f"{t}\t{p}\t{last}")
        print(f"correctness: {correctness:.2f} %")


if __name__ == "__main__":
    guard(main, ARGS)
