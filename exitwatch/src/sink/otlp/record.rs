//! One event as one OTLP LogRecord (pure): severity from the event, the one-line verdict as
//! body, OpenTelemetry semantic-convention attributes for the process the event is about (a
//! signal's target, the process that exited, the OOM victim) and `exitwatch.*` for the rest.
//!
//! Every string is bounded here: the event bounds argv and names already, and no attribute
//! value exceeds [`MAX_STRING`] bytes nor an array [`MAX_VALUES`] items.

use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, ArrayValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, SeverityNumber};

use crate::container::identity::ContainerInfo;
use crate::escape::{json_string, shell_words};
use crate::event::{Actor, Event, Place, Proc, Sender, Severity};
use crate::render::Context;
use crate::signals::Signal;
use crate::story::Annotated;

/// The longest attribute string, in bytes (cut on a character boundary).
pub const MAX_STRING: usize = 4096;
/// The most items of an array attribute (argv, diagnoses).
pub const MAX_VALUES: usize = 128;

/// The LogRecord of `a`, observed at `observed_ns` (Unix ns).
pub fn log_record(ctx: &Context, a: &Annotated, body: String, observed_ns: i128) -> LogRecord {
    let ev = &a.event;
    let (severity_number, severity_text) = severity(ev.severity());
    let mut at = Attrs::default();
    at.str("exitwatch.event.id", a.id.to_string());
    at.str("exitwatch.event.kind", ev.kind().as_str());
    match ev {
        Event::Signal(s) => {
            at.process(&s.target);
            at.place("", &s.target_place);
            signal(&mut at, "exitwatch.signal", s.signo);
            at.int("exitwatch.signal.code", s.code.into());
            at.str("exitwatch.signal.result", s.result.as_str());
            at.bool("exitwatch.signal.fatal", s.fatal());
            if s.fatal() {
                at.int("exitwatch.exit_code", s.exit_code_if_fatal().into());
            }
            if let Some(d) = s.disposition {
                at.str("exitwatch.signal.disposition", d.as_str());
            }
            if let Some(v) = s.via {
                at.str("exitwatch.signal.via", v.as_str());
            }
            if let Some(addr) = s.fault_addr {
                at.str("exitwatch.signal.fault_address", format!("{addr:#x}"));
            }
            sender(ctx, &mut at, &s.sender);
        }
        Event::Exit(x) => {
            at.process(&x.proc);
            at.place("", &x.place);
            at.int("process.exit.code", x.status.container_code().into());
            at.int("exitwatch.exit_code", x.status.container_code().into());
            if let Some(sig) = x.status.signal() {
                signal(&mut at, "exitwatch.exit.signal", sig);
                at.bool("exitwatch.exit.core_dumped", x.status.core_dumped());
            }
            if let Some(c) = &a.cause {
                at.str("exitwatch.cause.event", c.event);
                if let Some(sig) = c.signal {
                    signal(&mut at, "exitwatch.cause.signal", sig);
                }
            }
        }
        Event::Oom(o) => {
            at.process(&o.victim);
            at.args("process", &o.victim_args);
            at.int("process.user.id", o.victim_uid.into());
            if let Some(name) = ctx.users.name(o.victim_uid) {
                at.str("process.user.name", name);
            }
            at.place("", &o.victim_place);
            at.int("exitwatch.exit_code", 137);
            at.int("exitwatch.oom.score_adj", o.oom_score_adj.into());
            at.int("exitwatch.oom.trigger.pid", o.trigger.pid.into());
            at.bytes("exitwatch.oom.trigger.comm", &o.trigger.comm);
            if let Some(c) = &o.context {
                at.str("exitwatch.oom.scope", c.constraint.as_str());
            }
            if let Some(m) = o.victim_memcg() {
                at.str("exitwatch.oom.memcg", m);
            }
            if let Some(limit) = o.memcg_usage.as_ref().and_then(|u| u.limit_bytes) {
                at.int("exitwatch.oom.memcg.limit_bytes", clamp(limit));
            }
        }
        Event::Lost { count, class } => {
            at.int("exitwatch.lost.count", clamp(*count));
            at.str("exitwatch.lost.class", class.as_str());
        }
        Event::Suppressed(x) => {
            at.int("exitwatch.suppressed.count", clamp(x.count));
            if x.signo != 0 {
                signal(&mut at, "exitwatch.signal", x.signo);
            }
            if let Some(p) = &x.sender {
                at.int("exitwatch.sender.pid", p.pid.into());
                at.bytes("exitwatch.sender.comm", &p.comm);
            }
            if let Some(uid) = x.uid {
                at.int("exitwatch.sender.user.id", uid.into());
            }
        }
    }
    if let Some(c) = &a.cause {
        at.str("exitwatch.cause.id", c.id.clone());
    }
    if !a.diagnosis.is_empty() {
        let codes = a.diagnosis.iter().map(|d| d.code.as_str().to_owned());
        at.strs("exitwatch.diagnosis", codes.collect());
    }
    LogRecord {
        time_unix_nano: ev.time_ns().map_or(0, |t| unix(ctx.wall_ns(t))),
        observed_time_unix_nano: unix(observed_ns),
        severity_number: severity_number as i32,
        severity_text: severity_text.into(),
        body: Some(string(bound(body))),
        attributes: at.0,
        event_name: event_name(a),
        ..LogRecord::default()
    }
}

/// `exitwatch.signal`, `exitwatch.exit`, `exitwatch.oom_kill`, `exitwatch.lost`, `exitwatch.suppressed`
/// (the names of the exitwatch.v1 JSON schema's `event`).
fn event_name(a: &Annotated) -> String {
    let name = match &a.event {
        Event::Oom(_) => "oom_kill",
        ev => ev.kind().as_str(),
    };
    format!("exitwatch.{name}")
}

/// Kills, OOM kills and gaps are warnings; other signals and exits are information (the
/// second INFO step marks a signal, above an exit).
pub fn severity(s: Severity) -> (SeverityNumber, &'static str) {
    match s {
        Severity::Warning => (SeverityNumber::Warn, "WARN"),
        Severity::Notice => (SeverityNumber::Info2, "INFO2"),
        Severity::Informational => (SeverityNumber::Info, "INFO"),
    }
}

/// Who sent the signal, under `exitwatch.sender.*`.
fn sender(ctx: &Context, at: &mut Attrs, sender: &Sender) {
    let actor: &Actor = sender.actor();
    let role = crate::role::of(sender);
    if let Some(r) = role {
        at.str("exitwatch.sender.role", r.as_str());
    }
    if let Sender::Kernel { reason, .. } = sender {
        at.str("exitwatch.sender.kernel_reason", reason.as_str());
    }
    let p = "exitwatch.sender";
    at.int("exitwatch.sender.pid", actor.proc.pid.into());
    at.bytes("exitwatch.sender.comm", &actor.proc.comm);
    if let Some(parent) = actor.parent() {
        at.int("exitwatch.sender.parent_pid", parent.pid.into());
    }
    if actor.identity_lost {
        at.bool("exitwatch.sender.identity_lost", true);
        return;
    }
    if !actor.args.is_empty() {
        at.str("exitwatch.sender.command_line", shell_words(&actor.args));
    }
    if let Some(exe) = &actor.exe {
        at.bytes("exitwatch.sender.executable.path", exe);
    }
    at.int("exitwatch.sender.user.id", actor.uid.into());
    if let Some(name) = ctx.users.name(actor.uid) {
        at.str("exitwatch.sender.user", name);
    }
    if let Some(login) = actor.loginuid {
        at.int("exitwatch.sender.login_user.id", login.into());
    }
    at.place(p, &actor.place);
}

fn signal(at: &mut Attrs, prefix: &str, signo: i32) {
    at.int(&format!("{prefix}.number"), signo.into());
    if let Some(name) = Signal(signo).name() {
        at.str(&format!("{prefix}.name"), name);
    }
}

/// The attributes of a LogRecord, in the order they are added.
#[derive(Default)]
struct Attrs(Vec<KeyValue>);

impl Attrs {
    fn put(&mut self, key: &str, value: Value) {
        self.0.push(KeyValue {
            key: key.to_owned(),
            value: Some(AnyValue { value: Some(value) }),
        });
    }

    fn str(&mut self, key: &str, v: impl Into<String>) {
        self.put(key, Value::StringValue(bound(v.into())));
    }

    /// Kernel bytes: valid UTF-8 kept, each invalid byte written as `\xNN`.
    fn bytes(&mut self, key: &str, v: &[u8]) {
        self.str(key, json_string(v).into_owned());
    }

    fn int(&mut self, key: &str, v: i64) {
        self.put(key, Value::IntValue(v));
    }

    fn bool(&mut self, key: &str, v: bool) {
        self.put(key, Value::BoolValue(v));
    }

    fn strs(&mut self, key: &str, v: Vec<String>) {
        let values = v.into_iter().take(MAX_VALUES).map(|s| string(bound(s)));
        self.put(
            key,
            Value::ArrayValue(ArrayValue {
                values: values.collect(),
            }),
        );
    }

    /// The process the event is about: pid, its pid in its namespace, its name.
    fn process(&mut self, p: &Proc) {
        self.int("process.pid", p.pid.into());
        if let Some(ns_pid) = p.ns_pid.filter(|&n| n != p.pid) {
            self.int("process.vpid", ns_pid.into());
        }
        self.bytes("process.executable.name", &p.comm);
    }

    /// argv as `process.command_args` and `process.args_count`.
    fn args(&mut self, prefix: &str, args: &[Vec<u8>]) {
        if args.is_empty() {
            return;
        }
        self.strs(
            &format!("{prefix}.command_args"),
            args.iter().map(|a| json_string(a).into_owned()).collect(),
        );
        self.int(&format!("{prefix}.args_count"), args.len() as i64);
    }

    /// The container and pod of a place: semantic conventions for the event's process
    /// (`prefix` empty), `exitwatch.sender.` ones for the sender.
    fn place(&mut self, prefix: &str, place: &Place) {
        let Some(c) = place.container.as_deref() else {
            return;
        };
        let key = |k: &str| match prefix {
            "" => k.to_owned(),
            p => format!("{p}.{k}"),
        };
        let ContainerInfo {
            id,
            runtime,
            name,
            image,
            pod,
            ..
        } = c;
        self.str(&key("container.id"), id.clone());
        if let Some(n) = name {
            self.str(&key("container.name"), n.clone());
        }
        if let Some(r) = runtime {
            self.str(&key("container.runtime.name"), r.as_str());
        }
        if let Some(i) = image {
            self.str(&key("container.image.name"), i.clone());
        }
        if let Some(pod) = pod {
            self.str(&key("k8s.pod.uid"), pod.uid.clone());
            if let Some(n) = &pod.name {
                self.str(&key("k8s.pod.name"), n.clone());
            }
            if let Some(ns) = &pod.namespace {
                self.str(&key("k8s.namespace.name"), ns.clone());
            }
            if let Some(n) = name {
                self.str(&key("k8s.container.name"), n.clone());
            }
        }
    }
}

fn string(s: String) -> AnyValue {
    AnyValue {
        value: Some(Value::StringValue(s)),
    }
}

/// `s` cut to [`MAX_STRING`] bytes on a character boundary.
pub fn bound(mut s: String) -> String {
    if s.len() > MAX_STRING {
        let mut end = MAX_STRING;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

fn unix(ns: i128) -> u64 {
    u64::try_from(ns).unwrap_or(0)
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
