use super::*;
use crate::event::Sender;
use crate::render::fixtures;

fn argv(list: &[&str]) -> Vec<Vec<u8>> {
    list.iter().map(|s| s.as_bytes().to_vec()).collect()
}

fn redact(list: &[&str]) -> Vec<String> {
    redact_with(&Redaction::default(), list)
}

fn redact_with(rules: &Redaction, list: &[&str]) -> Vec<String> {
    redact_args(&argv(list), rules)
        .into_iter()
        .map(|a| String::from_utf8(a).unwrap())
        .collect()
}

#[test]
fn flags_followed_by_their_value() {
    assert_eq!(
        redact(&["mysql", "-u", "root", "--password", "s3cret", "shop"]),
        ["mysql", "-u", "root", "--password", "***", "shop"]
    );
    assert_eq!(
        redact(&["vault", "login", "--Auth-Token", "-starts-with-a-dash"]),
        ["vault", "login", "--Auth-Token", "***"]
    );
    // A flag right after is not the value (the password is prompted for).
    assert_eq!(
        redact(&["mysql", "--password", "--host", "db"]),
        ["mysql", "--password", "--host", "db"]
    );
    assert_eq!(
        redact(&["app", "--token", "", "next"]),
        ["app", "--token", "", "next"]
    );
}

#[test]
fn key_value_forms_in_any_case() {
    assert_eq!(
        redact(&[
            "env",
            "PGPASSWORD=hunter2",
            "psql",
            "--db-passwd=x&y",
            "--api-key=k",
            "x=1"
        ]),
        [
            "env",
            "PGPASSWORD=***",
            "psql",
            "--db-passwd=***",
            "--api-key=***",
            "x=1"
        ]
    );
    assert_eq!(redact(&["client_secret=abc"]), ["client_secret=***"]);
    assert_eq!(redact(&["--password="]), ["--password="], "nothing to hide");
}

#[test]
fn inside_shell_command_strings() {
    assert_eq!(
        redact(&[
            "sh",
            "-c",
            "mysql --password s3cret shop && TOKEN=abc ./run"
        ]),
        ["sh", "-c", "mysql --password *** shop && TOKEN=*** ./run"]
    );
}

#[test]
fn headers_urls_and_query_strings() {
    assert_eq!(
        redact(&[
            "curl",
            "-H",
            "Authorization: Bearer abc.def",
            "-H",
            "Accept: */*"
        ]),
        ["curl", "-H", "Authorization: ***", "-H", "Accept: */*"]
    );
    assert_eq!(redact(&["X-Api-Key:k"]), ["X-Api-Key:***"]);
    assert_eq!(
        redact(&["git", "clone", "https://bob:ghp_x@github.com/o/r.git"]),
        ["git", "clone", "https://bob:***@github.com/o/r.git"]
    );
    assert_eq!(
        redact(&[
            "curl",
            "https://api.example.com/v1?user=bob&access_token=K&v=1"
        ]),
        [
            "curl",
            "https://api.example.com/v1?user=bob&access_token=***&v=1"
        ]
    );
    // Host names and ports are not headers; a URL without a password is untouched.
    assert_eq!(
        redact(&["nc", "auth.internal:443", "https://auth.example.com/login"]),
        ["nc", "auth.internal:443", "https://auth.example.com/login"]
    );
}

#[test]
fn ordinary_command_lines_are_untouched() {
    for line in [
        &["pkill", "-9", "server"][..],
        &["passwd", "alice"],
        &["kubectl", "delete", "pod", "web-7d9c", "--grace-period=30"],
    ] {
        assert_eq!(redact(line), line);
    }
    let raw = vec![vec![b'a', 0xff, b'=', 1], b"token=\xfe".to_vec()];
    assert_eq!(
        redact_args(&raw, &Redaction::default()),
        [vec![b'a', 0xff, b'=', 1], b"token=***".to_vec()]
    );
}

#[test]
fn user_patterns_add_words_and_exact_flags() {
    let r = Redaction::with_patterns(&["PgPass", "-p", " --db-key= "]).unwrap();
    assert_eq!(
        redact_with(&r, &["mysql", "-pHunter2", "-p", "x", "-P", "3306"]),
        ["mysql", "-p***", "-p", "***", "-P", "3306"]
    );
    assert_eq!(
        redact_with(
            &r,
            &["MYPGPASS=1", "--pgpass", "v", "--db-key", "k", "-p=v"]
        ),
        [
            "MYPGPASS=***",
            "--pgpass",
            "***",
            "--db-key",
            "***",
            "-p=***"
        ]
    );
    assert_eq!(redact_with(&r, &["--password", "x"]), ["--password", "***"]);
    for bad in ["", " ", "-", "--", "="] {
        assert_eq!(
            Redaction::with_patterns(&[bad]),
            Err(PatternError(bad.to_owned())),
            "{bad:?}"
        );
    }
}

#[test]
fn events_have_their_argv_redacted() {
    let mut ev = fixtures::pkill_kills_server();
    let Sender::Process(a) = &mut ev.sender else {
        unreachable!()
    };
    a.args = argv(&["deploy", "--token", "abc"]).into();
    let mut event = Event::Signal(ev);
    redact_event(&mut event, &Redaction::default());
    let Event::Signal(ev) = &event else {
        unreachable!()
    };
    assert_eq!(
        ev.sender.actor().args,
        argv(&["deploy", "--token", "***"]).into()
    );

    let mut oom = fixtures::memcg_oom();
    oom.victim_args = argv(&["java", "-Dpassword=x"]);
    let mut event = Event::Oom(oom);
    redact_event(&mut event, &Redaction::default());
    let Event::Oom(oom) = &event else {
        unreachable!()
    };
    assert_eq!(oom.victim_args, argv(&["java", "-Dpassword=***"]));
}

#[test]
fn an_argv_with_nothing_to_hide_stays_shared_with_its_process_image() {
    let ev = fixtures::pkill_kills_server();
    let shared = std::sync::Arc::clone(&ev.sender.actor().args);
    let mut event = Event::Signal(ev);
    redact_event(&mut event, &Redaction::default());
    let Event::Signal(ev) = &event else {
        unreachable!()
    };
    assert!(std::sync::Arc::ptr_eq(&ev.sender.actor().args, &shared));
}
