//! Kernel records -> typed events: the one place that interprets ring-buffer bytes.
//!
//! Nothing in a record is trusted: its length is checked against the header and the record
//! type before anything is copied out, and every length field is bounds-checked.
use std::mem::size_of;

use sensor_common::{
    CGROUP_PATH_LEN, CgroupRecord, EXE_NAME_LEN, EXEC_ARGV_LEN, EXEC_FILENAME_LEN, ExecRecord,
    ExitRecord, FLAG_ARGS_AT_EXIT, FLAG_ARGV_TRUNCATED, FLAG_ARGV_UNKNOWN, FLAG_COMPAT,
    FLAG_DEVIATION, FLAG_ENTRY_DISAGREED, FLAG_IOURING, FLAG_NS_AT_FORK, FLAG_PHASE_SHIFT,
    FLAG_SOCKETCALL, FLAG_TRUNCATED, FLAG_UNFLAGGED, FLAG_X32, ForkRecord, Header, NO_STR_ARG,
    Outcome as RawOutcome, RecordKind, SYSCALL_ARGS, SYSCALL_STR_LEN, SYSCALL_STRS_OFFSET,
    SeenRecord, SyscallRecord, fork_namespace_flags, syscall_record_size,
};

use crate::{
    args::{self, ArgString, Pointee},
    event::{
        AtFork, Body, Comm, Deviation, Event, ExeFile, Exec, FlaggedSyscall, Kind, Outcome, Phase,
        Privileges, Process, SyscallSeen,
    },
    syscalls::{self, Arch},
};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("record of {len} bytes is shorter than {need} bytes, the size of a {what}")]
    TooShort {
        len: usize,
        need: usize,
        what: &'static str,
    },
    #[error("record kind {0} is unknown to this sensor (is the eBPF object from another version?)")]
    UnknownKind(u16),
    #[error("header says the record has {declared} bytes but {actual} arrived")]
    SizeMismatch { declared: u32, actual: usize },
    #[error("{field} length {len} exceeds its {cap}-byte buffer")]
    BadLength {
        field: &'static str,
        len: u32,
        cap: usize,
    },
    #[error("{field} has the invalid value {value}")]
    BadValue { field: &'static str, value: u64 },
}

/// Copies a `T` out of the front of `bytes` after checking its length.
fn read<T: Copy>(bytes: &[u8], what: &'static str) -> Result<T, DecodeError> {
    read_prefix(bytes, size_of::<T>(), what)
}

/// Copies the front of `bytes`, at least `min` of them, into a zeroed `T`: for records sent
/// without their unused tail.
fn read_prefix<T: Copy>(bytes: &[u8], min: usize, what: &'static str) -> Result<T, DecodeError> {
    if bytes.len() < min {
        return Err(DecodeError::TooShort {
            len: bytes.len(),
            need: min,
            what,
        });
    }
    // SAFETY: every record type is `#[repr(C)]` plain data (integers and byte arrays) for
    // which all-zero and any bit pattern are valid; at most size_of::<T>() bytes are read or
    // written.
    unsafe {
        if bytes.len() >= size_of::<T>() {
            return Ok(std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()));
        }
        // A record sent without its tail: the rest stays zero.
        let mut out = std::mem::MaybeUninit::<T>::zeroed();
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), out.as_mut_ptr().cast::<u8>(), bytes.len());
        Ok(out.assume_init())
    }
}

/// What one kernel record says.
#[derive(Clone, Debug, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "moved once from the decoder to the enricher; boxing would allocate per event"
)]
pub enum Record {
    /// Something that happened, for subscribers: `seq` is 0 and it is not enriched yet.
    Event(Event),
    /// A cgroup2 directory appeared (for the cgroup cache).
    CgroupMkdir {
        id: u64,
        path: String,
        truncated: bool,
    },
    /// A cgroup2 directory went away.
    CgroupRmdir { id: u64 },
    /// Records of one cgroup the kernel dropped (ring buffer full), told by the flood watch
    /// (never decoded from the ring).
    KernelLoss {
        cgroup_id: u64,
        kind: Kind,
        count: u64,
    },
}

/// Decodes one ring-buffer record.
pub fn decode(bytes: &[u8]) -> Result<Record, DecodeError> {
    let header: Header = read(bytes, "record header")?;
    if header.size as usize != bytes.len() {
        return Err(DecodeError::SizeMismatch {
            declared: header.size,
            actual: bytes.len(),
        });
    }
    let kind = RecordKind::from_u16(header.kind).ok_or(DecodeError::UnknownKind(header.kind))?;
    let body = match kind {
        RecordKind::CgroupMkdir => {
            let r: CgroupRecord = read(bytes, "cgroup record")?;
            let len = r.path_len as usize;
            if len > CGROUP_PATH_LEN {
                return Err(DecodeError::BadLength {
                    field: "cgroup path",
                    len: r.path_len,
                    cap: CGROUP_PATH_LEN,
                });
            }
            return Ok(Record::CgroupMkdir {
                id: r.id,
                path: String::from_utf8_lossy(&r.path[..len]).into_owned(),
                truncated: header.flags & FLAG_TRUNCATED != 0,
            });
        }
        RecordKind::CgroupRmdir => {
            let r: CgroupRecord = read(bytes, "cgroup record")?;
            return Ok(Record::CgroupRmdir { id: r.id });
        }
        RecordKind::Fork => Body::Fork {
            child_pid: read::<ForkRecord>(bytes, "fork record")?.child_pid,
        },
        RecordKind::Exit => Body::Exit {
            exit_code: read::<ExitRecord>(bytes, "exit record")?.exit_code,
        },
        RecordKind::SyscallSeen => {
            let nr = read::<SeenRecord>(bytes, "syscall-seen record")?.nr;
            let arch = abi(header.flags, nr)?;
            let bits = (header.flags >> FLAG_PHASE_SHIFT) as u8 & 0xf;
            Body::SyscallSeen(SyscallSeen {
                arch,
                nr,
                name: syscalls::name(arch, nr & !syscalls::X32_SYSCALL_BIT),
                phase: Phase::of_bit(bits).ok_or(DecodeError::BadValue {
                    field: "syscall-seen phase",
                    value: u64::from(bits),
                })?,
            })
        }
        RecordKind::Syscall => {
            let r: SyscallRecord = read_prefix(bytes, SYSCALL_STRS_OFFSET, "syscall record")?;
            let arch = abi(header.flags, r.nr)?;
            let name = syscalls::name(arch, r.nr & !syscalls::X32_SYSCALL_BIT);
            let strings = strings(&r, bytes.len())?;
            let (args, decoded) = if header.flags & FLAG_SOCKETCALL != 0 {
                // The call socketcall's first register names must be the record's.
                let call = r.args[0] & u64::from(u32::MAX);
                let runs_as = sensor_common::socketcall::socketcall(call).map(|(nr, _)| nr);
                if arch != Arch::I386 || runs_as != Some(r.nr) {
                    return Err(DecodeError::BadValue {
                        field: "socketcall record number",
                        value: r.nr,
                    });
                }
                args::decode_socketcall(name, &r.args, pointee(&r)?)
            } else {
                (r.args, args::decode(name, &r.args, &strings, pointee(&r)?))
            };
            let call = FlaggedSyscall {
                arch,
                nr: r.nr,
                name,
                args,
                outcome: outcome(&r)?,
                severity: None,
                decoded,
                args_at_exit: header.flags & FLAG_ARGS_AT_EXIT != 0,
                suppressed: None,
                deviation: header.flags & FLAG_DEVIATION != 0,
                namespaces_at_fork: namespaces_at_fork(&r, name)?,
            };
            if header.flags & FLAG_UNFLAGGED != 0 {
                // Outside the container's profile, and not flagged by the policy.
                Body::ProfileDeviation(Box::new(Deviation {
                    call,
                    profile: None,
                    flagged: false,
                }))
            } else {
                Body::FlaggedSyscall(call)
            }
        }
        RecordKind::Exec => Body::Exec(exec(
            &read::<ExecRecord>(bytes, "exec record")?,
            header.flags,
        )?),
    };
    Ok(Record::Event(Event {
        seq: 0,
        ktime_ns: header.ktime_ns,
        time_unix_nano: 0,
        cgroup_id: header.cgroup_id,
        cgroup_path: None,
        attribution: Default::default(),
        process: process(&header),
        body,
    }))
}

/// The ABI of a call whose number the kernel saw as `nr`: the compat one when the kernel
/// said so, else the native one (or x32, by its number's bit).
fn abi(flags: u16, nr: u64) -> Result<Arch, DecodeError> {
    let bad = |field| DecodeError::BadValue {
        field,
        value: u64::from(flags),
    };
    match flags & (FLAG_COMPAT | FLAG_X32 | FLAG_IOURING) {
        0 => Ok(Arch::of_native_nr(nr)),
        FLAG_COMPAT => Arch::NATIVE.compat().ok_or(bad(
            "header.flags (a compat call on an architecture without one)",
        )),
        FLAG_X32 => Arch::NATIVE.x32().ok_or(bad(
            "header.flags (an x32 call on an architecture without x32)",
        )),
        FLAG_IOURING => Ok(Arch::IoUring),
        _ => Err(bad("header.flags (more than one ABI)")),
    }
}

fn outcome(r: &SyscallRecord) -> Result<Outcome, DecodeError> {
    let raw = RawOutcome::from_u8(r.outcome).ok_or(DecodeError::BadValue {
        field: "syscall outcome",
        value: r.outcome.into(),
    })?;
    // Error returns are -4095..-1 (MAX_ERRNO); anything else is a value.
    let errno = (-4095..0).contains(&r.ret).then(|| (-r.ret) as i32);
    Ok(match (raw, errno) {
        (RawOutcome::Pending, _) => Outcome::Unknown,
        (RawOutcome::Returned, Some(e)) => Outcome::Failed(e),
        (RawOutcome::Returned, None) => Outcome::Succeeded(r.ret),
        (RawOutcome::BlockedBeforeEntry, e) => Outcome::BlockedBeforeEntry(e.unwrap_or(0)),
    })
}

/// The string arguments of a syscall record of `size` bytes (see [`syscall_record_size`]).
fn strings(r: &SyscallRecord, size: usize) -> Result<Vec<ArgString>, DecodeError> {
    let mut out = Vec::new();
    for (slot, &arg) in r.str_arg.iter().enumerate() {
        if arg == NO_STR_ARG {
            continue;
        }
        if size < syscall_record_size(slot + 1) {
            return Err(DecodeError::BadValue {
                field: "string slot past the end of the record",
                value: slot as u64,
            });
        }
        if arg as usize >= SYSCALL_ARGS {
            return Err(DecodeError::BadValue {
                field: "string argument index",
                value: arg.into(),
            });
        }
        let len = r.str_len[slot] as usize;
        if len >= SYSCALL_STR_LEN {
            return Err(DecodeError::BadLength {
                field: "string argument",
                len: len as u32,
                cap: SYSCALL_STR_LEN - 1,
            });
        }
        out.push(ArgString {
            arg: arg as usize,
            bytes: r.strs[slot][..len].to_vec(),
            truncated: r.str_truncated & (1 << slot) != 0,
            unreadable: r.str_unreadable & (1 << slot) != 0,
        });
    }
    Ok(out)
}

/// The namespaces the call's fork made (`CLONE_NEW*` flags), when its fork was seen: only a
/// clone-family call has one.
fn namespaces_at_fork(
    r: &SyscallRecord,
    name: Option<&str>,
) -> Result<Option<AtFork>, DecodeError> {
    let disagreed = r.header.flags & FLAG_ENTRY_DISAGREED != 0;
    if r.header.flags & FLAG_NS_AT_FORK == 0 {
        if r.ns_created != 0 || disagreed {
            return Err(DecodeError::BadValue {
                field: "syscall record namespaces without a fork",
                value: r.ns_created.into(),
            });
        }
        return Ok(None);
    }
    if !matches!(name, Some("clone" | "clone3")) {
        return Err(DecodeError::BadValue {
            field: "fork namespaces of a call other than clone",
            value: r.nr,
        });
    }
    Ok(Some(AtFork {
        namespaces: fork_namespace_flags(r.ns_created),
        entry_disagreed: disagreed,
    }))
}

fn pointee(r: &SyscallRecord) -> Result<Pointee, DecodeError> {
    let arg = r.pointee_arg as usize;
    if r.pointee_state != sensor_common::pointee::NONE && arg >= SYSCALL_ARGS {
        return Err(DecodeError::BadValue {
            field: "syscall record pointee argument",
            value: arg as u64,
        });
    }
    Ok(match r.pointee_state {
        sensor_common::pointee::NONE => Pointee::None,
        sensor_common::pointee::READ => Pointee::Read(arg, r.pointee),
        sensor_common::pointee::UNREADABLE => Pointee::Unreadable(arg),
        other => {
            return Err(DecodeError::BadValue {
                field: "syscall record pointee state",
                value: other.into(),
            });
        }
    })
}

fn exec(r: &ExecRecord, flags: u16) -> Result<Exec, DecodeError> {
    let (len, argv_len) = (r.filename_len as usize, r.argv_len as usize);
    if len > EXEC_FILENAME_LEN {
        return Err(DecodeError::BadLength {
            field: "exec filename",
            len: r.filename_len,
            cap: EXEC_FILENAME_LEN,
        });
    }
    if argv_len > EXEC_ARGV_LEN {
        return Err(DecodeError::BadLength {
            field: "exec argv",
            len: r.argv_len,
            cap: EXEC_ARGV_LEN,
        });
    }
    // Arguments are NUL-terminated, one after the other; a cut one ends at the buffer's end.
    let argv = r.argv[..argv_len]
        .split(|&b| b == 0)
        .take(r.argc as usize)
        .map(<[u8]>::to_vec)
        .collect::<Vec<_>>()
        .into();
    Ok(Exec {
        filename: r.filename[..len].into(),
        filename_truncated: flags & FLAG_TRUNCATED != 0,
        argv,
        argv_truncated: flags & FLAG_ARGV_TRUNCATED != 0,
        argv_unknown: flags & FLAG_ARGV_UNKNOWN != 0,
        errno: (r.errno != 0).then_some(r.errno),
        privileges: (r.euid != u32::MAX).then_some(Privileges {
            euid: r.euid,
            cap_effective: r.cap_effective,
        }),
        findings: Vec::new(),
        exe_file: (r.exe_nlink != u32::MAX).then(|| ExeFile {
            nlink: r.exe_nlink,
            name: r.exe_name[..(r.exe_name_len as usize).min(EXE_NAME_LEN)].to_vec(),
            pid_ns_level: (r.pid_ns_level != u32::MAX).then_some(r.pid_ns_level),
        }),
    })
}

fn process(h: &Header) -> Process {
    Process {
        pid: h.pid,
        tid: h.tid,
        uid: h.uid,
        gid: h.gid,
        comm: Comm::from_padded(&h.comm),
        ppid: h.ppid,
        argv: None,
        parent_exe: None,
        grandparent_exe: None,
    }
}

#[cfg(test)]
mod tests;
