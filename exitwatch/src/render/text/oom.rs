//! The OOM killer's verdict and its lines: which limit, the victim and its memory, who allocated.

use std::io::{self, Write};

use super::detail::write_container;
use super::{paint, who, who_in, RED, RESET};
use crate::escape::{escape_text, shell_words};
use crate::event::OomEvent;
use crate::oom::Constraint;
use crate::render::Context;
use crate::timefmt::Rfc3339;

/// "64 MiB", "1.5 GiB", "512 KiB".
pub(super) fn bytes(n: u64) -> String {
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

/// For a pod's Event: "container api hit its 512 MiB limit", "the node ran out of memory".
pub(super) fn limit_phrase(ev: &OomEvent) -> String {
    let limit = ev
        .memcg_usage
        .and_then(|u| u.limit_bytes)
        .map_or_else(String::new, |l| format!(" {}", bytes(l)));
    let container = ev
        .victim_place
        .container
        .as_ref()
        .and_then(|c| c.name.as_deref());
    match ev.context.as_ref().map(|c| c.constraint) {
        Some(Constraint::Memcg) => match container {
            Some(name) => format!(
                "container {} hit its{limit} memory limit",
                escape_text(name.as_bytes())
            ),
            None => format!("a memory cgroup hit its{limit} limit"),
        },
        Some(Constraint::Global) => "the node ran out of memory".into(),
        Some(Constraint::Cpuset | Constraint::Mempolicy) => {
            "the victim's memory nodes ran out of memory".into()
        }
        None => "out of memory".into(),
    }
}

pub(super) fn oom(ctx: &Context, ev: &OomEvent, out: &mut dyn Write) -> io::Result<()> {
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
        Rfc3339(ctx.wall_ns(ev.time_ns)),
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
