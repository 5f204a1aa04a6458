//! Tests of `query`: members through anonymous, bitfield and typedef types; tracepoint args.

use super::Builder;
use crate::btf::{Btf, Member, CONST, FUNC_PROTO, INT, PTR, STRUCT, TYPEDEF, UNION, VOLATILE};

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
fn survives_typedef_cycles() {
    let mut b = Builder::new();
    let a = b.wrap(TYPEDEF, "a", 2);
    b.wrap(TYPEDEF, "b", a);
    b.composite(STRUCT, "s", 8, false, &[("m", a, 0)]);
    let btf = Btf::from_bytes(&b.build()).unwrap();
    assert_eq!(btf.member("s", "m"), None);
    assert_eq!(btf.member("s", "m.x"), None);
}
