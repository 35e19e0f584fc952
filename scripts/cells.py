"""The recurrent cells of rnn-lab (src/nn/cells/) in PyTorch, one class per
cell, for scripts/reference.py. Imported after torch, like tasks.py.

Every class is built as CELLS[name](features, units, layers, steps) and is
what the reference's Net holds as `rnn`, so its parameters are saved as
rnn.<leaf>_l<n>, the names nn.RNN gives them and rnn-lab's weight files use.
A class knows its parameters, its forward over a batch-first sequence
[B, L, in] -> every step's top-layer output [B, L, H], its initial draws per
--init scheme (the head's included, drawn after the cell's from the same
seeded CPU generator), what Keras's scheme freezes, and the constraint
applied after every optimizer step.

rnn, irnn, lstm and gru are PyTorch's own nn.RNN/LSTM/GRU. indrnn, mingru,
minlstm and lru are written out by hand: the formulas, parameter order and
initial draws are those of rnn-lab's cells contract, which cites each paper
and its reference code.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

IRNN_STD = 0.001                       # Le et al.'s input and output weights
INDRNN_MAG = 2.0                       # IndRNN's MAG (its adding-problem default)
INDRNN_INPUT_STD = 0.001               # its adding problem's input weights, N(0, 0.001)
LRU_R_MIN, LRU_R_MAX = 0.9, 0.999      # the LRU's ring init radii (Orvieto et al.)
LRU_MAX_PHASE = math.pi / 10


def glorot_limit(fan_in, fan_out):
    """Keras's glorot_uniform bound."""
    scale = 1.0 / max(1.0, (fan_in + fan_out) / 2.0)
    return math.sqrt(3.0 * scale)


@torch.no_grad()
def keras_head_(head):
    lim = glorot_limit(head.weight.shape[1], head.weight.shape[0])
    head.weight.uniform_(-lim, lim)
    head.bias.zero_()


class Cell:
    """What every cell offers the reference beyond nn.Module's forward."""

    # Parameter leaves (weight_hh, ...) Keras's scheme keeps at zero, untrained.
    KERAS_FROZEN = ()

    @torch.no_grad()
    def init_(self, scheme, head):
        """Draws the cell's parameters, then the head's, for `scheme`
        (keras | torch) from the already seeded CPU generator."""
        self.init_cell_(scheme)
        if scheme == "keras":
            keras_head_(head)
        else:
            head.reset_parameters()

    def init_cell_(self, scheme):
        raise NotImplementedError

    def freeze_(self, scheme):
        if scheme == "keras":
            for name, p in self.named_parameters():
                if name.rsplit("_l", 1)[0] in self.KERAS_FROZEN:
                    p.requires_grad_(False)

    @torch.no_grad()
    def constrain_(self):
        """Applied after every optimizer step; most cells have nothing to do."""


# --- PyTorch's own cells: nn.RNN, nn.LSTM, nn.GRU as they are ---------------

class PyTorchCell(Cell):
    """Mixed in before nn.RNN/LSTM/GRU: their modules and names unchanged."""

    def forward(self, x):
        return super().forward(x)[0]

    def init_cell_(self, scheme):
        if scheme == "keras":
            self.keras_init_()
        else:
            self.reset_parameters()   # PyTorch's own defaults, redrawn

    def keras_init_(self):
        """Keras defaults: glorot_uniform kernels, orthogonal recurrent
        kernels (over the whole kernel), zero biases, drawn in parameter order."""
        for name, p in self.named_parameters():
            if name.startswith("weight_ih"):
                lim = glorot_limit(p.shape[1], p.shape[0])
                p.uniform_(-lim, lim)
            elif name.startswith("weight_hh"):
                q, r = torch.linalg.qr(torch.randn(p.shape))
                p.copy_(q * torch.sign(torch.diagonal(r)))
            else:
                p.zero_()
                if name.startswith("bias_ih"):
                    self.keras_bias_ih_(p)

    def keras_bias_ih_(self, p):
        pass


class Rnn(PyTorchCell, nn.RNN):
    """Elman RNN with tanh (Keras SimpleRNN, nn.RNN)."""
    KERAS_FROZEN = ("bias_hh",)          # Keras's SimpleRNN has one bias

    def __init__(self, features, units, layers, steps):
        super().__init__(features, units, num_layers=layers, batch_first=True)


class Irnn(PyTorchCell, nn.RNN):
    """Elman RNN with ReLU from an identity recurrent kernel (Le et al. 2015)."""
    KERAS_FROZEN = ("bias_hh",)

    def __init__(self, features, units, layers, steps):
        super().__init__(features, units, num_layers=layers, nonlinearity="relu", batch_first=True)

    @torch.no_grad()
    def init_(self, scheme, head):
        """Le et al.'s init under either scheme: identity recurrent kernels,
        zero biases, the other weights N(0, 0.001), head included, drawn in
        parameter order."""
        for name, p in self.named_parameters():
            if name.startswith("weight_ih"):
                p.copy_(torch.randn(p.shape) * IRNN_STD)
            elif name.startswith("weight_hh"):
                p.copy_(torch.eye(p.shape[0]))
            else:
                p.zero_()
        head.weight.copy_(torch.randn(head.weight.shape) * IRNN_STD)
        head.bias.zero_()


class Lstm(PyTorchCell, nn.LSTM):
    """LSTM with forget gate; PyTorch's gate order i, f, g, o."""
    KERAS_FROZEN = ("bias_hh",)          # Keras's LSTM has one bias

    def __init__(self, features, units, layers, steps):
        super().__init__(features, units, num_layers=layers, batch_first=True)

    def keras_bias_ih_(self, p):
        p[self.hidden_size:2 * self.hidden_size] = 1.0   # Keras's unit_forget_bias


class Gru(PyTorchCell, nn.GRU):
    """GRU, PyTorch's and Keras's reset_after form (Keras keeps both biases)."""

    def __init__(self, features, units, layers, steps):
        super().__init__(features, units, num_layers=layers, batch_first=True)


# --- cells written out by hand ---------------------------------------------

class HandCell(Cell, nn.Module):
    """A stack of `layers` layers of one recurrence. Subclasses list their
    leaves with shapes (`leaves`) and give one step (`step`); the forward
    runs the steps, layer by layer, from h_0 = 0."""

    def __init__(self, features, units, layers, steps):
        super().__init__()
        self.units, self.layers, self.steps = units, layers, steps
        for n in range(layers):
            for leaf, shape in self.leaves(features if n == 0 else units, units):
                self.register_parameter(f"{leaf}_l{n}", nn.Parameter(torch.empty(shape)))

    def leaves(self, inputs, units):
        """[(leaf, shape)] of one layer, in parameter order."""
        raise NotImplementedError

    def p(self, leaf, n):
        return getattr(self, f"{leaf}_l{n}")

    def zero_state(self, x):
        return x.new_zeros(x.shape[0], self.units)

    def step(self, n, x_t, h):
        """Layer n's step: (next state, output) from input x_t [B, in]."""
        raise NotImplementedError

    def step_loop(self, n, x):
        """Layer n over the sequence x [B, L, in], one step at a time."""
        h, outputs = self.zero_state(x), []
        for t in range(x.shape[1]):
            h, out = self.step(n, x[:, t], h)
            outputs.append(out)
        return torch.stack(outputs, dim=1)

    def layer_forward(self, n, x):
        return self.step_loop(n, x)

    def forward(self, x):
        for n in range(self.layers):
            x = self.layer_forward(n, x)
        return x


class IndRnn(HandCell):
    """IndRNN (Li et al. 2018): h_t = relu(W x_t + b + u * h_{t-1}), u a vector
    kept within +-MAG^(1/T) (IndRNN_pytorch's clip_weight)."""

    def __init__(self, features, units, layers, steps):
        super().__init__(features, units, layers, steps)
        self.u_bound = INDRNN_MAG ** (1.0 / steps)
        self.u_low = 1.0 / self.u_bound

    def leaves(self, inputs, units):
        return [("weight_ih", (units, inputs)), ("weight_hh", (units,)), ("bias_ih", (units,))]

    def step(self, n, x_t, h):
        h = F.relu(F.linear(x_t, self.p("weight_ih", n), self.p("bias_ih", n)) + self.p("weight_hh", n) * h)
        return h, h

    def init_cell_(self, scheme):
        """The paper's adding-problem code under either scheme: input weights
        N(0, 0.001), u ~ U(0, U_bound), the last layer's U(U_low, U_bound)
        (its u_lastlayer_ini), zero biases."""
        for n in range(self.layers):
            w = self.p("weight_ih", n)
            w.copy_(torch.randn(w.shape) * INDRNN_INPUT_STD)
            self.p("weight_hh", n).uniform_(self.u_low if n == self.layers - 1 else 0.0, self.u_bound)
            self.p("bias_ih", n).zero_()

    @torch.no_grad()
    def constrain_(self):
        for n in range(self.layers):
            self.p("weight_hh", n).clamp_(-self.u_bound, self.u_bound)


def g(v):
    """minGRU's g: positive, v + 0.5 above zero, sigmoid below."""
    return torch.where(v >= 0, v + 0.5, torch.sigmoid(v))


def log_g(v):
    return torch.where(v >= 0, torch.log(F.relu(v) + 0.5), -F.softplus(-v))


def log_space_scan(log_coeffs, log_values):
    """h_t = a_t h_{t-1} + b_t from h_0 = 0, over dim 1, from log a and log b
    (Heinsen's scan, the paper's appendix B): h = exp(a* + logcumsumexp(log b - a*)).
    The running sums are taken in float64, as rnn-lab takes them (in float32
    log h would lose 1e-3 relative over 1000 steps), and h is returned in
    the inputs' dtype."""
    dtype = log_coeffs.dtype
    log_coeffs, log_values = log_coeffs.double(), log_values.double()
    a_star = torch.cumsum(log_coeffs, dim=1)
    return torch.exp(a_star + torch.logcumsumexp(log_values - a_star, dim=1)).to(dtype)


class MinCell(HandCell):
    """minGRU and minLSTM: one linear map of the input (weight_ih, bias_ih)
    whose row blocks are the candidate and the gates; trained through the
    log-space scan, `step` being the same recurrence one step at a time."""
    GATES = 0

    def leaves(self, inputs, units):
        return [("weight_ih", (self.GATES * units, inputs)), ("bias_ih", (self.GATES * units,))]

    def project(self, n, x):
        return F.linear(x, self.p("weight_ih", n), self.p("bias_ih", n)).chunk(self.GATES, dim=-1)

    def init_cell_(self, scheme):
        """nn.Linear's defaults under either scheme (the reference code's):
        weight then bias, both U(+-1/sqrt(in))."""
        for n in range(self.layers):
            w = self.p("weight_ih", n)
            bound = 1.0 / math.sqrt(w.shape[1])
            w.uniform_(-bound, bound)
            self.p("bias_ih", n).uniform_(-bound, bound)

    def layer_forward(self, n, x):
        return log_space_scan(*self.log_terms(*self.project(n, x)))


class MinGru(MinCell):
    """minGRU (Feng et al. 2024): z = sigmoid(k), h_t = (1 - z) h_{t-1} + z g(a);
    rows: candidate a, then gate k."""
    GATES = 2

    def step(self, n, x_t, h):
        a, k = self.project(n, x_t)
        z = torch.sigmoid(k)
        h = (1 - z) * h + z * g(a)
        return h, h

    def log_terms(self, a, k):
        return -F.softplus(k), -F.softplus(-k) + log_g(a)


class MinLstm(MinCell):
    """minLSTM (Feng et al. 2024) with the gates normalised to sum to one:
    h_t = f/(f+i) h_{t-1} + i/(f+i) g(a); rows: candidate a, forget, input."""
    GATES = 3

    def step(self, n, x_t, h):
        a, pf, pi = self.project(n, x_t)
        f, i = torch.sigmoid(pf), torch.sigmoid(pi)
        h = f / (f + i) * h + i / (f + i) * g(a)
        return h, h

    def log_terms(self, a, pf, pi):
        diff = F.softplus(-pf) - F.softplus(-pi)       # log i - log f
        return -F.softplus(diff), -F.softplus(-diff) + log_g(a)


class Lru(HandCell):
    """Linear Recurrent Unit (Orvieto et al. 2023) with minimal-LRU's GELU
    after it: complex diagonal h_t = lambda h_{t-1} + gamma (B x_t), kept as
    real and imaginary parts; output gelu(Re(C h_t) + D x_t)."""

    def leaves(self, inputs, units):
        return [("nu_log", (units,)), ("theta_log", (units,)), ("gamma_log", (units,)),
                ("B_re", (units, inputs)), ("B_im", (units, inputs)),
                ("C_re", (units, units)), ("C_im", (units, units)), ("D", (units, inputs))]

    def zero_state(self, x):
        zero = x.new_zeros(x.shape[0], self.units)
        return zero, zero

    def coefficients(self, n):
        """Layer n's lambda (real, imaginary parts) and gamma."""
        modulus, phase = torch.exp(-torch.exp(self.p("nu_log", n))), torch.exp(self.p("theta_log", n))
        return modulus * torch.cos(phase), modulus * torch.sin(phase), torch.exp(self.p("gamma_log", n))

    def output(self, n, h_re, h_im, x):
        return F.gelu(F.linear(h_re, self.p("C_re", n)) - F.linear(h_im, self.p("C_im", n))
                      + F.linear(x, self.p("D", n)))

    def step(self, n, x_t, h):
        lam_re, lam_im, gamma = self.coefficients(n)
        (h_re, h_im), bx_re, bx_im = h, F.linear(x_t, self.p("B_re", n)), F.linear(x_t, self.p("B_im", n))
        h_re, h_im = (lam_re * h_re - lam_im * h_im + gamma * bx_re,
                      lam_re * h_im + lam_im * h_re + gamma * bx_im)
        return (h_re, h_im), self.output(n, h_re, h_im, x_t)

    def layer_forward(self, n, x):
        """step_loop's arithmetic with B, C and D applied to the whole
        sequence at once: only the diagonal recurrence runs step by step."""
        lam_re, lam_im, gamma = self.coefficients(n)
        bx_re, bx_im = gamma * F.linear(x, self.p("B_re", n)), gamma * F.linear(x, self.p("B_im", n))
        h_re, h_im = self.zero_state(x)
        states_re, states_im = [], []
        for t in range(x.shape[1]):
            h_re, h_im = (lam_re * h_re - lam_im * h_im + bx_re[:, t],
                          lam_re * h_im + lam_im * h_re + bx_im[:, t])
            states_re.append(h_re)
            states_im.append(h_im)
        return self.output(n, torch.stack(states_re, dim=1), torch.stack(states_im, dim=1), x)

    def init_cell_(self, scheme):
        """The ring init under either scheme: |lambda| uniform on the ring
        [r_min, r_max] (by area), phase in [0, max_phase], gamma =
        sqrt(1 - |lambda|^2), Glorot-like B, C, D; in parameter order."""
        for n in range(self.layers):
            p = lambda leaf: self.p(leaf, n)  # noqa: E731
            units, inputs = p("B_re").shape
            u1 = torch.rand(units)
            p("nu_log").copy_(torch.log(-0.5 * torch.log(u1 * (LRU_R_MAX ** 2 - LRU_R_MIN ** 2) + LRU_R_MIN ** 2)))
            u2 = torch.rand(units)
            # rand can return exactly 0: a phase of 1e-30 keeps its log finite (as rnn-lab).
            p("theta_log").copy_(torch.log((u2 * LRU_MAX_PHASE).clamp_min(1e-30)))
            modulus = torch.exp(-torch.exp(p("nu_log")))
            p("gamma_log").copy_(torch.log(torch.sqrt(1 - modulus ** 2)))
            # Scaled by multiplying, op for op as rnn-lab draws them.
            p("B_re").copy_(torch.randn(units, inputs) * (1.0 / math.sqrt(2 * inputs)))
            p("B_im").copy_(torch.randn(units, inputs) * (1.0 / math.sqrt(2 * inputs)))
            p("C_re").copy_(torch.randn(units, units) * (1.0 / math.sqrt(units)))
            p("C_im").copy_(torch.randn(units, units) * (1.0 / math.sqrt(units)))
            p("D").copy_(torch.randn(units, inputs) * (1.0 / math.sqrt(inputs)))


CELLS = {"rnn": Rnn, "irnn": Irnn, "lstm": Lstm, "gru": Gru,
         "indrnn": IndRnn, "mingru": MinGru, "minlstm": MinLstm, "lru": Lru}
