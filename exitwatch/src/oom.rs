//! The OOM killer's own account: the `oom-kill:` summary line it writes to the kernel log,
//! and the limiting memory cgroup's limit and usage. Pure parsing; I/O lives in `kmsg` and
//! `cgroupfs`.

/// Which limit ran out (`oom_constraint_text` in mm/oom_kill.c).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Constraint {
    /// CONSTRAINT_NONE: the whole node ran out of memory.
    Global,
    /// CONSTRAINT_MEMCG: a memory cgroup (a container or pod) hit its own limit.
    Memcg,
    Cpuset,
    Mempolicy,
}

impl Constraint {
    pub fn as_str(self) -> &'static str {
        match self {
            Constraint::Global => "global",
            Constraint::Memcg => "memcg",
            Constraint::Cpuset => "cpuset",
            Constraint::Mempolicy => "mempolicy",
        }
    }

    fn from_kernel(text: &str) -> Option<Self> {
        Some(match text {
            "CONSTRAINT_NONE" => Constraint::Global,
            "CONSTRAINT_MEMCG" => Constraint::Memcg,
            "CONSTRAINT_CPUSET" => Constraint::Cpuset,
            "CONSTRAINT_MEMORY_POLICY" => Constraint::Mempolicy,
            _ => return None,
        })
    }
}

/// One `oom-kill:constraint=…` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OomContext {
    pub constraint: Constraint,
    /// The memory cgroup whose limit was hit (None for a global OOM), relative to the memory
    /// controller's hierarchy root.
    pub oom_memcg: Option<String>,
    /// The victim's own memory cgroup.
    pub task_memcg: Option<String>,
    /// The victim thread's pid and name as the kernel printed them.
    pub pid: u32,
    pub task: String,
}

/// The limiting memory cgroup's state when exitwatch looked (just after the kill).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemcgUsage {
    /// None when unlimited.
    pub limit_bytes: Option<u64>,
    pub usage_bytes: Option<u64>,
    /// The highest usage recorded (v1 max_usage_in_bytes, v2 memory.peak on 5.19+): the
    /// level that met the limit, since usage has dropped by the time the event is read.
    pub peak_bytes: Option<u64>,
}

/// Parses one /dev/kmsg record (`prio,seq,usec,flags;message`) or a bare message.
pub fn parse_kmsg(record: &str) -> Option<OomContext> {
    let line = record.lines().next()?;
    let message = match line.split_once(';') {
        Some((header, msg)) if header.split(',').count() >= 3 => msg,
        _ => line,
    };
    let rest = message.trim().strip_prefix("oom-kill:")?;
    // `task=` is last but one and a comm may contain commas: split the tail off from the right.
    let (head, uid) = rest.rsplit_once(",uid=")?;
    uid.trim().parse::<u32>().ok()?;
    let (head, pid) = head.rsplit_once(",pid=")?;
    let pid = pid.parse().ok()?;
    let (head, task) = head.rsplit_once(",task=")?;
    let mut ctx = OomContext {
        constraint: Constraint::Global,
        oom_memcg: None,
        task_memcg: None,
        pid,
        task: task.to_owned(),
    };
    let mut constraint = None;
    // cgroup paths never contain ",key=" sequences the kernel itself writes; split on keys.
    for field in split_fields(head) {
        match field.split_once('=') {
            Some(("constraint", v)) => constraint = Constraint::from_kernel(v),
            Some(("oom_memcg", v)) => ctx.oom_memcg = Some(v.to_owned()),
            Some(("task_memcg", v)) => ctx.task_memcg = Some(v.to_owned()),
            _ => {}
        }
    }
    ctx.constraint = constraint?;
    Some(ctx)
}

/// The lines of a syslog(2) buffer that carry an `oom-kill:` summary.
pub fn oom_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.contains("oom-kill:")).collect()
}

/// Parses one syslog(2) line: `<prio>`, then `[seconds]` and `[caller]` when the kernel adds
/// them (CONFIG_PRINTK_TIME, CONFIG_PRINTK_CALLER), then the message.
pub fn parse_syslog(line: &str) -> Option<OomContext> {
    let mut rest = line.trim_start();
    if let Some(after) = rest.strip_prefix('<') {
        rest = after.split_once('>')?.1;
    }
    while let Some(after) = rest.strip_prefix('[') {
        rest = after.split_once(']')?.1.trim_start();
    }
    parse_kmsg(rest)
}

/// Splits on commas that start a known `key=` (nodemask and mems_allowed values contain commas).
fn split_fields(s: &str) -> Vec<&str> {
    const KEYS: [&str; 7] = [
        "constraint=",
        "nodemask=",
        "cpuset=",
        "mems_allowed=",
        "oom_memcg=",
        "task_memcg=",
        "global_oom",
    ];
    let mut fields = Vec::new();
    let mut start = 0;
    for (i, _) in s.match_indices(',') {
        if KEYS.iter().any(|k| s[i + 1..].starts_with(k)) {
            fields.push(&s[start..i]);
            start = i + 1;
        }
    }
    fields.push(&s[start..]);
    fields
}

/// Parses a cgroup memory limit file: v1 `memory.limit_in_bytes` (a huge number when
/// unlimited) or v2 `memory.max` (`max` when unlimited).
pub fn parse_limit(text: &str) -> Option<Option<u64>> {
    let t = text.trim();
    if t == "max" {
        return Some(None);
    }
    let v: u64 = t.parse().ok()?;
    // v1 reports "unlimited" as PAGE_COUNTER_MAX pages rounded to the page size (~2^63).
    Some((v < 1 << 62).then_some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_syslog_lines_with_and_without_time_and_caller() {
        let msg = "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/t,task_memcg=/t/c,task=hog,pid=77,uid=0";
        for line in [
            format!("<6>[  123.456789] {msg}"),
            format!("<6>[  123.456789][ T4242] {msg}"),
            format!("<6>{msg}"),
        ] {
            let c = parse_syslog(&line).unwrap_or_else(|| panic!("{line}"));
            assert_eq!(c.constraint, Constraint::Memcg, "{line}");
            assert_eq!(c.oom_memcg.as_deref(), Some("/t"), "{line}");
            assert_eq!((c.pid, c.task.as_str()), (77, "hog"), "{line}");
        }
        let buffer = format!(
            "<4>[    1.0] hog invoked oom-killer: gfp_mask=0xcc0\n<6>[    1.1] {msg}\n\
             <3>[    1.2] Memory cgroup out of memory: Killed process 77 (hog)\n"
        );
        let lines = oom_lines(&buffer);
        assert_eq!(lines.len(), 1, "only the summary line: {lines:?}");
        assert!(parse_syslog(lines[0]).is_some());
    }

    #[test]
    fn parses_a_memcg_oom_summary_from_kmsg() {
        let rec = "6,1234,5678901,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/kubepods/burstable/pod1234/abcd,task_memcg=/kubepods/burstable/pod1234/abcd,task=python3,pid=5937,uid=0";
        let c = parse_kmsg(rec).unwrap();
        assert_eq!(c.constraint, Constraint::Memcg);
        assert_eq!(
            c.oom_memcg.as_deref(),
            Some("/kubepods/burstable/pod1234/abcd")
        );
        assert_eq!(
            c.task_memcg.as_deref(),
            Some("/kubepods/burstable/pod1234/abcd")
        );
        assert_eq!((c.pid, c.task.as_str()), (5937, "python3"));
    }

    #[test]
    fn parses_a_global_oom_with_a_comma_in_the_task_name_and_node_ranges() {
        let msg = "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0-1,3,global_oom,task_memcg=/user.slice/user-0.slice/session-1.scope,task=evil,name,pid=42,uid=1000";
        let c = parse_kmsg(msg).unwrap();
        assert_eq!(c.constraint, Constraint::Global);
        assert_eq!(c.oom_memcg, None);
        assert_eq!(
            c.task_memcg.as_deref(),
            Some("/user.slice/user-0.slice/session-1.scope")
        );
        assert_eq!((c.pid, c.task.as_str()), (42, "evil,name"));
    }

    #[test]
    fn other_constraints_and_junk() {
        let msg = |c: &str| {
            format!("oom-kill:constraint={c},nodemask=0,cpuset=/,mems_allowed=0,global_oom,task=x,pid=1,uid=0")
        };
        assert_eq!(
            parse_kmsg(&msg("CONSTRAINT_CPUSET")).unwrap().constraint,
            Constraint::Cpuset
        );
        assert_eq!(
            parse_kmsg(&msg("CONSTRAINT_MEMORY_POLICY"))
                .unwrap()
                .constraint,
            Constraint::Mempolicy
        );
        assert_eq!(parse_kmsg(&msg("CONSTRAINT_BOGUS")), None);
        assert_eq!(
            parse_kmsg("6,1,2,-;Memory cgroup out of memory: Killed process 5937 (python3)"),
            None
        );
        assert_eq!(
            parse_kmsg("oom-kill:constraint=CONSTRAINT_MEMCG,task=x,pid=notanumber,uid=0"),
            None
        );
        assert_eq!(parse_kmsg(""), None);
    }

    #[test]
    fn limits_v1_v2_and_unlimited() {
        assert_eq!(parse_limit("67108864\n"), Some(Some(64 << 20)));
        assert_eq!(parse_limit("max\n"), Some(None));
        assert_eq!(parse_limit("9223372036854771712\n"), Some(None));
        assert_eq!(parse_limit("junk"), None);
    }
}
