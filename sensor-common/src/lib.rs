//! The boundary between the eBPF programs and userspace.
//!
//! Every record the kernel side writes into the `EVENTS` ring buffer starts with a [`Header`];
//! its `kind` says which record follows. Each record is `#[repr(C)]`, made of fixed-size integer
//! and byte-array fields only (no `bool`, no pointers, explicit padding), so any bit pattern is a
//! valid value and userspace can copy one out of an untrusted byte slice after a length check.
//! Sizes and offsets are asserted at compile time below: a layout change that is not mirrored on
//! both sides does not build.
#![no_std]

pub mod keys;
pub mod layout;
pub mod privileges;
pub mod records;
pub mod socketcall;

pub use keys::*;
pub use layout::*;
pub use records::*;
pub use socketcall::I386_SOCKETCALL;
