//! Reads what linking needs from a 64-bit little-endian ELF file: its machine, its program
//! interpreter and the libraries it names (DT_NEEDED), without running it (it may be foreign).

/// The parts of an ELF file that say how it is loaded.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Linking {
    /// `e_machine`: 62 x86-64, 183 AArch64.
    pub machine: u16,
    /// PT_INTERP, the dynamic loader (`/lib/ld-linux-aarch64.so.1`); none for a static executable.
    pub interpreter: Option<String>,
    /// DT_NEEDED, the sonames the loader must find (`libc.so.6`), in the file's order.
    pub needed: Vec<String>,
}

pub const EM_X86_64: u16 = 62;
pub const EM_AARCH64: u16 = 183;

const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const PT_LOAD: u32 = 1;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_STRTAB: u64 = 5;

/// `None` if `elf` is not a 64-bit little-endian ELF file or is cut short.
pub fn linking(elf: &[u8]) -> Option<Linking> {
    let num = |at: usize, len: usize| -> Option<u64> {
        let b = elf.get(at..at.checked_add(len)?)?;
        Some(b.iter().rev().fold(0u64, |n, &x| (n << 8) | u64::from(x)))
    };
    if elf.get(..6) != Some(b"\x7fELF\x02\x01") {
        return None;
    }
    let machine = num(0x12, 2)? as u16;
    let (phoff, entry_size, count) = (
        num(0x20, 8)? as usize,
        num(0x36, 2)? as usize,
        num(0x38, 2)? as usize,
    );
    // (type, offset, vaddr, filesz) of each program header.
    let headers = (0..count)
        .map(|i| {
            let at = phoff.checked_add(i.checked_mul(entry_size)?)?;
            Some((
                num(at, 4)? as u32,
                num(at + 8, 8)?,
                num(at + 16, 8)?,
                num(at + 32, 8)?,
            ))
        })
        .collect::<Option<Vec<_>>>()?;
    let bytes =
        |offset: u64, size: u64| elf.get(offset as usize..offset.checked_add(size)? as usize);
    let c_string = |at: u64| -> Option<String> {
        let rest = elf.get(at as usize..)?;
        let end = rest.iter().position(|&b| b == 0)?;
        Some(String::from_utf8_lossy(&rest[..end]).into_owned())
    };
    let mut linking = Linking {
        machine,
        ..Linking::default()
    };
    if let Some(&(_, offset, _, size)) = headers.iter().find(|h| h.0 == PT_INTERP) {
        linking.interpreter = Some(c_string(offset).filter(|_| bytes(offset, size).is_some())?);
    }
    let Some(&(_, offset, _, size)) = headers.iter().find(|h| h.0 == PT_DYNAMIC) else {
        return Some(linking);
    };
    // The dynamic section: (tag, value) pairs up to DT_NULL.
    let entries: Vec<(u64, u64)> = bytes(offset, size)?
        .chunks_exact(16)
        .map(|e| {
            let word = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
            (word(&e[..8]), word(&e[8..]))
        })
        .take_while(|(tag, _)| *tag != DT_NULL)
        .collect();
    // DT_STRTAB is an address: find the loaded segment holding it to get a file offset.
    let strtab = entries.iter().find(|(t, _)| *t == DT_STRTAB)?.1;
    let (_, seg_offset, seg_vaddr, _) = headers.iter().find(|&&(ty, _, vaddr, filesz)| {
        ty == PT_LOAD && (vaddr..vaddr + filesz).contains(&strtab)
    })?;
    let strtab = strtab - seg_vaddr + seg_offset;
    for (_, name) in entries.iter().filter(|(t, _)| *t == DT_NEEDED) {
        linking.needed.push(c_string(strtab.checked_add(*name)?)?);
    }
    Some(linking)
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A 64-bit ELF executable the kernel runs without a dynamic loader (static, or static-pie).
    fn is_static(elf: &[u8]) -> bool {
        linking(elf).is_some_and(|l| l.interpreter.is_none())
    }

    /// A minimal ELF file: program headers of `types` (56 bytes each, from offset 64); with
    /// `interp`, a PT_INTERP naming it; with `needed`, a PT_LOAD + PT_DYNAMIC naming them.
    pub fn elf(machine: u16, types: &[u32], interp: Option<&str>, needed: &[&str]) -> Vec<u8> {
        let mut headers: Vec<(u32, u64, u64, u64)> = types.iter().map(|&t| (t, 0, 0, 0)).collect();
        let extra = usize::from(interp.is_some()) + if needed.is_empty() { 0 } else { 2 };
        let data_at = 64 + 56 * (headers.len() + extra) as u64;
        let mut data = Vec::new();
        if let Some(interp) = interp {
            headers.push((PT_INTERP, data_at, 0, interp.len() as u64 + 1));
            data.extend_from_slice(interp.as_bytes());
            data.push(0);
        }
        if !needed.is_empty() {
            // The string table, loaded at vaddr 0x10000 + its offset.
            let strtab_at = data_at + data.len() as u64;
            let mut strtab = vec![0u8];
            let mut names = Vec::new();
            for n in needed {
                names.push(strtab.len() as u64);
                strtab.extend_from_slice(n.as_bytes());
                strtab.push(0);
            }
            data.extend_from_slice(&strtab);
            let dynamic_at = data_at + data.len() as u64;
            for name in names {
                data.extend_from_slice(&DT_NEEDED.to_le_bytes());
                data.extend_from_slice(&name.to_le_bytes());
            }
            data.extend_from_slice(&DT_STRTAB.to_le_bytes());
            data.extend_from_slice(&(0x10000 + strtab_at).to_le_bytes());
            data.extend_from_slice(&[0; 16]);
            let end = data_at + data.len() as u64;
            headers.push((PT_LOAD, 0, 0x10000, end));
            headers.push((PT_DYNAMIC, dynamic_at, 0, end - dynamic_at));
        }
        let mut e = vec![0u8; 64];
        e[..6].copy_from_slice(b"\x7fELF\x02\x01");
        e[0x12..0x14].copy_from_slice(&machine.to_le_bytes());
        e[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        e[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        e[0x38..0x3a].copy_from_slice(&(headers.len() as u16).to_le_bytes());
        for (ty, offset, vaddr, size) in headers {
            let mut h = [0u8; 56];
            h[..4].copy_from_slice(&ty.to_le_bytes());
            h[8..16].copy_from_slice(&offset.to_le_bytes());
            h[16..24].copy_from_slice(&vaddr.to_le_bytes());
            h[32..40].copy_from_slice(&size.to_le_bytes());
            e.extend_from_slice(&h);
        }
        e.extend_from_slice(&data);
        e
    }

    #[test]
    fn an_interpreter_means_dynamic() {
        // PT_PHDR, PT_INTERP, PT_LOAD: what a glibc-linked PIE has.
        assert!(!is_static(&elf(
            EM_X86_64,
            &[6, 1],
            Some("/lib64/ld.so"),
            &[]
        )));
        // static-pie: PT_LOAD and PT_DYNAMIC (its own relocations), no interpreter.
        assert!(is_static(&elf(EM_X86_64, &[1, 1], None, &[])));
    }

    #[test]
    fn not_an_elf_or_cut_short_is_not_static() {
        assert!(!is_static(b"#!/bin/sh\n"));
        let mut cut = elf(EM_X86_64, &[1, 1], None, &[]);
        cut.truncate(70);
        assert!(!is_static(&cut));
    }

    #[test]
    fn needed_libraries_and_loader_are_read() {
        let bytes = elf(
            EM_AARCH64,
            &[],
            Some("/lib/ld-linux-aarch64.so.1"),
            &["libtinfo.so.6", "libc.so.6"],
        );
        assert_eq!(
            linking(&bytes),
            Some(Linking {
                machine: EM_AARCH64,
                interpreter: Some("/lib/ld-linux-aarch64.so.1".into()),
                needed: vec!["libtinfo.so.6".into(), "libc.so.6".into()],
            })
        );
    }

    #[test]
    fn the_machine_knows_its_own_tools() {
        // A real check of the parser against this machine's own dynamically linked shell.
        let sh = std::fs::read("/bin/sh").expect("/bin/sh");
        let l = linking(&sh).expect("/bin/sh is ELF");
        assert!(l.interpreter.is_some());
        assert!(l.needed.iter().any(|n| n == "libc.so.6"), "{l:?}");
    }
}
