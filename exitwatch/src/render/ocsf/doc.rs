//! The shape of an OCSF event as exitwatch writes it (serde structs borrowing from the event).

use serde::Serialize;

use crate::render::extra::Extra;

#[derive(Serialize)]
pub(super) struct Doc<'a> {
    pub(super) class_uid: u32,
    pub(super) class_name: &'static str,
    pub(super) category_uid: u32,
    pub(super) category_name: &'static str,
    pub(super) activity_id: u32,
    pub(super) activity_name: &'static str,
    pub(super) type_uid: u32,
    pub(super) type_name: String,
    pub(super) severity_id: u8,
    pub(super) severity: &'static str,
    pub(super) status_id: u8,
    pub(super) status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) status_detail: Option<&'static str>,
    /// Unix epoch milliseconds.
    pub(super) time: i64,
    pub(super) message: String,
    pub(super) metadata: Metadata<'a>,
    pub(super) device: Device<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) actor: Option<Actor<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) process: Option<Process<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) exit_code: Option<u8>,
    /// Event Log Activity: how many records were lost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) log_provider: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) log_name: Option<&'static str>,
    pub(super) unmapped: Extra<'a>,
}

#[derive(Serialize)]
pub(super) struct Metadata<'a> {
    /// The OCSF schema version.
    pub(super) version: &'static str,
    pub(super) product: Product,
    /// The exitwatch event id.
    pub(super) uid: &'a str,
    /// Shared by a signal or OOM kill and the exit it caused: the first event's id.
    pub(super) correlation_uid: &'a str,
    pub(super) profiles: [&'static str; 1],
}

#[derive(Serialize)]
pub(super) struct Product {
    pub(super) name: &'static str,
    pub(super) vendor_name: &'static str,
    pub(super) version: &'static str,
}

#[derive(Serialize)]
pub(super) struct Device<'a> {
    pub(super) hostname: &'a str,
    /// 0 Unknown: exitwatch does not know whether its node is a server, a VM or a laptop.
    pub(super) type_id: u8,
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    pub(super) os: Os,
}

#[derive(Serialize)]
pub(super) struct Os {
    pub(super) name: &'static str,
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    pub(super) type_id: u16,
}

#[derive(Serialize, Default)]
pub(super) struct Actor<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) process: Option<Process<'a>>,
    /// "kernel" when the kernel acted on its own (a fault, a timer, the OOM killer...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) app_name: Option<&'static str>,
}

#[derive(Serialize, Default)]
pub(super) struct Process<'a> {
    pub(super) pid: u32,
    pub(super) tid: u32,
    pub(super) name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) cmd_line: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) file: Option<File>,
    /// The effective user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) user: Option<User<'a>>,
    /// Unix epoch milliseconds.
    pub(super) created_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) terminated_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) parent_process: Option<Parent>,
    /// The pid inside the process's own pid namespace (container profile).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) namespace_pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) container: Option<Container<'a>>,
}

#[derive(Serialize)]
pub(super) struct File {
    pub(super) name: String,
    pub(super) path: String,
    /// 1 Regular File.
    pub(super) type_id: u8,
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
}

#[derive(Serialize)]
pub(super) struct User<'a> {
    pub(super) uid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) name: Option<&'a str>,
}

#[derive(Serialize)]
pub(super) struct Parent {
    pub(super) pid: u32,
    pub(super) name: String,
    pub(super) created_time: i64,
}

#[derive(Serialize)]
pub(super) struct Container<'a> {
    pub(super) uid: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) image: Option<Image<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) runtime: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) orchestrator: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) pod_uuid: Option<&'a str>,
}

#[derive(Serialize)]
pub(super) struct Image<'a> {
    pub(super) name: &'a str,
}
