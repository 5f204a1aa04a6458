//! The classic systemtap `signal.send` script's three lines, for people who know them by heart.
//!
//! ```text
//! pkill(23549) send SIGKILL to server(7942)
//! parent of sender: bash(23495)
//! task_ancestry:swapper/0(0m0.000000000s)=>systemd(0m0.080000000s)=>...=>pkill(33475m5.202486630s)
//! ```
//! Exits and losses are not part of that script: they go to stderr via the text renderer's
//! wording, so stdout keeps exactly the script's shape.

use std::io::{self, Write};

use crate::escape::escape_text;
use crate::event::Event;
use crate::signals;
use crate::timefmt::stap_duration;

pub fn render(event: &Event, out: &mut dyn Write) -> io::Result<()> {
    let Event::Signal(ev) = event else {
        return Ok(());
    };
    let actor = ev.sender.actor();
    let me = &actor.proc;
    writeln!(
        out,
        "{}({}) send {} to {}({})",
        escape_text(&me.comm),
        me.pid,
        signals::name(ev.signo).unwrap_or("SIG?"),
        escape_text(&ev.target.comm),
        ev.target.pid
    )?;
    match actor.parent() {
        Some(p) => writeln!(out, "parent of sender: {}({})", escape_text(&p.comm), p.pid)?,
        None => writeln!(out, "parent of sender: (none)(0)")?,
    }
    let chain = actor
        .ancestry
        .iter()
        .map(|a| (&a.comm, a.start_ns))
        .chain(std::iter::once((&me.comm, me.start_ns)))
        .map(|(comm, start)| format!("{}({})", escape_text(comm), stap_duration(start)))
        .collect::<Vec<_>>()
        .join("=>");
    writeln!(out, "task_ancestry:{chain}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixtures;

    #[test]
    fn prints_the_three_lines_of_the_systemtap_script() {
        let mut out = Vec::new();
        render(&Event::Signal(fixtures::pkill_kills_server()), &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "pkill(23549) send SIGKILL to server(7942)\n\
             parent of sender: bash(23495)\n\
             task_ancestry:swapper/0(0m0.000000000s)=>systemd(0m0.080000000s)=>vGhyM0(19491m2.579563677s)\
             =>bash(33475m4.817798337s)=>pkill(33475m5.202486630s)\n"
        );
    }

    #[test]
    fn escapes_hostile_names() {
        let mut ev = fixtures::pkill_kills_server();
        ev.target.comm = b"evil\x1b[2Jname".to_vec();
        let mut out = Vec::new();
        render(&Event::Signal(ev), &mut out).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(!s.contains('\x1b'));
        assert!(s.contains(r"evil\x1b[2Jname(7942)"));
    }

    #[test]
    fn exits_are_not_part_of_the_script() {
        let mut out = Vec::new();
        render(
            &Event::Lost {
                count: 3,
                class: crate::event::LossClass::NonFatal,
            },
            &mut out,
        )
        .unwrap();
        assert!(out.is_empty());
    }
}
