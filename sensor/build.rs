//! Embeds the eBPF object built by `cargo xtask build` (which sets SENSOR_EBPF_OBJ).
//!
//! Without it, an empty stub is embedded so that `cargo check`, `clippy` and the unit tests
//! work on any machine; `sensor run` then says how to build the real thing.
use std::{env, fs, path::PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=SENSOR_EBPF_OBJ");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR")).join("sensor-ebpf.o");
    match env::var_os("SENSOR_EBPF_OBJ") {
        Some(src) => {
            let src = PathBuf::from(src);
            println!("cargo:rerun-if-changed={}", src.display());
            if let Err(e) = fs::copy(&src, &out) {
                panic!(
                    "SENSOR_EBPF_OBJ={}: cannot copy the eBPF object: {e}",
                    src.display()
                );
            }
        }
        None => {
            println!(
                "cargo:warning=SENSOR_EBPF_OBJ is unset: embedding an empty eBPF object \
                 (fine for tests; use `cargo xtask build` for a working sensor)"
            );
            fs::write(&out, []).expect("write stub eBPF object");
        }
    }
}
