//! The process table: pid -> parent and binary, seeded by a /proc scan at start and kept by
//! fork, exec and exit events. It gives every event its parent's and grandparent's binary.
//! Bounded: past its capacity new processes are not tracked (and that is counted).
use std::{path::Path, sync::Arc};

use foldhash::HashMap;

use crate::event::Argv;

#[derive(Clone, Debug, PartialEq, Eq)]
struct Proc {
    ppid: u32,
    exe: Option<Arc<[u8]>>,
    argv: Option<Argv>,
}

fn argv_of(cmdline: &[u8]) -> Option<Argv> {
    let args: Vec<Vec<u8>> = cmdline
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    (!args.is_empty()).then(|| Arc::from(args))
}

#[derive(Debug)]
pub struct ProcessTable {
    procs: HashMap<u32, Proc>,
    capacity: usize,
    /// Processes not tracked because the table was full.
    pub overflowed: u64,
}

/// The parent pid from the text of `/proc/<pid>/stat` (the comm field may hold spaces and
/// parentheses, so parse from the last `)`).
pub fn ppid_from_stat(stat: &str) -> Option<u32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

impl ProcessTable {
    pub fn new(capacity: usize) -> Self {
        Self {
            procs: HashMap::default(),
            capacity,
            overflowed: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.procs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.procs.is_empty()
    }

    /// Adds every process under `proc_root` (normally /proc, or the host's under a mount).
    pub fn scan(&mut self, proc_root: &Path) -> std::io::Result<usize> {
        let mut found = 0;
        for entry in std::fs::read_dir(proc_root)?.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let dir = entry.path();
            let Some(ppid) = std::fs::read_to_string(dir.join("stat"))
                .ok()
                .as_deref()
                .and_then(ppid_from_stat)
            else {
                continue; // exited meanwhile
            };
            let exe = std::fs::read_link(dir.join("exe"))
                .ok()
                .map(|p| Arc::from(p.as_os_str().as_encoded_bytes()));
            let argv = std::fs::read(dir.join("cmdline"))
                .ok()
                .as_deref()
                .and_then(argv_of);
            self.insert(pid, Proc { ppid, exe, argv });
            found += 1;
        }
        Ok(found)
    }

    fn insert(&mut self, pid: u32, proc: Proc) {
        if self.procs.len() >= self.capacity && !self.procs.contains_key(&pid) {
            self.overflowed += 1;
            return;
        }
        self.procs.insert(pid, proc);
    }

    /// A new process: it runs its parent's binary until it execs.
    pub fn fork(&mut self, parent: u32, child: u32) {
        let (exe, argv) = match self.procs.get(&parent) {
            Some(p) => (p.exe.clone(), p.argv.clone()),
            None => (None, None),
        };
        self.insert(
            child,
            Proc {
                ppid: parent,
                exe,
                argv,
            },
        );
    }

    pub fn exec(&mut self, pid: u32, ppid: u32, filename: &Arc<[u8]>, argv: &Argv) {
        let ppid = if ppid != 0 {
            ppid
        } else {
            self.ppid(pid).unwrap_or(0)
        };
        self.insert(
            pid,
            Proc {
                ppid,
                exe: Some(filename.clone()),
                argv: (!argv.is_empty()).then(|| argv.clone()),
            },
        );
    }

    pub fn exit(&mut self, pid: u32) {
        self.procs.remove(&pid);
    }

    pub fn ppid(&self, pid: u32) -> Option<u32> {
        self.procs.get(&pid).map(|p| p.ppid)
    }

    pub fn exe(&self, pid: u32) -> Option<Arc<[u8]>> {
        self.procs.get(&pid).and_then(|p| p.exe.clone())
    }

    pub fn argv(&self, pid: u32) -> Option<Argv> {
        self.procs.get(&pid).and_then(|p| p.argv.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_awkward_comms() {
        assert_eq!(ppid_from_stat("42 (bash) S 7 42 42 0"), Some(7));
        assert_eq!(ppid_from_stat("42 (a) b) (c) R 9 1 1"), Some(9));
        assert_eq!(ppid_from_stat("garbage"), None);
    }

    #[test]
    fn fork_exec_exit_keep_ancestry() {
        let mut t = ProcessTable::new(10);
        t.exec(10, 1, &b"/bin/sh"[..].into(), &vec![b"sh".to_vec()].into());
        t.fork(10, 11);
        assert_eq!(t.exe(11).as_deref(), Some(&b"/bin/sh"[..]));
        t.exec(
            11,
            10,
            &b"/bin/mount"[..].into(),
            &vec![b"mount".to_vec(), b"-a".to_vec()].into(),
        );
        assert_eq!(
            t.argv(11).as_deref(),
            Some(&[b"mount".to_vec(), b"-a".to_vec()][..])
        );
        assert_eq!(
            (t.ppid(11), t.exe(11).as_deref()),
            (Some(10), Some(&b"/bin/mount"[..]))
        );
        t.exit(11);
        assert_eq!(t.ppid(11), None);
    }

    #[test]
    fn is_bounded() {
        let mut t = ProcessTable::new(2);
        for pid in 1..=5 {
            t.fork(0, pid);
        }
        assert_eq!((t.len(), t.overflowed), (2, 3));
    }

    #[test]
    fn scans_this_machines_proc() {
        let mut t = ProcessTable::new(1 << 20);
        assert!(t.scan(Path::new("/proc")).unwrap() > 0);
        let me = std::process::id();
        assert_eq!(t.ppid(me), Some(std::os::unix::process::parent_id()));
    }
}
