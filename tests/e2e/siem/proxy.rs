//! Proxies from the environment: https through a CONNECT tunnel, plain http as absolute-form
//! requests, both with the proxy URL's credentials; NO_PROXY and loopback go direct.

use std::net::UdpSocket;

use super::collectors::{wait_until, HttpReceiver, Mode, Proxy, TempDir, TlsPeer};
use crate::harness::{self, Exitwatch, Victim, EVENT_TIMEOUT};

/// This machine's address on its default route (not loopback), if it has one.
fn own_address() -> Option<String> {
    let s = UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then(|| ip.to_string())
}

#[test]
fn outputs_go_through_the_environments_proxy_but_for_no_proxy_and_loopback() {
    let dir = TempDir::new("proxy");
    let proxy = Proxy::start();
    let mut peer = TlsPeer::start(&dir.0);
    let plain = HttpReceiver::start(Mode::Ok);
    let local = HttpReceiver::start(Mode::Ok);
    let direct = HttpReceiver::start_at("0.0.0.0", 0, Mode::Ok);
    let own = own_address();
    let token = dir.join("token");
    std::fs::write(&token, "proxied-token").unwrap();
    let victim = Victim::spawn(&[]);
    // `siem.test` resolves nowhere: only the proxy (which maps .test to this machine) reaches it.
    // The token is this output's own: the plain http ones beyond loopback must have none.
    let tls_url = format!(
        "https://siem.test:{}/services/collector/event?hec=1&token_file={}",
        peer.port,
        token.display()
    );
    let plain_url = format!("http://siem.test:{}/in", plain.port);
    let mut args = vec![
        "--pid".to_owned(),
        victim.pid_arg(),
        "--format".into(),
        "json".into(),
        "-o".into(),
        tls_url,
        "-o".into(),
        plain_url,
        "-o".into(),
        local.url("/local"),
        "--http-ca-file".into(),
        peer.ca.to_str().unwrap().into(),
        "--http-batch-wait".into(),
        "200ms".into(),
    ];
    if let Some(ip) = &own {
        args.extend(["-o".into(), format!("http://{ip}:{}/direct", direct.port)]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let proxy_url = proxy.url("agent:pr0xy-s3cret@");
    let no_proxy = own.clone().unwrap_or_else(|| "192.0.2.77".into());
    let ew = Exitwatch::start_env(
        &args,
        &[
            ("HTTPS_PROXY", &proxy_url),
            ("http_proxy", &proxy_url),
            ("NO_PROXY", &format!("example.org,{no_proxy}")),
        ],
    );
    harness::send("KILL", victim.pid, 1);
    assert!(
        wait_until(EVENT_TIMEOUT, || peer
            .received()
            .contains("\"event\":\"exit\"")),
        "s_server received through the tunnel:\n{}",
        peer.received()
    );
    peer.answer("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    let done = ew.wait_exit(EVENT_TIMEOUT).assert_ok();
    assert!(!done.stderr.contains("pr0xy-s3cret"), "{}", done.stderr);
    assert!(!done.stderr.contains("undelivered"), "{}", done.stderr);
    assert!(
        peer.received()
            .contains("\r\nAuthorization: Splunk proxied-token\r\n"),
        "{}",
        peer.received()
    );
    assert_eq!(plain.lines().len(), 2, "signal and exit through the proxy");
    assert_eq!(local.lines().len(), 2, "loopback went direct");
    if own.is_some() {
        assert_eq!(direct.lines().len(), 2, "NO_PROXY went direct");
    }
    let seen = proxy.forwarded();
    // base64("agent:pr0xy-s3cret")
    let basic = Some("Basic YWdlbnQ6cHIweHktczNjcmV0".to_owned());
    let connect = format!("CONNECT siem.test:{} HTTP/1.1", peer.port);
    let absolute = format!("POST http://siem.test:{}/in HTTP/1.1", plain.port);
    assert!(
        seen.iter()
            .any(|f| f.line == connect && f.proxy_authorization == basic),
        "{seen:#?}"
    );
    assert!(
        seen.iter()
            .any(|f| f.line == absolute && f.proxy_authorization == basic),
        "{seen:#?}"
    );
    assert!(
        seen.iter().all(|f| f.line.contains("siem.test")),
        "only siem.test goes through the proxy: {seen:#?}"
    );
}
