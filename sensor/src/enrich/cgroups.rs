//! cgroup id -> cgroup path, and who owns that cgroup. The cache is filled by one walk of the
//! cgroup2 tree at start, then kept current by the kernel's cgroup_mkdir/cgroup_rmdir records;
//! a miss (a cgroup made while the sensor was not looking) triggers a rate-limited rescan,
//! which runs off the reader (see `Enricher::rescan`); the events of the missing cgroup wait
//! for it.
use std::{
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use foldhash::HashMap;

use super::container::{Owner, classify};

/// The cgroup2 mount point in a `/proc/<pid>/mountinfo` text.
pub fn cgroup2_mount(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        let mount_point = pre.split_whitespace().nth(4)?;
        (post.split_whitespace().next()? == "cgroup2").then(|| PathBuf::from(mount_point))
    })
}

/// Deeper trees are not walked (and deeper paths are not trusted to the kernel records alone).
const MAX_DEPTH: usize = 32;
/// The fewest seconds between two rescans caused by misses.
const RESCAN_EVERY: Duration = Duration::from_secs(1);

/// A cgroup the sensor knows: its path (relative to the cgroup2 root) and its owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupInfo {
    pub path: Arc<str>,
    pub owner: Arc<Owner>,
}

#[derive(Debug)]
pub struct CgroupCache {
    root: PathBuf,
    by_id: HashMap<u64, CgroupInfo>,
    last_scan: Option<Instant>,
    capacity: usize,
}

impl CgroupCache {
    /// `root` is the cgroup2 mount as this process sees it (configurable for a pod's host mount).
    pub fn new(root: PathBuf, capacity: usize) -> Self {
        Self {
            root,
            by_id: HashMap::default(),
            last_scan: None,
            capacity,
        }
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Walks the whole tree; returns how many cgroups it found.
    pub fn scan(&mut self) -> std::io::Result<usize> {
        self.last_scan = Some(Instant::now());
        let found = scan_tree(&self.root)?;
        let n = found.len();
        self.absorb(found);
        Ok(n)
    }

    /// Records a cgroup (from a scan or a cgroup_mkdir record).
    pub fn insert(&mut self, id: u64, path: &str) -> CgroupInfo {
        if self.by_id.len() >= self.capacity && !self.by_id.contains_key(&id) {
            // Bounded: forget everything and let misses rebuild what is still alive.
            tracing::warn!(capacity = self.capacity, "cgroup cache full: clearing it");
            self.by_id.clear();
        }
        let info = CgroupInfo {
            path: Arc::from(path),
            owner: Arc::new(classify(path)),
        };
        self.by_id.insert(id, info.clone());
        info
    }

    /// The ids of every cached cgroup.
    pub fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.by_id.keys().copied()
    }

    /// Forgets a cgroup (from a cgroup_rmdir record).
    pub fn remove(&mut self, id: u64) -> Option<CgroupInfo> {
        self.by_id.remove(&id)
    }

    /// The cgroup with this id, if the cache has it (never rescans).
    pub fn resolve_cached(&self, id: u64) -> Option<CgroupInfo> {
        self.by_id.get(&id).cloned()
    }

    /// May a miss start a rescan now (none for [`RESCAN_EVERY`])? If so, the rescan counts
    /// as started.
    pub fn rescan_due(&mut self) -> bool {
        if self.last_scan.is_some_and(|t| t.elapsed() < RESCAN_EVERY) {
            return false;
        }
        self.last_scan = Some(Instant::now());
        true
    }

    /// The cgroup2 mount this cache describes.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Takes in what a rescan found (`(id, path)` pairs from [`scan_tree`]).
    pub fn absorb(&mut self, found: Vec<(u64, String)>) {
        for (id, path) in found {
            self.insert(id, &path);
        }
    }
}

/// Every cgroup under `root` as `(id, path relative to root)`: a rescan, run off the reader.
pub fn scan_tree(root: &Path) -> std::io::Result<Vec<(u64, String)>> {
    let mut found = Vec::new();
    walk(root, |ino, dir| found.push((ino, relative(root, dir))))?;
    Ok(found)
}

/// Calls `f` with the id (inode number) and the path of every cgroup under `root` (a cgroup2
/// mount), `root` included, down to [`MAX_DEPTH`]. Only an unreadable root is an error: a
/// cgroup removed while we walk is skipped.
pub fn walk(root: &Path, mut f: impl FnMut(u64, &Path)) -> std::io::Result<()> {
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        let ino = match std::fs::metadata(&dir) {
            Ok(m) => m.ino(),
            Err(e) if dir == root => return Err(e),
            Err(_) => continue, // removed while we walked
        };
        f(ino, &dir);
        if depth >= MAX_DEPTH {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push((e.path(), depth + 1));
            }
        }
    }
    Ok(())
}

fn relative(root: &Path, dir: &Path) -> String {
    let rel = dir.strip_prefix(root).unwrap_or(dir);
    format!("/{}", rel.to_string_lossy())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_cgroup2_mount_in_hybrid_and_unified_layouts() {
        let hybrid = "25 24 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n\
                      41 25 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n\
                      42 25 0:39 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n";
        assert_eq!(
            cgroup2_mount(hybrid),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        let unified = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(
            cgroup2_mount(unified),
            Some(PathBuf::from("/sys/fs/cgroup"))
        );
        assert_eq!(cgroup2_mount("1 0 0:1 / / rw - ext4 /dev/vda rw\n"), None);
    }

    #[test]
    fn scans_a_tree_and_classifies_it() {
        let root = std::env::temp_dir().join(format!("sensor-cgcache-{}", std::process::id()));
        let id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let leaf = root.join("docker").join(id);
        std::fs::create_dir_all(&leaf).unwrap();
        let mut cache = CgroupCache::new(root.clone(), 100);
        assert_eq!(cache.scan().unwrap(), 3);
        let ino = std::fs::metadata(&leaf).unwrap().ino();
        let info = cache.resolve_cached(ino).unwrap();
        assert_eq!(&*info.path, format!("/docker/{id}"));
        assert!(matches!(&*info.owner, Owner::Container(c) if c.id == id));
        let root_ino = std::fs::metadata(&root).unwrap().ino();
        assert_eq!(&*cache.resolve_cached(root_ino).unwrap().path, "/");
        assert!(cache.remove(ino).is_some());
        assert_eq!(cache.len(), 2);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn is_bounded() {
        let mut cache = CgroupCache::new(PathBuf::from("/nonexistent"), 2);
        cache.insert(1, "/");
        cache.insert(2, "/a");
        cache.insert(3, "/b");
        assert!(cache.len() <= 2);
        assert!(cache.resolve_cached(3).is_some());
    }
}
