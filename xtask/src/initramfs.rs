//! An initramfs image: host files at their own paths (symlinks and ELF libraries included), written as gzip'd cpio.

use std::{
    collections::{BTreeMap, BTreeSet},
    ffi::OsString,
    fs::{self, File},
    io::{self, BufWriter, Read as _, Write},
    os::unix::fs::{MetadataExt as _, PermissionsExt as _},
    path::{Component, Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{bail, Context as _, Result};

/// One entry of the image, keyed by its absolute path inside the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Dir {
        mode: u32,
    },
    /// Contents copied from this host file when the image is written.
    File {
        source: PathBuf,
        mode: u32,
    },
    Bytes {
        data: Vec<u8>,
        mode: u32,
    },
    Symlink {
        target: PathBuf,
    },
}

/// What the written image holds, for the report.
pub struct Written {
    pub entries: usize,
    pub unpacked_bytes: u64,
    pub gzip_bytes: u64,
}

#[derive(Default)]
pub struct Image {
    entries: BTreeMap<PathBuf, Entry>,
    /// ELF files whose libraries are already in.
    linked: BTreeSet<PathBuf>,
}

impl Image {
    pub fn new() -> Image {
        Image::default()
    }

    /// Every path in the image, for tests.
    #[cfg(test)]
    pub fn paths(&self) -> BTreeSet<PathBuf> {
        self.entries.keys().cloned().collect()
    }

    /// A directory (and its parents), mode 0755.
    pub fn dir(&mut self, path: impl AsRef<Path>) {
        let path = path.as_ref();
        for dir in path.ancestors().collect::<Vec<_>>().into_iter().rev() {
            if dir != Path::new("/") && !self.entries.contains_key(dir) {
                self.entries
                    .insert(dir.to_path_buf(), Entry::Dir { mode: 0o755 });
            }
        }
    }

    /// A file made here, not copied from the host.
    pub fn bytes(&mut self, path: impl AsRef<Path>, data: impl Into<Vec<u8>>, mode: u32) {
        let path = path.as_ref();
        self.parent_dirs(path);
        self.entries.insert(
            path.to_path_buf(),
            Entry::Bytes {
                data: data.into(),
                mode,
            },
        );
    }

    pub fn symlink(&mut self, path: impl AsRef<Path>, target: impl AsRef<Path>) {
        let path = path.as_ref();
        self.parent_dirs(path);
        self.entries.insert(
            path.to_path_buf(),
            Entry::Symlink {
                target: target.as_ref().to_path_buf(),
            },
        );
    }

    /// A host file placed at `path` in the guest (its libraries follow with `link`).
    pub fn copy_as(&mut self, path: impl AsRef<Path>, source: &Path) -> Result<()> {
        let meta = fs::metadata(source).with_context(|| format!("reading {}", source.display()))?;
        self.parent_dirs(path.as_ref());
        self.entries.insert(
            path.as_ref().to_path_buf(),
            Entry::File {
                source: source.to_path_buf(),
                mode: meta.permissions().mode() & 0o7777,
            },
        );
        Ok(())
    }

    /// The host file or directory tree at `path`, at the same path in the guest. Symlinks met on
    /// the way (`/bin` -> `usr/bin`, `/bin/sh` -> `dash`) are recreated, so that every name the
    /// host uses for it works in the guest too. Returns the real path.
    pub fn host(&mut self, path: &Path) -> Result<PathBuf> {
        let real = self.resolve(path)?;
        let meta = fs::metadata(&real)?;
        if meta.is_dir() {
            self.tree(&real, &|_| true)?;
        } else {
            self.copy_as(&real, &real)?;
        }
        Ok(real)
    }

    /// A host directory tree at the same path, leaving out what `keep` rejects (given each path).
    pub fn tree(&mut self, dir: &Path, keep: &dyn Fn(&Path) -> bool) -> Result<()> {
        self.dir(dir);
        let listing = fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))?;
        for dirent in listing {
            let path = dirent?.path();
            if !keep(&path) {
                continue;
            }
            let meta = fs::symlink_metadata(&path)?;
            if meta.file_type().is_symlink() {
                self.symlink(&path, fs::read_link(&path)?);
            } else if meta.is_dir() {
                self.tree(&path, keep)?;
            } else if meta.is_file() {
                self.copy_as(&path, &path)?;
            }
        }
        Ok(())
    }

    /// Adds the shared libraries and dynamic loader of every ELF file in the image, as `ldd` lists
    /// them (which is already the whole closure, so one pass suffices).
    pub fn link(&mut self) -> Result<()> {
        let elves: Vec<PathBuf> = self
            .entries
            .values()
            .filter_map(|e| match e {
                Entry::File { source, .. } if !self.linked.contains(source) => Some(source.clone()),
                _ => None,
            })
            .filter(|source| is_elf(source))
            .collect();
        for elf in elves {
            for lib in libraries(&elf)? {
                self.host(&lib)?;
            }
            self.linked.insert(elf);
        }
        Ok(())
    }

    /// Follows `path` name by name, recording each symlink met; the result is the real path
    /// (which exists).
    fn resolve(&mut self, path: &Path) -> Result<PathBuf> {
        if !path.is_absolute() {
            bail!("{} is not an absolute path", path.display());
        }
        let mut real = PathBuf::from("/");
        // A stack: the next name is last. A link's target is pushed in its place.
        let mut todo = names(path);
        let mut hops = 0;
        while let Some(name) = todo.pop() {
            if name == ".." {
                real.pop();
                continue;
            }
            let next = real.join(&name);
            let meta = fs::symlink_metadata(&next)
                .with_context(|| format!("{} (needed in the guest) is missing", next.display()))?;
            if !meta.file_type().is_symlink() {
                real = next;
                continue;
            }
            hops += 1;
            if hops > 40 {
                bail!("too many symlinks resolving {}", path.display());
            }
            let target = fs::read_link(&next)?;
            self.symlink(&next, &target);
            if target.is_absolute() {
                real = PathBuf::from("/");
            }
            todo.extend(names(&target));
        }
        Ok(real)
    }

    fn parent_dirs(&mut self, path: &Path) {
        if let Some(parent) = path.parent() {
            self.dir(parent);
        }
    }

    /// Writes the image as a gzip'd cpio (newc) archive at `out`.
    pub fn write(&self, out: &Path) -> Result<Written> {
        let file = File::create(out).with_context(|| format!("creating {}", out.display()))?;
        let mut gzip = Command::new("gzip")
            .args(["-6", "-n", "-c"])
            .stdin(Stdio::piped())
            .stdout(file)
            .spawn()
            .context("could not start gzip (the initramfs is gzip'd cpio)")?;
        let mut cpio = Cpio::new(BufWriter::new(gzip.stdin.take().expect("piped")));
        for (path, entry) in &self.entries {
            let name = path.strip_prefix("/").unwrap_or(path);
            match entry {
                Entry::Dir { mode } => cpio.entry(name, S_IFDIR | mode, &[])?,
                Entry::Bytes { data, mode } => cpio.entry(name, S_IFREG | mode, data)?,
                Entry::Symlink { target } => {
                    cpio.entry(name, S_IFLNK | 0o777, target.as_os_str().as_encoded_bytes())?
                }
                Entry::File { source, mode } => {
                    let mut data = Vec::new();
                    File::open(source)
                        .and_then(|mut f| f.read_to_end(&mut data))
                        .with_context(|| format!("reading {}", source.display()))?;
                    cpio.entry(name, S_IFREG | mode, &data)?;
                }
            }
        }
        let unpacked_bytes = cpio.finish()?;
        let status = gzip.wait()?;
        if !status.success() {
            bail!("gzip failed ({status}) writing {}", out.display());
        }
        Ok(Written {
            entries: self.entries.len(),
            unpacked_bytes,
            gzip_bytes: fs::metadata(out)?.size(),
        })
    }
}

/// The names of `path`, last first (`..` kept, `.` and `/` dropped).
fn names(path: &Path) -> Vec<OsString> {
    path.components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

fn is_elf(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == *b"\x7fELF"
}

/// The libraries (and the loader) `ldd` lists for `elf`; none for static executables.
fn libraries(elf: &Path) -> Result<Vec<PathBuf>> {
    let out = Command::new("ldd")
        .arg(elf)
        .stdin(Stdio::null())
        .output()
        .context("could not run ldd")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        // "not a dynamic executable" (static): nothing to add.
        return Ok(Vec::new());
    }
    parse_ldd(&text).with_context(|| format!("ldd {}", elf.display()))
}

fn parse_ldd(text: &str) -> Result<Vec<PathBuf>> {
    let mut libs = Vec::new();
    for line in text.lines().map(str::trim) {
        let path = match line.split_once(" => ") {
            Some((name, "not found")) => bail!("{name} not found"),
            Some((_, rest)) => rest.split_whitespace().next(),
            // The loader (`/lib64/ld-linux-x86-64.so.2 (0x...)`); the vDSO has no file.
            None => line
                .split_whitespace()
                .next()
                .filter(|w| w.starts_with('/')),
        };
        if let Some(path) = path.filter(|p| p.starts_with('/')) {
            libs.push(PathBuf::from(path));
        }
    }
    Ok(libs)
}

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;

/// The "newc" cpio format the kernel unpacks into its initial root file system.
struct Cpio<W: Write> {
    out: W,
    ino: u32,
    written: u64,
}

impl<W: Write> Cpio<W> {
    fn new(out: W) -> Self {
        Cpio {
            out,
            ino: 1,
            written: 0,
        }
    }

    fn entry(&mut self, name: &Path, mode: u32, data: &[u8]) -> io::Result<()> {
        let name = name.as_os_str().as_encoded_bytes();
        let nlink = if mode & S_IFDIR == S_IFDIR { 2 } else { 1 };
        // ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor,
        // rdevminor, namesize (with its NUL), check.
        let fields = [
            self.ino,
            mode,
            0,
            0,
            nlink,
            0,
            data.len() as u32,
            0,
            0,
            0,
            0,
            name.len() as u32 + 1,
            0,
        ];
        self.ino += 1;
        let mut header = String::from("070701");
        for f in fields {
            header.push_str(&format!("{f:08X}"));
        }
        self.put(header.as_bytes())?;
        self.put(name)?;
        self.put(&[0])?;
        self.pad()?;
        self.put(data)?;
        self.pad()
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.written += bytes.len() as u64;
        self.out.write_all(bytes)
    }

    fn pad(&mut self) -> io::Result<()> {
        let n = (4 - self.written % 4) % 4;
        self.put(&[0; 3][..n as usize])
    }

    /// The trailer; returns the archive's size.
    fn finish(mut self) -> io::Result<u64> {
        self.entry(Path::new("TRAILER!!!"), 0, &[])?;
        self.out.flush()?;
        Ok(self.written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_gives_libraries_and_loader() {
        let text = "\
\tlinux-vdso.so.1 (0x00007ffc)
\tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f01)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f02)
\t/lib64/ld-linux-x86-64.so.2 (0x00007f03)
";
        assert_eq!(
            parse_ldd(text).unwrap(),
            [
                "/lib/x86_64-linux-gnu/libgcc_s.so.1",
                "/lib/x86_64-linux-gnu/libc.so.6",
                "/lib64/ld-linux-x86-64.so.2"
            ]
            .map(PathBuf::from)
        );
        assert!(parse_ldd("\tlibfoo.so.1 => not found\n").is_err());
    }

    #[test]
    fn cpio_entries_are_newc_and_aligned() {
        let mut cpio = Cpio::new(Vec::new());
        cpio.entry(Path::new("init"), S_IFREG | 0o755, b"#!/bin/sh\n")
            .unwrap();
        cpio.entry(Path::new("TRAILER!!!"), 0, &[]).unwrap();
        let out = cpio.out;
        assert_eq!(out.len() % 4, 0);
        assert!(out.starts_with(b"070701"));
        // The second field is the mode: a regular file, 0755.
        assert_eq!(&out[14..22], b"000081ED");
        // 110-byte header + "init\0" = 115, padded to 116; then the data.
        assert_eq!(&out[116..126], b"#!/bin/sh\n");
        assert!(out.windows(10).any(|w| w == b"TRAILER!!!"));
    }

    #[test]
    fn symlinks_on_the_way_are_kept() {
        let dir = std::env::temp_dir().join(format!("xtask-initramfs-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("usr/bin")).unwrap();
        fs::write(dir.join("usr/bin/dash"), b"x").unwrap();
        std::os::unix::fs::symlink("usr/bin", dir.join("bin")).unwrap();
        std::os::unix::fs::symlink("dash", dir.join("usr/bin/sh")).unwrap();
        let mut image = Image::new();
        let real = image.host(&dir.join("bin/sh")).unwrap();
        assert_eq!(real, dir.join("usr/bin/dash"));
        assert_eq!(
            image.entries[&dir.join("bin")],
            Entry::Symlink {
                target: "usr/bin".into()
            }
        );
        assert_eq!(
            image.entries[&dir.join("usr/bin/sh")],
            Entry::Symlink {
                target: "dash".into()
            }
        );
        assert!(matches!(
            image.entries[&dir.join("usr/bin/dash")],
            Entry::File { .. }
        ));
        fs::remove_dir_all(&dir).unwrap();
    }
}
