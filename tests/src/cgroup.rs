//! Test cgroups: created under the cgroup2 mount, removed (with anything left in them) on drop.
use std::{
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

/// The cgroup2 mount point, from /proc/self/mountinfo (never assumed).
pub fn cgroup2_mount() -> Option<PathBuf> {
    mounts()
        .into_iter()
        .find(|(fstype, _)| fstype == "cgroup2")
        .map(|(_, mp)| mp)
}

/// (filesystem type, mount point) of every mount in /proc/self/mountinfo.
fn mounts() -> Vec<(String, PathBuf)> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let fstype = post.split_whitespace().next()?;
            Some((
                fstype.to_owned(),
                PathBuf::from(pre.split_whitespace().nth(4)?),
            ))
        })
        .collect()
}

/// A cgroup2 directory this test made. Its id is what `bpf_get_current_cgroup_id()` returns.
#[derive(Debug)]
pub struct TestCgroup {
    path: PathBuf,
}

impl TestCgroup {
    pub fn new(tag: &str) -> Self {
        let root = cgroup2_mount().expect("no cgroup2 mount");
        let path = root.join(crate::unique(tag));
        std::fs::create_dir(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        Self { path }
    }

    /// A cgroup at `path` (relative to the cgroup2 root), its missing parents made too: hold
    /// a [`CgroupPathGuard`] of the path, made first, to remove them.
    pub fn at(path: &str) -> Self {
        let root = cgroup2_mount().expect("no cgroup2 mount");
        let path = root.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        Self { path }
    }

    /// A cgroup inside this one. Drop it before its parent.
    pub fn child(&self, name: &str) -> Self {
        let path = self.path.join(name);
        std::fs::create_dir(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The cgroup id: the inode number of the directory.
    pub fn id(&self) -> u64 {
        std::fs::metadata(&self.path).expect("stat cgroup").ino()
    }

    fn procs(&self) -> String {
        std::fs::read_to_string(self.path.join("cgroup.procs")).unwrap_or_default()
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        if !self.procs().trim().is_empty() {
            let _ = std::fs::write(self.path.join("cgroup.kill"), "1");
        }
        // rmdir is refused while a killed process is still exiting: retry for a while.
        let deadline = Instant::now() + Duration::from_secs(5);
        while let Err(e) = std::fs::remove_dir(&self.path) {
            if Instant::now() > deadline {
                eprintln!(
                    "warning: could not remove test cgroup {}: {e}",
                    self.path.display()
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A scratch directory (a mount target, a chroot), removed on drop after a lazy unmount.
#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    pub fn new(tag: &str) -> Self {
        let path = std::env::temp_dir().join(crate::unique(tag));
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn as_str(&self) -> &str {
        self.path.to_str().expect("utf-8 temp path")
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        // A test that failed half-way may have left a mount here; only ours can be on it.
        if let Ok(c) = std::ffi::CString::new(self.path.as_os_str().as_encoded_bytes()) {
            // SAFETY: valid path; EINVAL (nothing mounted) is the normal outcome.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Every cgroup hierarchy mounted on this machine (v1 controllers and cgroup2).
pub fn hierarchies() -> Vec<PathBuf> {
    mounts()
        .into_iter()
        .filter(|(fstype, _)| matches!(fstype.as_str(), "cgroup" | "cgroup2"))
        .map(|(_, mp)| mp)
        .collect()
}

/// The directories a cgroup path will add in every hierarchy (those that do not exist yet),
/// removed again on drop, deepest first. What existed before is never touched.
#[derive(Debug)]
pub struct CgroupPathGuard {
    made: Vec<PathBuf>,
}

impl CgroupPathGuard {
    pub fn new(cgroup_path: &str) -> Self {
        let mut made = Vec::new();
        for h in hierarchies() {
            let mut dir = h.clone();
            for part in cgroup_path.split('/').filter(|p| !p.is_empty()) {
                dir.push(part);
                if !dir.exists() {
                    made.push(dir.clone());
                }
            }
        }
        Self { made }
    }
}

impl Drop for CgroupPathGuard {
    fn drop(&mut self) {
        // kernfs reports no d_type: stat each entry.
        let has_children = |dir: &Path| {
            std::fs::read_dir(dir).is_ok_and(|mut d| d.any(|e| e.is_ok_and(|e| e.path().is_dir())))
        };
        for dir in self.made.iter().rev() {
            // Another guard's cgroups are still below: that guard removes this one too.
            if has_children(dir) {
                continue;
            }
            // Processes may still be leaving it: retry for a while.
            let removed =
                crate::wait_until(Duration::from_secs(5), || match std::fs::remove_dir(dir) {
                    Ok(()) => true,
                    Err(e) => e.kind() == std::io::ErrorKind::NotFound,
                });
            if !removed {
                eprintln!("warning: could not remove {}", dir.display());
            }
        }
    }
}
