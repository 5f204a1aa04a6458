use std::path::Path;

use clap::Parser;

use super::*;
use crate::cli::{Args, UsageError};

fn daemon(argv: &[&str]) -> Result<DaemonConfig, UsageError> {
    let mut full = vec!["exitwatch"];
    full.extend_from_slice(argv);
    Args::try_parse_from(full)
        .expect("clap accepts it")
        .into_config()
        .map(|c| c.daemon)
}

#[test]
fn stdout_is_the_default_output() {
    let d = daemon(&[]).unwrap();
    assert_eq!(
        d.outputs,
        vec![Output {
            spec: SinkSpec::Stdout,
            queue_size: 10_000,
            queue_bytes: 8 << 20,
        }]
    );
    assert_eq!(d.unhealthy_after, Duration::from_secs(300));
    assert_eq!(d.flush_timeout, Duration::from_secs(5));
    assert_eq!(d.http.batch_size, 500);
    assert_eq!(d.http.batch_wait, Duration::from_secs(1));
    assert_eq!(d.metrics_addr, None);
}

#[test]
fn outputs_repeat_or_split_on_commas_and_take_the_flag_defaults() {
    let d = daemon(&[
        "--format=json",
        "-o",
        "stdout,syslog+udp://127.0.0.1:5514",
        "--output",
        "file:///var/log/ew.log",
        "--file-max-size",
        "1M",
        "--file-keep",
        "2",
        "--syslog-udp-max-size",
        "2K",
    ])
    .unwrap();
    assert_eq!(d.outputs.len(), 3);
    assert_eq!(
        d.outputs[2].spec,
        SinkSpec::File {
            path: "/var/log/ew.log".into(),
            rotation: Rotation {
                max_size: 1 << 20,
                keep: 2
            },
        }
    );
    assert!(matches!(
        d.outputs[1].spec,
        SinkSpec::Syslog { max_size: 2048, .. }
    ));
}

#[test]
fn http_outputs_need_a_json_format() {
    let e = daemon(&["-o", "http://127.0.0.1:8080/"]).unwrap_err();
    assert!(e.to_string().contains("--format json"), "{e}");
    assert!(daemon(&["--format", "ocsf", "-o", "http://127.0.0.1:8080/"]).is_ok());
    assert!(daemon(&["--format", "stap", "-o", "syslog+tcp://h"]).is_ok());
}

#[test]
fn a_token_in_argv_is_refused_without_echoing_it() {
    let e = daemon(&["--http-token", "s3cret"]).unwrap_err();
    assert_eq!(e, UsageError::Daemon(DaemonError::TokenInArgv));
    let msg = e.to_string();
    assert!(
        !msg.contains("s3cret") && msg.contains("--http-token-file"),
        "{msg}"
    );
    let e = daemon(&["--format=json", "-o", "https://h/?hec=1&token=s3cret"]).unwrap_err();
    assert!(!e.to_string().contains("s3cret"), "{e}");
}

#[test]
fn bad_daemon_values_are_usage_errors() {
    for argv in [
        &["-o", "ftp://h"][..],
        &["-o", "stdout", "-o", "-"],
        &["--queue-size", "0"],
        &["--flush-timeout", "soon"],
        &["--http-timeout", "0s"],
        &["--metrics-addr", "9464"],
        &["--metrics-addr", "::1:9464"],
        &["--file-max-size", "0"],
        &["--syslog-udp-max-size", "100"],
        &["--http-batch-size", "0"],
    ] {
        assert!(
            matches!(daemon(argv), Err(UsageError::Daemon(_))),
            "{argv:?}: {:?}",
            daemon(argv)
        );
    }
    assert!(daemon(&["--metrics-addr", "[::1]:9464"]).is_ok());
    assert!(daemon(&["--metrics-addr", "0.0.0.0:9464"]).is_ok());
}

#[test]
fn queue_bytes_and_unhealthy_after() {
    let d = daemon(&[
        "--queue-bytes=1M",
        "--unhealthy-after=2",
        "-o",
        "stdout,file:///x.log?queue_bytes=4K",
    ])
    .unwrap();
    assert_eq!(d.outputs[0].queue_bytes, 1 << 20);
    assert_eq!(d.outputs[1].queue_bytes, 4 << 10);
    assert_eq!(d.unhealthy_after, Duration::from_secs(2));
    assert!(daemon(&["--queue-bytes=0"]).is_err());
    assert!(daemon(&["--unhealthy-after=0"]).is_err());
}

#[test]
fn one_ca_file_serves_every_tls_output_and_the_old_name_still_works() {
    let d = daemon(&["--ca-file", "/etc/ca.pem"]).unwrap();
    assert_eq!(d.http.ca_file.as_deref(), Some(Path::new("/etc/ca.pem")));
    let d = daemon(&["--http-ca-file", "/etc/old.pem"]).unwrap();
    assert_eq!(d.http.ca_file.as_deref(), Some(Path::new("/etc/old.pem")));
    let d = daemon(&["--http-ca-file", "/old.pem", "--ca-file", "/new.pem"]).unwrap();
    assert_eq!(d.http.ca_file.as_deref(), Some(Path::new("/new.pem")));
}
