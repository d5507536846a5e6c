use super::*;
use crate::enrich::container::{Qos, Runtime};

fn is_set(b: &SyscallBitmap, nr: u64) -> bool {
    b[(nr / 64) as usize] >> (nr % 64) & 1 == 1
}

#[test]
fn builtin_covers_the_docker_default_blocks_on_both_arches() {
    let p = Policy::builtin();
    for arch in [Arch::X86_64, Arch::Aarch64] {
        let b = p.forbidden_bitmap(arch);
        for n in [
            "mount",
            "umount2",
            "pivot_root",
            "unshare",
            "setns",
            "ptrace",
            "bpf",
            "keyctl",
            "io_uring_setup",
        ] {
            assert!(
                is_set(&b, syscalls::number(arch, n).unwrap()),
                "{n} on {arch:?}"
            );
        }
        assert!(!is_set(&b, syscalls::number(arch, "getpid").unwrap()));
    }
    // i386 calls by their i386 numbers: mount is 21 there; 165 (x86_64's mount) is
    // getresuid and 21 natively is access.
    let b = p.forbidden_bitmap(Arch::X86_64);
    let key = |a: Arch, n: &str| a.key(syscalls::number(a, n).unwrap()).unwrap();
    for n in ["mount", "umount", "umount2", "unshare", "setns", "chroot"] {
        assert!(is_set(&b, key(Arch::I386, n)), "i386 {n}");
    }
    assert!(!is_set(&b, key(Arch::I386, "getresuid")));
    assert!(!is_set(&b, key(Arch::X86_64, "access")));
    assert_eq!(p.severity("init_module"), Some(Severity::Critical));
    assert_eq!(p.severity("chroot"), Some(Severity::Medium));
}

fn ctr(pod_uid: &str) -> ContainerRef {
    ContainerRef {
        runtime: Runtime::Cri,
        id: "c".repeat(64),
        pod: Some((pod_uid.into(), Qos::BestEffort)),
    }
}

#[test]
fn exceptions_match_on_every_given_field() {
    let mut p = Policy::builtin();
    p.exceptions.push(Exception {
        namespace: Some(WildMatch::new("ci-*")),
        syscalls: vec!["mount"],
        ..Default::default()
    });
    p.exceptions.push(Exception {
        pod_uid: Some("u-2".into()),
        ..Default::default()
    });
    let meta = |ns: &str| PodMeta {
        pod_namespace: ns.into(),
        ..Default::default()
    };
    let (c1, c2) = (ctr("u-1"), ctr("u-2"));
    let mount = syscalls::number(Arch::X86_64, "mount").unwrap();
    let chroot = syscalls::number(Arch::X86_64, "chroot").unwrap();
    let ci = meta("ci-builds");
    match p.exemption(
        Arch::X86_64,
        false,
        &Target {
            container: Some(&c1),
            meta: Some(&ci),
        },
    ) {
        Exemption::Some(b) => assert!(is_set(&b, mount) && !is_set(&b, chroot)),
        other => panic!("{other:?}"),
    }
    let prod = meta("prod");
    assert_eq!(
        p.exemption(
            Arch::X86_64,
            false,
            &Target {
                container: Some(&c1),
                meta: Some(&prod)
            }
        ),
        Exemption::None
    );
    // A namespace matcher cannot be decided before the runtime answered.
    assert_eq!(
        p.exemption(
            Arch::X86_64,
            false,
            &Target {
                container: Some(&c1),
                meta: None
            }
        ),
        Exemption::Undecided
    );
    // Excepted by pod uid entirely (the namespace exception is undecided first, though).
    p.exceptions.remove(0);
    assert!(matches!(
        p.exemption(Arch::X86_64, false, &Target { container: Some(&c2), meta: None }),
        Exemption::Some(b) if b == [u64::MAX; FORBIDDEN_WORDS as usize]
    ));
}

#[test]
fn least_privilege_findings() {
    let lp = LeastPrivilege::default();
    let root_admin = Privileges {
        euid: 0,
        cap_effective: 1 << 21,
    };
    let f = lp.findings(&root_admin);
    let whats: Vec<&str> = f.iter().map(|f| f.what.as_str()).collect();
    assert_eq!(whats, ["runs as root", "holds CAP_SYS_ADMIN"]);
    assert!(
        lp.findings(&Privileges {
            euid: 1000,
            cap_effective: 1 << 10
        })
        .is_empty()
    );
    let off = LeastPrivilege {
        root_exec: None,
        ..lp
    };
    assert_eq!(off.findings(&root_admin).len(), 1);
}

#[test]
fn host_processes_follow_watch_host() {
    let mut p = Policy::builtin();
    assert_eq!(
        p.exemption(Arch::X86_64, true, &Target::default()),
        Exemption::None
    );
    p.watch_host = false;
    assert!(matches!(
        p.exemption(Arch::X86_64, true, &Target::default()),
        Exemption::Some(_)
    ));
}
