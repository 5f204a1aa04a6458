use super::*;

fn config(argv: &[&str]) -> Result<Config, UsageError> {
    let mut full = vec!["exitwatch"];
    full.extend_from_slice(argv);
    Args::try_parse_from(full)
        .expect("clap accepts it")
        .into_config()
}

#[test]
fn default_filter_reports_stop_requests_always_and_fatal_signals_when_fatal() {
    let c = config(&[]).unwrap();
    assert_eq!(c.filter.always, signals::default_always());
    assert_eq!(c.filter.if_fatal, signals::default_if_fatal());
    assert_ne!(c.filter.always & signals::bit(9), 0);
    assert_eq!(c.filter.watched_only, 0);
    assert_eq!(c.format, Format::Text);
    assert_eq!(c.ring_buffer_size, 4 << 20);
}

#[test]
fn signals_accept_names_numbers_and_commas() {
    let c = config(&["-s", "usr1,SIGTERM", "--signal", "9"]).unwrap();
    assert_eq!(
        c.filter.always,
        signals::bit(10) | signals::bit(15) | signals::bit(9)
    );
    assert_eq!(c.filter.if_fatal, 0);
}

#[test]
fn bad_signal_is_a_usage_error() {
    assert!(matches!(
        config(&["-s", "SIGFOO"]),
        Err(UsageError::BadSignal(_))
    ));
    assert!(matches!(
        config(&["-s", "65"]),
        Err(UsageError::BadSignal(_))
    ));
}

#[test]
fn pids_turn_on_the_watched_filter() {
    let c = config(&["-p", "42", "--pid", "7"]).unwrap();
    assert_eq!(c.pids, vec![42, 7]);
    assert_eq!(c.filter.watched_only, 1);
}

#[test]
fn bad_pids_are_usage_errors() {
    for bad in ["0", "-3", "abc", "99999999999"] {
        let arg = format!("--pid={bad}");
        assert_eq!(
            config(&[&arg]),
            Err(UsageError::BadPid(bad.into())),
            "{bad}"
        );
    }
}

#[test]
fn all_signals_sets_every_bit() {
    assert_eq!(
        config(&["--all-signals"]).unwrap().filter.always,
        signals::all()
    );
    assert!(Args::try_parse_from(["exitwatch", "--all-signals", "-s", "KILL"]).is_err());
}

#[test]
fn ring_buffer_size_must_be_a_power_of_two() {
    assert_eq!(
        config(&["--ring-buffer-size", "64K"])
            .unwrap()
            .ring_buffer_size,
        65536
    );
    assert_eq!(
        config(&["--ring-buffer-size", "1G"])
            .unwrap()
            .ring_buffer_size,
        1 << 30
    );
    for bad in ["3M", "4K", "2G", "x", "99999999999999999999M"] {
        assert!(config(&["--ring-buffer-size", bad]).is_err(), "{bad}");
    }
}

#[test]
fn diagnosis_rules_are_configurable() {
    let c = config(&[
        "--suspicious-dir",
        "/scratch",
        "--protected-target",
        "myagent",
        "--no-random-name-rule",
        "--grace-window",
        "30",
    ])
    .unwrap();
    assert_eq!(c.rules.suspicious_dirs, vec!["/scratch".to_owned()]);
    assert!(c.rules.protected_targets.contains(&"myagent".to_owned()));
    assert!(c.rules.protected_targets.contains(&"falco".to_owned()));
    assert!(!c.rules.random_names);
    assert_eq!(c.rules.grace_window_ns, 30_000_000_000);
    assert_eq!(config(&[]).unwrap().rules, Rules::default());
}

#[test]
fn receiving_side_filters_turn_on_the_cgroup_filter() {
    let c = config(&[
        "--container",
        "3b87",
        "--pod",
        "default/web",
        "--namespace",
        "shop",
    ])
    .unwrap();
    assert_eq!(c.filter.cgroups_only, 1);
    assert_eq!(c.receivers.pods, vec!["default/web".to_owned()]);
    assert_eq!(config(&[]).unwrap().filter.cgroups_only, 0);
    assert_eq!(config(&["--pod", " "]), Err(UsageError::EmptyReceiver));
}

#[test]
fn subcommands_parse_and_negative_codes_are_values() {
    let a = Args::try_parse_from(["exitwatch", "explain", "-1", "--json"]).unwrap();
    assert_eq!(
        a.command,
        Some(Command::Explain {
            value: "-1".into(),
            json: true
        })
    );
    let a = Args::try_parse_from(["exitwatch", "doctor"]).unwrap();
    assert_eq!(a.command, Some(Command::Doctor));
    assert!(Args::try_parse_from(["exitwatch", "--pid", "1", "doctor"]).is_err());
}

#[test]
fn redaction_is_off_unless_asked_for() {
    assert_eq!(config(&[]).unwrap().redaction, None);
    assert_eq!(
        config(&["--redact-args"]).unwrap().redaction,
        Some(Redaction::default())
    );
    let c = config(&["--redact", "pgpass", "--redact=-p"]).unwrap();
    assert_eq!(
        c.redaction,
        Some(Redaction::with_patterns(&["pgpass", "-p"]).unwrap())
    );
    assert!(matches!(
        config(&["--redact=--"]),
        Err(UsageError::BadRedactPattern(_))
    ));
}

#[test]
fn count_zero_is_rejected() {
    assert_eq!(config(&["-n", "0"]), Err(UsageError::ZeroCount));
}

#[test]
fn the_nonfatal_budget_is_rate_and_burst_or_off() {
    let budget = |v: &str| {
        config(&["--nonfatal-budget", v]).map(|c| (c.filter.budget_rate, c.filter.budget_burst))
    };
    assert_eq!(
        config(&[]).unwrap().filter.budget_rate,
        200,
        "on by default"
    );
    assert_eq!(config(&[]).unwrap().filter.budget_burst, 1000);
    assert_eq!(budget("50").unwrap(), (50, 250));
    assert_eq!(budget(" 10 / 30 ").unwrap(), (10, 30));
    assert_eq!(budget("0").unwrap(), (0, 0));
    for bad in ["", "x1", "10/0", "abc", "2000000", "0/5", "1/2/3"] {
        assert!(
            matches!(budget(bad), Err(UsageError::BadBudget(_))),
            "{bad}"
        );
    }
}

#[test]
fn verbose_lists_bursts_from_the_flag_or_the_config_file() {
    assert!(!config(&[]).unwrap().verbose);
    assert!(config(&["-v"]).unwrap().verbose);
    assert!(config(&["--verbose"]).unwrap().verbose);
    let file = |text: &str| {
        let text = text.to_owned();
        crate::config::args(
            ["exitwatch", "--config", "/x.toml"]
                .map(Into::into)
                .to_vec(),
            move |_| Ok(text.clone()),
        )
        .unwrap()
        .into_config()
        .unwrap()
        .verbose
    };
    assert!(file("verbose = true\n"));
    assert!(!file("verbose = false\n"));
    let env = crate::config::command()
        .get_arguments()
        .find(|a| a.get_long() == Some("verbose"))
        .and_then(|a| a.get_env().map(|e| e.to_owned()));
    assert_eq!(
        env.as_deref(),
        Some(std::ffi::OsStr::new("EXITWATCH_VERBOSE"))
    );
}
