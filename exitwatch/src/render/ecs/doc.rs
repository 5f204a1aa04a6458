//! The shape of an ECS document as exitwatch writes it (serde structs borrowing from the event).

use serde::Serialize;

use crate::render::extra::{Extra, SignalX};
use crate::timefmt::Rfc3339;

#[derive(Serialize)]
pub(super) struct Doc<'a> {
    #[serde(rename = "@timestamp")]
    pub(super) timestamp: Rfc3339,
    pub(super) message: String,
    pub(super) ecs: Version,
    pub(super) event: EventF<'a>,
    pub(super) host: Host<'a>,
    pub(super) observer: Observer,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) process: Option<ProcessF<'a>>,
    /// `container.*` and `orchestrator.*` of the process in `process.*`.
    #[serde(flatten)]
    pub(super) place: PlaceF<'a>,
    #[serde(rename = "Target", skip_serializing_if = "Option::is_none")]
    pub(super) target: Option<TargetF<'a>>,
    #[serde(rename = "Signal", skip_serializing_if = "Option::is_none")]
    pub(super) signal: Option<SignalX>,
    pub(super) exitwatch: Extra<'a>,
}

#[derive(Serialize)]
pub(super) struct Version {
    pub(super) version: &'static str,
}

#[derive(Serialize)]
pub(super) struct EventF<'a> {
    pub(super) kind: &'static str,
    pub(super) category: [&'static str; 1],
    #[serde(rename = "type")]
    pub(super) kind_of: [&'static str; 1],
    pub(super) action: &'static str,
    pub(super) id: &'a str,
    pub(super) reason: String,
    pub(super) module: &'static str,
}

#[derive(Serialize)]
pub(super) struct Host<'a> {
    pub(super) name: &'a str,
}

#[derive(Serialize)]
pub(super) struct Observer {
    pub(super) product: &'static str,
    pub(super) vendor: &'static str,
    /// ECS lists no fixed values; "sensor" is its example for a host agent that observes.
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    pub(super) version: &'static str,
}

#[derive(Serialize, Default)]
pub(super) struct ProcessF<'a> {
    pub(super) pid: u32,
    /// The pid inside the process's own pid namespace (ECS `process.vpid`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) vpid: Option<u32>,
    pub(super) name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) executable: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) args: Option<Vec<String>>,
    /// How many arguments the process was started with, even when `args` is cut.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) args_count: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) command_line: Option<String>,
    pub(super) start: Rfc3339,
    pub(super) thread: Thread,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) parent: Option<ParentF>,
    /// ECS: `user` is the effective user, `real_user` the real one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) user: Option<UserF<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) real_user: Option<UserF<'a>>,
    /// The kernel records the real gid only (`cred->gid`), so no `process.group`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) real_group: Option<GroupF>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) exit_code: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) end: Option<Rfc3339>,
}

#[derive(Serialize, Default)]
pub(super) struct Thread {
    pub(super) id: u32,
}

#[derive(Serialize)]
pub(super) struct ParentF {
    pub(super) pid: u32,
    pub(super) name: String,
    pub(super) start: Rfc3339,
}

#[derive(Serialize)]
pub(super) struct UserF<'a> {
    pub(super) id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) name: Option<&'a str>,
}

#[derive(Serialize)]
pub(super) struct GroupF {
    pub(super) id: String,
}

#[derive(Serialize, Default)]
pub(super) struct PlaceF<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) container: Option<ContainerF<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) orchestrator: Option<OrchestratorF<'a>>,
}

#[derive(Serialize)]
pub(super) struct ContainerF<'a> {
    pub(super) id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) image: Option<ImageF<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) runtime: Option<&'static str>,
}

#[derive(Serialize)]
pub(super) struct ImageF<'a> {
    pub(super) name: &'a str,
}

#[derive(Serialize)]
pub(super) struct OrchestratorF<'a> {
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) namespace: Option<&'a str>,
    pub(super) resource: ResourceF<'a>,
}

#[derive(Serialize)]
pub(super) struct ResourceF<'a> {
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) name: Option<&'a str>,
    pub(super) id: &'a str,
}

#[derive(Serialize)]
pub(super) struct TargetF<'a> {
    pub(super) process: ProcessF<'a>,
    #[serde(flatten)]
    pub(super) place: PlaceF<'a>,
}
