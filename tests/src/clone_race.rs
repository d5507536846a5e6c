//! clone3 raced: a second thread flips `struct clone_args.flags` between the flags asked for
//! and 0 while the main thread calls clone3 again and again. What the sensor's entry read and
//! what the kernel copied a moment later then differ in some rounds, both ways. Each child
//! tells which namespaces it really got (its `/proc/self/ns/*` inodes against its parent's), so
//! a test knows, per child pid, what each call made. On x86_64 the calls can go through
//! `int $0x80` too, as i386 calls (the struct then lives below 4 GiB).
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The namespaces a child can get, as (its `/proc/self/ns` file, its `CLONE_NEW*` flag).
pub const NAMESPACES: [(&str, u64); 8] = [
    ("uts", libc::CLONE_NEWUTS as u64),
    ("ipc", libc::CLONE_NEWIPC as u64),
    ("mnt", libc::CLONE_NEWNS as u64),
    ("pid", libc::CLONE_NEWPID as u64),
    ("net", libc::CLONE_NEWNET as u64),
    ("time", libc::CLONE_NEWTIME as u64),
    ("cgroup", libc::CLONE_NEWCGROUP as u64),
    ("user", libc::CLONE_NEWUSER as u64),
];

/// `struct clone_args`, version 0 (64 bytes): flags, pidfd, child_tid, parent_tid,
/// exit_signal, stack, stack_size, tls. Atomics: another thread writes the flags.
type CloneArgs = [AtomicU64; 8];
static ARGS: CloneArgs = [const { AtomicU64::new(0) }; 8];

/// The struct the calls use: `ARGS`, or for i386 calls a copy where a 32-bit pointer reaches.
fn clone_args(i386: bool) -> &'static CloneArgs {
    #[cfg(target_arch = "x86_64")]
    if i386 {
        let mut low = crate::int80::LowMemory::new(4096).expect("mmap below 4 GiB");
        let at = low.put(&[0u8; size_of::<CloneArgs>()]);
        // SAFETY: 64 zeroed bytes at the start of a page of a mapping that is never unmapped
        // (LowMemory has no Drop), so aligned and valid for the program's life.
        return unsafe { &*(at as usize as *const CloneArgs) };
    }
    assert!(!i386, "i386 calls need x86_64");
    &ARGS
}

/// clone3 with `args`, as an i386 call through `int $0x80` if `i386`.
fn clone3(args: &CloneArgs, i386: bool) -> i64 {
    #[cfg(target_arch = "x86_64")]
    if i386 {
        const I386_CLONE3: u32 = 435;
        let at = u32::try_from(args.as_ptr() as usize).expect("below 4 GiB");
        let size = size_of::<CloneArgs>() as u32;
        return i64::from(crate::int80::syscall(I386_CLONE3, [at, size, 0, 0, 0, 0]));
    }
    // SAFETY: clone3 with a valid struct.
    unsafe { libc::syscall(libc::SYS_clone3, args.as_ptr(), size_of::<CloneArgs>()) }
}
static STOP: AtomicBool = AtomicBool::new(false);

/// The inode of each of [`NAMESPACES`]' files for the calling process (0: none here).
fn inodes() -> [u64; 8] {
    let mut out = [0u64; 8];
    for (slot, (name, _)) in out.iter_mut().zip(NAMESPACES) {
        let path = format!("/proc/self/ns/{name}\0");
        // SAFETY: a NUL-terminated path and a stat buffer of our own.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::stat(path.as_ptr().cast(), &mut st) } == 0 {
            *slot = st.st_ino;
        }
    }
    out
}

/// One clone3 with `args` as they are: the child's pid and the `CLONE_NEW*` flags of the
/// namespaces it did not share with `parent` (its namespaces' inodes); `None` if it failed.
/// The child only stats and `_exit`s (no allocation, no lock another thread may hold).
fn clone_once(
    args: &CloneArgs,
    i386: bool,
    parent: &[u64; 8],
    paths: &[Vec<u8>; 8],
) -> Option<(i64, u64)> {
    let pid = clone3(args, i386);
    if pid == 0 {
        let mut bits = 0;
        for (i, path) in paths.iter().enumerate() {
            // SAFETY: as above.
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            if unsafe { libc::stat(path.as_ptr().cast(), &mut st) } == 0 && st.st_ino != parent[i] {
                bits |= 1 << i;
            }
        }
        // SAFETY: the child leaves at once.
        unsafe { libc::_exit(bits) };
    }
    if pid < 0 {
        return None;
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid as i32, &mut status, libc::__WALL) };
    let bits = libc::WEXITSTATUS(status) as u64;
    let made = NAMESPACES
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .fold(0, |acc, (_, (_, flag))| acc | flag);
    Some((pid, made))
}

/// `rounds` raced clone3 calls asking for `flags` (i386 calls if `i386`), then one more,
/// unraced (the marker: the last call, with `flags` for sure). Returns each successful
/// call's (child pid, namespaces made), the marker last.
pub fn run(flags: u64, rounds: u32, i386: bool) -> Vec<(i64, u64)> {
    let args = clone_args(i386);
    args[4].store(libc::SIGCHLD as u64, Ordering::Relaxed);
    let parent = inodes();
    let paths = NAMESPACES.map(|(name, _)| format!("/proc/self/ns/{name}\0").into_bytes());
    let flipper = std::thread::spawn(move || {
        while !STOP.load(Ordering::Relaxed) {
            for value in [flags, 0] {
                args[0].store(value, Ordering::Relaxed);
                for _ in 0..50 {
                    std::hint::spin_loop();
                }
            }
        }
    });
    let mut made: Vec<(i64, u64)> = (0..rounds)
        .filter_map(|_| clone_once(args, i386, &parent, &paths))
        .collect();
    STOP.store(true, Ordering::Relaxed);
    flipper.join().expect("the flipping thread");
    args[0].store(flags, Ordering::Relaxed);
    made.extend(clone_once(args, i386, &parent, &paths));
    made
}
