//! Test helper: joins a cgroup, then makes one syscall the sensor should flag (or execs).
//!
//! `sensor-trigger CGROUP_DIR ACTION [ARGS...]`, where ACTION is one of
//! - `mount-tmpfs TARGET`: mount a tmpfs on TARGET (must succeed), then unmount it;
//! - `mount-fail TARGET`: mount an unknown filesystem type (must fail with ENODEV);
//! - `chroot DIR`: chroot into DIR (must succeed);
//! - `exec PATH [ARGS...]`: exec PATH.
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

fn fail(what: &str, err: Error) -> ! {
    eprintln!("sensor-trigger: {what}: {err}");
    exit(1)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [cgroup, action, rest @ ..] = args.as_slice() else {
        eprintln!("usage: sensor-trigger CGROUP_DIR ACTION [ARGS...]");
        exit(2)
    };
    // Writing 0 to cgroup.procs moves the writing process.
    let procs = format!("{cgroup}/cgroup.procs");
    if let Err(e) = std::fs::OpenOptions::new().write(true).open(&procs).and_then(|mut f| f.write_all(b"0")) {
        fail(&format!("joining {procs}"), e);
    }
    // SAFETY (all blocks below): plain libc calls with valid NUL-terminated strings.
    match (action.as_str(), rest) {
        ("mount-tmpfs", [target]) => {
            let (src, tgt, fs) = (c("sensor-e2e"), c(target), c("tmpfs"));
            if unsafe { libc::mount(src.as_ptr(), tgt.as_ptr(), fs.as_ptr(), 0, std::ptr::null()) } != 0 {
                fail("mount tmpfs", Error::last_os_error());
            }
            if unsafe { libc::umount2(tgt.as_ptr(), 0) } != 0 {
                fail("umount2", Error::last_os_error());
            }
        }
        ("mount-fail", [target]) => {
            let (src, tgt, fs) = (c("sensor-e2e"), c(target), c("sensor-e2e-no-such-fs"));
            if unsafe { libc::mount(src.as_ptr(), tgt.as_ptr(), fs.as_ptr(), 0, std::ptr::null()) } == 0 {
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
        ("exec", [path, argv @ ..]) => {
            let path = c(path);
            let mut owned: Vec<CString> = vec![path.clone()];
            owned.extend(argv.iter().map(|a| c(a)));
            let mut ptrs: Vec<*const libc::c_char> = owned.iter().map(|a| a.as_ptr()).collect();
            ptrs.push(std::ptr::null());
            unsafe { libc::execv(path.as_ptr(), ptrs.as_ptr()) };
            fail("execv", Error::last_os_error());
        }
        _ => {
            eprintln!("sensor-trigger: unknown action or wrong arguments: {action} {rest:?}");
            exit(2)
        }
    }
}
