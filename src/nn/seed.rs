//! Seed streams: one user seed becomes independent libtorch seeds for the
//! data, the initial weights and the batch order, so that each can be
//! reproduced alone (the PyTorch reference skips the init stream when it
//! loads rnn-lab's weights, yet shuffles exactly as rnn-lab does).

use std::sync::{Mutex, MutexGuard};

/// libtorch's CPU generator is global to the process: whoever seeds it and
/// draws a sequence (data, initial weights, a run's batch orders) holds
/// this lock for the whole sequence, so runs on several threads of one
/// process cannot interleave their draws. (Runs are parallelised as
/// processes, see `sweep`; this keeps library callers and tests correct.)
pub fn rng_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What a stream of random numbers is used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Data = 1,
    Init = 2,
    Shuffle = 3,
}

/// The libtorch seed of `stream` for the user's `seed`: SplitMix64 of the
/// two, cut to 63 bits so it is a valid `torch.manual_seed` argument on
/// every binding. `scripts/reference.py` computes the same function.
pub fn seed_stream(seed: u64, stream: Stream) -> i64 {
    let mut z = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(stream as u64);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 1) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_differ_and_are_stable() {
        let a = seed_stream(1, Stream::Data);
        assert_ne!(a, seed_stream(1, Stream::Init));
        assert_ne!(a, seed_stream(2, Stream::Data));
        assert_ne!(seed_stream(1, Stream::Init), seed_stream(2, Stream::Data));
        assert!(a >= 0);
        assert!(seed_stream(u64::MAX, Stream::Shuffle) >= 0);
        // Pinned to what scripts/reference.py's seed_stream computes.
        assert_eq!(seed_stream(0, Stream::Data), 5225608189600411232);
        assert_eq!(seed_stream(1, Stream::Init), 6909686245660430113);
        assert_eq!(seed_stream(u64::MAX, Stream::Shuffle), 1092597310007415928);
    }
}
