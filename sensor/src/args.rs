//! Decoding a flagged call's arguments into what a person reads: strings from user memory,
//! flag names, request and command names. One table says, for each syscall, what each
//! argument is; the kernel side reads the string arguments the same table marks.
use std::fmt::Write as _;

use sensor_common::{POINTEE_WORDS, read_mask::with_pointee};

use crate::{
    event::DecodedArg,
    syscalls::{self, Arch},
};

mod names;
use names::*;
pub use names::{CLONE_NEW, CLONE_NEW_LEGACY, CLONE_SIGNAL_BYTE};

/// What the kernel side read where a call's argument points ([`Param::FlagsAt`],
/// [`Param::StructAt`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pointee {
    /// Nothing was read (the call has no such argument).
    None,
    /// The first [`POINTEE_WORDS`] u64 words where argument `.0` points.
    Read(usize, [u64; POINTEE_WORDS]),
    /// Where argument `.0` points could not be read.
    Unreadable(usize),
}

/// A string argument as the kernel side read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgString {
    /// Which argument (0-5).
    pub arg: usize,
    pub bytes: Vec<u8>,
    pub truncated: bool,
    /// The pointer could not be read (bad address, or the page was not resident).
    pub unreadable: bool,
}

/// What one argument is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param {
    /// A NUL-terminated string in user memory (read by the kernel side).
    Str(&'static str),
    /// A bit set, named from a table.
    Flags(&'static str, &'static [(u64, &'static str)]),
    /// A bit set whose low byte ([`CLONE_SIGNAL_BYTE`]) is a signal, not flags (legacy
    /// clone's exit signal): shown by name after the flags (`CLONE_NEWNS|SIGCHLD`), and never
    /// in a condition's mask.
    FlagsSignal(&'static str, &'static [(u64, &'static str)]),
    /// A pointer to a u64 bit set in user memory (clone3's `struct clone_args`, flags
    /// first): the kernel side reads the bits, which are shown and which conditions test.
    FlagsAt(&'static str, &'static [(u64, &'static str)]),
    /// A pointer to a struct of u64 fields in user memory (at most [`POINTEE_WORDS`]; the
    /// size argument says how many are the caller's: `size`): the kernel side reads them,
    /// each is shown as its `Param` says, and a condition tests the first.
    StructAt(&'static str, &'static [Param]),
    /// One value, named from a table.
    Enum(&'static str, &'static [(u64, &'static str)]),
    /// A signed integer (pid, fd, length).
    Int(&'static str),
    /// A pointer or anything else shown in hex.
    Hex(&'static str),
}

impl Param {
    pub fn name(self) -> &'static str {
        match self {
            Param::Str(n)
            | Param::Flags(n, _)
            | Param::FlagsSignal(n, _)
            | Param::FlagsAt(n, _)
            | Param::StructAt(n, _)
            | Param::Enum(n, _)
            | Param::Int(n)
            | Param::Hex(n) => n,
        }
    }
}

/// The arguments of the decoded syscalls that the kernel reads as 32 bits (a C `int` or
/// `unsigned int` in its `SYSCALL_DEFINE`, or narrowed at once: legacy clone's flags go
/// through `lower_32_bits`, ptrace's `long pid` becomes a `pid_t`). The register's upper half
/// is never what such a call acts on, so it is neither shown nor tested: `socket(0x1_0000_0028)`
/// opens an AF_VSOCK socket. The kernel's tracefs formats check this table
/// (`narrow_arguments_are_the_kernel_s_32_bit_ones`).
const NARROW: &[(&str, &[&str])] = &[
    ("umount2", &["flags"]),
    ("clone", &["flags"]),
    ("personality", &["persona"]),
    ("socket", &["domain", "type", "protocol"]),
    ("setns", &["fd", "nstype"]),
    ("ptrace", &["pid"]),
    ("bpf", &["cmd", "size"]),
    ("finit_module", &["fd", "flags"]),
    ("delete_module", &["flags"]),
    ("kexec_file_load", &["kernel_fd", "initrd_fd"]),
    ("move_mount", &["from_dfd", "to_dfd", "flags"]),
    ("fsopen", &["flags"]),
    ("fsconfig", &["fd", "cmd", "aux"]),
    ("fsmount", &["fs_fd", "flags", "attr_flags"]),
    ("open_tree", &["dfd", "flags"]),
    ("open_tree_attr", &["dfd", "flags"]),
    ("fspick", &["dfd", "flags"]),
    ("mount_setattr", &["dfd", "flags"]),
    ("process_vm_readv", &["pid"]),
    ("process_vm_writev", &["pid"]),
    ("open_by_handle_at", &["mount_fd", "flags"]),
];

/// Does the kernel read argument `arg` of `syscall` as 32 bits? (See [`NARROW`].)
pub fn is_narrow(syscall: &str, arg: &str) -> bool {
    NARROW
        .iter()
        .any(|(name, args)| *name == syscall && args.contains(&arg))
}

/// Argument value `v` as the kernel acts on it: the lower half of a [`NARROW`] one.
fn as_read(syscall: &str, arg: &str, v: u64) -> u64 {
    if is_narrow(syscall, arg) {
        v & u64::from(u32::MAX)
    } else {
        v
    }
}

/// The parameters of the syscalls we decode; any other is shown as six raw values.
pub fn params(name: &str) -> Option<&'static [Param]> {
    use Param::*;
    Some(match name {
        "mount" => &[
            Str("source"),
            Str("target"),
            Str("fstype"),
            Flags("flags", MS),
            Hex("data"),
        ],
        "umount2" => &[Str("target"), Flags("flags", UMOUNT)],
        "chroot" => &[Str("path")],
        "pivot_root" => &[Str("new_root"), Str("put_old")],
        "unshare" => &[Flags("flags", CLONE_FLAGS)],
        // x86_64 order (aarch64 and i386 swap the last two, shown in hex either way).
        "clone" => &[
            FlagsSignal("flags", CLONE_FLAGS),
            Hex("stack"),
            Hex("parent_tid"),
            Hex("child_tid"),
            Hex("tls"),
        ],
        "clone3" => &[FlagsAt("flags", CLONE_FLAGS), Int("size")],
        "personality" => &[Hex("persona")],
        "socket" => &[Enum("domain", AF), Hex("type"), Int("protocol")],
        "setns" => &[Int("fd"), Flags("nstype", CLONE_FLAGS)],
        "ptrace" => &[
            Enum("request", PTRACE),
            Int("pid"),
            Hex("addr"),
            Hex("data"),
        ],
        "bpf" => &[Enum("cmd", BPF_CMD), Hex("attr"), Int("size")],
        "init_module" => &[Hex("image"), Int("len"), Str("params")],
        "finit_module" => &[Int("fd"), Str("params"), Flags("flags", MODULE_INIT)],
        "delete_module" => &[Str("name"), Hex("flags")],
        "kexec_load" => &[
            Hex("entry"),
            Int("nr_segments"),
            Hex("segments"),
            Hex("flags"),
        ],
        "kexec_file_load" => &[
            Int("kernel_fd"),
            Int("initrd_fd"),
            Int("cmdline_len"),
            Str("cmdline"),
            Hex("flags"),
        ],
        // The new mount API: every step, with its strings and flags.
        "move_mount" => &[
            Int("from_dfd"),
            Str("from_path"),
            Int("to_dfd"),
            Str("to_path"),
            Flags("flags", MOVE_MOUNT),
        ],
        "fsopen" => &[Str("fsname"), Flags("flags", CLOEXEC_1)],
        // The value is a string for SET_STRING and SET_PATH; otherwise NULL (or a buffer,
        // shown as far as it reads as text).
        "fsconfig" => &[
            Int("fd"),
            Enum("cmd", FSCONFIG_CMD),
            Str("key"),
            Str("value"),
            Int("aux"),
        ],
        "fsmount" => &[
            Int("fs_fd"),
            Flags("flags", CLOEXEC_1),
            Flags("attr_flags", MOUNT_ATTR),
        ],
        "open_tree" => &[Int("dfd"), Str("path"), Flags("flags", OPEN_TREE)],
        // open_tree with mount_setattr's struct (NULL: none).
        "open_tree_attr" => &[
            Int("dfd"),
            Str("path"),
            Flags("flags", OPEN_TREE),
            StructAt("attr", MOUNT_ATTR_FIELDS),
            Int("size"),
        ],
        "fspick" => &[Int("dfd"), Str("path"), Flags("flags", FSPICK)],
        "mount_setattr" => &[
            Int("dfd"),
            Str("path"),
            Flags("flags", OPEN_TREE),
            StructAt("attr", MOUNT_ATTR_FIELDS),
            Int("size"),
        ],
        "process_vm_readv" | "process_vm_writev" => &[Int("pid"), Hex("local_iov"), Int("liovcnt")],
        "open_by_handle_at" => &[Int("mount_fd"), Hex("handle"), Hex("flags")],
        _ => return None,
    })
}

/// What the kernel side reads of syscall `name`'s arguments beyond the registers (its
/// `STRING_ARGS` value, a [`sensor_common::read_mask`]): its strings, and the argument
/// whose pointee the record carries ([`Param::FlagsAt`], [`Param::StructAt`]).
pub fn read_mask(name: &str) -> u16 {
    params(name).map_or(0, |ps| {
        ps.iter().enumerate().fold(0, |m, (i, p)| match p {
            Param::Str(_) => m | 1 << i,
            Param::FlagsAt(..) | Param::StructAt(..) => with_pointee(m, i),
            _ => m,
        })
    })
}

/// `(syscall number, read mask)` for every decoded syscall the kernel reads more of.
pub fn read_masks(arch: Arch, names: &[&str]) -> Vec<(u64, u16)> {
    names
        .iter()
        .filter_map(|n| Some((syscalls::number(arch, n)?, read_mask(n))))
        .filter(|(_, m)| *m != 0)
        .collect()
}

/// `MS_REC|MS_PRIVATE`, with unknown bits kept as hex; `0` when empty. Written into one
/// string (the reader shows flags for every flagged call that has them).
pub fn flag_names(value: u64, table: &[(u64, &str)]) -> String {
    let mut rest = value;
    let mut out = String::new();
    let part = |out: &mut String, s: &dyn std::fmt::Display| {
        if !out.is_empty() {
            out.push('|');
        }
        let _ = write!(out, "{s}");
    };
    for &(bit, name) in table {
        if bit != 0 && rest & bit == bit {
            part(&mut out, &name);
            rest &= !bit;
        }
    }
    if rest != 0 {
        part(&mut out, &format_args!("{rest:#x}"));
    }
    if out.is_empty() {
        out.push('0');
    }
    out
}

/// A string argument as shown: escaped as `escape_ascii` does, but copied at once when
/// nothing needs escaping (most paths), without going through the formatter.
fn shown_bytes(bytes: &[u8]) -> String {
    let plain = |b: &u8| matches!(b, 0x20..=0x7e) && !matches!(b, b'\\' | b'\'' | b'"');
    match std::str::from_utf8(bytes) {
        Ok(s) if bytes.iter().all(plain) => s.to_owned(),
        _ => bytes.escape_ascii().to_string(),
    }
}

/// `CLONE_NEWUTS|CLONE_NEWNET`: clone flags by name; "" for none.
pub fn clone_flag_names(flags: u64) -> String {
    if flags == 0 {
        return String::new();
    }
    flag_names(flags, CLONE_FLAGS)
}

/// `SIGCHLD`, or the number of a signal without a name here (a real-time one, or none).
fn signal_name(signal: u64) -> String {
    SIGNALS
        .iter()
        .find(|(v, _)| *v == signal)
        .map_or_else(|| format!("signal {signal}"), |(_, n)| (*n).to_owned())
}

pub fn enum_name(value: u64, table: &[(u64, &str)]) -> String {
    table
        .iter()
        .find(|(v, _)| *v == value)
        .map_or_else(|| value.to_string(), |(_, n)| (*n).to_owned())
}

/// Shows a non-string parameter's value.
pub fn show(param: Param, value: u64) -> String {
    match param {
        Param::Flags(name, table) => {
            // mount(2): a legacy magic number may sit in the top 16 bits of the flags.
            let value = if name == "flags" && value & 0xffff_0000 == 0xc0ed_0000 {
                value & 0xffff
            } else {
                value
            };
            flag_names(value, table)
        }
        Param::FlagsSignal(_, table) => {
            let signal = value & CLONE_SIGNAL_BYTE;
            let flags = flag_names(value & !CLONE_SIGNAL_BYTE, table);
            match (signal, flags.as_str()) {
                (0, _) => flags,
                (_, "0") => signal_name(signal),
                _ => format!("{flags}|{}", signal_name(signal)),
            }
        }
        Param::Enum(_, table) => enum_name(value, table),
        Param::Int(_) => (value as i64 as i32).to_string(),
        Param::Hex(_) | Param::Str(_) | Param::FlagsAt(..) | Param::StructAt(..) => {
            format!("{value:#x}")
        }
    }
}

/// Shows a [`Param::FlagsAt`] or [`Param::StructAt`] argument from what was read where it
/// points, never the pointer as if it were the value. `i` is the argument's index (what was
/// read for another argument is not shown as this one's); `words`, how many u64 words the
/// caller says are there (its size argument).
fn show_pointee(param: Param, i: usize, at: u64, pointee: Pointee, words: usize) -> String {
    if at == 0 {
        return "NULL".to_owned(); // nothing to read (open_tree_attr's attr may be)
    }
    let read = match pointee {
        Pointee::Read(arg, v) if arg == i => v,
        Pointee::Unreadable(arg) if arg == i => return format!("? (unreadable at {at:#x})"),
        _ => return format!("? (not read, at {at:#x})"),
    };
    match param {
        Param::FlagsAt(_, table) => flag_names(read[0], table),
        Param::StructAt(_, fields) => {
            let shown: Vec<String> = fields
                .iter()
                .zip(read)
                .take(words)
                .map(|(f, v)| format!("{}={}", f.name(), show(*f, v)))
                .collect();
            format!("{{{}}}", shown.join(", "))
        }
        _ => show(param, at),
    }
}

/// How many u64 words of a struct argument are the caller's: its call's `size` argument
/// (in bytes) when it has one, else all that were read.
fn struct_words(ps: &[Param], args: &[u64; 6]) -> usize {
    ps.iter()
        .position(|p| *p == Param::Int("size"))
        .map_or(POINTEE_WORDS, |i| {
            (args[i] / 8).min(POINTEE_WORDS as u64) as usize
        })
}

/// Names and shows each argument of syscall `name`; empty for syscalls without a table.
pub fn decode(
    name: Option<&str>,
    args: &[u64; 6],
    strings: &[ArgString],
    pointee: Pointee,
) -> Vec<DecodedArg> {
    let Some((name, ps)) = name.and_then(|n| Some((n, params(n)?))) else {
        return Vec::new();
    };
    ps.iter()
        .enumerate()
        .map(|(i, &p)| match (p, strings.iter().find(|s| s.arg == i)) {
            (Param::Str(n), Some(s)) if !s.unreadable => DecodedArg {
                name: n,
                value: shown_bytes(&s.bytes),
                raw: Some(s.bytes.clone()),
                truncated: s.truncated,
            },
            (Param::Str(n), _) => DecodedArg {
                name: n,
                value: if args[i] == 0 {
                    "NULL".to_owned()
                } else {
                    format!("{:#x} (unreadable)", args[i])
                },
                raw: None,
                truncated: false,
            },
            (Param::FlagsAt(n, _) | Param::StructAt(n, _), _) => DecodedArg {
                name: n,
                value: show_pointee(p, i, args[i], pointee, struct_words(ps, args)),
                raw: None,
                truncated: false,
            },
            _ => DecodedArg {
                name: p.name(),
                value: show(p, as_read(name, p.name(), args[i])),
                raw: None,
                truncated: false,
            },
        })
        .collect()
}

/// How the words of a socket call that is not decoded by name are shown.
const WORD_NAMES: [&str; 6] = ["arg0", "arg1", "arg2", "arg3", "arg4", "arg5"];

/// An i386 socket call made through `socketcall(SYS_BIND, args)` (`FLAG_SOCKETCALL`): its
/// arguments are the words the kernel side read where `args` points (`regs` are socketcall's
/// registers, `regs[0]` the `SYS_*` call, checked by the decoder). Returns the arguments to
/// report as the call's and their decoding, which ends with `via`, the route it took. Words
/// that could not be read are not shown as arguments: the call's own registers stay, and
/// `via` says so.
pub fn decode_socketcall(
    name: Option<&str>,
    regs: &[u64; 6],
    pointee: Pointee,
) -> ([u64; 6], Vec<DecodedArg>) {
    let sys = regs[0] & u64::from(u32::MAX);
    let call = SOCKETCALL_NAMES
        .get(sys as usize)
        .map_or_else(|| sys.to_string(), |n| (*n).to_owned());
    let at = regs[1] & u64::from(u32::MAX);
    let via = |value: String| DecodedArg {
        name: "via",
        value,
        raw: None,
        truncated: false,
    };
    match pointee {
        Pointee::Read(1, w) => {
            let args = sensor_common::socketcall::unpack(&w);
            let mut decoded = decode(name, &args, &[], Pointee::None);
            if decoded.is_empty() {
                // Not decoded by name: the words the kernel copies, in hex, so that the
                // route does not stand alone.
                let copied = sensor_common::socketcall::socketcall(sys).map_or(0, |(_, n)| n);
                decoded.extend(args.iter().zip(WORD_NAMES).take(copied).map(|(a, name)| {
                    DecodedArg {
                        name,
                        value: format!("{a:#x}"),
                        raw: None,
                        truncated: false,
                    }
                }));
            }
            decoded.push(via(format!("socketcall({call}, {at:#x})")));
            (args, decoded)
        }
        _ => (
            *regs,
            vec![via(format!("socketcall({call}, {at:#x} (unreadable))"))],
        ),
    }
}

#[cfg(test)]
mod tests;
