use super::*;

fn error(text: &str) -> PolicyFileError {
    parse(text, "p.toml").unwrap_err()
}

#[test]
fn the_example_file_parses() {
    let text = include_str!("../../../../examples/policy.toml");
    let p = parse(text, "examples/policy.toml").unwrap();
    assert!(!p.exceptions.is_empty());
    assert!(p.severity("mount").is_some());
}

#[test]
fn conditions_are_written_by_name_and_refused_with_their_line() {
    let p = parse(
            "[syscalls]\nunshare = \"critical\"\nsetns = { severity = \"high\", arg = \"nstype\", any_of = [\"CLONE_NEWNET\", 0x20000] }\nclone = { severity = \"low\" }\n",
            "p",
        )
        .unwrap();
    // A plain severity keeps the built-in condition; a table without one drops it.
    assert!(p.conditions.contains_key("unshare"));
    assert!(!p.conditions.contains_key("clone"));
    let setns = &p.conditions["setns"];
    assert_eq!((setns.arg, setns.values[0]), (1, 0x4000_0000 | 0x20000));
    assert!(to_toml(&p).contains(
        r#"setns = { severity = "high", arg = "nstype", any_of = ["CLONE_NEWNS", "CLONE_NEWNET"] }"#
    ));
    let e = error("[syscalls]\n\nunshare = { severity = \"high\", any_of = [\"CLONE_NEWX\"] }\n");
    assert_eq!(e.line, 3);
    assert!(e.message.contains("CLONE_NEWX"), "{e}");
    let e = error("[syscalls]\nunshare = { severity = \"high\", any_of = [1], in = [2] }\n");
    assert!(e.message.contains("give one of"), "{e}");
}

#[test]
fn a_file_adjusts_the_defaults() {
    let p = parse(
        "watch_host = false\n[syscalls]\nmount = \"critical\"\npersonality = \"off\"\n",
        "p",
    )
    .unwrap();
    assert_eq!(p.severity("mount"), Some(Severity::Critical));
    assert_eq!(p.severity("personality"), None);
    assert_eq!(
        p.severity("bpf"),
        Some(Severity::Critical),
        "the rest of the defaults stay"
    );
    assert!(!p.watch_host);
    let only = parse("defaults = false\n[syscalls]\nchroot = \"low\"\n", "p").unwrap();
    assert_eq!(only.syscalls.len(), 1);
}

#[test]
fn io_uring_operations_are_named_apart_and_take_no_condition() {
    let p = parse("[syscalls]\n\"io_uring:openat\" = \"low\"\n", "p").unwrap();
    assert_eq!(p.severity("io_uring:openat"), Some(Severity::Low));
    assert_eq!(p.severity("openat"), None, "the syscall is another call");
    let e = error(
        "[syscalls]\n\"io_uring:socket\" = { severity = \"high\", arg = \"domain\", in = [40] }\n",
    );
    assert_eq!(e.line, 2);
    assert!(e.message.contains("no arguments the sensor sees"), "{e}");
}

#[test]
fn each_kind_of_mistake_names_its_line() {
    let e = error("[syscalls]\nmount = \"high\"\nmountt = \"high\"\n");
    assert_eq!(
        (e.line, e.message.as_str()),
        (
            3,
            "unknown syscall \"mountt\" (not a syscall on x86_64, i386 or aarch64, nor an io_uring \
             operation such as \"io_uring:openat\")"
        )
    );
    let e = error("[syscalls]\n\nchroot = \"severe\"\n");
    assert_eq!(e.line, 3);
    assert!(
        e.message
            .contains("expected low, medium, high, critical or off"),
        "{e}"
    );
    let e = error("watch_host = \"yes\"\n");
    assert_eq!(e.line, 1);
    let e = error("watch_hots = true\n");
    assert!(e.message.contains("unknown field"), "{e}");
    let e = error("[syscalls]\nmount = \"high\"\n\n[[exceptions]]\nsyscalls = [\"mount\"]\n");
    assert_eq!(e.line, 4);
    assert!(e.message.contains("names no container"), "{e}");
    let e = error("[[exceptions]]\nnamespace = \"ci\"\nsyscalls = [\"mount\", \"nope\"]\n");
    assert_eq!(e.line, 3);
    let e = error("[syscalls\n");
    assert_eq!(e.line, 1);
    assert_eq!(e.to_string().split(':').next(), Some("p.toml"));
    let e = error("defaults = false\n");
    assert!(e.message.contains("no syscall is forbidden"), "{e}");
}

#[test]
fn least_privilege_settings() {
    let p = parse(
        "[least_privilege]\nroot_exec = \"off\"\ndangerous_caps = [\"CAP_NET_RAW\"]\n",
        "p",
    )
    .unwrap();
    assert_eq!(p.least_privilege.root_exec, None);
    assert_eq!(p.least_privilege.dangerous_caps, [(13, "CAP_NET_RAW")]);
    let e = error("[least_privilege]\ndangerous_caps = [\"CAP_SYS_ADMINN\"]\n");
    assert_eq!(e.line, 2);
    assert!(e.message.contains("unknown capability"), "{e}");
}

#[test]
fn show_round_trips() {
    let p = Policy::builtin();
    let again = parse(&to_toml(&p), "shown").unwrap();
    assert_eq!(again.syscalls, p.syscalls);
}
