//! Finding tracefs (mounting it when the node has not), and reading tracepoint formats.
pub mod format;

use std::{
    ffi::CString,
    io,
    path::{Path, PathBuf},
};

/// Where aya looks for tracefs when it attaches a tracepoint, in its order.
pub const TRACEFS_PATHS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

#[derive(Debug, thiserror::Error)]
pub enum TracefsError {
    #[error(
        "tracefs is not mounted and mounting it at {path} failed: {source} \
         (the sensor needs CAP_SYS_ADMIN for that, or mount it first: \
         `mount -t tracefs tracefs {path}`)"
    )]
    Mount { path: String, source: io::Error },
    #[error("reading tracepoint format {path}: {source}")]
    ReadFormat { path: PathBuf, source: io::Error },
    #[error("tracepoint format {path}: {source}")]
    ParseFormat {
        path: PathBuf,
        source: format::FormatError,
    },
}

/// Held shared by every sensor between finding tracefs and attaching: the one that mounted
/// it unmounts it only when it can take it exclusively, i.e. when no other sensor on the node
/// is between those two steps.
const LOCK: &str = "/run/sensor-tracefs.lock";

/// A usable tracefs. If the sensor mounted it, [`Tracefs::release`] unmounts it again, unless
/// another sensor is still attaching (see [`LOCK`]).
#[derive(Debug)]
pub struct Tracefs {
    root: PathBuf,
    mounted_by_us: bool,
    /// `None` where the lock cannot be created (a read-only /run): then nothing is unmounted.
    lock: Option<std::fs::File>,
}

fn flock(f: &std::fs::File, op: libc::c_int) -> bool {
    use std::os::fd::AsRawFd as _;
    // SAFETY: a valid open fd.
    unsafe { libc::flock(f.as_raw_fd(), op) == 0 }
}

fn shared_lock() -> Option<std::fs::File> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(LOCK)
        .ok()?;
    flock(&f, libc::LOCK_SH).then_some(f)
}

fn usable(path: &Path) -> bool {
    path.join("events").is_dir()
}

impl Tracefs {
    /// Finds a mounted tracefs, or mounts one at `/sys/kernel/tracing`.
    pub fn ensure() -> Result<Self, TracefsError> {
        let lock = shared_lock();
        if let Some(p) = TRACEFS_PATHS.iter().map(Path::new).find(|p| usable(p)) {
            return Ok(Self {
                root: p.to_owned(),
                mounted_by_us: false,
                lock,
            });
        }
        let path = TRACEFS_PATHS[0];
        tracing::info!("tracefs is not mounted; mounting it at {path}");
        let c_path = CString::new(path).expect("static path");
        let fstype = c"tracefs";
        // SAFETY: valid NUL-terminated strings; no data argument.
        let rc = unsafe {
            libc::mount(
                fstype.as_ptr(),
                c_path.as_ptr(),
                fstype.as_ptr(),
                0,
                std::ptr::null(),
            )
        };
        if rc != 0 {
            return Err(TracefsError::Mount {
                path: path.to_owned(),
                source: io::Error::last_os_error(),
            });
        }
        Ok(Self {
            root: PathBuf::from(path),
            mounted_by_us: true,
            lock,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Parses `events/<category>/<name>/format`.
    pub fn format(&self, category: &str, name: &str) -> Result<Vec<format::Field>, TracefsError> {
        let path = self
            .root
            .join("events")
            .join(category)
            .join(name)
            .join("format");
        let text = std::fs::read_to_string(&path).map_err(|source| TracefsError::ReadFormat {
            path: path.clone(),
            source,
        })?;
        format::parse(&text).map_err(|source| TracefsError::ParseFormat { path, source })
    }

    /// Unmounts tracefs if the sensor mounted it. Attached tracepoints do not need it any more.
    pub fn release(self) {
        let sole = self
            .lock
            .as_ref()
            .is_some_and(|f| flock(f, libc::LOCK_EX | libc::LOCK_NB));
        if !self.mounted_by_us || !sole {
            if self.mounted_by_us {
                tracing::info!("leaving tracefs mounted: another sensor is using it");
            }
            return;
        }
        let c_path = CString::new(self.root.as_os_str().as_encoded_bytes()).expect("no NUL");
        // SAFETY: valid NUL-terminated path.
        if unsafe { libc::umount2(c_path.as_ptr(), libc::MNT_DETACH) } != 0 {
            tracing::warn!(
                "could not unmount the tracefs the sensor mounted at {}: {}",
                self.root.display(),
                io::Error::last_os_error()
            );
        }
    }
}
