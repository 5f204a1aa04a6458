//! Tests of checking a BTF blob: byte order, version, truncation, corruption, unknown kinds.

use super::{fake_kernel, Builder};
use crate::btf::{resolve_offsets, Btf, BtfError};

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
fn rejects_unknown_kinds() {
    let mut b = Builder::new();
    b.ty("future", 31, 0, false, 0, &[]);
    assert!(matches!(
        Btf::from_bytes(&b.build()),
        Err(BtfError::UnknownKind { id: 1, kind: 31 })
    ));
}
