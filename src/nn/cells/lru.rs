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
        let theta_log = (u2 * MAX_PHASE).log();
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
