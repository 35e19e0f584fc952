"""Self-test of scripts/cells.py: each hand-written cell against the cells
contract's step formulas written out again here, its initial draws against
the contract's ops and bounds, IndRNN's constraint; PyTorch's own cells
keep their parameter names and shapes. Prints the largest difference of
each check; exits 1 if any fails.

    python scripts/test_cells.py
"""
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import need  # noqa: E402

torch = need("torch")
F = need("torch.nn.functional")
nn = need("torch.nn")
cells = need("cells")
reference = need("reference")

UNITS, LAYERS, BATCH, LENGTH, FEATURES = 5, 2, 3, 40, 2
# Largest allowed difference, relative to the largest magnitude compared.
RTOL = {torch.float64: 1e-12, torch.float32: 1e-6}
# The log-space scan in float32 loses |a*| * 6e-8 in log h, a* = the running
# sum of log coefficients (about -40 after 40 steps): about 3e-6 relative,
# where the step loop keeps 1e-7 (both printed against float64).
SCAN_RTOL = {torch.float64: 1e-12, torch.float32: 1e-5}
NEW = ("indrnn", "mingru", "minlstm", "lru")
failures = []


def check(what, ok, detail):
    print(f"{'ok  ' if ok else 'FAIL'} {what}: {detail}")
    if not ok:
        failures.append(what)


def relative(a, b):
    """max |a - b| / max |b|."""
    return ((a - b).abs().max() / b.abs().max()).item()


def close(what, a, b, rtol):
    diff = relative(a, b)
    check(what, diff <= rtol, f"largest difference {diff:.2e} (relative, allowed {rtol:.0e})")


def random_cell(name, dtype, seed=0):
    """A cell with its own init, then every parameter moved by N(0, 0.1^2)."""
    torch.manual_seed(seed)
    cell = cells.CELLS[name](FEATURES, UNITS, LAYERS, LENGTH)
    cell.init_("torch", nn.Linear(UNITS, 1))
    with torch.no_grad():
        for p in cell.parameters():
            p.add_(0.1 * torch.randn(p.shape))
    return cell.to(dtype)


def layer(cell, n):
    return {name.rsplit("_l", 1)[0]: p for name, p in cell.named_parameters() if name.endswith(f"_l{n}")}


# The contract's step formulas, written out again (complex numbers for the LRU).
def g(v):
    return torch.where(v >= 0, v + 0.5, torch.sigmoid(v))


def contract_layer(name, p, x):
    B, H = x.shape[0], UNITS
    h = torch.zeros(B, H, dtype=x.dtype if name != "lru" else x.dtype.to_complex())
    outs = []
    for t in range(x.shape[1]):
        x_t = x[:, t]
        if name == "indrnn":
            h = torch.relu(x_t @ p["weight_ih"].T + p["bias_ih"] + p["weight_hh"] * h)
            out = h
        elif name == "mingru":
            a, k = (x_t @ p["weight_ih"].T + p["bias_ih"]).split(H, dim=1)
            z = torch.sigmoid(k)
            h = (1 - z) * h + z * g(a)
            out = h
        elif name == "minlstm":
            a, pf, pi = (x_t @ p["weight_ih"].T + p["bias_ih"]).split(H, dim=1)
            f, i = torch.sigmoid(pf), torch.sigmoid(pi)
            h = f / (f + i) * h + i / (f + i) * g(a)
            out = h
        else:
            lam = torch.exp(-torch.exp(p["nu_log"])) * torch.exp(1j * torch.exp(p["theta_log"]))
            Bc, Cc = torch.complex(p["B_re"], p["B_im"]), torch.complex(p["C_re"], p["C_im"])
            h = lam * h + torch.exp(p["gamma_log"]) * (x_t.to(h.dtype) @ Bc.T)
            out = F.gelu((h @ Cc.T).real + x_t @ p["D"].T)
        outs.append(out)
    return torch.stack(outs, dim=1)


def test_forward():
    for dtype in (torch.float64, torch.float32):
        kind = str(dtype).removeprefix("torch.")
        torch.manual_seed(1)
        x = torch.rand(BATCH, LENGTH, FEATURES, dtype=dtype) * 2 - 1
        for name in NEW:
            cell = random_cell(name, dtype)
            with torch.no_grad():
                got = cell(x)
                want = x
                for n in range(LAYERS):
                    want = contract_layer(name, layer(cell, n), want)
            check(f"{name} {kind} output shape", got.shape == (BATCH, LENGTH, UNITS), str(tuple(got.shape)))
            if name == "lru":   # its forward batches B, C and D over time
                with torch.no_grad():
                    seq = x
                    for n in range(LAYERS):
                        seq = cell.step_loop(n, seq)
                close(f"lru {kind} forward = its step loop", got, seq, RTOL[dtype])
            scan = name in ("mingru", "minlstm")
            close(f"{name} {kind} forward = contract's step loop", got, want, (SCAN_RTOL if scan else RTOL)[dtype])
            if scan:
                with torch.no_grad():
                    seq = x
                    for n in range(LAYERS):
                        seq = cell.step_loop(n, seq)
                    truth = random_cell(name, torch.float64)(x.double())
                close(f"{name} {kind} log-space scan = its step loop", got, seq, SCAN_RTOL[dtype])
                if dtype == torch.float32:    # where the difference comes from
                    close(f"{name} float32 log-space scan = float64's", got.double(), truth, SCAN_RTOL[dtype])
                    close(f"{name} float32 step loop = float64's", seq.double(), truth, RTOL[dtype])
            loss = cell(x).square().mean()
            loss.backward()
            grads = [p.grad for p in cell.parameters()]
            check(f"{name} {kind} gradients finite, all parameters reached",
                  all(gr is not None and torch.isfinite(gr).all() for gr in grads),
                  f"{sum(gr is not None for gr in grads)}/{len(grads)} parameters")


def test_init():
    """Bounds and spreads at a larger size, and bit for bit the contract's ops."""
    features, units, layers, steps = 16, 256, 2, 120
    for name in NEW:
        cell = cells.CELLS[name](features, units, layers, steps)
        head = nn.Linear(units, 3)
        torch.manual_seed(7)
        cell.init_("keras", head)
        torch.manual_seed(7)
        want = contract_draws(name, features, units, layers, steps)
        got = {k: v for k, v in cell.state_dict().items()}
        same = list(got) == list(want) and all(torch.equal(got[k], want[k]) for k in want)
        worst = max((got[k] - want[k]).abs().max().item() for k in want) if list(got) == list(want) else float("nan")
        check(f"{name} init = the contract's ops in parameter order", same,
              f"keys {list(got)[:4]}..., largest difference {worst:.1e}")
        lim = cells.glorot_limit(units, 3)
        check(f"{name} head: keras scheme's glorot draw after the cell's",
              head.weight.abs().max().item() <= lim and head.bias.abs().max().item() == 0.0,
              f"|w| max {head.weight.abs().max().item():.4f} <= {lim:.4f}")
        for n in range(layers):
            p = layer(cell, n)
            inputs = features if n == 0 else units
            if name == "indrnn":
                u_bound = 2 ** (1 / steps)
                u_low = 1 / u_bound
                low = u_low if n == layers - 1 else 0.0
                u = p["weight_hh"]
                check(f"indrnn l{n} weight_hh in [{low:.4f}, {u_bound:.4f}]",
                      low <= u.min().item() and u.max().item() <= u_bound,
                      f"min {u.min().item():.4f} max {u.max().item():.4f} mean {u.mean().item():.4f}")
                spread(f"indrnn l{n} weight_ih N(0, 0.001)", p["weight_ih"], None, 0.001)
                check(f"indrnn l{n} bias_ih zero", p["bias_ih"].abs().max().item() == 0, "")
            elif name in ("mingru", "minlstm"):
                b = 1 / math.sqrt(inputs)
                spread(f"{name} l{n} weight_ih U(+-{b:.4f})", p["weight_ih"], b, b / math.sqrt(3))
                spread(f"{name} l{n} bias_ih U(+-{b:.4f})", p["bias_ih"], b, None)
            else:
                modulus = torch.exp(-torch.exp(p["nu_log"]))
                phase = torch.exp(p["theta_log"])
                check(f"lru l{n} |lambda| in [0.9, 0.999]",
                      0.9 <= modulus.min().item() and modulus.max().item() <= 0.999,
                      f"min {modulus.min().item():.5f} max {modulus.max().item():.5f}")
                check(f"lru l{n} phase in [0, pi/10]",
                      0 <= phase.min().item() and phase.max().item() <= math.pi / 10 * (1 + 1e-6),
                      f"min {phase.min().item():.5f} max {phase.max().item():.5f}")
                gamma = torch.exp(p["gamma_log"])
                close(f"lru l{n} gamma = sqrt(1 - |lambda|^2)", gamma, torch.sqrt(1 - modulus ** 2), 1e-6)
                for leaf, std in (("B_re", 1 / math.sqrt(2 * inputs)), ("B_im", 1 / math.sqrt(2 * inputs)),
                                  ("C_re", 1 / math.sqrt(units)), ("C_im", 1 / math.sqrt(units)),
                                  ("D", 1 / math.sqrt(inputs))):
                    spread(f"lru l{n} {leaf} N(0, {std:.4f}^2)", p[leaf], None, std)


def spread(what, t, bound, std):
    """Within +-bound (if given), standard deviation within 5 % of std (if given)."""
    got_std = t.std().item()
    ok = (bound is None or t.abs().max().item() <= bound) and (std is None or abs(got_std / std - 1) < 0.05)
    check(what, ok, f"|max| {t.abs().max().item():.4f} std {got_std:.4f}" + (f" (want {std:.4f})" if std else ""))


def contract_draws(name, features, units, layers, steps):
    """The contract's init, op for op, as rnn.* names."""
    out = {}
    for n in range(layers):
        inputs = features if n == 0 else units
        if name == "indrnn":
            out[f"weight_ih_l{n}"] = torch.randn(units, inputs) * 0.001
            low = 1 / 2 ** (1 / steps) if n == layers - 1 else 0.0
            out[f"weight_hh_l{n}"] = torch.empty(units).uniform_(low, 2 ** (1 / steps))
            out[f"bias_ih_l{n}"] = torch.zeros(units)
        elif name in ("mingru", "minlstm"):
            b, rows = 1 / math.sqrt(inputs), (2 if name == "mingru" else 3) * units
            out[f"weight_ih_l{n}"] = torch.empty(rows, inputs).uniform_(-b, b)
            out[f"bias_ih_l{n}"] = torch.empty(rows).uniform_(-b, b)
        else:
            r_min, r_max, max_phase = 0.9, 0.999, math.pi / 10
            u1 = torch.rand(units)
            nu_log = torch.log(-0.5 * torch.log(u1 * (r_max ** 2 - r_min ** 2) + r_min ** 2))
            u2 = torch.rand(units)
            out[f"nu_log_l{n}"] = nu_log
            out[f"theta_log_l{n}"] = torch.log((u2 * max_phase).clamp_min(1e-30))
            out[f"gamma_log_l{n}"] = torch.log(torch.sqrt(1 - torch.exp(-torch.exp(nu_log)) ** 2))
            out[f"B_re_l{n}"] = torch.randn(units, inputs) * (1 / math.sqrt(2 * inputs))
            out[f"B_im_l{n}"] = torch.randn(units, inputs) * (1 / math.sqrt(2 * inputs))
            out[f"C_re_l{n}"] = torch.randn(units, units) * (1 / math.sqrt(units))
            out[f"C_im_l{n}"] = torch.randn(units, units) * (1 / math.sqrt(units))
            out[f"D_l{n}"] = torch.randn(units, inputs) * (1 / math.sqrt(inputs))
    return out


def test_linear_defaults():
    """The min cells' U(+-1/sqrt(in)) draws are nn.Linear's reset_parameters, bit for bit."""
    linear = nn.Linear(16, 48)
    torch.manual_seed(5)
    linear.reset_parameters()
    torch.manual_seed(5)
    b = 1 / math.sqrt(16)
    w, bias = torch.empty(48, 16).uniform_(-b, b), torch.empty(48).uniform_(-b, b)
    same = torch.equal(linear.weight, w) and torch.equal(linear.bias, bias)
    check("U(+-1/sqrt(in)) weight then bias = nn.Linear.reset_parameters", same,
          f"largest difference {max((linear.weight - w).abs().max().item(), (linear.bias - bias).abs().max().item()):.1e}")


def test_constraint():
    cell = cells.CELLS["indrnn"](FEATURES, UNITS, LAYERS, LENGTH)
    torch.manual_seed(3)
    cell.init_("torch", nn.Linear(UNITS, 1))
    bound = 2 ** (1 / LENGTH)
    with torch.no_grad():
        for n in range(LAYERS):
            cell.p("weight_hh", n).copy_(torch.tensor([-3.0, -bound / 2, 0.0, bound / 2, 3.0]))
    cell.constrain_()
    want = torch.tensor([-bound, -bound / 2, 0.0, bound / 2, bound])
    worst = max((cell.p("weight_hh", n) - want).abs().max().item() for n in range(LAYERS))
    check(f"indrnn constrain_ clamps weight_hh to +-2^(1/{LENGTH}) = {bound:.5f}, leaves the rest", worst == 0.0,
          f"largest difference {worst:.1e}")


def test_pytorch_cells():
    """Names and shapes as nn.RNN/LSTM/GRU give them (rnn-lab's weight files);
    the same outputs from the same weights; Keras freezes bias_hh of rnn, irnn, lstm."""
    x = torch.rand(BATCH, LENGTH, FEATURES)
    for name, make in (("rnn", lambda: nn.RNN(FEATURES, UNITS, num_layers=LAYERS, batch_first=True)),
                       ("irnn", lambda: nn.RNN(FEATURES, UNITS, num_layers=LAYERS, nonlinearity="relu",
                                               batch_first=True)),
                       ("lstm", lambda: nn.LSTM(FEATURES, UNITS, num_layers=LAYERS, batch_first=True)),
                       ("gru", lambda: nn.GRU(FEATURES, UNITS, num_layers=LAYERS, batch_first=True))):
        plain, cell = make(), cells.CELLS[name](FEATURES, UNITS, LAYERS, LENGTH)
        shapes = lambda m: [(k, tuple(v.shape)) for k, v in m.state_dict().items()]  # noqa: E731
        check(f"{name} state_dict keys and shapes as nn.{type(plain).__name__}'s", shapes(plain) == shapes(cell),
              f"{len(shapes(cell))} tensors, {shapes(cell)[:2]}...")
        cell.load_state_dict(plain.state_dict())
        with torch.no_grad():
            diff = (cell(x) - plain(x)[0]).abs().max().item()
        check(f"{name} forward = nn.{type(plain).__name__}'s output", diff == 0.0, f"largest difference {diff:.1e}")
        cell.freeze_("keras")
        frozen = [k for k, p in cell.named_parameters() if not p.requires_grad]
        want = [k for k, _ in cell.named_parameters() if k.startswith("bias_hh")] if name != "gru" else []
        check(f"{name} keras freezes {want or 'nothing'}", frozen == want, str(frozen))
    for name in NEW:
        cell = cells.CELLS[name](FEATURES, UNITS, LAYERS, LENGTH)
        cell.freeze_("keras")
        check(f"{name} keras freezes nothing", all(p.requires_grad for p in cell.parameters()), "")
    net = reference.Net("multiply", "lru", UNITS, LAYERS, LENGTH)
    keys = list(net.state_dict())
    want = [f"rnn.{leaf}_l{n}" for n in range(LAYERS) for leaf in
            ("nu_log", "theta_log", "gamma_log", "B_re", "B_im", "C_re", "C_im", "D")] + ["head.weight", "head.bias"]
    check("reference Net's lru state_dict keys in the contract's order", keys == want, f"{keys[:3]}...{keys[-2:]}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    test_forward()
    test_init()
    test_linear_defaults()
    test_constraint()
    test_pytorch_cells()
    print(f"{len(failures)} failed" + (": " + ", ".join(failures) if failures else ""))
    sys.exit(1 if failures else 0)
