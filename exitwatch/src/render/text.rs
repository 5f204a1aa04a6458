//! The human view: a one-line verdict, then the facts (sender, argv, user, ancestry, target).
//! Every kernel-provided string goes through `escape_text`.

use std::io::{self, Write};

use super::Context;
use crate::escape::{escape_text, shell_words};
use crate::event::{Actor, Event, ExitEvent, OomEvent, Place, Proc, Sender, SignalEvent};
use crate::oom::Constraint;
use crate::signals::{self, Disposition, SignalResult};
use crate::story::{Annotated, Cause};
use crate::timefmt::{human_duration, rfc3339_nanos};

const BOLD: &str = "\x1b[1m";
const RED: &str = "\x1b[1;31m";
const YELLOW: &str = "\x1b[1;33m";
const RESET: &str = "\x1b[0m";
/// Characters of the sender's command line quoted in the one-line verdict.
const VERDICT_CMD_CHARS: usize = 60;

pub fn render(ctx: &Context, a: &Annotated, out: &mut dyn Write) -> io::Result<()> {
    match &a.event {
        Event::Signal(ev) => signal(ctx, ev, out)?,
        Event::Exit(ev) => exit(ctx, ev, a.cause.as_ref(), out)?,
        Event::Oom(ev) => oom(ctx, ev, out)?,
        Event::Lost { count } => writeln!(
            out,
            "{}warning:{} {count} event(s) lost: the kernel ring buffer was full; raise --ring-buffer-size",
            paint(ctx, YELLOW),
            paint(ctx, RESET)
        )?,
    }
    for d in &a.diagnosis {
        // Messages quote process names and cgroup paths: escape them like every kernel string.
        let message = escape_text(d.message.as_bytes());
        writeln!(
            out,
            "  {}diagnosis{} {}: {message}",
            paint(ctx, YELLOW),
            paint(ctx, RESET),
            d.code
        )?;
    }
    Ok(())
}

fn paint(ctx: &Context, code: &'static str) -> &'static str {
    if ctx.color {
        code
    } else {
        ""
    }
}

/// `name(pid)`, escaped.
pub fn who(p: &Proc) -> String {
    format!("{}({})", escape_text(&p.comm), p.pid)
}

fn signal_name(signo: i32) -> String {
    signals::name(signo).map_or_else(|| format!("signal {signo}"), str::to_owned)
}

/// "root's `pkill -9 server` (via sshd → bash)"
/// "root's `pkill -9 server` (the container runtime, on the host, via sshd → bash)"
fn sender_phrase(ctx: &Context, ev: &SignalEvent, a: &Actor) -> String {
    let user = ctx
        .users
        .name(a.uid)
        .map_or_else(|| format!("uid {}", a.uid), str::to_owned);
    let mut cmd = if a.args.is_empty() {
        escape_text(&a.proc.comm)
    } else {
        shell_words(&a.args)
    };
    if cmd.chars().count() > VERDICT_CMD_CHARS {
        // The verdict stays one readable line; the full argv is on the `args` line.
        cmd = cmd
            .chars()
            .take(VERDICT_CMD_CHARS)
            .chain(std::iter::once('…'))
            .collect();
    }
    let mut notes = Vec::new();
    if let Some(role) =
        crate::role::of(&ev.sender).filter(|r| *r != crate::role::Role::InteractiveUser)
    {
        notes.push(role.describe().to_owned());
    }
    match &a.place.container {
        Some(c) => notes.push(format!("in {}", escape_text(c.describe().as_bytes()))),
        None if ev.target_place.container.is_some() => notes.push("on the host".into()),
        None => {}
    }
    let via: Vec<String> = a
        .ancestry
        .iter()
        .rev()
        .take(2)
        .rev()
        .filter(|x| x.pid > 1)
        .map(|x| escape_text(&x.comm))
        .collect();
    if !via.is_empty() {
        notes.push(format!("via {}", via.join(" → ")));
    }
    let notes = if notes.is_empty() {
        String::new()
    } else {
        format!(" ({})", notes.join(", "))
    };
    format!("{user}'s `{cmd}`{notes}")
}

/// `name(pid)`, and its container when it has one.
fn who_in(p: &Proc, place: &Place) -> String {
    match &place.container {
        Some(c) => format!("{} in {}", who(p), escape_text(c.describe().as_bytes())),
        None => who(p),
    }
}

fn outcome(ev: &SignalEvent) -> String {
    let target = who_in(&ev.target, &ev.target_place);
    let sig = signal_name(ev.signo);
    match ev.result {
        SignalResult::Delivered | SignalResult::AlreadyPending if ev.fatal() => {
            let pending = if ev.result == SignalResult::AlreadyPending { "already pending" } else { "delivered" };
            format!("{pending}: {target} will exit with code {}", ev.exit_code_if_fatal())
        }
        SignalResult::Delivered => match ev.disposition {
            Some(Disposition::Handled) => format!("delivered: {target} handles {sig} itself and decides whether to exit"),
            Some(Disposition::Ignored) => format!("delivered, but {target} ignores {sig}"),
            _ => format!("delivered to {target}"),
        },
        SignalResult::Ignored if ev.target.ns_pid == Some(1) => format!(
            "ignored: {target} is PID 1 of its pid namespace and has no handler for {sig}, so the kernel drops it \
             (install a handler, or run an init such as tini)"
        ),
        SignalResult::Ignored => format!("ignored by {target}"),
        SignalResult::AlreadyPending => format!("already pending for {target}"),
        SignalResult::OverflowFail => format!("not queued for {target}: the signal queue is full"),
        SignalResult::LoseInfo => format!("queued for {target} without its siginfo (queue full)"),
    }
}

fn signal(ctx: &Context, ev: &SignalEvent, out: &mut dyn Write) -> io::Result<()> {
    let sig = signal_name(ev.signo);
    let from = match &ev.sender {
        Sender::Process(a) => sender_phrase(ctx, ev, a),
        Sender::Kernel { reason, .. } => format!("the kernel ({})", reason.describe()),
    };
    let (hl, reset) = (
        paint(ctx, if ev.fatal() { RED } else { BOLD }),
        paint(ctx, RESET),
    );
    writeln!(
        out,
        "{} {hl}{sig}{reset} from {from}, {}",
        rfc3339_nanos(ctx.wall_ns(ev.time_ns)),
        outcome(ev)
    )?;
    let (label, actor) = match &ev.sender {
        Sender::Process(a) => ("sender", a),
        Sender::Kernel { context, .. } => ("context", context),
    };
    write_actor(ctx, label, actor, out)?;
    let disposition = ev.disposition.map_or("unknown", |d| d.as_str());
    let mut detail = format!(
        "{sig} ({}), {}",
        signals::code_name(ev.signo, ev.code),
        ev.result.as_str()
    );
    if !ev.group {
        detail.push_str(", to one thread");
    }
    if let Some(addr) = ev.fault_addr {
        detail.push_str(&format!(", fault address {addr:#x}"));
    }
    writeln!(out, "  signal    {detail}")?;
    write_container(&ev.target_place, out)?;
    writeln!(
        out,
        "  target    {} tid {}{}, disposition {disposition}",
        who(&ev.target),
        ev.target.tid,
        ns(&ev.target)
    )
}

fn ns(p: &Proc) -> String {
    match p.ns_pid {
        Some(n) if n != p.pid => format!(" (pid {n} in its namespace)"),
        _ => String::new(),
    }
}

fn write_container(place: &Place, out: &mut dyn Write) -> io::Result<()> {
    let Some(c) = &place.container else {
        return Ok(());
    };
    // The label says "container" already: "container nginx of pod shop/web, id ...".
    let described = c.describe();
    let what = described.strip_prefix("container ").unwrap_or(&described);
    let mut line = format!("{what}, id {}", c.id);
    if let Some(rt) = c.runtime {
        line.push_str(&format!(", runtime {}", rt.as_str()));
    }
    if let Some(image) = &c.image {
        line.push_str(&format!(", image {image}"));
    }
    if let crate::container::identity::MetadataStatus::Unavailable(why) = &c.metadata {
        line.push_str(&format!(" (no names: {why})"));
    }
    writeln!(out, "  container {}", escape_text(line.as_bytes()))
}

fn write_actor(ctx: &Context, label: &str, a: &Actor, out: &mut dyn Write) -> io::Result<()> {
    let name = |uid: u32| {
        ctx.users
            .name(uid)
            .map_or_else(String::new, |n| format!(" ({n})"))
    };
    let mut ids = format!("uid {}{} euid {} gid {}", a.uid, name(a.uid), a.euid, a.gid);
    if let Some(l) = a.loginuid {
        ids.push_str(&format!(" loginuid {l}{}", name(l)));
    }
    if let Some(s) = a.sessionid {
        ids.push_str(&format!(" session {s}"));
    }
    if a.kernel_thread {
        ids.push_str(" [kernel thread]");
    }
    writeln!(
        out,
        "  {label:<9} {} tid {}{}, {ids}",
        who(&a.proc),
        a.proc.tid,
        ns(&a.proc)
    )?;
    if let Some(exe) = &a.exe {
        let deleted = if a.exe_deleted { " (deleted)" } else { "" };
        writeln!(out, "  exe       {}{deleted}", escape_text(exe))?;
    }
    if !a.args.is_empty() {
        let more = if a.args_truncated {
            " …(truncated)"
        } else {
            ""
        };
        writeln!(out, "  args      {}{more}", shell_words(&a.args))?;
    }
    if let Some(p) = a.parent() {
        writeln!(out, "  parent    {}({})", escape_text(&p.comm), p.pid)?;
    }
    let mut chain: Vec<String> = a
        .ancestry
        .iter()
        .map(|x| format!("{}({})", escape_text(&x.comm), x.pid))
        .collect();
    if a.ancestry_truncated {
        chain.insert(0, "…".into());
    }
    chain.push(who(&a.proc));
    write_container(&a.place, out)?;
    writeln!(out, "  ancestry  {}", chain.join(" → "))
}

/// "64 MiB", "1.5 GiB", "512 KiB".
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 || v.fract() < 0.05 {
        format!("{:.0} {}", v, UNITS[unit])
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

fn oom(ctx: &Context, ev: &OomEvent, out: &mut dyn Write) -> io::Result<()> {
    let (red, reset) = (paint(ctx, RED), paint(ctx, RESET));
    let cause = match &ev.context {
        Some(c) => match (c.constraint, &c.oom_memcg) {
            (Constraint::Memcg, Some(path)) => {
                let limit = ev.memcg_usage.and_then(|u| u.limit_bytes).map_or_else(String::new, |l| format!(" {}", bytes(l)));
                format!("memory cgroup {} hit its{limit} limit", escape_text(path.as_bytes()))
            }
            (Constraint::Global, _) => "the node ran out of memory (global OOM)".into(),
            (Constraint::Cpuset, _) => "the victim's cpuset nodes ran out of memory".into(),
            (Constraint::Mempolicy, _) => "the victim's memory policy nodes ran out of memory".into(),
            (Constraint::Memcg, None) => "a memory cgroup hit its limit".into(),
        },
        None => "out of memory (the kernel log's oom-kill line was not available, so which limit is unknown)".into(),
    };
    let mem = ev.memory.map_or_else(String::new, |m| {
        format!("anon RSS {}, ", bytes(m.anon_pages * ctx.page_size))
    });
    let trigger = if ev.trigger_is_victim() {
        "its own allocation".to_owned()
    } else {
        format!("an allocation by {}", who(&ev.trigger))
    };
    writeln!(
        out,
        "{} {red}OOM killer{reset}: {cause}; killed {} ({mem}oom_score_adj {}), triggered by {trigger}. Exit code will be 137.",
        rfc3339_nanos(ctx.wall_ns(ev.time_ns)),
        who_in(&ev.victim, &ev.victim_place),
        ev.oom_score_adj
    )?;
    if !ev.victim_args.is_empty() {
        writeln!(out, "  args      {}", shell_words(&ev.victim_args))?;
    }
    write_container(&ev.victim_place, out)?;
    if let Some(m) = ev.memory {
        let p = ctx.page_size;
        writeln!(
            out,
            "  memory    total-vm {}, anon-rss {}, file-rss {}, shmem-rss {}, pgtables {}",
            bytes(m.total_vm_pages * p),
            bytes(m.anon_pages * p),
            bytes(m.file_pages * p),
            bytes(m.shmem_pages * p),
            bytes(m.pgtables_bytes)
        )?;
    }
    if let Some(c) = &ev.context {
        let usage = ev
            .memcg_usage
            .and_then(|u| u.peak_bytes)
            .map_or_else(String::new, |u| format!(", peak usage {}", bytes(u)));
        writeln!(
            out,
            "  cgroup    victim in {}, limit hit in {}{usage}",
            escape_text(c.task_memcg.as_deref().unwrap_or("?").as_bytes()),
            escape_text(
                c.oom_memcg
                    .as_deref()
                    .unwrap_or("(none: global)")
                    .as_bytes()
            )
        )?;
    }
    if !ev.also_killed.is_empty() {
        let list: Vec<String> = ev.also_killed.iter().map(who).collect();
        writeln!(
            out,
            "  also      killed with it (sharing its memory): {}",
            list.join(", ")
        )?;
    }
    if !ev.missing.is_empty() {
        writeln!(out, "  unknown   {}", ev.missing.join(", "))?;
    }
    Ok(())
}

fn exit(
    ctx: &Context,
    ev: &ExitEvent,
    cause: Option<&Cause>,
    out: &mut dyn Write,
) -> io::Result<()> {
    let after = cause.map_or_else(String::new, |c| {
        let what = match (c.event, c.signal) {
            ("oom_kill", _) => "the OOM kill".to_owned(),
            (_, Some(sig)) => format!("the {}", signal_name(sig)),
            _ => "its cause".to_owned(),
        };
        format!(
            ", {} after {what} (event {})",
            human_duration(c.delay_ns),
            c.id
        )
    });
    writeln!(
        out,
        "{} {} {}{after}",
        rfc3339_nanos(ctx.wall_ns(ev.time_ns)),
        who(&ev.proc),
        ev.status.describe()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixtures;
    use crate::users::Users;

    fn ctx(color: bool) -> Context {
        Context {
            node: "n".into(),
            boot_epoch_ns: 0,
            color,
            users: Users::parse("root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/h:/bin/sh\n"),
            page_size: 4096,
        }
    }

    fn text(ev: SignalEvent, color: bool) -> String {
        let mut out = Vec::new();
        render(
            &ctx(color),
            &crate::render::bare(Event::Signal(ev)),
            &mut out,
        )
        .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn verdict_names_user_command_path_and_exit_code() {
        let s = text(fixtures::pkill_kills_server(), false);
        let first = s.lines().next().unwrap();
        assert!(
            first.ends_with("SIGKILL from root's `pkill -9 server` (via vGhyM0 → bash), delivered: server(7942) will exit with code 137"),
            "{first}"
        );
        assert!(s.contains("loginuid 1000 (alice) session 3"), "{s}");
        assert!(s.contains("  ancestry  swapper/0(0) → systemd(1) → vGhyM0(19400) → bash(23495) → pkill(23549)"), "{s}");
        assert!(
            s.contains(
                "  target    server(7942) tid 7942 (pid 1 in its namespace), disposition default"
            ),
            "{s}"
        );
        assert!(!s.contains('\x1b'), "no colour unless asked");
    }

    #[test]
    fn escape_bytes_in_names_and_args_never_reach_the_terminal() {
        let mut ev = fixtures::pkill_kills_server();
        ev.target.comm = b"x\x1b]0;pwned\x07".to_vec();
        if let Sender::Process(a) = &mut ev.sender {
            a.args.push(b"\x1b[31mred".to_vec());
            a.ancestry[2].comm = b"\x9b2J".to_vec();
        }
        let s = text(ev, false);
        assert!(
            !s.bytes().any(|b| b == 0x1b || b == 0x07 || b == 0x9b),
            "{s:?}"
        );
        assert!(s.contains(r"x\x1b]0;pwned\x07(7942)"), "{s}");
    }

    #[test]
    fn oom_says_which_limit_who_died_and_who_allocated() {
        let mut out = Vec::new();
        render(
            &ctx(false),
            &crate::render::bare(Event::Oom(fixtures::memcg_oom())),
            &mut out,
        )
        .unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(
            s.lines().next().unwrap().ends_with(
                "OOM killer: memory cgroup /kubepods/burstable/pod1 hit its 64 MiB limit; killed python3(5937) \
                 (anon RSS 61 MiB, oom_score_adj 0), triggered by its own allocation. Exit code will be 137."
            ),
            "{s}"
        );
    }

    #[test]
    fn oom_names_the_victims_container() {
        let mut ev = fixtures::memcg_oom();
        ev.victim_place = crate::event::Place::from_cgroup_path(
            "/default/3b87c0a1f2e4d5c6b7a8998877665544332211ffeeddccbbaa00112233445566",
        );
        let mut out = Vec::new();
        render(&ctx(false), &crate::render::bare(Event::Oom(ev)), &mut out).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(
            s.contains("killed python3(5937) in container 3b87c0a1f2e4 ("),
            "{s}"
        );
        assert!(
            s.contains("\n  container 3b87c0a1f2e4, id 3b87c0a1f2e4"),
            "{s}"
        );
    }

    #[test]
    fn byte_sizes_read_naturally() {
        assert_eq!(bytes(64 << 20), "64 MiB");
        assert_eq!(bytes(1536 << 20), "1.5 GiB");
        assert_eq!(bytes(100), "100 B");
    }

    #[test]
    fn colour_only_when_enabled() {
        assert!(text(fixtures::pkill_kills_server(), true).contains(RED));
    }

    #[test]
    fn ignored_term_on_namespace_init_explains_the_pid1_trap() {
        let mut ev = fixtures::pkill_kills_server();
        ev.signo = 15;
        ev.result = SignalResult::Ignored;
        let s = text(ev, false);
        assert!(
            s.lines()
                .next()
                .unwrap()
                .contains("is PID 1 of its pid namespace and has no handler for SIGTERM"),
            "{s}"
        );
    }

    #[test]
    fn handled_signal_is_not_called_fatal() {
        let mut ev = fixtures::pkill_kills_server();
        ev.signo = 15;
        ev.disposition = Some(Disposition::Handled);
        let s = text(ev, false);
        assert!(s.contains("handles SIGTERM itself"), "{s}");
    }
}
