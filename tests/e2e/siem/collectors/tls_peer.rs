//! OpenSSL's s_server as a TLS receiver, with a leaf certificate from a throwaway CA.

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{free_tcp_port, wait_until};

/// OpenSSL's `s_server` with a certificate from a test CA: what it decrypts goes to a file;
/// `answer` writes an HTTP response back through it.
pub struct TlsPeer {
    child: Child,
    pub port: u16,
    pub ca: PathBuf,
    received: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TlsPeer {
    pub fn start(dir: &Path) -> TlsPeer {
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509"];
        ca.extend(ec);
        ca.extend([
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=exitwatch test CA",
        ]);
        openssl(dir, &ca);
        let mut leaf = vec!["req"];
        leaf.extend(ec);
        leaf.extend([
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=127.0.0.1",
        ]);
        openssl(dir, &leaf);
        std::fs::write(
            dir.join("leaf.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:siem.test\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "leaf.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "leaf.pem",
                "-days",
                "2",
                "-extfile",
                "leaf.ext",
            ],
        );
        let port = free_tcp_port();
        let received = dir.join("tls.received");
        let child = Command::new("openssl")
            .current_dir(dir)
            .args([
                "s_server",
                "-quiet",
                "-accept",
                &format!("127.0.0.1:{port}"),
            ])
            .args(["-cert", "leaf.pem", "-key", "leaf.key"])
            .stdin(Stdio::piped())
            .stdout(std::fs::File::create(&received).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("start openssl s_server");
        assert!(
            wait_until(Duration::from_secs(10), || TcpStream::connect((
                "127.0.0.1",
                port
            ))
            .map(|s| s.shutdown(Shutdown::Both))
            .is_ok()),
            "openssl s_server never listened"
        );
        TlsPeer {
            child,
            port,
            ca: dir.join("ca.pem"),
            received,
        }
    }

    pub fn received(&self) -> String {
        std::fs::read_to_string(&self.received).unwrap_or_default()
    }

    /// Sends an HTTP response to the connected client.
    pub fn answer(&mut self, response: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(response.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }
}

impl Drop for TlsPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
