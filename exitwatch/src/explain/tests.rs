use std::path::PathBuf;

use super::*;
use crate::signals::{SIGKILL, SIGSEGV, SIGTERM};

/// (golden file stem, input). Every class in the seeds has at least one entry.
const GOLDEN: &[(&str, &str)] = &[
    ("code_0", "0"),
    ("code_1", "1"),
    ("code_2", "2"),
    ("code_64", "64"),
    ("code_78", "78"),
    ("code_125", "125"),
    ("code_126", "126"),
    ("code_127", "127"),
    ("code_128", "128"),
    ("code_130", "130"),
    ("code_137", "137"),
    ("code_139", "139"),
    ("code_143", "143"),
    ("code_145", "145"),
    ("code_148", "148"),
    ("code_200", "200"),
    ("code_255", "255"),
    ("code_neg1", "-1"),
    ("code_300", "300"),
    ("code_256", "256"),
    ("code_neg256", "-256"),
    ("bare_9", "9"),
    ("sigkill", "SIGKILL"),
];

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/golden/explain/{name}"))
}

/// Compares with the golden file; `EXITWATCH_BLESS=1 cargo test` rewrites it instead.
fn check_golden(name: &str, actual: &str) {
    let path = golden_path(name);
    if std::env::var_os("EXITWATCH_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with EXITWATCH_BLESS=1 to create it",
            path.display()
        )
    });
    assert_eq!(
        actual,
        expected,
        "rendering changed for {name}; if intended, rerun with EXITWATCH_BLESS=1 and review \
         the diff of {}",
        path.display()
    );
}

#[test]
fn rendered_text_matches_golden_files() {
    for (name, input) in GOLDEN {
        let e = explain(input).unwrap_or_else(|err| panic!("{input}: {err}"));
        check_golden(&format!("{name}.txt"), &render_text(&e));
    }
}

#[test]
fn json_shape_matches_golden_file() {
    let e = explain("SIGKILL").unwrap();
    let json = serde_json::to_string_pretty(&e).unwrap() + "\n";
    check_golden("sigkill.json", &json);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["code"], 137);
    assert_eq!(v["class"], "killed_by_signal");
    assert_eq!(v["signal"]["name"], "SIGKILL");
    assert_eq!(v["signal"]["default_action"], "terminate");
    assert!(v["normalized_from"].is_null());
    let v = serde_json::to_value(explain("300").unwrap()).unwrap();
    assert_eq!(
        (v["code"].as_u64(), v["normalized_from"].as_i64()),
        (Some(44), Some(300))
    );
    assert_eq!(v["input_kind"], "exit_code");
    let v = serde_json::to_value(explain("64").unwrap()).unwrap();
    assert_eq!(v["sysexits_name"], "EX_USAGE");
}

#[test]
fn every_code_from_minus_1000_to_1000_normalizes_like_exit() {
    for raw in -1000i64..=1000 {
        let e = explain(&raw.to_string()).unwrap();
        assert_eq!(e.code, normalize_code(raw), "{raw}");
        assert_eq!(e.input_kind, InputKind::ExitCode, "{raw}");
        let outside = !(0..=255).contains(&raw);
        assert_eq!(e.normalized_from, outside.then_some(raw), "{raw}");
        assert_eq!(e.derivation.is_some(), outside, "{raw}");
        if let Some(how) = &e.derivation {
            assert!(how.contains(&format!("exit({raw}) reports")), "{how}");
            assert!(
                how.contains(&format!("= {}", e.code)) || e.code == 0,
                "{how}"
            );
        }
    }
}

#[test]
fn extreme_values_normalize_too() {
    let e = explain(&i64::MIN.to_string()).unwrap();
    assert_eq!((e.code, e.normalized_from), (0, Some(i64::MIN)));
    assert!(e
        .derivation
        .unwrap()
        .contains("wraps to 0: a failure that looks like success"));
    let e = explain(&i64::MAX.to_string()).unwrap();
    assert_eq!((e.code, e.class), (255, Class::OutOfRange));
}

#[test]
fn every_code_has_a_class_a_summary_and_steps() {
    for code in 0u8..=255 {
        let e = explain(&code.to_string()).unwrap();
        let expected = match code {
            0 => Class::Success,
            2 => Class::ShellMisuse,
            64..=78 => Class::Sysexits,
            125 => Class::RuntimeError,
            126 => Class::CannotExecute,
            127 => Class::NotFound,
            128 => Class::InvalidExitArgument,
            129..=192 => match signals::default_action(i32::from(code - 128)) {
                Some(DefaultAction::Terminate | DefaultAction::CoreDump) => Class::KilledBySignal,
                Some(DefaultAction::Stop) => Class::StoppedBySignal,
                _ => Class::ProgramError,
            },
            255 => Class::OutOfRange,
            _ => Class::ProgramError,
        };
        assert_eq!(e.class, expected, "{code}");
        assert_eq!(e.signal.is_some(), (129..=192).contains(&code), "{code}");
        assert_eq!(
            e.sysexits_name.is_some(),
            (64..=78).contains(&code),
            "{code}"
        );
        assert!(e.summary.ends_with('.'), "{code}: {}", e.summary);
        assert!(
            !e.kubernetes.is_empty() && !e.next_steps.is_empty(),
            "{code}"
        );
        let text = render_text(&e);
        assert!(text.starts_with(&format!("exit code {code}: ")), "{text}");
        for line in text.lines() {
            assert!(line.len() <= WIDTH, "{code}: {line:?} is too wide");
            assert!(line.bytes().all(|b| (b' '..=b'~').contains(&b)), "{line:?}");
        }
    }
}

#[test]
fn signal_deaths_name_the_signal() {
    let e = explain("137").unwrap();
    let s = e.signal.unwrap();
    assert_eq!((s.number, s.name.as_str()), (9, "SIGKILL"));
    assert!(e.kubernetes.starts_with("Often OOMKilled"));
    assert!(e.kubernetes.contains("liveness probe"));
    assert!(e.kubernetes.contains("exitwatch --pid"));
    let e = explain("139").unwrap();
    assert_eq!(e.signal.unwrap().default_action, DefaultAction::CoreDump);
    let e = explain("143").unwrap();
    assert!(e.kubernetes.starts_with("A graceful stop"));
}

#[test]
fn signals_given_by_name_or_sig_number_give_128_plus_n() {
    for n in 1..=64 {
        let e = explain(&format!("SIG{n}")).unwrap();
        assert_eq!(i32::from(e.code), 128 + n, "SIG{n}");
        assert_eq!((e.input_kind, e.normalized_from), (InputKind::Signal, None));
        let how = e.derivation.unwrap();
        assert!(how.ends_with(&format!("128 + {n} = {}.", 128 + n)), "{how}");
        if let Some(name) = signals::name(n) {
            for spelling in [name.to_string(), name[3..].to_string(), name.to_lowercase()] {
                assert_eq!(explain(&spelling).unwrap().code, e.code, "{spelling}");
            }
        }
    }
    assert_eq!(explain("sigterm").unwrap().code, 143);
    assert_eq!(explain("KILL").unwrap().code, 137);
    assert_eq!(explain("sig9").unwrap().code, 137);
    assert_eq!(explain("IOT").unwrap().code, 134);
    assert_eq!(explain("RTMIN+2").unwrap().code, 164);
}

#[test]
fn a_bare_number_is_always_an_exit_code() {
    let e = explain("9").unwrap();
    assert_eq!(
        (e.code, e.input_kind, e.signal),
        (9, InputKind::ExitCode, None)
    );
    assert_eq!(explain("+9").unwrap().code, 9);
    let e = explain("  137\n").unwrap();
    assert_eq!((e.input.as_str(), e.code), ("137", 137));
}

#[test]
fn garbage_is_rejected_with_the_accepted_forms() {
    let cases = [
        ("", ExplainError::Empty),
        ("   ", ExplainError::Empty),
        ("abc", ExplainError::Unrecognized("abc".into())),
        ("1.5", ExplainError::Unrecognized("1.5".into())),
        ("-", ExplainError::Unrecognized("-".into())),
        ("137abc", ExplainError::Unrecognized("137abc".into())),
        ("kill -9", ExplainError::Unrecognized("kill -9".into())),
        ("SIG0", ExplainError::SignalOutOfRange("SIG0".into())),
        ("SIG65", ExplainError::SignalOutOfRange("SIG65".into())),
        (
            "99999999999999999999",
            ExplainError::TooLarge("99999999999999999999".into()),
        ),
    ];
    for (input, expected) in cases {
        let err = explain(input).unwrap_err();
        assert_eq!(err, expected, "{input:?}");
        let msg = err.to_string();
        assert!(msg.contains("`9` means exit code 9, not SIGKILL"), "{msg}");
        assert!(
            msg.contains("SIGKILL, KILL, sigterm") && msg.contains("(SIG9)"),
            "{msg}"
        );
    }
}

#[test]
fn error_messages_escape_what_the_user_typed() {
    let msg = explain("\x1b[31mred").unwrap_err().to_string();
    assert!(msg.starts_with("`\\x1b[31mred` is neither"), "{msg}");
    assert!(!msg.contains('\x1b'));
}

#[test]
fn for_exit_explains_signal_deaths() {
    assert_eq!(
        for_exit(&ExitStatus::from_signal(SIGKILL, false)),
        "killed by SIGKILL (128+9): often the OOM killer or a forced stop"
    );
    assert_eq!(
        for_exit(&ExitStatus::from_signal(SIGSEGV, true)),
        "killed by SIGSEGV (128+11, core dumped): invalid memory access, a crash \
         (segmentation fault)"
    );
    assert_eq!(
        for_exit(&ExitStatus::from_signal(SIGTERM, false)),
        "killed by SIGTERM (128+15): asked to stop (docker stop, pod deletion, rollout)"
    );
    assert_eq!(
        for_exit(&ExitStatus::from_signal(10, false)),
        "killed by SIGUSR1 (128+10): user-defined signal 1"
    );
    assert_eq!(
        for_exit(&ExitStatus::from_signal(32, false)),
        "killed by signal 32 (128+32): real-time signal reserved by the C library's threads \
         implementation"
    );
}

#[test]
fn for_exit_explains_normal_exits() {
    let line = |code| for_exit(&ExitStatus::from_exit(code));
    assert_eq!(line(0), "exited with 0: success");
    assert_eq!(line(1), "exited with 1: general error");
    assert_eq!(
        line(64),
        "exited with 64: EX_USAGE: command line usage error"
    );
    assert_eq!(line(127), "exited with 127: command not found");
    assert_eq!(line(42), "exited with 42: the program's own error code");
    assert_eq!(
        line(255),
        "exited with 255: exit status out of range (often exit(-1))"
    );
    // exit(137) by hand is not a SIGKILL, whatever the number suggests.
    assert_eq!(
        line(137),
        "exited with 137 by calling exit(137) itself: not a signal death, though 137 is what \
         SIGKILL (128+9) leaves"
    );
    assert_eq!(
        for_exit(&ExitStatus::from_raw(0x137f)),
        "ended with an undecodable wait status 0x137f"
    );
}

#[test]
fn for_exit_and_explain_share_the_signal_hints() {
    for n in 1..=64 {
        let e = explain(&format!("SIG{n}")).unwrap();
        if e.class != Class::KilledBySignal {
            continue;
        }
        let line = for_exit(&ExitStatus::from_signal(n, false));
        let hint = line.split_once("): ").unwrap().1;
        assert!(
            e.summary.ends_with(&format!(": {hint}.")),
            "{n}: {line} / {}",
            e.summary
        );
    }
}
