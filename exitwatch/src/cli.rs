//! Command line: what the user typed (clap), then a pure check that turns it into a `Config`.

use clap::{Parser, Subcommand, ValueEnum};
use exitwatch_common::FilterConfig;

mod daemon;

pub use daemon::{DaemonArgs, DaemonConfig, DaemonError, KubeSettings};

use crate::container::runtimes::{SocketOverride, SocketOverrideError};
use crate::container::watch::Filter;
use crate::redact::{PatternError, Redaction};
use crate::render::Format;
use crate::signals;
use crate::story::Rules;

#[derive(Parser, Debug)]
#[command(
    name = "exitwatch",
    version,
    about = "Who killed my process? Names the sender of every fatal signal, from the kernel.",
    long_about = "Who killed my process? exitwatch watches signal generation in the kernel (eBPF, no \
                  kernel module, no debuginfo) and reports who sent each fatal signal, with the \
                  sender's argv and whole ancestry, and how the target ended.\n\n\
                  By default it reports SIGKILL; SIGTERM, SIGINT, SIGHUP and SIGQUIT whatever the \
                  target does with them; and any other signal that will kill its target (default \
                  action, no handler). Needs root (CAP_BPF + CAP_PERFMON, or CAP_SYS_ADMIN).",
    args_conflicts_with_subcommands = true,
    after_help = "Examples:\n  sudo exitwatch --pid 7942          who kills process 7942? exits when it is gone\n  \
                  sudo exitwatch --format json       every fatal signal on the node, one JSON object per line\n  \
                  sudo exitwatch -s USR1,TERM -n 10  ten SIGUSR1/SIGTERM events, handled or not"
)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Only report signals sent to this process (repeatable). exitwatch exits once every
    /// watched process has exited, saying how each one ended.
    #[arg(short = 'p', long = "pid", value_name = "PID")]
    pub pids: Vec<String>,

    /// Only report signals sent to processes of this container: an id prefix or a name
    /// (repeatable). Containers started later are covered as they appear.
    #[arg(long = "container", value_name = "ID-PREFIX|NAME")]
    pub containers: Vec<String>,

    /// Only report signals sent to processes of this Kubernetes pod: `[NAMESPACE/]NAME` or the
    /// pod UID (repeatable).
    #[arg(long = "pod", value_name = "[NAMESPACE/]NAME")]
    pub pods: Vec<String>,

    /// Only report signals sent to processes of pods in this Kubernetes namespace (repeatable).
    #[arg(long = "namespace", value_name = "NAMESPACE")]
    pub namespaces: Vec<String>,

    /// Where a container runtime's socket is, when not in its usual place: RUNTIME=PATH with
    /// RUNTIME containerd, cri-o, docker or podman (repeatable), e.g.
    /// containerd=/run/k3s/containerd/containerd.sock. Replaces the usual paths of that runtime.
    #[arg(long = "runtime-socket", value_name = "RUNTIME=PATH")]
    pub runtime_sockets: Vec<String>,

    /// Report exactly these signals, whatever the target does with them: names with or
    /// without SIG, or numbers; repeatable or comma-separated (e.g. -s KILL,TERM -s 10).
    #[arg(
        short = 's',
        long = "signal",
        value_name = "SIGNAL",
        value_delimiter = ','
    )]
    pub signals: Vec<String>,

    /// Report every signal, including SIGCHLD, SIGURG, SIGWINCH and other harmless ones.
    #[arg(long, conflicts_with = "signals")]
    pub all_signals: bool,

    /// Exit after reporting N signal events.
    #[arg(short = 'n', long = "count", value_name = "N")]
    pub count: Option<u64>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// When to colour text output.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    pub color: Color,

    /// Text output: list every event of a burst (three or more signals from one sender into one
    /// container or cgroup, or their exits) instead of one summary line with the count and the
    /// first and last targets. The machine formats always have one object per event.
    #[arg(short = 'v', long)]
    pub verbose: bool,

    /// Size of each of the kernel's two ring buffers, the fatal one and the non-fatal one
    /// (bytes, or with a K/M suffix; a power of two, at least 64K).
    #[arg(long, value_name = "SIZE", default_value = "4M")]
    pub ring_buffer_size: String,

    /// How many non-fatal signals (a handled SIGTERM, anything `--all-signals` adds) one sender
    /// may have reported per second, and at once: RATE or RATE/BURST; 0 turns the budget off.
    /// What goes over it is counted per sender and signal and reported as `suppressed`; fatal
    /// signals are never budgeted.
    #[arg(long, value_name = "RATE[/BURST]", default_value = "200/1000")]
    pub nonfatal_budget: String,

    /// A stop request (SIGTERM...) followed by SIGKILL within this many seconds is diagnosed
    /// as `stop_escalated`.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 600,
        help_heading = "Diagnoses"
    )]
    pub grace_window: u64,

    /// Executables run from this directory make a sender suspicious (repeatable; replaces the
    /// defaults /tmp, /dev/shm, /var/tmp).
    #[arg(
        long = "suspicious-dir",
        value_name = "DIR",
        help_heading = "Diagnoses"
    )]
    pub suspicious_dirs: Vec<String>,

    /// A process name whose killing is suspicious (repeatable; added to the built-in list of
    /// security and monitoring agents).
    #[arg(
        long = "protected-target",
        value_name = "NAME",
        help_heading = "Diagnoses"
    )]
    pub protected_targets: Vec<String>,

    /// Do not flag senders or ancestors with random-looking names.
    #[arg(long, help_heading = "Diagnoses")]
    pub no_random_name_rule: bool,

    /// Hide secrets in argv, in every format: the values of `password=`, `--token X`,
    /// `--api-key=X`, `Authorization: X`, URL passwords... become `***` (docs/formats.md).
    #[arg(long)]
    pub redact_args: bool,

    /// Also hide the value of this key or flag (repeatable; implies --redact-args): a word found
    /// in key and flag names in any case (`pgpass`), or, starting with `-`, an exact flag (`-p`
    /// hides `-p X`, `-p=X` and `-pX`).
    #[arg(long = "redact", value_name = "PATTERN")]
    pub redact: Vec<String>,

    #[command(flatten)]
    pub daemon: DaemonArgs,
}

#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Explain an exit code (e.g. 137, -1, 300) or a signal (SIGKILL): what it means and what to
    /// check next. Needs no privileges.
    Explain {
        /// An exit code (any integer) or a signal name (SIGKILL, TERM, RTMIN+2).
        #[arg(allow_hyphen_values = true, value_name = "CODE|SIGNAL")]
        value: String,
        /// Print the explanation as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check whether this node can run exitwatch: kernel, BTF, hooks, capabilities, cgroups,
    /// runtime sockets. Exits 0 when it can, 69 when something is missing.
    Doctor,
}

/// The formats' names and help on the command line; the formats themselves are render's.
impl ValueEnum for Format {
    fn value_variants<'a>() -> &'a [Self] {
        &Format::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()).help(self.summary()))
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

/// A checked configuration: everything the daemon needs, nothing it must still validate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub pids: Vec<u32>,
    pub filter: FilterConfig,
    pub count: Option<u64>,
    pub format: Format,
    pub color: Color,
    /// List every event of a burst in text output (`--verbose`).
    pub verbose: bool,
    pub ring_buffer_size: u32,
    pub rules: Rules,
    /// The receiving side to watch (`--container`, `--pod`, `--namespace`).
    pub receivers: Filter,
    /// argv values to hide (`--redact-args`, `--redact`); None shows argv as it is.
    pub redaction: Option<Redaction>,
    /// Runtime sockets in unusual places (`--runtime-socket`).
    pub runtime_sockets: Vec<SocketOverride>,
    /// Outputs, metrics endpoint, flush deadline.
    pub daemon: DaemonConfig,
}

/// A command line that parsed but does not make sense. Exit status 64 (EX_USAGE).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UsageError {
    #[error("--pid {0:?} is not a process id: give a positive number, e.g. --pid 7942")]
    BadPid(String),
    #[error("{0}")]
    BadSignal(#[from] signals::ParseSignalError),
    #[error("--count must be at least 1")]
    ZeroCount,
    #[error("--container, --pod and --namespace need a value, e.g. --pod default/web-7d9c")]
    EmptyReceiver,
    #[error(
        "--ring-buffer-size {0:?} is not valid: give a power of two of at least 64K and at most 1G, e.g. 4M"
    )]
    BadRingBufferSize(String),
    #[error(
        "--nonfatal-budget {0:?} is not valid: give signals per second and optionally a burst, e.g. 200/1000 (at most 1000000 each), or 0 for no budget"
    )]
    BadBudget(String),
    #[error("{0}")]
    BadRuntimeSocket(#[from] SocketOverrideError),
    #[error("{0}")]
    BadRedactPattern(#[from] PatternError),
    #[error("{0}")]
    Daemon(#[from] DaemonError),
}

impl Args {
    /// The pure second stage: no system access, so every rule is unit-testable.
    pub fn into_config(self) -> Result<Config, UsageError> {
        let pids = self
            .pids
            .iter()
            .map(|p| match p.trim().parse::<u32>() {
                Ok(n) if n > 0 && n <= i32::MAX as u32 => Ok(n),
                _ => Err(UsageError::BadPid(p.clone())),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut filter = FilterConfig::none();
        if self.all_signals {
            filter.always = signals::all();
        } else if !self.signals.is_empty() {
            for s in &self.signals {
                filter.always |= signals::bit(signals::parse(s)?);
            }
        } else {
            filter.always = signals::default_always();
            filter.if_fatal = signals::default_if_fatal();
        }
        filter.watched_only = u32::from(!pids.is_empty());
        let receivers = Filter {
            containers: self.containers,
            pods: self.pods,
            namespaces: self.namespaces,
        };
        for q in receivers
            .containers
            .iter()
            .chain(&receivers.pods)
            .chain(&receivers.namespaces)
        {
            if q.trim().is_empty() {
                return Err(UsageError::EmptyReceiver);
            }
        }
        filter.cgroups_only = u32::from(!receivers.is_empty());
        if self.count == Some(0) {
            return Err(UsageError::ZeroCount);
        }
        let ring_buffer_size = crate::units::parse_size(&self.ring_buffer_size)
            .ok()
            .filter(|n| n.is_power_of_two() && (64 << 10..=1 << 30).contains(n))
            .ok_or_else(|| UsageError::BadRingBufferSize(self.ring_buffer_size.clone()))?;
        (filter.budget_rate, filter.budget_burst) = parse_budget(&self.nonfatal_budget)
            .ok_or_else(|| UsageError::BadBudget(self.nonfatal_budget.clone()))?;
        let mut rules = Rules {
            grace_window_ns: self.grace_window.saturating_mul(1_000_000_000),
            ..Rules::default()
        };
        if !self.suspicious_dirs.is_empty() {
            rules.suspicious_dirs = self.suspicious_dirs;
        }
        rules.protected_targets.extend(self.protected_targets);
        rules.random_names = !self.no_random_name_rule;
        let redaction = (self.redact_args || !self.redact.is_empty())
            .then(|| Redaction::with_patterns(&self.redact))
            .transpose()?;
        let runtime_sockets = self
            .runtime_sockets
            .iter()
            .map(|s| s.parse())
            .collect::<Result<Vec<SocketOverride>, _>>()?;
        let daemon = self.daemon.into_config(self.format)?;
        Ok(Config {
            runtime_sockets,
            daemon,
            redaction,
            receivers,
            rules,
            pids,
            filter,
            count: self.count,
            format: self.format,
            color: self.color,
            verbose: self.verbose,
            ring_buffer_size: ring_buffer_size as u32,
        })
    }
}

/// `RATE` or `RATE/BURST` (a burst defaults to five seconds' worth, at least one); `0` is off.
fn parse_budget(s: &str) -> Option<(u32, u32)> {
    const MAX: u32 = 1_000_000;
    let (rate, burst) = match s.trim().split_once('/') {
        Some((r, b)) => (
            r.trim().parse::<u32>().ok()?,
            Some(b.trim().parse::<u32>().ok()?),
        ),
        None => (s.trim().parse::<u32>().ok()?, None),
    };
    if rate == 0 {
        return (burst.unwrap_or(0) == 0).then_some((0, 0));
    }
    let burst = burst.unwrap_or_else(|| rate.saturating_mul(5).min(MAX));
    (rate <= MAX && (1..=MAX).contains(&burst)).then_some((rate, burst))
}

#[cfg(test)]
mod tests;
