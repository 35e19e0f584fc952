//! Link flags for libtorch. Without them the binary neither starts (no rpath:
//! "libtorch_cpu.so: cannot open shared object file") nor sees CUDA (the
//! linker drops libtorch_cuda.so as unneeded, so `Cuda::is_available()` is
//! false on a GPU machine; tch issues #787, #980).
use std::{env, fs};

fn main() {
    // crates/libtorch-check has checked LIBTORCH (present, 2.11.0) before
    // torch-sys built; it reports the version it found.
    let version = env::var("DEP_RNN_LAB_LIBTORCH_VERSION").unwrap_or_else(|_| "unknown".to_owned());
    println!("cargo:rustc-env=RNN_LAB_LIBTORCH_VERSION={version}");
    // torch-sys (links = "tch") exports the lib folder it linked against.
    let lib = env::var("DEP_TCH_LIBTORCH_LIB").expect("torch-sys reports DEP_TCH_LIBTORCH_LIB");
    // Canonical, so the rpath survives a re-pointed .libtorch link.
    let lib = fs::canonicalize(&lib).unwrap_or_else(|_| lib.into());
    let lib = lib.as_path();

    let target_os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "linux" || target_os == "macos" {
        let new_dtags = if target_os == "linux" {
            "-Wl,--enable-new-dtags,"
        } else {
            "-Wl,"
        };
        println!("cargo:rustc-link-arg={new_dtags}-rpath,{}", lib.display());
    }
    let cuda = lib.join("libtorch_cuda.so");
    if target_os == "linux" && cuda.exists() {
        // Keep libtorch_cuda.so in DT_NEEDED although no symbol of it is used
        // directly: its static initialisers register the CUDA backend.
        println!(
            "cargo:rustc-link-arg=-Wl,--no-as-needed,{},--as-needed",
            cuda.display()
        );
    }
}
