//! Argument conditions: a rule may flag a syscall only when one of its register arguments
//! matches (any-of / all-of / none-of a flag mask, or in / not in a list of values), e.g.
//! `unshare` only with a `CLONE_NEW*` flag. The kernel checks the condition before it builds
//! a record ([`Condition::to_kernel`]), so a call that does not match costs no event.
use sensor_common::{ArgCondition, COND_VALUES, cond};

use crate::args::{self, Param};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    AnyOf,
    AllOf,
    NoneOf,
    In,
    NotIn,
}

impl Op {
    pub const ALL: [Op; 5] = [Op::AnyOf, Op::AllOf, Op::NoneOf, Op::In, Op::NotIn];

    /// The policy file's key.
    pub fn key(self) -> &'static str {
        match self {
            Op::AnyOf => "any_of",
            Op::AllOf => "all_of",
            Op::NoneOf => "none_of",
            Op::In => "in",
            Op::NotIn => "not_in",
        }
    }

    fn kernel(self) -> u8 {
        match self {
            Op::AnyOf => cond::ANY_OF,
            Op::AllOf => cond::ALL_OF,
            Op::NoneOf => cond::NONE_OF,
            Op::In => cond::IN,
            Op::NotIn => cond::NOT_IN,
        }
    }

    fn is_mask(self) -> bool {
        matches!(self, Op::AnyOf | Op::AllOf | Op::NoneOf)
    }
}

/// A condition on one argument of one syscall.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    /// The argument's index and name (from the decoder's table).
    pub arg: usize,
    pub arg_name: &'static str,
    /// The argument points at the value (clone3's `struct clone_args`, flags first).
    pub deref: bool,
    /// Only its lower 32 bits are tested: the kernel reads it as an `int`.
    pub narrow: bool,
    pub op: Op,
    /// One mask (any_of / all_of / none_of) or the listed values (in / not_in).
    pub values: Vec<u64>,
    /// How the values were named, for `policy show`.
    table: Names,
}

/// Names of an argument's values (flag bits, or enumerated values).
type Names = &'static [(u64, &'static str)];

/// An argument a condition can test.
struct Testable {
    index: usize,
    name: &'static str,
    /// It points at the value.
    deref: bool,
    /// The names its values have.
    table: Names,
    /// Bits that are no flags (legacy clone's exit signal): a mask may not test them.
    not_flags: u64,
    /// The kernel reads it as 32 bits ([`args::is_narrow`]).
    narrow: bool,
}

/// The argument called `arg_name` of `syscall` (the first one when `None`).
fn argument(syscall: &str, arg_name: Option<&str>) -> Result<Testable, String> {
    let params = args::params(syscall).ok_or_else(|| {
        format!("{syscall}: the sensor does not decode its arguments, so it cannot test them")
    })?;
    let found = match arg_name {
        None => params.iter().enumerate().next(),
        Some(n) => params.iter().enumerate().find(|(_, p)| p.name() == n),
    };
    let (i, p) = found.ok_or_else(|| {
        let names: Vec<&str> = params.iter().map(|p| p.name()).collect();
        format!(
            "{syscall} has no argument {:?} (it has {})",
            arg_name.unwrap_or_default(),
            names.join(", ")
        )
    })?;
    let (deref, table, not_flags) = match *p {
        Param::Flags(_, t) | Param::Enum(_, t) => (false, t, 0),
        Param::FlagsSignal(_, t) => (false, t, args::CLONE_SIGNAL_BYTE),
        Param::FlagsAt(_, t) => (true, t, 0),
        // A struct is tested by its first field.
        Param::StructAt(_, fields) => match fields.first() {
            Some(Param::Flags(_, t) | Param::Enum(_, t)) => (true, *t, 0),
            _ => (true, &[][..], 0),
        },
        Param::Int(_) | Param::Hex(_) => (false, &[][..], 0),
        Param::Str(n) => return Err(format!("{syscall}: argument {n} is a string")),
    };
    Ok(Testable {
        index: i,
        name: p.name(),
        deref,
        table,
        not_flags,
        narrow: args::is_narrow(syscall, p.name()),
    })
}

/// A value as written: a name from the argument's table, or a number (decimal or 0x hex).
fn value(v: &str, table: &[(u64, &str)]) -> Result<u64, String> {
    if let Some((x, _)) = table.iter().find(|(_, n)| *n == v) {
        return Ok(*x);
    }
    let parsed = match v.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => v.parse(),
    };
    parsed.map_err(|_| format!("{v:?} is neither a number nor a name this argument knows"))
}

impl Condition {
    /// Builds the condition `op` over `values` on argument `arg_name` of `syscall`.
    pub fn new(
        syscall: &str,
        arg_name: Option<&str>,
        op: Op,
        values: &[String],
    ) -> Result<Condition, String> {
        let arg = argument(syscall, arg_name)?;
        let parsed: Vec<u64> = values
            .iter()
            .map(|v| value(v, arg.table))
            .collect::<Result<_, _>>()?;
        if parsed.is_empty() {
            return Err(format!("{}: give at least one value", op.key()));
        }
        if let Some(v) = parsed
            .iter()
            .find(|v| arg.narrow && **v > u64::from(u32::MAX))
        {
            return Err(format!(
                "{}: {v:#x} is past 32 bits, and the kernel reads {syscall}'s {} as 32 bits",
                op.key(),
                arg.name
            ));
        }
        let values = if op.is_mask() {
            let mask = parsed.iter().fold(0, |m, v| m | v);
            if mask & arg.not_flags != 0 {
                return Err(format!(
                    "{}: bits {:#x} of {syscall}'s {} are its child's exit signal, not flags \
                     (CLONE_NEWTIME is clone3's and unshare's only)",
                    op.key(),
                    mask & arg.not_flags,
                    arg.name
                ));
            }
            vec![mask]
        } else if parsed.len() > COND_VALUES {
            return Err(format!(
                "{}: at most {COND_VALUES} values, not {}",
                op.key(),
                parsed.len()
            ));
        } else {
            parsed
        };
        Ok(Condition {
            arg: arg.index,
            arg_name: arg.name,
            deref: arg.deref,
            narrow: arg.narrow,
            op,
            values,
            table: arg.table,
        })
    }

    /// The kernel's form (one entry of the CONDITIONS map).
    pub fn to_kernel(&self) -> ArgCondition {
        let mut values = [0u64; COND_VALUES];
        for (slot, v) in values.iter_mut().zip(&self.values) {
            *slot = *v;
        }
        ArgCondition {
            op: self.op.kernel(),
            arg: self.arg as u8,
            deref: u8::from(self.deref),
            count: self.values.len() as u8,
            narrow: u8::from(self.narrow),
            _pad: [0; 3],
            values,
        }
    }

    /// Does value `v` of the argument meet the condition? (What the kernel decides.)
    pub fn matches(&self, v: u64) -> bool {
        let v = if self.narrow {
            v & u64::from(u32::MAX)
        } else {
            v
        };
        let mask = self.values[0];
        match self.op {
            Op::AnyOf => v & mask != 0,
            Op::AllOf => v & mask == mask,
            Op::NoneOf => v & mask == 0,
            Op::In => self.values.contains(&v),
            Op::NotIn => !self.values.contains(&v),
        }
    }

    /// As the policy file writes it: `arg = "flags", any_of = ["CLONE_NEWNS", ...]`.
    pub fn show(&self) -> String {
        let name = |v: u64| {
            self.table
                .iter()
                .find(|(x, _)| *x == v)
                .map_or_else(|| format!("\"{v:#x}\""), |(_, n)| format!("\"{n}\""))
        };
        let shown: Vec<String> = if self.op.is_mask() {
            let mask = self.values[0];
            let mut names: Vec<String> = self
                .table
                .iter()
                .filter(|(b, _)| *b != 0 && mask & b == *b)
                .map(|(b, _)| name(*b))
                .collect();
            let named = self.table.iter().fold(0, |m, (b, _)| m | b);
            if mask & !named != 0 {
                names.push(format!("\"{:#x}\"", mask & !named));
            }
            names
        } else {
            self.values.iter().map(|v| name(*v)).collect()
        };
        format!(
            "arg = \"{}\", {} = [{}]",
            self.arg_name,
            self.op.key(),
            shown.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn names_and_numbers_resolve_through_the_arguments_table() {
        let c = Condition::new(
            "unshare",
            None,
            Op::AnyOf,
            &s(&["CLONE_NEWNS", "CLONE_NEWUSER"]),
        )
        .unwrap();
        assert_eq!(c.values, [(libc::CLONE_NEWNS | libc::CLONE_NEWUSER) as u64]);
        assert!(c.matches(libc::CLONE_NEWNS as u64 | libc::CLONE_FILES as u64));
        assert!(!c.matches(libc::CLONE_FILES as u64));
        assert_eq!(
            c.show(),
            r#"arg = "flags", any_of = ["CLONE_NEWNS", "CLONE_NEWUSER"]"#
        );
        let p = Condition::new("personality", None, Op::NotIn, &s(&["0", "0x8"])).unwrap();
        assert!(p.matches(0x0040_0000) && !p.matches(8));
        let k = p.to_kernel();
        assert_eq!((k.op, k.count, k.values[1]), (cond::NOT_IN, 2, 8));
        let c3 = Condition::new("clone3", Some("flags"), Op::AnyOf, &s(&["CLONE_NEWPID"])).unwrap();
        assert!(c3.deref && c3.arg == 0);
        // A struct argument is tested by its first field, named from that field's table.
        let attr = Condition::new(
            "mount_setattr",
            Some("attr"),
            Op::AnyOf,
            &s(&["MOUNT_ATTR_IDMAP"]),
        )
        .unwrap();
        assert!(attr.deref && attr.arg == 3);
        assert_eq!(attr.values, [0x10_0000]);
    }

    #[test]
    fn bad_conditions_say_what_is_wrong() {
        let e = Condition::new("unshare", None, Op::AnyOf, &s(&["CLONE_NEWNOPE"])).unwrap_err();
        assert!(e.contains("CLONE_NEWNOPE"), "{e}");
        let e = Condition::new("setns", Some("fdd"), Op::In, &s(&["1"])).unwrap_err();
        assert!(e.contains("fd, nstype"), "{e}");
        let e = Condition::new("getpid", None, Op::In, &s(&["1"])).unwrap_err();
        assert!(e.contains("does not decode"), "{e}");
        let e = Condition::new("mount", None, Op::In, &s(&["1"])).unwrap_err();
        assert!(e.contains("string"), "{e}");
        let e = Condition::new("personality", None, Op::In, &s(&["1"; 17])).unwrap_err();
        assert!(e.contains("at most"), "{e}");
    }

    #[test]
    fn a_32_bit_argument_is_tested_on_its_lower_half() {
        let vsock = Condition::new("socket", None, Op::In, &s(&["AF_VSOCK"])).unwrap();
        assert!(vsock.narrow && vsock.to_kernel().narrow == 1);
        assert!(vsock.matches(0x1_0000_0028) && !vsock.matches(0x28_0000_0000));
        let e = Condition::new("socket", None, Op::In, &s(&["0x100000028"])).unwrap_err();
        assert!(e.contains("32 bits"), "{e}");
        // A 64-bit argument keeps every bit.
        let ns = Condition::new("unshare", None, Op::NotIn, &s(&["0"])).unwrap();
        assert!(!ns.narrow && ns.matches(1 << 32));
    }

    #[test]
    fn legacy_clone_s_exit_signal_is_never_taken_for_flags() {
        // Its low byte is the exit signal: 0x80 there is no CLONE_NEWTIME.
        let e = Condition::new("clone", None, Op::AnyOf, &s(&["CLONE_NEWTIME"])).unwrap_err();
        assert!(
            e.contains("exit signal") && e.contains("CLONE_NEWTIME"),
            "{e}"
        );
        for op in [Op::AnyOf, Op::AllOf, Op::NoneOf] {
            let e = Condition::new("clone", None, op, &s(&["CLONE_NEWNS", "0x80"])).unwrap_err();
            assert!(e.contains("0x80") && e.contains("exit signal"), "{e}");
        }
        let c = Condition::new("clone", None, Op::AnyOf, &s(&["CLONE_NEWUSER"])).unwrap();
        assert!(!c.matches(0x91) && c.matches(libc::CLONE_NEWUSER as u64 | 17));
        // clone3 and unshare can ask for a time namespace.
        for call in ["clone3", "unshare"] {
            Condition::new(call, None, Op::AnyOf, &s(&["CLONE_NEWTIME"])).unwrap();
        }
        // The built-in rule: a signal byte alone never meets it.
        let builtin =
            Condition::new("clone", None, Op::AnyOf, &s(crate::args::CLONE_NEW_LEGACY)).unwrap();
        assert!((0..=0xff).all(|sig| !builtin.matches(sig | libc::CLONE_VM as u64)));
    }
}
