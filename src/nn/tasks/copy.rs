//! The copying memory problem of Arjovsky et al. 2016 ("Unitary evolution
//! recurrent neural networks", 4.1), after Hochreiter & Schmidhuber 1997:
//! symbols 0 (blank), 1..8 (data) and 9 (delimiter), one-hot; a row of
//! T + 20 steps is 10 data symbols drawn uniformly, T - 1 blanks, the
//! delimiter and 10 blanks. The answer at every step: blank for the first
//! T + 10 steps, then the 10 data symbols. Loss: cross-entropy averaged
//! over all steps; predicting blanks, then uniformly among the 8 symbols,
//! scores 10 ln 8 / (T + 20). Score: the share of copied symbols recalled.

use tch::{Device, Kind, TchError, Tensor};

use super::{Dataset, Generator};

const I64: (Kind, Device) = (Kind::Int64, Device::Cpu);
/// The data symbols a row copies.
pub const COPIED: i64 = 10;
const DELIMITER: i64 = 9;

pub struct Copy;

impl Generator for Copy {
    fn rows(&self, samples: i64, seq_len: i64) -> Result<Dataset, TchError> {
        let steps = seq_len + 20;
        let data = Tensor::f_randint_low(1, 9, [samples, COPIED], I64)?;
        let input = Tensor::f_zeros([samples, steps], I64)?;
        input.f_narrow(1, 0, COPIED)?.f_copy_(&data)?;
        let _ = input.f_narrow(1, seq_len + 9, 1)?.f_fill_(DELIMITER)?;
        let target = Tensor::f_zeros([samples, steps], I64)?;
        target.f_narrow(1, seq_len + 10, COPIED)?.f_copy_(&data)?;
        Ok(Dataset {
            x: input.f_one_hot(10)?.f_to_kind(Kind::Float)?,
            y: target,
            lengths: Tensor::f_full([samples], steps, I64)?,
        })
    }
}
