use std::collections::HashMap;

use super::*;
use crate::container::meta::{Metadata, PodMeta};
use crate::container::path::Runtime;
use crate::oom::{Constraint, OomContext};
use crate::render::fixtures;

/// A node whose runtimes know `known`, or do not answer at all.
#[derive(Default)]
struct Node {
    known: HashMap<String, Metadata>,
    down: Option<String>,
    usage: Option<Usage>,
    /// The API's pods: (pod uid, container id) → what it says.
    api: HashMap<(String, String), Confirmed>,
}

impl World for Node {
    fn container(&self, id: &str) -> Lookup {
        match (&self.down, self.known.get(id)) {
            (_, Some(m)) => Lookup::Known(m.clone()),
            (Some(why), None) => Lookup::Unavailable(why.clone()),
            (None, None) => Lookup::Unknown,
        }
    }
    fn ask_runtimes(&self) -> u64 {
        0
    }
    fn cmdline(&self, _pid: u32) -> Option<Vec<Vec<u8>>> {
        None
    }
    fn memory_cgroup(&self, _pid: u32) -> Option<String> {
        None
    }
    fn memcg_usage(&self, _path: &str) -> Usage {
        self.usage.unwrap_or(Usage::NoHierarchy)
    }
    fn api_pod(&self, uid: &str, id: &str) -> Option<Confirmed> {
        self.api.get(&(uid.to_owned(), id.to_owned())).cloned()
    }
}

fn unconfirmed(digit: char) -> Place {
    let mut p = place(digit);
    let pod = p.container.as_mut().unwrap().pod.as_mut().unwrap();
    (pod.name, pod.namespace, pod.confirmed_by) = (None, None, None);
    p
}

#[test]
fn a_pod_only_the_cgroup_path_claims_is_not_believed() {
    let node = Node::default();
    let mut p = unconfirmed('c');
    name_container(&node, &mut p);
    let pod = p.container.unwrap().pod.unwrap();
    assert_eq!(pod.confirmed_by, None);
    assert_eq!(pod.name, None);
}

#[test]
fn the_api_confirms_a_pod_and_its_names_survive_the_second_naming() {
    let id = "c".repeat(64);
    let uid = "0a1b2c3d-0000-1111-2222-333344445555".to_owned();
    // The runtime knows the container but has no name or pod for it (a plain ctr container).
    let node = Node {
        known: [(id.clone(), Metadata::new(&id, Runtime::Containerd))].into(),
        api: [(
            (uid, id),
            Confirmed {
                name: "web".into(),
                namespace: "shop".into(),
                container: Some("app".into()),
            },
        )]
        .into(),
        ..Node::default()
    };
    let mut p = unconfirmed('c');
    name_container(&node, &mut p);
    name_container(&node, &mut p);
    let c = p.container.unwrap();
    assert_eq!(c.name.as_deref(), Some("app"));
    let pod = c.pod.unwrap();
    assert_eq!(pod.confirmed_by, Some(ConfirmedBy::Api));
    assert_eq!(
        (pod.name.as_deref(), pod.namespace.as_deref()),
        (Some("web"), Some("shop"))
    );
}

fn place(digit: char) -> Place {
    let mut p = fixtures::in_pod(digit, "from-the-kernel", "?");
    let c = p.container.as_mut().unwrap();
    (c.name, c.image) = (None, None);
    p
}

#[test]
fn a_known_container_gets_its_names_and_keeps_its_qos() {
    let id = "b".repeat(64);
    let mut m = Metadata::new(&id, Runtime::Containerd);
    m.name = Some("nginx".into());
    m.image = Some("nginx:1.27".into());
    m.pod = Some(PodMeta {
        name: "web".into(),
        namespace: "shop".into(),
        uid: "u".into(),
    });
    let node = Node {
        known: [(id, m)].into(),
        ..Node::default()
    };
    let mut p = place('b');
    assert!(!name_container(&node, &mut p));
    let c = p.container.unwrap();
    assert_eq!(
        (c.name.as_deref(), c.image.as_deref()),
        (Some("nginx"), Some("nginx:1.27"))
    );
    let pod = c.pod.unwrap();
    assert_eq!(
        (pod.name.as_deref(), pod.namespace.as_deref()),
        (Some("web"), Some("shop"))
    );
    assert!(
        pod.qos.is_some(),
        "the QoS class comes from the cgroup path"
    );
    assert_eq!(c.metadata, MetadataStatus::Complete);
}

#[test]
fn unknown_and_unavailable_say_so() {
    let mut p = place('c');
    assert!(
        name_container(&Node::default(), &mut p),
        "unknown: worth asking again"
    );
    assert_eq!(
        p.container.as_ref().unwrap().metadata,
        MetadataStatus::NotFound
    );
    let down = Node {
        down: Some("no runtime socket".into()),
        ..Node::default()
    };
    let mut p = place('c');
    assert!(!name_container(&down, &mut p), "asking again will not help");
    assert_eq!(
        p.container.unwrap().metadata,
        MetadataStatus::Unavailable("no runtime socket".into())
    );
    let mut host = Place::default();
    assert!(!name_container(&Node::default(), &mut host));
}

#[test]
fn an_oom_kill_without_a_recorded_place_is_placed_by_its_memory_cgroup() {
    let mut oom = fixtures::memcg_oom();
    oom.context.as_mut().unwrap().task_memcg = Some(format!("/docker/{}", "d".repeat(64)));
    let node = Node {
        usage: Some(Usage::Unreadable),
        ..Node::default()
    };
    oom.memcg_usage = None;
    oom_complete(&node, &mut oom, false);
    assert_eq!(oom.victim_place.container.unwrap().id, "d".repeat(64));
    assert_eq!(oom.missing, ["memcg.limit_bytes"]);
}

#[test]
fn an_oom_kill_takes_its_name_from_the_log_when_the_kernel_could_not() {
    let mut oom = fixtures::memcg_oom();
    oom.victim.comm.clear();
    oom.missing = vec!["victim.comm"];
    oom.context = Some(OomContext {
        constraint: Constraint::Memcg,
        oom_memcg: None,
        task_memcg: None,
        pid: oom.victim.pid,
        task: "java".into(),
    });
    oom_complete(&Node::default(), &mut oom, false);
    assert_eq!(oom.victim.comm, b"java");
    assert!(oom.missing.is_empty(), "{:?}", oom.missing);
}
