//! Enrichment: who an event belongs to. cgroup id -> path ([`cgroups`]) -> container
//! ([`container`]).
pub mod cgroups;
pub mod container;
