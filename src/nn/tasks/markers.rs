//! The marker tasks of fixed length, two features a step (marker, value),
//! one value to give after the last step.
//!
//! - `Blog` (multiply, blog-add): the blog's multiplication problem (Keras
//!   textbook): values U[0, 1); the first marked step i uniform over all L
//!   steps, the second j uniform over the L - 1 others (j' ~ U{0..L-2},
//!   j = j' + (j' >= i)); target the product (or, for `blog-add`, the sum).
//! - `Halves` (add-halves): the adding problem of Le et al. 2015 ("A simple
//!   way to initialize recurrent networks of rectified linear units", 4.1)
//!   and Arjovsky et al. 2016 ("Unitary evolution recurrent neural
//!   networks", 4.2): values U[0, 1), one marker in the first half
//!   (i ~ U{0..L/2-1}) and one in the second (j ~ U{L/2..L-1}); target the
//!   plain sum. The constant predictor (1) scores MSE 1/6.

use tch::{Device, Kind, TchError, Tensor};

use super::{Dataset, Generator};

const F32: (Kind, Device) = (Kind::Float, Device::Cpu);
const I64: (Kind, Device) = (Kind::Int64, Device::Cpu);

/// `[n, L, 2]`: the markers at `i` and `j`, the values.
fn inputs(values: &Tensor, i: &Tensor, j: &Tensor) -> Result<Tensor, TchError> {
    let marker = values
        .f_zeros_like()?
        .f_scatter_value(1, i, 1.0)?
        .f_scatter_value(1, j, 1.0)?;
    Tensor::f_stack(&[marker, values.shallow_clone()], 2)
}

pub struct Blog {
    pub sum: bool,
}

impl Generator for Blog {
    fn rows(&self, samples: i64, seq_len: i64) -> Result<Dataset, TchError> {
        let values = Tensor::f_rand([samples, seq_len], F32)?;
        let i = Tensor::f_randint(seq_len, [samples, 1], I64)?;
        let j = Tensor::f_randint(seq_len - 1, [samples, 1], I64)?;
        let j = j.f_add(&j.f_ge_tensor(&i)?.f_to_kind(Kind::Int64)?)?;
        let (vi, vj) = (
            values.f_gather(1, &i, false)?,
            values.f_gather(1, &j, false)?,
        );
        let y = if self.sum {
            vi.f_add(&vj)?
        } else {
            vi.f_mul(&vj)?
        };
        Ok(Dataset {
            x: inputs(&values, &i, &j)?,
            y,
            lengths: Tensor::f_full([samples], seq_len, I64)?,
        })
    }
}

pub struct Halves;

impl Generator for Halves {
    fn rows(&self, samples: i64, seq_len: i64) -> Result<Dataset, TchError> {
        let half = seq_len / 2;
        let values = Tensor::f_rand([samples, seq_len], F32)?;
        let i = Tensor::f_randint(half, [samples, 1], I64)?;
        let j = Tensor::f_randint(seq_len - half, [samples, 1], I64)?.f_add_scalar(half)?;
        let y = values
            .f_gather(1, &i, false)?
            .f_add(&values.f_gather(1, &j, false)?)?;
        Ok(Dataset {
            x: inputs(&values, &i, &j)?,
            y,
            lengths: Tensor::f_full([samples], seq_len, I64)?,
        })
    }
}
