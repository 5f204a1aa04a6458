//! Debian packages of a foreign arch, fetched by URL through the archive's Packages index and
//! unpacked with `dpkg -x` into a cache: the host's apt knows only its own arch, and adding one
//! (`dpkg --add-architecture`) would change the machine for everyone.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context as _, Result};

use crate::command::step;

pub const MIRROR: &str = "http://deb.debian.org/debian";
/// The release the x86 guests' kernels come from too.
const SUITE: &str = "bookworm";
/// Marks a complete unpacking (an interrupted one is redone).
const DONE: &str = ".unpacked";

/// One stanza of a Packages index: what fetching and resolving need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub version: String,
    /// The .deb's path under the mirror (`pool/main/b/bash/bash_5.2.15-2+b13_arm64.deb`).
    pub filename: String,
    pub section: String,
    /// Pre-Depends and Depends, the first of each set of alternatives, without versions.
    pub depends: Vec<String>,
}

/// Parses a Packages index (deb822 stanzas separated by blank lines; continuation lines, which
/// start with a space, belong to the field above and are not needed here).
pub fn parse_index(text: &str) -> BTreeMap<String, Package> {
    let mut index = BTreeMap::new();
    for stanza in text.split("\n\n") {
        let field = |name: &str| {
            stanza.lines().find_map(|l| {
                l.strip_prefix(name)
                    .and_then(|rest| rest.strip_prefix(':'))
                    .map(str::trim)
            })
        };
        let (Some(name), Some(version), Some(filename)) =
            (field("Package"), field("Version"), field("Filename"))
        else {
            continue;
        };
        let depends = [field("Pre-Depends"), field("Depends")]
            .into_iter()
            .flatten()
            .flat_map(depends_names)
            .collect();
        index.insert(
            name.to_string(),
            Package {
                name: name.to_string(),
                version: version.to_string(),
                filename: filename.to_string(),
                section: field("Section").unwrap_or_default().to_string(),
                depends,
            },
        );
    }
    index
}

/// `libc6 (>= 2.34), libtinfo6 (>= 6) | libfoo, perl:any` -> `libc6`, `libtinfo6`, `perl`.
fn depends_names(field: &str) -> Vec<String> {
    field
        .split(',')
        .filter_map(|alternatives| {
            let first = alternatives.split('|').next()?.trim();
            let name = first.split([' ', '(', ':']).next()?.trim();
            (!name.is_empty()).then(|| name.to_string())
        })
        .collect()
}

/// `roots` and, transitively, the dependencies `follow` accepts (e.g. the shared libraries),
/// each once, roots first. A root missing from the index is an error; a dependency missing
/// (a virtual package, provided by another name) is left out.
pub fn closure<'a>(
    index: &'a BTreeMap<String, Package>,
    roots: &[&str],
    follow: &dyn Fn(&Package) -> bool,
) -> Result<Vec<&'a Package>> {
    let mut seen = BTreeSet::new();
    let mut order = Vec::new();
    let mut todo: Vec<&Package> = Vec::new();
    for root in roots {
        let package = index
            .get(*root)
            .with_context(|| format!("`{root}` is not in Debian {SUITE}'s Packages index"))?;
        todo.push(package);
    }
    todo.reverse();
    while let Some(package) = todo.pop() {
        if !seen.insert(package.name.as_str()) {
            continue;
        }
        order.push(package);
        for dep in package.depends.iter().rev() {
            if let Some(dep) = index.get(dep).filter(|p| follow(p)) {
                todo.push(dep);
            }
        }
    }
    Ok(order)
}

/// Debian's archive for one arch, with a local cache of its index and unpacked packages.
pub struct Archive {
    arch: &'static str,
    cache: PathBuf,
    index: BTreeMap<String, Package>,
    /// Whether `index` was downloaded by this run (a cached one may name .debs gone from the pool).
    fresh: bool,
}

impl Archive {
    /// The cached index of `arch` (Debian's name: `arm64`) under `cache`, downloaded if absent.
    pub fn open(arch: &'static str, cache: &Path) -> Result<Archive> {
        fs::create_dir_all(cache).with_context(|| format!("creating {}", cache.display()))?;
        let mut archive = Archive {
            arch,
            cache: cache.to_path_buf(),
            index: BTreeMap::new(),
            fresh: false,
        };
        match fs::read_to_string(archive.index_path()) {
            Ok(text) => archive.index = parse_index(&text),
            Err(_) => archive.refresh()?,
        }
        Ok(archive)
    }

    pub fn index(&self) -> &BTreeMap<String, Package> {
        &self.index
    }

    fn index_path(&self) -> PathBuf {
        self.cache.join("Packages")
    }

    fn refresh(&mut self) -> Result<()> {
        let url = format!(
            "{MIRROR}/dists/{SUITE}/main/binary-{}/Packages.xz",
            self.arch
        );
        eprintln!("kernels: downloading {url}");
        let xz = self.cache.join("Packages.xz");
        download(&url, &xz)?;
        let out = Command::new("xz")
            .arg("-dc")
            .arg(&xz)
            .output()
            .context("could not run xz (Debian package xz-utils)")?;
        if !out.status.success() {
            bail!("{} is not a valid xz file", xz.display());
        }
        let text = String::from_utf8(out.stdout).context("the Packages index is not UTF-8")?;
        self.index = parse_index(&text);
        if self.index.is_empty() {
            bail!("{url} lists no packages");
        }
        fs::write(self.index_path(), text)?;
        fs::remove_file(&xz)?;
        self.fresh = true;
        Ok(())
    }

    /// The directory `name` is unpacked in (`dpkg -x`), downloaded when not there yet.
    pub fn unpacked(&mut self, name: &str) -> Result<PathBuf> {
        let package = self.package(name)?;
        let dir = self
            .cache
            .join(format!("{}_{}", package.name, package.version));
        if dir.join(DONE).is_file() {
            return Ok(dir);
        }
        let deb = self.cache.join(format!("{name}.deb"));
        let url = format!("{MIRROR}/{}", package.filename);
        eprintln!("kernels: downloading {url}");
        if let Err(err) = download(&url, &deb) {
            if self.fresh {
                return Err(err);
            }
            // The archive moved on since the index was cached: fetch the current one.
            self.refresh()?;
            return self.unpacked(name);
        }
        let partial = dir.with_extension("partial");
        let _ = fs::remove_dir_all(&partial);
        step(
            Command::new("dpkg").arg("-x").arg(&deb).arg(&partial),
            &format!("unpacking {}", deb.display()),
        )?;
        let _ = fs::remove_dir_all(&dir);
        fs::rename(&partial, &dir)?;
        fs::write(dir.join(DONE), "")?;
        fs::remove_file(&deb)?;
        Ok(dir)
    }

    fn package(&self, name: &str) -> Result<Package> {
        self.index.get(name).cloned().with_context(|| {
            format!(
                "`{name}` is not in Debian {SUITE}'s {} Packages index ({})",
                self.arch,
                self.index_path().display()
            )
        })
    }
}

/// `url` into `to`, or an error that says which URL failed.
pub fn download(url: &str, to: &Path) -> Result<()> {
    step(
        Command::new("curl")
            .args(["-fsSL", "--retry", "3", "-o"])
            .arg(to)
            .arg(url),
        &format!("downloading {url}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = "\
Package: bash
Version: 5.2.15-2+b13
Section: shells
Depends: base-files (>= 2.1.12), debianutils (>= 5.6-0.1)
Pre-Depends: libc6 (>= 2.36), libtinfo6 (>= 6)
Filename: pool/main/b/bash/bash_5.2.15-2+b13_arm64.deb
Description: GNU Bourne Again SHell
 Bash is an sh-compatible command language interpreter.
 Depends: not-a-field

Package: libtinfo6
Version: 6.4-4
Section: libs
Depends: libc6 (>= 2.34)
Filename: pool/main/n/ncurses/libtinfo6_6.4-4_arm64.deb

Package: libc6
Version: 2.36-9+deb12u14
Section: libs
Depends: libgcc-s1 | libgcc1
Filename: pool/main/g/glibc/libc6_2.36-9+deb12u14_arm64.deb

Package: libgcc-s1
Version: 12.2.0-14+deb12u1
Section: libs
Depends: gcc-12-base (= 12.2.0-14+deb12u1), libc6 (>= 2.35)
Filename: pool/main/g/gcc-12/libgcc-s1_12.2.0-14+deb12u1_arm64.deb

Package: base-files
Version: 12.4+deb12u13
Section: admin
Filename: pool/main/b/base-files/base-files_12.4+deb12u13_arm64.deb
";

    #[test]
    fn stanzas_give_name_version_file_and_dependencies() {
        let index = parse_index(INDEX);
        assert_eq!(index.len(), 5);
        let bash = &index["bash"];
        assert_eq!(bash.version, "5.2.15-2+b13");
        assert_eq!(
            bash.filename,
            "pool/main/b/bash/bash_5.2.15-2+b13_arm64.deb"
        );
        // Pre-Depends first; the description's indented `Depends:` is no field.
        assert_eq!(
            bash.depends,
            ["libc6", "libtinfo6", "base-files", "debianutils"]
        );
        assert_eq!(index["libc6"].depends, ["libgcc-s1"]);
        assert_eq!(index["libc6"].section, "libs");
    }

    #[test]
    fn dependency_names_drop_versions_alternatives_and_arch_qualifiers() {
        assert_eq!(
            depends_names("libc6 (>= 2.34), perl:any, libfoo1 (>= 1) | libbar2"),
            ["libc6", "perl", "libfoo1"]
        );
        assert!(depends_names("").is_empty());
    }

    #[test]
    fn the_closure_follows_only_what_it_is_told_to() {
        let index = parse_index(INDEX);
        let libs = |p: &Package| p.section == "libs";
        let names: Vec<&str> = closure(&index, &["bash"], &libs)
            .unwrap()
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        // base-files is not a library; debianutils and gcc-12-base are not in this index.
        assert_eq!(names, ["bash", "libc6", "libgcc-s1", "libtinfo6"]);
        assert!(closure(&index, &["zsh"], &libs).is_err());
    }
}
