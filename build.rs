//! Link flags for libtorch. Without them the binary neither starts (no rpath:
//! "libtorch_cpu.so: cannot open shared object file") nor sees CUDA (the
//! linker drops libtorch_cuda.so as unneeded, so `Cuda::is_available()` is
//! false on a GPU machine; tch issues #787, #980).
use std::{env, fs, path::Path};

/// The libtorch that tch 0.24 is built for.
const EXPECTED_LIBTORCH: &str = "2.11.0";
const SETUP_HINT: &str = "run scripts/setup.sh (it installs torch 2.11.0 and links .libtorch), \
     or point LIBTORCH at a libtorch 2.11.0";

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    // torch-sys (links = "tch") exports the lib folder it linked against.
    let lib = env::var("DEP_TCH_LIBTORCH_LIB")
        .unwrap_or_else(|_| panic!("torch-sys did not report a libtorch folder: {SETUP_HINT}"));
    // Canonical, so the rpath survives a re-pointed .libtorch link.
    let lib = fs::canonicalize(&lib).unwrap_or_else(|_| lib.into());
    let lib = lib.as_path();
    if !lib.join("libtorch_cpu.so").exists() && !lib.join("libtorch_cpu.dylib").exists() {
        panic!("no libtorch in {}: {SETUP_HINT}", lib.display());
    }
    let version = libtorch_version(lib).unwrap_or_else(|| "unknown".to_owned());
    let base = version.split('+').next().unwrap_or_default();
    if version != "unknown" && base != EXPECTED_LIBTORCH {
        panic!(
            "libtorch {version} found in {}, but rnn-lab (tch 0.24) needs {EXPECTED_LIBTORCH}: {SETUP_HINT}",
            lib.display()
        );
    }
    println!("cargo:rustc-env=RNN_LAB_LIBTORCH_VERSION={version}");

    let target_os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "linux" || target_os == "macos" {
        let new_dtags = if target_os == "linux" {
            "-Wl,--enable-new-dtags,"
        } else {
            "-Wl,"
        };
        println!("cargo:rustc-link-arg={new_dtags}-rpath,{}", lib.display());
    }
    // The C shims: what CPU code libtorch runs (src/nn/cpu.rs), and a
    // variable's gradient set to a given tensor (src/nn/optim/flat.rs).
    println!("cargo:rerun-if-changed=src/nn/libtorch_info.cpp");
    println!("cargo:rerun-if-changed=src/nn/optim/grad.cpp");
    cc::Build::new()
        .cpp(true)
        .std("c++17")
        .include(lib.join("..").join("include"))
        // Every libtorch 2.11 build (the PyPI wheels included) uses the C++11 ABI.
        .define("_GLIBCXX_USE_CXX11_ABI", "1")
        .define("GLOG_USE_GLOG_EXPORT", None)
        .warnings(false)
        .file("src/nn/libtorch_info.cpp")
        .file("src/nn/optim/grad.cpp")
        .compile("rnn_lab_shims");
    println!("cargo:rustc-link-search=native={}", lib.display());
    println!("cargo:rustc-link-lib=dylib=torch_cpu");
    println!("cargo:rustc-link-lib=dylib=c10");

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

/// Reads the version of a pip-installed torch (`version.py`) or of a
/// libtorch zip (`build-version`) from the folder above `lib`.
fn libtorch_version(lib: &Path) -> Option<String> {
    let root = lib.parent()?;
    if let Ok(text) = fs::read_to_string(root.join("build-version")) {
        return Some(text.trim().to_owned());
    }
    let text = fs::read_to_string(root.join("version.py")).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("__version__ = "))
        .map(|v| v.trim().trim_matches(|c| c == '\'' || c == '"').to_owned())
}
