//! The test Kubernetes API server (tests/kube/apiserver.py) behind TLS with a throwaway CA, the
//! kubeconfig exitwatch reads to reach it, and the server's /_test/ control paths.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};

use crate::runtime::random_hex;
use crate::siem::collectors::{wait_until, Certs, TempDir};

/// The bearer token exitwatch's kubeconfig carries.
fn token() -> String {
    format!("ew-{}", random_hex(12))
}

/// A running apiserver.py, killed on drop.
pub struct KubeApi {
    child: Child,
    pub port: u16,
    pub dir: TempDir,
    pub kubeconfig: PathBuf,
    ca: PathBuf,
    control_token: String,
}

/// A kubeconfig for `server` trusting `ca` (inline, base64) and sending `token`.
pub fn write_kubeconfig(path: &Path, server: &str, ca: &Path, token: &str) {
    let ca_data = crate::harness::run(Command::new("base64").arg("-w0").arg(ca));
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {server}\n    \
         certificate-authority-data: {}\nusers:\n- name: exitwatch\n  user:\n    token: {token}\n\
         contexts:\n- name: test\n  context:\n    cluster: test\n    user: exitwatch\n\
         current-context: test\n",
        ca_data.trim()
    );
    std::fs::write(path, text).expect("write the kubeconfig");
}

impl KubeApi {
    /// Starts the server on a free loopback port with a fresh CA, and writes the kubeconfig.
    pub fn start(tag: &str) -> KubeApi {
        let dir = TempDir::new(&format!("kube-{tag}"));
        let certs = Certs::issue(&dir.0, "api");
        let (token, control_token) = (token(), token());
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("kube/apiserver.py");
        let mut child = Command::new("python3")
            .arg(&script)
            .args(["--port", "0", "--cert"])
            .arg(&certs.cert)
            .arg("--key")
            .arg(&certs.key)
            .args(["--token", &token, "--control-token", &control_token])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", script.display()));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(20))
            .ok()
            .and_then(|l| l.strip_prefix("listening on ")?.trim().parse().ok());
        let Some(port) = port else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "apiserver.py never said `listening on PORT` (is kubernetes-validate installed?)"
            );
        };
        let kubeconfig = dir.join("kubeconfig");
        write_kubeconfig(
            &kubeconfig,
            &format!("https://127.0.0.1:{port}"),
            &certs.ca,
            &token,
        );
        KubeApi {
            child,
            port,
            kubeconfig,
            ca: certs.ca,
            control_token,
            dir,
        }
    }

    /// METHOD /_test/PATH with an optional JSON body: (status, JSON answer).
    fn control(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", "10", "--cacert"])
            .arg(&self.ca)
            .args([
                "-H",
                &format!("Authorization: Bearer {}", self.control_token),
            ])
            .args(["-X", method, "-w", "\n%{http_code}"]);
        if let Some(b) = body {
            cmd.args(["-H", "Content-Type: application/json", "--data-binary"])
                .arg(b.to_string());
        }
        cmd.arg(format!("https://127.0.0.1:{}/_test/{path}", self.port));
        let out = crate::harness::run(&mut cmd);
        let (answer, code) = out.trim_end().rsplit_once('\n').unwrap_or(("", out.trim()));
        let code = code.parse().unwrap_or_else(|_| panic!("curl said {out:?}"));
        (code, serde_json::from_str(answer).unwrap_or(Value::Null))
    }

    fn must(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let (code, answer) = self.control(method, path, body);
        assert_eq!(code, 200, "{method} /_test/{path} {body:?}: {answer:#}");
        answer
    }

    /// Creates or replaces a Pod (it must validate against the Pod schema).
    pub fn put_pod(&self, pod: &Value) {
        self.must("PUT", "pods", Some(pod));
    }

    /// A core v1 Event, as the kubelet posts them.
    pub fn post_kubelet_event(&self, event: &Value) {
        self.must("POST", "events", Some(event));
    }

    /// Every create and patch exitwatch sent: `{verb, object, patch?, invalid}`.
    pub fn posted(&self) -> Vec<Value> {
        match self.must("GET", "posted", None) {
            Value::Array(a) => a,
            other => panic!("/_test/posted said {other:#}"),
        }
    }

    /// Every API request served: `{method, path, query, status}`.
    pub fn requests(&self) -> Vec<Value> {
        match self.must("GET", "requests", None) {
            Value::Array(a) => a,
            other => panic!("/_test/requests said {other:#}"),
        }
    }

    /// RBAC: these `verb:plural` pairs get 403 from now on (an empty list grants everything).
    pub fn deny(&self, rules: &[&str]) {
        self.must("PUT", "deny", Some(&json!(rules)));
    }

    /// Takes the API down (connections closed unanswered, watches cut) or brings it back.
    pub fn down(&self, down: bool) {
        self.must("PUT", "down", Some(&json!(down)));
    }

    /// Has every API request answered 503 Service Unavailable (watches cut), as an overloaded
    /// API server or a load balancer with no server behind it does; `down(false)` ends it.
    pub fn unavailable(&self) {
        self.must("PUT", "down", Some(&json!("503")));
    }

    /// Waits until a watch of `path` (e.g. /api/v1/pods) succeeded since the request log's
    /// `from`-th entry: exitwatch then has the list behind it.
    pub fn wait_watch(&self, path: &str, from: usize, timeout: Duration) {
        let ok = wait_until(timeout, || {
            self.requests().iter().skip(from).any(|r| {
                r["path"] == path
                    && r["status"] == 200
                    && r["query"].as_str().unwrap_or("").contains("watch=true")
            })
        });
        assert!(
            ok,
            "no watch of {path} within {timeout:?}; requests: {:#?}",
            self.requests()
        );
    }

    /// The Events exitwatch created or patched that were accepted, about the pod `uid`.
    pub fn accepted_about(&self, uid: &str) -> Vec<Value> {
        self.posted()
            .into_iter()
            .filter(|p| p["invalid"].is_null() && p["object"]["regarding"]["uid"] == uid)
            .collect()
    }
}

impl Drop for KubeApi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
