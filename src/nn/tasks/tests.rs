//! Each generator against its paper's definition, row by row.

use tch::{Kind, Tensor};

use super::generate;
use crate::config::Task;

fn floats(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(t.flatten(0, -1)).unwrap()
}

fn longs(t: &Tensor) -> Vec<i64> {
    Vec::<i64>::try_from(t.flatten(0, -1)).unwrap()
}

/// The steps of a row's channel `c` equal to `v`.
fn steps_where(x: &Tensor, row: i64, c: i64, v: f32) -> Vec<usize> {
    let channel = floats(&x.get(row).select(1, c));
    (0..channel.len()).filter(|&s| channel[s] == v).collect()
}

#[test]
fn add_halves_marks_one_step_in_each_half_and_sums_them() {
    let (n, t) = (400, 30);
    let d = generate(Task::AddHalves, n, t, 3).unwrap();
    let y = floats(&d.y);
    for row in 0..n {
        let marked = steps_where(&d.x, row, 0, 1.0);
        assert_eq!(marked.len(), 2, "row {row}");
        assert!(marked[0] < 15 && marked[1] >= 15, "row {row}: {marked:?}");
        let values = floats(&d.x.get(row).select(1, 1));
        assert_eq!(values[marked[0]] + values[marked[1]], y[row as usize]);
    }
    assert_eq!(longs(&d.lengths), vec![t; n as usize]);
}

/// Hochreiter & Schmidhuber's rows: lengths in [T, T + T/10], zeros after
/// the end, -1 markers at the first (unless marked) and last step, X1
/// among the first 10 steps, X2 among the first T/2 - 1 others.
fn check_hochreiter_markers(task: Task, n: i64, t: i64) -> Vec<(f32, f32, f32)> {
    let d = generate(task, n, t, 11).unwrap();
    let longest = t + t / 10;
    assert_eq!(d.x.size(), [n, longest, 2]);
    let lengths = longs(&d.lengths);
    assert!(lengths.iter().all(|&l| (t..=longest).contains(&l)));
    assert!(lengths.contains(&t) && lengths.contains(&longest));
    let y = floats(&d.y);
    let mut rows = Vec::new();
    for row in 0..n {
        let len = lengths[row as usize] as usize;
        let marker = floats(&d.x.get(row).select(1, 0));
        let values = floats(&d.x.get(row).select(1, 1));
        assert!(
            marker[len..]
                .iter()
                .chain(&values[len..])
                .all(|&v| v == 0.0),
            "row {row} padding"
        );
        let marked = steps_where(&d.x, row, 0, 1.0);
        assert_eq!(marked.len(), 2, "row {row}");
        let (i, j) = (marked[0].min(marked[1]), marked[0].max(marked[1]));
        assert!(marked.iter().any(|&s| s < 10), "row {row}: {marked:?}");
        assert!(j < (t / 2 - 1) as usize, "row {row}: {marked:?}");
        assert_eq!(marker[len - 1], -1.0);
        assert_eq!(marker[0], if i == 0 { 1.0 } else { -1.0 }, "row {row}");
        let others = marker.iter().filter(|&&m| m != 0.0).count();
        assert_eq!(others, 2 + usize::from(i != 0) + 1, "row {row}");
        if i == 0 {
            let first = if task == Task::HsAdd { 0.0 } else { 1.0 };
            assert_eq!(values[0], first, "row {row}: a marked first pair's value");
        }
        rows.push((values[i], values[j], y[row as usize]));
    }
    rows
}

#[test]
fn hs_add_follows_experiment_4() {
    let rows = check_hochreiter_markers(Task::HsAdd, 600, 40);
    for (x1, x2, y) in &rows {
        assert_eq!(*y, 0.5 + (x1 + x2) / 4.0);
    }
    let values: Vec<f32> = rows.iter().map(|r| r.1).collect();
    assert!(values.iter().all(|v| (-1.0..1.0).contains(v)));
    assert!(values.iter().any(|&v| v < -0.9) && values.iter().any(|&v| v > 0.9));
}

#[test]
fn hs_multiply_follows_experiment_5() {
    let rows = check_hochreiter_markers(Task::HsMultiply, 600, 40);
    for (x1, x2, y) in &rows {
        assert_eq!(*y, x1 * x2);
    }
    assert!(rows.iter().all(|r| (0.0..1.0).contains(&r.1)));
}

#[test]
fn copy_rows_are_ten_symbols_blanks_a_delimiter_and_the_symbols_back() {
    let (n, t) = (200, 15);
    let d = generate(Task::Copy, n, t, 4).unwrap();
    let steps = t + 20;
    assert_eq!(d.x.size(), [n, steps, 10]);
    assert_eq!(d.y.size(), [n, steps]);
    assert_eq!(
        floats(&d.x.sum_dim_intlist(2, false, Kind::Float)),
        vec![1.0; (n * steps) as usize]
    );
    let input = longs(&d.x.argmax(2, false));
    let target = longs(&d.y);
    for row in 0..n as usize {
        let x = &input[row * steps as usize..][..steps as usize];
        let y = &target[row * steps as usize..][..steps as usize];
        assert!(
            x[..10].iter().all(|s| (1..=8).contains(s)),
            "row {row}: {x:?}"
        );
        assert!(x[10..(t + 9) as usize].iter().all(|&s| s == 0));
        assert_eq!(x[(t + 9) as usize], 9);
        assert!(x[(t + 10) as usize..].iter().all(|&s| s == 0));
        assert!(y[..(t + 10) as usize].iter().all(|&s| s == 0));
        assert_eq!(&y[(t + 10) as usize..], &x[..10]);
    }
    assert_eq!(longs(&d.lengths), vec![steps; n as usize]);
}

#[test]
fn temporal_order_classes_the_order_of_x_and_y() {
    let (n, t) = (800, 50);
    let d = generate(Task::Order, n, t, 8).unwrap();
    let longest = t + t / 10;
    assert_eq!(d.x.size(), [n, longest, 8]);
    let lengths = longs(&d.lengths);
    let classes = longs(&d.y);
    let mut seen = [0; 4];
    for row in 0..n {
        let len = lengths[row as usize] as usize;
        let onehot = d.x.get(row);
        let per_step = floats(&onehot.sum_dim_intlist(1, false, Kind::Float));
        assert!(
            per_step[..len].iter().all(|&v| v == 1.0) && per_step[len..].iter().all(|&v| v == 0.0)
        );
        let symbols = longs(&onehot.argmax(1, false));
        assert_eq!(
            (symbols[0], symbols[len - 1]),
            (0, 1),
            "row {row}: E first, B last"
        );
        let xy: Vec<usize> = (0..len).filter(|&s| symbols[s] >= 6).collect();
        assert_eq!(xy.len(), 2, "row {row}: {symbols:?}");
        assert!(
            (5..=10).contains(&xy[0]) && (25..=30).contains(&xy[1]),
            "row {row}: {xy:?}"
        );
        assert!(symbols[1..len - 1].iter().all(|s| (2..=7).contains(s)));
        let class = 2 * (symbols[xy[0]] - 6) + (symbols[xy[1]] - 6);
        assert_eq!(classes[row as usize], class);
        seen[class as usize] += 1;
    }
    assert!(seen.iter().all(|&c| c > 150), "classes {seen:?}");
}
