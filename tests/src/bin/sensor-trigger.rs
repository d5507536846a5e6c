//! Test helper: joins a cgroup, then makes one syscall the sensor should flag (or execs).
//!
//! `sensor-trigger CGROUP_DIR ACTION [ARGS...]` (CGROUP_DIR `-`: stay in the caller's cgroup),
//! where ACTION is one of
//! - `mount-tmpfs TARGET`: mount a tmpfs on TARGET (must succeed), then unmount it;
//! - `mount-fail TARGET`: mount an unknown filesystem type (must fail with ENODEV);
//! - `mount-untouched TARGET`: the same, its three strings on a page mapped from a memfd
//!   that the process has not touched (not yet in its page tables when the call enters);
//! - `mount-eperm TARGET`: mount a tmpfs, expecting EPERM (run it without CAP_SYS_ADMIN);
//! - `mount-seccomp TARGET`: install a seccomp filter that refuses mount with EPERM (with the
//!   `seccompiler` crate), then mount a tmpfs (must fail with EPERM);
//! - `chroot DIR`: chroot into DIR (must succeed);
//! - `umount-fail TARGET`: umount2 TARGET, expecting any failure (e.g. a path that does not
//!   exist);
//! - `umount-storm N [BURST]`: N umount2 calls of a missing path (each fails fast with
//!   ENOENT), pausing 1 ms after every BURST calls when BURST is given;
//! - `unshare`: unshare(CLONE_NEWNS|CLONE_NEWUTS) (must succeed);
//! - `setns`: setns into its own UTS namespace (must succeed);
//! - `syscall NR`: syscall number NR without arguments, expecting ENOSYS (for numbers the
//!   kernel does not implement);
//! - `syscall-seccomp NR`: the same under a seccomp filter that refuses NR with EPERM;
//! - `exec PATH [ARGS...]`: exec PATH with ARGS as given (bytes, not necessarily UTF-8);
//! - `int80 NR [ARG...]`: i386 syscall NR through `int $0x80` (x86_64 only); each ARG is a
//!   number (decimal or 0x hex), `s:TEXT`, a string placed below 4 GiB, `u:TEXT`, the same
//!   alone on a page the process never touches (a memfd mapped, never read), or `w:N,N,...`, an
//!   array of u32 words placed there (socketcall's arguments). Prints the result
//!   and exits 0 whatever it was (a test judges it by what the sensor saw);
//! - `int80-seccomp NR [ARG...]`: the same under a seccomp filter that refuses i386 call NR
//!   with EPERM (and allows everything else);
//! - `int80-execve PATH [ARGS...]`: i386 execve of PATH with ARGS (argv[0] is PATH);
//! - `calls NR...`: each native syscall NR in turn, every argument 0 (harmless getters and
//!   the like; results ignored);
//! - `raw NR [ARG...]`: native syscall NR with numeric ARGs (decimal or 0x hex); prints the
//!   result and exits 0 whatever it was. A clone-like call's child `_exit`s at once, and the
//!   parent waits for it;
//! - `clone3 FLAGS`: clone3 with `struct clone_args.flags = FLAGS` and SIGCHLD, the same way;
//! - `clone3-race FLAGS ROUNDS [i386]`: ROUNDS clone3 calls (i386 ones through `int $0x80`)
//!   asking for FLAGS while a second thread flips the flags between FLAGS and 0, then one
//!   unraced (see `sensor_tests::clone_race`);
//!   prints `CHILD_PID MADE` per call, MADE the `CLONE_NEW*` flags of the namespaces the child
//!   got, in hex (the unraced call last);
//! - `open-tree-attr SRC`: open_tree_attr(SRC, OPEN_TREE_CLONE|OPEN_TREE_CLOEXEC) with
//!   `struct mount_attr.attr_set = MOUNT_ATTR_RDONLY` (Linux 6.15; any outcome: prints it and
//!   exits 0);
//! - `setattr PATH ATTR_SET`: mount_setattr(PATH) with `struct mount_attr.attr_set =
//!   ATTR_SET` (any outcome: prints it and exits 0);
//! - `memfd-exec NAME PATH [ARGS...]`: copies PATH into a memfd called NAME and runs it with
//!   execveat(fd, "", AT_EMPTY_PATH) (fileless execution; does not return on success);
//! - `newmount-bind SRC TARGET`: a bind mount through the new mount API: open_tree(SRC,
//!   OPEN_TREE_CLONE) then move_mount onto TARGET (must succeed);
//! - `newmount-tmpfs TARGET`: fsopen("tmpfs"), fsconfig(size=1m), fsconfig(create),
//!   fsmount(MOUNT_ATTR_NODEV), move_mount onto TARGET, mount_setattr(TARGET, read-only,
//!   nosuid, private),
//!   fspick(TARGET) (each must succeed).
//!
//! - `io-uring OP[:FD[:OFF[:LEN]]]...`: submits the operations (opcode numbers, with the
//!   entry's fd, off and len fields) through a new io_uring ring in one `io_uring_enter`,
//!   waits for them, and prints how many the kernel took (io_uring_setup refused: fails).
//!
//! - `timedwait THREADS MS [filtered]`: THREADS threads, released together, each wait MS
//!   milliseconds in rt_sigtimedwait for a signal that never comes (each must fail with
//!   EAGAIN); `filtered` first installs a seccomp filter (refusing only `vhangup`), so that
//!   the threads run under one.
//!
//! Exits 0 when the call did what the action says, 1 otherwise, 2 on bad usage.
use std::{
    ffi::CString,
    io::{Error, Write as _},
    process::exit,
};

fn c(s: &str) -> CString {
    CString::new(s).expect("no NUL in arguments")
}

/// A decimal or `0x` hex number from the command line.
fn number(s: &str) -> u64 {
    let parsed = match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    parsed.unwrap_or_else(|_| {
        eprintln!("sensor-trigger: {s:?} is not a number");
        exit(2)
    })
}

/// A raw syscall's result, or the action fails with its errno.
fn check(what: &str, ret: libc::c_long) -> libc::c_long {
    if ret < 0 {
        fail(what, Error::last_os_error());
    }
    ret
}

/// After a clone-like call: its child (0) leaves at once; the parent (a pid) waits for it.
fn reap_clone_child(ret: libc::c_long) {
    if ret == 0 {
        // SAFETY: the child of a raw clone: leave without running anything of the parent's.
        unsafe { libc::_exit(0) };
    }
    if ret > 0 {
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(ret as i32, &mut status, libc::__WALL) };
    }
}

fn fail(what: &str, err: Error) -> ! {
    eprintln!("sensor-trigger: {what}: {err}");
    exit(1)
}

fn mount_tmpfs(target: &str) -> Result<(), Error> {
    let (src, tgt, fs) = (c("sensor-e2e"), c(target), c("tmpfs"));
    // SAFETY: valid NUL-terminated strings; no data argument.
    match unsafe { libc::mount(src.as_ptr(), tgt.as_ptr(), fs.as_ptr(), 0, std::ptr::null()) } {
        0 => Ok(()),
        _ => Err(Error::last_os_error()),
    }
}

fn expect_errno(what: &str, r: Result<(), Error>, errno: i32) {
    match r {
        Ok(()) => {
            eprintln!("sensor-trigger: {what} succeeded, expected errno {errno}");
            exit(1)
        }
        Err(e) if e.raw_os_error() == Some(errno) => {}
        Err(e) => fail(&format!("{what}: expected errno {errno}"), e),
    }
}

fn deny_with_seccomp(nr: libc::c_long) {
    use seccompiler::{SeccompAction, SeccompFilter};
    let rules = [(nr, vec![])].into_iter().collect();
    let arch = std::env::consts::ARCH
        .try_into()
        .expect("a seccompiler architecture");
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .expect("build the seccomp filter");
    let program: seccompiler::BpfProgram = filter.try_into().expect("compile the seccomp filter");
    seccompiler::apply_filter(&program).expect("apply the seccomp filter");
}

/// Refuses i386 call `nr` with EPERM from now on: a filter of our own, since seccompiler's
/// filters check for one architecture and kill a call of any other.
#[cfg(target_arch = "x86_64")]
fn deny_i386_with_seccomp(nr: u32) {
    const AUDIT_ARCH_I386: u32 = 0x4000_0003;
    // offsetof(struct seccomp_data, nr) and (.., arch).
    const NR: u32 = 0;
    const ARCH: u32 = 4;
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jeq = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let load = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let ret = libc::BPF_RET | libc::BPF_K;
    let mut filter = [
        stmt(load, ARCH),
        jeq(AUDIT_ARCH_I386, 0, 3),
        stmt(load, NR),
        jeq(nr, 0, 1),
        stmt(ret, libc::SECCOMP_RET_ERRNO | libc::EPERM as u32),
        stmt(ret, libc::SECCOMP_RET_ALLOW),
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_mut_ptr(),
    };
    // SAFETY: prctl with integer arguments; the program outlives the call, which copies it.
    let installed = unsafe {
        libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
            && libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &prog as *const libc::sock_fprog,
            ) == 0
    };
    if !installed {
        fail("install the i386 seccomp filter", Error::last_os_error());
    }
}

/// `threads` threads wait `ms` ms each in rt_sigtimedwait (SIGUSR2, which nobody sends),
/// all inside the call at once; each must time out (EAGAIN).
fn timedwait(threads: usize, ms: u64) {
    let start = std::sync::Arc::new(std::sync::Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let start = start.clone();
            std::thread::spawn(move || {
                // SAFETY: a zeroed sigset filled by sigaddset; a valid timespec.
                let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
                unsafe { libc::sigaddset(&mut set, libc::SIGUSR2) };
                let ts = libc::timespec {
                    tv_sec: (ms / 1000) as i64,
                    tv_nsec: ((ms % 1000) * 1_000_000) as i64,
                };
                start.wait();
                // SAFETY: valid pointers; the kernel's sigset size is 8 bytes.
                let ret = unsafe {
                    libc::syscall(
                        libc::SYS_rt_sigtimedwait,
                        &set,
                        std::ptr::null_mut::<libc::siginfo_t>(),
                        &ts,
                        8usize,
                    )
                };
                (ret, Error::last_os_error())
            })
        })
        .collect();
    for h in handles {
        let (ret, err) = h.join().expect("a waiting thread");
        if ret != -1 || err.raw_os_error() != Some(libc::EAGAIN) {
            fail("rt_sigtimedwait was expected to time out", err);
        }
    }
}

fn main() {
    // Raw arguments: an exec's argv may carry bytes that are not UTF-8.
    let raw: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let args: Vec<String> = raw
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let [cgroup, action, rest @ ..] = args.as_slice() else {
        eprintln!("usage: sensor-trigger CGROUP_DIR ACTION [ARGS...]");
        exit(2)
    };
    // Writing 0 to cgroup.procs moves the writing process ("-": stay, e.g. in a container).
    let procs = format!("{cgroup}/cgroup.procs");
    if cgroup != "-"
        && let Err(e) = std::fs::OpenOptions::new()
            .write(true)
            .open(&procs)
            .and_then(|mut f| f.write_all(b"0"))
    {
        fail(&format!("joining {procs}"), e);
    }
    // SAFETY (all blocks below): plain libc calls with valid NUL-terminated strings.
    match (action.as_str(), rest) {
        ("mount-tmpfs", [target]) => {
            if let Err(e) = mount_tmpfs(target) {
                fail("mount tmpfs", e);
            }
            if unsafe { libc::umount2(c(target).as_ptr(), 0) } != 0 {
                fail("umount2", Error::last_os_error());
            }
        }
        ("mount-eperm", [target]) => expect_errno(
            "mount without CAP_SYS_ADMIN",
            mount_tmpfs(target),
            libc::EPERM,
        ),
        ("mount-seccomp", [target]) => {
            deny_with_seccomp(libc::SYS_mount);
            expect_errno("mount under seccomp", mount_tmpfs(target), libc::EPERM);
        }
        ("timedwait", [threads, ms, filtered @ ..]) if filtered.len() <= 1 => {
            if filtered.first().is_some_and(|f| f == "filtered") {
                deny_with_seccomp(libc::SYS_vhangup);
            }
            timedwait(number(threads) as usize, number(ms));
        }
        ("umount-fail", [target]) => {
            if unsafe { libc::umount2(c(target).as_ptr(), 0) } == 0 {
                fail("umount2 was expected to fail", Error::other(target.clone()));
            }
        }
        ("umount-storm", [n, burst @ ..]) => {
            let count = |v: &String| -> u64 {
                v.parse().unwrap_or_else(|_| {
                    eprintln!("umount-storm: {v:?} is not a count");
                    exit(2)
                })
            };
            let (n, burst) = (count(n), burst.first().map_or(u64::MAX, count));
            let path = c("/sensor-trigger-does-not-exist");
            for i in 1..=n {
                if unsafe { libc::umount2(path.as_ptr(), 0) } == 0 {
                    fail("umount2 of a missing path succeeded", Error::other("?"));
                }
                if i % burst == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
        }
        ("unshare", []) => {
            if unsafe { libc::unshare(libc::CLONE_NEWNS | libc::CLONE_NEWUTS) } != 0 {
                fail("unshare", Error::last_os_error());
            }
        }
        ("setns", []) => {
            let ns = std::fs::File::open("/proc/self/ns/uts")
                .unwrap_or_else(|e| fail("open /proc/self/ns/uts", e));
            if unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&ns), libc::CLONE_NEWUTS) } != 0
            {
                fail("setns", Error::last_os_error());
            }
        }
        ("mount-fail", [target]) => {
            let (src, tgt, fs) = (c("sensor-e2e"), c(target), c("sensor-e2e-no-such-fs"));
            if unsafe { libc::mount(src.as_ptr(), tgt.as_ptr(), fs.as_ptr(), 0, std::ptr::null()) }
                == 0
            {
                eprintln!("sensor-trigger: a mount of a nonexistent filesystem type succeeded");
                exit(1);
            }
            let err = Error::last_os_error();
            if err.raw_os_error() != Some(libc::ENODEV) {
                fail("mount of an unknown fs type: expected ENODEV", err);
            }
        }
        ("mount-untouched", [target]) => {
            let text = format!("sensor-e2e\0{target}\0sensor-e2e-no-such-fs\0");
            let name = c("sensor-e2e-strings");
            let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
            if fd < 0 || unsafe { libc::write(fd, text.as_ptr().cast(), text.len()) } < 0 {
                fail("write the strings to a memfd", Error::last_os_error());
            }
            // Mapped, never read here: the page enters the page tables only when the kernel
            // copies the strings in.
            let page = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    4096,
                    libc::PROT_READ,
                    libc::MAP_SHARED,
                    fd,
                    0,
                )
            };
            if page == libc::MAP_FAILED {
                fail("mmap the memfd", Error::last_os_error());
            }
            let at = |i: usize| unsafe { page.cast::<libc::c_char>().add(i) };
            let (tgt, fs) = (
                at("sensor-e2e".len() + 1),
                at("sensor-e2e".len() + target.len() + 2),
            );
            if unsafe { libc::mount(at(0), tgt, fs, 0, std::ptr::null()) } == 0 {
                eprintln!("sensor-trigger: a mount of a nonexistent filesystem type succeeded");
                exit(1);
            }
            let err = Error::last_os_error();
            if err.raw_os_error() != Some(libc::ENODEV) {
                fail("mount of an unknown fs type: expected ENODEV", err);
            }
        }
        ("chroot", [dir]) => {
            if unsafe { libc::chroot(c(dir).as_ptr()) } != 0 {
                fail("chroot", Error::last_os_error());
            }
        }
        ("syscall" | "syscall-seccomp", [nr]) => {
            let nr: libc::c_long = nr.parse().unwrap_or_else(|_| {
                eprintln!("{action}: {nr:?} is not a syscall number");
                exit(2)
            });
            let errno = if action == "syscall" {
                libc::ENOSYS
            } else {
                deny_with_seccomp(nr);
                libc::EPERM
            };
            let r = match unsafe { libc::syscall(nr) } {
                -1 => Err(Error::last_os_error()),
                _ => Ok(()),
            };
            expect_errno(&format!("syscall {nr}"), r, errno);
        }
        ("exec", [path, argv @ ..]) => {
            use std::os::unix::ffi::OsStrExt as _;
            let path = c(path);
            let mut owned: Vec<CString> = vec![path.clone()];
            owned.extend(
                raw[3..3 + argv.len()]
                    .iter()
                    .map(|a| CString::new(a.as_bytes()).expect("no NUL in arguments")),
            );
            let mut ptrs: Vec<*const libc::c_char> = owned.iter().map(|a| a.as_ptr()).collect();
            ptrs.push(std::ptr::null());
            unsafe { libc::execv(path.as_ptr(), ptrs.as_ptr()) };
            fail("execv", Error::last_os_error());
        }
        ("calls", nrs) if !nrs.is_empty() => {
            for nr in nrs {
                // SAFETY: the caller names calls for which all-zero arguments are harmless.
                unsafe { libc::syscall(number(nr) as libc::c_long, 0, 0, 0, 0, 0, 0) };
            }
        }
        ("raw", [nr, call_args @ ..]) if call_args.len() <= 6 => {
            let mut a = [0u64; 6];
            for (slot, v) in a.iter_mut().zip(call_args) {
                *slot = number(v);
            }
            let nr = number(nr) as libc::c_long;
            let ret = unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]) };
            if nr == libc::SYS_clone {
                reap_clone_child(ret);
            }
            println!("{ret}");
        }
        ("memfd-exec", [name, path, argv @ ..]) => {
            let bytes = std::fs::read(path).unwrap_or_else(|e| fail("read the program", e));
            let cname = c(name);
            let fd = unsafe { libc::memfd_create(cname.as_ptr(), 0) };
            if fd < 0 {
                fail("memfd_create", Error::last_os_error());
            }
            use std::os::fd::FromRawFd as _;
            let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
            file.write_all(&bytes)
                .unwrap_or_else(|e| fail("write the memfd", e));
            let owned: Vec<CString> = std::iter::once(c(path))
                .chain(argv.iter().map(|a| c(a)))
                .collect();
            let mut ptrs: Vec<*const libc::c_char> = owned.iter().map(|a| a.as_ptr()).collect();
            ptrs.push(std::ptr::null());
            let env: [*const libc::c_char; 1] = [std::ptr::null()];
            let empty = c("");
            unsafe {
                libc::syscall(
                    libc::SYS_execveat,
                    fd,
                    empty.as_ptr(),
                    ptrs.as_ptr(),
                    env.as_ptr(),
                    libc::AT_EMPTY_PATH,
                )
            };
            fail("execveat", Error::last_os_error());
        }
        ("newmount-bind", [src, target]) => {
            let (src, target, empty) = (c(src), c(target), c(""));
            let fd = check("open_tree", unsafe {
                libc::syscall(
                    libc::SYS_open_tree,
                    libc::AT_FDCWD,
                    src.as_ptr(),
                    1 | 0x80000,
                )
            });
            check("move_mount", unsafe {
                libc::syscall(
                    libc::SYS_move_mount,
                    fd,
                    empty.as_ptr(),
                    libc::AT_FDCWD,
                    target.as_ptr(),
                    0x4, // MOVE_MOUNT_F_EMPTY_PATH
                )
            });
        }
        ("newmount-tmpfs", [target]) => {
            let (tmpfs, size, one_m, target, empty) =
                (c("tmpfs"), c("size"), c("1m"), c(target), c(""));
            let null = std::ptr::null::<libc::c_char>();
            let fs = check("fsopen", unsafe {
                libc::syscall(libc::SYS_fsopen, tmpfs.as_ptr(), 1)
            });
            check("fsconfig set", unsafe {
                libc::syscall(libc::SYS_fsconfig, fs, 1, size.as_ptr(), one_m.as_ptr(), 0)
            });
            check("fsconfig create", unsafe {
                libc::syscall(libc::SYS_fsconfig, fs, 6, null, null, 0)
            });
            let mnt = check("fsmount", unsafe {
                libc::syscall(libc::SYS_fsmount, fs, 1, 0x4)
            });
            check("move_mount", unsafe {
                libc::syscall(
                    libc::SYS_move_mount,
                    mnt,
                    empty.as_ptr(),
                    libc::AT_FDCWD,
                    target.as_ptr(),
                    0x4,
                )
            });
            // struct mount_attr { attr_set, attr_clr, propagation, userns_fd }: read-only,
            // nosuid, private.
            let attr: [u64; 4] = [0x1 | 0x2, 0, libc::MS_PRIVATE, 0];
            check("mount_setattr", unsafe {
                libc::syscall(
                    libc::SYS_mount_setattr,
                    libc::AT_FDCWD,
                    target.as_ptr(),
                    0,
                    attr.as_ptr(),
                    32,
                )
            });
            check("fspick", unsafe {
                libc::syscall(libc::SYS_fspick, libc::AT_FDCWD, target.as_ptr(), 1)
            });
        }
        ("open-tree-attr", [src]) => {
            // Not in libc's table yet: x86_64 and aarch64 share the number.
            const SYS_OPEN_TREE_ATTR: libc::c_long = 467;
            let src = c(src);
            let attr: [u64; 4] = [0x1, 0, 0, 0];
            let ret = unsafe {
                libc::syscall(
                    SYS_OPEN_TREE_ATTR,
                    libc::AT_FDCWD,
                    src.as_ptr(),
                    1 | 0x80000,
                    attr.as_ptr(),
                    std::mem::size_of_val(&attr),
                )
            };
            println!("{ret}");
        }
        ("setattr", [path, attr_set]) => {
            let path = c(path);
            let attr: [u64; 4] = [number(attr_set), 0, 0, 0];
            let ret = unsafe {
                libc::syscall(
                    libc::SYS_mount_setattr,
                    libc::AT_FDCWD,
                    path.as_ptr(),
                    0,
                    attr.as_ptr(),
                    std::mem::size_of_val(&attr),
                )
            };
            println!("{ret}");
        }
        ("clone3", [flags]) => {
            // struct clone_args, version 0: flags, pidfd, child_tid, parent_tid, exit_signal,
            // stack, stack_size, tls.
            let mut args = [0u64; 8];
            args[0] = number(flags);
            args[4] = libc::SIGCHLD as u64;
            let ret = unsafe {
                libc::syscall(
                    libc::SYS_clone3,
                    args.as_ptr(),
                    std::mem::size_of_val(&args),
                )
            };
            reap_clone_child(ret);
            println!("{ret}");
        }
        ("clone3-race", [flags, rounds, abi @ ..]) if abi.len() <= 1 => {
            let i386 = match abi.first().map(String::as_str) {
                None => false,
                Some("i386") => true,
                Some(other) => {
                    eprintln!("clone3-race: ABI {other:?} is not i386");
                    std::process::exit(2);
                }
            };
            let (flags, rounds) = (number(flags), number(rounds) as u32);
            for (pid, made) in sensor_tests::clone_race::run(flags, rounds, i386) {
                println!("{pid} {made:#x}");
            }
        }
        #[cfg(target_arch = "x86_64")]
        ("int80" | "int80-seccomp", [nr, call_args @ ..]) if call_args.len() <= 6 => {
            use sensor_tests::int80;
            if action == "int80-seccomp" {
                deny_i386_with_seccomp(number(nr) as u32);
            }
            let mut low = int80::LowMemory::new(1 << 16).unwrap_or_else(|e| fail("mmap", e));
            let mut regs = [0u32; 6];
            for (reg, a) in regs.iter_mut().zip(call_args) {
                *reg = if let Some(text) = a.strip_prefix("s:") {
                    low.string(text.as_bytes())
                } else if let Some(text) = a.strip_prefix("u:") {
                    int80::untouched_string(text.as_bytes())
                        .unwrap_or_else(|e| fail("an untouched string", e))
                } else if let Some(words) = a.strip_prefix("w:") {
                    let bytes: Vec<u8> = words
                        .split(',')
                        .flat_map(|w| (number(w) as u32).to_ne_bytes())
                        .collect();
                    low.put(&bytes)
                } else {
                    number(a) as u32
                };
            }
            println!("{}", int80::syscall(number(nr) as u32, regs));
        }
        #[cfg(target_arch = "x86_64")]
        ("int80-execve", [path, argv @ ..]) => {
            use sensor_tests::int80;
            let mut low = int80::LowMemory::new(1 << 16).unwrap_or_else(|e| fail("mmap", e));
            let mut items: Vec<&[u8]> = vec![path.as_bytes()];
            items.extend(argv.iter().map(|a| a.as_bytes()));
            let (p, v) = (low.string(path.as_bytes()), low.argv(&items));
            let ret = int80::syscall(11, [p, v, 0, 0, 0, 0]);
            fail("int80 execve", Error::from_raw_os_error(-ret));
        }
        ("io-uring", ops) if !ops.is_empty() => {
            let ops: Vec<sensor_tests::io_uring::Op> = ops
                .iter()
                .map(|spec| {
                    let f: Vec<u64> = spec.split(':').map(number).collect();
                    let at = |i: usize| f.get(i).copied().unwrap_or(0);
                    sensor_tests::io_uring::Op {
                        opcode: at(0) as u8,
                        fd: at(1) as i32,
                        off: at(2),
                        len: at(3) as u32,
                        addr: 0,
                    }
                })
                .collect();
            match sensor_tests::io_uring::submit(&ops) {
                Ok(n) => println!("{n}"),
                Err(e) => fail("io_uring", e),
            }
        }
        _ => {
            eprintln!("sensor-trigger: unknown action or wrong arguments: {action} {rest:?}");
            exit(2)
        }
    }
}
