use super::*;
use crate::render::Format;
use crate::sink::SinkSpec;

fn argv(args: &[&str]) -> Vec<OsString> {
    std::iter::once("exitwatch")
        .chain(args.iter().copied())
        .map(OsString::from)
        .collect()
}

/// Args from `args` plus a config file holding `file` (no environment variables are set in
/// unit tests: EXITWATCH_* would leak between them).
fn with_file(args: &[&str], file: &str) -> Result<Args, ArgsError> {
    let text = file.to_owned();
    let mut all = vec!["--config", "/etc/exitwatch.toml"];
    all.extend_from_slice(args);
    super::args(argv(&all), move |p| {
        assert_eq!(p, Path::new("/etc/exitwatch.toml"));
        Ok(text.clone())
    })
}

#[test]
fn env_names_follow_the_long_flags() {
    assert_eq!(env_name("metrics-addr"), "EXITWATCH_METRICS_ADDR");
    assert_eq!(env_name("format"), "EXITWATCH_FORMAT");
    let cmd = command();
    let env = |long: &str| {
        cmd.get_arguments()
            .find(|a| a.get_long() == Some(long))
            .and_then(|a| a.get_env())
            .map(|e| e.to_string_lossy().into_owned())
    };
    assert_eq!(env("output").as_deref(), Some("EXITWATCH_OUTPUT"));
    assert_eq!(env("all-signals").as_deref(), Some("EXITWATCH_ALL_SIGNALS"));
    assert_eq!(
        env("http-token"),
        None,
        "the token variable is the token itself"
    );
}

#[test]
fn the_file_fills_what_the_command_line_leaves_unset() {
    let file = r#"
# exitwatch settings
format = "json"
output = ["stdout", 'syslog+tcp://127.0.0.1:5514']   # two outputs
queue-size = 2_000
metrics_addr = "127.0.0.1:9464"
all-signals = true
count = 3
"#;
    let c = with_file(&[], file).unwrap().into_config().unwrap();
    assert_eq!(c.format, Format::Json);
    assert_eq!(c.daemon.outputs.len(), 2);
    assert_eq!(c.daemon.outputs[1].queue_size, 2000);
    assert_eq!(c.daemon.metrics_addr.as_deref(), Some("127.0.0.1:9464"));
    assert_eq!(c.count, Some(3));
    assert_eq!(c.filter.always, crate::signals::all());
    // The command line wins, a repeated flag included (the file's list is not merged in).
    let c = with_file(&["--format", "ecs", "-o", "file:///tmp/x.log"], file)
        .unwrap()
        .into_config()
        .unwrap();
    assert_eq!(c.format, Format::Ecs);
    assert!(matches!(c.daemon.outputs[0].spec, SinkSpec::File { .. }));
    assert_eq!(c.daemon.outputs.len(), 1);
    assert_eq!(c.daemon.outputs[0].queue_size, 2000);
}

#[test]
fn false_switches_and_empty_files_change_nothing() {
    let plain = super::args(argv(&[]), |_| unreachable!())
        .unwrap()
        .into_config()
        .unwrap();
    let c = with_file(&[], "all-signals = false\n\n# nothing else\n")
        .unwrap()
        .into_config()
        .unwrap();
    assert_eq!(c, plain);
}

#[test]
fn file_errors_name_the_line() {
    let cases = [
        ("format = json", 1, "double quotes"),
        ("\n[daemon]\nformat = \"json\"", 2, "tables"),
        ("colour = \"never\"", 1, "unknown key `colour`"),
        ("format = \"json\"\nformat = \"text\"", 2, "set twice"),
        ("output = \"stdout", 1, "unterminated"),
        ("output = [\"a\",\n \"b\"]", 1, "arrays end on their line"),
        ("format = [\"json\"]", 1, "one value"),
        ("all-signals = \"yes\"", 1, "true or false"),
        ("config = \"/etc/other\"", 1, "cannot name another"),
        ("format = \"json\" trailing", 1, "after the value"),
        ("just words", 1, "key = value"),
    ];
    for (text, line, why) in cases {
        match with_file(&[], text) {
            Err(ArgsError::Config(e)) => {
                assert_eq!(e.line, line, "{text}: {e}");
                assert!(e.why.contains(why), "{text}: {e}");
                assert!(e.to_string().starts_with("/etc/exitwatch.toml:"), "{e}");
            }
            other => panic!("{text}: {other:?}"),
        }
    }
}

#[test]
fn a_token_in_the_file_is_refused() {
    match with_file(&[], "http-token = \"s3cret\"") {
        Err(ArgsError::Config(e)) => {
            assert!(e.why.contains("--http-token-file"), "{e}");
            assert!(!e.to_string().contains("s3cret"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_values_from_the_file_say_so() {
    match with_file(&[], "format = \"xml\"") {
        Err(ArgsError::FileValue(path, why)) => {
            assert_eq!(path, Path::new("/etc/exitwatch.toml"));
            assert!(why.contains("xml"), "{why}");
        }
        other => panic!("{other:?}"),
    }
    let unreadable = super::args(argv(&["--config", "/nope"]), |_| {
        Err(io::ErrorKind::NotFound.into())
    });
    assert!(matches!(unreadable, Err(ArgsError::Read(..))));
}

#[test]
fn strings_unescape_like_toml() {
    let parsed = parse(r#"a = "x\"y\\z\u00e9\t" "#).unwrap();
    assert_eq!(parsed[0].2, Value::Str("x\"y\\zé\t".into()));
    let parsed = parse(r"a = 'C:\dir' # literal").unwrap();
    assert_eq!(parsed[0].2, Value::Str(r"C:\dir".into()));
    let parsed = parse("a = [1, 'b', true,]").unwrap();
    assert_eq!(
        parsed[0].2,
        Value::List(vec![
            Value::Num("1".into()),
            Value::Str("b".into()),
            Value::Bool(true)
        ])
    );
}

#[test]
fn subcommands_ignore_the_config_file() {
    let a = super::args(argv(&["explain", "137"]), |_| unreachable!()).unwrap();
    assert!(a.command.is_some());
}

#[test]
fn the_ca_file_keys_follow_the_flags() {
    let c = with_file(&[], "ca-file = \"/etc/ssl/ca.pem\"")
        .unwrap()
        .into_config()
        .unwrap();
    assert_eq!(
        c.daemon.http.ca_file.as_deref(),
        Some(Path::new("/etc/ssl/ca.pem"))
    );
    let c = with_file(&[], "http-ca-file = \"/etc/ssl/old.pem\"")
        .unwrap()
        .into_config()
        .unwrap();
    assert_eq!(
        c.daemon.http.ca_file.as_deref(),
        Some(Path::new("/etc/ssl/old.pem"))
    );
}
