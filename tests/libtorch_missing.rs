//! Building without libtorch (before scripts/setup.sh) fails with one
//! clear line naming the setup command, not torch-sys's bare
//! "torch/torch.h: No such file or directory".

use std::process::Command;

#[test]
fn building_without_libtorch_names_the_setup_command() {
    let tmp = tempfile::tempdir().unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // Only torch-sys, in a target folder of its own, against no libtorch;
    // the crates are already downloaded by the build that runs this test.
    let out = Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "--release", "--offline", "-p", "torch-sys"])
        .env("CARGO_TARGET_DIR", tmp.path())
        .env("LIBTORCH", tmp.path().join("no-libtorch"))
        .env_remove("CPLUS_INCLUDE_PATH") // .cargo/config.toml sets it
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "torch-sys built without libtorch?");
    let first_error = stderr
        .lines()
        .find(|l| l.contains("error"))
        .unwrap_or_default();
    assert!(
        first_error.contains("rnn-lab: no libtorch at LIBTORCH")
            && first_error.contains("run scripts/setup.sh"),
        "the first error must name the fix, got: {first_error}\n{stderr}"
    );
}
