//! The event path after decode, in order: assemble (join records with the identities and
//! cgroup paths sent before them), enrich on arrival, correlate (hold what must wait),
//! then for each event released: complete, decide, name, redact, annotate (the story), gather
//! bursts (text only), render once, and hand to every output. No I/O: the node is a [`World`], the outputs an
//! [`Outlet`], and time is passed in, so every rule here is unit-tested.

mod question;
mod twins;

use std::io;
use std::sync::Arc;

pub use question::Question;

use crate::assemble::{Assembler, Forget};
use crate::container::cache::Lookup;
use crate::correlate::Correlator;
use crate::decode::Record;
use crate::enrich::{self, World};
use crate::event::{Event, Kind};
use crate::metrics::Metrics;
use crate::oom::OomContext;
use crate::redact::{self, Redaction};
use crate::render::burst::{Bursts, Out};
use crate::render::{self, Context, Format};
use crate::sink::{self, Outlet};
use crate::story::Story;
use question::Progress;
use twins::Twins;

/// How long an event about a container the runtime does not know yet waits for its names, at
/// most. Without a receiver filter it goes as soon as a listing that began after it completes;
/// with one, as soon as a listing names the container. A listing starts at most 200 ms after
/// being asked for and takes up to the cache's call timeout (1 s): this leaves a busy runtime
/// room for a second try before a kill of a just-started container is decided without its name.
pub const METADATA_WAIT_NS: u64 = 3_000_000_000;

/// How long a container runtime's signal into a pod waits for the kubelet's Event that says why
/// (it is sent as the kubelet asks the runtime to stop the container, and may arrive just after
/// the signal). Later events wait behind it: order is kept.
pub const KUBELET_WAIT_NS: u64 = 1_000_000_000;

/// Where events go: how they are rendered, the outputs, and the tallies.
pub struct Outputs<O> {
    pub format: Format,
    pub ctx: Context,
    pub outlet: O,
    pub metrics: Arc<Metrics>,
    /// Each event is rendered here, then copied once into the record every output shares.
    line: Vec<u8>,
}

impl<O> Outputs<O> {
    pub fn new(format: Format, ctx: Context, outlet: O, metrics: Arc<Metrics>) -> Self {
        Outputs {
            format,
            ctx,
            outlet,
            metrics,
            line: Vec::with_capacity(LINE_BUFFER),
        }
    }
}

/// The rendering buffer's room, kept between events (a line is at most 16 KiB; one that
/// needed more room, on its way to being shortened, does not keep it).
const LINE_BUFFER: usize = 32 << 10;

pub struct Pipeline<W, O> {
    assembler: Assembler,
    world: W,
    out: Outputs<O>,
    correlator: Correlator,
    story: Story,
    progress: Progress,
    /// Hide secrets in argv before any output sees them (`--redact-args`).
    redaction: Option<Redaction>,
    twins: Twins,
    /// The kernel log cannot be read: OOM kills will lack their log line, and say why.
    log_unreadable: bool,
    /// Text output's bursts, summarised; None lists every event (`--verbose`, other formats).
    bursts: Option<Bursts>,
    /// The latest time given (ns since boot), for what comes without one.
    now: u64,
    /// Where Warning Events for pods go (`--kube-events`).
    kube_events: Option<crate::kube::Poster>,
}

impl<W: World, O: Outlet> Pipeline<W, O> {
    pub fn new(
        world: W,
        out: Outputs<O>,
        question: Question,
        story: Story,
        log_unreadable: bool,
    ) -> Self {
        let bursts = (out.format == Format::Text).then(Bursts::default);
        Pipeline {
            assembler: Assembler::default(),
            world,
            out,
            correlator: Correlator::default(),
            story,
            progress: Progress::new(question),
            redaction: None,
            twins: Twins::default(),
            log_unreadable,
            bursts,
            now: 0,
            kube_events: None,
        }
    }

    /// Posts a Warning Event on the pod of each fatal signal, escalated stop and OOM kill.
    pub fn kube_events(mut self, poster: Option<crate::kube::Poster>) -> Self {
        self.kube_events = poster;
        self
    }

    /// Lists every event of a burst in text output instead of summarising it (`--verbose`).
    pub fn verbose(mut self, verbose: bool) -> Self {
        if verbose {
            self.bursts = None;
        }
        self
    }

    /// Redacts argv (sender's, OOM victim's) in every event from now on.
    pub fn redact(mut self, rules: Option<Redaction>) -> Self {
        self.redaction = rules;
        self
    }

    pub fn outlet_mut(&mut self) -> &mut O {
        &mut self.out.outlet
    }

    /// The wall-clock time of boot from now on (it moves when the clock is stepped).
    pub fn set_boot_epoch(&mut self, ns: i128) {
        self.out.ctx.boot_epoch_ns = ns;
    }

    /// True once the user's question is answered: every watched process ended, or the count.
    pub fn done(&self) -> bool {
        self.progress.done()
    }

    /// Is `pid` one of the `--pid`s that has not exited yet?
    pub fn is_pending(&self, pid: u32) -> bool {
        self.progress.is_pending(pid)
    }

    /// Stops waiting for `pid` (it ended before exitwatch attached; its end is unknown).
    pub fn forget(&mut self, pid: u32) {
        self.progress.forget(pid);
    }

    /// A record from the kernel, decoded, now: knowledge is kept, events go on complete.
    pub fn take(&mut self, record: Record, now: u64) -> io::Result<()> {
        match self.assembler.take(record) {
            Some(ev) => self.record(ev, now),
            None => Ok(()),
        }
    }

    /// What the assembler forgot since the last call (the kernel must forget it too).
    pub fn forgotten(&mut self) -> Forget {
        self.assembler.forgotten()
    }

    /// An event from the kernel, complete, now.
    pub fn record(&mut self, mut ev: Event, now: u64) -> io::Result<()> {
        self.now = self.now.max(now);
        if let Event::Exit(x) = &ev {
            if self.twins.repeats(x.proc.pid, x.time_ns) {
                return Ok(());
            }
        }
        // An OOM kill is decided once complete (its victim's cgroup may come from the log),
        // and what only /proc knows must be read before the victim is gone.
        let wanted = match &mut ev {
            Event::Oom(oom) => {
                enrich::oom_on_arrival(&self.world, oom);
                Some(true)
            }
            _ => self.progress.wanted(&ev, &self.world),
        };
        if wanted == Some(false) {
            return Ok(());
        }
        // A container the runtime does not know yet (just started): ask, and give it a moment.
        let unknown = ev.kind() != Kind::Oom && enrich::name_containers(&self.world, &mut ev);
        let ready = if unknown || wanted.is_none() {
            let ticket = self.world.ask_runtimes();
            self.correlator
                .push_after(ev, now + METADATA_WAIT_NS, ticket, now)
        } else if enrich::awaits_kubelet(&self.world, &ev, self.out.ctx.event_ns(&ev)) {
            // No runtime answer settles it (ticket MAX): the deadline does.
            self.correlator
                .push_after(ev, now + KUBELET_WAIT_NS, u64::MAX, now)
        } else {
            self.correlator.push(ev, now)
        };
        self.emit_all(ready)
    }

    /// Is an OOM kill waiting for its kernel log line (worth reading syslog(2) for)?
    pub fn wants_kernel_log(&self) -> bool {
        self.correlator.waiting_for_log()
    }

    pub fn kernel_log(&mut self, lines: Vec<OomContext>, now: u64) -> io::Result<()> {
        self.now = self.now.max(now);
        for line in lines {
            let ready = self.correlator.log(line, now);
            self.emit_all(ready)?;
        }
        Ok(())
    }

    /// The runtimes' listing number `answer` is in the cache: events waiting for names go.
    pub fn metadata_answered(&mut self, answer: u64, now: u64) -> io::Result<()> {
        self.now = self.now.max(now);
        let (world, filtering) = (&self.world, self.progress.filters_receivers());
        // Settled once every container it names is known, and the filters can decide.
        let settles = |ev: &Event| {
            !filtering
                || ev
                    .container_ids()
                    .all(|id| matches!(world.container(id), Lookup::Known(_)))
        };
        let ready = self.correlator.answered(answer, &settles, now);
        if self.correlator.waiting() {
            self.world.ask_runtimes();
        }
        self.emit_all(ready)
    }

    /// Time passed: releases what waited long enough.
    pub fn tick(&mut self, now: u64) -> io::Result<()> {
        self.now = self.now.max(now);
        let ready = self.correlator.release(now);
        self.emit_all(ready)?;
        let ended = self
            .bursts
            .as_mut()
            .map(|b| b.tick(now))
            .unwrap_or_default();
        self.send_all(ended)
    }

    /// When `tick` may next have something to release (ns since boot).
    pub fn next_deadline(&self) -> Option<u64> {
        let bursts = self.bursts.as_ref().and_then(Bursts::next_deadline);
        match (self.correlator.next_deadline(), bursts) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Releases everything still held (at shutdown).
    pub fn finish(&mut self) -> io::Result<()> {
        let rest = self.correlator.flush();
        self.emit_all(rest)?;
        let held = self.bursts.as_mut().map(Bursts::finish).unwrap_or_default();
        self.send_all(held)
    }

    /// Bypasses correlation (lost counts, exits found in /proc at start).
    pub fn emit_now(&mut self, ev: Event) -> io::Result<()> {
        self.emit_all([ev])
    }

    fn emit_all(&mut self, events: impl IntoIterator<Item = Event>) -> io::Result<()> {
        for mut ev in events {
            if let Event::Oom(oom) = &mut ev {
                enrich::oom_complete(&self.world, oom, self.log_unreadable);
            }
            // Held for the runtime's names: decided now, with what the runtime said meanwhile.
            if self.progress.wanted(&ev, &self.world) != Some(true) {
                continue;
            }
            enrich::name_containers(&self.world, &mut ev);
            self.progress.answered_by(&ev);
            if let Some(rules) = &self.redaction {
                redact::redact_event(&mut ev, rules);
            }
            let mut annotated = self.story.annotate(ev);
            let at = self.out.ctx.event_ns(&annotated.event);
            annotated.kubelet = enrich::kubelet_cause(&self.world, &annotated.event, at);
            self.out.metrics.count_event(&annotated.event);
            self.out
                .metrics
                .count_pod(&annotated.event, std::time::Instant::now());
            if let Some(poster) = &self.kube_events {
                let post = render::kube::note(&self.out.ctx, &annotated)
                    .and_then(|note| crate::kube::note::post_for(&annotated, note));
                if let Some(post) = post {
                    poster.send(post);
                }
            }
            match &mut self.bursts {
                Some(bursts) => {
                    let ready = bursts.take(annotated, self.now);
                    self.send_all(ready)?;
                }
                None => self.deliver(&Out::One(annotated))?,
            }
            if self.done() {
                break;
            }
        }
        Ok(())
    }

    fn send_all(&mut self, ready: Vec<Out>) -> io::Result<()> {
        ready.iter().try_for_each(|out| self.deliver(out))
    }

    /// Renders once and hands the line to every output.
    fn deliver(&mut self, ready: &Out) -> io::Result<()> {
        let Outputs {
            format,
            ctx,
            outlet,
            line,
            ..
        } = &mut self.out;
        line.clear();
        // A burst's summary stands for its events: it is filed as its first one.
        let annotated = match ready {
            Out::One(a) => {
                render::render(*format, ctx, a, line)?;
                a
            }
            Out::Burst(b) => {
                render::text_burst(ctx, b, line)?;
                &b.first
            }
        };
        if !line.is_empty() {
            // Structure for OTLP outputs, only when there is one: no cost otherwise.
            let otel = outlet
                .wants_otlp()
                .then(|| sink::otlp::log_record(ctx, annotated));
            outlet.send(sink::Record {
                line: line.as_slice().into(),
                kind: annotated.event.kind().as_str(),
                severity: annotated.event.severity() as u8,
                time_ns: ctx.event_ns(&annotated.event),
                otel,
            });
        }
        if *format == Format::Stap && annotated.event.kind() != Kind::Signal {
            // Not part of the systemtap script's output: say it on stderr.
            let mut text = Vec::new();
            render::render(Format::Text, ctx, annotated, &mut text)?;
            outlet.aside(&text)?;
        }
        if line.capacity() > LINE_BUFFER {
            *line = Vec::with_capacity(LINE_BUFFER);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
