//! The lines under a signal's verdict: the sender (or the kernel's context task), the signal, containers, the target.

use std::io::{self, Write};

use super::who;
use crate::escape::{escape_text, shell_words};
use crate::event::{Actor, Place, Proc, Sender, SignalEvent};
use crate::render::Context;
use crate::signals::{self, Signal};

/// The sender's (or context task's) lines, then the signal, the target's container and the target.
pub(super) fn signal(ctx: &Context, ev: &SignalEvent, out: &mut dyn Write) -> io::Result<()> {
    sender_and_signal(ctx, ev, out)?;
    let disposition = ev.disposition.map_or("unknown", |d| d.as_str());
    writeln!(
        out,
        "  target    {} tid {}{}, disposition {disposition}",
        who(&ev.target),
        ev.target.tid,
        ns(&ev.target)
    )
}

/// All but the target: what a burst's targets share.
pub(super) fn sender_and_signal(
    ctx: &Context,
    ev: &SignalEvent,
    out: &mut dyn Write,
) -> io::Result<()> {
    let sig = Signal(ev.signo);
    let (label, actor) = match &ev.sender {
        Sender::Process(a) => ("sender", a),
        Sender::Kernel { context, .. } => ("context", context),
    };
    write_actor(ctx, label, actor, out)?;
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
    write_container(&ev.target_place, out)
}

fn ns(p: &Proc) -> String {
    match p.ns_pid {
        Some(n) if n != p.pid => format!(" (pid {n} in its namespace)"),
        _ => String::new(),
    }
}

pub(super) fn write_container(place: &Place, out: &mut dyn Write) -> io::Result<()> {
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
    if a.identity_lost {
        writeln!(
            out,
            "  identity  lost (a kernel ring buffer was full): executable, argv, ancestry and container unknown"
        )?;
    }
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
