//! The LRU (Orvieto et al. 2023, "Resurrecting Recurrent Neural Networks
//! for Long Sequences"; reference code NicolasZucchet/minimal-LRU,
//! `lru/model.py`): a linear recurrence with a complex diagonal,
//! stable by construction, then a position-wise nonlinearity:
//!   λ = exp(−exp(ν) + i exp(θ)),  h' = λ ⊙ h + γ ⊙ (B x),  γ = exp(γ_log)
//!   y = Re(C h') + D x,  output GELU(y)
//! Complex numbers are kept as real and imaginary parts. The paper's
//! layers sit in blocks with a GELU after the recurrence (minimal-LRU's
//! `SequenceLayer`); the normalisation, the GLU and the skip connection of
//! those blocks are left out, as every cell here is a plain stack. D is a
//! matrix, since the bottom layer's input is narrower than its state.
//! Init, the paper's ring init under either scheme (section 3.3): |λ|
//! uniform on [r_min, r_max] = [0.9, 0.999] in its square, phase uniform
//! on [0, π/10] (the setting the paper gives its longest-range task), γ
//! normalising, γ_log = log sqrt(1 − |λ|²); B ~ N(0, 1/(2 in)) in each
//! part, C ~ N(0, 1/H) in each part, D ~ N(0, 1/in).

use std::f64::consts::PI;

use tch::{Device, Kind, Tensor};

use super::{CellDef, Layer, LayerParam, Outputs};

pub struct Lru;

pub static LRU: Lru = Lru;

const R_MIN: f64 = 0.9;
const R_MAX: f64 = 0.999;
const MAX_PHASE: f64 = PI / 10.0;

const LEAVES: [&str; 8] = [
    "nu_log",
    "theta_log",
    "gamma_log",
    "B_re",
    "B_im",
    "C_re",
    "C_im",
    "D",
];

impl CellDef for Lru {
    fn about(&self) -> &'static str {
        "LRU (Orvieto et al. 2023): linear recurrence on a complex diagonal, GELU after each layer"
    }

    fn init_note(&self) -> &'static str {
        "the paper's ring init under either scheme: |lambda| in [0.9, 0.999], phase in [0, pi/10], gamma normalising; B, C, D Gaussian"
    }

    fn layer(&self, input: i64, units: i64) -> Vec<LayerParam> {
        let shapes = [
            vec![units],
            vec![units],
            vec![units],
            vec![units, input],
            vec![units, input],
            vec![units, units],
            vec![units, units],
            vec![units, input],
        ];
        LEAVES
            .iter()
            .zip(shapes)
            .map(|(&leaf, shape)| LayerParam { leaf, shape })
            .collect()
    }

    fn draw(&self, layer: &Layer, params: &[LayerParam]) -> Vec<Tensor> {
        let cpu = (Kind::Float, Device::Cpu);
        let h = layer.units;
        let (input, units) = (layer.input as f64, h as f64);
        let u1 = Tensor::rand([h], cpu);
        let nu_log = ((u1 * (R_MAX * R_MAX - R_MIN * R_MIN) + R_MIN * R_MIN).log() * -0.5).log();
        let u2 = Tensor::rand([h], cpu);
        // rand can return exactly 0: a phase of 1e-30 keeps its log finite.
        let theta_log = (u2 * MAX_PHASE).clamp_min(1e-30).log();
        let modulus = (-nu_log.exp()).exp();
        let gamma_log = (-modulus.square() + 1.0).sqrt().log();
        let normal = |p: &LayerParam, std: f64| Tensor::randn(p.shape.as_slice(), cpu) * std;
        vec![
            nu_log,
            theta_log,
            gamma_log,
            normal(&params[3], 1.0 / (2.0 * input).sqrt()),
            normal(&params[4], 1.0 / (2.0 * input).sqrt()),
            normal(&params[5], 1.0 / units.sqrt()),
            normal(&params[6], 1.0 / units.sqrt()),
            normal(&params[7], 1.0 / input.sqrt()),
        ]
    }

    fn forward(&self, w: &[Tensor], x: &Tensor, every: bool) -> Outputs {
        let (nu_log, theta_log, gamma_log) = (&w[0], &w[1], &w[2]);
        let (b_re, b_im, c_re, c_im, d) = (&w[3], &w[4], &w[5], &w[6], &w[7]);
        let s = x.size();
        let (k, batch, steps) = (s[0], s[1], s[2]);
        let units = nu_log.size()[1];
        let modulus = (-nu_log.exp()).exp().unsqueeze(1);
        let phase = theta_log.exp().unsqueeze(1);
        let (l_re, l_im) = (&modulus * phase.cos(), &modulus * phase.sin());
        let gamma = gamma_log.exp().view([k, 1, 1, units]);
        let flat = x.reshape([k, batch * steps, s[3]]);
        let drive = |b: &Tensor| {
            (flat.bmm(&b.transpose(1, 2)).view([k, batch, steps, units]) * &gamma).unbind(2)
        };
        let (u_re, u_im) = (drive(b_re), drive(b_im));
        let zeros = Tensor::zeros([k, batch, units], (x.kind(), x.device()));
        let (mut h_re, mut h_im) = (zeros.shallow_clone(), zeros);
        let (mut all_re, mut all_im) = (Vec::new(), Vec::new());
        for (u_re, u_im) in u_re.iter().zip(&u_im) {
            let re = &l_re * &h_re - &l_im * &h_im + u_re;
            let im = &l_re * &h_im + &l_im * &h_re + u_im;
            (h_re, h_im) = (re, im);
            all_re.push(h_re.shallow_clone());
            all_im.push(h_im.shallow_clone());
        }
        // y = Re(C h) + D x = C_re h_re - C_im h_im + D x, every step at once.
        let rows = |parts: &[Tensor]| Tensor::stack(parts, 2).view([k, batch * steps, units]);
        let y = rows(&all_re).bmm(&c_re.transpose(1, 2)) - rows(&all_im).bmm(&c_im.transpose(1, 2))
            + flat.bmm(&d.transpose(1, 2));
        let out = y.gelu("none").view([k, batch, steps, units]);
        let last = out.select(2, steps - 1);
        Outputs {
            every: every.then_some(out),
            last,
        }
    }
}

#[cfg(test)]
mod tests {
    use tch::{Device, Kind, Tensor};

    use super::super::tests::{member_layer, rand, relative, spec};
    use super::*;
    use crate::config::Cell;
    use crate::nn::init::draw_weights;

    /// h' = lambda h + gamma (B x) in complex numbers, out gelu(Re(C h') + D x),
    /// written out with libtorch's complex tensors.
    #[test]
    fn computes_the_papers_step() {
        let kind = Kind::Double;
        let x = rand(&[1, 2, 7, 2], 4, kind);
        let s = spec(Cell::Lru, 4, 1);
        let w = member_layer(&s, 2, 0, kind);
        let p: Vec<Tensor> = w.iter().map(|t| t.get(0)).collect();
        let lambda = (-p[0].exp()).exp() * Tensor::complex(&p[1].exp().cos(), &p[1].exp().sin());
        let (b, c) = (Tensor::complex(&p[3], &p[4]), Tensor::complex(&p[5], &p[6]));
        let gamma = p[2].exp();
        let zeros = Tensor::zeros([2, 4], (kind, Device::Cpu));
        let mut h = Tensor::complex(&zeros, &zeros);
        let mut y = zeros.copy();
        for t in 0..7 {
            let xt = x.get(0).select(1, t);
            h = &lambda * &h + xt.to_kind(Kind::ComplexDouble).matmul(&b.tr()) * &gamma;
            y = h.matmul(&c.tr()).real() + xt.matmul(&p[7].tr());
        }
        let out = s.def().forward(&w, &x, true);
        assert!(relative(&out.last.get(0), &y.gelu("none")) < 1e-12);
        assert!(out.every.unwrap().select(2, 6).equal(&out.last));
    }

    /// |lambda| on the ring [0.9, 0.999], phase in [0, pi/10], gamma normalising.
    #[test]
    fn draws_the_ring_init() {
        let w = draw_weights(&spec(Cell::Lru, 300, 1), 3);
        let modulus = (-w[0].1.to_kind(Kind::Double).exp()).exp();
        let phase = w[1].1.to_kind(Kind::Double).exp();
        assert!(modulus.min().double_value(&[]) >= R_MIN - 1e-6);
        assert!(modulus.max().double_value(&[]) <= R_MAX + 1e-6);
        assert!(phase.max().double_value(&[]) <= MAX_PHASE + 1e-6);
        let gamma = w[2].1.to_kind(Kind::Double).exp();
        let expected = (-modulus.square() + 1.0).sqrt();
        assert!(relative(&gamma, &expected) < 1e-5);
    }
}
