//! End-to-end tests: the real exitwatch binary loads its kernel programs, real processes send
//! real signals, and each test checks the events a user would read.
//!
//! Needs root and a BPF-capable kernel. Run one test at a time:
//! `EXITWATCH_BIN=$PWD/target/x86_64-unknown-linux-gnu/release/exitwatch cargo test -p exitwatch-tests --test e2e -- --test-threads=1`
//! (or `cargo xtask test`). Each test starts its own exitwatch, scoped with `--pid` to its own
//! victims so that whatever else the machine does cannot disturb it; the few that must watch
//! the whole machine (pressure's cgroup.kill burst) pick out their own processes' events.

mod harness;
mod kube;
mod runtime;
mod schema;

mod containers;
mod delivery;
mod errors;
mod filter;
mod formats;
mod kernel;
mod lifecycle;
mod oom;
mod pressure;
mod sender;
mod siem;
mod story;
