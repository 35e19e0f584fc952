//! The CPU code a run computes with, recorded in summary.json. ATen,
//! oneDNN (the LSTM) and MKL (GEMM) pick their kernels by the CPU's
//! instruction set, so one run on two CPU kinds can differ in the last
//! bit and then apart; the record says which kind and which code a run
//! had. (Capping the three to one instruction set with their environment
//! variables did not make runs bit-identical across CPU kinds when it was
//! measured; see docs/reproducibility.md.)

use std::{env, ffi::c_char};

use crate::store::CpuRecord;

extern "C" {
    // src/nn/libtorch_info.cpp
    fn rnn_lab_cpu_capability(out: *mut c_char, size: usize) -> usize;
    fn rnn_lab_mkl_version(out: *mut c_char, size: usize) -> usize;
    fn rnn_lab_onednn_version(out: *mut c_char, size: usize) -> usize;
    // MKL's own service call (exported by libtorch_cpu): the code branch
    // of its conditional numerical reproducibility, MKL_CBWR_BRANCH = 1.
    fn mkl_serv_cbwr_get(option: i32) -> i32;
}

fn ask(f: unsafe extern "C" fn(*mut c_char, usize) -> usize) -> String {
    let mut buf = vec![0u8; 512];
    // SAFETY: the shim writes at most buf.len() bytes, NUL-terminated.
    let n = unsafe { f(buf.as_mut_ptr().cast(), buf.len()) }.min(buf.len() - 1);
    String::from_utf8_lossy(&buf[..n]).trim().to_owned()
}

/// MKL_CBWR's branch names (mkl_cbwr.h).
fn mkl_branch(code: i32) -> String {
    let name = match code & 0xffff {
        0 | 1 => "OFF",
        2 => "AUTO",
        3 => "COMPATIBLE",
        4 => "SSE2",
        6 => "SSSE3",
        7 => "SSE4_1",
        8 => "SSE4_2",
        9 => "AVX",
        10 => "AVX2",
        11 => "AVX512_MIC",
        12 => "AVX512",
        13 => "AVX512_MIC_E1",
        14 => "AVX512_E1",
        _ => return format!("code {code}"),
    };
    name.to_owned()
}

/// The CPU's name and widest vector instructions, from CPUID (what the
/// libraries dispatch on, also under an emulator or a container whose
/// /proc/cpuinfo is the host's).
#[cfg(target_arch = "x86_64")]
fn cpu() -> (String, String) {
    use std::arch::x86_64::__cpuid;
    // CPUID leaves 0x8000000[2-4] exist on every x86_64 CPU.
    let brand: Vec<u8> = (0x8000_0002u32..=0x8000_0004)
        .flat_map(|leaf| {
            let r = __cpuid(leaf);
            [r.eax, r.ebx, r.ecx, r.edx]
                .into_iter()
                .flat_map(u32::to_le_bytes)
        })
        .collect();
    let name = String::from_utf8_lossy(&brand)
        .trim_matches(char::from(0))
        .trim()
        .to_owned();
    let best = if std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512vl")
    {
        "avx512"
    } else if std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
    {
        "avx2"
    } else if std::arch::is_x86_feature_detected!("avx") {
        "avx"
    } else {
        "sse"
    };
    (name, best.to_owned())
}

#[cfg(not(target_arch = "x86_64"))]
fn cpu() -> (String, String) {
    let text = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = text
        .lines()
        .find(|l| l.starts_with("model name") || l.starts_with("Model"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown".into(), |(_, v)| v.trim().to_owned());
    (model, std::env::consts::ARCH.to_owned())
}

/// The record of this process's CPU code.
pub fn record() -> CpuRecord {
    let (model, best_isa) = cpu();
    CpuRecord {
        model,
        best_isa,
        aten: ask(rnn_lab_cpu_capability),
        onednn_version: ask(rnn_lab_onednn_version),
        onednn_max_isa: env::var("ONEDNN_MAX_CPU_ISA").unwrap_or_else(|_| "the CPU's best".into()),
        mkl_version: ask(rnn_lab_mkl_version),
        // SAFETY: a read of MKL's global setting.
        mkl_branch: mkl_branch(unsafe { mkl_serv_cbwr_get(1) }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtorch_answers_what_it_runs() {
        let r = record();
        assert!(r.onednn_version.contains("v3."), "{r:?}");
        assert!(r.mkl_version.contains("Math Kernel Library"), "{r:?}");
        assert!(
            ["AVX512", "AVX2", "DEFAULT"].contains(&r.aten.as_str()),
            "{r:?}"
        );
        assert!(!r.mkl_branch.starts_with("code"), "{r:?}");
    }
}
