//! Reads the running kernel's BTF and resolves the struct field offsets the kernel programs use.
//!
//! The kernel programs read `task_struct` and friends at raw byte offsets (`KernelOffsets`), so
//! those offsets must come from this kernel's own type information, never from a header. This
//! is a small reader for the raw BTF format (linux Documentation/bpf/btf.rst): it indexes
//! named structs, unions and typedefs once, then answers member and tracepoint queries.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::{fmt, fs, io};

use exitwatch_common::{KernelOffsets, ABSENT};

/// Where the kernel exposes its own BTF (CONFIG_DEBUG_INFO_BTF, kernels >= 5.8).
pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

const MAGIC: u16 = 0xeb9f;
const HEADER_LEN: usize = 24;
const TYPE_LEN: usize = 12;
/// Hops allowed through typedef chains and anonymous members; corrupt BTF may contain cycles.
const MAX_DEPTH: u32 = 32;

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

/// Required kernel fields this kernel's BTF lacks, by `struct.field` name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("exitwatch cannot run on this kernel: its BTF lacks {}, which the kernel programs must read; \
         this kernel's layout is not supported yet, please report it with the output of `uname -r`",
        .fields.join(", "))]
pub struct MissingFields {
    pub fields: Vec<String>,
}

/// Where a struct member lives. For a bitfield, `offset` and `size` give the bytes it spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    pub offset: u32,
    pub size: u32,
    pub bitfield: bool,
}

/// One argument of a tracepoint, with its C type rendered ("int", "struct task_struct *").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Empty when BTF does not name it (vmlinux names none of the `btf_trace_*` arguments).
    pub name: String,
    pub ty: String,
}

impl fmt::Display for Param {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.name.is_empty(), self.ty.ends_with('*')) {
            (true, _) => f.write_str(&self.ty),
            (false, true) => write!(f, "{}{}", self.ty, self.name),
            (false, false) => write!(f, "{} {}", self.ty, self.name),
        }
    }
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

    /// Size in bytes of the first struct or union of that name that has members.
    pub fn struct_size(&self, name: &str) -> Option<u32> {
        Some(self.ty(*self.composites.get(name)?)?.size_or_type)
    }

    pub fn has_typedef(&self, name: &str) -> bool {
        self.typedefs.contains_key(name)
    }

    /// Finds `path` ("sa.sa_handler") in struct `struct_name`, looking through anonymous
    /// struct and union members as C does, and through typedef/const/volatile between steps.
    pub fn member(&self, struct_name: &str, path: &str) -> Option<Member> {
        let mut id = *self.composites.get(struct_name)?;
        let mut bit_off = 0u64;
        let mut parts = path.split('.').peekable();
        while let Some(part) = parts.next() {
            let (ty, off, mut bits) = self.find_member(id, part, 0)?;
            bit_off += off;
            if parts.peek().is_some() {
                if bits != 0 {
                    return None;
                }
                id = self.composite(ty)?;
                continue;
            }
            // Without kind_flag, a bitfield is an INT whose encoding is narrower than its size.
            let base = self.ty(self.strip(ty)?)?;
            if bits == 0 && base.kind == INT {
                let enc = self.u32_at(base.extra);
                let (int_off, int_bits) = ((enc >> 16) & 0xff, enc & 0xff);
                if int_off != 0 || int_bits != base.size_or_type.wrapping_mul(8) {
                    bit_off += u64::from(int_off);
                    bits = int_bits;
                }
            }
            let (offset, size) = if bits != 0 {
                (bit_off / 8, (bit_off % 8 + u64::from(bits)).div_ceil(8))
            } else {
                (bit_off / 8, u64::from(self.size_of(ty)?))
            };
            let offset = u32::try_from(offset).ok()?;
            return Some(Member {
                offset,
                size: u32::try_from(size).ok()?,
                bitfield: bits != 0,
            });
        }
        None
    }

    /// The arguments of tp_btf tracepoint `tp`, from typedef `btf_trace_<tp>`: a pointer to a
    /// function whose first parameter is the program context, not a tracepoint argument.
    pub fn tracepoint_params(&self, tp: &str) -> Option<Vec<Param>> {
        let def = *self.typedefs.get(format!("btf_trace_{tp}").as_str())?;
        let ptr = self.ty(self.strip(self.ty(def)?.size_or_type)?)?;
        let proto = self.ty(self.strip(ptr.size_or_type)?)?;
        if ptr.kind != PTR || proto.kind != FUNC_PROTO || proto.vlen == 0 {
            return None;
        }
        let params = (1..proto.vlen as usize).map(|i| {
            let at = proto.extra + 8 * i;
            let name = self.name(self.u32_at(at)).to_owned();
            Param {
                name,
                ty: self.render(self.u32_at(at + 4), 0),
            }
        });
        Some(params.collect())
    }

    /// Returns the member's type, bit offset and bitfield width (0 if not a bitfield).
    fn find_member(&self, id: u32, name: &str, depth: u32) -> Option<(u32, u64, u32)> {
        let t = self
            .ty(id)
            .filter(|t| matches!(t.kind, STRUCT | UNION) && depth < MAX_DEPTH)?;
        for i in 0..t.vlen as usize {
            let at = t.extra + 12 * i;
            let [m_name, m_type, m_off] = [0, 4, 8].map(|o| self.u32_at(at + o));
            let (off, bits) = if t.kflag {
                (m_off & 0xff_ffff, m_off >> 24)
            } else {
                (m_off, 0)
            };
            let m_name = self.name(m_name);
            if m_name == name {
                return Some((m_type, u64::from(off), bits));
            }
            if m_name.is_empty() {
                let inner = self
                    .composite(m_type)
                    .and_then(|c| self.find_member(c, name, depth + 1));
                if let Some((ty, inner_off, bits)) = inner {
                    return Some((ty, u64::from(off) + inner_off, bits));
                }
            }
        }
        None
    }

    /// The struct or union a type names once typedefs and qualifiers are peeled off.
    fn composite(&self, id: u32) -> Option<u32> {
        let id = self.strip(id)?;
        matches!(self.ty(id)?.kind, STRUCT | UNION).then_some(id)
    }

    /// Follows typedef, const, volatile, restrict and type tags to the underlying type.
    fn strip(&self, mut id: u32) -> Option<u32> {
        for _ in 0..MAX_DEPTH {
            match self.ty(id) {
                Some(t) if matches!(t.kind, TYPEDEF | VOLATILE | CONST | RESTRICT | TYPE_TAG) => {
                    id = t.size_or_type;
                }
                _ => return Some(id),
            }
        }
        None
    }

    fn size_of(&self, id: u32) -> Option<u32> {
        let t = self.ty(self.strip(id)?)?;
        match t.kind {
            INT | STRUCT | UNION | ENUM | ENUM64 | FLOAT | DATASEC => Some(t.size_or_type),
            PTR => Some(self.ptr_size),
            ARRAY => {
                let elem = self.size_of(self.u32_at(t.extra))?;
                elem.checked_mul(self.u32_at(t.extra + 8))
            }
            _ => None,
        }
    }

    /// A short C spelling of a type: "int", "const char *", "struct task_struct *".
    fn render(&self, id: u32, depth: u32) -> String {
        let Some(t) = self.ty(id).filter(|_| depth < MAX_DEPTH) else {
            return if id == 0 { "void".into() } else { "?".into() };
        };
        let name = self.name(t.name_off);
        let name = if name.is_empty() { "(anon)" } else { name };
        let inner = || self.render(t.size_or_type, depth + 1);
        match t.kind {
            PTR => {
                let target = inner();
                let sep = if target.ends_with('*') { "" } else { " " };
                format!("{target}{sep}*")
            }
            STRUCT => format!("struct {name}"),
            UNION => format!("union {name}"),
            ENUM | ENUM64 => format!("enum {name}"),
            FWD if t.kflag => format!("union {name}"),
            FWD => format!("struct {name}"),
            CONST => format!("const {}", inner()),
            VOLATILE => format!("volatile {}", inner()),
            RESTRICT | TYPE_TAG => inner(),
            ARRAY => {
                let elem = self.render(self.u32_at(t.extra), depth + 1);
                format!("{elem}[{}]", self.u32_at(t.extra + 8))
            }
            FUNC_PROTO => format!("{} (*)(...)", inner()),
            _ => name.to_owned(),
        }
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

    /// The value of an enumerator (e.g. `MM_ANONPAGES`), from ENUM or ENUM64 types.
    pub fn enum_value(&self, name: &str) -> Option<i64> {
        (1..self.types.len() as u32).find_map(|id| {
            let t = self.ty(id)?;
            let (stride, wide) = match t.kind {
                ENUM => (8, false),
                ENUM64 => (12, true),
                _ => return None,
            };
            (0..t.vlen as usize).find_map(|i| {
                let at = t.extra + i * stride;
                (self.name(self.u32_at(at)) == name).then(|| {
                    let lo = self.u32_at(at + 4);
                    if wide {
                        (u64::from(self.u32_at(at + 8)) << 32 | u64::from(lo)) as i64
                    } else {
                        i64::from(lo as i32)
                    }
                })
            })
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

/// Resolves every `KernelOffsets` field from `btf`. Fields a kernel may legitimately lack
/// (`loginuid`, `sessionid` without CONFIG_AUDIT) become `ABSENT`; any other gap is an error
/// naming every missing field at once.
/// The OOM killer's fields: all optional, and laid out differently before and after 6.2.
fn oom_offsets(btf: &Btf, o: &mut KernelOffsets) {
    let off = |s: &str, p: &str| btf.member(s, p).filter(|m| !m.bitfield).map(|m| m.offset);
    o.mm_total_vm = off("mm_struct", "total_vm").unwrap_or(ABSENT);
    o.mm_pgtables_bytes = off("mm_struct", "pgtables_bytes").unwrap_or(ABSENT);
    o.signal_oom_score_adj = off("signal_struct", "oom_score_adj").unwrap_or(ABSENT);
    // <= 6.1: `struct mm_rss_stat { atomic_long_t count[NR_MM_COUNTERS]; } rss_stat;`
    // >= 6.2: `struct percpu_counter rss_stat[NR_MM_COUNTERS];` (value in `count`).
    let layout = match off("mm_struct", "rss_stat.count") {
        Some(base) => Some((base, 8, 0)),
        None => off("mm_struct", "rss_stat").and_then(|base| {
            Some((
                base,
                btf.struct_size("percpu_counter")?,
                off("percpu_counter", "count")?,
            ))
        }),
    };
    let index = |name: &str| btf.enum_value(name).and_then(|v| u32::try_from(v).ok());
    if let (Some((base, stride, value)), Some(file), Some(anon), Some(shmem)) = (
        layout,
        index("MM_FILEPAGES"),
        index("MM_ANONPAGES"),
        index("MM_SHMEMPAGES"),
    ) {
        (o.mm_rss_stat, o.rss_stat_stride, o.rss_stat_value) = (base, stride, value);
        (o.rss_file_index, o.rss_anon_index, o.rss_shmem_index) = (file, anon, shmem);
    }
    // The sender's executable path (optional: without it the exe-based diagnoses are off).
    let exe = (
        off("mm_struct", "exe_file"),
        off("file", "f_path.dentry"),
        off("dentry", "d_name.name"),
        off("dentry", "d_parent"),
        off("dentry", "d_inode"),
        off("inode", "i_nlink").or_else(|| off("inode", "__i_nlink")),
    );
    if let (Some(a), Some(b), Some(c), Some(d), Some(e), Some(f)) = exe {
        (
            o.mm_exe_file,
            o.file_dentry,
            o.dentry_name,
            o.dentry_parent,
            o.dentry_inode,
            o.inode_nlink,
        ) = (a, b, c, d, e, f);
        let mounts = (
            off("file", "f_path.mnt"),
            off("mount", "mnt"),
            off("mount", "mnt_mountpoint"),
            off("mount", "mnt_parent"),
        );
        if let (Some(a), Some(b), Some(c), Some(d)) = mounts {
            (o.file_mnt, o.mount_mnt, o.mount_mountpoint, o.mount_parent) = (a, b, c, d);
        }
    }
    // Cgroups and namespaces (optional: without them events carry no container identity).
    o.task_cgroups = off("task_struct", "cgroups").unwrap_or(ABSENT);
    o.css_set_dfl_cgrp = off("css_set", "dfl_cgrp").unwrap_or(ABSENT);
    let memory_id = btf
        .enum_value("memory_cgrp_id")
        .and_then(|v| u32::try_from(v).ok());
    o.css_set_memory = match (off("css_set", "subsys"), memory_id) {
        (Some(subsys), Some(id)) => subsys + id * btf.ptr_size,
        _ => ABSENT,
    };
    o.css_cgroup = off("cgroup_subsys_state", "cgroup").unwrap_or(ABSENT);
    o.cgroup_kn = off("cgroup", "kn").unwrap_or(ABSENT);
    o.kernfs_id = off("kernfs_node", "id").unwrap_or(ABSENT);
    o.kernfs_name = off("kernfs_node", "name").unwrap_or(ABSENT);
    o.kernfs_parent = off("kernfs_node", "__parent")
        .or_else(|| off("kernfs_node", "parent"))
        .unwrap_or(ABSENT);
    o.task_nsproxy = off("task_struct", "nsproxy").unwrap_or(ABSENT);
    o.nsproxy_mnt = off("nsproxy", "mnt_ns").unwrap_or(ABSENT);
    o.nsproxy_uts = off("nsproxy", "uts_ns").unwrap_or(ABSENT);
    o.mnt_ns_inum = off("mnt_namespace", "ns.inum").unwrap_or(ABSENT);
    o.uts_ns_inum = off("uts_namespace", "ns.inum").unwrap_or(ABSENT);
    o.upid_ns = off("upid", "ns").unwrap_or(ABSENT);
    o.pid_ns_inum = off("pid_namespace", "ns.inum").unwrap_or(ABSENT);
    o.mark_victim_has_task = u32::from(
        btf.tracepoint_params("mark_victim")
            .and_then(|p| p.first().map(|p| p.ty.contains("task_struct")))
            .unwrap_or(false),
    );
}

pub fn resolve_offsets(btf: &Btf) -> Result<KernelOffsets, MissingFields> {
    let mut missing = Vec::new();
    // The first of `paths` that exists wins (for fields renamed across kernel versions).
    let mut field = |s: &str, paths: &[&str]| {
        let found = paths
            .iter()
            .find_map(|p| btf.member(s, p).filter(|m| !m.bitfield));
        if found.is_none() {
            missing.push(format!("{s}.{}", paths[0]));
        }
        found.map_or(ABSENT, |m| m.offset)
    };
    let optional = |s: &str, path: &str| {
        btf.member(s, path)
            .filter(|m| !m.bitfield)
            .map_or(ABSENT, |m| m.offset)
    };
    let t = "task_struct";
    let mut offsets = KernelOffsets {
        task_pid: field(t, &["pid"]),
        task_tgid: field(t, &["tgid"]),
        task_comm: field(t, &["comm"]),
        task_real_parent: field(t, &["real_parent"]),
        task_group_leader: field(t, &["group_leader"]),
        task_start_boottime: field(t, &["start_boottime", "real_start_time"]),
        task_cred: field(t, &["cred"]),
        task_loginuid: optional(t, "loginuid"),
        task_sessionid: optional(t, "sessionid"),
        task_mm: field(t, &["mm"]),
        task_thread_pid: field(t, &["thread_pid"]),
        task_sighand: field(t, &["sighand"]),
        task_signal: field(t, &["signal"]),
        task_exit_code: field(t, &["exit_code"]),
        task_flags: field(t, &["flags"]),
        cred_uid: field("cred", &["uid"]),
        cred_gid: field("cred", &["gid"]),
        cred_euid: field("cred", &["euid"]),
        mm_arg_start: field("mm_struct", &["arg_start"]),
        mm_arg_end: field("mm_struct", &["arg_end"]),
        pid_level: field("pid", &["level"]),
        pid_numbers: field("pid", &["numbers"]),
        upid_size: ABSENT,
        upid_nr: field("upid", &["nr"]),
        sighand_action: field("sighand_struct", &["action"]),
        k_sigaction_size: ABSENT,
        k_sigaction_handler: field("k_sigaction", &["sa.sa_handler"]),
        signal_live: field("signal_struct", &["live"]),
        siginfo_code: field("kernel_siginfo", &["si_code"]),
        siginfo_fields: field("kernel_siginfo", &["_sifields"]),
        ..KernelOffsets::absent()
    };
    let mut size = |s: &str| {
        let found = btf.struct_size(s);
        if found.is_none() {
            missing.push(format!("struct {s}"));
        }
        found.unwrap_or(ABSENT)
    };
    oom_offsets(btf, &mut offsets);
    offsets.upid_size = size("upid");
    offsets.k_sigaction_size = size("k_sigaction");
    if missing.is_empty() {
        Ok(offsets)
    } else {
        Err(MissingFields { fields: missing })
    }
}

#[cfg(test)]
mod tests;
