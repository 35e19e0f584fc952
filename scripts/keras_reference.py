#!/bin/sh
# Runs under $KERAS_PYTHON, else the Keras virtualenv of `scripts/setup.sh --keras` (.venv-keras), else python3 (enough for --help).
'''':; py="${KERAS_PYTHON:-$(dirname "$0")/../.venv-keras/bin/python}"; [ -x "$py" ] || py=python3; exec "$py" "$0" "$@" # '''
__doc__ = """Keras reference for rnn-lab: the blog's own model (Sequential of two
SimpleRNN/LSTM/GRU layers and Dense(1), 'adam', 'mse') with the same flags
and output files as `rnn-lab train` where they apply. What it trains from,
one thing at a time:

  data        the blog's numpy generator, seeded with numpy.random.seed(--seed)
              (default), or rnn-lab's (--data, from `rnn-lab train --save-data`)
  weights     Keras's own initialisers, seeded with
              keras.utils.set_random_seed(--seed) (default), or rnn-lab's
              (--init-from, from `--save-init`, converted to Keras's kernel
              layout and gate order)
  batch order fit()'s own shuffling (--order keras), or rnn-lab's
              (--order data: the order in --data, batch by batch through
              Keras's own train step and Adam)

  blog path (no --data, --init-from): exactly the blog's
      `fit(X[:fit_rows], Y[:fit_rows], epochs, validation_split)`.
  lockstep path (--data and --init-from; --order data is then the default):
      rnn-lab's data, weights and batch order, so the only differences left
      are the frameworks'.

--save-init FILE writes the Keras model's initial weights in rnn-lab's
layout and names, for `rnn-lab train --init-from FILE`.

    scripts/keras_reference.py --model lstm --seed 3 --out runs/keras-blog-3
    scripts/keras_reference.py --model lstm --data d.safetensors --init-from w.safetensors --out runs/keras-lock
    scripts/keras_reference.py --model lstm --data d.safetensors --init-from w.safetensors --order keras --out runs/x
"""
import argparse
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (add_run_flags, check_file, check_new_file, check_out, check_settings, fail,  # noqa: E402
                    guard, history_fields, need, open_out, write_atomic)

CORRECT_WITHIN = 0.04
EVAL_CHUNK = 1024
SETTINGS = ["model", "samples", "seq_len", "fit_rows", "val_split", "units", "layers", "lr", "adam_eps",
            "batch_size", "epochs", "seed", "threads"]


# The cells Keras has as layers (LAYERS below, once Keras is imported; the
# IRNN is its SimpleRNN with ReLU).
KERAS_CELLS = ("rnn", "irnn", "lstm", "gru")


def parse_args(argv):
    """The flags, checked before Keras is imported or a file is touched."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_flags(p, SETTINGS)
    p.add_argument("--data", help="rnn-lab's --save-data file (x, y, order): its data, and for lockstep its batch order")
    p.add_argument("--init-from", help="rnn-lab's --save-init weights instead of Keras's initialisers")
    p.add_argument("--order", choices=["data", "keras"],
                   help="batch order: rnn-lab's from --data, or fit()'s shuffling "
                        "(default: data with --data and --init-from, else keras)")
    p.add_argument("--save-init", help="write the initial weights in rnn-lab's layout, for rnn-lab --init-from")
    p.add_argument("--out", required=True)
    p.add_argument("--force", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    args = p.parse_args(argv)
    check_settings(args)
    if args.model not in KERAS_CELLS:
        fail(f"--model {args.model}: Keras has no such layer; the Keras reference runs {', '.join(KERAS_CELLS)}")
    if args.order is None:
        args.order = "data" if args.data and args.init_from else "keras"
    if args.order == "data" and not args.data:
        fail("--order data needs --data, the file that holds rnn-lab's batch order")
    check_file("--data", args.data)
    check_file("--init-from", args.init_from)
    check_new_file("--save-init", args.save_init)
    check_out(args.out, args.force)
    return args


if __name__ == "__main__":
    ARGS = parse_args(sys.argv[1:])
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
np = need("numpy")
keras = need("keras", quiet=True)
load_file, save_file = need("safetensors.numpy").load_file, need("safetensors.numpy").save_file
LAYERS = {"rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}
# Le et al. 2015's IRNN in Keras: a ReLU SimpleRNN from the identity, the other weights N(0, 0.001).
IRNN_NORMAL = {"mean": 0.0, "stddev": 0.001}


def blog_data(samples, seq_len, seed):
    """The blog's numpy generator, seeded."""
    np.random.seed(seed)
    X, Y = [], []
    for _ in range(samples):
        lst = np.random.rand(seq_len)
        idx = np.random.choice(seq_len, 2, replace=False)
        zeros = np.zeros(seq_len)
        zeros[idx] = 1
        X.append(np.array(list(zip(zeros, lst))))
        Y.append(np.prod(lst[idx]))
    return np.array(X, dtype=np.float32), np.array(Y, dtype=np.float32).reshape(-1, 1)


def build(model, units, layers, seq_len):
    stack = [keras.Input(shape=(seq_len, 2))]
    for i in range(layers):
        sequences = i + 1 < layers
        if model == "irnn":
            stack.append(keras.layers.SimpleRNN(
                units=units, activation="relu", return_sequences=sequences,
                kernel_initializer=keras.initializers.RandomNormal(**IRNN_NORMAL),
                recurrent_initializer=keras.initializers.Identity()))
        else:
            stack.append(LAYERS[model](units=units, return_sequences=sequences))
    head = keras.initializers.RandomNormal(**IRNN_NORMAL) if model == "irnn" else "glorot_uniform"
    stack.append(keras.layers.Dense(1, kernel_initializer=head))
    return keras.Sequential(stack)


def torch_gru_to_keras(w, units):
    """PyTorch stacks GRU gates r, z, n; Keras z, r, h."""
    r, z, n = w[:units], w[units:2 * units], w[2 * units:]
    return np.concatenate([z, r, n], axis=0)


def load_torch_weights(net, path, model, units, layers):
    """rnn-lab's (PyTorch-named, PyTorch-layout) weights into the Keras model."""
    try:
        w = load_file(path)
    except Exception as e:
        fail(f"--init-from {path} is not a safetensors file ({str(e).splitlines()[0]})")
    names = [f"rnn.{k}_l{i}" for i in range(layers) for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    missing = [n for n in names + ["head.weight", "head.bias"] if n not in w]
    if missing:
        fail(f"--init-from {path} has no tensor '{missing[0]}': was it saved for this --model/--layers?")
    for i in range(layers):
        layer = net.layers[i]
        w_ih, w_hh = w[f"rnn.weight_ih_l{i}"], w[f"rnn.weight_hh_l{i}"]
        b_ih, b_hh = w[f"rnn.bias_ih_l{i}"], w[f"rnn.bias_hh_l{i}"]
        if model == "gru":
            kernel = torch_gru_to_keras(w_ih, units).T
            recurrent = torch_gru_to_keras(w_hh, units).T
            bias = np.stack([torch_gru_to_keras(b_ih, units), torch_gru_to_keras(b_hh, units)])
        else:
            # Keras has one bias: rnn-lab's Keras scheme keeps bias_hh a frozen zero.
            if np.any(b_hh != 0):
                fail(f"--init-from {path}: rnn.bias_hh_l{i} is not zero; Keras's {model} has a single bias")
            kernel, recurrent, bias = w_ih.T, w_hh.T, b_ih
        try:
            layer.set_weights([kernel, recurrent, bias])
        except ValueError as e:
            fail(f"--init-from {path} does not fit this model: {str(e).splitlines()[0]}")
    net.layers[layers].set_weights([w["head.weight"].T, w["head.bias"]])


def keras_weights_as_torch(net, model, units, layers):
    """The Keras model's weights under rnn-lab's (PyTorch's) names and layout."""
    out = {}
    for i in range(layers):
        kernel, recurrent, bias = net.layers[i].get_weights()
        if model == "gru":
            # Keras z, r, h -> PyTorch r, z, n (the same swap both ways); reset_after: two biases.
            out[f"rnn.weight_ih_l{i}"] = torch_gru_to_keras(kernel.T, units)
            out[f"rnn.weight_hh_l{i}"] = torch_gru_to_keras(recurrent.T, units)
            out[f"rnn.bias_ih_l{i}"] = torch_gru_to_keras(bias[0], units)
            out[f"rnn.bias_hh_l{i}"] = torch_gru_to_keras(bias[1], units)
        else:
            out[f"rnn.weight_ih_l{i}"] = kernel.T
            out[f"rnn.weight_hh_l{i}"] = recurrent.T
            out[f"rnn.bias_ih_l{i}"] = bias
            out[f"rnn.bias_hh_l{i}"] = np.zeros_like(bias)
    head_w, head_b = net.layers[layers].get_weights()
    out["head.weight"], out["head.bias"] = head_w.T, head_b
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


def read_data(args, train_rows, with_order):
    """--data, checked whole: x and y of this run's size, and its batch
    orders when they are used."""
    try:
        data = load_file(args.data)
    except Exception as e:
        fail(f"--data {args.data} is not a safetensors file ({str(e).splitlines()[0]})")
    for name in ("x", "y") + (("order",) if with_order else ()):
        if name not in data:
            fail(f"--data {args.data} has no tensor '{name}': write it with rnn-lab train --save-data")
    x = data["x"]
    if x.ndim != 3 or x.shape[0] != args.samples or x.shape[1] != args.seq_len:
        fail(f"--data {args.data} holds x of shape {list(x.shape)}, not "
             f"--samples {args.samples} x --seq-len {args.seq_len} x 2")
    if with_order:
        order = data["order"]
        if order.ndim != 2 or order.shape[0] < args.epochs or order.shape[1] != train_rows:
            fail(f"--data {args.data} has batch orders of shape {list(order.shape)}; "
                 f"need {args.epochs} of {train_rows} rows")
    return data


def predict(net, x):
    return np.concatenate([net(x[i:i + EVAL_CHUNK], training=False).numpy() for i in range(0, len(x), EVAL_CHUNK)])


def mse(pred, y):
    return float(np.square(pred.astype(np.float32) - y).sum(dtype=np.float32)) / len(y)


def f32(x):
    return str(np.float32(x))


def main(args):
    tf = need("tensorflow", quiet=True)
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    out = args.out
    rnnlab_order = args.order == "data"
    train_rows = int(math.floor(args.fit_rows * (1.0 - args.val_split)))
    if args.data:
        data = read_data(args, train_rows, rnnlab_order)
        x, y = data["x"], data["y"]
    else:
        x, y = blog_data(args.samples, args.seq_len, args.seed)
    keras.utils.set_random_seed(args.seed)
    net = build(args.model, args.units, args.layers, args.seq_len)
    opt = keras.optimizers.Adam(learning_rate=args.lr, beta_1=0.9, beta_2=0.999, epsilon=args.adam_eps)
    net.compile(optimizer=opt, loss="mse")
    if args.init_from:
        load_torch_weights(net, args.init_from, args.model, args.units, args.layers)
    # Everything is checked and built: only now is an earlier run replaced.
    open_out(out)
    if args.save_init:
        tmp = args.save_init + ".partial"
        save_file(keras_weights_as_torch(net, args.model, args.units, args.layers), tmp)
        os.replace(tmp, args.save_init)
    tx, ty = x[:train_rows], y[:train_rows]
    vx, vy = x[train_rows:args.fit_rows], y[train_rows:args.fit_rows]
    sx, sy = x[args.fit_rows:], y[args.fit_rows:]
    started = time.perf_counter()
    history = []
    path = os.path.join(out, "history.csv")
    with open(path, "w") as hist:
        hist.write("epoch,loss,val_loss,seconds,train_seconds\n")
        if rnnlab_order:
            order = data["order"]
            for epoch in range(args.epochs):
                t0 = time.perf_counter()
                total = 0.0
                for first in range(0, train_rows, args.batch_size):
                    idx = order[epoch, first:first + args.batch_size]
                    loss = net.train_on_batch(tx[idx], ty[idx])
                    total += float(loss) * len(idx)
                loss = total / train_rows
                train_seconds = time.perf_counter() - t0
                val_loss = mse(predict(net, vx), vy)
                seconds = time.perf_counter() - t0
                history.append((loss, val_loss, seconds, train_seconds))
                hist.write(f"{epoch},{f32(loss)},{f32(val_loss)},{seconds:.4f},{train_seconds:.4f}\n")
                hist.flush()
                if not args.quiet:
                    print(f"Epoch {epoch + 1}/{args.epochs} - loss: {loss:.4g} - val_loss: {val_loss:.4g}", flush=True)
        else:
            class Log(keras.callbacks.Callback):
                def on_epoch_begin(self, epoch, logs=None):
                    self.t0 = time.perf_counter()

                def on_epoch_end(self, epoch, logs=None):
                    seconds = time.perf_counter() - self.t0
                    history.append((logs["loss"], logs["val_loss"], seconds, seconds))
                    hist.write(f"{epoch},{f32(logs['loss'])},{f32(logs['val_loss'])},{seconds:.4f},{seconds:.4f}\n")
                    hist.flush()
            net.fit(x[:args.fit_rows], y[:args.fit_rows], epochs=args.epochs, batch_size=args.batch_size,
                    validation_split=args.val_split, verbose=0 if args.quiet else 2, callbacks=[Log()])

    pred = predict(net, sx)
    test_mse = mse(pred, sy)
    errors = np.abs(pred.astype(np.float32) - sy)
    failures = int((~(errors <= CORRECT_WITHIN)).sum())
    correctness = (len(sy) - failures) / len(sy) * 100.0
    lines = ["row,target,prediction,abs_error\n"] + [
        f"{args.fit_rows + k},{f32(sy[k, 0])},{f32(pred[k, 0])},{f32(errors[k, 0])}\n" for k in range(len(sy))]
    write_atomic(os.path.join(out, "predictions.csv"), "".join(lines))
    summary = {
        "config": {"task": "multiply", "samples": args.samples, "seq_len": args.seq_len, "fit_rows": args.fit_rows,
                   "val_split": args.val_split, "model": args.model, "units": args.units, "layers": args.layers,
                   "init": "keras", "lr": args.lr, "adam_eps": args.adam_eps, "batch_size": args.batch_size,
                   "epochs": args.epochs, "seed": args.seed},
        # Lockstep only when all three come from rnn-lab: then its seeds pair with rnn-lab's.
        "path": "lockstep" if rnnlab_order and args.data and args.init_from else "blog",
        "data": "rnn-lab --save-data" if args.data else "the blog's numpy generator, numpy.random.seed(seed)",
        "init": "rnn-lab --save-init" if args.init_from else "Keras's initialisers, keras.utils.set_random_seed(seed)",
        "order": "rnn-lab's, from --data" if rnnlab_order else "fit()'s shuffling",
        "device": "cpu",
        "threads": args.threads,
        "versions": {"implementation": "keras-reference", "keras": keras.__version__, "backend": keras.backend.backend(),
                     "tensorflow": tf.__version__},
        "split": {"train": train_rows, "val": len(vy), "test": len(sy)},
        "parameters": int(net.count_params()),
        **history_fields(history, started),
        "test_mse": test_mse,
        "correctness": correctness,
        "test_failures": failures,
        "test_rows": len(sy),
    }
    write_atomic(os.path.join(out, "summary.json"), json.dumps(summary, indent=2) + "\n")
    if not args.quiet:
        print(f"correctness: {correctness:.2f} %")


if __name__ == "__main__":
    guard(main, ARGS)
