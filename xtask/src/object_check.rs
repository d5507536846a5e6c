//! Checks a built eBPF object before it is embedded: every program the loader attaches, every
//! map and global it uses, the license, and the BTF. A broken build fails here, with the name
//! of what is missing, rather than at load time on a node.
use std::path::Path;

use anyhow::{Context as _, bail};
use object::{Object as _, ObjectSection as _, ObjectSymbol as _, SymbolKind};
use sensor_common::{GLOBALS, Hook, MAPS, PROGRAMS};

fn section_of(hook: Hook) -> String {
    match hook {
        Hook::RawTracepoint(tp) => format!("raw_tp/{tp}"),
        Hook::Tracepoint(cat, name) => format!("tracepoint/{cat}/{name}"),
        Hook::BtfTracepoint(tp) => format!("tp_btf/{tp}"),
        Hook::SyscallExits => "tracepoint".to_owned(),
    }
}

/// Returns a one-line summary of what was found, or an error naming what is missing.
pub fn check(path: &Path) -> anyhow::Result<String> {
    let data =
        std::fs::read(path).with_context(|| format!("reading eBPF object {}", path.display()))?;
    let file = object::File::parse(&*data)
        .with_context(|| format!("{} is not an ELF object", path.display()))?;
    let section_name = |sym: &object::Symbol| {
        sym.section_index()
            .and_then(|i| file.section_by_index(i).ok())
            .and_then(|s| s.name().ok().map(str::to_owned))
            .unwrap_or_default()
    };
    let symbols: Vec<(String, String, SymbolKind)> = file
        .symbols()
        .filter_map(|s| Some((s.name().ok()?.to_owned(), section_name(&s), s.kind())))
        .collect();
    let has = |name: &str, pred: &dyn Fn(&str, SymbolKind) -> bool| {
        symbols
            .iter()
            .any(|(n, sec, kind)| n == name && pred(sec, *kind))
    };
    let mut missing = Vec::new();
    for p in PROGRAMS {
        let want = section_of(p.hook);
        if !has(p.name, &|sec, kind| sec == want && kind == SymbolKind::Text) {
            missing.push(format!("program {} in section {want}", p.name));
        }
    }
    for m in MAPS {
        let found = if m.starts_with('.') {
            file.section_by_name(m).is_some()
        } else {
            has(m, &|sec, _| sec == "maps" || sec == ".maps")
        };
        if !found {
            missing.push(format!("map {m}"));
        }
    }
    for g in GLOBALS {
        if !has(g, &|sec, _| matches!(sec, ".rodata" | ".data" | ".bss")) {
            missing.push(format!("global {g}"));
        }
    }
    if file.section_by_name("license").is_none() {
        missing.push("license section".to_owned());
    }
    let btf = file.section_by_name(".BTF").map(|s| s.size()).unwrap_or(0);
    if btf == 0 {
        missing.push(
            ".BTF section (is `-Clink-arg=--btf` set, and the object not stripped?)".to_owned(),
        );
    }
    if !missing.is_empty() {
        bail!(
            "eBPF object {} is incomplete, missing: {}",
            path.display(),
            missing.join("; ")
        );
    }
    Ok(format!(
        "{} programs, {} maps, {} globals, BTF {} bytes, {} KiB",
        PROGRAMS.len(),
        MAPS.len(),
        GLOBALS.len(),
        btf,
        data.len() / 1024
    ))
}
