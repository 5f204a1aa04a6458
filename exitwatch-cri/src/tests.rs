//! Pins every field number and wire type, and every enum value, to upstream's api.proto.
//!
//! The expected numbers were read from kubernetes/cri-api `pkg/apis/runtime/v1/api.proto`
//! (as the k8s-cri 0.11 crate ships it); a declaration that drifts from them fails here, not in a
//! cluster.

use std::collections::BTreeMap;

use prost::Message;

use super::*;

const VARINT: u64 = 0;
const LEN: u64 = 2;

/// The first field on the wire: its number, wire type and first payload byte. Varint fields are
/// set to 1 below, which a plain varint sends as 1 and a zigzag one (`sint64`) as 2.
fn first_field(bytes: &[u8]) -> (u64, u64, Option<u8>) {
    let mut key = 0u64;
    for (i, b) in bytes.iter().enumerate().take(10) {
        key |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return (key >> 3, key & 7, bytes.get(i + 1).copied());
        }
    }
    panic!("no field on the wire: {bytes:?}");
}

/// `Message.field = value` with every other field left at its default: its name, and the number
/// and wire type it goes out with.
macro_rules! alone {
    ($msg:ident . $field:ident = $value:expr) => {{
        // One-field messages have nothing left to default.
        #[allow(clippy::needless_update)]
        let msg = $msg {
            $field: $value,
            ..Default::default()
        };
        let name = concat!(stringify!($msg), ".", stringify!($field));
        (name, first_field(&msg.encode_to_vec()))
    }};
}

fn s() -> String {
    "x".into()
}

fn map() -> BTreeMap<String, String> {
    BTreeMap::from([(s(), s())])
}

#[test]
fn every_field_has_upstreams_number_and_wire_type() {
    let upstream = [
        (
            alone!(ListContainersResponse.containers = vec![Container::default()]),
            1,
            LEN,
        ),
        (alone!(Container.id = s()), 1, LEN),
        (alone!(Container.pod_sandbox_id = s()), 2, LEN),
        (
            alone!(Container.metadata = Some(Default::default())),
            3,
            LEN,
        ),
        (alone!(Container.image = Some(Default::default())), 4, LEN),
        (alone!(Container.image_ref = s()), 5, LEN),
        (alone!(Container.labels = map()), 8, LEN),
        (
            alone!(ListPodSandboxResponse.items = vec![PodSandbox::default()]),
            1,
            LEN,
        ),
        (alone!(PodSandbox.id = s()), 1, LEN),
        (
            alone!(PodSandbox.metadata = Some(Default::default())),
            2,
            LEN,
        ),
        (alone!(PodSandbox.labels = map()), 5, LEN),
        (alone!(PodSandboxMetadata.name = s()), 1, LEN),
        (alone!(PodSandboxMetadata.uid = s()), 2, LEN),
        (alone!(PodSandboxMetadata.namespace = s()), 3, LEN),
        (alone!(PodSandboxMetadata.attempt = 1), 4, VARINT),
        (alone!(ContainerMetadata.name = s()), 1, LEN),
        (alone!(ContainerMetadata.attempt = 1), 2, VARINT),
        (alone!(ImageSpec.image = s()), 1, LEN),
        (alone!(ImageSpec.user_specified_image = s()), 18, LEN),
        (alone!(NamespaceOption.network = 1), 1, VARINT),
        (alone!(NamespaceOption.pid = 1), 2, VARINT),
        (alone!(NamespaceOption.ipc = 1), 3, VARINT),
        (
            alone!(LinuxSandboxSecurityContext.namespace_options = Some(Default::default())),
            1,
            LEN,
        ),
        (alone!(LinuxPodSandboxConfig.cgroup_parent = s()), 1, LEN),
        (
            alone!(LinuxPodSandboxConfig.security_context = Some(Default::default())),
            2,
            LEN,
        ),
        (
            alone!(PodSandboxConfig.metadata = Some(Default::default())),
            1,
            LEN,
        ),
        (alone!(PodSandboxConfig.hostname = s()), 2, LEN),
        (alone!(PodSandboxConfig.labels = map()), 6, LEN),
        (
            alone!(PodSandboxConfig.linux = Some(Default::default())),
            8,
            LEN,
        ),
        (
            alone!(RunPodSandboxRequest.config = Some(Default::default())),
            1,
            LEN,
        ),
        (alone!(RunPodSandboxResponse.pod_sandbox_id = s()), 1, LEN),
        (alone!(StopPodSandboxRequest.pod_sandbox_id = s()), 1, LEN),
        (alone!(LinuxContainerResources.oom_score_adj = 1), 5, VARINT),
        (
            alone!(LinuxContainerSecurityContext.namespace_options = Some(Default::default())),
            3,
            LEN,
        ),
        (
            alone!(LinuxContainerConfig.resources = Some(Default::default())),
            1,
            LEN,
        ),
        (
            alone!(LinuxContainerConfig.security_context = Some(Default::default())),
            2,
            LEN,
        ),
        (
            alone!(ContainerConfig.metadata = Some(Default::default())),
            1,
            LEN,
        ),
        (
            alone!(ContainerConfig.image = Some(Default::default())),
            2,
            LEN,
        ),
        (alone!(ContainerConfig.command = vec![s()]), 3, LEN),
        (alone!(ContainerConfig.labels = map()), 9, LEN),
        (
            alone!(ContainerConfig.linux = Some(Default::default())),
            15,
            LEN,
        ),
        (alone!(CreateContainerRequest.pod_sandbox_id = s()), 1, LEN),
        (
            alone!(CreateContainerRequest.config = Some(Default::default())),
            2,
            LEN,
        ),
        (
            alone!(CreateContainerRequest.sandbox_config = Some(Default::default())),
            3,
            LEN,
        ),
        (alone!(CreateContainerResponse.container_id = s()), 1, LEN),
        (alone!(StartContainerRequest.container_id = s()), 1, LEN),
        (alone!(StopContainerRequest.container_id = s()), 1, LEN),
        (alone!(StopContainerRequest.timeout = 1), 2, VARINT),
        (alone!(StatusRequest.verbose = true), 1, VARINT),
        (alone!(StatusResponse.info = map()), 2, LEN),
    ];
    let wrong: Vec<String> = upstream
        .iter()
        .filter(|((_, (tag, wire, payload)), want_tag, want_wire)| {
            (tag, wire) != (want_tag, want_wire) || (*wire == VARINT && *payload != Some(1))
        })
        .map(|((name, (tag, wire, payload)), want_tag, want_wire)| {
            format!("{name} goes out as field {tag} wire type {wire} (payload {payload:?}), upstream says field {want_tag} wire type {want_wire}")
        })
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn namespace_modes_have_upstreams_values() {
    assert_eq!(
        [
            NamespaceMode::Pod,
            NamespaceMode::Container,
            NamespaceMode::Node
        ]
        .map(|m| m as i32),
        [0, 1, 2]
    );
}

#[test]
fn every_call_is_a_runtime_service_method() {
    let calls = [
        call::LIST_CONTAINERS,
        call::LIST_POD_SANDBOX,
        call::RUN_POD_SANDBOX,
        call::STOP_POD_SANDBOX,
        call::REMOVE_POD_SANDBOX,
        call::CREATE_CONTAINER,
        call::START_CONTAINER,
        call::STOP_CONTAINER,
        call::STATUS,
    ];
    for path in calls {
        let method = path.strip_prefix("/runtime.v1.RuntimeService/");
        assert!(
            method.is_some_and(|m| m.chars().all(|c| c.is_ascii_alphabetic())),
            "{path}"
        );
    }
}

#[test]
fn decoding_skips_fields_not_declared_here() {
    let container = Container {
        id: s(),
        labels: map(),
        ..Default::default()
    };
    // Field 6 (state, varint 1) and 7 (created_at, varint 150) are sent by runtimes, not read.
    let mut bytes = container.encode_to_vec();
    bytes.extend([0x30, 0x01, 0x38, 0x96, 0x01]);
    assert_eq!(Container::decode(bytes.as_slice()).ok(), Some(container));
}
