//! What the native recurrence kernels share, cell-independent: BLAS's
//! `sgemm_` on row-major data (`blas`), the nonlinearities written to
//! vectorise (`math`), and the plumbing from tensors to the kernels'
//! memory (`Seq`, `Members`, `vectorised!`).
//!
//! A native layer works *feature-major over the whole sequence*: a
//! member's activations are one row-major matrix `[features, L * B]`,
//! column `t * B + b` holding step t of row b. Then
//! - a step is a `[features, B]` block (leading dimension `L * B`), so the
//!   recurrent product of a step is one small GEMM into that block;
//! - the input projection, the weight gradients and the input's gradient
//!   over all steps are each one large GEMM (the previous step's outputs
//!   are the same matrix shifted by B columns);
//! - every elementwise loop runs over B contiguous floats per feature, and
//!   each gate of a step is its own block, so nothing is strided.
//! The network hands layers time-major `[K, L, B, F]` tensors; a
//! feature-major `[K, F, L, B]` tensor is its permuted view, so a stack of
//! native layers copies nothing between layers.

pub mod blas;
pub mod math;

use tch::{Device, Kind, Tensor};

/// `x` (`[K, L, B, F]`, any strides) as contiguous feature-major
/// `[K, F, L, B]`: no copy when `x` is a view of one (a native layer's output).
pub fn feature_major(x: &Tensor) -> Tensor {
    x.permute([0, 3, 1, 2]).contiguous()
}

/// Feature-major `[K, F, L, B]` as the network's time-major `[K, L, B, F]` (a view).
pub fn time_major(x: &Tensor) -> Tensor {
    x.permute([0, 2, 3, 1])
}

/// A layer's sequence: `steps` of `batch` rows, so `cols = steps * batch`
/// columns per feature.
#[derive(Clone, Copy, Debug)]
pub struct Seq {
    pub steps: usize,
    pub batch: usize,
}

impl Seq {
    pub fn cols(&self) -> usize {
        self.steps * self.batch
    }

    /// Where step t's block starts in a row.
    pub fn at(&self, t: usize) -> usize {
        t * self.batch
    }
}

/// A float32 CPU tensor's memory split by its first dimension (the
/// members), so each member's part can go to its own thread.
#[derive(Clone, Copy)]
pub struct Members {
    ptr: *mut f32,
    per: usize,
}

// Safety: each member's part is only reached through `member`, and
// `for_members` gives each member to exactly one thread.
unsafe impl Send for Members {}
unsafe impl Sync for Members {}

impl Members {
    /// `t`'s memory (`[K, ...]`, contiguous float32 on the CPU).
    pub fn of(t: &Tensor) -> Members {
        assert!(
            t.kind() == Kind::Float && t.device() == Device::Cpu && t.is_contiguous(),
            "a native kernel reads contiguous float32 CPU tensors, got {:?} on {:?}",
            t.kind(),
            t.device()
        );
        let k = t.size().first().copied().unwrap_or(1).max(1) as usize;
        Members {
            ptr: t.data_ptr() as *mut f32,
            per: t.numel() / k,
        }
    }

    /// Member `m`'s part.
    ///
    /// # Safety
    /// No other live slice may cover member `m`'s part of the same tensor
    /// (each kernel takes each member once, on one thread), and the tensor
    /// must outlive the slice.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn member<'a>(&self, m: usize) -> &'a mut [f32] {
        std::slice::from_raw_parts_mut(self.ptr.add(m * self.per), self.per)
    }
}

/// Runs `f` for each of `k` members, over up to libtorch's thread count
/// (`--threads`): each member on one thread, the BLAS single-threaded
/// inside each, since the products are too small to split. A lone run
/// uses one thread.
pub fn for_members(k: usize, f: impl Fn(usize) + Sync) {
    let threads = (tch::get_num_threads().max(1) as usize).min(k.max(1));
    if threads == 1 {
        blas::one_thread(|| (0..k).for_each(&f));
        return;
    }
    std::thread::scope(|s| {
        for start in 0..threads {
            let f = &f;
            s.spawn(move || blas::one_thread(|| (start..k).step_by(threads).for_each(f)));
        }
    });
}

/// Defines `fn $name(args)` from a body written over plain slices, compiled
/// for AVX-512 and AVX2 too, the widest the CPU has chosen at run time.
/// The bodies use no fused multiply-add, so every width gives the same
/// bits.
#[macro_export]
macro_rules! vectorised {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$m])*
        $vis fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn body($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                unsafe fn avx512($($arg: $ty),*) {
                    body($($arg),*)
                }
                #[target_feature(enable = "avx2")]
                unsafe fn avx2($($arg: $ty),*) {
                    body($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // Safety: the CPU has the feature.
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    return unsafe { avx2($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}

/// A scratch buffer of `n` floats (zeros) starting on a 64-byte boundary,
/// as libtorch's own tensors do: MKL's conditions for run-to-run
/// reproducibility (its "CNR" documentation) include operands aligned
/// alike in every run, which a plain `Vec` placed by malloc at whatever
/// offset the heap's history gives does not promise.
pub struct Scratch {
    buf: Vec<f32>,
    at: usize,
    n: usize,
}

impl Scratch {
    pub fn zeros(n: usize) -> Scratch {
        let buf = vec![0f32; n + 16];
        // Floats to skip to the next 64-byte boundary (buf is 4-aligned).
        let at = (64 - (buf.as_ptr() as usize) % 64) % 64 / 4;
        Scratch { buf, at, n }
    }
}

impl std::ops::Deref for Scratch {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.buf[self.at..self.at + self.n]
    }
}

impl std::ops::DerefMut for Scratch {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.buf[self.at..self.at + self.n]
    }
}

/// How many floats the elementwise loops take at a time: one AVX-512
/// register, two AVX2 ones.
pub const LANES: usize = 16;

/// Defines `fn $name(inputs..., outputs...)` over equal-length slices
/// from the function of one element of each input to one of each output
/// (its body returns `[f32; outputs]`), vectorised by `vectorised!`.
/// The slices are separate parameters, so the compiler knows outputs and
/// inputs do not overlap (rows of one matrix, split apart, are both), the
/// element's function is inlined, and each chunk of `LANES` is a loop of
/// a fixed count over arrays: what its vectoriser needs (indexing rows of
/// one matrix in place kept the scalar loop, 10 ns an element).
#[macro_export]
macro_rules! lanes {
    ($(#[$m:meta])* fn $name:ident($($i:ident),* => $($o:ident),*) $lane:block) => {
        $crate::vectorised! {
            $(#[$m])*
            #[allow(clippy::too_many_arguments)]
            fn $name($($i: &[f32],)* $($o: &mut [f32],)*) {
                use $crate::nn::native::LANES;
                const OUTS: usize = [$(stringify!($o)),*].len();
                #[inline(always)]
                fn lane($($i: f32),*) -> [f32; OUTS] $lane
                let n = [$($o.len()),*][0];
                $(assert_eq!($i.len(), n);)*
                $(assert_eq!($o.len(), n);)*
                let full = n - n % LANES;
                for k in (0..full).step_by(LANES) {
                    $(let $i = <&[f32; LANES]>::try_from(&$i[k..k + LANES]).expect("a chunk");)*
                    $(let $o = <&mut [f32; LANES]>::try_from(&mut $o[k..k + LANES]).expect("a chunk");)*
                    for l in 0..LANES {
                        let r = lane($($i[l]),*);
                        let mut _q = 0;
                        $($o[l] = r[_q]; _q += 1;)*
                    }
                }
                for k in full..n {
                    let r = lane($($i[k]),*);
                    let mut _q = 0;
                    $($o[k] = r[_q]; _q += 1;)*
                }
            }
        }
    };
}

/// Lets glibc reuse freed memory instead of returning it to the system:
/// a layer's buffers are allocated and freed every batch (megabytes per
/// member; a pack's are K times that), and above glibc's mapping
/// threshold each allocation was a fresh `mmap` whose pages all faulted
/// in again, every batch. Called once at start.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        // glibc's largest mapping threshold (32 MiB on 64-bit), and no
        // trimming of the heap's free top below 1 GiB.
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}
