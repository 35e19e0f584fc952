//! Checks the libtorch in `LIBTORCH` before torch-sys builds against it.
//! torch-sys's own failure for a missing libtorch is a C++ compiler error
//! (`torch/torch.h: No such file or directory`), and it checks no version
//! for a pip-installed torch; this script runs first (it depends on
//! nothing) and says what to do in one line.
use std::{env, fs, path::Path, process};

/// The libtorch that tch 0.24 is built for.
const EXPECTED: &str = "2.11.0";
const FIX: &str = "run scripts/setup.sh (it installs torch 2.11.0 and links .libtorch), \
                   or set LIBTORCH to a libtorch 2.11.0";

fn main() {
    for var in [
        "LIBTORCH",
        "LIBTORCH_USE_PYTORCH",
        "LIBTORCH_BYPASS_VERSION_CHECK",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    // torch-sys finds libtorch through Python, or a system/downloaded copy,
    // when LIBTORCH is unset: those paths are its own to check.
    if env::var_os("LIBTORCH_USE_PYTORCH").is_some() {
        return;
    }
    let Some(root) = env::var_os("LIBTORCH") else {
        return;
    };
    let root = Path::new(&root);
    // Re-check when .libtorch appears or is re-pointed.
    println!("cargo:rerun-if-changed={}", root.display());
    let lib = root.join("lib");
    if !["libtorch_cpu.so", "libtorch_cpu.dylib", "torch_cpu.dll"]
        .iter()
        .any(|f| lib.join(f).exists())
    {
        fail(&format!("no libtorch at LIBTORCH={}", root.display()));
    }
    let version = version(root).unwrap_or_else(|| "unknown".to_owned());
    if version != "unknown"
        && version.split('+').next() != Some(EXPECTED)
        && env::var_os("LIBTORCH_BYPASS_VERSION_CHECK").is_none()
    {
        fail(&format!(
            "libtorch {version} at {}, but rnn-lab (tch 0.24) needs {EXPECTED}",
            root.display()
        ));
    }
    println!("cargo:version={version}");
}

fn fail(what: &str) -> ! {
    eprintln!("error: {what}: {FIX}");
    process::exit(1);
}

/// The version of a pip-installed torch (`version.py`) or of a libtorch
/// zip (`build-version`).
fn version(root: &Path) -> Option<String> {
    if let Ok(text) = fs::read_to_string(root.join("build-version")) {
        return Some(text.trim().to_owned());
    }
    let text = fs::read_to_string(root.join("version.py")).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("__version__ = "))
        .map(|v| v.trim().trim_matches(|c| c == '\'' || c == '"').to_owned())
}
