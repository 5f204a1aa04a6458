//! From decoded records to rendered lines: enrich on arrival, correlate, complete, emit (each
//! event rendered once and handed to every output), and keep the tallies that decide when
//! exitwatch is done.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;

use crate::cgroupfs::{self, MemoryHierarchy};
use crate::cli::Format;
use crate::container::cache::{Lookup, MetadataCache};
use crate::container::identity::{MetadataStatus, PodInfo};
use crate::container::watch::{Decision, Filter};
use crate::correlate::Correlator;
use crate::event::{Event, OomEvent, Place, Sender, SignalEvent};
use crate::metrics::Metrics;
use crate::oom::OomContext;
use crate::procs::Watched;
use crate::render::{self, Context};
use crate::sink::{FanOut, Record};
use crate::story::Story;

pub struct Pipeline {
    pub format: Format,
    pub ctx: Context,
    /// Every output (`-o`), stdout by default.
    pub sinks: FanOut,
    metrics: Arc<Metrics>,
    correlator: Correlator,
    memory: Option<MemoryHierarchy>,
    /// Why the kernel log cannot be read, when it cannot.
    kmsg_error: Option<String>,
    /// Watched processes that have not exited yet.
    pub pending: BTreeMap<u32, Watched>,
    watching: bool,
    count: Option<u64>,
    signals_seen: u64,
    story: Story,
    cache: MetadataCache,
    receivers: Filter,
    /// Hide secrets in argv before any output sees them (`--redact-args`).
    redaction: Option<crate::redact::Redaction>,
    /// When each pid's exit was last reported: threads of a dying process that reach the exit
    /// tracepoint together can each see the group already dead (and each has its own start time).
    exits_seen: std::collections::HashMap<u32, u64>,
}

/// Exits remembered for de-duplication (cleared when full: a duplicate comes microseconds later).
const MAX_EXITS_SEEN: usize = 65_536;

/// How long an event about a container the runtime does not know yet waits for its names, at
/// most. Without a receiver filter it goes as soon as a listing that began after it completes;
/// with one, as soon as a listing names the container. A listing starts at most 200 ms after
/// being asked for and takes up to the cache's call timeout (1 s): this leaves a busy runtime
/// room for a second try before a kill of a just-started container is decided without its name.
const METADATA_WAIT_NS: u64 = 3_000_000_000;

/// The places (sender's, target's) an event names.
fn places(ev: &mut Event) -> Vec<&mut Place> {
    match ev {
        Event::Signal(s) => {
            let SignalEvent {
                sender,
                target_place,
                ..
            } = s;
            let actor = match sender {
                Sender::Process(a) | Sender::Kernel { context: a, .. } => a,
            };
            vec![&mut actor.place, target_place]
        }
        Event::Exit(x) => vec![&mut x.place],
        Event::Oom(oom) => vec![&mut oom.victim_place],
        Event::Lost { .. } => Vec::new(),
    }
}

/// The ids of the containers an event names.
fn container_ids(ev: &Event) -> Vec<&str> {
    let places = match ev {
        Event::Signal(s) => vec![&s.sender.actor().place, &s.target_place],
        Event::Exit(x) => vec![&x.place],
        Event::Oom(oom) => vec![&oom.victim_place],
        Event::Lost { .. } => Vec::new(),
    };
    places
        .into_iter()
        .filter_map(|p| p.container.as_ref().map(|c| c.id.as_str()))
        .collect()
}

/// Adds the runtime's names to a place's container; true when the runtime does not know it.
fn enrich(cache: &MetadataCache, place: &mut Place) -> bool {
    let Some(c) = &mut place.container else {
        return false;
    };
    match cache.lookup(&c.id) {
        Lookup::Known(m) => {
            c.runtime = Some(m.runtime);
            c.name = m.name;
            c.image = m.image;
            if let Some(pod) = m.pod {
                let qos = c.pod.as_ref().and_then(|p| p.qos);
                c.pod = Some(PodInfo {
                    name: Some(pod.name),
                    namespace: Some(pod.namespace),
                    uid: pod.uid,
                    qos,
                });
            }
            c.metadata = MetadataStatus::Complete;
            false
        }
        Lookup::Unknown => {
            c.metadata = MetadataStatus::NotFound;
            true
        }
        Lookup::Unavailable(reason) => {
            c.metadata = MetadataStatus::Unavailable(reason);
            false
        }
    }
}

/// Where events go: how they are rendered, the outputs, and the tallies.
pub struct Outputs {
    pub format: Format,
    pub ctx: Context,
    pub sinks: FanOut,
    pub metrics: Arc<Metrics>,
}

/// What the user asked about: the processes to wait for (`--pid`), how many signals
/// (`--count`), and the receiving side (`--container`, `--pod`, `--namespace`).
pub struct Question {
    pub pending: BTreeMap<u32, Watched>,
    pub count: Option<u64>,
    pub receivers: Filter,
}

impl Pipeline {
    /// `kmsg_error` says why the kernel log cannot be read, when it cannot.
    pub fn new(
        outputs: Outputs,
        question: Question,
        story: Story,
        cache: MetadataCache,
        kmsg_error: Option<String>,
    ) -> Self {
        let Outputs {
            format,
            ctx,
            sinks,
            metrics,
        } = outputs;
        let Question {
            pending,
            count,
            receivers,
        } = question;
        Pipeline {
            format,
            ctx,
            sinks,
            metrics,
            correlator: Correlator::default(),
            memory: MemoryHierarchy::detect(),
            kmsg_error,
            watching: !pending.is_empty(),
            pending,
            count,
            signals_seen: 0,
            story,
            cache,
            receivers,
            redaction: None,
            exits_seen: std::collections::HashMap::new(),
        }
    }

    /// Redacts argv (sender's, OOM victim's) in every event from now on.
    pub fn redact(mut self, rules: Option<crate::redact::Redaction>) -> Self {
        self.redaction = rules;
        self
    }

    /// True once the user's question is answered: every watched process ended, or the count.
    pub fn done(&self) -> bool {
        (self.watching && self.pending.is_empty())
            || self.count.is_some_and(|n| self.signals_seen >= n)
    }

    /// A record from the kernel, now.
    pub fn record(&mut self, mut ev: Event, now: u64) -> io::Result<()> {
        if let Event::Exit(x) = &ev {
            if self.exits_seen.len() >= MAX_EXITS_SEEN {
                self.exits_seen.clear();
            }
            // A pid is not reused within a second of its exit: a second record then is a twin.
            if let Some(&at) = self.exits_seen.get(&x.proc.pid) {
                if x.time_ns.saturating_sub(at) < 1_000_000_000 {
                    return Ok(());
                }
            }
            self.exits_seen.insert(x.proc.pid, x.time_ns);
        }
        if let Event::Oom(oom) = &mut ev {
            self.on_arrival(oom);
        }
        // An OOM kill is decided once complete (its victim's cgroup may come from the log).
        let wanted = match ev {
            Event::Oom(_) => Some(true),
            _ => self.wanted(&ev),
        };
        if wanted == Some(false) {
            return Ok(());
        }
        // A container the runtime does not know yet (just started): ask, and give it a moment.
        let unknown = !matches!(ev, Event::Oom(_))
            && places(&mut ev).into_iter().any(|p| enrich(&self.cache, p));
        if unknown || wanted.is_none() {
            self.cache.request_refresh();
            let ticket = self.cache.ticket();
            let ready = self
                .correlator
                .push_after(ev, now + METADATA_WAIT_NS, ticket, now);
            return self.emit_all(ready);
        }
        let ready = self.correlator.push(ev, now);
        self.emit_all(ready)
    }

    /// The kernel filters by cgroup id and passes on what it cannot decide (a container started
    /// since the last scan); this decides by container identity (ids of different hierarchies
    /// may coincide). None: undecided, the runtime has not named the container yet.
    fn wanted(&self, ev: &Event) -> Option<bool> {
        let place = match ev {
            _ if self.receivers.is_empty() => return Some(true),
            Event::Signal(s) => &s.target_place,
            Event::Exit(x) => &x.place,
            Event::Oom(oom) => &oom.victim_place,
            Event::Lost { .. } => return Some(true),
        };
        let Some(c) = &place.container else {
            return Some(false);
        };
        match self.receivers.decide(&c.cgroup, &self.cache.lookup(&c.id)) {
            Decision::Watch(_) => Some(true),
            Decision::Ignore => Some(false),
            Decision::Undecided => None,
        }
    }

    /// Is an OOM kill waiting for its kernel log line (worth reading syslog(2) for)?
    pub fn wants_kernel_log(&self) -> bool {
        self.correlator.waiting_for_log()
    }

    pub fn kernel_log(&mut self, lines: Vec<OomContext>, now: u64) -> io::Result<()> {
        for line in lines {
            let ready = self.correlator.log(line, now);
            self.emit_all(ready)?;
        }
        Ok(())
    }

    /// The runtimes' listing number `answer` is in the cache: events waiting for names go.
    pub fn metadata_answered(&mut self, answer: u64, now: u64) -> io::Result<()> {
        let (cache, receivers) = (&self.cache, &self.receivers);
        // Settled once every container it names is known, and the filters can decide.
        let settles = |ev: &Event| {
            receivers.is_empty()
                || container_ids(ev)
                    .into_iter()
                    .all(|id| matches!(cache.lookup(id), Lookup::Known(_)))
        };
        let ready = self.correlator.answered(answer, &settles, now);
        if self.correlator.waiting() {
            self.cache.request_refresh();
        }
        self.emit_all(ready)
    }

    pub fn tick(&mut self, now: u64) -> io::Result<()> {
        let ready = self.correlator.release(now);
        self.emit_all(ready)
    }

    pub fn next_deadline(&self) -> Option<u64> {
        self.correlator.next_deadline()
    }

    pub fn finish(&mut self) -> io::Result<()> {
        let rest = self.correlator.flush();
        self.emit_all(rest)
    }

    /// Bypasses correlation (lost counts, exits found in /proc at start).
    pub fn emit_now(&mut self, ev: Event) -> io::Result<()> {
        self.emit_all(vec![ev])
    }

    /// What must be read while the victim may still exist.
    fn on_arrival(&mut self, oom: &mut OomEvent) {
        if let Some(memory) = &self.memory {
            oom.victim_cgroup = cgroupfs::proc_memory_cgroup(oom.victim.pid, memory.v2);
        }
        if oom.victim_args.is_empty() {
            let path = format!("/proc/{}/cmdline", oom.victim.pid);
            match std::fs::read(path) {
                Ok(raw) if !raw.is_empty() => {
                    oom.victim_args = raw
                        .strip_suffix(&[0])
                        .unwrap_or(&raw)
                        .split(|&b| b == 0)
                        .map(<[u8]>::to_vec)
                        .collect();
                }
                _ => oom.missing.push("victim.args"),
            }
        }
    }

    /// Completes an OOM event once correlation is over.
    fn complete(&mut self, oom: &mut OomEvent) {
        // No SIGKILL recorded where the victim lived: its memory cgroup's path is what is known.
        if oom.victim_place == Place::default() {
            if let Some(path) = oom.victim_memcg() {
                oom.victim_place = Place::from_cgroup_path(path);
            }
        }
        match &oom.context {
            Some(ctx) => {
                if oom.victim.comm.is_empty() {
                    oom.victim.comm = ctx.task.as_bytes().to_vec();
                    oom.missing.retain(|m| *m != "victim.comm");
                }
                if let (Some(path), Some(memory)) = (&ctx.oom_memcg, &self.memory) {
                    oom.memcg_usage = memory.usage(path);
                    if oom.memcg_usage.is_none() {
                        oom.missing.push("memcg.limit_bytes");
                    }
                }
            }
            None => {
                oom.missing.push("constraint");
                oom.missing.push("memcg");
                oom.missing.push(if self.kmsg_error.is_some() {
                    "kernel_log_unreadable"
                } else {
                    "kernel_log_line_not_seen"
                });
            }
        }
    }

    fn emit_all(&mut self, events: Vec<Event>) -> io::Result<()> {
        for mut ev in events {
            if let Event::Oom(oom) = &mut ev {
                self.complete(oom);
            }
            // Held for the runtime's names: decided now, with what the runtime said meanwhile.
            if self.wanted(&ev) != Some(true) {
                continue;
            }
            for place in places(&mut ev) {
                enrich(&self.cache, place);
            }
            match &mut ev {
                Event::Signal(_) => self.signals_seen += 1,
                Event::Exit(x) => {
                    self.pending.remove(&x.proc.pid);
                }
                Event::Oom(_) | Event::Lost { .. } => {}
            }
            if let Some(rules) = &self.redaction {
                crate::redact::redact_event(&mut ev, rules);
            }
            let annotated = self.story.annotate(ev);
            let mut line = Vec::with_capacity(2048);
            render::render(self.format, &self.ctx, &annotated, &mut line)?;
            self.metrics.count_event(&annotated.event);
            if !line.is_empty() {
                self.sinks.send(Record {
                    line: line.into(),
                    kind: kind(&annotated.event),
                    severity: severity(&annotated.event),
                    time_ns: self.ctx.event_ns(&annotated.event),
                });
            }
            if self.format == Format::Stap && !matches!(annotated.event, Event::Signal(_)) {
                // Not part of the systemtap script's output: say it on stderr.
                render::render(Format::Text, &self.ctx, &annotated, &mut io::stderr())?;
            }
            if self.done() {
                break;
            }
        }
        Ok(())
    }
}

/// The event's kind, as the JSON formats name it (the syslog MSGID).
fn kind(ev: &Event) -> &'static str {
    match ev {
        Event::Signal(_) => "signal",
        Event::Exit(_) => "exit",
        Event::Oom(_) => "oom",
        Event::Lost { .. } => "lost",
    }
}

/// Syslog severity: kills and losses are warnings, other signals notices, exits informational.
fn severity(ev: &Event) -> u8 {
    match ev {
        Event::Signal(s) if s.fatal() => 4,
        Event::Oom(_) | Event::Lost { .. } => 4,
        Event::Signal(_) => 5,
        Event::Exit(_) => 6,
    }
}
