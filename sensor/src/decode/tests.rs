use super::*;

fn header(kind: RecordKind, size: usize) -> Header {
    let mut comm = [0u8; sensor_common::COMM_LEN];
    comm[..5].copy_from_slice(b"mount");
    Header {
        kind: kind as u16,
        flags: 0,
        size: size as u32,
        ktime_ns: 42,
        cgroup_id: 7,
        pid: 100,
        tid: 101,
        uid: 0,
        gid: 0,
        comm,
        ppid: 1,
        _pad: 0,
    }
}

fn event(bytes: &[u8]) -> Event {
    match decode(bytes).unwrap() {
        Record::Event(e) => e,
        other => panic!("not an event: {other:?}"),
    }
}

fn bytes_of<T>(v: &T) -> Vec<u8> {
    // SAFETY: test records are plain data without padding.
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), size_of::<T>()) }.to_vec()
}

fn syscall_record(nr: u64) -> SyscallRecord {
    SyscallRecord {
        header: header(RecordKind::Syscall, size_of::<SyscallRecord>()),
        nr,
        args: [1, 2, 3, 4, 5, 6],
        ret: -1,
        pointee: [0; sensor_common::POINTEE_WORDS],
        outcome: RawOutcome::Returned as u8,
        str_arg: [NO_STR_ARG; 3],
        str_truncated: 0,
        str_unreadable: 0,
        pointee_state: 0,
        pointee_arg: 0,
        str_len: [0; 3],
        ns_created: 0,
        _pad2: 0,
        strs: [[0; SYSCALL_STR_LEN]; 3],
    }
}

#[test]
fn decodes_a_flagged_syscall() {
    let nr = syscalls::number(Arch::NATIVE, "mount").unwrap();
    let ev = event(&bytes_of(&syscall_record(nr)));
    assert_eq!(ev.cgroup_id, 7);
    assert_eq!(ev.process.pid, 100);
    assert_eq!(ev.process.tid, 101);
    assert_eq!(ev.process.comm, *b"mount");
    let Body::FlaggedSyscall(s) = ev.body else {
        panic!("wrong body {:?}", ev.body)
    };
    assert_eq!(s.name, Some("mount"));
    assert_eq!(s.args, [1, 2, 3, 4, 5, 6]);
    assert_eq!(s.outcome, Outcome::Failed(libc::EPERM));
    assert_eq!(s.decoded.len(), 5, "mount is decoded: {:?}", s.decoded);
}

#[test]
fn carries_string_arguments_and_outcomes() {
    let nr = syscalls::number(Arch::NATIVE, "chroot").unwrap();
    let mut r = syscall_record(nr);
    r.str_arg[0] = 0;
    r.str_len[0] = 4;
    r.strs[0][..4].copy_from_slice(b"/new");
    r.str_truncated = 1;
    r.ret = 0;
    let Body::FlaggedSyscall(s) = event(&bytes_of(&r)).body else {
        panic!()
    };
    assert_eq!(s.outcome, Outcome::Succeeded(0));
    assert_eq!(
        (s.decoded[0].value.as_str(), s.decoded[0].truncated),
        ("/new", true)
    );

    r.outcome = RawOutcome::BlockedBeforeEntry as u8;
    r.ret = -i64::from(libc::EPERM);
    let Body::FlaggedSyscall(s) = event(&bytes_of(&r)).body else {
        panic!()
    };
    assert_eq!(s.outcome, Outcome::BlockedBeforeEntry(libc::EPERM));

    assert!(!s.args_at_exit);

    r.outcome = RawOutcome::Pending as u8;
    let Body::FlaggedSyscall(s) = event(&bytes_of(&r)).body else {
        panic!()
    };
    assert_eq!(s.outcome, Outcome::Unknown);

    // A record built at the call's exit says so.
    r.outcome = RawOutcome::Returned as u8;
    r.header.flags = FLAG_ARGS_AT_EXIT;
    let Body::FlaggedSyscall(s) = event(&bytes_of(&r)).body else {
        panic!()
    };
    assert_eq!(s.outcome, Outcome::Failed(libc::EPERM));
    assert!(s.args_at_exit);
}

#[test]
fn a_clone_s_fork_namespaces_are_decoded_and_nothing_else_may_carry_them() {
    let clone3 = syscalls::number(Arch::NATIVE, "clone3").unwrap();
    let mut r = syscall_record(clone3);
    r.ret = 4242;
    let Body::FlaggedSyscall(s) = event(&bytes_of(&r)).body else {
        panic!()
    };
    assert_eq!(s.namespaces_at_fork, None, "no fork seen");
    // uts (bit 0), net (bit 4), user (bit 7).
    r.header.flags = FLAG_NS_AT_FORK;
    r.ns_created = 0b1001_0001;
    let Body::FlaggedSyscall(s) = event(&bytes_of(&r)).body else {
        panic!()
    };
    let made = libc::CLONE_NEWUTS | libc::CLONE_NEWNET | libc::CLONE_NEWUSER;
    let at = |namespaces, entry_disagreed| {
        Some(crate::event::AtFork {
            namespaces,
            entry_disagreed,
        })
    };
    assert_eq!(s.namespaces_at_fork, at(made as u64, false));
    // Reported from the fork: the entry read other flags.
    r.header.flags = FLAG_NS_AT_FORK | FLAG_ENTRY_DISAGREED;
    let Body::FlaggedSyscall(s) = event(&bytes_of(&r)).body else {
        panic!()
    };
    assert_eq!(s.namespaces_at_fork, at(made as u64, true));
    r.header.flags = FLAG_NS_AT_FORK;
    r.ns_created = 0;
    let Body::FlaggedSyscall(s) = event(&bytes_of(&r)).body else {
        panic!()
    };
    assert_eq!(s.namespaces_at_fork, at(0, false), "a fork that made none");
    // Every bit names a namespace, each a different one.
    let all = fork_namespace_flags(u8::MAX);
    assert_eq!(all.count_ones(), 8);
    assert_eq!(all & libc::CLONE_NEWTIME as u64, libc::CLONE_NEWTIME as u64);

    // Bits (or a disagreement) without the flag, or the flag on a call that forks nothing:
    // refused.
    r.header.flags = FLAG_ENTRY_DISAGREED;
    assert!(decode(&bytes_of(&r)).is_err());
    r.header.flags = 0;
    r.ns_created = 1;
    assert!(decode(&bytes_of(&r)).is_err());
    let mut r = syscall_record(syscalls::number(Arch::NATIVE, "mount").unwrap());
    r.header.flags = FLAG_NS_AT_FORK;
    assert!(decode(&bytes_of(&r)).is_err());
}

/// `r` as the kernel sends it: without the string slots after the first `slots`.
fn sent_with(r: &mut SyscallRecord, slots: usize) -> Vec<u8> {
    r.header.size = syscall_record_size(slots) as u32;
    let mut bytes = bytes_of(r);
    bytes.truncate(syscall_record_size(slots));
    bytes
}

#[test]
fn records_come_without_their_unused_string_slots() {
    let nr = syscalls::number(Arch::NATIVE, "chroot").unwrap();
    let mut r = syscall_record(nr);
    r.str_arg[0] = 0;
    r.str_len[0] = 4;
    r.strs[0][..4].copy_from_slice(b"/new");
    let bytes = sent_with(&mut r, 1);
    assert_eq!(bytes.len(), 432);
    let Body::FlaggedSyscall(s) = event(&bytes).body else {
        panic!()
    };
    assert_eq!(s.decoded[0].value, "/new");
    // No strings at all: the fixed part only.
    let nr = syscalls::number(Arch::NATIVE, "unshare").unwrap();
    let mut r = syscall_record(nr);
    let Body::FlaggedSyscall(s) = event(&sent_with(&mut r, 0)).body else {
        panic!()
    };
    assert_eq!(s.args, [1, 2, 3, 4, 5, 6]);
}

#[test]
fn a_string_slot_past_the_end_or_a_cut_fixed_part_is_refused() {
    let nr = syscalls::number(Arch::NATIVE, "mount").unwrap();
    let mut r = syscall_record(nr);
    r.str_arg = [0, 1, NO_STR_ARG];
    let bytes = sent_with(&mut r, 1);
    assert!(matches!(
        decode(&bytes),
        Err(DecodeError::BadValue { value: 1, .. })
    ));
    let mut short = sent_with(&mut r, 0);
    short.truncate(SYSCALL_STRS_OFFSET - 1);
    let len = short.len() as u32;
    short[4..8].copy_from_slice(&len.to_ne_bytes());
    assert!(matches!(decode(&short), Err(DecodeError::TooShort { .. })));
}

#[test]
fn bad_string_slots_and_outcomes_are_refused() {
    let mut r = syscall_record(165);
    r.str_arg[1] = 6;
    assert!(matches!(
        decode(&bytes_of(&r)),
        Err(DecodeError::BadValue { .. })
    ));
    let mut r = syscall_record(165);
    r.str_arg[0] = 0;
    r.str_len[0] = SYSCALL_STR_LEN as u16;
    assert!(matches!(
        decode(&bytes_of(&r)),
        Err(DecodeError::BadLength { .. })
    ));
    let mut r = syscall_record(165);
    r.outcome = 9;
    assert!(matches!(
        decode(&bytes_of(&r)),
        Err(DecodeError::BadValue { .. })
    ));
    let mut r = syscall_record(165);
    r.pointee_state = 3;
    assert!(matches!(
        decode(&bytes_of(&r)),
        Err(DecodeError::BadValue { value: 3, .. })
    ));
    let mut r = syscall_record(165);
    r.pointee_state = sensor_common::pointee::READ;
    r.pointee_arg = 6;
    assert!(matches!(
        decode(&bytes_of(&r)),
        Err(DecodeError::BadValue { value: 6, .. })
    ));
}

#[test]
fn clone3_carries_the_flags_read_where_its_argument_points() {
    let nr = syscalls::number(Arch::NATIVE, "clone3").unwrap();
    let mut r = syscall_record(nr);
    r.pointee[0] = libc::CLONE_NEWUSER as u64;
    r.pointee_state = sensor_common::pointee::READ;
    let Body::FlaggedSyscall(s) = event(&bytes_of(&r)).body else {
        panic!("not a flagged call")
    };
    assert_eq!(s.decoded[0].name, "flags");
    assert_eq!(s.decoded[0].value, "CLONE_NEWUSER");
    r.pointee_state = sensor_common::pointee::UNREADABLE;
    let Body::FlaggedSyscall(s) = event(&bytes_of(&r)).body else {
        panic!("not a flagged call")
    };
    assert_eq!(s.decoded[0].value, "? (unreadable at 0x1)");
}

/// The record of i386 call `nr` made through `socketcall(call, ptr)`, whose words at `ptr`
/// were read.
fn socketcall_record(nr: u64, call: u64, ptr: u64, words: &[u64; 6]) -> SyscallRecord {
    let mut r = syscall_record(nr);
    r.header.flags = FLAG_COMPAT | sensor_common::FLAG_SOCKETCALL;
    r.args = [call, ptr, 0, 0, 0, 0];
    r.pointee = sensor_common::socketcall::pack(words);
    r.pointee_arg = 1;
    r.pointee_state = sensor_common::pointee::READ;
    r
}

#[test]
fn a_socket_through_socketcall_shows_the_words_it_pointed_at_and_its_route() {
    let mut r = socketcall_record(359, 1, 0x0804_a000, &[40, 1, 0, 0, 0, 0]);
    let Body::FlaggedSyscall(s) = event(&bytes_of(&r)).body else {
        panic!("not a flagged call")
    };
    assert_eq!((s.arch, s.name), (Arch::I386, Some("socket")));
    assert_eq!(s.args, [40, 1, 0, 0, 0, 0]);
    let shown: Vec<(&str, &str)> = s.decoded.iter().map(|d| (d.name, &*d.value)).collect();
    assert_eq!(shown[0], ("domain", "AF_VSOCK"));
    assert_eq!(
        shown.last(),
        Some(&("via", "socketcall(SYS_SOCKET, 0x804a000)"))
    );
    // Unreadable words: no argument is made up; the registers stay and the route says so.
    r.pointee_state = sensor_common::pointee::UNREADABLE;
    let Body::FlaggedSyscall(s) = event(&bytes_of(&r)).body else {
        panic!("not a flagged call")
    };
    assert_eq!(s.args, [1, 0x0804_a000, 0, 0, 0, 0]);
    assert_eq!(s.decoded.len(), 1);
    assert_eq!(
        s.decoded[0].value,
        "socketcall(SYS_SOCKET, 0x804a000 (unreadable))"
    );
    // The flag on a native call, or on a number that is not the one socketcall's call runs
    // as, is refused, not believed.
    r.header.flags = sensor_common::FLAG_SOCKETCALL;
    assert!(matches!(
        decode(&bytes_of(&r)),
        Err(DecodeError::BadValue { .. })
    ));
    r.header.flags = FLAG_COMPAT | sensor_common::FLAG_SOCKETCALL;
    r.args[0] = 3; // SYS_CONNECT, on a socket record
    assert!(decode(&bytes_of(&r)).is_err());
    r.args[0] = 21; // no such call
    assert!(decode(&bytes_of(&r)).is_err());
}

#[test]
fn every_socket_call_through_socketcall_is_the_i386_call_it_runs_as() {
    // SYS_SENDTO: six words, the last two in the pointee's third word.
    let words = [3, 0x0804_b000, 12, 0x4000, 0x0804_c000, 16];
    let r = socketcall_record(369, 11, 0xffff_f000, &words);
    let Body::FlaggedSyscall(s) = event(&bytes_of(&r)).body else {
        panic!("not a flagged call")
    };
    assert_eq!((s.arch, s.name), (Arch::I386, Some("sendto")));
    assert_eq!(s.args, words);
    let shown: Vec<(&str, &str)> = s.decoded.iter().map(|d| (d.name, &*d.value)).collect();
    assert_eq!(
        shown,
        [
            ("arg0", "0x3"),
            ("arg1", "0x804b000"),
            ("arg2", "0xc"),
            ("arg3", "0x4000"),
            ("arg4", "0x804c000"),
            ("arg5", "0x10"),
            ("via", "socketcall(SYS_SENDTO, 0xfffff000)")
        ]
    );
    // SYS_ACCEPT runs as accept4 with flags 0: named so, the route says what was asked.
    let r = socketcall_record(364, 5, 0x1000, &[4, 0, 0, 0, 0, 0]);
    let Body::FlaggedSyscall(s) = event(&bytes_of(&r)).body else {
        panic!("not a flagged call")
    };
    assert_eq!(s.name, Some("accept4"));
    assert_eq!(s.args, [4, 0, 0, 0, 0, 0]);
    let shown: Vec<&str> = s.decoded.iter().map(|d| d.name).collect();
    assert_eq!(
        shown,
        ["arg0", "arg1", "arg2", "via"],
        "the three words copied"
    );
    let via = s.decoded.iter().find(|d| d.name == "via").unwrap();
    assert_eq!(via.value, "socketcall(SYS_ACCEPT, 0x1000)");
}

#[test]
fn mount_setattr_carries_its_struct_read_where_its_fourth_argument_points() {
    let nr = syscalls::number(Arch::NATIVE, "mount_setattr").unwrap();
    let mut r = syscall_record(nr);
    r.args[4] = 32;
    r.pointee = [1, 0, libc::MS_SHARED, 0];
    r.pointee_arg = 3;
    r.pointee_state = sensor_common::pointee::READ;
    let Body::FlaggedSyscall(s) = event(&bytes_of(&r)).body else {
        panic!("not a flagged call")
    };
    assert_eq!(s.decoded[3].name, "attr");
    assert_eq!(
        s.decoded[3].value,
        "{attr_set=MOUNT_ATTR_RDONLY, attr_clr=0, propagation=MS_SHARED, userns_fd=0}"
    );
}

fn exec_record(filename: &[u8], argv: &[u8], argc: u32) -> ExecRecord {
    let mut r = ExecRecord {
        header: header(RecordKind::Exec, size_of::<ExecRecord>()),
        errno: 0,
        filename_len: filename.len() as u32,
        argv_len: argv.len() as u32,
        argc,
        cap_effective: 0,
        euid: u32::MAX,
        pid_ns_level: u32::MAX,
        filename: [0xAA; EXEC_FILENAME_LEN],
        argv: [0xBB; EXEC_ARGV_LEN],
        exe_nlink: u32::MAX,
        exe_name_len: 0,
        exe_name: [0; EXE_NAME_LEN],
    };
    r.filename[..filename.len()].copy_from_slice(filename);
    r.argv[..argv.len()].copy_from_slice(argv);
    r
}

fn exec_of(r: &ExecRecord) -> Exec {
    match event(&bytes_of(r)).body {
        Body::Exec(e) => e,
        other => panic!("wrong body {other:?}"),
    }
}

#[test]
fn decodes_an_exec_keeping_non_utf8_bytes() {
    let mut r = exec_record(b"/b\xffin\x00", b"ls\0-l\0/t\xffmp\0", 3);
    r.header.flags = FLAG_TRUNCATED;
    let e = exec_of(&r);
    assert_eq!(*e.filename, *b"/b\xffin\x00");
    assert!(e.filename_truncated && !e.argv_truncated);
    assert_eq!(*e.argv, [&b"ls"[..], b"-l", b"/t\xffmp"]);
    assert_eq!(e.errno, None);
}

#[test]
fn a_failed_exec_has_its_errno_and_a_cut_argv_its_flag() {
    let mut r = exec_record(b"/nope", b"nope\0aaaa", 2);
    r.errno = libc::ENOENT;
    r.header.flags = FLAG_ARGV_TRUNCATED;
    let e = exec_of(&r);
    assert_eq!(e.errno, Some(libc::ENOENT));
    assert!(e.argv_truncated);
    assert_eq!(*e.argv, [&b"nope"[..], b"aaaa"]);
    assert!(!e.argv_unknown);
    // An exec whose argv the kernel could not keep: unknown, not empty.
    let mut r = exec_record(b"", b"", 0);
    r.header.flags = FLAG_ARGV_UNKNOWN;
    let e = exec_of(&r);
    assert!(e.argv_unknown && e.argv.is_empty());
}

#[test]
fn refuses_an_exec_whose_lengths_overflow_their_buffers() {
    let mut r = exec_record(b"/x", b"", 0);
    r.filename_len = EXEC_FILENAME_LEN as u32 + 1;
    assert!(matches!(
        decode(&bytes_of(&r)),
        Err(DecodeError::BadLength { .. })
    ));
    let mut r = exec_record(b"/x", b"", 0);
    r.argv_len = EXEC_ARGV_LEN as u32 + 1;
    assert!(matches!(
        decode(&bytes_of(&r)),
        Err(DecodeError::BadLength { .. })
    ));
}

#[test]
fn decodes_lifecycle_and_cgroup_records() {
    let f = ForkRecord {
        header: header(RecordKind::Fork, size_of::<ForkRecord>()),
        child_pid: 9,
        _pad: 0,
    };
    let ev = event(&bytes_of(&f));
    assert_eq!((ev.body, ev.process.ppid), (Body::Fork { child_pid: 9 }, 1));
    let x = ExitRecord {
        header: header(RecordKind::Exit, size_of::<ExitRecord>()),
        exit_code: 3 << 8,
        _pad: 0,
    };
    assert_eq!(event(&bytes_of(&x)).body, Body::Exit { exit_code: 768 });
    let mut c = CgroupRecord {
        header: header(RecordKind::CgroupMkdir, size_of::<CgroupRecord>()),
        id: 77,
        path_len: 4,
        _pad: 0,
        path: [0; CGROUP_PATH_LEN],
    };
    c.path[..4].copy_from_slice(b"/a/b");
    assert_eq!(
        decode(&bytes_of(&c)).unwrap(),
        Record::CgroupMkdir {
            id: 77,
            path: "/a/b".into(),
            truncated: false
        }
    );
    c.header.kind = RecordKind::CgroupRmdir as u16;
    assert_eq!(
        decode(&bytes_of(&c)).unwrap(),
        Record::CgroupRmdir { id: 77 }
    );
    c.header.kind = RecordKind::CgroupMkdir as u16;
    c.path_len = CGROUP_PATH_LEN as u32 + 1;
    assert!(matches!(
        decode(&bytes_of(&c)),
        Err(DecodeError::BadLength { .. })
    ));
}

#[test]
fn truncated_input_is_an_error_not_a_panic() {
    let full = bytes_of(&syscall_record(165));
    for len in 0..full.len() {
        assert!(decode(&full[..len]).is_err(), "len {len} decoded");
    }
}

#[test]
fn size_must_match_the_header() {
    let mut b = bytes_of(&syscall_record(165));
    b.push(0);
    assert_eq!(
        decode(&b),
        Err(DecodeError::SizeMismatch {
            declared: b.len() as u32 - 1,
            actual: b.len()
        })
    );
}

#[test]
fn a_header_sized_record_of_a_bigger_kind_is_refused() {
    let h = header(RecordKind::Exec, size_of::<Header>());
    assert!(matches!(
        decode(&bytes_of(&h)),
        Err(DecodeError::TooShort { .. })
    ));
}

#[test]
fn unknown_kind_is_named() {
    let mut r = syscall_record(165);
    r.header.kind = 999;
    assert_eq!(decode(&bytes_of(&r)), Err(DecodeError::UnknownKind(999)));
}

#[test]
fn garbage_never_panics() {
    // A deterministic pseudo-random sweep (xorshift), lengths around the record sizes.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..20_000usize {
        let len = i % (size_of::<ExecRecord>() + 16);
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let _ = decode(&bytes);
    }
}
