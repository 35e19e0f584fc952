//! Row-major single-precision GEMM through the BLAS libtorch carries: the
//! Fortran `sgemm_` that libtorch_cpu exports (MKL's, in PyPI's x86-64
//! wheels), found at run time so a libtorch without one still builds and
//! runs (the native kernel is then refused in one line). MKL runs the
//! recurrence's small products (30x30 by 30x32) at 60-80 % of its
//! large-GEMM rate on one core; libtorch's `bmm` pays a few microseconds
//! of dispatch on each, more than the arithmetic.

use std::ffi::{c_char, c_int, c_void};
use std::sync::OnceLock;

type Sgemm = unsafe extern "C" fn(
    transa: *const c_char,
    transb: *const c_char,
    m: *const c_int,
    n: *const c_int,
    k: *const c_int,
    alpha: *const f32,
    a: *const f32,
    lda: *const c_int,
    b: *const f32,
    ldb: *const c_int,
    beta: *const f32,
    c: *mut f32,
    ldc: *const c_int,
);
type SetThreadsLocal = unsafe extern "C" fn(c_int) -> c_int;

/// An exported symbol of the binary or a library it links (libtorch_cpu's
/// exports are in the global scope).
fn symbol(name: &std::ffi::CStr) -> *mut c_void {
    unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) }
}

fn sgemm() -> Option<Sgemm> {
    static FOUND: OnceLock<Option<Sgemm>> = OnceLock::new();
    *FOUND.get_or_init(|| {
        let f = symbol(c"sgemm_");
        (!f.is_null()).then(|| unsafe { std::mem::transmute::<*mut c_void, Sgemm>(f) })
    })
}

/// Whether this libtorch exports a BLAS `sgemm_`.
pub fn available() -> bool {
    sgemm().is_some()
}

/// Runs `f` with MKL's BLAS on one thread in this thread (where MKL is the
/// BLAS), whatever libtorch's thread count: the kernels' products are too
/// small to split, and packs split members across threads themselves.
pub fn one_thread<R>(f: impl FnOnce() -> R) -> R {
    static SET: OnceLock<Option<SetThreadsLocal>> = OnceLock::new();
    let set = *SET.get_or_init(|| {
        // MKL's C entry point (its lower-case name is the Fortran one,
        // which takes a pointer).
        let f = symbol(c"MKL_Set_Num_Threads_Local");
        (!f.is_null()).then(|| unsafe { std::mem::transmute::<*mut c_void, SetThreadsLocal>(f) })
    });
    match set {
        Some(set) => {
            let before = unsafe { set(1) };
            let r = f();
            // 0 restores the global setting when there was no local one.
            unsafe { set(before) };
            r
        }
        None => f(),
    }
}

/// A row-major matrix operand in memory the caller owns: `rows x cols`
/// as stored, `ld` floats between rows, used transposed when `t`.
#[derive(Clone, Copy)]
pub struct Mat {
    pub ptr: *const f32,
    pub rows: usize,
    pub cols: usize,
    pub ld: usize,
    pub t: bool,
}

impl Mat {
    /// A dense matrix over `data`.
    pub fn of(data: &[f32], rows: usize, cols: usize) -> Mat {
        assert!(
            data.len() >= rows * cols,
            "a {rows}x{cols} matrix over {} floats",
            data.len()
        );
        Mat {
            ptr: data.as_ptr(),
            rows,
            cols,
            ld: cols,
            t: false,
        }
    }

    /// `cols` columns of `data`'s rows of `ld` floats, from column `at`.
    pub fn cols_of(data: &[f32], rows: usize, ld: usize, at: usize, cols: usize) -> Mat {
        assert!(
            at + cols <= ld && rows * ld <= data.len(),
            "columns {at}+{cols} of {rows}x{ld}"
        );
        Mat {
            ptr: data[at..].as_ptr(),
            rows,
            cols,
            ld,
            t: false,
        }
    }

    /// Its transpose in the product.
    pub fn tr(self) -> Mat {
        Mat { t: !self.t, ..self }
    }

    fn shape(&self) -> (usize, usize) {
        if self.t {
            (self.cols, self.rows)
        } else {
            (self.rows, self.cols)
        }
    }
}

/// `c = a b + beta c`, row-major; `c` is `rows x cols` with `ld` floats
/// between rows, from `c_ptr`.
///
/// # Safety
/// `a` and `b` must point at memory of their shapes and `ld`s, `c_ptr` at
/// writable memory of `c`'s, not overlapping `a`'s or `b`'s elements; a
/// `sgemm_` must exist (checked by the kernels before they run).
pub unsafe fn gemm(a: Mat, b: Mat, beta: f32, c_ptr: *mut f32, c_ld: usize) {
    let (m, k) = a.shape();
    let (k2, n) = b.shape();
    assert_eq!(k, k2, "gemm: inner sizes {k} and {k2}");
    assert!(c_ld >= n, "gemm: {n} columns in rows of {c_ld}");
    if m == 0 || n == 0 {
        return;
    }
    let f = sgemm().expect("sgemm_ checked before the kernel ran");
    // Column-major BLAS on row-major data: C^T = op(B)^T op(A)^T, a
    // row-major matrix read column-major being its transpose.
    let flag = |t: bool| if t { b'T' as c_char } else { b'N' as c_char };
    let (m, n, k) = (m as c_int, n as c_int, k as c_int);
    let (lda, ldb, ldc) = (a.ld.max(1) as c_int, b.ld.max(1) as c_int, c_ld as c_int);
    let alpha = 1f32;
    f(
        &flag(b.t),
        &flag(a.t),
        &n,
        &m,
        &k,
        &alpha,
        b.ptr,
        &ldb,
        a.ptr,
        &lda,
        &beta,
        c_ptr,
        &ldc,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every combination of transposes against the definition, with beta 0
    /// and 1, on shapes that are not square, with a strided operand and output.
    #[test]
    fn row_major_products_equal_the_definition() {
        assert!(available(), "libtorch 2.11's x86-64 build exports sgemm_");
        let (m, n, k) = (5usize, 3usize, 4usize);
        let fill = |len: usize, s: f32| {
            (0..len)
                .map(|i| (i as f32 * 0.37 + s).sin())
                .collect::<Vec<f32>>()
        };
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let a = fill(m * k, 0.1);
            // b is stored with 2 extra columns per row and read from column 1.
            let (b_rows, b_cols) = if tb { (n, k) } else { (k, n) };
            let b = fill(b_rows * (b_cols + 2), 0.7);
            let av = |i: usize, p: usize| if ta { a[p * m + i] } else { a[i * k + p] };
            let bv = |p: usize, j: usize| {
                let (r, c) = if tb { (j, p) } else { (p, j) };
                b[r * (b_cols + 2) + 1 + c]
            };
            let ma = if ta {
                Mat::of(&a, k, m).tr()
            } else {
                Mat::of(&a, m, k)
            };
            let mb = Mat::cols_of(&b, b_rows, b_cols + 2, 1, b_cols);
            let mb = if tb { mb.tr() } else { mb };
            for beta in [0.0f32, 1.0] {
                // c: rows of n + 1, the last column untouched.
                let mut c = fill(m * (n + 1), 2.0);
                let before = c.clone();
                unsafe { gemm(ma, mb, beta, c.as_mut_ptr(), n + 1) };
                for i in 0..m {
                    for j in 0..=n {
                        let want = if j == n {
                            before[i * (n + 1) + j]
                        } else {
                            (0..k).map(|p| av(i, p) * bv(p, j)).sum::<f32>()
                                + beta * before[i * (n + 1) + j]
                        };
                        let got = c[i * (n + 1) + j];
                        assert!(
                            (got - want).abs() < 1e-5,
                            "ta={ta} tb={tb} beta={beta} ({i},{j}): {got} vs {want}"
                        );
                    }
                }
            }
        }
    }
}
