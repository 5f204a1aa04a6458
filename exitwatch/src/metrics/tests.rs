use super::*;
use crate::event::{Event, ExitEvent, LossClass, Suppressed};
use crate::exitstatus::ExitStatus;
use crate::render::fixtures;

#[test]
fn events_are_counted_by_kind_signal_and_result() {
    let m = Metrics::default();
    m.count_event(&Event::Signal(fixtures::pkill_kills_server()));
    m.count_event(&Event::Signal(fixtures::pkill_kills_server()));
    m.count_event(&fixtures::nginx_exits());
    m.count_event(&Event::Oom(fixtures::memcg_oom()));
    let mut plain = match fixtures::nginx_exits() {
        Event::Exit(x) => x,
        _ => unreachable!(),
    };
    plain.status = ExitStatus::from_exit(3);
    m.count_event(&Event::Exit(ExitEvent { ..plain }));
    m.count_event(&Event::Lost {
        count: 7,
        class: LossClass::NonFatal,
    });
    m.count_event(&Event::Lost {
        count: 2,
        class: LossClass::NonFatal,
    });
    m.count_event(&Event::Lost {
        count: 1,
        class: LossClass::Identity,
    });
    m.count_event(&Event::Suppressed(Suppressed {
        sender: None,
        uid: None,
        signo: 15,
        count: 40,
    }));
    let text = m.render();
    for line in [
        r#"exitwatch_events_total{kind="signal",signal="SIGKILL",result="delivered"} 2"#,
        r#"exitwatch_events_total{kind="exit",signal="SIGTERM",result="killed"} 1"#,
        r#"exitwatch_events_total{kind="exit",signal="",result="exited"} 1"#,
        r#"exitwatch_events_total{kind="oom",signal="SIGKILL",result="killed"} 1"#,
        r#"exitwatch_lost_events_total{reason="ring_buffer_full",class="nonfatal"} 9"#,
        r#"exitwatch_lost_events_total{reason="ring_buffer_full",class="identity"} 1"#,
        r#"exitwatch_lost_events_total{reason="ring_buffer_full",class="fatal"} 0"#,
        r#"exitwatch_suppressed_signals_total{signal="SIGTERM"} 40"#,
        "exitwatch_exits_untracked_total 0",
        "# TYPE exitwatch_events_total counter",
        "exitwatch_programs_attached 0",
    ] {
        assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
    }
}

#[test]
fn sinks_report_their_tallies_with_escaped_names() {
    let m = Metrics::default();
    let s = m.add_sink("file:///var/log/a \"b\"\\c".into());
    s.dropped.fetch_add(3, Relaxed);
    s.retries.fetch_add(1, Relaxed);
    m.cache_live.store(12, Relaxed);
    let text = m.render();
    for line in [
        r#"exitwatch_sink_dropped_total{sink="file:///var/log/a \"b\"\\c"} 3"#,
        r#"exitwatch_sink_retries_total{sink="file:///var/log/a \"b\"\\c"} 1"#,
        r#"exitwatch_sink_sent_total{sink="file:///var/log/a \"b\"\\c"} 0"#,
        r#"exitwatch_metadata_cache_containers{state="live"} 12"#,
        r#"exitwatch_lost_events_total{reason="ring_buffer_full",class="exit"} 0"#,
    ] {
        assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
    }
    // Every sample belongs to a family announced just before it.
    let mut family = "";
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix("# TYPE ") {
            family = rest.split(' ').next().unwrap();
        } else if !l.starts_with('#') {
            assert!(l.starts_with(family), "{l} outside {family}");
        }
    }
}

#[test]
fn outputs_report_up_and_last_success_and_make_health_fail_only_all_together() {
    let m = Metrics::default();
    m.health.set_attached();
    m.health
        .set_unhealthy_after(std::time::Duration::from_millis(50));
    let a = m.add_sink("http://127.0.0.1:9/".into());
    let b = m.add_sink("stdout".into());
    b.delivered();
    a.set_error(Some("connection refused".into()));
    let text = m.render();
    assert!(
        text.contains("exitwatch_output_up{output=\"http://127.0.0.1:9/\"} 0\n"),
        "{text}"
    );
    assert!(
        text.contains("exitwatch_output_up{output=\"stdout\"} 1\n"),
        "{text}"
    );
    assert!(text.contains(
        "exitwatch_output_last_success_timestamp_seconds{output=\"http://127.0.0.1:9/\"} 0\n"
    ));
    assert!(
        !text.contains("exitwatch_output_last_success_timestamp_seconds{output=\"stdout\"} 0\n")
    );
    std::thread::sleep(std::time::Duration::from_millis(60));
    m.health.turn(Instant::now());
    // One output still works: healthy.
    assert_eq!(m.healthy(Instant::now()), Ok(()));
    b.set_error(Some("broken pipe".into()));
    m.health.turn(Instant::now());
    // Both fail, but the second only just started to.
    assert_eq!(m.healthy(Instant::now()), Ok(()));
    std::thread::sleep(std::time::Duration::from_millis(60));
    m.health.turn(Instant::now());
    let why = m.healthy(Instant::now()).unwrap_err();
    assert!(why.contains("every output has been failing"), "{why}");
    a.delivered();
    assert_eq!(a.last_error(), None);
    assert_eq!(m.healthy(Instant::now()), Ok(()));
}

#[test]
fn runtimes_seen_are_reported_up_or_down() {
    let m = Metrics::default();
    m.set_runtime("docker at /run/docker.sock", None);
    m.set_runtime(
        "containerd (CRI) at /run/containerd/containerd.sock",
        Some(true),
    );
    let text = m.render();
    assert!(!text.contains("docker"), "never seen: not reported\n{text}");
    assert!(text.contains(
        "exitwatch_runtime_up{source=\"containerd (CRI) at /run/containerd/containerd.sock\"} 1\n"
    ));
    m.set_runtime("containerd (CRI) at /run/containerd/containerd.sock", None);
    assert!(m.render().contains(
        "exitwatch_runtime_up{source=\"containerd (CRI) at /run/containerd/containerd.sock\"} 0\n"
    ));
}
