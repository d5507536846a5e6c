//! A pin directory on bpffs for `--pin-dir` (bpffs mounted if the machine has none), removed
//! with its pins on drop.
use std::{path::PathBuf, process::Command};

const BPFFS: &str = "/sys/fs/bpf";

pub struct PinDir {
    pub dir: PathBuf,
    mounted: bool,
}

impl PinDir {
    pub fn new() -> Self {
        let magic = |p: &str| {
            let c = std::ffi::CString::new(p).unwrap();
            // SAFETY: valid path, out-parameter of the right type.
            let mut st: libc::statfs = unsafe { std::mem::zeroed() };
            (unsafe { libc::statfs(c.as_ptr(), &mut st) } == 0) && st.f_type as i64 == 0xcafe_4a11
        };
        let mounted = !magic(BPFFS)
            && Command::new("mount")
                .args(["-t", "bpf", "bpf", BPFFS])
                .status()
                .is_ok_and(|s| s.success());
        assert!(magic(BPFFS), "no bpffs at {BPFFS}");
        Self {
            dir: PathBuf::from(BPFFS).join(crate::unique("pins")),
            mounted,
        }
    }
}

impl Drop for PinDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        if self.mounted {
            let _ = Command::new("umount").arg(BPFFS).status();
        }
    }
}

impl Default for PinDir {
    fn default() -> Self {
        Self::new()
    }
}
