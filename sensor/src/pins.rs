//! What the sensor keeps in bpffs across restarts: the learned-syscalls map, pinned under a
//! directory the user chooses (`--pin-dir`). A pinned map of another layout is set aside
//! (renamed) and reported, never read as this one.
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use sensor_common::{LEARNED_PIN_NAME, LEARNED_SLOTS};

/// `BPF_FS_MAGIC`: the filesystem type of bpffs.
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

fn is_bpffs(dir: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: a valid path and an out-parameter of the right type.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    (unsafe { libc::statfs(c.as_ptr(), &mut st) } == 0) && st.f_type as i64 == BPF_FS_MAGIC
}

/// Makes `dir` (on a mounted bpffs) and returns where the learned map is pinned.
pub fn prepare(dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating pin directory {}", dir.display()))?;
    if !is_bpffs(dir) {
        bail!(
            "{} is not on a bpffs: mount one (`mount -t bpf bpf /sys/fs/bpf`) and pin below it",
            dir.display()
        );
    }
    let path = dir.join(LEARNED_PIN_NAME);
    if path.exists() {
        let compatible = aya::maps::MapInfo::from_pin(&path)
            .is_ok_and(|i| i.key_size() == 8 && i.value_size() == LEARNED_SLOTS as u32);
        if !compatible {
            // bpffs refuses names with a dot (EPERM): `_incompatible`, not `.incompatible`.
            let aside = dir.join(format!("{LEARNED_PIN_NAME}_incompatible"));
            std::fs::rename(&path, &aside)
                .with_context(|| format!("setting aside {}", path.display()))?;
            tracing::warn!(
                "the pinned learned map at {} has another layout: set aside as {}; learning starts over",
                path.display(),
                aside.display()
            );
        } else {
            tracing::info!("reusing the learned syscalls pinned at {}", path.display());
        }
    }
    Ok(path)
}
