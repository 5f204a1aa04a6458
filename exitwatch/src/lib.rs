//! exitwatch: who killed my process? The daemon behind the `exitwatch` binary.
//!
//! Every event takes one path, one way, through one room per stage:
//!
//! ```text
//!  kernel programs          reader           decode     pipeline ─────────────────────────────────────────────────────►  sink
//!  (exitwatch-ebpf)  ──►   fatal ring ──┐   bytes →  ─► assemble ─► enrich ─► correlate ─► story ─────► render ──────►  (io thread:
//!  signal_generate         non-fatal ───┴►  Record      (identity,  (World:   (OOM join,    (ids,         (text, stap,     stdout, file,
//!  (+ signal_identity)     ring: one turn   (pure)      cgroup      runtime   hold for      causes,       json, ecs,       syslog, http;
//!  sched_process_exit      of both, ordered             paths by    names,    names and     diagnoses)    ocsf; text       Outlet)
//!  sched_process_exec      by time; lost                id; pure)   /proc)    log lines)                  bursts; pure)
//!  mark_victim             and suppressed counts (I/O edge)
//! ```
//!
//! - I/O lives at the edges: [`reader`] (the BPF rings, mapped once; the aya maps), [`enrich::system`] (the runtimes'
//!   [`container::cache`], /proc, cgroupfs), [`kmsg`] (the kernel log), [`sink`] (outputs),
//!   [`metrics::server`], [`kube`] (the API server: this node's pods and the kubelet's
//!   Events in, Warning Events on pods out). [`app`] wires them: start → loop → shutdown.
//! - Everything between is pure and unit-tested without root: [`decode`], [`assemble`] (small
//!   records joined with the identities and cgroup paths the kernel sends once),
//!   [`pipeline`] (which takes a fake [`enrich::World`] and [`sink::Outlet`]), [`correlate`],
//!   [`story`], [`render`].
//! - Text output tells a burst (many signals from one sender into one container, and their
//!   exits) in one summary: [`render::burst`] holds it briefly, with time passed in.
//! - Facts about an event (kind, time, places, containers, severity) are methods on
//!   [`event::Event`]; no stage re-derives them.
//! - Before any of it: [`cli`] and [`config`] turn what the user typed into a checked
//!   configuration; [`btf`] and [`loader`] find the running kernel's offsets and load the
//!   programs; [`doctor`] checks a node; [`explain`] teaches exit codes.

// Start-up: settings, the kernel, the programs.
pub mod btf;
pub mod caps;
pub mod cli;
pub mod config;
pub mod loader;
pub mod units;

// The event path (the drawing above gives the order).
pub mod assemble;
pub mod correlate;
pub mod decode;
pub mod enrich;
pub mod event;
pub mod pipeline;
pub mod reader;
pub mod render;
pub mod sink;
pub mod story;

// What the stages ask about: the domain.
pub mod cgroupfs;
pub mod container;
pub mod escape;
pub mod exitstatus;
pub mod kmsg;
pub mod kube;
pub mod numhash;
pub mod oom;
pub mod procs;
pub mod receivers;
pub mod redact;
pub mod role;
pub mod signals;
pub mod timefmt;
pub mod users;

// The daemon and its other faces.
pub mod app;
pub mod clock;
pub mod doctor;
pub mod explain;
pub mod metrics;
pub mod sysexits;
