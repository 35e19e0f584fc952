//! K members' data on one device, stacked on a leading member dimension,
//! and the rows of each mini-batch gathered for all members at once.

use anyhow::{ensure, Context, Result};
use tch::{Device, Kind, Tensor};

use crate::nn::data::Split;

/// The three sets of K members. Training rows lie member after member in
/// one `[K * rows, steps, features]` tensor, so one `index_select` gathers
/// every member's batch; validation and test sets are `[K, rows, ...]`.
pub struct PackData {
    pub members: i64,
    /// Training rows per member.
    pub rows: i64,
    pub train_x: Tensor,
    pub train_y: Tensor,
    pub val_x: Tensor,
    pub val_y: Tensor,
    pub test_x: Tensor,
    pub test_y: Tensor,
}

impl PackData {
    /// Stacks the members' splits (on the CPU, one shape) onto `device`.
    pub fn stack(splits: &[&Split], device: Device) -> Result<PackData> {
        ensure!(!splits.is_empty(), "a pack needs at least one member");
        let k = splits.len() as i64;
        let stack = |f: fn(&Split) -> &Tensor, what: &str| -> Result<Tensor> {
            let parts: Vec<&Tensor> = splits.iter().map(|s| f(s)).collect();
            Tensor::f_stack(&parts, 0)
                .and_then(|t| t.f_to(device))
                .with_context(|| format!("moving the {what} rows to {device:?}"))
        };
        let train_x = stack(|s| &s.train_x, "training")?;
        let (rows, steps, features) = (train_x.size()[1], train_x.size()[2], train_x.size()[3]);
        Ok(PackData {
            members: k,
            rows,
            train_x: train_x.view([k * rows, steps, features]),
            train_y: stack(|s| &s.train_y, "training")?.view([k * rows, 1]),
            val_x: stack(|s| &s.val_x, "validation")?,
            val_y: stack(|s| &s.val_y, "validation")?,
            test_x: stack(|s| &s.test_x, "test")?,
            test_y: stack(|s| &s.test_y, "test")?,
        })
    }

    /// Member `k`'s training targets, `[rows, 1]`.
    pub fn member_train_y(&self, k: i64) -> Tensor {
        self.train_y.narrow(0, k * self.rows, self.rows)
    }

    /// One epoch's row indices into `train_x`: each member's order (`[rows]`
    /// on the CPU) shifted to its block, `[K, rows]` on the device.
    pub fn epoch_index(&self, orders: &[&Tensor]) -> Tensor {
        let device = self.train_x.device();
        let offsets = (Tensor::arange(self.members, (Kind::Int64, device)) * self.rows)
            .view([self.members, 1]);
        Tensor::stack(orders, 0).to(device) + offsets
    }

    /// The batch of `len` rows from `first` of `index` (`[K, rows]`): inputs
    /// `[K, len, steps, features]` and targets `[K, len, 1]`.
    pub fn batch(&self, index: &Tensor, first: i64, len: i64) -> (Tensor, Tensor) {
        let (steps, features) = (self.train_x.size()[1], self.train_x.size()[2]);
        let rows = index.narrow(1, first, len).reshape([-1]);
        let x = self
            .train_x
            .index_select(0, &rows)
            .view([self.members, len, steps, features]);
        let y = self
            .train_y
            .index_select(0, &rows)
            .view([self.members, len, 1]);
        (x, y)
    }
}
