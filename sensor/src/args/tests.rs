use super::*;
use sensor_common::read_mask::pointee_arg;

#[test]
fn names_flags_and_keeps_unknown_bits() {
    let v = libc::MS_REC | libc::MS_PRIVATE;
    assert_eq!(flag_names(v, MS), "MS_REC|MS_PRIVATE");
    assert_eq!(
        flag_names(v | 1 << 40, MS),
        "MS_REC|MS_PRIVATE|0x10000000000"
    );
    assert_eq!(flag_names(0, MS), "0");
}

#[test]
fn decodes_each_family() {
    let mount = params("mount").unwrap();
    assert_eq!(show(mount[3], 0xc0ed_0000 | libc::MS_BIND), "MS_BIND");
    let unshare = params("unshare").unwrap();
    let ns = (libc::CLONE_NEWNS | libc::CLONE_NEWUTS) as u64;
    assert_eq!(show(unshare[0], ns), "CLONE_NEWNS|CLONE_NEWUTS");
    assert_eq!(show(params("setns").unwrap()[1], 0), "0");
    assert_eq!(show(params("ptrace").unwrap()[0], 0x4206), "PTRACE_SEIZE");
    assert_eq!(show(params("ptrace").unwrap()[1], u64::MAX), "-1");
    assert_eq!(show(params("bpf").unwrap()[0], 5), "BPF_PROG_LOAD");
    assert_eq!(show(params("bpf").unwrap()[0], 999), "999");
    assert_eq!(show(params("umount2").unwrap()[1], 2), "MNT_DETACH");
}

#[test]
fn legacy_clone_shows_its_exit_signal_as_a_signal() {
    let flags = params("clone").unwrap()[0];
    let sigchld = libc::SIGCHLD as u64;
    // 0x80 of the low byte is part of the signal (145 here), not CLONE_NEWTIME.
    assert_eq!(show(flags, 0x91), "signal 145");
    assert_eq!(show(flags, sigchld), "SIGCHLD");
    assert_eq!(
        show(flags, libc::CLONE_NEWUSER as u64 | sigchld),
        "CLONE_NEWUSER|SIGCHLD"
    );
    let thread = (libc::CLONE_VM | libc::CLONE_THREAD | libc::CLONE_SETTLS) as u64;
    assert_eq!(show(flags, thread), "CLONE_VM|CLONE_THREAD|CLONE_SETTLS");
    assert_eq!(show(flags, 0), "0");
    // unshare's 0x80 is CLONE_NEWTIME.
    assert_eq!(show(params("unshare").unwrap()[0], 0x80), "CLONE_NEWTIME");
}

#[test]
fn decodes_a_mount_with_its_strings() {
    let strings = vec![
        ArgString {
            arg: 0,
            bytes: b"none".to_vec(),
            truncated: false,
            unreadable: false,
        },
        ArgString {
            arg: 1,
            bytes: b"/mn\xfft".to_vec(),
            truncated: true,
            unreadable: false,
        },
        ArgString {
            arg: 2,
            bytes: vec![],
            truncated: false,
            unreadable: true,
        },
    ];
    let args = [1, 2, 0, libc::MS_BIND | libc::MS_REC, 0, 0];
    let d = decode(Some("mount"), &args, &strings, Pointee::None);
    let got: Vec<(&str, &str, bool)> = d
        .iter()
        .map(|a| (a.name, a.value.as_str(), a.truncated))
        .collect();
    assert_eq!(
        got,
        [
            ("source", "none", false),
            ("target", "/mn\\xfft", true),
            ("fstype", "NULL", false),
            ("flags", "MS_BIND|MS_REC", false),
            ("data", "0x0", false),
        ]
    );
    assert_eq!(d[1].raw.as_deref(), Some(&b"/mn\xfft"[..]));
    assert!(decode(Some("getpid"), &args, &[], Pointee::None).is_empty());
    assert!(decode(None, &args, &[], Pointee::None).is_empty());
}

#[test]
fn clone3_shows_the_flags_its_argument_points_at_never_the_pointer() {
    let args = [0x7ffd_1234_5678, 88, 0, 0, 0, 0];
    let ns = (libc::CLONE_NEWNS | libc::CLONE_NEWUSER) as u64;
    let shown = |p| {
        let d = decode(Some("clone3"), &args, &[], p);
        assert_eq!((d[0].name, d[1].name), ("flags", "size"));
        assert_eq!(d[1].value, "88");
        d[0].value.clone()
    };
    assert_eq!(
        shown(Pointee::Read(0, [ns, 7, 7, 7])),
        "CLONE_NEWNS|CLONE_NEWUSER"
    );
    assert_eq!(shown(Pointee::Read(0, [0; 4])), "0");
    assert_eq!(
        shown(Pointee::Unreadable(0)),
        "? (unreadable at 0x7ffd12345678)"
    );
    assert_eq!(shown(Pointee::None), "? (not read, at 0x7ffd12345678)");
    // What was read for another argument is never shown as this one's.
    assert_eq!(
        shown(Pointee::Read(1, [ns; 4])),
        "? (not read, at 0x7ffd12345678)"
    );
}

#[test]
fn mount_setattr_shows_its_struct_field_by_field_as_far_as_its_size_says() {
    let shown = |size: u64, p| {
        let args = [
            libc::AT_FDCWD as u64,
            0x1000,
            0x8000,
            0x7ffd_0000_0040,
            size,
            0,
        ];
        let d = decode(Some("mount_setattr"), &args, &[], p);
        assert_eq!(d[3].name, "attr");
        assert_eq!(d[2].value, "AT_RECURSIVE");
        d[3].value.clone()
    };
    let attr = [0x1 | 0x100000, 0x70, libc::MS_PRIVATE, 5];
    assert_eq!(
        shown(32, Pointee::Read(3, attr)),
        "{attr_set=MOUNT_ATTR_RDONLY|MOUNT_ATTR_IDMAP, attr_clr=MOUNT_ATTR__ATIME, \
         propagation=MS_PRIVATE, userns_fd=5}"
    );
    // A caller's struct of 16 bytes has two fields (the kernel refuses it: EINVAL).
    assert_eq!(
        shown(16, Pointee::Read(3, attr)),
        "{attr_set=MOUNT_ATTR_RDONLY|MOUNT_ATTR_IDMAP, attr_clr=MOUNT_ATTR__ATIME}"
    );
    assert_eq!(
        shown(32, Pointee::Unreadable(3)),
        "? (unreadable at 0x7ffd00000040)"
    );
    assert_eq!(
        shown(32, Pointee::Read(0, attr)),
        "? (not read, at 0x7ffd00000040)"
    );
}

#[test]
fn open_tree_attr_shows_its_struct_and_a_null_one_as_null() {
    let shown = |attr_at: u64, p| {
        let args = [libc::AT_FDCWD as u64, 0x1000, 0x1, attr_at, 32, 0];
        let d = decode(Some("open_tree_attr"), &args, &[], p);
        assert_eq!(
            (d[2].value.as_str(), d[3].name),
            ("OPEN_TREE_CLONE", "attr")
        );
        d[3].value.clone()
    };
    assert_eq!(
        shown(0x7ffd_0000_0040, Pointee::Read(3, [0x4, 0, 0, 0])),
        "{attr_set=MOUNT_ATTR_NODEV, attr_clr=0, propagation=0, userns_fd=0}"
    );
    assert_eq!(shown(0, Pointee::None), "NULL");
}

#[test]
fn read_masks_follow_the_table() {
    assert_eq!(read_mask("mount"), 0b111);
    assert_eq!(read_mask("pivot_root"), 0b11);
    assert_eq!(read_mask("move_mount"), 0b1010);
    assert_eq!(read_mask("kexec_file_load"), 0b1000);
    assert_eq!(read_mask("clone3"), with_pointee(0, 0));
    assert_eq!(read_mask("mount_setattr"), with_pointee(0b10, 3));
    assert_eq!(pointee_arg(read_mask("mount_setattr")), Some(3));
    assert_eq!(pointee_arg(read_mask("clone3")), Some(0));
    assert_eq!(pointee_arg(read_mask("mount")), None);
    assert_eq!(read_mask("unshare"), 0);
    assert_eq!(read_mask("getpid"), 0);
    for arch in [Arch::X86_64, Arch::Aarch64] {
        let names: Vec<&str> = crate::policy::Policy::builtin().names_on(arch).collect();
        let masks = read_masks(arch, &names);
        let mount = syscalls::number(arch, "mount").unwrap();
        assert!(masks.contains(&(mount, 0b111)));
        // Never more string arguments than the kernel record has slots for.
        assert!(
            masks
                .iter()
                .all(|(_, m)| (m & 0x3f).count_ones() as usize <= sensor_common::SYSCALL_STRS)
        );
    }
}

#[test]
fn a_32_bit_argument_is_shown_as_the_kernel_reads_it() {
    let d = decode(
        Some("socket"),
        &[0x1_0000_0028, 1, 0, 0, 0, 0],
        &[],
        Pointee::None,
    );
    assert_eq!(d[0].value, "AF_VSOCK");
    let d = decode(
        Some("unshare"),
        &[1 << 40 | 0x80, 0, 0, 0, 0, 0],
        &[],
        Pointee::None,
    );
    assert_eq!(
        d[0].value, "CLONE_NEWTIME|0x10000000000",
        "a 64-bit one keeps every bit"
    );
}

/// [`NARROW`] against the running kernel: an argument is narrow exactly when its
/// `sys_enter_<name>` format field is 32 bits wide in C (`int`, `unsigned`, `pid_t`), but
/// for the two the kernel narrows in the call's body. Needs a readable tracefs: as root it
/// must find one; a developer's unprivileged quick loop skips it.
#[test]
fn narrow_arguments_are_the_kernel_s_32_bit_ones() {
    const NARROWED_IN_BODY: &[(&str, &str)] = &[("clone", "flags"), ("ptrace", "pid")];
    let root = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
        .into_iter()
        .map(std::path::Path::new)
        .find(|p| p.join("events/syscalls").is_dir());
    let Some(root) = root else {
        // SAFETY: no arguments.
        assert!(
            unsafe { libc::geteuid() } != 0,
            "root and no tracefs mounted"
        );
        eprintln!("no readable tracefs: skipped (not root)");
        return;
    };
    let mut checked = 0;
    for name in NARROW.iter().map(|(n, _)| *n).chain([
        "mount",
        "unshare",
        "clone3",
        "init_module",
        "kexec_load",
    ]) {
        let event = crate::probes::exits::exit_event(name).replace("sys_exit_", "sys_enter_");
        let path = root.join("events/syscalls").join(event).join("format");
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue; // a call this kernel does not have (init_module without modules)
        };
        let fields = crate::tracefs::format::parse(&text).expect("a format file");
        let args = fields
            .iter()
            .skip_while(|f| f.name != "__syscall_nr")
            .skip(1);
        for (param, field) in params(name).unwrap().iter().zip(args) {
            let c_32 = matches!(
                field.ty.as_str(),
                "int" | "unsigned int" | "unsigned" | "pid_t"
            );
            let narrowed = NARROWED_IN_BODY.contains(&(name, param.name()));
            assert_eq!(
                is_narrow(name, param.name()),
                c_32 || narrowed,
                "{name}'s {} is `{} {}` in the kernel",
                param.name(),
                field.ty,
                field.name
            );
            checked += 1;
        }
    }
    assert!(checked > 50, "only {checked} arguments checked");
}

#[test]
fn string_arguments_are_shown_as_escape_ascii_shows_them() {
    let samples: [&[u8]; 7] = [
        b"/mnt/data",
        b"",
        b"with space and ~",
        b"quote\" and 'apostrophe' and \\backslash",
        b"tab\there\nnewline",
        b"\xff\xfe not utf-8",
        "caf\u{e9}".as_bytes(),
    ];
    for s in samples {
        assert_eq!(shown_bytes(s), s.escape_ascii().to_string(), "{s:?}");
    }
}
