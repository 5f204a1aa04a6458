//! Output URLs (`-o/--output`): what the user typed, checked into a `SinkSpec` (pure).

use std::path::PathBuf;

use url::{facility, host_port, parse_query, percent_decode};

/// The forms `--output` accepts, for every error message.
pub const FORMS: &str = "stdout | file:///PATH[?max_size=100M&keep=5] | \
syslog+tcp://HOST[:PORT][?facility=daemon] | syslog+tls://HOST[:6514][?facility=daemon] | \
syslog+udp://HOST[:PORT][?facility=daemon&max_size=8K] | \
http[s]://HOST[:PORT][/PATH][?hec=1&sourcetype=exitwatch&index=NAME&compression=gzip&token_file=PATH] | \
otlp[s]://HOST[:PORT][?compression=gzip] (OTLP/gRPC, port 4317) | \
otlp+http[s]://HOST[:PORT][?compression=gzip] (OTLP/HTTP, port 4318) \
(any URL also takes queue_size=N and queue_bytes=SIZE)";

/// One output and the size of its queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    pub spec: SinkSpec,
    /// Events it may hold while its receiver is slow or down (`?queue_size=`, `--queue-size`).
    pub queue_size: usize,
    /// Bytes of records it may hold (`?queue_bytes=`, `--queue-bytes`), besides the count.
    pub queue_bytes: u64,
}

/// One checked output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SinkSpec {
    Stdout,
    File {
        path: PathBuf,
        rotation: Rotation,
    },
    Syslog {
        transport: Transport,
        host: String,
        port: u16,
        /// RFC 5424 facility number (daemon = 3).
        facility: u8,
        /// Longest datagram (UDP); longer messages are cut.
        max_size: usize,
    },
    Http {
        tls: bool,
        host: String,
        port: u16,
        /// The path as sent in the request line.
        path: String,
        /// Splunk HEC envelope, when asked for with `?hec=1`.
        hec: Option<Hec>,
        /// This output's token (`?token_file=`), instead of --http-token-file / the environment.
        token_file: Option<PathBuf>,
        /// Bodies gzip'd (`?compression=gzip`).
        gzip: bool,
    },
    /// An OpenTelemetry collector: one LogRecord per event.
    Otlp {
        transport: OtlpTransport,
        tls: bool,
        host: String,
        port: u16,
        /// Requests gzip'd (`?compression=gzip`).
        gzip: bool,
    },
}

/// How OTLP is carried: gRPC (`otlp[s]://`, port 4317) or protobuf over HTTP
/// (`otlp+http[s]://`, POST to /v1/logs, port 4318).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtlpTransport {
    Grpc,
    Http,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    /// RFC 5425: TCP, TLS, octet counting.
    Tls,
    Udp,
}

/// Size-based rotation of a file output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate before a write would take the file past this many bytes.
    pub max_size: u64,
    /// Rotated files kept (`PATH.1` newest ... `PATH.keep`); 0 keeps none.
    pub keep: u32,
}

/// Splunk HTTP Event Collector envelope fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hec {
    pub sourcetype: String,
    pub index: Option<String>,
}

/// What flags set for every output of a kind; a URL's query overrides them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Defaults {
    pub queue_size: usize,
    pub queue_bytes: u64,
    pub rotation: Rotation,
    pub udp_max_size: usize,
}

/// Why an `--output` value was refused. Exit status 64.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("--output {url:?}: {why}; accepted forms: {FORMS}")]
pub struct SpecError {
    pub url: String,
    pub why: String,
    /// The URL carried a secret: the message says where tokens go instead.
    pub secret: bool,
}

/// Where HTTP tokens go instead of the command line, for the error messages.
pub const TOKEN_ADVICE: &str = "a token on the command line is readable by every user of the node \
(/proc/PID/cmdline, `ps`): write it to a file and pass --http-token-file FILE, or set EXITWATCH_HTTP_TOKEN";

const DEFAULT_HEC_PATH: &str = "/services/collector/event";
const SECRET_KEYS: &[&str] = &[
    "token",
    "access_token",
    "api_key",
    "apikey",
    "key",
    "auth",
    "authorization",
    "password",
    "secret",
    "splunk",
];

impl SinkSpec {
    /// The output's name in metrics and messages: its URL without the query.
    pub fn label(&self) -> String {
        match self {
            SinkSpec::Stdout => "stdout".into(),
            SinkSpec::File { path, .. } => format!("file://{}", path.display()),
            SinkSpec::Syslog {
                transport,
                host,
                port,
                ..
            } => {
                let t = match transport {
                    Transport::Tcp => "tcp",
                    Transport::Tls => "tls",
                    Transport::Udp => "udp",
                };
                format!("syslog+{t}://{}:{port}", bracket(host))
            }
            SinkSpec::Http {
                tls,
                host,
                port,
                path,
                ..
            } => {
                let scheme = if *tls { "https" } else { "http" };
                let path = path.split('?').next().unwrap_or("/");
                format!("{scheme}://{}:{port}{path}", bracket(host))
            }
            SinkSpec::Otlp {
                transport,
                tls,
                host,
                port,
                ..
            } => {
                let scheme = match (transport, tls) {
                    (OtlpTransport::Grpc, false) => "otlp",
                    (OtlpTransport::Grpc, true) => "otlps",
                    (OtlpTransport::Http, false) => "otlp+http",
                    (OtlpTransport::Http, true) => "otlp+https",
                };
                format!("{scheme}://{}:{port}", bracket(host))
            }
        }
    }

    pub fn is_http(&self) -> bool {
        matches!(self, SinkSpec::Http { .. })
    }

    /// Whether it talks TLS, and so needs the CA certificates (`--ca-file`).
    pub fn is_tls(&self) -> bool {
        matches!(
            self,
            SinkSpec::Http { tls: true, .. }
                | SinkSpec::Syslog {
                    transport: Transport::Tls,
                    ..
                }
        )
    }
}

fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// Checks one `--output` value.
pub fn parse(url: &str, defaults: &Defaults) -> Result<Output, SpecError> {
    let (spec, queue_size) = parse_spec(url, defaults)?;
    let query = url.trim().split_once('?').map_or("", |(_, q)| q);
    let params = parse_query(query);
    let queue_bytes = match params.iter().rev().find(|(k, _)| k == "queue_bytes") {
        None => defaults.queue_bytes,
        Some((_, v)) => crate::units::parse_size(v)
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| SpecError {
                url: url.to_owned(),
                why: format!("queue_bytes={v} is not a size such as 8M"),
                secret: false,
            })?,
    };
    Ok(Output {
        spec,
        queue_size: queue_size.unwrap_or(defaults.queue_size),
        queue_bytes,
    })
}

/// Options every kind of output takes: its queue's bounds.
const QUEUE_KEYS: &[&str] = &["queue_size", "queue_bytes"];

fn parse_spec(url: &str, defaults: &Defaults) -> Result<(SinkSpec, Option<usize>), SpecError> {
    let fail = |why: String, secret: bool| SpecError {
        url: if secret {
            "(not shown: it holds a secret)".into()
        } else {
            url.to_owned()
        },
        why,
        secret,
    };
    let url = url.trim();
    if url == "stdout" || url == "-" {
        return Ok((SinkSpec::Stdout, None));
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(fail("not a URL and not `stdout`".into(), false));
    };
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let params = parse_query(query.unwrap_or(""));
    if let Some((k, _)) = params
        .iter()
        .find(|(k, _)| SECRET_KEYS.contains(&k.to_ascii_lowercase().as_str()))
    {
        return Err(fail(
            format!("`{k}=` looks like a secret: {TOKEN_ADVICE}"),
            true,
        ));
    }
    let allowed: &[&str] = match scheme.to_ascii_lowercase().as_str() {
        "file" => &["max_size", "keep", "queue_size"],
        "syslog+tcp" | "syslog+tls" => &["facility", "queue_size"],
        "syslog+udp" => &["facility", "max_size", "queue_size"],
        "http" | "https" => &[
            "hec",
            "sourcetype",
            "index",
            "compression",
            "token_file",
            "queue_size",
        ],
        "otlp" | "otlps" | "otlp+http" | "otlp+https" => &["compression", "queue_size"],
        other => return Err(fail(format!("unknown scheme `{other}`"), false)),
    };
    if let Some((k, _)) = params
        .iter()
        .find(|(k, _)| !allowed.contains(&k.as_str()) && !QUEUE_KEYS.contains(&k.as_str()))
    {
        return Err(fail(
            format!(
                "unknown option `{k}` (this kind of output takes {})",
                allowed.join(", ")
            ),
            false,
        ));
    }
    let get = |key: &str| {
        params
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let queue_size = match get("queue_size") {
        None => None,
        Some(v) => Some(
            v.parse::<usize>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| fail(format!("queue_size={v} is not a number of events"), false))?,
        ),
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme == "file" {
        if !rest.starts_with('/') {
            return Err(fail(
                "a file output needs an absolute path, with three slashes: file:///var/log/exitwatch/events.log".into(),
                false,
            ));
        }
        let path = percent_decode(rest).map_err(|w| fail(w, false))?;
        let mut rotation = defaults.rotation;
        if let Some(v) = get("max_size") {
            rotation.max_size = crate::units::parse_size(v)
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| fail(format!("max_size={v} is not a size such as 100M"), false))?;
        }
        if let Some(v) = get("keep") {
            rotation.keep = v
                .parse()
                .map_err(|_| fail(format!("keep={v} is not a number of files"), false))?;
        }
        let spec = SinkSpec::File {
            path: PathBuf::from(path),
            rotation,
        };
        return Ok((spec, queue_size));
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(fail(
            format!("credentials in the URL are not accepted: {TOKEN_ADVICE}"),
            true,
        ));
    }
    let tls = matches!(scheme.as_str(), "https" | "otlps" | "otlp+https");
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        "syslog+tls" => 6514,
        "otlp" | "otlps" => 4317,
        "otlp+http" | "otlp+https" => 4318,
        _ => 514,
    };
    let (host, port) = host_port(authority, default_port).map_err(|w| fail(w, false))?;
    let gzip = match get("compression") {
        None | Some("none") => Ok(false),
        Some("gzip") => Ok(true),
        Some(_) => Err(fail(
            "compression: give compression=gzip or compression=none".into(),
            false,
        )),
    };
    if let Some(transport) = match scheme.as_str() {
        "otlp" | "otlps" => Some(OtlpTransport::Grpc),
        "otlp+http" | "otlp+https" => Some(OtlpTransport::Http),
        _ => None,
    } {
        if !path.is_empty() && path != "/" {
            return Err(fail(
                "an OTLP output takes no path (gRPC calls LogsService/Export; OTLP/HTTP posts to /v1/logs)".into(),
                false,
            ));
        }
        let spec = SinkSpec::Otlp {
            transport,
            tls,
            host,
            port,
            gzip: gzip?,
        };
        return Ok((spec, queue_size));
    }
    if let Some(transport) = match scheme.as_str() {
        "syslog+tcp" => Some(Transport::Tcp),
        "syslog+tls" => Some(Transport::Tls),
        "syslog+udp" => Some(Transport::Udp),
        _ => None,
    } {
        if !path.is_empty() && path != "/" {
            return Err(fail("a syslog output takes no path".into(), false));
        }
        let facility = match get("facility") {
            None => 3,
            Some(v) => facility(v).ok_or_else(|| {
                fail(format!("facility={v} is not a syslog facility (kern, user, daemon, auth, authpriv, local0..local7, or 0..23)"), false)
            })?,
        };
        let max_size = match get("max_size") {
            None => defaults.udp_max_size,
            Some(v) => crate::units::parse_size(v)
                .ok()
                .filter(|n| (480..=65_000).contains(n))
                .ok_or_else(|| {
                    fail(
                        format!("max_size={v} must be between 480 and 65000 bytes"),
                        false,
                    )
                })? as usize,
        };
        let spec = SinkSpec::Syslog {
            transport,
            host,
            port,
            facility,
            max_size,
        };
        return Ok((spec, queue_size));
    }
    let hec = match get("hec") {
        None | Some("0" | "false") => None,
        Some("1" | "true") => Some(Hec {
            sourcetype: get("sourcetype").unwrap_or("exitwatch").to_owned(),
            index: get("index").map(str::to_owned),
        }),
        Some(v) => return Err(fail(format!("hec={v}: give hec=1 or hec=0"), false)),
    };
    if hec.is_none() && (get("sourcetype").is_some() || get("index").is_some()) {
        return Err(fail(
            "sourcetype and index are Splunk HEC fields: add hec=1".into(),
            false,
        ));
    }
    // The query holds exitwatch's own options only: the receiver sees none of them.
    let path = match path {
        "" | "/" if hec.is_some() => DEFAULT_HEC_PATH.to_owned(),
        "" => "/".to_owned(),
        p => p.to_owned(),
    };
    if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(fail(
            "the path holds spaces or control characters: percent-encode them".into(),
            false,
        ));
    }
    let gzip = gzip?;
    let token_file = match get("token_file") {
        None => None,
        Some(p) if p.starts_with('/') => Some(PathBuf::from(p)),
        Some(_) => {
            return Err(fail(
                "token_file needs an absolute path to the file holding the token".into(),
                false,
            ))
        }
    };
    let spec = SinkSpec::Http {
        tls,
        host,
        port,
        path,
        hec,
        token_file,
        gzip,
    };
    Ok((spec, queue_size))
}

mod url;

#[cfg(test)]
mod tests;
