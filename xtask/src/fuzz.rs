//! `cargo xtask fuzz`, and the short fuzz run of `cargo xtask test`: the kernel-record and
//! syscall-argument decoders under cargo-fuzz (libFuzzer with AddressSanitizer).
//!
//! The seeds are kept in `fuzz/corpus/<target>`; what a run finds goes to
//! `target/fuzz-corpus/<target>` (the repository is not written to). A crash leaves its input in
//! `fuzz/artifacts/` and fails the run.
use std::path::Path;

use crate::util::{cargo, output, run, say, timed, workspace_root};

const CARGO_FUZZ_VERSION: &str = "0.13.1";
pub const CARGO_FUZZ: &str = "cargo-fuzz";
pub const TARGETS: [&str; 2] = ["record", "args"];

fn ensure_cargo_fuzz() -> anyhow::Result<()> {
    let installed = output(cargo().args(["fuzz", "--version"]));
    if installed.is_some_and(|v| v.contains(CARGO_FUZZ_VERSION)) {
        return Ok(());
    }
    say(format!(
        "installing cargo-fuzz {CARGO_FUZZ_VERSION} with cargo install (for the decoder fuzz run)"
    ));
    crate::setup::cargo_install(
        CARGO_FUZZ,
        cargo().args([
            "install",
            CARGO_FUZZ,
            "--locked",
            "--version",
            CARGO_FUZZ_VERSION,
        ]),
    )
}

/// Fuzzes each target for `seconds`.
pub fn fuzz(seconds: u32) -> anyhow::Result<()> {
    ensure_cargo_fuzz()?;
    let root = workspace_root();
    for target in TARGETS {
        let found = root.join("target/fuzz-corpus").join(target);
        std::fs::create_dir_all(&found)?;
        let seeds = Path::new("corpus").join(target);
        timed(&format!("fuzzing {target} for {seconds} s"), || {
            let mut cmd = cargo();
            cmd.current_dir(root.join("fuzz"))
                // cargo-fuzz needs unstable flags (sanitizers); this stable compiler allows
                // them for this build only.
                .env("RUSTC_BOOTSTRAP", "1")
                .env_remove("SENSOR_EBPF_OBJ")
                .args(["fuzz", "run", "-O", target])
                .arg(&found)
                .arg(&seeds)
                .arg("--")
                .arg(format!("-max_total_time={seconds}"))
                // Any input that makes a decoder allocate more than this is a bug.
                .args([
                    "-malloc_limit_mb=64",
                    "-rss_limit_mb=2048",
                    "-print_final_stats=1",
                ]);
            run(&mut cmd)
        })?;
    }
    Ok(())
}
