//! Where the daemon's settings come from (flags, then EXITWATCH_* variables, then --config),
//! and what it refuses: tokens in argv, URLs or the config file, and outputs it cannot use.

use super::collectors::{wait_until, TempDir};
use super::{free_port, get};
use crate::harness::{self, run_exitwatch, Exitwatch, Victim, EVENT_TIMEOUT};

#[test]
fn flags_win_over_the_environment_which_wins_over_the_config_file() {
    let dir = TempDir::new("settings");
    let port = free_port();
    let config = dir.join("exitwatch.toml");
    let (from_file, from_env) = (dir.join("from-file.log"), dir.join("from-env.log"));
    std::fs::write(
        &config,
        format!(
            "# exitwatch.toml\nformat = \"text\"\noutput = [\"file://{}\"]\nmetrics-addr = \"127.0.0.1:{port}\"\nsignal = [\"USR1\"]\n",
            from_file.display()
        ),
    )
    .unwrap();
    let victim = Victim::spawn(&["--handle", "USR1"]);
    let env_outputs = format!("stdout,file://{}", from_env.display());
    let mut ew = Exitwatch::start_env(
        &[
            "--config",
            config.to_str().unwrap(),
            "--pid",
            &victim.pid_arg(),
            "--format",
            "json",
        ],
        &[
            ("EXITWATCH_FORMAT", "ocsf"),
            ("EXITWATCH_OUTPUT", &env_outputs),
        ],
    );
    harness::send("USR1", victim.pid, 1);
    // --format json (flag) beats ocsf (environment) beats text (file).
    let ev = ew.wait_json(EVENT_TIMEOUT, |v| v["event"] == "signal");
    assert_eq!(ev["schema"], "exitwatch.v1");
    // The environment's two outputs replace the file's one; the file's metrics-addr and
    // signal list apply, as nothing else sets them.
    assert!(wait_until(EVENT_TIMEOUT, || std::fs::read_to_string(
        &from_env
    )
    .is_ok_and(|t| t.contains("\"event\":\"signal\""))));
    assert!(!from_file.exists());
    assert_eq!(get(port, "/healthz").0, 200);
    ew.stop().assert_ok();
}

fn refused(args: &[&str]) -> String {
    let done = run_exitwatch(&[], args);
    assert_eq!(done.code(), Some(64), "{args:?}: {done:#?}");
    done.stderr
}

#[test]
fn tokens_are_never_taken_from_argv_urls_or_the_config_file() {
    let secret = "s3cret-9f2c";
    for args in [
        vec![
            "--format",
            "json",
            "-o",
            "http://127.0.0.1:9/",
            "--http-token",
            secret,
        ],
        vec![
            "--format",
            "json",
            "-o",
            "https://user:s3cret-9f2c@127.0.0.1/",
        ],
        vec![
            "--format",
            "json",
            "-o",
            "http://127.0.0.1:9/?hec=1&token=s3cret-9f2c",
        ],
    ] {
        let stderr = refused(&args);
        assert!(
            stderr.contains("--http-token-file FILE, or set EXITWATCH_HTTP_TOKEN"),
            "{stderr}"
        );
        assert!(!stderr.contains(secret), "the secret was echoed: {stderr}");
    }
    let dir = TempDir::new("token-file");
    let config = dir.join("c.toml");
    std::fs::write(&config, format!("http-token = \"{secret}\"\n")).unwrap();
    let stderr = refused(&["--config", config.to_str().unwrap()]);
    assert!(
        stderr.contains("c.toml:1: tokens do not go in the config file"),
        "{stderr}"
    );
    assert!(!stderr.contains(secret), "{stderr}");
    // HEC without any token says where the token goes.
    let stderr = refused(&["--format", "json", "-o", "http://127.0.0.1:9/?hec=1"]);
    assert!(stderr.contains("Splunk HEC needs a token"), "{stderr}");
}

#[test]
fn unusable_outputs_are_usage_errors_that_show_the_accepted_forms() {
    for (args, says) in [
        (&["-o", "syslog://127.0.0.1"][..], "unknown scheme `syslog`"),
        (&["-o", "file://var/log/x.log"], "three slashes"),
        (&["-o", "syslog+tcp://127.0.0.1:99999"], "not a port"),
        (&["-o", "http://127.0.0.1/"], "use --format json"),
        (
            &["--format", "json", "-o", "stdout", "-o", "-"],
            "given twice",
        ),
    ] {
        let stderr = refused(args);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        if !says.contains("--format") && !says.contains("twice") {
            assert!(
                stderr.contains("accepted forms: stdout | file:///PATH"),
                "{stderr}"
            );
        }
    }
    let dir = TempDir::new("unwritable");
    let missing = format!("file://{}/no/such/dir/x.log", dir.0.display());
    let done = run_exitwatch(&[], &["-o", &missing]);
    assert_eq!(done.code(), Some(73), "{done:#?}");
    assert!(
        done.stderr.contains("cannot open the file output"),
        "{}",
        done.stderr
    );
}
