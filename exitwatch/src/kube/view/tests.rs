use super::*;

const S: i128 = 1_000_000_000;
const T: i128 = 1_800_000_000 * S;

fn pod(uid: &str, grace: Option<i64>) -> Pod {
    Pod {
        uid: uid.into(),
        name: "web-1".into(),
        namespace: "shop".into(),
        containers: vec![Container {
            id: "a".repeat(64),
            name: "app".into(),
        }],
        grace_s: grace,
        deletion: None,
    }
}

fn note(reason: &str, message: &str, at: i128, container: Option<&str>) -> Note {
    Note {
        reason: reason.into(),
        message: message.into(),
        time_ns: at,
        container: container.map(str::to_owned),
    }
}

#[test]
fn a_container_is_confirmed_only_by_its_own_pod() {
    let mut v = PodView::default();
    v.upsert(pod("u1", None));
    let got = v.confirm("u1", &"a".repeat(64)).unwrap();
    assert_eq!(
        (got.name.as_str(), got.namespace.as_str()),
        ("web-1", "shop")
    );
    assert_eq!(got.container.as_deref(), Some("app"));
    assert_eq!(v.confirm("u2", &"a".repeat(64)), None, "another pod uid");
    assert_eq!(v.confirm("u1", &"b".repeat(64)), None, "another container");
    v.remove("u1");
    assert_eq!(v.confirm("u1", &"a".repeat(64)), None, "deleted");
}

#[test]
fn a_probe_kill_says_what_the_probe_saw() {
    let mut v = PodView::default();
    v.upsert(pod("u1", Some(30)));
    v.note(
        "u1",
        note(
            "Unhealthy",
            "Liveness probe failed: HTTP probe failed with statuscode: 500",
            T - 3 * S,
            Some("app"),
        ),
    );
    v.note(
        "u1",
        note(
            "Killing",
            "Container app failed liveness probe, will be restarted",
            T - 2 * S,
            Some("app"),
        ),
    );
    let c = v.kubelet_cause("u1", Some("app"), T).unwrap();
    assert_eq!(c.reason, "Killing");
    assert_eq!(
        c.message,
        "Liveness probe failed: HTTP probe failed with statuscode: 500"
    );
    // The SIGKILL a grace period later is explained too; one long after is not.
    assert!(v.kubelet_cause("u1", Some("app"), T + 31 * S).is_some());
    assert!(v.kubelet_cause("u1", Some("app"), T + 200 * S).is_none());
    // Nor one before the decision (beyond the slack), nor another container's.
    assert!(v.kubelet_cause("u1", Some("app"), T - 60 * S).is_none());
    assert!(v.kubelet_cause("u1", Some("sidecar"), T).is_none());
}

#[test]
fn a_plain_killing_keeps_its_own_message_and_the_latest_decision_wins() {
    let mut v = PodView::default();
    v.upsert(pod("u1", None));
    v.note(
        "u1",
        note("Killing", "Stopping container app", T - 10 * S, Some("app")),
    );
    v.note(
        "u1",
        note(
            "Evicted",
            "The node was low on resource: memory.",
            T - S,
            None,
        ),
    );
    let c = v.kubelet_cause("u1", Some("app"), T).unwrap();
    assert_eq!(
        (c.reason.as_str(), c.message.as_str()),
        ("Evicted", "The node was low on resource: memory.")
    );
}

#[test]
fn a_deletion_explains_when_no_event_does() {
    let mut v = PodView::default();
    let mut p = pod("u1", None);
    p.deletion = Some(Deletion {
        requested_ns: T - 5 * S,
        grace_s: 10,
    });
    v.upsert(p);
    let c = v.kubelet_cause("u1", Some("app"), T).unwrap();
    assert_eq!(c.reason, "Deleted");
    assert_eq!(c.message, "pod deleted with a 10 s grace period");
    assert!(v.kubelet_cause("u1", Some("app"), T + 600 * S).is_none());
}

#[test]
fn notes_are_bounded_and_only_for_this_nodes_pods() {
    let mut v = PodView::default();
    v.note("elsewhere", note("Killing", "x", T, None));
    assert!(v.kubelet_cause("elsewhere", None, T).is_none());
    v.upsert(pod("u1", None));
    for i in 0..100 {
        v.note("u1", note("Killing", &format!("m{i}"), T + i, Some("app")));
    }
    assert_eq!(v.notes["u1"].len(), MAX_NOTES);
    assert_eq!(
        v.kubelet_cause("u1", Some("app"), T).unwrap().message,
        "m99"
    );
}

#[test]
fn the_view_is_bounded_and_a_relist_forgets_what_it_does_not_name() {
    let mut v = PodView::default();
    for i in 0..MAX_PODS + 5 {
        v.upsert(pod(&format!("u{i}"), None));
    }
    assert_eq!((v.len(), v.overflow), (MAX_PODS, 5));
    v.reset(vec![pod("only", None)]);
    assert!(v.has("only") && !v.has("u0"));
}

#[test]
fn field_paths_ids_and_text() {
    assert_eq!(container_of_field_path("spec.containers{app}"), Some("app"));
    assert_eq!(
        container_of_field_path("spec.initContainers{init}"),
        Some("init")
    );
    assert_eq!(container_of_field_path("spec.containers{}"), None);
    assert_eq!(container_of_field_path("metadata.name"), None);
    assert_eq!(bare_container_id("containerd://abc"), Some("abc"));
    assert_eq!(bare_container_id("abc"), None);
    assert_eq!(bare_container_id("cri-o://"), None);
    let long = "é".repeat(MAX_TEXT);
    let cut = bounded(long);
    assert!(cut.len() <= MAX_TEXT && cut.chars().all(|c| c == 'é'));
}
