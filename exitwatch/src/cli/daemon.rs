//! The daemon's flags: outputs, their queues and limits, `/metrics`, the config file; and the
//! pure check that turns them into a `DaemonConfig`.

use std::path::PathBuf;
use std::time::Duration;

use crate::render::Format;
use crate::sink::spec::{self, Defaults, Output, Rotation, SinkSpec, SpecError, TOKEN_ADVICE};
use crate::sink::HttpSettings;
use crate::units::{parse_duration, parse_size};

#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Daemon")]
pub struct DaemonArgs {
    /// Where events go (repeatable or comma-separated; default stdout): stdout,
    /// file:///PATH[?max_size=100M&keep=5], syslog+tcp://HOST[:PORT], syslog+udp://HOST[:PORT],
    /// http[s]://HOST[:PORT]/PATH[?hec=1&compression=gzip&token_file=FILE], otlp[s]://HOST[:PORT]
    /// (OTLP/gRPC, 4317), otlp+http[s]://HOST[:PORT] (OTLP/HTTP, 4318). Each output has its own
    /// queue: a slow one delays no other.
    #[arg(
        short = 'o',
        long = "output",
        value_name = "URL",
        value_delimiter = ','
    )]
    pub outputs: Vec<String>,

    /// Read more settings from FILE: `flag = value` lines (a subset of TOML) whose keys are the
    /// long flags. The command line, then EXITWATCH_<FLAG> variables, win over the file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Serve Prometheus metrics at http://HOST:PORT/metrics and health at /healthz.
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_addr: Option<String>,

    /// Events each output may hold while its receiver is slow or down; past that, new events
    /// are dropped for that output and counted. An output URL may set its own: ?queue_size=N.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub queue_size: usize,

    /// Bytes of events each output may hold, besides the count (K, M, G suffixes); past that,
    /// new events are dropped for that output and counted. Per output URL: ?queue_bytes=SIZE.
    #[arg(long, value_name = "SIZE", default_value = "8M")]
    pub queue_bytes: String,

    /// /healthz answers 503 once every output has been failing for this long (e.g. 300, 5m).
    #[arg(long, value_name = "SECS", default_value = "300")]
    pub unhealthy_after: String,

    /// On SIGTERM/SIGINT, how long the outputs get to deliver what they hold (e.g. 5s, 500ms).
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub flush_timeout: String,

    /// File outputs rotate before growing past this size (K, M, G suffixes).
    #[arg(long, value_name = "SIZE", default_value = "100M")]
    pub file_max_size: String,

    /// Rotated files kept per file output (PATH.1 newest ... PATH.N).
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub file_keep: u32,

    /// syslog+udp messages longer than this are cut (RFC 5426 receivers take 2048 at least;
    /// rsyslog and syslog-ng take 8K by default). Prefer syslog+tcp for whole events.
    #[arg(long, value_name = "BYTES", default_value = "8K")]
    pub syslog_udp_max_size: String,

    /// File holding the token for http(s) outputs (`Authorization: Bearer`, or `Splunk` with
    /// ?hec=1). Without it, the token is read from EXITWATCH_HTTP_TOKEN. Never give it in argv.
    #[arg(long, value_name = "FILE")]
    pub http_token_file: Option<PathBuf>,

    /// PEM file of the CA certificates every TLS output (https, syslog+tls) trusts
    /// (default: the system's bundle).
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,

    /// The former name of --ca-file, still accepted (--ca-file wins when both are given).
    #[arg(long, value_name = "FILE")]
    pub http_ca_file: Option<PathBuf>,

    /// Events per HTTP request, at most.
    #[arg(long, value_name = "N", default_value_t = 500)]
    pub http_batch_size: usize,

    /// How long an HTTP output gathers events before it sends what it has.
    #[arg(long, value_name = "DURATION", default_value = "1s")]
    pub http_batch_wait: String,

    /// How long one HTTP request may take (connect, send, answer) before it is tried again.
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub http_timeout: String,

    /// Refused: a token in argv is readable by every user of the node.
    #[arg(long, hide = true, value_name = "TOKEN")]
    pub http_token: Option<String>,

    /// Post a Warning Event on the Pod for each fatal signal to a container's process, each OOM
    /// kill in a pod and each stop that escalated to SIGKILL (needs create, patch on
    /// events.k8s.io events).
    #[arg(long, help_heading = "Kubernetes")]
    pub kube_events: bool,

    /// The kubeconfig that reaches the API server. Without it the API is used when exitwatch
    /// runs in a pod (its service account), or when --kube-events is given (KUBECONFIG,
    /// ~/.kube/config).
    #[arg(long, value_name = "FILE", help_heading = "Kubernetes")]
    pub kubeconfig: Option<PathBuf>,

    /// Never talk to the Kubernetes API server (pods are then named by the runtime alone).
    #[arg(long, help_heading = "Kubernetes", conflicts_with_all = ["kube_events", "kubeconfig"])]
    pub no_kube_api: bool,

    /// This node's name as the API server knows it (default: $NODE_NAME, else the hostname).
    #[arg(long, value_name = "NAME", help_heading = "Kubernetes")]
    pub node_name: Option<String>,

    /// Per-pod metric series of a pod no longer on this node expire this long after their last
    /// change (e.g. 10m, 1h).
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "10m",
        help_heading = "Kubernetes"
    )]
    pub pod_metrics_ttl: String,

    /// At most this many Kubernetes Events posted per minute by this node (bursts of 10); the
    /// rest are counted, not posted.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 60,
        help_heading = "Kubernetes"
    )]
    pub kube_events_per_minute: u32,
}

/// How exitwatch uses the Kubernetes API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubeSettings {
    /// Talk to the API at all (`--no-kube-api` says no; see [`KubeSettings::wanted`]).
    pub api: bool,
    pub events: bool,
    pub kubeconfig: Option<PathBuf>,
    /// The node as the API knows it (None: $NODE_NAME, else the hostname).
    pub node_name: Option<String>,
    pub pod_metrics_ttl: Duration,
    pub events_per_minute: u32,
}

impl KubeSettings {
    /// Is the API used? Asked for (--kube-events, --kubeconfig, $KUBECONFIG), or running in a pod
    /// with a service account; never with --no-kube-api.
    pub fn wanted(&self, env: impl Fn(&str) -> Option<String>) -> bool {
        self.api
            && (self.events
                || self.kubeconfig.is_some()
                || env("KUBECONFIG").is_some_and(|v| !v.is_empty())
                || env("KUBERNETES_SERVICE_HOST").is_some_and(|v| !v.is_empty()))
    }
}

/// A checked daemon configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonConfig {
    /// Never empty: stdout when no `--output` is given.
    pub outputs: Vec<Output>,
    pub flush_timeout: Duration,
    pub metrics_addr: Option<String>,
    pub http: HttpSettings,
    /// Every output failing for this long makes /healthz answer 503.
    pub unhealthy_after: Duration,
    pub kube: KubeSettings,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DaemonError {
    #[error("{0}")]
    Output(#[from] SpecError),
    #[error("--http-token is not accepted: {TOKEN_ADVICE}")]
    TokenInArgv,
    #[error("--output {0} is given twice")]
    Duplicate(String),
    #[error("--output {0} sends JSON: use --format json (or ecs, ocsf), not --format {1}")]
    NeedsJson(String, &'static str),
    #[error("--{0} {1:?} is not valid: {2}")]
    Bad(&'static str, String, &'static str),
}

/// `HOST:PORT` or `[V6]:PORT`, port required.
fn check_addr(addr: &str) -> bool {
    let Some((host, port)) = addr.rsplit_once(':') else {
        return false;
    };
    let host_ok = match host.strip_prefix('[') {
        Some(v6) => v6.ends_with(']') && v6.len() > 1,
        None => !host.is_empty() && !host.contains(':'),
    };
    host_ok && port.parse::<u16>().is_ok()
}

impl DaemonArgs {
    pub fn into_config(self, format: Format) -> Result<DaemonConfig, DaemonError> {
        if self.http_token.is_some() {
            return Err(DaemonError::TokenInArgv);
        }
        let size = |flag: &'static str, v: &str| {
            parse_size(v)
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| DaemonError::Bad(flag, v.to_owned(), "give a size such as 100M"))
        };
        let duration = |flag: &'static str, v: &str| {
            parse_duration(v).filter(|d| !d.is_zero()).ok_or_else(|| {
                DaemonError::Bad(flag, v.to_owned(), "give a duration such as 5s or 500ms")
            })
        };
        let udp = size("syslog-udp-max-size", &self.syslog_udp_max_size)?;
        if !(480..=65_000).contains(&udp) {
            return Err(DaemonError::Bad(
                "syslog-udp-max-size",
                self.syslog_udp_max_size,
                "between 480 and 65000 bytes",
            ));
        }
        if self.queue_size == 0 {
            return Err(DaemonError::Bad(
                "queue-size",
                "0".into(),
                "give at least 1",
            ));
        }
        let defaults = Defaults {
            queue_size: self.queue_size,
            queue_bytes: size("queue-bytes", &self.queue_bytes)?,
            rotation: Rotation {
                max_size: size("file-max-size", &self.file_max_size)?,
                keep: self.file_keep,
            },
            udp_max_size: udp as usize,
        };
        let mut outputs = Vec::new();
        let mut labels = Vec::new();
        for url in self.outputs.iter().filter(|u| !u.trim().is_empty()) {
            let out = spec::parse(url, &defaults)?;
            let label = out.spec.label();
            if labels.contains(&label) {
                return Err(DaemonError::Duplicate(label));
            }
            if out.spec.is_http() && matches!(format, Format::Text | Format::Stap) {
                let name = if format == Format::Text {
                    "text"
                } else {
                    "stap"
                };
                return Err(DaemonError::NeedsJson(label, name));
            }
            labels.push(label);
            outputs.push(out);
        }
        if outputs.is_empty() {
            outputs.push(Output {
                spec: SinkSpec::Stdout,
                queue_size: self.queue_size,
                queue_bytes: defaults.queue_bytes,
            });
        }
        if let Some(addr) = &self.metrics_addr {
            if !check_addr(addr) {
                return Err(DaemonError::Bad(
                    "metrics-addr",
                    addr.clone(),
                    "give HOST:PORT, e.g. 0.0.0.0:9464 or 127.0.0.1:9464",
                ));
            }
        }
        if self.http_batch_size == 0 {
            return Err(DaemonError::Bad(
                "http-batch-size",
                "0".into(),
                "give at least 1",
            ));
        }
        Ok(DaemonConfig {
            outputs,
            flush_timeout: duration("flush-timeout", &self.flush_timeout)?,
            metrics_addr: self.metrics_addr,
            unhealthy_after: duration("unhealthy-after", &self.unhealthy_after)?,
            http: HttpSettings {
                token_file: self.http_token_file,
                ca_file: self.ca_file.or(self.http_ca_file),
                batch_size: self.http_batch_size,
                batch_wait: duration("http-batch-wait", &self.http_batch_wait)?,
                timeout: duration("http-timeout", &self.http_timeout)?,
            },
            kube: KubeSettings {
                api: !self.no_kube_api,
                events: self.kube_events,
                kubeconfig: self.kubeconfig,
                node_name: self.node_name.filter(|n| !n.trim().is_empty()),
                pod_metrics_ttl: duration("pod-metrics-ttl", &self.pod_metrics_ttl)?,
                events_per_minute: match self.kube_events_per_minute {
                    0 => {
                        return Err(DaemonError::Bad(
                            "kube-events-per-minute",
                            "0".into(),
                            "give at least 1 (or leave out --kube-events)",
                        ))
                    }
                    n => n,
                },
            },
        })
    }
}

#[cfg(test)]
mod tests;
