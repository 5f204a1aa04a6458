use super::*;

fn answer(status: u16) -> Answer {
    Answer {
        status,
        retry_after: Some(Duration::from_secs(7)),
        excerpt: "no".into(),
        body: bytes::Bytes::from_static(b"no"),
    }
}

#[test]
fn answers_decide_retry_split_refusal_and_token_rereads() {
    assert_eq!(outcome(&answer(200)), Outcome::Delivered);
    assert_eq!(outcome(&answer(204)), Outcome::Delivered);
    for s in [408, 429, 500, 503] {
        assert!(
            matches!(outcome(&answer(s)), Outcome::Failed(_, Some(d)) if d == Duration::from_secs(7)),
            "{s}"
        );
    }
    for s in [401, 403] {
        assert!(
            matches!(outcome(&answer(s)), Outcome::Unauthorized(_)),
            "{s}"
        );
    }
    assert!(matches!(outcome(&answer(413)), Outcome::TooLarge(_)));
    for s in [400, 404, 405, 301] {
        assert_eq!(
            outcome(&answer(s)),
            Outcome::Refused(format!("the receiver answered {s}: no"))
        );
    }
}

#[test]
fn a_token_file_is_read_again_and_says_whether_it_changed() {
    let path = std::env::temp_dir().join(format!("exitwatch-token-{}", std::process::id()));
    std::fs::write(&path, "old\n").unwrap();
    let mut t = Token::read(&path, "token_file").unwrap();
    assert_eq!(t.value, "old");
    assert_eq!(t.reread(), Ok(false));
    std::fs::write(&path, "new").unwrap();
    assert_eq!(t.reread(), Ok(true));
    assert_eq!(t.value, "new");
    std::fs::write(&path, "two words").unwrap();
    let e = t.reread().unwrap_err();
    assert!(!e.contains("two words"), "{e}");
    assert_eq!(t.value, "new", "a bad token file keeps the last good token");
    let _ = std::fs::remove_file(&path);
    let mut fixed = Token {
        file: None,
        value: "env".into(),
    };
    assert_eq!(fixed.reread(), Ok(false));
}
