//! The DaemonSet's pod as `ctr run` options: what the kubelet and containerd's CRI plugin would
//! give its container (capabilities, host PID namespace, read-only root, seccomp, no_new_privs,
//! mounts, environment, limits), read from deploy/kubernetes so the test cannot drift from it.
//! A field the translation cannot reproduce is an error, never silently dropped.

use std::path::PathBuf;

use serde_json::Value;

mod volumes;

/// Every capability name up to CAP_CHECKPOINT_RESTORE (40), by number.
pub const CAPS: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// What the host provides that the manifest only names.
pub struct Host {
    /// The PID namespace `hostPID: true` means (the test's own, which is the node's).
    pub pid_ns: PathBuf,
    /// `spec.nodeName` for the downward API.
    pub node_name: String,
    /// Where configMap volumes are written out, one directory per volume.
    pub volumes_dir: PathBuf,
    /// Where the kubelet points a pod's KUBERNETES_SERVICE_HOST and _PORT: an address where no
    /// API server answers (none can run here).
    pub api_server: (String, u16),
    /// hostPaths this machine has elsewhere: (the node's path, this machine's), e.g. the tests'
    /// own containerd socket for /run/containerd/containerd.sock.
    pub moved: Vec<(PathBuf, PathBuf)>,
}

impl Host {
    /// Where the node's `path` is on this machine.
    pub fn path<'a>(&'a self, path: &'a str) -> &'a str {
        self.moved
            .iter()
            .find(|(node, _)| node.as_os_str() == path)
            .and_then(|(_, here)| here.to_str())
            .unwrap_or(path)
    }
}

/// A kubelet HTTP probe, resolved to a port number.
#[derive(Debug, PartialEq, Eq)]
pub struct Probe {
    pub path: String,
    pub port: u16,
}

/// One `ctr run` of the pod's only container.
#[derive(Debug)]
pub struct CtrRun {
    pub image: String,
    /// Flags for `ctr run`, before the image.
    pub options: Vec<String>,
    /// The process: ENTRYPOINT (or `command`), then `args` (or CMD).
    pub process: Vec<String>,
    /// The capabilities the container keeps, without `CAP_`.
    pub caps: Vec<String>,
    pub no_new_privs: bool,
    pub seccomp: bool,
    pub probes: Vec<Probe>,
    /// Host directories made for DirectoryOrCreate and untyped hostPaths; removed on drop (when
    /// still empty), so that the test leaves the node as it found it.
    pub created: Vec<PathBuf>,
    /// Where configMap volumes were written (`Host::volumes_dir`); removed on drop.
    pub volumes_dir: PathBuf,
}

impl Drop for CtrRun {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.volumes_dir);
        for dir in &self.created {
            // Only if empty: a runtime may have started using it meanwhile.
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// The image's ENTRYPOINT and CMD (JSON form), read from the Containerfile.
pub fn entrypoint_and_cmd(containerfile: &str) -> (Vec<String>, Vec<String>) {
    let list = |word: &str| {
        containerfile
            .lines()
            .filter_map(|l| l.trim().strip_prefix(word))
            .filter_map(|rest| serde_json::from_str::<Vec<String>>(rest.trim()).ok())
            .next_back()
            .unwrap_or_default()
    };
    (list("ENTRYPOINT"), list("CMD"))
}

/// `daemonset` translated; `config_maps` are the manifests' ConfigMaps, for configMap volumes.
/// Writes configMap volumes and creates DirectoryOrCreate host paths, as the kubelet does.
pub fn ctr_run(
    daemonset: &Value,
    config_maps: &[&Value],
    image: (&[String], &[String]),
    host: &Host,
) -> Result<CtrRun, String> {
    let pod = &daemonset["spec"]["template"]["spec"];
    let containers = pod["containers"].as_array().ok_or("no containers")?;
    let [c] = containers.as_slice() else {
        return Err(format!(
            "{} containers: the test runs exactly one",
            containers.len()
        ));
    };
    for unsupported in ["initContainers", "hostIPC", "shareProcessNamespace"] {
        if !pod[unsupported].is_null() && pod[unsupported] != false {
            return Err(format!(
                "pod field {unsupported} is not reproduced by the test"
            ));
        }
    }
    let mut o: Vec<String> = Vec::new();
    if pod["hostPID"] == true {
        o.push(format!("--with-ns=pid:{}", host.pid_ns.display()));
    }
    if pod["hostNetwork"] == true {
        o.push("--net-host".into());
    }
    // The container's securityContext wins over the pod's, field by field.
    let sc = |field: &str| -> &Value {
        let own = &c["securityContext"][field];
        if own.is_null() {
            &pod["securityContext"][field]
        } else {
            own
        }
    };
    for uid_field in ["runAsUser", "runAsGroup"] {
        if !sc(uid_field).is_null() && sc(uid_field) != 0 {
            return Err(format!(
                "{uid_field} {}: `ctr run` cannot set it (the image runs as 0)",
                sc(uid_field)
            ));
        }
    }
    if sc("privileged") == true {
        o.push("--privileged".into());
    }
    // Kubernetes sets no_new_privs only when told; ctr sets it unless told not to.
    let no_new_privs = sc("allowPrivilegeEscalation") == false;
    if !no_new_privs {
        o.push("--allow-new-privs".into());
    }
    if sc("readOnlyRootFilesystem") == true {
        o.push("--read-only".into());
    }
    let seccomp = match sc("seccompProfile")["type"].as_str() {
        Some("RuntimeDefault") => true,
        None | Some("Unconfined") => false,
        Some(other) => {
            return Err(format!(
                "seccompProfile {other} is not reproduced by the test"
            ))
        }
    };
    if seccomp {
        // containerd's default profile, generated from the capabilities as the CRI plugin does.
        o.push("--seccomp".into());
    }
    let caps = capabilities(&c["securityContext"]["capabilities"], &mut o)?;
    for (name, value) in env(c, host)? {
        o.push(format!("--env={name}={value}"));
    }
    // automountServiceAccountToken: what the kubelet gives every such pod (enableServiceLinks
    // or not): the API server's address in KUBERNETES_SERVICE_HOST/_PORT and the account's
    // token, CA and namespace at /var/run/secrets/kubernetes.io/serviceaccount. No API server
    // runs here, so the address answers nothing and the token is no real one: exitwatch runs as
    // on a node whose API server it cannot reach, and must keep working and say so. Unset is
    // taken as not mounted (the manifests' ServiceAccount says false).
    if pod["automountServiceAccountToken"] == true {
        let namespace = daemonset["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default");
        for opt in service_account(namespace, &host.volumes_dir, &host.api_server)? {
            o.push(opt);
        }
    }
    let limits = &c["resources"]["limits"];
    if let Some(memory) = limits["memory"].as_str() {
        o.push(format!("--memory-limit={}", bytes(memory)?));
    }
    if let Some(cpu) = limits["cpu"].as_str() {
        o.push(format!("--cpus={}", cores(cpu)?));
    }
    let mut created = Vec::new();
    for m in volumes::mounts(pod, c, config_maps, host, &mut created)? {
        o.push(m);
    }
    let strings = |v: &Value| -> Option<Vec<String>> {
        v.as_array().map(|a| {
            a.iter()
                .map(|s| s.as_str().unwrap_or_default().to_owned())
                .collect()
        })
    };
    let mut process = strings(&c["command"]).unwrap_or_else(|| image.0.to_vec());
    process.extend(strings(&c["args"]).unwrap_or_else(|| image.1.to_vec()));
    Ok(CtrRun {
        image: c["image"]
            .as_str()
            .ok_or("the container has no image")?
            .to_owned(),
        options: o,
        process,
        caps,
        no_new_privs,
        seccomp,
        probes: probes(c)?,
        created,
        volumes_dir: host.volumes_dir.clone(),
    })
}

/// `--cap-drop`/`--cap-add` flags; returns the capabilities kept. ctr applies its drops after
/// its adds, so what is kept is never dropped.
fn capabilities(caps: &Value, o: &mut Vec<String>) -> Result<Vec<String>, String> {
    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|s| s.trim_start_matches("CAP_").to_owned())
            .collect()
    };
    let (add, drop) = (names(&caps["add"]), names(&caps["drop"]));
    if let Some(bad) = add
        .iter()
        .chain(&drop)
        .find(|c| *c != "ALL" && !CAPS.contains(&c.as_str()))
    {
        return Err(format!("unknown capability {bad}"));
    }
    if !drop.iter().any(|c| c == "ALL") {
        return Err(
            "capabilities.drop lacks ALL: the test reproduces only drop-ALL-then-add".into(),
        );
    }
    for cap in CAPS.iter().filter(|c| !add.iter().any(|a| a == *c)) {
        o.push(format!("--cap-drop=CAP_{cap}"));
    }
    for cap in &add {
        o.push(format!("--cap-add=CAP_{cap}"));
    }
    Ok(add)
}

/// The `ctr run` options of a mounted service account token, its files written under
/// `volumes_dir` (a self-signed CA made by openssl: the client must get as far as connecting).
pub fn service_account(
    namespace: &str,
    volumes_dir: &std::path::Path,
    api_server: &(String, u16),
) -> Result<Vec<String>, String> {
    let dir = volumes_dir.join("kube-api-access");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let write = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text).map_err(|e| format!("{}: {e}", dir.display()))
    };
    write("namespace", namespace)?;
    write("token", "not-a-real-token.exitwatch-deploy-test")?;
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args([
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=exitwatch-deploy-test-ca",
        ])
        .arg("-keyout")
        .arg(dir.join("ca.key"))
        .arg("-out")
        .arg(dir.join("ca.crt"))
        .output()
        .map_err(|e| format!("openssl ({e}): `cargo xtask setup` installs it"))?;
    if !out.status.success() {
        return Err(format!(
            "openssl req: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let _ = std::fs::remove_file(dir.join("ca.key"));
    let (api, port) = api_server;
    Ok(vec![
        format!("--env=KUBERNETES_SERVICE_HOST={api}"),
        format!("--env=KUBERNETES_SERVICE_PORT={port}"),
        format!(
            "--mount=type=bind,src={},dst=/var/run/secrets/kubernetes.io/serviceaccount,options=rbind:ro",
            dir.display()
        ),
    ])
}

fn env(c: &Value, host: &Host) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for e in c["env"].as_array().into_iter().flatten() {
        let name = e["name"]
            .as_str()
            .ok_or("env entry without a name")?
            .to_owned();
        let value = if let Some(v) = e["value"].as_str() {
            v.to_owned()
        } else if e["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName" {
            host.node_name.clone()
        } else {
            return Err(format!(
                "env {name}: only values and spec.nodeName are reproduced"
            ));
        };
        out.push((name, value));
    }
    Ok(out)
}

fn probes(c: &Value) -> Result<Vec<Probe>, String> {
    let mut out = Vec::new();
    for kind in ["readinessProbe", "livenessProbe", "startupProbe"] {
        let get = &c[kind]["httpGet"];
        if get.is_null() {
            continue;
        }
        let port = match &get["port"] {
            Value::Number(n) => n.as_u64(),
            Value::String(name) => c["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["name"] == *name.as_str())
                .and_then(|p| p["containerPort"].as_u64()),
            _ => None,
        };
        out.push(Probe {
            path: get["path"].as_str().unwrap_or("/").to_owned(),
            port: port
                .and_then(|p| u16::try_from(p).ok())
                .ok_or_else(|| format!("{kind}: port {} names no container port", get["port"]))?,
        });
    }
    Ok(out)
}

/// A Kubernetes memory quantity in bytes: `128Mi`, `1G`, `65536`.
pub fn bytes(q: &str) -> Result<u64, String> {
    let units: &[(&str, u64)] = &[
        ("Ki", 1 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("k", 1_000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
    ];
    let (n, mult) = units
        .iter()
        .find_map(|(u, m)| q.strip_suffix(u).map(|n| (n, *m)))
        .unwrap_or((q, 1));
    n.parse::<u64>()
        .map(|n| n * mult)
        .map_err(|_| format!("memory quantity {q:?}"))
}

/// A Kubernetes CPU quantity in cores: `1`, `500m`, `0.5`.
pub fn cores(q: &str) -> Result<f64, String> {
    match q.strip_suffix('m') {
        Some(milli) => milli.parse::<f64>().map(|m| m / 1000.0),
        None => q.parse::<f64>(),
    }
    .map_err(|_| format!("cpu quantity {q:?}"))
}

#[cfg(test)]
mod tests;
