//! Part 7: a big container dies at once. N processes in a cgroup v2 group, killed together
//! through `cgroup.kill`, with exitwatch as deployed (default filter, default rings): every
//! SIGKILL and every exit must be reported, nothing lost.

use std::{
    collections::HashSet,
    fs,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};

use super::{
    counter::Detail,
    ledger::{self, Entry},
    plan::{self, Plan},
    procs::Guarded,
    tools::{Bins, Running},
};

const POPULATE_LIMIT: Duration = Duration::from_secs(180);
const DIE_LIMIT: Duration = Duration::from_secs(60);
/// exitwatch reports its loss counts on a 1-second tick; one more lets the last turn land.
const SETTLE: Duration = Duration::from_millis(1500);

#[derive(Clone, Debug)]
pub struct CgroupKill {
    pub members: u64,
    pub killed: u64,
    pub exited: u64,
    /// Lost records by class (fatal, nonfatal, identity, exit).
    pub lost_by: [u64; 4],
    pub dropped: u64,
    /// From the write to cgroup.kill until the cgroup was empty, and until exitwatch's last
    /// signal line.
    pub die_ms: f64,
    pub reported_ms: f64,
}

impl CgroupKill {
    pub fn missing(&self) -> u64 {
        (self.members - self.killed.min(self.members))
            + (self.members - self.exited.min(self.members))
    }
}

/// The cgroup v2 hierarchy's mount point, from /proc/self/mountinfo (pure v2 at
/// /sys/fs/cgroup, or hybrid at /sys/fs/cgroup/unified).
pub fn cgroup2_mount(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let (mount, fs) = line.split_once(" - ")?;
        let fstype = fs.split_whitespace().next()?;
        let point = mount.split_whitespace().nth(4)?;
        (fstype == "cgroup2").then(|| PathBuf::from(point))
    })
}

pub fn run(bins: &Bins, plan: &Plan) -> Result<CgroupKill> {
    let mountinfo =
        fs::read_to_string("/proc/self/mountinfo").context("reading /proc/self/mountinfo")?;
    let root = cgroup2_mount(&mountinfo)
        .context("no cgroup2 hierarchy is mounted (see /proc/self/mountinfo): mount one, e.g. `mount -t cgroup2 none /sys/fs/cgroup/unified`")?;
    let group = Group::create(&root.join(format!("exitwatch-bench-{}", std::process::id())))?;
    let n = plan.cgroup_procs;
    let t0 = Instant::now();
    let mut parent = populate(&group.dir, n)?;
    let members = group.pids()?;
    eprintln!(
        "bench: cgroup.kill: {} processes in {} after {:.1} s",
        members.len(),
        group.dir.display(),
        t0.elapsed().as_secs_f64()
    );
    let running = Running::start_with(bins, &plan::exitwatch_default(), Detail::Everything)?;
    let killed_at = Instant::now();
    fs::write(group.dir.join("cgroup.kill"), "1").context("writing 1 to cgroup.kill")?;
    group.wait_empty(DIE_LIMIT)?;
    let die_ms = killed_at.elapsed().as_secs_f64() * 1000.0;
    // The parent (outside the group) reaps them all, then exits.
    parent.wait_for(DIE_LIMIT)?;
    thread::sleep(SETTLE);
    let counts = running.stop()?;
    let killed: HashSet<u32> = counts
        .seen
        .iter()
        .filter(|s| s.signo == 9 && members.contains(&s.target))
        .map(|s| s.target)
        .collect();
    let exited: HashSet<u32> = counts
        .exited
        .iter()
        .copied()
        .filter(|p| members.contains(p))
        .collect();
    let r = CgroupKill {
        members: members.len() as u64,
        killed: killed.len() as u64,
        exited: exited.len() as u64,
        lost_by: counts.lost_by,
        dropped: counts.dropped,
        die_ms,
        reported_ms: counts.last_signal.map_or(f64::NAN, |t| {
            t.saturating_duration_since(killed_at).as_secs_f64() * 1000.0
        }),
    };
    let book = |class, received, lost| {
        ledger::record(Entry {
            scenario: "cgroup.kill".into(),
            class,
            sent: r.members,
            received,
            suppressed: 0,
            lost,
            dropped: r.dropped,
        })
    };
    book("fatal", r.killed, r.lost_by[0]);
    book("exit", r.exited, r.lost_by[3]);
    eprintln!(
        "bench: cgroup.kill of {} processes: {} SIGKILLs and {} exits reported, lost by class {:?}; \
         empty after {:.0} ms, last signal line after {:.0} ms",
        r.members, r.killed, r.exited, r.lost_by, r.die_ms, r.reported_ms
    );
    Ok(r)
}

/// A parent outside the group forks `n` children that move themselves into it and sleep; it
/// reaps them when they die (this machine's PID 1 may not).
fn populate(dir: &Path, n: u64) -> Result<Guarded> {
    const SCRIPT: &str = r#"my ($n, $procs) = @ARGV; $| = 1;
for (1..$n) {
    my $pid = fork; die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        close(STDOUT);
        open(my $f, '>', $procs) or die "open $procs: $!"; print $f "$$\n"; close($f) or die "join: $!";
        sleep 600; exit 0;
    }
}
print "forked\n"; 1 while wait() != -1;"#;
    let mut cmd = Command::new("perl");
    cmd.args(["-e", SCRIPT, &n.to_string()])
        .arg(dir.join("cgroup.procs"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let mut parent = Guarded::spawn(&mut cmd, "the cgroup's forking parent")?;
    let stdout = parent.child.stdout.take().context("stdout")?;
    let deadline = Instant::now() + POPULATE_LIMIT;
    let mut line = String::new();
    // It says `forked` when done, or dies (and its stdout closes) on a failed fork.
    BufReader::new(stdout).read_line(&mut line)?;
    if line.trim() != "forked" {
        bail!("perl could not fork {n} processes (its stderr is above)");
    }
    while count_lines(&dir.join("cgroup.procs"))? < n {
        if Instant::now() > deadline {
            bail!(
                "{n} processes did not join {} within {POPULATE_LIMIT:?}",
                dir.display()
            );
        }
        thread::sleep(Duration::from_millis(50));
    }
    Ok(parent)
}

fn count_lines(path: &Path) -> Result<u64> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text.lines().count() as u64)
}

/// A cgroup of the bench's: whatever is left in it is killed and it is removed on drop.
struct Group {
    dir: PathBuf,
}

impl Group {
    fn create(dir: &Path) -> Result<Group> {
        fs::create_dir(dir).with_context(|| format!("creating cgroup {}", dir.display()))?;
        let group = Group {
            dir: dir.to_owned(),
        };
        if !dir.join("cgroup.kill").exists() {
            bail!("{} has no cgroup.kill (Linux 5.14+ needed)", dir.display());
        }
        Ok(group)
    }

    fn pids(&self) -> Result<HashSet<u32>> {
        let text = fs::read_to_string(self.dir.join("cgroup.procs"))?;
        Ok(text.lines().filter_map(|l| l.trim().parse().ok()).collect())
    }

    fn wait_empty(&self, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            let events = fs::read_to_string(self.dir.join("cgroup.events")).unwrap_or_default();
            if events.lines().any(|l| l.trim() == "populated 0") {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{} still had processes {limit:?} after cgroup.kill",
                    self.dir.display()
                );
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let _ = fs::write(self.dir.join("cgroup.kill"), "1");
        let _ = self.wait_empty(Duration::from_secs(10));
        if let Err(e) = fs::remove_dir(&self.dir) {
            eprintln!(
                "bench: warning: could not remove cgroup {}: {e}",
                self.dir.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_v2_hierarchy() {
        let hybrid = "25 31 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n\
                      41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n\
                      42 25 0:39 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        assert_eq!(
            cgroup2_mount(hybrid),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        let v1 = "42 25 0:39 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        assert_eq!(cgroup2_mount(v1), None);
    }
}
