use super::*;
use crate::event::LossClass;
use crate::render::{bare, fixtures};

const OBSERVED: i128 = 1_767_300_000_000_000_000;

fn record(a: &Annotated) -> LogRecord {
    log_record(&fixtures::ctx(), a, crate::render::verdict(a), OBSERVED)
}

fn get<'a>(r: &'a LogRecord, key: &str) -> Option<&'a Value> {
    let mut found = r.attributes.iter().filter(|kv| kv.key == key);
    let first = found.next()?;
    assert!(found.next().is_none(), "{key} twice");
    first.value.as_ref()?.value.as_ref()
}

fn s<'a>(r: &'a LogRecord, key: &str) -> &'a str {
    match get(r, key) {
        Some(Value::StringValue(v)) => v,
        other => panic!("{key}: {other:?}"),
    }
}

fn i(r: &LogRecord, key: &str) -> i64 {
    match get(r, key) {
        Some(Value::IntValue(v)) => *v,
        other => panic!("{key}: {other:?}"),
    }
}

#[test]
fn a_kill_names_its_target_with_semantic_conventions_and_its_sender_under_exitwatch() {
    let a = bare(Event::Signal(fixtures::pkill_kills_server()));
    let r = record(&a);
    assert_eq!(r.event_name, "exitwatch.signal");
    assert_eq!(r.severity_number, SeverityNumber::Warn as i32);
    assert_eq!(r.severity_text, "WARN");
    // 2026-01-01T00:00:00Z + 33475 min 5.3 s since boot.
    assert_eq!(
        r.time_unix_nano,
        1_767_225_600_000_000_000 + 33475 * 60_000_000_000 + 5_300_000_000
    );
    assert_eq!(r.observed_time_unix_nano, OBSERVED as u64);
    assert_eq!(
        r.body,
        Some(string(
            "SIGKILL from pkill(23549) to server(7942): delivered, server(7942) will exit with code 137".into()
        ))
    );
    assert_eq!(i(&r, "process.pid"), 7942);
    assert_eq!(i(&r, "process.vpid"), 1);
    assert_eq!(s(&r, "process.executable.name"), "server");
    assert_eq!(i(&r, "exitwatch.signal.number"), 9);
    assert_eq!(s(&r, "exitwatch.signal.name"), "SIGKILL");
    assert_eq!(s(&r, "exitwatch.signal.result"), "delivered");
    assert_eq!(
        get(&r, "exitwatch.signal.fatal"),
        Some(&Value::BoolValue(true))
    );
    assert_eq!(i(&r, "exitwatch.exit_code"), 137);
    assert_eq!(s(&r, "exitwatch.event.kind"), "signal");
    assert_eq!(s(&r, "exitwatch.event.id"), "t-1");
    assert_eq!(i(&r, "exitwatch.sender.pid"), 23549);
    assert_eq!(s(&r, "exitwatch.sender.comm"), "pkill");
    assert_eq!(s(&r, "exitwatch.sender.command_line"), "pkill -9 server");
    assert_eq!(s(&r, "exitwatch.sender.executable.path"), "/usr/bin/pkill");
    assert_eq!(i(&r, "exitwatch.sender.parent_pid"), 23495);
    assert_eq!(i(&r, "exitwatch.sender.user.id"), 0);
    assert_eq!(s(&r, "exitwatch.sender.user"), "root");
    assert_eq!(s(&r, "exitwatch.sender.role"), "interactive_user");
    // No container on either side: no container attribute at all.
    assert!(r.attributes.iter().all(|kv| !kv.key.contains("container")));
}

#[test]
fn containers_and_pods_follow_the_container_and_k8s_conventions() {
    let a = bare(Event::Signal(fixtures::kill_in_pod()));
    let r = record(&a);
    let b: String = std::iter::repeat_n('b', 64).collect();
    let aa: String = std::iter::repeat_n('a', 64).collect();
    assert_eq!(s(&r, "container.id"), b);
    assert_eq!(s(&r, "container.name"), "nginx");
    assert_eq!(s(&r, "container.runtime.name"), "containerd");
    assert_eq!(
        s(&r, "container.image.name"),
        "docker.io/library/nginx:1.27"
    );
    assert_eq!(s(&r, "k8s.pod.name"), "web-7d9c");
    assert_eq!(s(&r, "k8s.pod.uid"), "0a1b2c3d-0000-1111-2222-333344445555");
    assert_eq!(s(&r, "k8s.namespace.name"), "shop");
    assert_eq!(s(&r, "k8s.container.name"), "nginx");
    assert_eq!(s(&r, "exitwatch.sender.container.id"), aa);
    assert_eq!(s(&r, "exitwatch.sender.container.name"), "sidecar");
    assert_eq!(s(&r, "exitwatch.sender.k8s.pod.name"), "web-7d9c");
    // SIGTERM to a process with the default disposition: fatal, still a warning.
    assert_eq!(s(&r, "exitwatch.signal.name"), "SIGTERM");
    assert_eq!(r.severity_text, "WARN");
}

#[test]
fn an_exit_is_information_with_its_code_and_cause() {
    let mut a = bare(fixtures::nginx_exits());
    a.cause = Some(crate::story::Cause {
        id: "t-0".into(),
        event: "signal",
        signal: Some(15),
        delay_ns: 40_000_000,
    });
    let r = record(&a);
    assert_eq!(r.event_name, "exitwatch.exit");
    assert_eq!(r.severity_number, SeverityNumber::Info as i32);
    assert_eq!(r.severity_text, "INFO");
    assert_eq!(i(&r, "process.pid"), 4242);
    assert_eq!(i(&r, "process.exit.code"), 143);
    assert_eq!(s(&r, "exitwatch.exit.signal.name"), "SIGTERM");
    assert_eq!(s(&r, "exitwatch.cause.id"), "t-0");
    assert_eq!(s(&r, "exitwatch.cause.signal.name"), "SIGTERM");
    assert_eq!(s(&r, "k8s.container.name"), "nginx");
}

#[test]
fn an_oom_kill_carries_the_victims_argv_user_and_scope() {
    let a = bare(Event::Oom(fixtures::memcg_oom()));
    let r = record(&a);
    assert_eq!(r.event_name, "exitwatch.oom_kill");
    assert_eq!(r.severity_text, "WARN");
    assert_eq!(i(&r, "process.pid"), 5937);
    assert_eq!(s(&r, "process.executable.name"), "python3");
    assert_eq!(
        get(&r, "process.command_args"),
        Some(&Value::ArrayValue(ArrayValue {
            values: vec![string("python3".into()), string("leak.py".into())]
        }))
    );
    assert_eq!(i(&r, "process.args_count"), 2);
    assert_eq!(i(&r, "process.user.id"), 0);
    assert_eq!(s(&r, "process.user.name"), "root");
    assert_eq!(s(&r, "exitwatch.oom.scope"), "memcg");
    assert_eq!(s(&r, "exitwatch.oom.memcg"), "/kubepods/burstable/pod1/c1");
    assert_eq!(i(&r, "exitwatch.oom.memcg.limit_bytes"), 64 << 20);
}

#[test]
fn gaps_are_warnings_observed_now_without_an_event_time() {
    let a = bare(Event::Lost {
        count: 3,
        class: LossClass::Fatal,
    });
    let r = record(&a);
    assert_eq!(r.event_name, "exitwatch.lost");
    assert_eq!(r.severity_text, "WARN");
    assert_eq!(r.time_unix_nano, 0);
    assert_eq!(r.observed_time_unix_nano, OBSERVED as u64);
    assert_eq!(i(&r, "exitwatch.lost.count"), 3);
    assert_eq!(s(&r, "exitwatch.lost.class"), "fatal");
}

#[test]
fn kernel_bytes_are_kept_readable_and_every_string_is_bounded() {
    let mut ev = fixtures::pkill_kills_server();
    ev.target.comm = b"ev\xffil\x1b[2J".to_vec();
    let crate::event::Sender::Process(actor) = &mut ev.sender else {
        unreachable!()
    };
    actor.args = vec![vec![b'x'; 10_000]; 20].into();
    actor.exe = Some("é".repeat(10_000).into_bytes().into());
    let r = record(&bare(Event::Signal(ev)));
    assert_eq!(s(&r, "process.executable.name"), "ev\\xffil\u{1b}[2J");
    for kv in &r.attributes {
        if let Some(Value::StringValue(v)) = kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            assert!(v.len() <= MAX_STRING, "{}: {} bytes", kv.key, v.len());
        }
    }
    assert!(s(&r, "exitwatch.sender.executable.path").starts_with('é'));
    assert_eq!(bound("é".repeat(3000)).len(), 4096);
}
