//! Questions answered from indexed BTF: member offsets, tracepoint arguments, enumerator values.

use std::fmt;

use super::{
    Btf, ARRAY, CONST, DATASEC, ENUM, ENUM64, FLOAT, FUNC_PROTO, FWD, INT, PTR, RESTRICT, STRUCT,
    TYPEDEF, TYPE_TAG, UNION, VOLATILE,
};

/// Hops allowed through typedef chains and anonymous members; corrupt BTF may contain cycles.
const MAX_DEPTH: u32 = 32;

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

impl Btf {
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
}
