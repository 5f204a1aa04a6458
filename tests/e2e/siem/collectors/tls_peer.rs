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

/// A throwaway CA and a server certificate it signed, for 127.0.0.1 and localhost.
pub struct Certs {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Certs {
    /// Makes them in `dir`, their files named after `tag` (two sets can share a directory).
    pub fn issue(dir: &Path, tag: &str) -> Certs {
        let f = |what: &str| format!("{tag}-{what}");
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let subject = format!("/CN=exitwatch test CA {tag}");
        let (ca_key, ca_pem) = (f("ca.key"), f("ca.pem"));
        let mut ca = vec!["req", "-x509"];
        ca.extend(ec);
        ca.extend([
            "-keyout", &ca_key, "-out", &ca_pem, "-days", "2", "-subj", &subject,
        ]);
        openssl(dir, &ca);
        let (key, csr, pem, ext) = (f("leaf.key"), f("leaf.csr"), f("leaf.pem"), f("leaf.ext"));
        let mut leaf = vec!["req"];
        leaf.extend(ec);
        leaf.extend(["-keyout", &key, "-out", &csr, "-subj", "/CN=127.0.0.1"]);
        openssl(dir, &leaf);
        std::fs::write(
            dir.join(&ext),
            "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:siem.test\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca_pem,
                "-CAkey",
                &ca_key,
                "-CAcreateserial",
                "-out",
                &pem,
                "-days",
                "2",
                "-extfile",
                &ext,
            ],
        );
        Certs {
            ca: dir.join(ca_pem),
            cert: dir.join(pem),
            key: dir.join(key),
        }
    }
}

impl TlsPeer {
    pub fn start(dir: &Path) -> TlsPeer {
        let certs = Certs::issue(dir, "peer");
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
            .arg("-cert")
            .arg(&certs.cert)
            .arg("-key")
            .arg(&certs.key)
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
            ca: certs.ca,
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
