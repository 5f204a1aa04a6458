//! What every machine format promises: one line per event, at most 16 KiB, valid JSON.

use serde_json::Value;

use super::{bare, fixtures, limit::MAX_LINE};
use crate::event::{Event, Sender};
use crate::render::Format;
use crate::story::Annotated;

const MACHINE: [Format; 3] = [Format::Json, Format::Ecs, Format::Ocsf];

fn with_sender_args(args: Vec<Vec<u8>>) -> Annotated {
    let mut ev = fixtures::pkill_kills_server();
    let Sender::Process(a) = &mut ev.sender else {
        unreachable!()
    };
    a.args = args.into();
    bare(Event::Signal(ev))
}

/// Whether the format says it cut something to fit.
fn truncated(format: Format, v: &Value) -> bool {
    match format {
        Format::Json => {
            v["sender"]["args_truncated"] == true || v["victim"]["args_truncated"] == true
        }
        Format::Ecs => v["exitwatch"]["truncated"] == true,
        Format::Ocsf => v["unmapped"]["truncated"] == true,
        Format::Text | Format::Stap => unreachable!(),
    }
}

#[test]
fn a_100_kb_argv_stays_one_line_under_16_kib_with_the_flag_set() {
    let huge = with_sender_args(vec![b"pkill".to_vec(), vec![b'A'; 100_000]]);
    for format in MACHINE {
        // `line` checks: one line, at most MAX_LINE bytes, valid JSON.
        let v = fixtures::line(format, &huge);
        assert!(truncated(format, &v), "{format:?}");
    }
    let v = fixtures::line(Format::Ecs, &huge);
    assert_eq!(
        v["process"]["args"][0], "pkill",
        "the start of argv is kept"
    );
    assert_eq!(v["process"]["args_count"], 2);
    assert_eq!(v["process"]["pid"], 23549, "the event is whole");
    assert_eq!(v["Target"]["process"]["pid"], 7942);
}

#[test]
fn many_arguments_and_escape_heavy_bytes_fit_too() {
    let many = with_sender_args(vec![b"x".to_vec(); 60_000]);
    let controls = with_sender_args(vec![vec![0x01; 20_000], vec![0xff; 20_000]]);
    for a in [&many, &controls] {
        for format in MACHINE {
            assert!(truncated(format, &fixtures::line(format, a)), "{format:?}");
        }
    }
}

#[test]
fn an_oom_victims_long_argv_is_cut_too() {
    let mut oom = fixtures::memcg_oom();
    oom.victim_args = vec![b"java".to_vec(), "é".repeat(50_000).into_bytes()];
    let a = bare(Event::Oom(oom));
    for format in MACHINE {
        assert!(truncated(format, &fixtures::line(format, &a)), "{format:?}");
    }
    let v = fixtures::line(Format::Json, &a);
    assert_eq!(v["victim"]["args"][0], "java");
    assert!(!v["victim"]["args"][1]
        .as_str()
        .unwrap()
        .contains('\u{fffd}'));
}

#[test]
fn events_that_fit_are_left_whole() {
    let a = bare(Event::Signal(fixtures::pkill_kills_server()));
    for format in MACHINE {
        assert!(
            !truncated(format, &fixtures::line(format, &a)),
            "{format:?}"
        );
    }
    let v = fixtures::line(Format::Json, &a);
    assert_eq!(v["sender"]["ancestry"].as_array().unwrap().len(), 4);
}

#[test]
fn text_is_exempt_from_the_cap() {
    let huge = with_sender_args(vec![b"pkill".to_vec(), vec![b'A'; 100_000]]);
    let mut out = Vec::new();
    super::render(Format::Text, &fixtures::ctx(), &huge, &mut out).unwrap();
    assert!(out.len() > MAX_LINE);
}

/// How long a machine line takes: N lines of the fixtures into a Vec, in ns per event.
/// `cargo test --release -p exitwatch --lib -- --ignored --nocapture render_speed`
#[test]
#[ignore = "a measurement, not a check: run it in release"]
fn render_speed() {
    const N: u32 = 200_000;
    let ctx = fixtures::ctx();
    let mut story = crate::story::Story::new("s".into(), crate::story::Rules::default());
    let events: Vec<Annotated> = [
        Event::Signal(fixtures::kill_in_pod()),
        fixtures::nginx_exits(),
        Event::Signal(fixtures::pkill_kills_server()),
        Event::Oom(fixtures::memcg_oom()),
    ]
    .into_iter()
    .map(|ev| story.annotate(ev))
    .collect();
    for format in MACHINE {
        let mut out = Vec::with_capacity(8 << 20);
        let start = std::time::Instant::now();
        for i in 0..N {
            super::render(format, &ctx, &events[i as usize % events.len()], &mut out).unwrap();
            if out.len() > 4 << 20 {
                out.clear();
            }
        }
        let ns = start.elapsed().as_nanos() / u128::from(N);
        println!("render_speed {format:?}: {ns} ns/event over {N} events");
    }
}
