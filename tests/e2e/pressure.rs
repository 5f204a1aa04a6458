//! Under pressure: a whole cgroup killed at once, an unprivileged signal flood, a full ring that
//! loses senders' identities, and an exec that changes who the sender is.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use exitwatch_tests::{process::random_hex, ready_fields, unix_ns_from_rfc3339};
use serde_json::Value;

use crate::harness::{self, of_kind, Exitwatch, Victim, EVENT_TIMEOUT};

fn flood_bin() -> &'static str {
    env!("CARGO_BIN_EXE_flood")
}

fn pid_of(v: &Value) -> Option<u32> {
    v["pid"].as_u64().map(|p| p as u32)
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn has_diagnosis(ev: &Value, code: &str) -> bool {
    ev["diagnosis"]
        .as_array()
        .is_some_and(|d| d.iter().any(|x| x["code"] == code))
}

/// Lost records reported, by class.
fn lost_by_class(events: &[Value]) -> HashMap<String, u64> {
    let mut lost = HashMap::new();
    for ev in of_kind(events, "lost") {
        let class = ev["class"].as_str().unwrap_or("?").to_owned();
        *lost.entry(class).or_default() += ev["count"].as_u64().unwrap_or(0);
    }
    lost
}

/// The cgroup v2 mount points and their roots, from /proc/self/mountinfo.
fn cgroup2_mounts() -> Vec<(PathBuf, String)> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    mountinfo
        .lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            (right.split(' ').next()? == "cgroup2").then_some(())?;
            let mut f = left.split(' ').skip(3);
            let root = f.next()?.to_owned();
            Some((PathBuf::from(f.next()?), root))
        })
        .collect()
}

/// A cgroup v2 directory made for one test: on drop, everything in it is killed and it is
/// removed.
struct KillableCgroup {
    dir: PathBuf,
    /// This test process's own cgroup in the same hierarchy (where helpers go back to).
    home: PathBuf,
}

impl KillableCgroup {
    /// Err (the caller skips) when no cgroup v2 hierarchy mounted here has `cgroup.kill`
    /// (Linux 5.14+). This host mounts v2 at /sys/fs/cgroup/unified, most nodes at /sys/fs/cgroup.
    fn new(name: &str) -> Result<KillableCgroup, String> {
        let mounts = cgroup2_mounts();
        if mounts.is_empty() {
            return Err("no cgroup2 hierarchy is mounted (none in /proc/self/mountinfo)".into());
        }
        let mut why = Vec::new();
        for (mount, root) in mounts {
            let dir = mount.join(name);
            let _ = std::fs::remove_dir(&dir);
            if let Err(e) = std::fs::create_dir(&dir) {
                why.push(format!("cannot create {}: {e}", dir.display()));
                continue;
            }
            if !dir.join("cgroup.kill").exists() {
                let _ = std::fs::remove_dir(&dir);
                why.push(format!(
                    "{} has no cgroup.kill (Linux 5.14+ needed)",
                    mount.display()
                ));
                continue;
            }
            // Our own cgroup, as /proc/self/cgroup names it relative to the mount's root.
            let own = std::fs::read_to_string("/proc/self/cgroup")
                .unwrap_or_default()
                .lines()
                .find_map(|l| l.strip_prefix("0::").map(str::to_owned));
            let home = own
                .and_then(|p| p.strip_prefix(root.as_str()).map(str::to_owned))
                .map(|p| mount.join(p.trim_start_matches('/')))
                .filter(|p| p.join("cgroup.procs").exists())
                .unwrap_or(mount);
            return Ok(KillableCgroup { dir, home });
        }
        Err(why.join("; "))
    }

    fn dir(&self) -> String {
        self.dir.display().to_string()
    }

    fn procs(&self) -> HashSet<u32> {
        std::fs::read_to_string(self.dir.join("cgroup.procs"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }
}

impl Drop for KillableCgroup {
    fn drop(&mut self) {
        for _ in 0..50 {
            let _ = std::fs::write(self.dir.join("cgroup.kill"), "1");
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
        eprintln!("warning: could not remove {}", self.dir.display());
    }
}

/// Processes in the burst: as many as a big pod, few enough for a CI machine.
const CROWD: usize = 2000;

#[test]
fn cgroup_kill_of_2000_processes_reports_every_sigkill_from_the_writer_and_every_exit() {
    let cg = match KillableCgroup::new(&format!("exitwatch-e2e-burst-{}", std::process::id())) {
        Ok(cg) => cg,
        Err(why) => {
            eprintln!("skipped: no cgroup v2 with cgroup.kill: {why}");
            return;
        }
    };
    let mut crowd = Victim::from_command(
        {
            let mut c = Command::new(flood_bin());
            c.args(["crowd", &CROWD.to_string(), &cg.dir()])
                .arg(&cg.home);
            c
        },
        "ready ",
    );
    let pids = cg.procs();
    assert_eq!(pids.len(), CROWD, "the crowd should be in {}", cg.dir());
    assert!(!pids.contains(&crowd.pid), "its parent went home");

    let mut ew = Exitwatch::start(&["--format", "json"]);
    let started = Instant::now();
    let script = format!("echo sh=$$; echo 1 > {}/cgroup.kill", cg.dir());
    let out = harness::run(Command::new("sh").args(["-c", &script]));
    let writer: u32 = ready_fields(&out)["sh"].parse().unwrap();
    let mut exits = 0;
    let complete = ew.read_json_until(Duration::from_secs(20), |v| {
        if v["event"] == "exit" && pid_of(&v["target"]).is_some_and(|p| pids.contains(&p)) {
            exits += 1;
        }
        exits == CROWD
    });
    let took = started.elapsed();
    let reaped = crowd.expect_line("reaped ");
    assert_eq!(
        reaped,
        format!("reaped {CROWD} killed={CROWD}"),
        "every process of the cgroup died of SIGKILL"
    );
    let events = ew.stop().assert_ok().json();

    let lost = of_kind(&events, "lost");
    assert!(lost.is_empty(), "nothing may be lost: {lost:#?}");
    let mut kills: HashMap<u32, Vec<&Value>> = HashMap::new();
    let mut ends: HashMap<u32, Vec<&Value>> = HashMap::new();
    for ev in &events {
        let Some(pid) = pid_of(&ev["target"]).filter(|p| pids.contains(p)) else {
            continue;
        };
        match ev["event"].as_str() {
            Some("signal") => kills.entry(pid).or_default().push(ev),
            Some("exit") => ends.entry(pid).or_default().push(ev),
            _ => {}
        }
    }
    let not_once = |m: &HashMap<u32, Vec<&Value>>| -> Vec<(u32, usize)> {
        let mut v: Vec<_> = pids
            .iter()
            .map(|p| (*p, m.get(p).map_or(0, Vec::len)))
            .filter(|&(_, n)| n != 1)
            .collect();
        v.sort();
        v
    };
    let (bad_kills, bad_ends) = (not_once(&kills), not_once(&ends));
    assert!(
        bad_kills.is_empty() && bad_ends.is_empty() && complete,
        "of {CROWD} processes, {} did not have exactly one signal event and {} not exactly one \
         exit within 20 s; (pid, events) e.g. {:?} / {:?}",
        bad_kills.len(),
        bad_ends.len(),
        &bad_kills[..bad_kills.len().min(10)],
        &bad_ends[..bad_ends.len().min(10)]
    );
    for ev in kills.values().flatten() {
        let (sig, s) = (&ev["signal"], &ev["sender"]);
        assert_eq!(sig["name"], "SIGKILL", "{ev:#}");
        assert_eq!(sig["via"], "cgroup.kill", "{ev:#}");
        assert_eq!(sig["fatal"], true, "{ev:#}");
        assert_eq!(s["kind"], "process", "{ev:#}");
        assert_eq!(s["pid"], writer, "the shell that wrote cgroup.kill: {ev:#}");
        assert_eq!(s["comm"], "sh", "{ev:#}");
        assert_eq!(strings(&s["args"]), ["sh", "-c", &script], "{ev:#}");
        assert_eq!(s["identity"], Value::Null, "{ev:#}");
    }
    for ev in ends.values().flatten() {
        assert_eq!(ev["exit"]["code"], 137, "{ev:#}");
        assert_eq!(ev["cause"]["event"], "signal", "{ev:#}");
    }
    eprintln!("burst: {CROWD} processes killed through cgroup.kill, all reported in {took:?}");
}

/// Non-fatal budget the flood test sets (the default, spelled out: the counts depend on it).
const RATE: u64 = 200;
const BURST: u64 = 1000;
const FLOOD_SECS: u64 = 3;

#[test]
fn unprivileged_sigterm_floods_are_counted_exactly_and_hide_no_kill() {
    // One flooding sender per CPU: every CPU busy signalling.
    let n = thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 8);
    let mut floods: Vec<Victim> = (0..n)
        .map(|_| {
            let mut c = Command::new("setpriv");
            c.args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
                .args([flood_bin(), "send", "TERM", &FLOOD_SECS.to_string()]);
            Victim::from_command(c, "ready ")
        })
        .collect();
    let children: Vec<u32> = floods
        .iter()
        .map(|f| f.said("ready ")["child"].parse().unwrap())
        .collect();
    let mut victim = Victim::spawn(&[]);
    let mut args = vec![
        "--format".to_owned(),
        "json".into(),
        "--nonfatal-budget".into(),
        format!("{RATE}/{BURST}"),
        "--pid".into(),
        victim.pid_arg(),
    ];
    for c in &children {
        args.extend(["--pid".into(), c.to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut ew = Exitwatch::start(&args);
    for f in &mut floods {
        f.tell("go");
    }
    thread::sleep(Duration::from_secs(1));
    harness::run(Command::new("/bin/kill").args(["-KILL", &victim.pid_arg()]));
    let sent: Vec<u64> = floods
        .iter_mut()
        .map(|f| {
            let line = f.expect_line("sent ");
            line["sent ".len()..].parse().unwrap()
        })
        .collect();
    assert!(!victim.alive(), "root's SIGKILL ended the victim");

    // Each sender: reported SIGTERMs + suppressed == sent; suppressed counts come each second.
    let senders: Vec<u32> = floods.iter().map(|f| f.pid).collect();
    let mut counted: HashMap<u32, u64> = HashMap::new();
    let mut unaccounted = 0u64;
    let all_counted = ew.read_json_until(Duration::from_secs(8), |v| {
        let pid = match v["event"].as_str() {
            Some("signal") if v["signal"]["number"] == 15 => pid_of(&v["sender"]),
            Some("suppressed") => {
                let n = v["count"].as_u64().unwrap_or(0);
                match pid_of(&v["sender"]) {
                    Some(p) => {
                        *counted.entry(p).or_default() += n;
                        None
                    }
                    None => {
                        unaccounted += n;
                        None
                    }
                }
            }
            Some("lost") if v["class"] == "nonfatal" => {
                unaccounted += v["count"].as_u64().unwrap_or(0);
                None
            }
            _ => None,
        };
        if let Some(p) = pid {
            *counted.entry(p).or_default() += 1;
        }
        let total: u64 = senders
            .iter()
            .map(|s| counted.get(s).copied().unwrap_or(0))
            .sum();
        total + unaccounted >= sent.iter().sum()
    });
    // One more report period: an over-count would show up here.
    thread::sleep(Duration::from_millis(1500));
    let events = ew.stop().assert_ok().json();

    let lost = lost_by_class(&events);
    for class in ["fatal", "exit", "identity"] {
        assert_eq!(lost.get(class), None, "{class} records lost: {lost:?}");
    }
    let kill = of_kind(&events, "signal")
        .into_iter()
        .find(|e| e["target"]["pid"] == victim.pid)
        .unwrap_or_else(|| panic!("root's SIGKILL of {} is not reported", victim.pid));
    assert_eq!(kill["signal"]["name"], "SIGKILL", "{kill:#}");
    assert_eq!(kill["sender"]["uid"], 0, "{kill:#}");
    assert_eq!(kill["sender"]["comm"], "kill", "{kill:#}");
    assert_eq!(
        strings(&kill["sender"]["args"]),
        ["/bin/kill", "-KILL", &victim.pid_arg()],
        "{kill:#}"
    );
    let exit = of_kind(&events, "exit")
        .into_iter()
        .find(|e| e["target"]["pid"] == victim.pid)
        .unwrap_or_else(|| panic!("the victim's exit is not reported"));
    assert_eq!(exit["exit"]["code"], 137, "{exit:#}");

    let mut report = Vec::new();
    let mut missing = 0u64;
    for (i, &sender) in senders.iter().enumerate() {
        let terms: Vec<&Value> = of_kind(&events, "signal")
            .into_iter()
            .filter(|e| e["sender"]["pid"] == sender)
            .collect();
        for ev in &terms {
            assert_eq!(ev["signal"]["name"], "SIGTERM", "{ev:#}");
            assert_eq!(ev["signal"]["disposition"], "handled", "{ev:#}");
            assert_eq!(ev["signal"]["fatal"], false, "{ev:#}");
            assert_eq!(ev["sender"]["uid"], 65534, "{ev:#}");
            assert_eq!(ev["target"]["pid"], children[i], "{ev:#}");
        }
        let suppressed: Vec<&Value> = of_kind(&events, "suppressed")
            .into_iter()
            .filter(|e| e["sender"]["pid"] == sender)
            .collect();
        for ev in &suppressed {
            assert_eq!(ev["sender"]["uid"], 65534, "{ev:#}");
            assert_eq!(ev["sender"]["comm"], "flood", "{ev:#}");
            assert_eq!(ev["signal"]["number"], 15, "{ev:#}");
            assert_eq!(ev["signal"]["name"], "SIGTERM", "{ev:#}");
            assert_eq!(ev["reason"], "sender_budget", "{ev:#}");
            assert!(has_diagnosis(ev, "signal_flood"), "{ev:#}");
        }
        let reported = terms.len() as u64;
        let held: u64 = suppressed
            .iter()
            .map(|e| e["count"].as_u64().unwrap())
            .sum();
        report.push(format!(
            "sender {sender}: sent {} reported {reported} suppressed {held}",
            sent[i]
        ));
        assert!(
            reported + held <= sent[i],
            "more reported than sent: {report:?}"
        );
        missing += sent[i] - reported - held;
        // The budget: the burst at once, then RATE a second for the flood's few seconds.
        assert!(
            (BURST..=BURST + RATE * (FLOOD_SECS + 2)).contains(&reported),
            "{reported} SIGTERMs reported for one sender, outside its budget of {RATE}/{BURST}: {report:?}"
        );
        assert!(held > 0, "the budget suppressed nothing: {report:?}");
    }
    let nonfatal_lost = lost.get("nonfatal").copied().unwrap_or(0);
    let unattributed: u64 = of_kind(&events, "suppressed")
        .into_iter()
        .filter(|e| e["sender"].is_null())
        .map(|e| e["count"].as_u64().unwrap())
        .sum();
    eprintln!(
        "flood: {report:?}; non-fatal lost {nonfatal_lost}, suppressed unattributed {unattributed}"
    );
    assert!(
        all_counted,
        "the counts never added up within 8 s: {report:?}"
    );
    assert_eq!(
        missing,
        nonfatal_lost + unattributed,
        "every SIGTERM sent is reported, suppressed or counted as lost: {report:?}"
    );
}

/// One sender: what it said about itself, and the token in its argv.
struct Striker {
    pid: u32,
    start_ticks: u64,
    token: String,
    pads: Vec<String>,
}

/// Padding arguments after each sender's token: its argv fills the 256 bytes an identity keeps.
const PADS: usize = 8;

/// At the bottom of `depth` nested shells, runs one fresh `flood strike KILL V TOKEN PADS...`
/// per victim V, one after the other; returns the senders by victim.
fn strike_all(victims: &[u32], depth: usize, nonce: &str) -> HashMap<u32, Striker> {
    const CHAIN: &str = r#"if [ "$1" -gt 0 ]; then sh -c "$CHAIN" chain $(($1 - 1)); true; else
        for v in $VICTIMS; do
            t="$NONCE-$v"
            "$FLOOD" strike KILL "$v" "$t" "$t-padding-1" "$t-padding-2" "$t-padding-3" \
                "$t-padding-4" "$t-padding-5" "$t-padding-6" "$t-padding-7" "$t-padding-8"
        done
    fi"#;
    let list: Vec<String> = victims.iter().map(u32::to_string).collect();
    let out = harness::run(
        Command::new("sh")
            .args(["-c", CHAIN, "chain", &depth.to_string()])
            .env("CHAIN", CHAIN)
            .env("FLOOD", flood_bin())
            .env("VICTIMS", list.join(" "))
            .env("NONCE", nonce),
    );
    let strikers: HashMap<u32, Striker> = out
        .lines()
        .map(|l| {
            let f = ready_fields(l);
            let num = |k: &str| -> u64 {
                f.get(k)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("a sender said {l:?}"))
            };
            let token = format!("{nonce}-{}", num("target"));
            let striker = Striker {
                pid: num("pid") as u32,
                start_ticks: num("start_ticks"),
                pads: (1..=PADS).map(|k| format!("{token}-padding-{k}")).collect(),
                token,
            };
            (num("target") as u32, striker)
        })
        .collect();
    assert_eq!(
        strikers.len(),
        victims.len(),
        "one sender per victim: {out}"
    );
    strikers
}

/// CLOCK_REALTIME - CLOCK_BOOTTIME: what turns exitwatch's boot-clock times into wall times.
fn boot_epoch_ns() -> i128 {
    let read = |clock| {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid timespec.
        unsafe { libc::clock_gettime(clock, &mut ts) };
        i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
    };
    read(libc::CLOCK_REALTIME) - read(libc::CLOCK_BOOTTIME)
}

/// Is `start_time` (exitwatch's RFC 3339) within clock tick `ticks` (/proc/PID/stat's start)?
fn starts_in_tick(start_time: &Value, ticks: u64, boot_epoch: i128) -> bool {
    // SAFETY: sysconf has no preconditions.
    let tick = 1_000_000_000 / i128::from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) });
    let slack = 5_000_000;
    let Some(t) = start_time.as_str().and_then(unix_ns_from_rfc3339) else {
        return false;
    };
    let since_boot = t - boot_epoch;
    let ticks = i128::from(ticks);
    (ticks * tick - slack..(ticks + 1) * tick + slack).contains(&since_boot)
}

/// Senders per round: with a 64K ring, ~30 identities (~2 KB each, deep ancestry) fill it.
const STRIKERS: usize = 60;
/// Shells above the senders, at least: a big identity against a 184-byte signal record makes
/// a signal without its identity likely each time the ring runs out.
const MIN_DEPTH: usize = 24;
const ROUNDS: usize = 5;

/// One round's numbers.
#[derive(Debug, Default)]
struct Round {
    depth: usize,
    signals: usize,
    identity_lost: usize,
    exits: usize,
    lost: HashMap<String, u64>,
    exited_by_itself: bool,
}

/// exitwatch stopped (SIGSTOP) for as long as this lives.
struct Stopped(u32);

impl Stopped {
    fn new(pid: u32) -> Stopped {
        // SAFETY: plain syscall on our own child.
        unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
        Stopped(pid)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        // SAFETY: as above.
        unsafe { libc::kill(self.0 as i32, libc::SIGCONT) };
    }
}

fn identity_round() -> Round {
    let mut victims: Vec<Victim> = (0..STRIKERS).map(|_| Victim::spawn(&[])).collect();
    let mut args = vec![
        "--format".to_owned(),
        "json".into(),
        "--ring-buffer-size".into(),
        "64K".into(),
    ];
    for v in &victims {
        args.extend(["--pid".into(), v.pid_arg()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut ew = Exitwatch::start(&args);
    let nonce = format!("e2e-{}", random_hex(4));
    // Where the ring runs out depends on the identities' size: a random depth makes each
    // round a new draw.
    let depth = MIN_DEPTH + usize::from_str_radix(&random_hex(1), 16).unwrap() % 8;
    let pids: Vec<u32> = victims.iter().map(|v| v.pid).collect();
    let strikers = {
        let _stopped = Stopped::new(ew.pid());
        let strikers = strike_all(&pids, depth, &nonce);
        // Reaped, so that exitwatch finds them gone even if their exit records are lost.
        let deadline = Instant::now() + EVENT_TIMEOUT;
        while victims.iter_mut().any(Victim::alive) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        strikers
    };
    // Every kill is reported or counted lost; lost counts come on exitwatch's next tick.
    let mut seen = 0;
    ew.read_json_until(Duration::from_secs(5), |v| {
        if v["event"] == "signal" {
            seen += 1;
        }
        seen == STRIKERS || v["event"] == "lost"
    });
    thread::sleep(Duration::from_millis(1500));
    let exited_by_itself = ew.exited();
    let events = ew.stop().assert_ok().json();

    let boot_epoch = boot_epoch_ns();
    let flood_exe = std::fs::canonicalize(flood_bin()).unwrap();
    let mut r = Round {
        depth,
        lost: lost_by_class(&events),
        exited_by_itself,
        ..Round::default()
    };
    for ev in of_kind(&events, "signal") {
        let target = pid_of(&ev["target"]).unwrap();
        let st = strikers
            .get(&target)
            .unwrap_or_else(|| panic!("a signal to no victim of ours: {ev:#}"));
        let s = &ev["sender"];
        r.signals += 1;
        assert_eq!(ev["signal"]["name"], "SIGKILL", "{ev:#}");
        assert_eq!(s["pid"], st.pid, "the victim's own sender: {ev:#}");
        assert_eq!(s["comm"], "flood", "{ev:#}");
        assert!(
            starts_in_tick(&s["start_time"], st.start_ticks, boot_epoch),
            "the sender started in clock tick {}: {ev:#}",
            st.start_ticks
        );
        if s["identity"] == "lost" {
            r.identity_lost += 1;
            assert_eq!(s["args"], serde_json::json!([]), "{ev:#}");
            assert_eq!(s["ancestry"], serde_json::json!([]), "{ev:#}");
            assert_eq!(s["exe"], Value::Null, "{ev:#}");
            continue;
        }
        assert_eq!(s["identity"], Value::Null, "{ev:#}");
        // Its own argv, never another sender's: the first 256 bytes, cut at the end.
        let got = strings(&s["args"]);
        let target_arg = target.to_string();
        let head = [flood_bin(), "strike", "KILL", &target_arg, &st.token];
        assert!(
            got.len() >= head.len() && got[..head.len()] == head,
            "{ev:#}"
        );
        for (g, want) in got[head.len()..].iter().zip(&st.pads) {
            assert!(want.starts_with(g), "{g:?} is not from {want:?}: {ev:#}");
        }
        assert!(got.len() <= head.len() + st.pads.len(), "{ev:#}");
        assert_eq!(s["exe"], flood_exe.to_str().unwrap(), "{ev:#}");
        let ancestry = s["ancestry"].as_array().unwrap();
        let shells = ancestry
            .iter()
            .rev()
            .take(4)
            .filter(|a| a["comm"] == "sh")
            .count();
        assert_eq!(shells, 4, "four nested shells above the sender: {ev:#}");
    }
    r.exits = of_kind(&events, "exit").len();
    let lost = |class: &str| r.lost.get(class).copied().unwrap_or(0);
    assert_eq!(
        r.signals as u64 + lost("fatal"),
        STRIKERS as u64,
        "each of {STRIKERS} SIGKILLs is reported or counted lost (class fatal): {r:?}"
    );
    assert!(
        r.identity_lost as u64 <= lost("identity"),
        "each identity missing from an event is counted lost (class identity): {r:?}"
    );
    // Exit records are per thread that saw the process end: more may be lost than victims.
    let ended: HashSet<u32> = of_kind(&events, "exit")
        .iter()
        .filter_map(|e| pid_of(&e["target"]))
        .collect();
    assert_eq!(ended.len(), r.exits, "one exit event per victim: {r:?}");
    assert!(
        (STRIKERS - r.exits) as u64 <= lost("exit"),
        "each victim's exit is reported or counted lost (class exit): {r:?}"
    );
    r
}

#[test]
fn a_full_ring_loses_identities_but_never_gives_a_sender_another_ones_argv() {
    let mut rounds = Vec::new();
    for round in 1..=ROUNDS {
        let r = identity_round();
        let lost = r.identity_lost;
        eprintln!(
            "identity round {round}: {} shells deep, {} signals ({} without identity), {} exits, \
             lost {:?}, exitwatch exited by itself: {}",
            r.depth, r.signals, r.identity_lost, r.exits, r.lost, r.exited_by_itself
        );
        rounds.push(r);
        if lost > 0 {
            return;
        }
    }
    panic!(
        "no event said identity lost in {ROUNDS} rounds of {STRIKERS} senders through a 64K \
         ring: {rounds:#?}"
    );
}

#[test]
fn exec_announces_the_new_program_as_the_same_senders_identity() {
    let (v1, v2) = (Victim::spawn(&[]), Victim::spawn(&[]));
    let ew = Exitwatch::start(&[
        "--pid",
        &v1.pid_arg(),
        "--pid",
        &v2.pid_arg(),
        "--format",
        "json",
    ]);
    let script = format!(
        "echo sh=$$; kill -TERM {}; exec /bin/kill -TERM {}",
        v1.pid, v2.pid
    );
    let out = harness::run(Command::new("sh").args(["-c", &script]));
    let sender: u32 = ready_fields(&out)["sh"].parse().unwrap();
    let events = ew.wait_exit(EVENT_TIMEOUT).assert_ok().json();
    let signals = of_kind(&events, "signal");
    assert_eq!(signals.len(), 2, "{events:#?}");
    let (a, b) = (signals[0], signals[1]);
    for (ev, v) in [(a, &v1), (b, &v2)] {
        assert_eq!(ev["signal"]["name"], "SIGTERM", "{ev:#}");
        assert_eq!(ev["target"]["pid"], v.pid, "{ev:#}");
        assert_eq!(ev["sender"]["pid"], sender, "one process sent both: {ev:#}");
        assert_eq!(ev["sender"]["identity"], Value::Null, "{ev:#}");
    }
    let (sa, sb) = (&a["sender"], &b["sender"]);
    assert_eq!(sa["comm"], "sh", "{a:#}");
    assert_eq!(strings(&sa["args"]), ["sh", "-c", &script], "{a:#}");
    assert_eq!(
        sa["exe"],
        std::fs::canonicalize("/bin/sh").unwrap().to_str().unwrap(),
        "{a:#}"
    );
    assert_eq!(sb["comm"], "kill", "{b:#}");
    assert_eq!(
        strings(&sb["args"]),
        ["/bin/kill", "-TERM", &v2.pid_arg()],
        "the image after exec: {b:#}"
    );
    assert_eq!(
        sb["exe"],
        std::fs::canonicalize("/bin/kill")
            .unwrap()
            .to_str()
            .unwrap(),
        "{b:#}"
    );
    assert_eq!(
        sa["start_time"], sb["start_time"],
        "the same process: {a:#} {b:#}"
    );
    assert_eq!(
        sa["ancestry"], sb["ancestry"],
        "the same parents: {a:#} {b:#}"
    );
    for v in [&v1, &v2] {
        let exit = of_kind(&events, "exit")
            .into_iter()
            .find(|e| e["target"]["pid"] == v.pid)
            .unwrap_or_else(|| panic!("no exit for {}: {events:#?}", v.pid));
        assert_eq!(exit["exit"]["code"], 143, "{exit:#}");
    }
}
