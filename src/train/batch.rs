//! K members' data on one device, stacked on a leading member dimension,
//! and the rows of each mini-batch gathered for all members at once.

use anyhow::{ensure, Context, Result};
use tch::{Device, Kind, Tensor};

use crate::nn::tasks::{Rows, Split};

/// One set of K members: inputs `[K, rows, steps, features]`, targets
/// `[K, rows, ...]` and each row's last step `[K, rows]` (where a task
/// reads its answer when lengths vary).
pub struct Stacked {
    pub x: Tensor,
    pub y: Tensor,
    pub last_steps: Tensor,
}

/// The three sets of K members. Training rows lie member after member in
/// `[K * rows, ...]` tensors, so one `index_select` gathers every member's
/// batch.
pub struct PackData {
    pub members: i64,
    /// Training rows per member.
    pub rows: i64,
    pub train_x: Tensor,
    pub train_y: Tensor,
    pub train_last_steps: Tensor,
    pub val: Stacked,
    pub test: Stacked,
}

/// `t` with its first two dimensions merged.
fn merge(t: &Tensor) -> Tensor {
    let s = t.size();
    let mut shape = vec![s[0] * s[1]];
    shape.extend(&s[2..]);
    t.view(shape.as_slice())
}

impl PackData {
    /// Stacks the members' splits (on the CPU, one shape) onto `device`.
    pub fn stack(splits: &[&Split], device: Device) -> Result<PackData> {
        ensure!(!splits.is_empty(), "a pack needs at least one member");
        let k = splits.len() as i64;
        let stack = |f: fn(&Split) -> &Rows, what: &str| -> Result<Stacked> {
            let part = |g: fn(&Rows) -> &Tensor| -> Result<Tensor> {
                let parts: Vec<&Tensor> = splits.iter().map(|s| g(f(s))).collect();
                Ok(Tensor::f_stack(&parts, 0)?.f_to(device)?)
            };
            let moved = || -> Result<Stacked> {
                Ok(Stacked {
                    x: part(|r| &r.x)?,
                    y: part(|r| &r.y)?,
                    last_steps: part(|r| &r.lengths)?.f_sub_scalar(1)?,
                })
            };
            moved().with_context(|| format!("moving the {what} rows to {device:?}"))
        };
        let train = stack(|s| &s.train, "training")?;
        let rows = train.x.size()[1];
        Ok(PackData {
            members: k,
            rows,
            train_x: merge(&train.x),
            train_y: merge(&train.y),
            train_last_steps: merge(&train.last_steps),
            val: stack(|s| &s.val, "validation")?,
            test: stack(|s| &s.test, "test")?,
        })
    }

    /// Member `k`'s training targets.
    pub fn member_train_y(&self, k: i64) -> Tensor {
        self.train_y.narrow(0, k * self.rows, self.rows)
    }

    /// One epoch's row indices into the training tensors: each member's
    /// order (`[rows]` on the CPU) shifted to its block, `[K, rows]` on the
    /// device.
    pub fn epoch_index(&self, orders: &[&Tensor]) -> Tensor {
        let device = self.train_x.device();
        let offsets = (Tensor::arange(self.members, (Kind::Int64, device)) * self.rows)
            .view([self.members, 1]);
        Tensor::stack(orders, 0).to(device) + offsets
    }

    /// The batch of `len` rows from `first` of `index` (`[K, rows]`): inputs
    /// `[K, len, steps, features]`, targets `[K, len, ...]` and the rows'
    /// last steps `[K, len]`.
    pub fn batch(&self, index: &Tensor, first: i64, len: i64) -> Stacked {
        let rows = index.narrow(1, first, len).reshape([-1]);
        let split = |t: &Tensor| {
            let mut shape = vec![self.members, len];
            shape.extend(&t.size()[1..]);
            t.index_select(0, &rows).view(shape.as_slice())
        };
        Stacked {
            x: split(&self.train_x),
            y: split(&self.train_y),
            last_steps: split(&self.train_last_steps),
        }
    }
}
