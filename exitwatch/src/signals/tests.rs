//! Tests of the signal table: names, parsing, default actions and filter masks.

use super::*;

#[test]
fn names_match_the_kernel_numbering() {
    let expect = [
        (1, "SIGHUP"),
        (6, "SIGABRT"),
        (9, "SIGKILL"),
        (11, "SIGSEGV"),
        (15, "SIGTERM"),
    ];
    for (n, s) in expect {
        assert_eq!(name(n), Some(s));
    }
    assert_eq!(name(17), Some("SIGCHLD"));
    assert_eq!(name(19), Some("SIGSTOP"));
    assert_eq!(name(29), Some("SIGIO"));
    assert_eq!(name(31), Some("SIGSYS"));
    assert_eq!(name(34), Some("SIGRTMIN"));
    assert_eq!(name(37), Some("SIGRTMIN+3"));
    assert_eq!(name(63), Some("SIGRTMIN+29"));
    assert_eq!(name(64), Some("SIGRTMAX"));
    for n in [0, 32, 33, 65, -9] {
        assert_eq!(name(n), None, "{n}");
    }
}

#[test]
fn every_printed_name_parses_back_to_its_number() {
    for n in (1..=31).chain(34..=64) {
        let printed = name(n).unwrap();
        assert_eq!(parse(printed), Ok(n), "{printed}");
        assert_eq!(parse(&printed[3..].to_lowercase()), Ok(n), "{printed}");
    }
}

#[test]
fn parse_accepts_the_usual_spellings() {
    for s in ["KILL", "SIGKILL", "sigkill", "Kill", "9", " 9 ", "09"] {
        assert_eq!(parse(s), Ok(9), "{s}");
    }
    assert_eq!(parse("RTMIN+2"), Ok(36));
    assert_eq!(parse("sigrtmin"), Ok(34));
    assert_eq!(parse("RTMAX-1"), Ok(63));
    assert_eq!(parse("SIGRTMAX"), Ok(64));
    assert_eq!(parse("RTMIN+30"), Ok(64));
    assert_eq!(parse("RTMAX-30"), Ok(34));
    assert_eq!(parse("64"), Ok(64));
    assert_eq!(parse("32"), Ok(32));
}

#[test]
fn aliases_parse_but_are_not_printed() {
    assert_eq!(parse("SIGIOT"), Ok(SIGABRT));
    assert_eq!(parse("poll"), Ok(SIGIO));
    assert_eq!(parse("CLD"), Ok(SIGCHLD));
    assert_eq!(name(SIGABRT), Some("SIGABRT"));
    assert_eq!(name(SIGIO), Some("SIGIO"));
    assert_eq!(name(SIGCHLD), Some("SIGCHLD"));
}

#[test]
fn parse_rejects_nonsense_with_a_usage_message() {
    for s in [
        "0",
        "65",
        "99999999999",
        "-9",
        "SIG",
        "KILLL",
        "RTMIN+31",
        "RTMIN-1",
        "RTMAX+1",
        "RTMIN+",
        "RTMIN+x",
        "SIGSIGKILL",
    ] {
        assert!(parse(s).is_err(), "{s} parsed");
    }
    assert_eq!(parse("  "), Err(ParseSignalError::Empty));
    assert_eq!(parse("65"), Err(ParseSignalError::OutOfRange("65".into())));
    let msg = parse("KILLL").unwrap_err().to_string();
    assert!(msg.starts_with("unknown signal `KILLL`"), "{msg}");
    assert!(
        msg.contains("from 1 to 64") && msg.contains("RTMIN+n"),
        "{msg}"
    );
}

#[test]
fn usage_message_lists_every_named_signal() {
    for (n, _, _) in TABLE {
        assert!(
            ACCEPTED.contains(&format!(" {} ", &n[3..])),
            "{n} missing from usage"
        );
    }
}

#[test]
fn default_actions_follow_signal_7() {
    assert_eq!(default_action(SIGKILL), Some(Terminate));
    assert_eq!(default_action(SIGSEGV), Some(CoreDump));
    assert_eq!(default_action(SIGQUIT), Some(CoreDump));
    assert_eq!(default_action(SIGXCPU), Some(CoreDump));
    assert_eq!(default_action(SIGCHLD), Some(Ignore));
    assert_eq!(default_action(SIGWINCH), Some(Ignore));
    assert_eq!(default_action(SIGURG), Some(Ignore));
    assert_eq!(default_action(SIGTSTP), Some(Stop));
    assert_eq!(default_action(SIGCONT), Some(Continue));
    assert_eq!(default_action(40), Some(Terminate));
    assert_eq!(default_action(0), None);
    assert_eq!(default_action(65), None);
}

#[test]
fn only_kill_and_stop_are_uncatchable() {
    let uncatchable: Vec<i32> = (-1..=70)
        .filter(|n| (1..=64).contains(n) && !catchable(*n))
        .collect();
    assert_eq!(uncatchable, vec![SIGKILL, SIGSTOP]);
    assert!(!catchable(0) && !catchable(65));
}

#[test]
fn descriptions() {
    assert_eq!(description(SIGKILL), "Kill signal");
    assert_eq!(description(SIGSEGV), "Invalid memory reference");
    assert_eq!(description(50), "Real-time signal");
    assert_eq!(description(99), "Unknown signal");
}

#[test]
fn filter_masks() {
    assert_eq!(bit(1), 1);
    assert_eq!(bit(9), 0x100);
    assert_eq!(bit(64), 1 << 63);
    assert_eq!(bit(0) | bit(65) | bit(-1), 0);
    let always: Vec<i32> = in_mask(default_always()).collect();
    assert_eq!(always, vec![SIGHUP, SIGINT, SIGQUIT, SIGKILL, SIGTERM]);
    let fatal = default_if_fatal();
    assert_eq!(fatal & default_always(), 0);
    for n in [
        SIGSEGV, SIGABRT, SIGPIPE, SIGUSR1, SIGALRM, SIGXCPU, SIGSYS, 32, SIGRTMIN, SIGRTMAX,
    ] {
        assert_ne!(fatal & bit(n), 0, "{n} should be in if_fatal");
    }
    for n in [
        SIGCHLD, SIGCONT, SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU, SIGURG, SIGWINCH, SIGKILL,
    ] {
        assert_eq!(fatal & bit(n), 0, "{n} should not be in if_fatal");
    }
    // 31 standard minus 8 non-fatal minus 5 always, plus 33 real-time.
    assert_eq!(fatal.count_ones(), 31 - 8 - 5 + 33);
    assert_eq!(all().count_ones(), 64);
    assert_eq!(mask_of([SIGKILL, SIGTERM, 0, 70]), bit(9) | bit(15));
}

#[test]
fn default_action_serialises_snake_case() {
    assert_eq!(serde_json::to_string(&CoreDump).unwrap(), "\"core_dump\"");
}

#[test]
fn signal_display_and_from_str() {
    assert_eq!(Signal(9).to_string(), "SIGKILL");
    assert_eq!(Signal(32).to_string(), "signal 32");
    assert_eq!("rtmin+1".parse::<Signal>(), Ok(Signal(35)));
    assert!(!Signal(SIGSTOP).catchable());
}
