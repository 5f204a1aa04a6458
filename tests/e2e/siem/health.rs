//! Honest health and outputs that outlive their surroundings: a file output that logrotate
//! renames, someone removes, or a symbolic link replaces; a full disk; `/healthz` while the only
//! output fails and after it recovers; `/metrics` and `/healthz` under many idle connections.

use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::collectors::{free_tcp_port, wait_until, HttpReceiver, Mode, TempDir};
use super::{free_port, get, metric};
use crate::harness::{self, Exitwatch, Victim, EVENT_TIMEOUT};

/// The file output checks its path at most every second.
const FOLLOW: Duration = Duration::from_millis(1200);

fn watch_usr1(victim: &Victim, rest: &[&str]) -> Exitwatch {
    let pid = victim.pid_arg();
    let mut args = vec!["--pid", &pid, "-s", "USR1", "--format", "json"];
    args.extend_from_slice(rest);
    Exitwatch::start(&args)
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

/// One USR1 to `victim`, seen on exitwatch's stdout.
fn one_event(ew: &mut Exitwatch, victim: &Victim) {
    harness::send("USR1", victim.pid, 1);
    ew.wait_json(EVENT_TIMEOUT, |v| v["event"] == "signal");
}

#[test]
fn file_output_follows_logrotate_and_rm_and_refuses_a_symlink() {
    let dir = TempDir::new("follow");
    let path = dir.join("events.log");
    let victim = Victim::spawn(&["--handle", "USR1"]);
    let port = free_port();
    let url = format!("file://{}", path.display());
    let mut ew = watch_usr1(
        &victim,
        &[
            "-o",
            "stdout",
            "-o",
            &url,
            "--metrics-addr",
            &format!("127.0.0.1:{port}"),
        ],
    );
    one_event(&mut ew, &victim);
    assert!(wait_until(Duration::from_secs(3), || lines(&path) == 1));
    let up = format!("exitwatch_output_up{{output=\"{url}\"}}");
    let last = format!("exitwatch_output_last_success_timestamp_seconds{{output=\"{url}\"}}");
    assert_eq!(metric(port, &up), Some(1));
    assert!(metric(port, &last) > Some(1_700_000_000));

    // logrotate (no copytruncate): rename, then new events go to a new file at the path.
    let old = dir.join("events.log.1");
    std::fs::rename(&path, &old).unwrap();
    std::thread::sleep(FOLLOW);
    one_event(&mut ew, &victim);
    assert!(
        wait_until(Duration::from_secs(3), || lines(&path) == 1),
        "no new file at the path after a rename"
    );
    assert_eq!(lines(&old), 1, "the renamed file got the new event");

    // Removed: recreated.
    std::fs::remove_file(&path).unwrap();
    std::thread::sleep(FOLLOW);
    one_event(&mut ew, &victim);
    assert!(
        wait_until(Duration::from_secs(3), || lines(&path) == 1),
        "no file recreated at the path after rm"
    );

    // A symbolic link put in its place is not followed: its target stays as it was.
    let target = dir.join("precious");
    std::fs::write(&target, "keep me\n").unwrap();
    std::fs::remove_file(&path).unwrap();
    std::os::unix::fs::symlink(&target, &path).unwrap();
    std::thread::sleep(FOLLOW);
    one_event(&mut ew, &victim);
    let dropped = format!("exitwatch_sink_dropped_total{{sink=\"{url}\"}}");
    assert!(
        wait_until(Duration::from_secs(3), || metric(port, &dropped) == Some(1)),
        "the event was not dropped and counted:\n{}",
        get(port, "/metrics").1
    );
    assert_eq!(metric(port, &up), Some(0));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me\n");

    // The link removed, the output writes again.
    std::fs::remove_file(&path).unwrap();
    one_event(&mut ew, &victim);
    assert!(
        wait_until(Duration::from_secs(3), || lines(&path) == 1),
        "no file at the path once the link was removed"
    );
    assert_eq!(metric(port, &up), Some(1));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me\n");
    let done = ew.stop().assert_ok();
    assert!(done.stderr.contains("symbolic link"), "{}", done.stderr);
    assert!(done.stderr.contains("writing again"), "{}", done.stderr);
}

/// A small tmpfs, unmounted on drop.
struct SmallFs(std::path::PathBuf);

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn file_output_drops_and_counts_on_a_full_disk_and_recovers() {
    let dir = TempDir::new("enospc");
    let mnt = dir.join("small");
    std::fs::create_dir(&mnt).unwrap();
    harness::run(
        Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(&mnt),
    );
    let _fs = SmallFs(mnt.clone());
    let path = mnt.join("events.log");
    let victim = Victim::spawn(&["--handle", "USR1"]);
    let port = free_port();
    let url = format!("file://{}", path.display());
    let mut ew = watch_usr1(
        &victim,
        &[
            "-o",
            "stdout",
            "-o",
            &url,
            "--metrics-addr",
            &format!("127.0.0.1:{port}"),
        ],
    );
    // Fill the filesystem: the write stops at ENOSPC.
    let filler = mnt.join("filler");
    let err = std::fs::write(&filler, vec![0u8; 128 * 1024]).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");
    one_event(&mut ew, &victim);
    let dropped = format!("exitwatch_sink_dropped_total{{sink=\"{url}\"}}");
    assert!(
        wait_until(Duration::from_secs(3), || metric(port, &dropped) == Some(1)),
        "{}",
        get(port, "/metrics").1
    );
    assert_eq!(lines(&path), 0);
    // Space again: the next events arrive, whole.
    std::fs::remove_file(&filler).unwrap();
    one_event(&mut ew, &victim);
    assert!(
        wait_until(Duration::from_secs(3), || lines(&path) == 1),
        "no event written once space returned"
    );
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str::<serde_json::Value>(text.trim_end()).expect("a whole JSON line");
    let done = ew.stop().assert_ok();
    assert!(
        done.stderr.contains("No space left on device"),
        "{}",
        done.stderr
    );
    assert!(done.stderr.contains("writing again"), "{}", done.stderr);
}

#[test]
fn healthz_fails_while_the_only_output_fails_and_recovers_with_it() {
    let closed = free_tcp_port();
    let victim = Victim::spawn(&["--handle", "USR1"]);
    let port = free_port();
    let url = format!("http://127.0.0.1:{closed}/");
    let ew = watch_usr1(
        &victim,
        &[
            "-o",
            &url,
            "--unhealthy-after",
            "2",
            "--http-batch-wait",
            "100ms",
            "--metrics-addr",
            &format!("127.0.0.1:{port}"),
        ],
    );
    assert_eq!(get(port, "/healthz"), (200, "ok\n".to_owned()));
    harness::send("USR1", victim.pid, 1);
    let up = format!("exitwatch_output_up{{output=\"{url}\"}}");
    assert!(wait_until(Duration::from_secs(3), || metric(port, &up) == Some(0)));
    // Failing, but not for 2 s yet.
    assert_eq!(get(port, "/healthz").0, 200);
    assert!(
        wait_until(Duration::from_secs(6), || get(port, "/healthz").0 == 503),
        "healthy while the only output fails"
    );
    let (_, why) = get(port, "/healthz");
    assert!(why.contains("every output has been failing"), "{why}");
    // The agent itself is alive: the liveness probe must not restart it for a dead SIEM.
    assert_eq!(get(port, "/livez"), (200, "ok\n".to_owned()));
    // A receiver appears on that port: the retry delivers, and health returns.
    let rx = HttpReceiver::start_on(closed, Mode::Ok);
    assert!(
        wait_until(Duration::from_secs(40), || get(port, "/healthz").0 == 200),
        "still unhealthy after the receiver came: {:?}",
        get(port, "/healthz")
    );
    assert_eq!(rx.lines().len(), 1);
    assert_eq!(metric(port, &up), Some(1));
    let last = format!("exitwatch_output_last_success_timestamp_seconds{{output=\"{url}\"}}");
    assert!(metric(port, &last) > Some(1_700_000_000));
    ew.stop().assert_ok();
}

/// A field of /proc/PID/status, as a number (kB for memory).
fn status_field(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    text.lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .trim()
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no {field} in\n{text}"))
}

#[test]
fn many_idle_connections_to_metrics_neither_pile_up_nor_stop_healthz() {
    let victim = Victim::spawn(&["--handle", "USR1"]);
    let port = free_port();
    let ew = watch_usr1(&victim, &["--metrics-addr", &format!("127.0.0.1:{port}")]);
    assert_eq!(get(port, "/healthz").0, 200);
    let threads = status_field(ew.pid(), "Threads:");
    let rss = status_field(ew.pid(), "VmRSS:");
    // Five times the cap of 32, each saying nothing.
    let idle: Vec<TcpStream> = (0..160)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        status_field(ew.pid(), "Threads:"),
        threads,
        "a thread per connection"
    );
    let grown = status_field(ew.pid(), "VmRSS:").saturating_sub(rss);
    assert!(
        grown < 8 * 1024,
        "RSS grew by {grown} kB for idle connections"
    );
    drop(idle);
    assert!(
        wait_until(Duration::from_secs(2), || get(port, "/healthz").0 == 200),
        "/healthz does not answer once the idle connections are gone"
    );
    ew.stop().assert_ok();
}
