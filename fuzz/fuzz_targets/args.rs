//! The syscall-argument decoder (`sensor::args::decode`) on any syscall it knows, any six
//! argument values and any user strings (bytes read from a hostile process's memory): it must
//! name and show them without panicking.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sensor::args::{ArgString, Pointee, decode};

/// The syscalls with an argument table, and one without.
const NAMES: [&str; 18] = [
    "mount",
    "clone",
    "clone3",
    "mount_setattr",
    "open_tree_attr",
    "umount2",
    "chroot",
    "pivot_root",
    "unshare",
    "setns",
    "ptrace",
    "bpf",
    "init_module",
    "finit_module",
    "kexec_load",
    "kexec_file_load",
    "delete_module",
    "getppid",
];

fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let name = NAMES.get(choice as usize % (NAMES.len() + 1)).copied();
    let mut args = [0u64; 6];
    for (i, chunk) in rest.chunks(8).take(6).enumerate() {
        let mut b = [0u8; 8];
        b[..chunk.len()].copy_from_slice(chunk);
        args[i] = u64::from_ne_bytes(b);
    }
    // What is left: strings for some of the arguments, split at 0xff bytes.
    let strings: Vec<ArgString> = rest
        .get(48..)
        .unwrap_or_default()
        .split(|&b| b == 0xff)
        .take(6)
        .enumerate()
        .map(|(i, bytes)| ArgString {
            arg: (i + choice as usize) % 7,
            bytes: bytes.to_vec(),
            truncated: bytes.len() % 2 == 1,
            unreadable: bytes.first() == Some(&0),
        })
        .collect();
    let pointee = match choice % 3 {
        0 => Pointee::None,
        1 => Pointee::Unreadable(choice as usize % 7),
        _ => Pointee::Read(
            choice as usize % 7,
            [0, 7, 19, 41].map(|r| args[5].rotate_left(r)),
        ),
    };
    for a in decode(name, &args, &strings, pointee) {
        assert!(!a.name.is_empty());
    }
});
