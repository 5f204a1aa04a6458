//! Parses what the user typed after `cargo xtask` into a task, without touching the system.

use std::time::Duration;

use crate::{arch::Arch, build::Profile, kernels::Kernel, setup::Needs};

pub const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  setup [--build]         install what building and testing need (apt packages, bpf-linker, rust-src,
                          the runtimes and QEMU the tests drive); --build: only what building needs
  build [--debug] [--target ARCH]
                          build the eBPF object and exitwatch (--debug: exitwatch unoptimized);
                          --target: exitwatch linked statically for ARCH (x86_64, aarch64 or a
                          Rust target triple), cross-built when foreign (installs the toolchain)
  run [--debug] -- ARGS   build, then run exitwatch ARGS as root (through sudo -E when not root)
  test [--unit]           unit tests, each fuzz target for 20 s (nightly, cargo-fuzz), then the
                          privileged end-to-end and deployment tests (root); --unit: unit only
  image                   the container image (deploy/Containerfile, static exitwatch) as an OCI
                          archive, target/image/exitwatch.tar; built by buildah, no daemon (root)
  bench [--short]         measure exitwatch against nothing attached and bpftrace, print the table
                          of BENCHMARKS.md, fail on a regression (root); --short: the CI-sized run
  layout                  profile the release build under valgrind (started, idle, then signalled
                          processes) and write exitwatch/layout/hot-functions.txt, the functions
                          the linker puts together (root; rerun when startup or event code moves)
  kernels [--kernel K]... [--timeout SECS] [--verbose] [-- TEST-ARGS]
                          the end-to-end tests on the host kernel (root), on Debian's 5.10, 6.1 and
                          6.12 under QEMU, pure cgroup v2 (6.12 with containerd, runc and Docker),
                          and on Debian's arm64 6.1 under qemu-system-aarch64 (aarch64 builds of
                          everything); K: host, 5.10, 6.1, 6.12, arm64 (or 6.1-arm64) or a
                          linux-image-* package (default: all);
                          SECS: per guest (default 900, arm64 at least 1500); --verbose: echo the
                          whole guest console;
                          TEST-ARGS: for the test binary (e.g. `-- oom::` runs only those tests)
";

#[derive(Debug, PartialEq, Eq)]
pub enum Task {
    Setup {
        needs: Needs,
    },
    Image,
    Build {
        profile: Profile,
        /// A static build for this arch; `None`: the everyday (dynamic, host) build.
        target: Option<Arch>,
    },
    Run {
        profile: Profile,
        args: Vec<String>,
    },
    Test {
        unit_only: bool,
    },
    Bench {
        short: bool,
    },
    Layout,
    Kernels {
        /// Empty: all.
        kernels: Vec<Kernel>,
        timeout: Duration,
        verbose: bool,
        test_args: Vec<String>,
    },
}

#[derive(Debug, PartialEq, Eq)]
pub enum Usage {
    Help,
    Invalid(String),
}

pub fn parse(args: &[String]) -> Result<Task, Usage> {
    let Some((task, rest)) = args.split_first() else {
        return Err(Usage::Invalid("no task given".into()));
    };
    match task.as_str() {
        "-h" | "--help" | "help" => Err(Usage::Help),
        "setup" => Ok(Task::Setup {
            needs: if flags(rest, &["--build"])?.is_empty() {
                Needs::Test
            } else {
                Needs::Build
            },
        }),
        "image" => no_options(rest).map(|()| Task::Image),
        "build" => build(rest),
        "test" => Ok(Task::Test {
            unit_only: !flags(rest, &["--unit"])?.is_empty(),
        }),
        "run" => {
            // Everything after `--` (or after the first word that is not ours) belongs to exitwatch.
            let (ours, theirs) = match rest.iter().position(|a| a == "--") {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => {
                    let i = rest
                        .iter()
                        .position(|a| a != "--debug")
                        .unwrap_or(rest.len());
                    (&rest[..i], &rest[i..])
                }
            };
            Ok(Task::Run {
                profile: profile(flags(ours, &["--debug"])?),
                args: theirs.to_vec(),
            })
        }
        "kernels" => kernels(rest),
        "layout" => no_options(rest).map(|()| Task::Layout),
        "bench" => Ok(Task::Bench {
            short: !flags(rest, &["--short"])?.is_empty(),
        }),
        other => Err(Usage::Invalid(format!("unknown task `{other}`"))),
    }
}

fn build(rest: &[String]) -> Result<Task, Usage> {
    let mut target = None;
    let mut ours = Vec::new();
    let mut args = rest.iter();
    while let Some(arg) = args.next() {
        let value = match arg.strip_prefix("--target") {
            Some("") => args.next().map(String::as_str),
            Some(inline) => match inline.strip_prefix('=') {
                Some(v) => Some(v),
                None => {
                    ours.push(arg.clone());
                    continue;
                }
            },
            None => {
                ours.push(arg.clone());
                continue;
            }
        };
        let value = value.ok_or_else(|| Usage::Invalid("`--target` needs a value".into()))?;
        target = Some(Arch::parse(value).ok_or_else(|| {
            Usage::Invalid(format!(
                "unknown target `{value}`: x86_64, aarch64 (or arm64), or their -unknown-linux-gnu triples"
            ))
        })?);
    }
    Ok(Task::Build {
        profile: profile(flags(&ours, &["--debug"])?),
        target,
    })
}

fn kernels(rest: &[String]) -> Result<Task, Usage> {
    let mut kernels = Vec::new();
    let mut timeout = crate::kernels::DEFAULT_TIMEOUT;
    let mut verbose = false;
    let (rest, test_args) = match rest.iter().position(|a| a == "--") {
        Some(i) => (&rest[..i], rest[i + 1..].to_vec()),
        None => (rest, Vec::new()),
    };
    let mut args = rest.iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f, Some(v.to_string())),
            None => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next().cloned())
                .ok_or_else(|| Usage::Invalid(format!("`{flag}` needs a value")))
        };
        match flag {
            "-h" | "--help" => return Err(Usage::Help),
            "--verbose" | "-v" => verbose = true,
            "--kernel" => {
                let k = value()?;
                kernels.push(Kernel::parse(&k).ok_or_else(|| {
                    Usage::Invalid(format!(
                        "unknown kernel `{k}`: host, 5.10, 6.1, 6.12, arm64 or a linux-image-* package"
                    ))
                })?);
            }
            "--timeout" => {
                let v = value()?;
                let secs: u64 = v
                    .parse()
                    .map_err(|_| Usage::Invalid(format!("`--timeout {v}`: a number of seconds")))?;
                timeout = Duration::from_secs(secs);
            }
            _ => return Err(Usage::Invalid(format!("unexpected argument `{arg}`"))),
        }
    }
    Ok(Task::Kernels {
        kernels,
        timeout,
        verbose,
        test_args,
    })
}

fn no_options(rest: &[String]) -> Result<(), Usage> {
    flags(rest, &[]).map(|_| ())
}

/// The flags present, each one of `allowed`; anything else is a usage error.
fn flags<'a>(rest: &'a [String], allowed: &[&str]) -> Result<Vec<&'a str>, Usage> {
    rest.iter()
        .map(|a| match a.as_str() {
            "-h" | "--help" => Err(Usage::Help),
            a if allowed.contains(&a) => Ok(a),
            a => Err(Usage::Invalid(format!("unexpected argument `{a}`"))),
        })
        .collect()
}

fn profile(flags: Vec<&str>) -> Profile {
    if flags.contains(&"--debug") {
        Profile::Debug
    } else {
        Profile::Release
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(line: &str) -> Result<Task, Usage> {
        parse(
            &line
                .split_whitespace()
                .map(String::from)
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn tasks_and_their_flags() {
        assert_eq!(parse_str("setup"), Ok(Task::Setup { needs: Needs::Test }));
        assert_eq!(
            parse_str("setup --build"),
            Ok(Task::Setup {
                needs: Needs::Build
            })
        );
        assert!(matches!(parse_str("setup --all"), Err(Usage::Invalid(_))));
        assert_eq!(parse_str("image"), Ok(Task::Image));
        assert!(matches!(parse_str("image --push"), Err(Usage::Invalid(_))));
        assert_eq!(
            parse_str("build"),
            Ok(Task::Build {
                profile: Profile::Release,
                target: None
            })
        );
        assert_eq!(
            parse_str("build --debug"),
            Ok(Task::Build {
                profile: Profile::Debug,
                target: None
            })
        );
        assert_eq!(parse_str("test"), Ok(Task::Test { unit_only: false }));
        assert_eq!(parse_str("test --unit"), Ok(Task::Test { unit_only: true }));
    }

    #[test]
    fn build_takes_a_target_arch() {
        let built = |target| {
            Ok(Task::Build {
                profile: Profile::Release,
                target: Some(target),
            })
        };
        assert_eq!(parse_str("build --target aarch64"), built(Arch::Aarch64));
        assert_eq!(parse_str("build --target=arm64"), built(Arch::Aarch64));
        assert_eq!(
            parse_str("build --target x86_64-unknown-linux-gnu"),
            built(Arch::X86_64)
        );
        assert_eq!(
            parse_str("build --target aarch64 --debug"),
            Ok(Task::Build {
                profile: Profile::Debug,
                target: Some(Arch::Aarch64)
            })
        );
        assert!(matches!(
            parse_str("build --target mips"),
            Err(Usage::Invalid(_))
        ));
        assert!(matches!(
            parse_str("build --target"),
            Err(Usage::Invalid(_))
        ));
        assert!(matches!(
            parse_str("build --targets"),
            Err(Usage::Invalid(_))
        ));
    }

    #[test]
    fn run_passes_everything_after_the_separator_through() {
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_str("run -- --debug --format json"),
            Ok(Task::Run {
                profile: Profile::Release,
                args: args(&["--debug", "--format", "json"])
            })
        );
        assert_eq!(
            parse_str("run --debug -- -p 1"),
            Ok(Task::Run {
                profile: Profile::Debug,
                args: args(&["-p", "1"])
            })
        );
        assert_eq!(
            parse_str("run"),
            Ok(Task::Run {
                profile: Profile::Release,
                args: vec![]
            })
        );
    }

    #[test]
    fn kernels_takes_a_list_a_timeout_and_verbose() {
        assert_eq!(
            parse_str("kernels"),
            Ok(Task::Kernels {
                kernels: vec![],
                timeout: crate::kernels::DEFAULT_TIMEOUT,
                verbose: false,
                test_args: vec![]
            })
        );
        assert_eq!(
            parse_str("kernels --kernel 6.12 --kernel=host --timeout 600 -v -- oom:: --exact"),
            Ok(Task::Kernels {
                kernels: vec![Kernel::parse("6.12").unwrap(), Kernel::Host],
                timeout: Duration::from_secs(600),
                verbose: true,
                test_args: vec!["oom::".into(), "--exact".into()]
            })
        );
        assert!(matches!(
            parse_str("kernels --kernel 4.19"),
            Err(Usage::Invalid(_))
        ));
        assert!(matches!(
            parse_str("kernels --timeout"),
            Err(Usage::Invalid(_))
        ));
        assert!(matches!(
            parse_str("kernels --timeout 8m"),
            Err(Usage::Invalid(_))
        ));
    }

    #[test]
    fn mistakes_are_usage_errors() {
        assert!(matches!(parse_str(""), Err(Usage::Invalid(_))));
        assert_eq!(parse_str("bench --short"), Ok(Task::Bench { short: true }));
        assert!(matches!(parse_str("bench --long"), Err(Usage::Invalid(_))));
        assert!(matches!(parse_str("setup --force"), Err(Usage::Invalid(_))));
        assert!(matches!(parse_str("test --debug"), Err(Usage::Invalid(_))));
        assert_eq!(parse_str("build --help"), Err(Usage::Help));
    }
}
