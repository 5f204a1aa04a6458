//! Tests of the BTF reader, one module per concern, sharing a blob builder and a fake kernel.

mod offsets;
mod parse;
mod query;

use super::{ARRAY, HEADER_LEN, INT, MAGIC, STRUCT};

/// Writes BTF blobs type by type; ids are handed out in order from 1, as in the format.
struct Builder {
    types: Vec<u32>,
    strs: Vec<u8>,
    next_id: u32,
    big_endian: bool,
}

impl Builder {
    fn new() -> Self {
        Builder {
            types: Vec::new(),
            strs: vec![0],
            next_id: 1,
            big_endian: false,
        }
    }

    fn str(&mut self, s: &str) -> u32 {
        if s.is_empty() {
            return 0;
        }
        let off = self.strs.len() as u32;
        self.strs.extend_from_slice(s.as_bytes());
        self.strs.push(0);
        off
    }

    /// Appends one record: name, kind, vlen, kind_flag, size/type, then kind-specific words.
    fn ty(
        &mut self,
        name: &str,
        kind: u8,
        vlen: u32,
        kflag: bool,
        size_or_type: u32,
        extra: &[u32],
    ) -> u32 {
        let name = self.str(name);
        let info = (u32::from(kflag) << 31) | (u32::from(kind) << 24) | vlen;
        self.types.extend([name, info, size_or_type]);
        self.types.extend_from_slice(extra);
        self.next_id += 1;
        self.next_id - 1
    }

    fn int(&mut self, name: &str, size: u32) -> u32 {
        self.ty(name, INT, 0, false, size, &[size * 8])
    }

    fn wrap(&mut self, kind: u8, name: &str, target: u32) -> u32 {
        self.ty(name, kind, 0, false, target, &[])
    }

    fn array(&mut self, elem: u32, index: u32, n: u32) -> u32 {
        self.ty("", ARRAY, 0, false, 0, &[elem, index, n])
    }

    /// A struct (or union) whose members are (name, type, bit offset); `offset` is stored as
    /// given, so with `kflag` the caller packs the bitfield size into its top 8 bits.
    fn composite(
        &mut self,
        kind: u8,
        name: &str,
        size: u32,
        kflag: bool,
        members: &[(&str, u32, u32)],
    ) -> u32 {
        let mut extra = Vec::new();
        for &(m, ty, off) in members {
            extra.extend([self.str(m), ty, off]);
        }
        self.ty(name, kind, members.len() as u32, kflag, size, &extra)
    }

    fn build(&self) -> Vec<u8> {
        let word = |w: u32| {
            if self.big_endian {
                w.to_be_bytes()
            } else {
                w.to_le_bytes()
            }
        };
        let type_len = self.types.len() as u32 * 4;
        let mut out = Vec::new();
        out.extend_from_slice(&if self.big_endian {
            MAGIC.to_be_bytes()
        } else {
            MAGIC.to_le_bytes()
        });
        out.extend([1, 0]);
        for w in [
            HEADER_LEN as u32,
            0,
            type_len,
            type_len,
            self.strs.len() as u32,
        ] {
            out.extend(word(w));
        }
        self.types.iter().for_each(|&w| out.extend(word(w)));
        out.extend_from_slice(&self.strs);
        out
    }
}

/// A miniature kernel with every struct `resolve_offsets` reads, each field a `long` in
/// declaration order, leaving out the `struct.field` names in `skip`. Wraps mm_struct's and
/// kernel_siginfo's fields in anonymous structs, as real kernels do.
fn fake_kernel(big_endian: bool, skip: &[&str]) -> Vec<u8> {
    let mut b = Builder {
        big_endian,
        ..Builder::new()
    };
    let long = b.int("long int", 8);
    // `owner` names the struct the fields are found in; `anon` makes this one nameless.
    let flat = |b: &mut Builder, owner: &str, anon: bool, fields: &[&str]| {
        let kept: Vec<_> = fields
            .iter()
            .filter(|f| !skip.contains(&format!("{owner}.{f}").as_str()))
            .collect();
        let members: Vec<_> = kept
            .iter()
            .enumerate()
            .map(|(i, f)| (**f, long, i as u32 * 64))
            .collect();
        b.composite(
            STRUCT,
            if anon { "" } else { owner },
            8 * members.len() as u32,
            false,
            &members,
        )
    };
    flat(
        &mut b,
        "task_struct",
        false,
        &[
            "pid",
            "tgid",
            "comm",
            "real_parent",
            "group_leader",
            "start_boottime",
            "cred",
            "loginuid",
            "sessionid",
            "mm",
            "thread_pid",
            "sighand",
            "signal",
            "exit_code",
            "flags",
            "real_start_time",
        ],
    );
    flat(
        &mut b,
        "cred",
        false,
        &["usage", "uid", "gid", "suid", "sgid", "euid"],
    );
    let args = flat(
        &mut b,
        "mm_struct",
        true,
        &["mmap_base", "arg_start", "arg_end"],
    );
    b.composite(STRUCT, "mm_struct", 32, false, &[("", args, 64)]);
    flat(&mut b, "pid", false, &["count", "level", "numbers"]);
    flat(&mut b, "upid", false, &["nr", "ns"]);
    flat(&mut b, "sighand_struct", false, &["count", "action"]);
    let handler = flat(&mut b, "sigaction", false, &["sa_handler", "sa_flags"]);
    b.composite(STRUCT, "k_sigaction", 24, false, &[("sa", handler, 0)]);
    flat(&mut b, "signal_struct", false, &["sigcnt", "live"]);
    let info = flat(
        &mut b,
        "kernel_siginfo",
        true,
        &["si_signo", "si_errno", "si_code", "_sifields"],
    );
    b.composite(STRUCT, "kernel_siginfo", 32, false, &[("", info, 0)]);
    b.build()
}
