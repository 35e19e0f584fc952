//! The initial weights of a network, drawn on the CPU from the seed's init
//! stream (so every device starts alike), in PyTorch's parameter order:
//! each layer as its cell draws it under the run's scheme (`cells`), then
//! the head (Keras's Dense or PyTorch's nn.Linear, unless the cell's paper
//! fixes it, as the IRNN's does).

use super::cells;
use super::seed::{rng_lock, seed_stream, Stream};
use super::shape::ModelSpec;
use super::weights::Weights;

/// Draws every parameter of `spec` from `seed`'s init stream, in PyTorch's
/// parameter order (the order the PyTorch reference draws them in).
pub fn draw_weights(spec: &ModelSpec, seed: u64) -> Weights {
    let _rng = rng_lock();
    tch::manual_seed(seed_stream(seed, Stream::Init));
    let def = spec.def();
    let mut weights = Weights::new();
    for index in 0..spec.layers {
        let layer = spec.layer(index);
        let params = def.layer(layer.input, spec.units);
        let values = def.draw(&layer, &params);
        for (p, value) in params.iter().zip(values) {
            weights.push((format!("rnn.{}_l{index}", p.leaf), value));
        }
    }
    let (weight, bias) = def
        .draw_head(spec.output_size, spec.units)
        .unwrap_or_else(|| cells::draw_head(spec.init, spec.output_size, spec.units));
    weights.push(("head.weight".into(), weight));
    weights.push(("head.bias".into(), bias));
    weights
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use tch::{Device, Kind, Tensor};

    use super::*;
    use crate::config::{Cell, InitScheme};

    fn spec(cell: Cell, init: InitScheme) -> ModelSpec {
        ModelSpec::new(cell, 30, 2, init)
    }

    fn by_name(w: &Weights) -> HashMap<&str, &Tensor> {
        w.iter().map(|(n, t)| (n.as_str(), t)).collect()
    }

    fn max_abs(t: &Tensor) -> f64 {
        t.abs().max().double_value(&[])
    }

    #[test]
    fn keras_init_bounds_orthogonality_and_forget_bias() {
        for cell in [Cell::Rnn, Cell::Lstm, Cell::Gru] {
            let s = spec(cell, InitScheme::Keras);
            let w = draw_weights(&s, 3);
            let v = by_name(&w);
            let g = s.def().layer(2, 30)[0].shape[0] / 30;
            for layer in 0..2 {
                let w_ih = v[format!("rnn.weight_ih_l{layer}").as_str()];
                let fan_in = if layer == 0 { 2 } else { 30 };
                let limit = (6.0 / (fan_in + g * 30) as f64).sqrt();
                assert!(max_abs(w_ih) <= limit, "{cell} w_ih beyond glorot limit");
                assert!(
                    max_abs(w_ih) > 0.8 * limit,
                    "{cell} w_ih far inside glorot limit"
                );
                let w_hh = v[format!("rnn.weight_hh_l{layer}").as_str()];
                let gram = w_hh.tr().matmul(w_hh);
                let err = max_abs(&(gram - Tensor::eye(30, (Kind::Float, Device::Cpu))));
                assert!(err < 1e-5, "{cell} W_hh^T W_hh differs from I by {err}");
                let b_ih = v[format!("rnn.bias_ih_l{layer}").as_str()];
                if cell == Cell::Lstm {
                    assert_eq!(max_abs(&b_ih.narrow(0, 0, 30)), 0.0);
                    assert_eq!(b_ih.narrow(0, 30, 30).min().double_value(&[]), 1.0);
                    assert_eq!(max_abs(&b_ih.narrow(0, 30, 30)), 1.0);
                    assert_eq!(max_abs(&b_ih.narrow(0, 60, 60)), 0.0);
                } else {
                    assert_eq!(max_abs(b_ih), 0.0);
                }
                let b_hh = v[format!("rnn.bias_hh_l{layer}").as_str()];
                assert_eq!(max_abs(b_hh), 0.0);
            }
            let limit = (6.0f64 / 31.0).sqrt();
            assert!(max_abs(v["head.weight"]) <= limit);
            assert_eq!(max_abs(v["head.bias"]), 0.0);
        }
    }

    #[test]
    fn irnn_starts_from_the_identity_zero_biases_and_tiny_gaussians() {
        for init in [InitScheme::Keras, InitScheme::Torch] {
            let s = spec(Cell::Irnn, init);
            let w = draw_weights(&s, 5);
            let v = by_name(&w);
            let eye = Tensor::eye(30, (Kind::Float, Device::Cpu));
            for layer in 0..2 {
                assert!(v[format!("rnn.weight_hh_l{layer}").as_str()].equal(&eye));
                assert_eq!(max_abs(v[format!("rnn.bias_ih_l{layer}").as_str()]), 0.0);
                assert_eq!(max_abs(v[format!("rnn.bias_hh_l{layer}").as_str()]), 0.0);
            }
            assert_eq!(max_abs(v["head.bias"]), 0.0);
            // N(0, 0.001): the drawn weights' spread, and nothing drawn for the identity.
            let w = Tensor::cat(
                &[
                    v["rnn.weight_ih_l1"].flatten(0, -1),
                    v["head.weight"].flatten(0, -1),
                ],
                0,
            );
            let std = w.std(true).double_value(&[]);
            assert!((std / 0.001 - 1.0).abs() < 0.1, "std {std}");
            let again = {
                let _rng = rng_lock();
                tch::manual_seed(seed_stream(5, Stream::Init));
                Tensor::randn([30, 2], (Kind::Float, Device::Cpu)) * 0.001
            };
            assert!(v["rnn.weight_ih_l0"].equal(&again));
        }
    }

    #[test]
    fn torch_init_bounds_and_variance() {
        let s = spec(Cell::Lstm, InitScheme::Torch);
        let w = draw_weights(&s, 4);
        let v = by_name(&w);
        let bound = 1.0 / 30f64.sqrt();
        for p in s.parameters() {
            let t = v[p.name.as_str()];
            assert!(max_abs(t) <= bound + 1e-7, "{} beyond {bound}", p.name);
            assert!(s.is_trainable(&p), "{} trains under torch init", p.name);
            if t.numel() >= 120 {
                // U(-b, b) has variance b^2/3.
                let var = t.var(true).double_value(&[]);
                let expected = bound * bound / 3.0;
                assert!(
                    (var / expected - 1.0).abs() < 0.2,
                    "{}: variance {var} vs {expected}",
                    p.name
                );
            }
        }
    }

    #[test]
    fn same_seed_same_weights() {
        let s = spec(Cell::Gru, InitScheme::Keras);
        let (a, b, c) = (
            draw_weights(&s, 11),
            draw_weights(&s, 11),
            draw_weights(&s, 12),
        );
        for ((name, x), (_, y)) in a.iter().zip(&b) {
            assert!(x.equal(y), "{name}");
        }
        assert!(!by_name(&a)["rnn.weight_hh_l0"].equal(by_name(&c)["rnn.weight_hh_l0"]));
    }
}
