//! A foreign arch's file tree made of unpacked Debian packages, with /usr merged as on the host,
//! and the programs a guest needs copied from it into an initramfs with every library their ELF
//! headers name (DT_NEEDED, the loader), found the way the loader would.

use std::{
    collections::{BTreeMap, BTreeSet},
    ffi::OsString,
    fs,
    path::{Component, Path, PathBuf},
};

use anyhow::{bail, Context as _, Result};

use crate::{elf, initramfs::Image};

/// The top-level directories that are symlinks into /usr on a merged-/usr system (Debian since
/// bookworm's installs, and this host): packages still ship files under /bin and /lib.
const MERGED: &[&str] = &["bin", "sbin", "lib", "lib64"];
/// Where the programs the suite runs by name are looked up (the guest's PATH, merged).
const PATH: &[&str] = &["/usr/local/bin", "/usr/sbin", "/usr/bin"];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Dir,
    /// The unpacked file it is copied from.
    File(PathBuf),
    Symlink(PathBuf),
}

/// Guest paths (merged) to what is there.
#[derive(Debug, Default)]
pub struct Rootfs {
    nodes: BTreeMap<PathBuf, Node>,
    /// `/usr/lib/<multiarch>` and the like: where the loader finds a soname.
    library_dirs: Vec<PathBuf>,
    machine: u16,
}

/// `/bin/x` -> `/usr/bin/x`, `/lib` -> `/usr/lib`; other paths as they are.
fn merged(path: &Path) -> PathBuf {
    let mut components = path.components();
    let (Some(Component::RootDir), Some(Component::Normal(first))) =
        (components.next(), components.next())
    else {
        return path.to_path_buf();
    };
    if MERGED.iter().any(|m| first == *m) {
        Path::new("/usr").join(first).join(components.as_path())
    } else {
        path.to_path_buf()
    }
}

enum Step {
    Root,
    Up,
    Name(OsString),
}

/// The steps of `path`, last first.
fn steps(path: &Path) -> Vec<Step> {
    path.components()
        .rev()
        .filter_map(|c| match c {
            Component::RootDir => Some(Step::Root),
            Component::ParentDir => Some(Step::Up),
            Component::Normal(name) => Some(Step::Name(name.to_os_string())),
            _ => None,
        })
        .collect()
}

impl Rootfs {
    /// An empty tree for ELF `machine`, whose loader searches `/usr/lib/<multiarch>` then `/usr/lib`.
    pub fn new(machine: u16, multiarch: &str) -> Rootfs {
        Rootfs {
            nodes: BTreeMap::new(),
            library_dirs: vec![
                PathBuf::from("/usr/lib").join(multiarch),
                PathBuf::from("/usr/lib"),
            ],
            machine,
        }
    }

    /// Every file, directory and symlink of a package unpacked at `dir` (the later package wins
    /// on a clash, as the later install would).
    pub fn add_package(&mut self, dir: &Path) -> Result<()> {
        self.add_tree(dir, Path::new("/"))
    }

    fn add_tree(&mut self, dir: &Path, at: &Path) -> Result<()> {
        let listing = fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))?;
        for dirent in listing {
            let source = dirent?.path();
            let name = source.file_name().expect("read_dir gives names");
            // The unpacking's own marker.
            if at == Path::new("/") && name.to_string_lossy().starts_with('.') {
                continue;
            }
            let path = merged(&at.join(name));
            let meta = fs::symlink_metadata(&source)?;
            if meta.file_type().is_symlink() {
                self.add(path, Node::Symlink(fs::read_link(&source)?));
            } else if meta.is_dir() {
                self.add(path.clone(), Node::Dir);
                self.add_tree(&source, &path)?;
            } else if meta.is_file() {
                self.add(path, Node::File(source));
            }
        }
        Ok(())
    }

    fn add(&mut self, path: PathBuf, node: Node) {
        self.nodes.insert(path, node);
    }

    /// The program `name` (a path, or a name looked up in PATH), if the packages have it.
    pub fn program(&self, name: &str) -> Option<PathBuf> {
        if name.starts_with('/') {
            return self
                .resolve(Path::new(name))
                .ok()
                .map(|_| PathBuf::from(name));
        }
        PATH.iter()
            .map(|dir| Path::new(dir).join(name))
            .find(|p| self.resolve(p).is_ok())
    }

    /// Follows `path` name by name; the real path, and each symlink met (path, target).
    fn resolve(&self, path: &Path) -> Result<(PathBuf, Vec<(PathBuf, PathBuf)>)> {
        let mut real = PathBuf::from("/");
        let mut links = Vec::new();
        // A stack: the next step is last. A link's target is pushed in its place.
        let mut todo = steps(path);
        while let Some(step) = todo.pop() {
            let name = match step {
                Step::Name(name) => name,
                Step::Up => {
                    real.pop();
                    continue;
                }
                Step::Root => {
                    real = PathBuf::from("/");
                    continue;
                }
            };
            let next = merged(&real.join(name));
            match self.nodes.get(&next) {
                Some(Node::Symlink(target)) => {
                    if links.len() > 40 {
                        bail!("too many symlinks resolving {}", path.display());
                    }
                    todo.extend(steps(target));
                    links.push((next, target.clone()));
                }
                Some(_) => real = next,
                None => bail!("{} is in none of the packages", next.display()),
            }
        }
        Ok((real, links))
    }

    /// Puts `path` into `image` with the symlinks leading to it, then every library it needs,
    /// transitively; fails on a file of another arch or a library no package has.
    pub fn install(&self, image: &mut Image, path: &Path) -> Result<()> {
        let mut done = BTreeSet::new();
        self.install_one(image, path, &mut done)
    }

    fn install_one(
        &self,
        image: &mut Image,
        path: &Path,
        done: &mut BTreeSet<PathBuf>,
    ) -> Result<()> {
        let (real, links) = self.resolve(path)?;
        for (link, target) in links {
            image.symlink(link, target);
        }
        if !done.insert(real.clone()) {
            return Ok(());
        }
        let Some(Node::File(source)) = self.nodes.get(&real) else {
            bail!("{} is not a file", real.display());
        };
        image.copy_as(&real, source)?;
        let bytes = fs::read(source).with_context(|| format!("reading {}", source.display()))?;
        let Some(linking) = elf::linking(&bytes) else {
            // A script or data: nothing to link.
            return Ok(());
        };
        if linking.machine != self.machine {
            bail!(
                "{} is for ELF machine {}, not {}",
                source.display(),
                linking.machine,
                self.machine
            );
        }
        if let Some(interpreter) = &linking.interpreter {
            self.install_one(image, Path::new(interpreter), done)?;
        }
        for soname in &linking.needed {
            let library = self.library(soname).with_context(|| {
                format!(
                    "{} needs {soname}, which none of the packages has (add its package)",
                    real.display()
                )
            })?;
            self.install_one(image, &library, done)?;
        }
        Ok(())
    }

    fn library(&self, soname: &str) -> Option<PathBuf> {
        self.library_dirs
            .iter()
            .map(|dir| dir.join(soname))
            .find(|p| self.resolve(p).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(nodes: &[(&str, Node)]) -> Rootfs {
        let mut r = Rootfs::new(elf::EM_AARCH64, "aarch64-linux-gnu");
        for (path, node) in nodes {
            r.add(PathBuf::from(path), node.clone());
        }
        r
    }

    #[test]
    fn bin_and_lib_live_under_usr() {
        assert_eq!(merged(Path::new("/bin/bash")), Path::new("/usr/bin/bash"));
        assert_eq!(merged(Path::new("/lib")), Path::new("/usr/lib"));
        assert_eq!(merged(Path::new("/usr/bin/env")), Path::new("/usr/bin/env"));
        assert_eq!(merged(Path::new("/etc/binfmt")), Path::new("/etc/binfmt"));
        assert_eq!(merged(Path::new("/binx/y")), Path::new("/binx/y"));
    }

    #[test]
    fn programs_and_libraries_are_found_through_symlinks() {
        let r = tree(&[
            ("/usr", Node::Dir),
            ("/usr/bin", Node::Dir),
            ("/usr/bin/dash", Node::File("x".into())),
            ("/usr/bin/sh", Node::Symlink("dash".into())),
            ("/usr/lib", Node::Dir),
            ("/usr/lib/aarch64-linux-gnu", Node::Dir),
            (
                "/usr/lib/aarch64-linux-gnu/libtinfo.so.6",
                Node::Symlink("libtinfo.so.6.4".into()),
            ),
            (
                "/usr/lib/aarch64-linux-gnu/libtinfo.so.6.4",
                Node::File("y".into()),
            ),
            (
                "/usr/lib/ld-linux-aarch64.so.1",
                Node::Symlink("aarch64-linux-gnu/ld-linux-aarch64.so.1".into()),
            ),
            (
                "/usr/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1",
                Node::File("z".into()),
            ),
        ]);
        assert_eq!(r.program("sh"), Some(PathBuf::from("/usr/bin/sh")));
        assert_eq!(r.program("/bin/sh"), Some(PathBuf::from("/bin/sh")));
        assert_eq!(r.program("bash"), None);
        let (real, links) = r.resolve(Path::new("/bin/sh")).unwrap();
        assert_eq!(real, Path::new("/usr/bin/dash"));
        assert_eq!(
            links,
            [(PathBuf::from("/usr/bin/sh"), PathBuf::from("dash"))]
        );
        assert_eq!(
            r.library("libtinfo.so.6"),
            Some(PathBuf::from("/usr/lib/aarch64-linux-gnu/libtinfo.so.6"))
        );
        assert_eq!(r.library("libc.so.6"), None);
        // The loader's absolute name, through /lib.
        let (real, _) = r.resolve(Path::new("/lib/ld-linux-aarch64.so.1")).unwrap();
        assert_eq!(
            real,
            Path::new("/usr/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1")
        );
    }

    #[test]
    fn a_program_comes_with_its_libraries_and_loader() {
        let dir = std::env::temp_dir().join(format!("xtask-rootfs-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let write = |path: &str, bytes: Vec<u8>| {
            let path = dir.join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, bytes).unwrap();
        };
        let aarch64 =
            |interp, needed: &[&str]| elf::tests::elf(elf::EM_AARCH64, &[], interp, needed);
        let loader = "/lib/ld-linux-aarch64.so.1";
        write(
            "bash/bin/bash",
            aarch64(Some(loader), &["libtinfo.so.6", "libc.so.6"]),
        );
        write("libc/lib/aarch64-linux-gnu/libc.so.6", aarch64(None, &[]));
        write(
            "libc/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1",
            aarch64(None, &[]),
        );
        std::os::unix::fs::symlink(
            "aarch64-linux-gnu/ld-linux-aarch64.so.1",
            dir.join("libc/lib/ld-linux-aarch64.so.1"),
        )
        .unwrap();
        write(
            "tinfo/lib/aarch64-linux-gnu/libtinfo.so.6",
            aarch64(None, &["libc.so.6"]),
        );
        write(
            "x86/usr/bin/cat",
            elf::tests::elf(elf::EM_X86_64, &[], None, &[]),
        );
        let mut r = Rootfs::new(elf::EM_AARCH64, "aarch64-linux-gnu");
        for package in ["bash", "libc", "x86"] {
            r.add_package(&dir.join(package)).unwrap();
        }
        let mut image = Image::new();
        let err = r.install(&mut image, Path::new("/bin/bash")).unwrap_err();
        assert!(format!("{err:#}").contains("libtinfo.so.6"), "{err:#}");
        r.add_package(&dir.join("tinfo")).unwrap();
        r.install(&mut image, Path::new("/bin/bash")).unwrap();
        let paths = image.paths();
        for path in [
            "/usr/bin/bash",
            "/usr/lib/ld-linux-aarch64.so.1",
            "/usr/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1",
            "/usr/lib/aarch64-linux-gnu/libtinfo.so.6",
            "/usr/lib/aarch64-linux-gnu/libc.so.6",
        ] {
            assert!(paths.contains(&PathBuf::from(path)), "{path} in {paths:?}");
        }
        let err = r
            .install(&mut image, Path::new("/usr/bin/cat"))
            .unwrap_err();
        assert!(format!("{err:#}").contains("ELF machine 62"), "{err:#}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
