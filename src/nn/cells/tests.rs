//! Every cell through the registry: what it draws, what one step computes
//! written out by hand, the scans against their step loops, and the
//! IndRNN's clip.

use tch::{Device, Kind, Tensor};

use super::mingru::MinGru;
use super::minlstm::MinLstm;
use super::*;
use crate::nn::init::draw_weights;
use crate::nn::seed::rng_lock;
use crate::nn::shape::ModelSpec;

fn spec(cell: Cell, units: i64, layers: i64) -> ModelSpec {
    ModelSpec::new(cell, units, layers, InitScheme::Keras)
}

/// The largest difference relative to the larger tensor's scale.
fn relative(a: &Tensor, b: &Tensor) -> f64 {
    let scale = b.abs().max().double_value(&[]).max(1e-12);
    (a - b).abs().max().double_value(&[]) / scale
}

fn rand(shape: &[i64], seed: i64, kind: Kind) -> Tensor {
    let _rng = rng_lock(); // other tests seed and draw concurrently
    tch::manual_seed(seed);
    Tensor::rand(shape, (kind, Device::Cpu))
}

/// Layer `index`'s weights of `spec` drawn from `seed`, as one member
/// (`[1, ...]`) in `kind`.
fn member_layer(spec: &ModelSpec, seed: u64, index: i64, kind: Kind) -> Vec<Tensor> {
    let weights = draw_weights(spec, seed);
    spec.def()
        .layer(spec.layer(index).input, spec.units)
        .iter()
        .map(|p| {
            let name = format!("rnn.{}_l{index}", p.leaf);
            let t = &weights.iter().find(|(n, _)| *n == name).unwrap().1;
            t.to_kind(kind).unsqueeze(0)
        })
        .collect()
}

#[test]
fn every_cell_draws_what_its_layer_declares_with_distinct_names() {
    for &cell in Cell::all() {
        let s = ModelSpec {
            input_size: 3,
            ..spec(cell, 5, 2)
        };
        let params = s.parameters();
        let weights = draw_weights(&s, 1);
        assert_eq!(weights.len(), params.len(), "{cell}");
        let mut names = std::collections::BTreeSet::new();
        for ((name, t), p) in weights.iter().zip(&params) {
            assert_eq!(name, &p.name, "{cell}");
            assert_eq!(t.size(), p.shape, "{cell} {name}");
            assert_eq!(t.kind(), Kind::Float, "{cell} {name}");
            assert!(names.insert(name.clone()), "{cell}: {name} twice");
            assert!(
                t.isfinite().all().int64_value(&[]) == 1,
                "{cell} {name} is not finite"
            );
        }
        assert_eq!(params.last().unwrap().name, "head.bias");
    }
}

#[test]
fn mingru_and_minlstm_scans_equal_their_step_loops() {
    for (cell, parts) in [(Cell::Mingru, 2), (Cell::Minlstm, 3)] {
        for (kind, tolerance) in [(Kind::Double, 1e-12), (Kind::Float, 1e-5)] {
            let s = spec(cell, 5, 1);
            let w = member_layer(&s, 3, 0, kind);
            // Inputs both signs, so both branches of g are taken.
            let x = (rand(&[1, 3, 40, 2], 9, kind) - 0.5) * 4.0;
            let scanned = s.def().forward(&w, &x, true).every.unwrap();
            let pre = project(&x, &w[0], &w[1]);
            assert_eq!(pre.size()[3], parts * 5);
            let mut h = Tensor::zeros([1, 3, 5], (kind, Device::Cpu));
            let mut steps = Vec::new();
            for t in 0..40 {
                let p = pre.select(2, t);
                h = match cell {
                    Cell::Mingru => MinGru::step(&p, &h),
                    _ => MinLstm::step(&p, &h),
                };
                steps.push(h.shallow_clone());
            }
            let looped = Tensor::stack(&steps, 2);
            let err = relative(&scanned, &looped);
            assert!(
                err < tolerance,
                "{cell} {kind:?}: scan and loop differ by {err}"
            );
        }
    }
}

#[test]
fn indrnn_and_lru_compute_their_papers_step() {
    let kind = Kind::Double;
    let x = rand(&[1, 2, 7, 2], 4, kind);
    // IndRNN: h' = relu(W x + b + u * h).
    let s = spec(Cell::Indrnn, 4, 1);
    let w = member_layer(&s, 2, 0, kind);
    let mut h = Tensor::zeros([2, 4], (kind, Device::Cpu));
    for t in 0..7 {
        let xt = x.get(0).select(1, t);
        h = (xt.matmul(&w[0].get(0).tr()) + w[2].get(0) + w[1].get(0) * &h).relu();
    }
    let out = s.def().forward(&w, &x, false).last;
    assert!(relative(&out.get(0), &h) < 1e-12, "indrnn");
    // LRU: h' = lambda h + gamma (B x) in complex numbers, out gelu(Re(C h) + D x).
    let s = spec(Cell::Lru, 4, 1);
    let w = member_layer(&s, 2, 0, kind);
    let p: Vec<Tensor> = w.iter().map(|t| t.get(0)).collect();
    let complex = |re: &Tensor, im: &Tensor| Tensor::complex(re, im);
    let lambda = (-p[0].exp()).exp() * complex(&p[1].exp().cos(), &p[1].exp().sin());
    let b = complex(&p[3], &p[4]);
    let c = complex(&p[5], &p[6]);
    let gamma = p[2].exp();
    let mut h = complex(
        &Tensor::zeros([2, 4], (kind, Device::Cpu)),
        &Tensor::zeros([2, 4], (kind, Device::Cpu)),
    );
    let mut y = Tensor::zeros([2, 4], (kind, Device::Cpu));
    for t in 0..7 {
        let xt = x.get(0).select(1, t);
        let bx = xt.to_kind(Kind::ComplexDouble).matmul(&b.tr());
        h = &lambda * &h + bx * &gamma;
        y = (h.matmul(&c.tr())).real() + xt.matmul(&p[7].tr());
    }
    let out = s.def().forward(&w, &x, true);
    assert!(relative(&out.last.get(0), &y.gelu("none")) < 1e-12, "lru");
    assert!(out.every.unwrap().select(2, 6).equal(&out.last));
}

#[test]
fn new_cells_draw_their_papers_init() {
    // IndRNN: u in [0, 2^(1/T)], the top layer's in [2^(-1/T), 2^(1/T)].
    let s = ModelSpec {
        steps: 50,
        ..spec(Cell::Indrnn, 200, 2)
    };
    let w = draw_weights(&s, 3);
    let high = 2f64.powf(1.0 / 50.0);
    let (bottom, top) = (&w[1].1, &w[4].1);
    assert_eq!(
        (w[1].0.as_str(), w[4].0.as_str()),
        ("rnn.weight_hh_l0", "rnn.weight_hh_l1")
    );
    assert!(bottom.min().double_value(&[]) >= 0.0 && bottom.max().double_value(&[]) <= high);
    assert!(
        bottom.min().double_value(&[]) < 0.05,
        "the bottom layer reaches near 0"
    );
    assert!(top.min().double_value(&[]) >= 1.0 / high - 1e-7);
    assert!(top.max().double_value(&[]) <= high + 1e-7);
    let std = w[0].1.std(true).double_value(&[]);
    assert!((std / 0.001 - 1.0).abs() < 0.15, "input weights' std {std}");
    assert_eq!(w[2].1.abs().max().double_value(&[]), 0.0);
    // LRU: |lambda| on the ring [0.9, 0.999], phase in [0, pi/10], gamma normalising.
    let w = draw_weights(&spec(Cell::Lru, 300, 1), 3);
    let modulus = (-w[0].1.to_kind(Kind::Double).exp()).exp();
    let phase = w[1].1.to_kind(Kind::Double).exp();
    assert!(modulus.min().double_value(&[]) >= 0.9 - 1e-6);
    assert!(modulus.max().double_value(&[]) <= 0.999 + 1e-6);
    assert!(phase.max().double_value(&[]) <= std::f64::consts::PI / 10.0 + 1e-6);
    let gamma = w[2].1.to_kind(Kind::Double).exp();
    let expected = (-modulus.square() + 1.0).sqrt();
    assert!(relative(&gamma, &expected) < 1e-5);
    // minGRU: nn.Linear's U(+-1/sqrt(in)) for weight and bias.
    let w = draw_weights(&spec(Cell::Mingru, 30, 1), 3);
    for t in [&w[0].1, &w[1].1] {
        let m = t.abs().max().double_value(&[]);
        assert!(m <= 1.0 / 2f64.sqrt() && m > 0.6, "{m}");
    }
}

#[test]
fn indrnn_clips_its_recurrent_weights_after_a_step() {
    let s = ModelSpec {
        steps: 10,
        ..spec(Cell::Indrnn, 4, 1)
    };
    let w: Vec<Tensor> = member_layer(&s, 1, 0, Kind::Float);
    let _ = w[1].shallow_clone().fill_(3.0);
    let _ = w[1].narrow(1, 0, 1).fill_(-3.0);
    s.def().constrain(&s.layer(0), &w);
    let b = 2f64.powf(0.1);
    assert!((w[1].max().double_value(&[]) - b).abs() < 1e-6);
    assert!((w[1].min().double_value(&[]) + b).abs() < 1e-6);
    // The others have nothing to clip.
    let g = spec(Cell::Gru, 4, 1);
    let before = member_layer(&g, 1, 0, Kind::Float);
    let after: Vec<Tensor> = before.iter().map(Tensor::copy).collect();
    g.def().constrain(&g.layer(0), &after);
    assert!(before.iter().zip(&after).all(|(a, b)| a.equal(b)));
}

#[test]
fn the_catalogue_lists_every_cell_and_its_kernels() {
    let cells = catalogue();
    let names: Vec<&str> = cells.iter().map(|c| c.name).collect();
    assert_eq!(
        names,
        ["rnn", "irnn", "lstm", "gru", "indrnn", "mingru", "minlstm", "lru"]
    );
    let kernels = |name: &str| {
        cells
            .iter()
            .find(|c| c.name == name)
            .unwrap()
            .kernels
            .clone()
    };
    assert_eq!(kernels("gru"), ["composed", "handwritten", "libtorch"]);
    assert_eq!(kernels("lstm"), ["composed", "libtorch"]);
    assert_eq!(kernels("lru"), ["composed"]);
}
