//! OOM kills: what is read on arrival, and what is said missing.

use super::*;

#[test]
fn an_oom_kill_reads_what_proc_knows_on_arrival_and_says_what_it_lacks() {
    let mut node = Node::default();
    let victim = fixtures::memcg_oom().victim.pid;
    node.cmdlines
        .insert(victim, vec![b"java".to_vec(), b"-jar".to_vec()]);
    node.cgroups
        .insert(victim, format!("/system.slice/docker-{}.scope", id('e')));
    for (log_unreadable, reason) in [
        (false, "kernel_log_line_not_seen"),
        (true, "kernel_log_unreadable"),
    ] {
        let setup = Setup {
            log_unreadable,
            node: Node {
                cmdlines: node.cmdlines.clone(),
                cgroups: node.cgroups.clone(),
                ..Node::default()
            },
            ..Setup::default()
        };
        let (mut pipe, _node, outs) = setup.start();
        let mut oom = fixtures::memcg_oom();
        (oom.victim_args, oom.context, oom.memcg_usage) = (Vec::new(), None, None);
        let at = oom.time_ns;
        pipe.record(Event::Oom(oom), at).unwrap();
        assert!(outs.json().is_empty(), "waits for its kernel log line");
        assert!(pipe.wants_kernel_log());
        pipe.tick(at + OOM_MAX_HOLD_NS).unwrap();
        let out = outs.json();
        assert_eq!(out.len(), 1);
        let v = &out[0];
        assert_eq!(v["victim"]["args"], serde_json::json!(["java", "-jar"]));
        assert_eq!(
            v["victim"]["container"]["id"],
            id('e'),
            "from its memory cgroup"
        );
        let missing: Vec<&str> = v["missing"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            missing.contains(&"constraint") && missing.contains(&reason),
            "{missing:?}"
        );
    }
}

#[test]
fn an_oom_victim_gone_before_its_argv_was_read_says_so() {
    let (mut pipe, _node, outs) = Setup::default().start();
    let mut oom = fixtures::memcg_oom();
    oom.victim_args.clear();
    let at = oom.time_ns;
    pipe.record(Event::Oom(oom), at).unwrap();
    pipe.finish().unwrap();
    let out = outs.json();
    assert_eq!(out.len(), 1);
    assert!(out[0]["missing"]
        .as_array()
        .unwrap()
        .contains(&Value::from("victim.args")));
}
