//! Parsing tracefs `format` files, so that tracepoint field offsets are read from the running
//! kernel rather than assumed. (PREEMPT_RT/LAZY kernels, RHEL 9 among them, lengthen the common
//! header and move every field.)

/// One `field:` line of a format file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// The declaration without the name, e.g. `__data_loc char[]` or `pid_t`.
    pub ty: String,
    pub name: String,
    pub offset: u32,
    pub size: u32,
    pub signed: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormatError {
    #[error("line {line}: {what} in {text:?}")]
    BadLine {
        line: usize,
        what: &'static str,
        text: String,
    },
    #[error("field {0:?} is not in the format file")]
    MissingField(String),
    #[error("field {name:?} is {ty} of {size} bytes, expected {expected}")]
    UnexpectedType {
        name: String,
        ty: String,
        size: u32,
        expected: &'static str,
    },
}

/// Parses every `field:` line of a format file.
pub fn parse(text: &str) -> Result<Vec<Field>, FormatError> {
    let mut fields = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if !line.starts_with("field:") {
            continue;
        }
        let bad = |what| FormatError::BadLine {
            line: i + 1,
            what,
            text: raw.to_owned(),
        };
        let mut decl = None;
        let (mut offset, mut size, mut signed) = (None, None, None);
        for part in line.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once(':').ok_or_else(|| bad("no `key:value`"))?;
            match key {
                "field" => decl = Some(value.trim()),
                "offset" => offset = Some(value.parse::<u32>().map_err(|_| bad("bad offset"))?),
                "size" => size = Some(value.parse::<u32>().map_err(|_| bad("bad size"))?),
                "signed" => signed = Some(value == "1"),
                _ => {} // Newer kernels may add keys; they do not change the layout.
            }
        }
        let decl = decl.ok_or_else(|| bad("no field declaration"))?;
        let (ty, name) = split_declaration(decl).ok_or_else(|| bad("no field name"))?;
        fields.push(Field {
            ty,
            name,
            offset: offset.ok_or_else(|| bad("no offset"))?,
            size: size.ok_or_else(|| bad("no size"))?,
            signed: signed.unwrap_or(false),
        });
    }
    Ok(fields)
}

/// `unsigned char comm[16]` -> (`unsigned char[16]`, `comm`); `pid_t pid` -> (`pid_t`, `pid`).
fn split_declaration(decl: &str) -> Option<(String, String)> {
    let (ty, last) = decl.rsplit_once(char::is_whitespace)?;
    let (name, array) = match last.find('[') {
        Some(i) => (&last[..i], &last[i..]),
        None => (last, ""),
    };
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    Some((format!("{}{array}", ty.trim()), name.to_owned()))
}

/// The offset of a plain field of `size` bytes.
pub fn offset(fields: &[Field], name: &str, size: u32) -> Result<u32, FormatError> {
    let f = fields
        .iter()
        .find(|f| f.name == name)
        .ok_or_else(|| FormatError::MissingField(name.to_owned()))?;
    if f.size != size || f.ty.starts_with("__data_loc") {
        return Err(FormatError::UnexpectedType {
            name: name.to_owned(),
            ty: f.ty.clone(),
            size: f.size,
            expected: "a plain field of the expected size",
        });
    }
    Ok(f.offset)
}

/// The offset of a `__data_loc` field (a u32: offset in the low half, length in the high).
pub fn data_loc_offset(fields: &[Field], name: &str) -> Result<u32, FormatError> {
    let f = fields
        .iter()
        .find(|f| f.name == name)
        .ok_or_else(|| FormatError::MissingField(name.to_owned()))?;
    if !f.ty.starts_with("__data_loc") || f.size != 4 {
        return Err(FormatError::UnexpectedType {
            name: name.to_owned(),
            ty: f.ty.clone(),
            size: f.size,
            expected: "a 4-byte __data_loc",
        });
    }
    Ok(f.offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STOCK: &str = include_str!("../../tests/fixtures/sched_process_exec.format");
    const PREEMPT_LAZY: &str =
        include_str!("../../tests/fixtures/sched_process_exec.preempt_lazy.format");

    #[test]
    fn stock_kernel_layout() {
        let fields = parse(STOCK).unwrap();
        assert_eq!(fields.len(), 7);
        assert_eq!(data_loc_offset(&fields, "filename"), Ok(8));
        let pid = fields.iter().find(|f| f.name == "pid").unwrap();
        assert_eq!(
            (pid.ty.as_str(), pid.offset, pid.size, pid.signed),
            ("pid_t", 12, 4, true)
        );
    }

    #[test]
    fn longer_common_header_moves_the_fields() {
        let fields = parse(PREEMPT_LAZY).unwrap();
        assert_eq!(data_loc_offset(&fields, "filename"), Ok(12));
        assert!(fields.iter().any(|f| f.name == "common_preempt_lazy_count"));
    }

    #[test]
    fn arrays_keep_their_type() {
        let f = parse("\tfield:char comm[16];\toffset:8;\tsize:16;\tsigned:0;\n").unwrap();
        assert_eq!((f[0].ty.as_str(), f[0].name.as_str()), ("char[16]", "comm"));
    }

    #[test]
    fn missing_and_mistyped_fields_are_errors() {
        let fields = parse(STOCK).unwrap();
        assert_eq!(
            data_loc_offset(&fields, "nope"),
            Err(FormatError::MissingField("nope".into()))
        );
        assert!(matches!(
            data_loc_offset(&fields, "pid"),
            Err(FormatError::UnexpectedType { .. })
        ));
    }

    #[test]
    fn broken_lines_name_their_line() {
        let e = parse("name: x\nformat:\n\tfield:int a;\toffset:zz;\tsize:4;\n").unwrap_err();
        assert!(
            matches!(
                e,
                FormatError::BadLine {
                    line: 3,
                    what: "bad offset",
                    ..
                }
            ),
            "{e}"
        );
        let e = parse("\tfield:int;\toffset:0;\tsize:4;\n").unwrap_err();
        assert!(
            matches!(
                e,
                FormatError::BadLine {
                    what: "no field name",
                    ..
                }
            ),
            "{e}"
        );
    }
}
