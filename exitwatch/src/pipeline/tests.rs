use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use serde_json::Value;

use super::*;
use crate::container::identity::MetadataStatus;
use crate::container::meta::Metadata;
use crate::container::path::Runtime;
use crate::container::watch::Filter;
use crate::correlate::OOM_MAX_HOLD_NS;
use crate::enrich::Usage;
use crate::event::{ExitEvent, Place, SignalEvent};
use crate::exitstatus::ExitStatus;
use crate::procs::Watched;
use crate::render::fixtures;
use crate::story::Rules;

/// The node as the test says it is; shared with the pipeline, so a test can change it.
#[derive(Default)]
struct Node {
    known: RefCell<HashMap<String, Metadata>>,
    /// Listings asked for.
    asked: Cell<u64>,
    /// The latest listing started.
    ticket: Cell<u64>,
    cmdlines: HashMap<u32, Vec<Vec<u8>>>,
    cgroups: HashMap<u32, String>,
    /// The Kubernetes API is watched, and the kubelet's decision it has seen so far.
    kube: Cell<bool>,
    kubelet: RefCell<Option<crate::kube::view::KubeletCause>>,
}

impl Node {
    fn learn(&self, id: &str, name: &str) {
        let mut m = Metadata::new(id, Runtime::Containerd);
        m.name = Some(name.into());
        self.known.borrow_mut().insert(id.into(), m);
    }
}

impl World for Rc<Node> {
    fn container(&self, id: &str) -> Lookup {
        self.known
            .borrow()
            .get(id)
            .cloned()
            .map_or(Lookup::Unknown, Lookup::Known)
    }

    fn ask_runtimes(&self) -> u64 {
        self.asked.set(self.asked.get() + 1);
        self.ticket.get()
    }

    fn cmdline(&self, pid: u32) -> Option<Vec<Vec<u8>>> {
        self.cmdlines.get(&pid).cloned()
    }

    fn memory_cgroup(&self, pid: u32) -> Option<String> {
        self.cgroups.get(&pid).cloned()
    }

    fn memcg_usage(&self, _path: &str) -> Usage {
        Usage::Unreadable
    }
    fn kube_watching(&self) -> bool {
        self.kube.get()
    }
    fn kubelet_cause(
        &self,
        _uid: &str,
        _container: Option<&str>,
        _at_ns: i128,
    ) -> Option<crate::kube::view::KubeletCause> {
        self.kubelet.borrow().clone()
    }
}

/// What the outputs and stderr were given.
#[derive(Default)]
struct Collected {
    records: Vec<crate::sink::Record>,
    aside: Vec<u8>,
    /// Play an OTLP output: ask for each event's LogRecord.
    otlp: bool,
}

#[derive(Clone, Default)]
struct Outs(Rc<RefCell<Collected>>);

impl Outlet for Outs {
    fn send(&mut self, record: crate::sink::Record) {
        self.0.borrow_mut().records.push(record);
    }

    fn aside(&mut self, text: &[u8]) -> io::Result<()> {
        self.0.borrow_mut().aside.extend_from_slice(text);
        Ok(())
    }

    fn wants_otlp(&self) -> bool {
        self.0.borrow().otlp
    }
}

impl Outs {
    /// The JSON lines delivered so far.
    fn json(&self) -> Vec<Value> {
        self.0
            .borrow()
            .records
            .iter()
            .map(|r| serde_json::from_slice(&r.line).expect("one JSON line"))
            .collect()
    }
}

struct Setup {
    format: Format,
    question: Question,
    log_unreadable: bool,
    node: Node,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            format: Format::Json,
            question: Question {
                pending: BTreeMap::new(),
                count: None,
                receivers: Filter::default(),
            },
            log_unreadable: false,
            node: Node::default(),
        }
    }
}

impl Setup {
    fn start(self) -> (Pipeline<Rc<Node>, Outs>, Rc<Node>, Outs) {
        let node = Rc::new(self.node);
        let outs = Outs::default();
        let pipe = Pipeline::new(
            Rc::clone(&node),
            Outputs::new(self.format, fixtures::ctx(), outs.clone(), Metrics::new()),
            self.question,
            Story::new("t".into(), Rules::default()),
            self.log_unreadable,
        );
        (pipe, node, outs)
    }
}

const NOW: u64 = 1_000_000_000_000;

/// A container place as the kernel reports it: the cgroup path's ids, no names yet.
fn unnamed(digit: char) -> Place {
    let mut place = fixtures::in_pod(digit, "ignored", "ignored");
    let c = place.container.as_mut().expect("in a container");
    (c.name, c.image, c.metadata) = (None, None, MetadataStatus::NotFound);
    if let Some(pod) = &mut c.pod {
        (pod.name, pod.namespace) = (None, None);
    }
    place
}

fn id(digit: char) -> String {
    std::iter::repeat_n(digit, 64).collect()
}

/// `pkill -9 server` whose target lives in container `digit`.
fn kill_into(digit: char) -> Event {
    let mut s: SignalEvent = fixtures::pkill_kills_server();
    s.target_place = unnamed(digit);
    Event::Signal(s)
}

fn exit_of(pid: u32, time_ns: u64) -> Event {
    let mut proc = fixtures::pkill_kills_server().target;
    proc.pid = pid;
    Event::Exit(ExitEvent {
        time_ns,
        status: ExitStatus::from_signal(9, false),
        proc,
        place: Place::default(),
    })
}

fn receivers(containers: &[&str]) -> Question {
    Question {
        pending: BTreeMap::new(),
        count: None,
        receivers: Filter {
            containers: containers.iter().map(|c| c.to_string()).collect(),
            ..Filter::default()
        },
    }
}

#[test]
fn a_host_signal_is_rendered_once_with_its_kind_and_severity() {
    let (mut pipe, node, outs) = Setup::default().start();
    pipe.record(Event::Signal(fixtures::pkill_kills_server()), NOW)
        .unwrap();
    let collected = outs.0.borrow();
    assert_eq!(collected.records.len(), 1);
    let r = &collected.records[0];
    assert_eq!(
        (r.kind, r.severity),
        ("signal", 4),
        "a delivered SIGKILL is a warning"
    );
    assert_eq!(
        r.time_ns,
        fixtures::ctx().wall_ns(fixtures::pkill_kills_server().time_ns)
    );
    assert!(collected.aside.is_empty());
    assert_eq!(node.asked.get(), 0, "a host process needs no runtime");
}

#[test]
fn a_log_record_is_made_only_for_an_otlp_output() {
    let (mut pipe, _node, outs) = Setup::default().start();
    pipe.record(Event::Signal(fixtures::pkill_kills_server()), NOW)
        .unwrap();
    assert!(outs.0.borrow().records[0].otel.is_none());
    outs.0.borrow_mut().otlp = true;
    let mut later = fixtures::pkill_kills_server();
    later.time_ns += 1;
    pipe.record(Event::Signal(later), NOW).unwrap();
    let collected = outs.0.borrow();
    let otel = collected.records[1].otel.as_ref().expect("a LogRecord");
    assert_eq!(otel.event_name, "exitwatch.signal");
    assert!(otel.attributes.iter().any(|kv| kv.key == "process.pid"));
}

#[test]
fn twin_exits_of_one_process_are_reported_once() {
    let (mut pipe, _node, outs) = Setup::default().start();
    pipe.record(exit_of(42, NOW), NOW).unwrap();
    pipe.record(exit_of(42, NOW + 3_000), NOW).unwrap();
    pipe.record(exit_of(43, NOW + 3_000), NOW).unwrap();
    let pids: Vec<u64> = outs
        .json()
        .iter()
        .map(|v| v["target"]["pid"].as_u64().unwrap())
        .collect();
    assert_eq!(pids, [42, 43]);
}

#[test]
fn an_unknown_container_waits_for_the_runtime_and_goes_when_a_later_listing_answers() {
    let (mut pipe, node, outs) = Setup::default().start();
    node.ticket.set(7);
    pipe.record(kill_into('c'), NOW).unwrap();
    assert!(outs.json().is_empty(), "held for the runtime's names");
    assert_eq!(node.asked.get(), 1, "the runtime was asked at once");
    assert_eq!(pipe.next_deadline(), Some(NOW + METADATA_WAIT_NS));
    // A listing that began before the event cannot have seen the container.
    node.learn(&id('c'), "api");
    pipe.metadata_answered(7, NOW + 1).unwrap();
    assert!(outs.json().is_empty());
    pipe.metadata_answered(8, NOW + 2).unwrap();
    let out = outs.json();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["target"]["container"]["name"], "api");
    assert_eq!(out[0]["target"]["container"]["metadata"], "complete");
}

#[test]
fn an_unknown_container_goes_without_names_when_its_wait_is_over() {
    let (mut pipe, _node, outs) = Setup::default().start();
    pipe.record(kill_into('c'), NOW).unwrap();
    pipe.tick(NOW + METADATA_WAIT_NS - 1).unwrap();
    assert!(outs.json().is_empty());
    pipe.tick(NOW + METADATA_WAIT_NS).unwrap();
    let out = outs.json();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["target"]["container"]["id"], id('c'));
    assert_eq!(out[0]["target"]["container"]["metadata"], "not_found");
}

#[test]
fn later_events_do_not_overtake_one_that_waits() {
    let (mut pipe, node, outs) = Setup::default().start();
    pipe.record(kill_into('c'), NOW).unwrap();
    pipe.record(exit_of(42, NOW), NOW).unwrap();
    assert!(
        outs.json().is_empty(),
        "the exit waits behind the held signal"
    );
    node.learn(&id('c'), "api");
    pipe.metadata_answered(1, NOW + 1).unwrap();
    let kinds: Vec<Value> = outs.json().iter().map(|v| v["event"].clone()).collect();
    assert_eq!(kinds, ["signal", "exit"]);
}

#[test]
fn stap_prints_signals_to_the_outputs_and_everything_else_to_stderr() {
    let setup = Setup {
        format: Format::Stap,
        ..Setup::default()
    };
    let (mut pipe, _node, outs) = setup.start();
    pipe.record(Event::Signal(fixtures::pkill_kills_server()), NOW)
        .unwrap();
    pipe.record(exit_of(7942, NOW), NOW).unwrap();
    let collected = outs.0.borrow();
    assert_eq!(
        collected.records.len(),
        1,
        "only the signal is the script's"
    );
    let line = String::from_utf8_lossy(&collected.records[0].line);
    assert!(
        line.starts_with("pkill(23549) send SIGKILL to server(7942)\n"),
        "{line}"
    );
    let aside = String::from_utf8_lossy(&collected.aside);
    assert!(aside.contains("server(7942) exited with 137"), "{aside}");
    assert!(!aside.contains("send SIGKILL"), "{aside}");
}

#[test]
fn redaction_reaches_every_output() {
    let (pipe, _node, outs) = Setup::default().start();
    let mut pipe = pipe.redact(Some(crate::redact::Redaction::default()));
    let mut s = fixtures::pkill_kills_server();
    s.sender.actor_mut().args = vec![b"mysql".to_vec(), b"--password=hunter2".to_vec()].into();
    pipe.record(Event::Signal(s), NOW).unwrap();
    let line = String::from_utf8_lossy(&outs.0.borrow().records[0].line).into_owned();
    assert!(!line.contains("hunter2"), "{line}");
}

#[test]
fn lost_records_bypass_correlation() {
    let (mut pipe, _node, outs) = Setup::default().start();
    pipe.record(kill_into('c'), NOW).unwrap();
    pipe.emit_now(Event::Lost {
        count: 5,
        class: crate::event::LossClass::NonFatal,
    })
    .unwrap();
    let out = outs.json();
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0]["event"].as_str(), out[0]["count"].as_u64()),
        (Some("lost"), Some(5))
    );
}

mod burst;
mod oom;
mod question;

/// containerd-shim SIGKILLs nginx in a pod the runtime confirmed.
fn runtime_kill_in_pod(node: &Node) -> Event {
    let mut s = fixtures::kill_in_pod();
    s.signo = 9;
    let crate::event::Sender::Process(a) = &mut s.sender else {
        unreachable!()
    };
    a.proc.comm = b"containerd-shim".to_vec();
    a.place = Place::default();
    let c = s.target_place.container.as_ref().unwrap();
    node.learn(&c.id, "nginx");
    Event::Signal(s)
}

#[test]
fn a_runtimes_kill_in_a_pod_waits_briefly_for_the_kubelets_reason() {
    let (mut pipe, node, outs) = Setup::default().start();
    node.kube.set(true);
    pipe.record(runtime_kill_in_pod(&node), NOW).unwrap();
    assert!(outs.json().is_empty(), "held for the kubelet's Event");
    assert_eq!(pipe.next_deadline(), Some(NOW + KUBELET_WAIT_NS));
    *node.kubelet.borrow_mut() = Some(crate::kube::view::KubeletCause {
        reason: "Killing".into(),
        message: "Stopping container nginx".into(),
        time_ns: 0,
    });
    pipe.tick(NOW + KUBELET_WAIT_NS).unwrap();
    let out = outs.json();
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0]["cause"]["kubelet"]["message"],
        "Stopping container nginx"
    );
    // Already explained: no wait.
    pipe.record(runtime_kill_in_pod(&node), NOW + KUBELET_WAIT_NS + 1)
        .unwrap();
    assert_eq!(outs.json().len(), 2);
}

#[test]
fn without_the_api_or_from_another_sender_nothing_waits_for_the_kubelet() {
    let (mut pipe, node, outs) = Setup::default().start();
    pipe.record(runtime_kill_in_pod(&node), NOW).unwrap();
    assert_eq!(outs.json().len(), 1, "the API is not watched");
    assert!(outs.json()[0].get("cause").is_none());
    node.kube.set(true);
    let mut ev = fixtures::kill_in_pod();
    ev.signo = 9;
    node.learn(&ev.target_place.container.as_ref().unwrap().id, "nginx");
    node.learn(&id('a'), "sidecar");
    pipe.record(Event::Signal(ev), NOW + 1).unwrap();
    assert_eq!(
        outs.json().len(),
        2,
        "kill(1) from another container: not the kubelet's doing"
    );
}
