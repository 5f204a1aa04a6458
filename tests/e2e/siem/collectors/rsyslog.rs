//! rsyslogd as the syslog receiver: TCP (octet counting) and UDP inputs on loopback, what it
//! parsed written one message a line.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

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
    pub msg: String,
}

/// rsyslogd listening on 127.0.0.1: one TCP input (octet-counted framing is detected) and two
/// UDP inputs, writing what it parsed, one message a line, to a file.
pub struct Rsyslog {
    child: Child,
    pub tcp: u16,
    pub udp: u16,
    pub udp2: u16,
    out: PathBuf,
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
template(name="fields" type="string" string="%inputname%|%protocol-version%|%app-name%|%procid%|%msgid%|%hostname%|%syslogfacility-text%|%syslogseverity-text%|%msg%\n")
ruleset(name="siem") {{ action(type="omfile" file="{out}" template="fields") }}
input(type="imtcp" port="{tcp}" address="127.0.0.1" ruleset="siem")
input(type="imudp" port="{udp}" address="127.0.0.1" ruleset="siem")
input(type="imudp" port="{udp2}" address="127.0.0.1" ruleset="siem" name="imudp2")
"#,
            dir = dir.display(),
            out = out.display()
        );
        std::fs::write(&conf, text).unwrap();
        let child = Command::new("rsyslogd")
            .arg("-n")
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start rsyslogd ({e}): install it with `cargo xtask setup` (Debian package rsyslog)")
            });
        let r = Rsyslog {
            child,
            tcp,
            udp,
            udp2,
            out,
        };
        assert!(
            wait_until(Duration::from_secs(10), || TcpStream::connect((
                "127.0.0.1",
                tcp
            ))
            .is_ok()),
            "rsyslogd never listened on 127.0.0.1:{tcp}"
        );
        r
    }

    /// What rsyslog wrote so far.
    pub fn messages(&self) -> Vec<Syslog> {
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        text.lines()
            .map(|l| {
                let f: Vec<&str> = l.splitn(9, '|').collect();
                assert_eq!(f.len(), 9, "{l}");
                Syslog {
                    input: f[0].into(),
                    version: f[1].into(),
                    app: f[2].into(),
                    procid: f[3].into(),
                    msgid: f[4].into(),
                    hostname: f[5].into(),
                    facility: f[6].into(),
                    severity: f[7].into(),
                    msg: f[8].into(),
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
