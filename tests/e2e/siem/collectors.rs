//! What a SIEM runs to receive events, for the siem tests, each removed when the test ends:
//! Debian's rsyslogd with a private configuration on loopback ports (`rsyslog`), HTTP receivers
//! that answer, fail, hang or misbehave (`receiver`), OpenSSL's `s_server` as a TLS peer
//! (`tls_peer`), a forward proxy (`proxy`), an OTLP collector on the official protobuf
//! definitions (`otlp`), a TLS front for the clear-text ones (`tls_front`).

pub mod otlp;
mod proxy;
mod receiver;
mod rsyslog;
mod tls_front;
mod tls_peer;

use std::net::{TcpListener, UdpSocket};
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

pub use proxy::Proxy;
pub use receiver::{HttpReceiver, Mode};
pub use rsyslog::{Rsyslog, Syslog};
pub use tls_front::TlsFront;
pub use tls_peer::{Certs, TlsPeer};

/// A fresh directory for one test, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("exitwatch-siem-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the test's directory");
        TempDir(dir)
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Polls `check` every 50 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

pub fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
