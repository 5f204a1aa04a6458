use exitwatch_common::ABSENT;

use super::*;

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

#[test]
fn finds_members_of_nested_anonymous_structs_and_unions() {
    let mut b = Builder::new();
    let int = b.int("int", 4);
    let long = b.int("long int", 8);
    let inner = b.composite(STRUCT, "", 8, false, &[("b", int, 0), ("c", int, 32)]);
    let un = b.composite(UNION, "", 8, false, &[("", inner, 0), ("d", long, 0)]);
    let named = b.composite(STRUCT, "named", 4, false, &[("x", int, 0)]);
    b.composite(
        STRUCT,
        "outer",
        24,
        false,
        &[("a", int, 0), ("", un, 64), ("n", named, 128)],
    );
    let btf = Btf::from_bytes(&b.build()).unwrap();
    let m = |path| btf.member("outer", path).map(|m| (m.offset, m.size));
    assert_eq!(m("a"), Some((0, 4)));
    assert_eq!(m("c"), Some((12, 4)));
    assert_eq!(m("d"), Some((8, 8)));
    assert_eq!(m("n.x"), Some((16, 4)));
    assert_eq!(m("n"), Some((16, 4)));
    assert_eq!(m("x"), None, "named members are not searched transparently");
    assert_eq!(m("n.y"), None);
    assert_eq!(btf.struct_size("outer"), Some(24));
}

#[test]
fn reports_bitfields_with_the_bytes_they_span() {
    let mut b = Builder::new();
    let uint = b.int("unsigned int", 4);
    // kind_flag: bitfield size in the top 8 bits of the offset, bit offset in the low 24.
    b.composite(
        STRUCT,
        "flags",
        8,
        true,
        &[("word", uint, 0), ("three", uint, (3 << 24) | 38)],
    );
    // Without kind_flag, the old encoding: an INT narrower than its size.
    let narrow = b.ty("unsigned int", INT, 0, false, 4, &[5]);
    b.composite(STRUCT, "legacy", 4, false, &[("five", narrow, 4)]);
    let btf = Btf::from_bytes(&b.build()).unwrap();
    assert_eq!(
        btf.member("flags", "word"),
        Some(Member {
            offset: 0,
            size: 4,
            bitfield: false
        })
    );
    assert_eq!(
        btf.member("flags", "three"),
        Some(Member {
            offset: 4,
            size: 2,
            bitfield: true
        })
    );
    assert_eq!(
        btf.member("legacy", "five"),
        Some(Member {
            offset: 0,
            size: 2,
            bitfield: true
        })
    );
}

#[test]
fn descends_through_typedef_const_volatile_chains() {
    let mut b = Builder::new();
    let int = b.int("int", 4);
    let ptr = b.wrap(PTR, "", int);
    let fn_ptr_t = b.wrap(TYPEDEF, "__sighandler_t", ptr);
    let arr = b.array(int, int, 2);
    let s = b.composite(
        STRUCT,
        "sigaction",
        16,
        false,
        &[("sa_handler", fn_ptr_t, 0), ("mask", arr, 64)],
    );
    let v = b.wrap(VOLATILE, "", s);
    let c = b.wrap(CONST, "", v);
    let t = b.wrap(TYPEDEF, "sigaction_t", c);
    let t2 = b.wrap(TYPEDEF, "sigaction_t2", t);
    b.composite(
        STRUCT,
        "k_sigaction",
        24,
        false,
        &[("pad", int, 0), ("sa", t2, 64)],
    );
    let btf = Btf::from_bytes(&b.build()).unwrap();
    assert_eq!(
        btf.member("k_sigaction", "sa.sa_handler")
            .map(|m| (m.offset, m.size)),
        Some((8, 8))
    );
    assert_eq!(
        btf.member("k_sigaction", "sa.mask")
            .map(|m| (m.offset, m.size)),
        Some((16, 8))
    );
    assert_eq!(btf.member("k_sigaction", "sa").map(|m| m.size), Some(16));
    assert_eq!(
        btf.member("k_sigaction", "pad.x"),
        None,
        "int has no members"
    );
    assert!(btf.has_typedef("sigaction_t2") && !btf.has_typedef("sigaction"));
}

#[test]
fn renders_tracepoint_arguments_after_the_context() {
    let mut b = Builder::new();
    let int = b.int("int", 4);
    let void_ptr = b.wrap(PTR, "", 0);
    let task = b.composite(STRUCT, "task_struct", 8, false, &[("pid", int, 0)]);
    let task_ptr = b.wrap(PTR, "", task);
    let uid_t = b.wrap(TYPEDEF, "uid_t", int);
    let cchar = b.wrap(CONST, "", b.next_id + 1);
    b.int("char", 1);
    let cchar_pp = b.wrap(PTR, "", b.next_id + 1);
    b.wrap(PTR, "", cchar);
    let n = b.str("task");
    let proto = b.ty(
        "",
        FUNC_PROTO,
        4,
        false,
        0,
        &[0, void_ptr, n, task_ptr, 0, uid_t, 0, cchar_pp],
    );
    let ptr = b.wrap(PTR, "", proto);
    b.wrap(TYPEDEF, "btf_trace_mark_victim", ptr);
    let btf = Btf::from_bytes(&b.build()).unwrap();
    let params = btf.tracepoint_params("mark_victim").unwrap();
    let shown: Vec<_> = params.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        ["struct task_struct *task", "uid_t", "const char **"]
    );
    assert_eq!(btf.tracepoint_params("oom_kill"), None);
}

#[test]
fn resolves_every_offset_of_a_complete_kernel() {
    let btf = Btf::from_bytes(&fake_kernel(false, &[])).unwrap();
    let o = resolve_offsets(&btf).unwrap();
    assert_eq!(
        (o.task_pid, o.task_flags, o.task_loginuid),
        (0, 14 * 8, 7 * 8)
    );
    assert_eq!((o.cred_uid, o.cred_euid), (8, 40));
    assert_eq!(
        (o.mm_arg_start, o.mm_arg_end),
        (16, 24),
        "anonymous struct at 8 plus 8 and 16"
    );
    assert_eq!(
        (
            o.upid_size,
            o.upid_nr,
            o.k_sigaction_size,
            o.k_sigaction_handler
        ),
        (16, 0, 24, 0)
    );
    assert_eq!(
        (o.siginfo_code, o.siginfo_fields, o.signal_live),
        (16, 24, 8)
    );
}

#[test]
fn falls_back_to_real_start_time_on_old_kernels() {
    let new = resolve_offsets(&Btf::from_bytes(&fake_kernel(false, &[])).unwrap()).unwrap();
    assert_eq!(new.task_start_boottime, 5 * 8);
    let old = Btf::from_bytes(&fake_kernel(false, &["task_struct.start_boottime"])).unwrap();
    assert_eq!(resolve_offsets(&old).unwrap().task_start_boottime, 14 * 8);
}

#[test]
fn marks_optional_fields_absent_without_audit() {
    let btf = Btf::from_bytes(&fake_kernel(
        false,
        &["task_struct.loginuid", "task_struct.sessionid"],
    ))
    .unwrap();
    let o = resolve_offsets(&btf).unwrap();
    assert_eq!((o.task_loginuid, o.task_sessionid), (ABSENT, ABSENT));
    assert_eq!(o.task_mm, 7 * 8, "later fields move up");
}

#[test]
fn names_every_missing_required_field() {
    let btf = Btf::from_bytes(&fake_kernel(
        false,
        &["task_struct.pid", "cred.euid", "kernel_siginfo._sifields"],
    ))
    .unwrap();
    let err = resolve_offsets(&btf).unwrap_err();
    assert_eq!(
        err.fields,
        ["task_struct.pid", "cred.euid", "kernel_siginfo._sifields"]
    );
    let msg = err.to_string();
    assert!(
        msg.contains("cannot run on this kernel") && msg.contains("task_struct.pid, cred.euid"),
        "{msg}"
    );
}

#[test]
fn reads_big_endian_btf_like_little_endian() {
    let le = resolve_offsets(&Btf::from_bytes(&fake_kernel(false, &[])).unwrap()).unwrap();
    let be = resolve_offsets(&Btf::from_bytes(&fake_kernel(true, &[])).unwrap()).unwrap();
    assert_eq!(le, be);
}

#[test]
fn rejects_garbage_and_truncation_without_panicking() {
    assert!(matches!(Btf::from_bytes(&[]), Err(BtfError::Corrupt(_))));
    assert!(matches!(
        Btf::from_bytes(b"\x7fELF and then some more bytes"),
        Err(BtfError::BadMagic(0x457f))
    ));
    let good = fake_kernel(false, &[]);
    for len in 0..good.len() {
        assert!(
            Btf::from_bytes(&good[..len]).is_err(),
            "accepted a blob cut at {len} bytes"
        );
    }
    // Every single-byte corruption must either be rejected or still answer queries safely.
    for at in 0..good.len() {
        let mut bad = good.clone();
        bad[at] ^= 0xff;
        if let Ok(btf) = Btf::from_bytes(&bad) {
            let _ = resolve_offsets(&btf);
            let _ = btf.tracepoint_params("x");
        }
    }
    let mut bad = good.clone();
    bad[2] = 2;
    assert!(matches!(
        Btf::from_bytes(&bad),
        Err(BtfError::BadVersion(2))
    ));
}

#[test]
fn survives_typedef_cycles() {
    let mut b = Builder::new();
    let a = b.wrap(TYPEDEF, "a", 2);
    b.wrap(TYPEDEF, "b", a);
    b.composite(STRUCT, "s", 8, false, &[("m", a, 0)]);
    let btf = Btf::from_bytes(&b.build()).unwrap();
    assert_eq!(btf.member("s", "m"), None);
    assert_eq!(btf.member("s", "m.x"), None);
}

#[test]
fn rejects_unknown_kinds() {
    let mut b = Builder::new();
    b.ty("future", 31, 0, false, 0, &[]);
    assert!(matches!(
        Btf::from_bytes(&b.build()),
        Err(BtfError::UnknownKind { id: 1, kind: 31 })
    ));
}

#[test]
fn real_vmlinux_offsets_are_plausible() {
    if !Path::new(VMLINUX_BTF).exists() {
        eprintln!("skipped: {VMLINUX_BTF} absent");
        return;
    }
    let start = std::time::Instant::now();
    let btf = Btf::from_sys_fs().unwrap();
    let o = resolve_offsets(&btf).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("read + parse + resolve: {:?}\n{o:#?}", start.elapsed());

    let task = btf.struct_size("task_struct").unwrap();
    for off in [
        o.task_pid,
        o.task_tgid,
        o.task_comm,
        o.task_real_parent,
        o.task_group_leader,
        o.task_start_boottime,
        o.task_cred,
        o.task_mm,
        o.task_thread_pid,
        o.task_sighand,
        o.task_signal,
        o.task_exit_code,
        o.task_flags,
    ] {
        assert!(off < task, "task_struct offset {off} >= size {task}");
    }
    for (s, offs) in [
        ("cred", &[o.cred_uid, o.cred_gid, o.cred_euid][..]),
        ("mm_struct", &[o.mm_arg_start, o.mm_arg_end]),
        ("pid", &[o.pid_level]),
        ("signal_struct", &[o.signal_live]),
        ("kernel_siginfo", &[o.siginfo_code, o.siginfo_fields]),
    ] {
        let size = btf.struct_size(s).unwrap();
        assert!(
            offs.iter().all(|&off| off < size),
            "{s}: {offs:?} vs size {size}"
        );
    }
    assert_eq!(btf.member("task_struct", "comm").unwrap().size, 16);
    // `numbers` is a flexible array member: it starts where the struct ends.
    assert!(o.pid_numbers <= btf.struct_size("pid").unwrap());
    assert_eq!(o.mm_arg_end, o.mm_arg_start + 8);
    assert!(o.k_sigaction_size >= 24 && o.k_sigaction_handler == 0);
    assert_eq!((o.upid_size, o.upid_nr), (16, 0));
    assert_eq!(
        (o.siginfo_code, o.siginfo_fields),
        (8, 16),
        "fixed by the siginfo ABI"
    );

    assert!(btf.has_typedef("btf_trace_sched_process_exit"));
    let sig: Vec<_> = btf
        .tracepoint_params("signal_generate")
        .unwrap()
        .into_iter()
        .map(|p| p.ty)
        .collect();
    assert_eq!(
        sig,
        [
            "int",
            "struct kernel_siginfo *",
            "struct task_struct *",
            "int",
            "int"
        ]
    );
    eprintln!("mark_victim: {:?}", btf.tracepoint_params("mark_victim"));
}
