//! The policy file (TOML): what a user writes, checked line by line. A file that fails any
//! check is refused as a whole, with the line and what is wrong; nothing of it is applied.
//!
//! ```toml
//! watch_host = true          # flag host processes too (default: true)
//! defaults = true            # start from the built-in set (default: true)
//!
//! [syscalls]                 # name = "low" | "medium" | "high" | "critical" | "off"
//! mount = "critical"
//! personality = "off"
//! # flagged only when an argument matches (checked in the kernel): any_of, all_of, none_of
//! # (flag masks), in, not_in, equals, not_equals (values); names or numbers
//! unshare = { severity = "high", arg = "flags", any_of = ["CLONE_NEWUSER", "CLONE_NEWNS"] }
//! "io_uring:openat" = "low" # an operation submitted through an io_uring ring
//!
//! [[exceptions]]             # all given matchers must match; globs allow * and ?
//! namespace = "ci-*"         # also: pod, container, image, pod_uid, container_id
//! syscalls = ["mount", "umount2"]   # omit to except every call
//!
//! [[profiles]]               # drift: calls outside this profile are PROFILE_DEVIATION events
//! image = "nginx:1.27*"      # the same matchers; a container is under the first that matches
//! file = "nginx.json"        # an OCI seccomp profile (relative to this file's directory)
//! name = "nginx"             # how events name it (default: the file)
//! ```
use std::{collections::BTreeMap, fmt::Write as _};

use serde::Deserialize;
use toml::Spanned;
use wildmatch::WildMatch;

use super::{
    Exception, Policy, Severity,
    binding::Binding,
    condition::{Condition, Op},
};
use crate::syscalls::{self, Arch};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{source_name}:{line}: {message}")]
pub struct PolicyFileError {
    pub source_name: String,
    pub line: usize,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    watch_host: Option<bool>,
    defaults: Option<bool>,
    #[serde(default)]
    syscalls: BTreeMap<Spanned<String>, Spanned<RawRule>>,
    #[serde(default)]
    exceptions: Vec<Spanned<RawException>>,
    #[serde(default)]
    profiles: Vec<Spanned<RawException>>,
    least_privilege: Option<RawLeastPrivilege>,
}

/// `mount = "high"`, or `unshare = { severity = "high", any_of = ["CLONE_NEWUSER"] }`.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawRule {
    Level(String),
    Conditioned(Box<RawCondition>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCondition {
    severity: String,
    /// The argument tested (by its name in `sensor policy show`); the first when omitted.
    arg: Option<String>,
    any_of: Option<Vec<toml::Value>>,
    all_of: Option<Vec<toml::Value>>,
    none_of: Option<Vec<toml::Value>>,
    #[serde(rename = "in")]
    in_: Option<Vec<toml::Value>>,
    not_in: Option<Vec<toml::Value>>,
    equals: Option<toml::Value>,
    not_equals: Option<toml::Value>,
}

impl RawCondition {
    /// The one condition given, as (op, values written as strings).
    fn op(&self) -> Result<Option<(Op, Vec<String>)>, String> {
        let text = |v: &toml::Value| match v {
            toml::Value::String(s) => Ok(s.clone()),
            toml::Value::Integer(i) => Ok(i.to_string()),
            other => Err(format!("{other:?} is neither a name nor a number")),
        };
        let list = |v: &Vec<toml::Value>| v.iter().map(text).collect::<Result<Vec<_>, _>>();
        let mut found = Vec::new();
        for (op, values) in [
            (Op::AnyOf, &self.any_of),
            (Op::AllOf, &self.all_of),
            (Op::NoneOf, &self.none_of),
            (Op::In, &self.in_),
            (Op::NotIn, &self.not_in),
        ] {
            if let Some(v) = values {
                found.push((op, list(v)?));
            }
        }
        if let Some(v) = &self.equals {
            found.push((Op::In, vec![text(v)?]));
        }
        if let Some(v) = &self.not_equals {
            found.push((Op::NotIn, vec![text(v)?]));
        }
        match found.len() {
            0 | 1 => Ok(found.pop()),
            _ => Err("give one of any_of, all_of, none_of, in, not_in, equals, not_equals".into()),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLeastPrivilege {
    root_exec: Option<Spanned<String>>,
    dangerous_caps_exec: Option<Spanned<String>>,
    dangerous_caps: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawException {
    namespace: Option<String>,
    pod: Option<String>,
    pod_uid: Option<String>,
    container: Option<String>,
    image: Option<String>,
    container_id: Option<String>,
    #[serde(default)]
    syscalls: Vec<Spanned<String>>,
    /// `[[profiles]]` only: the profile's file, and its name.
    file: Option<String>,
    name: Option<String>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}

/// Parses and checks a policy file. `source_name` names it in messages.
pub fn parse(text: &str, source_name: &str) -> Result<Policy, PolicyFileError> {
    let err = |offset: usize, message: String| PolicyFileError {
        source_name: source_name.to_owned(),
        line: line_of(text, offset),
        message,
    };
    let raw: RawPolicy = toml::from_str(text).map_err(|e| {
        err(
            e.span().map_or(0, |s| s.start),
            e.message().trim().to_owned(),
        )
    })?;
    let mut policy = Policy::builtin();
    policy.source = source_name.to_owned();
    if raw.defaults == Some(false) {
        policy.syscalls.clear();
        policy.conditions.clear();
    }
    policy.watch_host = raw.watch_host.unwrap_or(true);
    let known = |name: &Spanned<String>| {
        syscalls::known_name(name.get_ref()).ok_or_else(|| {
            err(
                name.span().start,
                format!(
                    "unknown syscall {:?} (not a syscall on x86_64, i386 or aarch64, nor an \
                     io_uring operation such as \"io_uring:openat\")",
                    name.get_ref()
                ),
            )
        })
    };
    for (name, rule) in &raw.syscalls {
        let name_static = known(name)?;
        let at = rule.span().start;
        let (level, condition) = match rule.get_ref() {
            RawRule::Level(level) => (level, None),
            RawRule::Conditioned(c) => (&c.severity, Some(c)),
        };
        if level == "off" {
            policy.syscalls.remove(name_static);
            policy.conditions.remove(name_static);
            continue;
        }
        let severity = Severity::parse(level).ok_or_else(|| {
            err(
                at,
                format!(
                    "severity {level:?} of {name_static}: expected low, medium, high, critical or off"
                ),
            )
        })?;
        policy.syscalls.insert(name_static, severity);
        // A plain severity keeps the built-in condition; a table sets its own (or none).
        if let Some(c) = condition {
            if syscalls::number(Arch::IoUring, name_static).is_some()
                && c.op().ok().flatten().is_some()
            {
                return Err(err(
                    at,
                    format!(
                        "{name_static}: an io_uring operation has no arguments the sensor sees \
                         (the ring's tracepoint gives its opcode only): give a severity alone"
                    ),
                ));
            }
            let op = c.op().map_err(|m| err(at, format!("{name_static}: {m}")))?;
            match op {
                None => {
                    policy.conditions.remove(name_static);
                }
                Some((op, values)) => {
                    let cond = Condition::new(name_static, c.arg.as_deref(), op, &values)
                        .map_err(|m| err(at, format!("{name_static}: {m}")))?;
                    policy.conditions.insert(name_static, cond);
                }
            }
        }
    }
    if let Some(lp) = &raw.least_privilege {
        let level =
            |v: &Spanned<String>, what: &str| -> Result<Option<Severity>, PolicyFileError> {
                match v.get_ref().as_str() {
                    "off" => Ok(None),
                    s => Severity::parse(s).map(Some).ok_or_else(|| {
                        err(
                            v.span().start,
                            format!("{what} = {s:?}: expected low, medium, high, critical or off"),
                        )
                    }),
                }
            };
        if let Some(v) = &lp.root_exec {
            policy.least_privilege.root_exec = level(v, "root_exec")?;
        }
        if let Some(v) = &lp.dangerous_caps_exec {
            policy.least_privilege.caps_exec = level(v, "dangerous_caps_exec")?;
        }
        if let Some(caps) = &lp.dangerous_caps {
            policy.least_privilege.dangerous_caps = caps
                .iter()
                .map(|c| {
                    super::DANGEROUS_CAPS
                        .iter()
                        .chain(super::OTHER_CAPS)
                        .find(|(_, n)| *n == c.get_ref())
                        .copied()
                        .ok_or_else(|| {
                            err(
                                c.span().start,
                                format!(
                                    "unknown capability {:?} (write it like CAP_SYS_ADMIN)",
                                    c.get_ref()
                                ),
                            )
                        })
                })
                .collect::<Result<_, _>>()?;
        }
    }
    let who = |ex: &Spanned<RawException>, what: &str| -> Result<Exception, PolicyFileError> {
        let at = ex.span().start;
        let r = ex.get_ref();
        let glob = |v: &Option<String>| v.as_deref().map(WildMatch::new);
        let exception = Exception {
            line: line_of(text, at),
            namespace: glob(&r.namespace),
            pod: glob(&r.pod),
            pod_uid: r.pod_uid.clone(),
            container: glob(&r.container),
            image: glob(&r.image),
            container_id: r.container_id.clone(),
            syscalls: r.syscalls.iter().map(known).collect::<Result<_, _>>()?,
        };
        let any = exception.namespace.is_some()
            || exception.pod.is_some()
            || exception.pod_uid.is_some()
            || exception.container.is_some()
            || exception.image.is_some()
            || exception.container_id.is_some();
        if !any {
            return Err(err(
                at,
                format!(
                    "this {what} names no container: give namespace, pod, pod_uid, container, \
                     image or container_id"
                ),
            ));
        }
        Ok(exception)
    };
    for ex in &raw.exceptions {
        if ex.get_ref().file.is_some() || ex.get_ref().name.is_some() {
            return Err(err(
                ex.span().start,
                "`file` and `name` belong in [[profiles]], not [[exceptions]]".into(),
            ));
        }
        policy.exceptions.push(who(ex, "exception")?);
    }
    for p in &raw.profiles {
        let at = p.span().start;
        let r = p.get_ref();
        if !r.syscalls.is_empty() {
            return Err(err(
                at,
                "a profile lists no syscalls here: they are in its `file`".into(),
            ));
        }
        let Some(file) = &r.file else {
            return Err(err(
                at,
                "this profile has no `file` (an OCI seccomp profile, JSON)".into(),
            ));
        };
        let path = std::path::Path::new(source_name)
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .join(file);
        let json = std::fs::read_to_string(&path)
            .map_err(|e| err(at, format!("reading profile {}: {e}", path.display())))?;
        let name = r.name.clone().unwrap_or_else(|| file.clone());
        if policy.bindings.iter().any(|b| b.name == name) {
            return Err(err(at, format!("a second profile named {name:?}")));
        }
        let binding = Binding::new(&name, who(p, "profile")?, &json)
            .map_err(|m| err(at, format!("profile {}: {m}", path.display())))?;
        policy.bindings.push(binding);
    }
    if policy.syscalls.is_empty() {
        return Err(err(
            0,
            "no syscall is forbidden: with `defaults = false`, list some under [syscalls]".into(),
        ));
    }
    Ok(policy)
}

/// A TOML key: bare where TOML allows it, quoted otherwise (`"io_uring:socket"`).
fn toml_key(name: &str) -> String {
    if name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        name.to_owned()
    } else {
        format!("{name:?}")
    }
}

/// The policy as a file, e.g. to start one from the built-in set (`sensor policy show`).
pub fn to_toml(policy: &Policy) -> String {
    let mut out = format!(
        "# Policy: {} ({} syscalls)\nwatch_host = {}\ndefaults = false\n\n[syscalls]\n",
        policy.source,
        policy.syscalls.len(),
        policy.watch_host
    );
    for (name, sev) in &policy.syscalls {
        let key = toml_key(name);
        match policy.conditions.get(name) {
            None => {
                let _ = writeln!(out, "{key} = \"{}\"", sev.name());
            }
            Some(c) => {
                let _ = writeln!(
                    out,
                    "{key} = {{ severity = \"{}\", {} }}",
                    sev.name(),
                    c.show()
                );
            }
        }
    }
    let off: Vec<_> = super::defaults::OFF_BY_DEFAULT
        .iter()
        .filter(|(name, _)| !policy.syscalls.contains_key(name))
        .collect();
    if !off.is_empty() {
        out.push_str("\n# Not flagged by default (no security meaning in a container):\n");
        for (name, why) in off {
            let _ = writeln!(out, "# {name} = \"low\"    # {why}");
        }
    }
    out
}

#[cfg(test)]
mod tests;
