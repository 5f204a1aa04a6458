//! OOM kills: a real memory cgroup with a small limit and a real allocation past it. Works on
//! cgroup v1 (this machine's memory controller) and v2 (the kernel-matrix guests).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{first, of_kind, Exitwatch, Victim};

const LIMIT: u64 = 64 << 20;
const OOM_TIMEOUT: Duration = Duration::from_secs(30);

fn hog_bin() -> &'static str {
    env!("CARGO_BIN_EXE_hog")
}

/// A memory cgroup made for one test, removed afterwards.
struct Memcg {
    dir: PathBuf,
    /// Its path as the kernel names it (relative to the memory hierarchy's root).
    path: String,
}

impl Memcg {
    fn new(name: &str, limit: u64) -> Memcg {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        let mount = |want: &dyn Fn(&str, &str) -> bool| {
            mountinfo.lines().find_map(|l| {
                let (left, right) = l.split_once(" - ")?;
                let mut r = right.split(' ');
                let (fstype, opts) = (r.next()?, r.nth(1).unwrap_or(""));
                want(fstype, opts).then(|| PathBuf::from(left.split(' ').nth(4).unwrap()))
            })
        };
        let v1 = mount(&|fs, opts| fs == "cgroup" && opts.split(',').any(|o| o == "memory"));
        let (root, v2) = match v1 {
            Some(root) => (root, false),
            None => (
                mount(&|fs, _| fs == "cgroup2").expect("no memory cgroup hierarchy mounted"),
                true,
            ),
        };
        if v2 {
            // The memory controller must be enabled for the root's children.
            let _ = std::fs::write(root.join("cgroup.subtree_control"), "+memory");
        }
        let dir = root.join(name);
        let _ = std::fs::remove_dir(&dir);
        std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        let write = |file: &str, value: &str| {
            std::fs::write(dir.join(file), value)
                .unwrap_or_else(|e| panic!("{file} = {value}: {e}"))
        };
        if v2 {
            write("memory.max", &limit.to_string());
            let _ = std::fs::write(dir.join("memory.swap.max"), "0");
        } else {
            write("memory.limit_in_bytes", &limit.to_string());
            let _ = std::fs::write(dir.join("memory.swappiness"), "0");
        }
        Memcg {
            path: format!("/{name}"),
            dir,
        }
    }

    fn procs(&self) -> String {
        self.dir.join("cgroup.procs").display().to_string()
    }

    fn hog(&self, oom_score_adj: i32) -> Victim {
        let mut cmd = Command::new(hog_bin());
        cmd.args([
            "--cgroup-procs",
            &self.procs(),
            "--oom-score-adj",
            &oom_score_adj.to_string(),
        ]);
        Victim::from_command(cmd, "ready")
    }
}

impl Drop for Memcg {
    fn drop(&mut self) {
        for _ in 0..50 {
            let procs = std::fs::read_to_string(self.dir.join("cgroup.procs")).unwrap_or_default();
            for pid in procs
                .split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok())
            {
                // SAFETY: plain syscall; these are our test's processes.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn kernel_kills_of(events: &[Value], pid: u32) -> Vec<&Value> {
    of_kind(events, "signal")
        .into_iter()
        .filter(|e| e["target"]["pid"] == pid && e["signal"]["code_name"] == "SI_KERNEL")
        .collect()
}

#[test]
fn without_dev_kmsg_the_kernel_log_is_read_through_syslog() {
    // A pod's device cgroup denies /dev/kmsg; hide the device the same way exitwatch sees it
    // there (ENOENT here), and syslog(2) must still give the constraint and the memory cgroup.
    let cg = Memcg::new("exitwatch-e2e-oom-syslog", LIMIT);
    let mut hog = cg.hog(0);
    let no_dev = [
        "unshare",
        "-m",
        "sh",
        "-c",
        r#"mount -t tmpfs none /dev && exec "$0" "$@""#,
    ];
    let ew = Exitwatch::start_in(&no_dev, &["--pid", &hog.pid_arg(), "--format", "json"], &[]);
    hog.tell("forever");
    let done = ew.wait_exit(OOM_TIMEOUT).assert_ok();
    assert!(
        !done.stderr.contains("cannot read the kernel log"),
        "{}",
        done.stderr
    );
    let events = done.json();
    let oom = first(&events, "oom_kill");
    assert_eq!(oom["constraint"], "memcg", "{oom:#}");
    assert_eq!(oom["memcg"]["path"], cg.path.as_str(), "{oom:#}");
    assert_eq!(oom["victim"]["cgroup"], cg.path.as_str(), "{oom:#}");
    assert_eq!(oom["missing"], serde_json::json!([]), "{oom:#}");
}

#[test]
fn an_allocation_past_the_memcg_limit_is_one_oom_kill_then_exit_137() {
    let cg = Memcg::new("exitwatch-e2e-oom-self", LIMIT);
    let mut hog = cg.hog(0);
    let ew = Exitwatch::start(&["--pid", &hog.pid_arg(), "--format", "json"]);
    hog.tell("forever");
    let events = ew.wait_exit(OOM_TIMEOUT).assert_ok().json();

    let oom = first(&events, "oom_kill");
    let v = &oom["victim"];
    assert_eq!(v["pid"], hog.pid, "{oom:#}");
    assert_eq!(v["comm"], "hog", "{oom:#}");
    assert_eq!(v["cgroup"], cg.path.as_str(), "{oom:#}");
    let anon = v["anon_rss_bytes"].as_u64().expect("anon RSS");
    assert!(
        (LIMIT / 2..=LIMIT + (16 << 20)).contains(&anon),
        "implausible anon RSS {anon}: {oom:#}"
    );
    assert!(v["total_vm_bytes"].as_u64().unwrap() >= anon, "{oom:#}");
    assert_eq!(
        v["args"][0],
        hog_bin(),
        "the victim allocated itself, so its argv is read in the kernel"
    );
    assert_eq!(oom["trigger"]["pid"], hog.pid, "{oom:#}");
    assert_eq!(oom["trigger"]["is_victim"], true, "{oom:#}");
    assert_eq!(oom["constraint"], "memcg", "{oom:#}");
    assert_eq!(oom["memcg"]["path"], cg.path.as_str(), "{oom:#}");
    assert_eq!(oom["memcg"]["limit_bytes"], LIMIT, "{oom:#}");
    assert_eq!(oom["missing"], serde_json::json!([]), "{oom:#}");
    assert!(
        oom["diagnosis"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["code"] == "oom_memcg"),
        "{oom:#}"
    );

    assert!(
        kernel_kills_of(&events, hog.pid).is_empty(),
        "the OOM killer's SIGKILL is part of the oom_kill event: {events:#?}"
    );
    let exit = first(&events, "exit");
    assert_eq!(exit["exit"]["code"], 137, "{exit:#}");
    assert_eq!(exit["cause"]["event"], "oom_kill", "{exit:#}");
    assert_eq!(exit["cause"]["id"], oom["id"], "{exit:#}");
    let pos = |e: &Value| events.iter().position(|x| x == e).unwrap();
    assert!(
        pos(oom) < pos(exit),
        "the OOM kill comes before the exit it caused"
    );
}

#[test]
fn the_task_that_allocates_is_not_always_the_one_killed() {
    let cg = Memcg::new("exitwatch-e2e-oom-other", LIMIT);
    // The victim-to-be holds 40 MiB and, with oom_score_adj 1000, is the OOM killer's choice
    // whoever allocates; the allocator (score 0, little memory) survives and carries on.
    let mut big = cg.hog(1000);
    big.tell("alloc 40");
    big.expect_line("allocated");
    let mut allocator = cg.hog(0);
    let mut ew = Exitwatch::start(&[
        "--pid",
        &big.pid_arg(),
        "--pid",
        &allocator.pid_arg(),
        "--format",
        "json",
    ]);
    allocator.tell("alloc 40");
    let oom = ew.wait_json(OOM_TIMEOUT, |v| v["event"] == "oom_kill");
    assert_eq!(oom["victim"]["pid"], big.pid, "{oom:#}");
    assert_eq!(oom["trigger"]["pid"], allocator.pid, "{oom:#}");
    assert_eq!(oom["trigger"]["comm"], "hog", "{oom:#}");
    assert_eq!(oom["trigger"]["is_victim"], false, "{oom:#}");
    assert_eq!(oom["victim"]["oom_score_adj"], 1000, "{oom:#}");
    assert_eq!(oom["constraint"], "memcg", "{oom:#}");
    assert_eq!(oom["memcg"]["path"], cg.path.as_str(), "{oom:#}");
    let exit = ew.wait_json(OOM_TIMEOUT, |v| v["event"] == "exit");
    assert_eq!(exit["target"]["pid"], big.pid, "{exit:#}");
    assert_eq!(exit["exit"]["code"], 137, "{exit:#}");
    allocator.expect_line("allocated");
    assert!(
        allocator.alive(),
        "the allocator survives once the victim's memory is freed"
    );
    let fin = ew.stop().assert_ok();
    let all = fin.json();
    assert!(kernel_kills_of(&all, big.pid).is_empty(), "{all:#?}");
}

/// The whole machine runs out of memory. Never on a shared host: `cargo xtask kernels` runs it
/// inside its throwaway QEMU guests (`--include-ignored`), where a global OOM harms nobody.
#[test]
#[ignore = "forces a node-wide OOM: runs only inside the kernel-matrix VMs (cargo xtask kernels)"]
fn a_node_out_of_memory_is_a_global_oom_kill() {
    let mut cmd = Command::new(hog_bin());
    cmd.args(["--oom-score-adj", "1000", "--max-secs", "120"]);
    let mut hog = Victim::from_command(cmd, "ready");
    let ew = Exitwatch::start(&["--pid", &hog.pid_arg(), "--format", "json"]);
    hog.tell("forever");
    let events = ew.wait_exit(Duration::from_secs(120)).assert_ok().json();
    let oom = first(&events, "oom_kill");
    assert_eq!(oom["victim"]["pid"], hog.pid, "{oom:#}");
    assert_eq!(oom["constraint"], "global", "{oom:#}");
    assert_eq!(
        oom["memcg"],
        Value::Null,
        "no cgroup limit was hit: {oom:#}"
    );
    assert!(
        oom["diagnosis"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["code"] == "oom_global"),
        "{oom:#}"
    );
    assert_eq!(first(&events, "exit")["exit"]["code"], 137);
}
