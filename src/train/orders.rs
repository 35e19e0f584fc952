//! The batch order: each epoch a permutation of a member's training rows,
//! drawn on the CPU from its seed's shuffle stream (so it is the same on
//! every device and in every mode). The one implementation: a lone run, a
//! pack and `--save-data` all draw here, every epoch up front.

use anyhow::{bail, Result};
use tch::{Device, Kind, Tensor};

use crate::nn::seed::{rng_lock, seed_stream, Stream};

/// Bytes of batch orders one process may hold (they are drawn up front:
/// each member's stream must continue across epochs, and libtorch's
/// generator is one per process).
pub const MAX_ORDER_BYTES: i64 = 4 << 30;

/// Every epoch's batch order of a run (`[rows]` each, on the CPU): the
/// seed's shuffle stream, one `randperm` per epoch.
pub fn batch_orders(seed: u64, rows: i64, epochs: i64) -> Vec<Tensor> {
    let _rng = rng_lock();
    tch::manual_seed(seed_stream(seed, Stream::Shuffle));
    (0..epochs)
        .map(|_| Tensor::randperm(rows, (Kind::Int64, Device::Cpu)))
        .collect()
}

/// Refuses `members` runs of `epochs` x `rows` whose orders would exceed
/// [`MAX_ORDER_BYTES`].
pub fn check_order_memory(members: usize, epochs: i64, rows: i64) -> Result<()> {
    let bytes = (members as i64)
        .saturating_mul(epochs)
        .saturating_mul(rows)
        .saturating_mul(8);
    if bytes > MAX_ORDER_BYTES {
        bail!(
            "{members} run(s) x {epochs} epochs x {rows} rows need more than 4 GiB of batch orders; use a smaller --pack or fewer --epochs"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_are_permutations_fixed_by_the_seed() {
        let a = batch_orders(4, 10, 3);
        let b = batch_orders(4, 10, 3);
        assert_eq!(a.len(), 3);
        for (x, y) in a.iter().zip(&b) {
            assert!(x.equal(y));
            let sorted = Vec::<i64>::try_from(x.sort(0, false).0).unwrap();
            assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        }
        assert!(!a[0].equal(&a[1]), "each epoch draws anew");
        assert!(!a[0].equal(&batch_orders(5, 10, 1)[0]));
    }

    #[test]
    fn too_many_orders_are_refused() {
        check_order_memory(32, 100, 2048).unwrap();
        let err = check_order_memory(1024, 1000, 2048)
            .unwrap_err()
            .to_string();
        assert!(err.contains("more than 4 GiB of batch orders"), "{err}");
    }
}
