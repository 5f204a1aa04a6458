//! The three output formats, as a reader or a script would consume them.

use exitwatch_tests::{stap_ancestry_line, stap_parent_line, stap_send_line};

use crate::harness::{kill_via_shells, of_kind, Exitwatch, Victim, EVENT_TIMEOUT};
use crate::schema;

#[test]
fn stap_prints_exactly_the_three_systemtap_lines() {
    let victim = Victim::spawn(&[]);
    let ew = Exitwatch::start(&["--pid", &victim.pid_arg(), "--format", "stap"]);
    let chain = kill_via_shells(victim.pid);
    let done = ew.wait_exit(EVENT_TIMEOUT).assert_ok();
    let out = done.stdout_text();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "one event is three lines:\n{out}");

    let (sender, sig, target) =
        stap_send_line(lines[0]).unwrap_or_else(|| panic!("line 1:\n{out}"));
    assert_eq!(sender.0, "kill", "{out}");
    assert_eq!(sig, "SIGKILL", "{out}");
    assert_eq!(target, ("victim", victim.pid), "{out}");
    assert_eq!(stap_parent_line(lines[1]), Some(("sh", chain.sh)), "{out}");
    let names = stap_ancestry_line(lines[2]).unwrap_or_else(|| panic!("line 3:\n{out}"));
    assert_eq!(names[names.len() - 3..], ["bash", "sh", "kill"], "{out}");

    // The exit is not part of the script's output: it goes to stderr.
    assert!(
        done.stderr.contains(&format!(
            "victim({}) exited with 137: killed by SIGKILL",
            victim.pid
        )),
        "stderr:\n{}",
        done.stderr
    );
}

#[test]
fn json_lines_follow_the_published_schema() {
    let victim = Victim::spawn(&[]);
    let ew = Exitwatch::start(&["--pid", &victim.pid_arg(), "--format", "json"]);
    kill_via_shells(victim.pid);
    let done = ew.wait_exit(EVENT_TIMEOUT).assert_ok();
    let events = done.json(); // validates every line
    assert_eq!(events.len(), 2, "{events:#?}");
    for ev in &events {
        assert_eq!(ev["schema"], "exitwatch.v1", "{ev:#}");
        assert_eq!(ev["target"]["pid"], victim.pid, "{ev:#}");
    }
    assert_eq!(of_kind(&events, "signal").len(), 1);
    assert_eq!(of_kind(&events, "exit").len(), 1);

    // The check has teeth: the same line with a field out of its domain is rejected.
    let mut broken = events[0].clone();
    broken["signal"]["result"] = "maybe".into();
    let rejected = schema::validate(&[broken.to_string()]);
    assert!(rejected.is_err(), "the schema check accepted {broken:#}");
}

#[test]
fn text_escapes_terminal_control_bytes_in_names() {
    let name = "esc\x1b[31mred";
    let victim = Victim::spawn(&["--name", name]);
    let ew = Exitwatch::start(&[
        "--pid",
        &victim.pid_arg(),
        "--format",
        "text",
        "--color",
        "never",
    ]);
    kill_via_shells(victim.pid);
    let done = ew.wait_exit(EVENT_TIMEOUT).assert_ok();
    let raw: Vec<u8> = done.stdout.join(&b'\n');
    let out = done.stdout_text();
    assert!(
        !raw.contains(&0x1b),
        "a raw ESC reached the terminal:\n{out:?}"
    );
    assert!(
        !done.stderr.contains('\x1b'),
        "a raw ESC reached stderr:\n{:?}",
        done.stderr
    );
    let shown = format!(r"esc\x1b[31mred({})", victim.pid);

    let first = out.lines().next().unwrap_or_default();
    let (time, verdict) = first.split_once(' ').unwrap_or_default();
    assert!(
        time.len() == 30 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
        "not an RFC 3339 time with nanoseconds: {first}"
    );
    assert_eq!(
        verdict,
        format!("SIGKILL from root's `/bin/kill -9 {}` (via bash → sh), delivered: {shown} will exit with code 137", victim.pid),
        "{out}"
    );
    let labels: Vec<&str> = out
        .lines()
        .skip(1)
        .filter_map(|l| l.strip_prefix("  "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    // These facts, in this order (other lines may come between them).
    let mut wanted = ["sender", "args", "parent", "ancestry", "signal", "target"]
        .into_iter()
        .peekable();
    for label in &labels {
        wanted.next_if_eq(label);
    }
    assert_eq!(
        wanted.next(),
        None,
        "labels {labels:?} lack one, or are out of order:\n{out}"
    );
    assert!(
        out.contains(&format!("  target    {shown} tid {}", victim.pid)),
        "{out}"
    );
    assert!(
        out.contains(&format!("{shown} exited with 137: killed by SIGKILL")),
        "{out}"
    );
}
