//! Part 8: fatal signals in a flood. Unprivileged senders (uid 65534) send non-fatal signals
//! as fast as they can from every CPU, each within the default per-sender budget; meanwhile
//! processes are killed, by root and by the flood's own user. Every fatal signal must be
//! reported, and what each flooder's budget suppressed must be exactly what it sent and was
//! not printed.

use std::{collections::HashSet, io::Read, process::Stdio, thread, time::Duration};

use anyhow::{bail, Context as _, Result};

use super::{
    counter::Detail,
    ledger::{self, Entry},
    plan::Plan,
    procs::Guarded,
    tools::{as_user, parse_sent, sender_command, Bins, Running, Storm, Tracer, Victim},
};

/// `nobody` on Debian: no privilege, so it may only signal its own processes.
pub const UNPRIVILEGED: u32 = 65534;
const FLOOD_LIMIT: Duration = Duration::from_secs(180);
const SETTLE: Duration = Duration::from_millis(1500);
/// How long the flood runs before the kills.
const HEAD_START: Duration = Duration::from_millis(300);

#[derive(Clone, Debug, Default)]
pub struct Flood {
    pub senders: usize,
    pub sent: u64,
    pub received: u64,
    pub suppressed: u64,
    pub lost_nonfatal: u64,
    /// Flooders whose sent != printed + suppressed (per sender, when nothing was lost).
    pub senders_inexact: usize,
    /// Non-fatal signals per second, all flooders together.
    pub rate: f64,
    pub fatal_sent: u64,
    pub fatal_reported: u64,
    pub lost_fatal: u64,
    /// Whether every flooder was still sending when the kills were sent.
    pub kills_during_flood: bool,
}

pub fn run(bins: &Bins, plan: &Plan) -> Result<Flood> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut victims = Vec::new();
    for cpu in 0..cpus {
        victims.push(Victim::start_as(
            bins,
            Storm::IgnoredUsr1,
            &cpu.to_string(),
            Some(UNPRIVILEGED),
        )?);
    }
    // Half the doomed belong to root, half to the flood's own user.
    let mut doomed = Vec::new();
    for i in 0..plan.flood_kills {
        let uid = (i % 2 == 1).then_some(UNPRIVILEGED);
        let mut cmd = as_user(uid, "sleep");
        cmd.arg("600").stdin(Stdio::null());
        doomed.push(Guarded::spawn(&mut cmd, "a process to kill")?);
    }
    let mut args: Vec<String> = ["--all-signals", "--format", "json"]
        .map(String::from)
        .into();
    for pid in victims
        .iter()
        .map(|v| v.pid)
        .chain(doomed.iter().map(Guarded::pid))
    {
        args.extend(["--pid".into(), pid.to_string()]);
    }
    let running = Running::start_with(bins, &Tracer::Exitwatch(args), Detail::Everything)?;
    let mut flooders = Vec::new();
    for (cpu, victim) in victims.iter().enumerate() {
        let mut cmd = sender_command(bins, victim, &cpu.to_string(), Some(UNPRIVILEGED));
        cmd.args(["--count", &plan.flood_calls.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        flooders.push(Guarded::spawn(&mut cmd, "a flooding sender")?);
    }
    thread::sleep(HEAD_START);
    let mut kills_during_flood = true;
    for f in &mut flooders {
        kills_during_flood &= f.child.try_wait()?.is_none();
    }
    let of = |odd: bool| -> Vec<u32> {
        doomed
            .iter()
            .enumerate()
            .filter(|(i, _)| (i % 2 == 1) == odd)
            .map(|(_, g)| g.pid())
            .collect()
    };
    let (by_root, by_nobody) = (of(false), of(true));
    kill(None, "-KILL", &by_root)?;
    kill(Some(UNPRIVILEGED), "-TERM", &by_nobody)?;
    for f in &mut flooders {
        kills_during_flood &= f.child.try_wait()?.is_none();
    }
    let mut sent_by = Vec::new();
    let mut longest = Duration::ZERO;
    for mut f in flooders {
        f.wait_for(FLOOD_LIMIT)?;
        let mut out = String::new();
        if let Some(mut stdout) = f.child.stdout.take() {
            stdout.read_to_string(&mut out)?;
        }
        let sent = parse_sent(&out)?;
        longest = longest.max(sent.elapsed);
        sent_by.push((f.pid(), sent.sent));
    }
    let fatal_sent = doomed.len() as u64;
    for mut d in doomed {
        d.wait_for(Duration::from_secs(10))?;
    }
    thread::sleep(SETTLE);
    let counts = running.stop()?;

    let doomed_pids: HashSet<u32> = by_root.iter().chain(&by_nobody).copied().collect();
    let fatal_reported = counts
        .seen
        .iter()
        .filter(|s| s.fatal && doomed_pids.contains(&s.target))
        .map(|s| s.target)
        .collect::<HashSet<_>>()
        .len() as u64;
    let mut r = Flood {
        senders: sent_by.len(),
        lost_nonfatal: counts.lost_class("nonfatal"),
        rate: 0.0,
        fatal_sent,
        fatal_reported,
        lost_fatal: counts.lost_class("fatal"),
        kills_during_flood,
        ..Flood::default()
    };
    for (pid, sent) in sent_by {
        let received = counts
            .seen
            .iter()
            .filter(|s| s.sender == pid && !s.fatal)
            .count() as u64;
        let suppressed = counts.suppressed_from.get(&pid).copied().unwrap_or(0);
        r.sent += sent;
        r.received += received;
        r.suppressed += suppressed;
        if sent != received + suppressed {
            r.senders_inexact += 1;
        }
    }
    r.rate = r.sent as f64 / longest.as_secs_f64();
    ledger::record(Entry {
        scenario: "flood".into(),
        class: "nonfatal",
        sent: r.sent,
        received: r.received,
        suppressed: r.suppressed,
        lost: r.lost_nonfatal,
        dropped: counts.dropped,
    });
    ledger::record(Entry {
        scenario: "flood".into(),
        class: "fatal",
        sent: r.fatal_sent,
        received: r.fatal_reported,
        suppressed: 0,
        lost: r.lost_fatal,
        dropped: counts.dropped,
    });
    eprintln!(
        "bench: flood from {} unprivileged senders: {} sent ({:.0}/s), {} printed, {} suppressed, \
         {} lost; {} of {} fatal signals reported ({} lost){}; {} senders not exact",
        r.senders,
        r.sent,
        r.rate,
        r.received,
        r.suppressed,
        r.lost_nonfatal,
        r.fatal_reported,
        r.fatal_sent,
        r.lost_fatal,
        if r.kills_during_flood {
            ", sent during the flood"
        } else {
            ", NOT during the flood"
        },
        r.senders_inexact
    );
    Ok(r)
}

/// kill(1) run as `uid`: one process sending `signal` to each of `pids`.
fn kill(uid: Option<u32>, signal: &str, pids: &[u32]) -> Result<()> {
    if pids.is_empty() {
        return Ok(());
    }
    let mut cmd = as_user(uid, "kill");
    let status = cmd
        .arg(signal)
        .args(pids.iter().map(u32::to_string))
        .status()
        .context("running kill(1)")?;
    if !status.success() {
        bail!(
            "kill {signal} of {} processes failed ({status})",
            pids.len()
        );
    }
    Ok(())
}
