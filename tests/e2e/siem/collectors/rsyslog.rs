//! rsyslogd as the syslog receiver: TCP (octet counting) and UDP inputs on loopback, or one
//! TCP input with TLS (its gtls driver, RFC 5425), what it parsed written one message a line.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::tls_peer::Certs;
use super::{free_tcp_port, free_udp_port, wait_until};

/// One message as rsyslog parsed it.
#[derive(Debug, Clone)]
pub struct Syslog {
    /// imtcp, imudp or imudp2.
    pub input: String,
    pub version: String,
    pub app: String,
    pub procid: String,
    pub msgid: String,
    pub hostname: String,
    pub facility: String,
    pub severity: String,
    /// STRUCTURED-DATA as rsyslog parsed it (`-` for none).
    pub sd: String,
    pub msg: String,
}

/// rsyslogd listening on 127.0.0.1: one TCP input (octet-counted framing is detected) and two
/// UDP inputs, writing what it parsed, one message a line, to a file.
pub struct Rsyslog {
    child: Child,
    /// The TCP input: with TLS when started by `start_tls`.
    pub tcp: u16,
    pub udp: u16,
    pub udp2: u16,
    out: PathBuf,
    conf: PathBuf,
    pid: PathBuf,
}

const TEMPLATE: &str = r#"template(name="fields" type="string" string="%inputname%|%protocol-version%|%app-name%|%procid%|%msgid%|%hostname%|%syslogfacility-text%|%syslogseverity-text%|%structured-data%|%msg%\n")"#;

fn spawn(conf: &Path, pid: &Path) -> Child {
    let _ = std::fs::remove_file(pid);
    Command::new("rsyslogd")
        .arg("-n")
        .arg("-f")
        .arg(conf)
        .arg("-i")
        .arg(pid)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start rsyslogd ({e}): install it with `cargo xtask setup` (Debian packages rsyslog, rsyslog-gnutls)")
        })
}

impl Rsyslog {
    pub fn start(dir: &Path) -> Rsyslog {
        let (tcp, udp, udp2) = (free_tcp_port(), free_udp_port(), free_udp_port());
        let out = dir.join("rsyslog.out");
        let conf = dir.join("rsyslog.conf");
        let text = format!(
            r#"global(workDirectory="{dir}" maxMessageSize="64k")
module(load="imtcp")
module(load="imudp")
{TEMPLATE}
ruleset(name="siem") {{ action(type="omfile" file="{out}" template="fields") }}
input(type="imtcp" port="{tcp}" address="127.0.0.1" ruleset="siem")
input(type="imudp" port="{udp}" address="127.0.0.1" ruleset="siem")
input(type="imudp" port="{udp2}" address="127.0.0.1" ruleset="siem" name="imudp2")
"#,
            dir = dir.display(),
            out = out.display()
        );
        std::fs::write(&conf, text).unwrap();
        let pid = dir.join("rsyslogd.pid");
        let child = spawn(&conf, &pid);
        let r = Rsyslog {
            child,
            tcp,
            udp,
            udp2,
            out,
            conf,
            pid,
        };
        r.wait_listening();
        r
    }

    /// rsyslogd with one TCP input on 127.0.0.1 that speaks TLS only (the gtls driver,
    /// anonymous clients), presenting `certs`' server certificate.
    pub fn start_tls(dir: &Path, certs: &Certs) -> Rsyslog {
        let tcp = free_tcp_port();
        let out = dir.join("rsyslog.out");
        let conf = dir.join("rsyslog.conf");
        let text = format!(
            r#"global(workDirectory="{dir}" maxMessageSize="64k"
  defaultNetstreamDriver="gtls"
  defaultNetstreamDriverCAFile="{ca}"
  defaultNetstreamDriverCertFile="{cert}"
  defaultNetstreamDriverKeyFile="{key}")
module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
{TEMPLATE}
ruleset(name="siem") {{ action(type="omfile" file="{out}" template="fields") }}
input(type="imtcp" port="{tcp}" address="127.0.0.1" ruleset="siem")
"#,
            dir = dir.display(),
            ca = certs.ca.display(),
            cert = certs.cert.display(),
            key = certs.key.display(),
            out = out.display()
        );
        std::fs::write(&conf, text).unwrap();
        let pid = dir.join("rsyslogd.pid");
        let child = spawn(&conf, &pid);
        let r = Rsyslog {
            child,
            tcp,
            udp: 0,
            udp2: 0,
            out,
            conf,
            pid,
        };
        r.wait_listening();
        r
    }

    /// Kills rsyslogd (connections reset, as in a crash) and starts it again on the same ports;
    /// `down` runs while it is gone.
    pub fn restart(&mut self, down: impl FnOnce()) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        down();
        self.child = spawn(&self.conf, &self.pid);
        self.wait_listening();
    }

    fn wait_listening(&self) {
        let tcp = self.tcp;
        assert!(
            wait_until(Duration::from_secs(10), || TcpStream::connect((
                "127.0.0.1",
                tcp
            ))
            .is_ok()),
            "rsyslogd never listened on 127.0.0.1:{tcp}"
        );
    }

    /// What rsyslog wrote so far.
    pub fn messages(&self) -> Vec<Syslog> {
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        text.lines()
            .map(|l| {
                let f: Vec<&str> = l.splitn(10, '|').collect();
                assert_eq!(f.len(), 10, "{l}");
                Syslog {
                    input: f[0].into(),
                    version: f[1].into(),
                    app: f[2].into(),
                    procid: f[3].into(),
                    msgid: f[4].into(),
                    hostname: f[5].into(),
                    facility: f[6].into(),
                    severity: f[7].into(),
                    sd: f[8].into(),
                    msg: f[9].into(),
                }
            })
            .collect()
    }

    /// Waits until `pred` holds for the messages received, and returns them.
    pub fn wait_for(&self, pred: impl Fn(&[Syslog]) -> bool) -> Vec<Syslog> {
        let mut last = Vec::new();
        let ok = wait_until(Duration::from_secs(10), || {
            last = self.messages();
            pred(&last)
        });
        assert!(
            ok,
            "rsyslog never received what was expected; it has:\n{last:#?}"
        );
        last
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
