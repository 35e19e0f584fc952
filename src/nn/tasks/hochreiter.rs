//! Hochreiter & Schmidhuber 1997 ("Long short-term memory", Neural
//! Computation 9(8)), whose sequences have random lengths between T and
//! T + T/10, padded here with zeros after each row's end; the answer is
//! read after each row's own last step.
//!
//! - `Marked` (hs-add, experiment 4; hs-multiply, experiment 5): pairs
//!   (marker, value); values U[-1, 1) (adding) or U[0, 1) (multiplication);
//!   X1 is marked among the first 10 pairs, X2 among the first T/2 - 1 pairs
//!   not already marked; the first and the final pair carry marker -1 unless
//!   marked. If the first pair is marked, its value is set to 0 (adding) or
//!   1 (multiplication). Target 0.5 + (X1 + X2) / 4 (adding) or X1 X2; a row
//!   is correct within 0.04.
//! - `TemporalOrder` (order, experiment 6a): one-hot symbols E, B, a, b, c,
//!   d, X, Y; the row starts with E, ends with B, and is a, b, c or d except
//!   for two symbols X or Y at t1 in [T/10, T/5] and t2 in [T/2, T/2 + T/10]
//!   (the paper's 10..20 and 50..60 at T = 100); the class is the order of
//!   the two: XX, XY, YX, YY.

use tch::{Device, Kind, TchError, Tensor};

use super::{Dataset, Generator};

const F32: (Kind, Device) = (Kind::Float, Device::Cpu);
const I64: (Kind, Device) = (Kind::Int64, Device::Cpu);

/// Each row's length, U{T..T + T/10}, and whether step s lies inside
/// the row (`[n, longest]` float32).
fn lengths(samples: i64, seq_len: i64) -> Result<(Tensor, Tensor), TchError> {
    let longest = seq_len + seq_len / 10;
    let lengths = Tensor::f_randint_low(seq_len, longest + 1, [samples], I64)?;
    let inside = Tensor::f_arange(longest, I64)?
        .f_unsqueeze(0)?
        .f_lt_tensor(&lengths.f_unsqueeze(1)?)?
        .f_to_kind(Kind::Float)?;
    Ok((lengths, inside))
}

pub struct Marked {
    pub sum: bool,
}

impl Generator for Marked {
    fn rows(&self, samples: i64, seq_len: i64) -> Result<Dataset, TchError> {
        let (lengths, inside) = lengths(samples, seq_len)?;
        let longest = seq_len + seq_len / 10;
        let mut values = Tensor::f_rand([samples, longest], F32)?;
        if self.sum {
            values = values.f_mul_scalar(2.0)?.f_sub_scalar(1.0)?;
        }
        let i = Tensor::f_randint(10, [samples, 1], I64)?;
        let j = Tensor::f_randint(seq_len / 2 - 2, [samples, 1], I64)?;
        let j = j.f_add(&j.f_ge_tensor(&i)?.f_to_kind(Kind::Int64)?)?;
        let last = lengths.f_sub_scalar(1)?.f_unsqueeze(1)?;
        let marker = Tensor::f_zeros([samples, longest], F32)?
            .f_index_fill(1, &Tensor::f_zeros([1], I64)?, -1.0)?
            .f_scatter_value(1, &last, -1.0)?
            .f_scatter_value(1, &i, 1.0)?
            .f_scatter_value(1, &j, 1.0)?;
        // "In the rare case where the first pair of the sequence gets
        // marked, we set X1 to zero" (adding; one when multiplying): the
        // first pair's value, whichever marker lands there.
        let first_marked = i.f_eq(0)?.f_logical_or(&j.f_eq(0)?)?;
        let first = values.f_narrow(1, 0, 1)?.f_where_scalarother(
            &first_marked.f_logical_not()?,
            if self.sum { 0.0 } else { 1.0 },
        )?;
        values.f_narrow(1, 0, 1)?.f_copy_(&first)?;
        let values = values.f_mul(&inside)?;
        let x1 = values.f_gather(1, &i, false)?;
        let x2 = values.f_gather(1, &j, false)?;
        let y = if self.sum {
            x1.f_add(&x2)?.f_div_scalar(4.0)?.f_add_scalar(0.5)?
        } else {
            x1.f_mul(&x2)?
        };
        Ok(Dataset {
            x: Tensor::f_stack(&[marker.f_mul(&inside)?, values], 2)?,
            y,
            lengths,
        })
    }
}

/// Symbols as the one-hot input codes them.
const E: i64 = 0;
const B: i64 = 1;
const X: i64 = 6;

pub struct TemporalOrder;

impl Generator for TemporalOrder {
    fn rows(&self, samples: i64, seq_len: i64) -> Result<Dataset, TchError> {
        let (lengths, inside) = lengths(samples, seq_len)?;
        let longest = seq_len + seq_len / 10;
        let symbols = Tensor::f_randint_low(2, 6, [samples, longest], I64)?;
        let t1 = Tensor::f_randint_low(seq_len / 10, seq_len / 5 + 1, [samples, 1], I64)?;
        let t2 = Tensor::f_randint_low(
            seq_len / 2,
            seq_len / 2 + seq_len / 10 + 1,
            [samples, 1],
            I64,
        )?;
        let s1 = Tensor::f_randint(2, [samples, 1], I64)?;
        let s2 = Tensor::f_randint(2, [samples, 1], I64)?;
        let last = lengths.f_sub_scalar(1)?.f_unsqueeze(1)?;
        let symbols = symbols
            .f_scatter(1, &t1, &s1.f_add_scalar(X)?)?
            .f_scatter(1, &t2, &s2.f_add_scalar(X)?)?
            .f_index_fill(1, &Tensor::f_zeros([1], I64)?, E)?
            .f_scatter_value(1, &last, B)?;
        let x = symbols
            .f_one_hot(8)?
            .f_to_kind(Kind::Float)?
            .f_mul(&inside.f_unsqueeze(2)?)?;
        let y = s1.f_mul_scalar(2)?.f_add(&s2)?.f_squeeze_dim(1)?;
        Ok(Dataset { x, y, lengths })
    }
}
