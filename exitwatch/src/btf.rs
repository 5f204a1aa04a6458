//! Reads the running kernel's BTF and resolves the struct field offsets the kernel programs use.
//!
//! The kernel programs read `task_struct` and friends at raw byte offsets (`KernelOffsets`), so
//! those offsets must come from this kernel's own type information, never from a header. This
//! is a small reader for the raw BTF format (linux Documentation/bpf/btf.rst): here it checks
//! and indexes the blob (named structs, unions and typedefs, once); `query` answers member,
//! tracepoint and enumerator questions; `offsets` fills `KernelOffsets` from those answers.

mod offsets;
mod query;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::{fs, io};

pub use offsets::{resolve_offsets, MissingFields};
pub use query::{Member, Param};

/// Where the kernel exposes its own BTF (CONFIG_DEBUG_INFO_BTF, kernels >= 5.8).
pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

const MAGIC: u16 = 0xeb9f;
const HEADER_LEN: usize = 24;
const TYPE_LEN: usize = 12;

const INT: u8 = 1;
const PTR: u8 = 2;
const ARRAY: u8 = 3;
const STRUCT: u8 = 4;
const UNION: u8 = 5;
const ENUM: u8 = 6;
const FWD: u8 = 7;
const TYPEDEF: u8 = 8;
const VOLATILE: u8 = 9;
const CONST: u8 = 10;
const RESTRICT: u8 = 11;
const FUNC: u8 = 12;
const FUNC_PROTO: u8 = 13;
const VAR: u8 = 14;
const DATASEC: u8 = 15;
const FLOAT: u8 = 16;
const DECL_TAG: u8 = 17;
const TYPE_TAG: u8 = 18;
const ENUM64: u8 = 19;

#[derive(Debug, thiserror::Error)]
pub enum BtfError {
    #[error("/sys/kernel/btf/vmlinux not found: this kernel was built without CONFIG_DEBUG_INFO_BTF; exitwatch needs a kernel >= 5.8 with BTF")]
    NoKernelBtf,
    #[error("cannot read BTF from {}: {source}; check that the file exists and is readable (sysfs mounted at /sys for the kernel's own)", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("not BTF data (magic {0:#06x}, expected 0xeb9f): give the raw BTF blob such as /sys/kernel/btf/vmlinux, not an ELF file or a compressed copy")]
    BadMagic(u16),
    #[error(
        "BTF version {0} is not supported: exitwatch reads version 1, the only one Linux emits"
    )]
    BadVersion(u8),
    #[error("BTF data is corrupt: {0}; if it came from /sys/kernel/btf/vmlinux it was not read whole, otherwise regenerate the file")]
    Corrupt(String),
    #[error("BTF type {id} has kind {kind}, unknown to exitwatch: this kernel is newer than exitwatch's BTF reader; upgrade exitwatch")]
    UnknownKind { id: u32, kind: u8 },
}

/// Parsed BTF: the blob plus where each type record starts and a name index.
pub struct Btf {
    data: Vec<u8>,
    big_endian: bool,
    strs: std::ops::Range<usize>,
    /// Byte offset of each type record in `data`; index = type id, entry 0 (void) unused.
    types: Vec<usize>,
    /// First struct or union of each name with members (C gives them one tag namespace).
    composites: HashMap<Box<str>, u32>,
    typedefs: HashMap<Box<str>, u32>,
    ptr_size: u32,
}

/// The fixed part of a type record, plus where its kind-specific data starts.
#[derive(Clone, Copy)]
struct Ty {
    name_off: u32,
    kind: u8,
    vlen: u32,
    kflag: bool,
    size_or_type: u32,
    extra: usize,
}

impl Btf {
    pub fn from_sys_fs() -> Result<Btf, BtfError> {
        Self::from_file(VMLINUX_BTF)
    }

    pub fn from_file(path: impl AsRef<Path>) -> Result<Btf, BtfError> {
        let path = path.as_ref();
        match fs::read(path) {
            Ok(data) => Self::parse(data),
            Err(e) if e.kind() == io::ErrorKind::NotFound && path == Path::new(VMLINUX_BTF) => {
                Err(BtfError::NoKernelBtf)
            }
            Err(source) => Err(BtfError::Read {
                path: path.to_owned(),
                source,
            }),
        }
    }

    pub fn from_bytes(data: &[u8]) -> Result<Btf, BtfError> {
        Self::parse(data.to_vec())
    }

    fn parse(data: Vec<u8>) -> Result<Btf, BtfError> {
        if data.len() < HEADER_LEN {
            return Err(BtfError::Corrupt(format!(
                "{} bytes is shorter than the BTF header",
                data.len()
            )));
        }
        let big_endian = match u16::from_le_bytes([data[0], data[1]]) {
            MAGIC => false,
            m if m.swap_bytes() == MAGIC => true,
            m => return Err(BtfError::BadMagic(m)),
        };
        if data[2] != 1 {
            return Err(BtfError::BadVersion(data[2]));
        }
        let total = data.len();
        let mut btf = Btf {
            data,
            big_endian,
            strs: 0..0,
            types: vec![0],
            composites: HashMap::new(),
            typedefs: HashMap::new(),
            ptr_size: 8,
        };
        let [hdr_len, type_off, type_len, str_off, str_len] =
            [4, 8, 12, 16, 20].map(|at| btf.u32_at(at) as usize);
        let section = |off: usize, len: usize, what: &str| {
            let start = hdr_len
                .checked_add(off)
                .filter(|&s| hdr_len >= HEADER_LEN && s <= total);
            let range = start.and_then(|s| Some(s..s.checked_add(len).filter(|&e| e <= total)?));
            range.ok_or_else(|| {
                BtfError::Corrupt(format!("{what} section ({off}+{len} bytes after a {hdr_len}-byte header) lies outside the {total} bytes given"))
            })
        };
        let type_sec = section(type_off, type_len, "type")?;
        btf.strs = section(str_off, str_len, "string")?;
        btf.index(type_sec)?;
        Ok(btf)
    }

    /// Records where every type starts, checking each fits, and indexes the named ones.
    fn index(&mut self, sec: std::ops::Range<usize>) -> Result<(), BtfError> {
        let mut at = sec.start;
        while at < sec.end {
            let id = self.types.len() as u32;
            if sec.end - at < TYPE_LEN {
                return Err(BtfError::Corrupt(format!(
                    "type {id} is cut off by the end of the type section"
                )));
            }
            self.types.push(at);
            let t = self.ty(id).expect("just pushed");
            let (fixed, per_member) = match t.kind {
                INT | VAR | DECL_TAG => (4, 0),
                ARRAY => (12, 0),
                STRUCT | UNION | DATASEC | ENUM64 => (0, 12),
                ENUM | FUNC_PROTO => (0, 8),
                PTR | FWD | TYPEDEF | VOLATILE | CONST | RESTRICT | FUNC | FLOAT | TYPE_TAG => {
                    (0, 0)
                }
                kind => return Err(BtfError::UnknownKind { id, kind }),
            };
            at = t.extra + fixed + per_member * t.vlen as usize;
            if at > sec.end {
                return Err(BtfError::Corrupt(format!(
                    "type {id} runs past the end of the type section"
                )));
            }
            let map = match t.kind {
                STRUCT | UNION if t.vlen > 0 => &mut self.composites,
                TYPEDEF => &mut self.typedefs,
                INT if t.size_or_type != 0 => {
                    let name = self.name(t.name_off);
                    if matches!(
                        name,
                        "long" | "long int" | "unsigned long" | "long unsigned int"
                    ) {
                        self.ptr_size = t.size_or_type; // pointers are as wide as long on Linux
                    }
                    continue;
                }
                _ => continue,
            };
            let name = name_at(&self.data[self.strs.clone()], t.name_off);
            if !name.is_empty() && !map.contains_key(name) {
                map.insert(name.into(), id);
            }
        }
        Ok(())
    }

    fn ty(&self, id: u32) -> Option<Ty> {
        let at = *self.types.get(id as usize).filter(|_| id != 0)?;
        let info = self.u32_at(at + 4);
        Some(Ty {
            name_off: self.u32_at(at),
            kind: ((info >> 24) & 0x1f) as u8,
            vlen: info & 0xffff,
            kflag: info >> 31 == 1,
            size_or_type: self.u32_at(at + 8),
            extra: at + TYPE_LEN,
        })
    }

    fn name(&self, off: u32) -> &str {
        name_at(&self.data[self.strs.clone()], off)
    }

    /// Only called on ranges `index` checked to lie inside the blob.
    fn u32_at(&self, at: usize) -> u32 {
        let b: [u8; 4] = self.data[at..at + 4].try_into().expect("4 bytes");
        if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    }
}

/// The NUL-terminated string at `off`; empty if out of range or not UTF-8 (corrupt BTF).
fn name_at(strs: &[u8], off: u32) -> &str {
    let tail = strs.get(off as usize..).unwrap_or_default();
    let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
    std::str::from_utf8(&tail[..end]).unwrap_or_default()
}

#[cfg(test)]
mod tests;
