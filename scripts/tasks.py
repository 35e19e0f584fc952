"""The tasks of rnn-lab (src/nn/tasks/, src/config/task.rs) in PyTorch, op
for op on the CPU generator, so the reference rebuilds the same tensors bit
for bit. Each task's shape (features, outputs, where the answer is read,
loss) is rnn-lab's own, from `rnn-lab info --json`. Imported after torch by
the references; every definition and its source is documented in rnn-lab's
src/nn/tasks/. Tasks go by their names of today (check_settings turns an
older name into it); a task rnn-lab has and this file does not draw fails.
"""
import math

import torch

from common import fail, task_info

COPIED, SYMBOLS = 10, 8          # the copy task's symbols to recall and their alphabet
CORRECT_WITHIN = 0.04            # Hochreiter & Schmidhuber's threshold


def shape(task):
    """features, outputs, readout (last | at-length | every-step), loss
    (mse | cross-entropy), as rnn-lab lists them; an unknown task fails."""
    t = task_info(task)
    return t["features"], t["outputs"], t["readout"], t["loss"]


def not_drawn(task):
    fail(f"the {task} task is rnn-lab's, but scripts/tasks.py does not draw it yet")


def _markers(values, i, j):
    marker = torch.zeros_like(values).scatter(1, i, 1.0).scatter(1, j, 1.0)
    return torch.stack([marker, values], dim=2)


def _lengths(n, t):
    longest = t + t // 10
    lengths = torch.randint(t, longest + 1, (n,))
    inside = (torch.arange(longest).unsqueeze(0) < lengths.unsqueeze(1)).float()
    return lengths, inside


def generate(task, n, t):
    """`n` rows of length `t` from the (already seeded) CPU generator:
    x [n, steps, features] float32, y, and each row's length [n]."""
    if task in ("multiply", "blog-add"):
        values = torch.rand(n, t)
        i = torch.randint(t, (n, 1))
        j = torch.randint(t - 1, (n, 1))
        j = j + (j >= i).long()            # second marker: one of the other steps
        vi, vj = values.gather(1, i), values.gather(1, j)
        y = vi * vj if task == "multiply" else vi + vj
        return _markers(values, i, j), y, torch.full((n,), t)
    if task == "add-halves":
        half = t // 2
        values = torch.rand(n, t)
        i = torch.randint(half, (n, 1))
        j = torch.randint(t - half, (n, 1)) + half
        y = values.gather(1, i) + values.gather(1, j)
        return _markers(values, i, j), y, torch.full((n,), t)
    if task in ("hs-add", "hs-multiply"):
        add = task == "hs-add"
        lengths, inside = _lengths(n, t)
        values = torch.rand(n, inside.shape[1])
        if add:
            values = values * 2.0 - 1.0
        i = torch.randint(10, (n, 1))
        j = torch.randint(t // 2 - 2, (n, 1))
        j = j + (j >= i).long()
        last = (lengths - 1).unsqueeze(1)
        marker = (torch.zeros(n, inside.shape[1]).index_fill(1, torch.zeros(1, dtype=torch.long), -1.0)
                  .scatter(1, last, -1.0).scatter(1, i, 1.0).scatter(1, j, 1.0))
        first_marked = (i == 0) | (j == 0)
        values[:, :1] = torch.where(first_marked.logical_not(), values[:, :1], 0.0 if add else 1.0)
        values = values * inside
        x1, x2 = values.gather(1, i), values.gather(1, j)
        y = (x1 + x2) / 4.0 + 0.5 if add else x1 * x2
        return torch.stack([marker * inside, values], dim=2), y, lengths
    if task == "copy":
        steps = t + 20
        data = torch.randint(1, 9, (n, COPIED))
        inp = torch.zeros(n, steps, dtype=torch.long)
        inp[:, :COPIED] = data
        inp[:, t + 9] = 9
        target = torch.zeros(n, steps, dtype=torch.long)
        target[:, t + 10:] = data
        return torch.nn.functional.one_hot(inp, 10).float(), target, torch.full((n,), steps)
    if task != "order":
        not_drawn(task)
    lengths, inside = _lengths(n, t)
    longest = inside.shape[1]
    symbols = torch.randint(2, 6, (n, longest))
    t1 = torch.randint(t // 10, t // 5 + 1, (n, 1))
    t2 = torch.randint(t // 2, t // 2 + t // 10 + 1, (n, 1))
    s1, s2 = torch.randint(2, (n, 1)), torch.randint(2, (n, 1))
    last = (lengths - 1).unsqueeze(1)
    symbols = (symbols.scatter(1, t1, s1 + 6).scatter(1, t2, s2 + 6)
               .index_fill(1, torch.zeros(1, dtype=torch.long), 0).scatter(1, last, 1))
    x = torch.nn.functional.one_hot(symbols, 8).float() * inside.unsqueeze(2)
    return x, (s1 * 2 + s2).squeeze(1), lengths


def read(outputs, readout, lengths):
    """The top layer's outputs [B, L, H] where the task reads its answer."""
    if readout == "last":
        return outputs[:, -1, :]
    if readout == "at-length":
        return outputs[torch.arange(outputs.shape[0], device=outputs.device), lengths - 1]
    return outputs


def train_loss(loss, out, y):
    """The loss a batch trains on, as a PyTorch user writes it."""
    if loss == "mse":
        return torch.nn.functional.mse_loss(out, y)
    return torch.nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))


def set_loss(loss, out, y):
    """The loss over a whole set: every entry's summed in float32, divided in
    float64 by their count (Keras's evaluate; rnn-lab's set_loss)."""
    if loss == "mse":
        entries = (out - y) ** 2
    else:
        entries = -torch.log_softmax(out, -1).gather(-1, y.unsqueeze(-1)).squeeze(-1)
    return entries.sum().item() / entries.numel()


def baseline(task, train_y, test_y):
    """The test loss of learning nothing (rnn-lab's train::eval::baseline)."""
    if shape(task)[3] == "mse":
        return set_loss("mse", train_y.mean().expand_as(test_y), test_y)
    if task == "order":
        return math.log(4)
    if task == "copy":
        return COPIED * math.log(SYMBOLS) / test_y.shape[1]
    not_drawn(task)


def score(task, out, y, f32):
    """(failures, correctness in percent, rows, what it counts, the last
    column's name, each row's (target, prediction, last column) as text),
    as rnn-lab's store::Evaluation."""
    def result(failures, scored, what, column, lines):
        return failures, (scored - failures) / scored * 100.0, len(lines), what, column, lines

    if shape(task)[3] == "mse":
        preds, targets = out.flatten().tolist(), y.flatten().tolist()
        wrong = [not abs(f32(p) - f32(t)) <= CORRECT_WITHIN for p, t in zip(preds, targets)]
        lines = [(str(f32(t)), str(f32(p)), str(f32(abs(f32(p) - f32(t))))) for p, t in zip(preds, targets)]
        return result(sum(wrong), len(targets), "test rows within 0.04 of the target", "abs_error", lines)
    if task == "order":
        preds, targets = out.argmax(-1).tolist(), y.tolist()
        wrong = [p != t for p, t in zip(preds, targets)]
        lines = [(str(t), str(p), str(int(p == t))) for p, t in zip(preds, targets)]
        return result(sum(wrong), len(targets), "test rows classified right", "correct", lines)
    if task != "copy":
        not_drawn(task)
    preds, targets = out.argmax(-1)[:, -COPIED:].tolist(), y[:, -COPIED:].tolist()
    text = lambda row: " ".join(map(str, row))  # noqa: E731
    right = [sum(a == b for a, b in zip(p, t)) for p, t in zip(preds, targets)]
    lines = [(text(t), text(p), str(r)) for p, t, r in zip(preds, targets, right)]
    scored = COPIED * len(targets)
    return result(scored - sum(right), scored, "copied symbols recalled", "recalled", lines)
