//! Every cell through the registry (what it draws, what the catalogue
//! says of it, that a constraint leaves other cells alone), and what the
//! cells' own tests share.

use tch::{Device, Kind, Tensor};

use super::*;
use crate::nn::init::draw_weights;
use crate::nn::seed::rng_lock;
use crate::nn::shape::ModelSpec;

pub(super) fn spec(cell: Cell, units: i64, layers: i64) -> ModelSpec {
    ModelSpec::new(cell, units, layers, InitScheme::Keras)
}

/// The largest difference relative to the larger tensor's scale.
pub(super) fn relative(a: &Tensor, b: &Tensor) -> f64 {
    let scale = b.abs().max().double_value(&[]).max(1e-12);
    (a - b).abs().max().double_value(&[]) / scale
}

pub(super) fn rand(shape: &[i64], seed: i64, kind: Kind) -> Tensor {
    let _rng = rng_lock(); // other tests seed and draw concurrently
    tch::manual_seed(seed);
    Tensor::rand(shape, (kind, Device::Cpu))
}

/// Layer `index`'s weights of `spec` drawn from `seed`, as one member
/// (`[1, ...]`) in `kind`.
pub(super) fn member_layer(spec: &ModelSpec, seed: u64, index: i64, kind: Kind) -> Vec<Tensor> {
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

/// A scanned cell's forward equals its step loop, in float64 and float32.
pub(super) fn assert_scan_equals_loop(cell: Cell, step: fn(&Tensor, &Tensor) -> Tensor) {
    for (kind, tolerance) in [(Kind::Double, 1e-12), (Kind::Float, 1e-5)] {
        let s = spec(cell, 5, 1);
        let w = member_layer(&s, 3, 0, kind);
        // Inputs of both signs, so both branches of g are taken.
        let x = (rand(&[1, 3, 40, 2], 9, kind) - 0.5) * 4.0;
        let scanned = s.def().forward(&w, &x, true).every.unwrap();
        let pre = project(&x, &w[0], &w[1]);
        let mut h = Tensor::zeros([1, 3, 5], (kind, Device::Cpu));
        let mut steps = Vec::new();
        for t in 0..40 {
            h = step(&pre.select(2, t), &h);
            steps.push(h.shallow_clone());
        }
        let err = relative(&scanned, &Tensor::stack(&steps, 2));
        assert!(
            err < tolerance,
            "{cell} {kind:?}: scan and loop differ by {err}"
        );
    }
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
fn a_cell_without_a_constraint_leaves_its_weights_alone() {
    let g = spec(Cell::Gru, 4, 1);
    let before = member_layer(&g, 1, 0, Kind::Float);
    let after: Vec<Tensor> = before.iter().map(Tensor::copy).collect();
    g.def().constrain(&g.layer(0), &after);
    assert!(before.iter().zip(&after).all(|(a, b)| a.equal(b)));
}

#[test]
fn the_catalogue_lists_every_cell_with_the_kernels_it_has() {
    let cells = catalogue();
    let names: Vec<&str> = cells.iter().map(|c| c.name).collect();
    let all: Vec<&str> = Cell::all().iter().map(|c| c.name()).collect();
    assert_eq!(names, all);
    for (info, &cell) in cells.iter().zip(Cell::all()) {
        let d = def(cell);
        let mut expected = vec!["composed"];
        if d.handwritten().is_some() {
            expected.push("handwritten");
        }
        if d.native().is_some() {
            expected.push("native");
        }
        if has_libtorch(d) {
            expected.push("libtorch");
        }
        assert_eq!(info.kernels, expected, "{cell}");
        assert!(
            !info.description.is_empty() && !info.init.is_empty(),
            "{cell}"
        );
    }
    assert_eq!(
        cells.iter().find(|c| c.name == "gru").unwrap().kernels,
        ["composed", "handwritten", "native", "libtorch"]
    );
    assert_eq!(
        cells.iter().find(|c| c.name == "lstm").unwrap().kernels,
        ["composed", "native", "libtorch"]
    );
    assert_eq!(
        cells.iter().find(|c| c.name == "lru").unwrap().kernels,
        ["composed"]
    );
}
