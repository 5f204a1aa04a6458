//! The image used interactively on a node, as README.md shows:
//! `kubectl debug node/NODE -it --image=IMAGE --profile=sysadmin -- /exitwatch --pid PID`.
//!
//! kubectl's node debugging makes a pod on that node with the node's root filesystem at /host
//! (a hostPath volume of `/`, read-write); `--profile=sysadmin` adds, for node debugging,
//! `privileged: true` on the container and hostPID, hostNetwork and hostIPC on the pod
//! (kubectl's debug profiles: setPrivileged, useHostNamespaces, mountRootPartition). Here the
//! same under containerd: `ctr run --privileged`, the node's (this test's) PID, network and IPC
//! namespaces, `/` bind-mounted at /host, the image's own root filesystem. No TTY (`-it` only
//! adds one: the text output then has colours). The pod gets the namespace's default service
//! account's token, as kubectl's pod would, and an API server address where nothing answers (none
//! runs here): the interactive use needs no RBAC, and exitwatch must not need the API for it.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;
use std::thread;
use std::time::Duration;

use crate::containerd as runtime;
use crate::image::unreachable_api_server;
use crate::manifests;
use crate::pod::{self, CtrRun};
use crate::running::{Imported, Pod};

/// `/proc/PID/status` field `name`.
fn status_field(pid: u32, name: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .unwrap_or("")
        .trim()
        .to_owned()
}

/// The container `kubectl debug node/... --profile=sysadmin --image=IMAGE -- PROCESS` makes.
fn sysadmin_debug_pod(image: &str, process: Vec<String>) -> CtrRun {
    let me = std::process::id();
    let volumes_dir =
        std::env::temp_dir().join(format!("exitwatch-debug-pod-{}", runtime::random_hex(4)));
    let mut options: Vec<String> = vec![
        // privileged: every capability, no seccomp filter, the host's devices, and
        // allowPrivilegeEscalation left at its default (true) in Kubernetes.
        "--privileged".into(),
        "--allow-new-privs".into(),
        format!("--with-ns=pid:/proc/{me}/ns/pid"),
        format!("--with-ns=ipc:/proc/{me}/ns/ipc"),
        "--net-host".into(),
        // kubectl's volume `host-root`: hostPath `/`, mounted at /host, not read-only.
        "--mount=type=bind,src=/,dst=/host,options=rbind:rw".into(),
    ];
    // The default service account's token, mounted as into every pod that does not opt out.
    options.extend(
        pod::service_account("default", &volumes_dir, &unreachable_api_server())
            .unwrap_or_else(|e| panic!("{e}")),
    );
    CtrRun {
        image: image.to_owned(),
        options,
        process,
        caps: Vec::new(),
        no_new_privs: false,
        seccomp: false,
        probes: Vec::new(),
        created: Vec::new(),
        volumes_dir,
    }
}

#[test]
fn kubectl_debug_node_sysadmin_names_who_killed_a_node_process() {
    // The DaemonSet's image: the one a user would pass to --image.
    let ds = manifests::the("DaemonSet");
    let image = ds["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .expect("the DaemonSet's image")
        .to_owned();
    let _image = Imported::new(&image);

    // A process on the node, and the one that will kill it: a script whose name says who it is
    // (its comm is the script's name; dash's `kill` is a builtin, so the script itself sends).
    let mut victim = Command::new("sleep").arg("1000").spawn().expect("sleep");
    let target = victim.id();
    let dir = std::env::temp_dir().join(format!("exitwatch-debug-{}", runtime::random_hex(4)));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("ew-cleanup");
    std::fs::write(&script, "#!/bin/sh\nkill -9 \"$1\"\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();

    let run = sysadmin_debug_pod(
        &image,
        vec!["/exitwatch".into(), "--pid".into(), target.to_string()],
    );
    let mut pod = Pod::start(&run);
    pod.ready().unwrap_or_else(|e| panic!("{e}"));
    let pid = pod.pid();

    // What the sysadmin profile gives, seen on the live process.
    assert_eq!(
        status_field(pid, "CapEff"),
        status_field(std::process::id(), "CapBnd"),
        "privileged: every capability the node has"
    );
    assert_eq!(
        status_field(pid, "Seccomp"),
        "0",
        "privileged: no seccomp filter"
    );
    let ns = |p: String| std::fs::read_link(&p).unwrap_or_else(|e| panic!("{p}: {e}"));
    for kind in ["pid", "net", "ipc"] {
        assert_eq!(
            ns(format!("/proc/{pid}/ns/{kind}")),
            ns(format!("/proc/self/ns/{kind}")),
            "host{kind}: the node's {kind} namespace"
        );
    }
    assert_ne!(
        ns(format!("/proc/{pid}/ns/mnt")),
        ns("/proc/self/ns/mnt".into()),
        "its own mount namespace"
    );
    let root = format!("/proc/{pid}/root");
    assert!(
        std::path::Path::new(&root).join("exitwatch").is_file(),
        "the image's own root filesystem is /"
    );
    let (host, node) = (
        std::fs::metadata(format!("{root}/host")).expect("/host"),
        std::fs::metadata("/").unwrap(),
    );
    assert_eq!(
        (host.dev(), host.ino()),
        (node.dev(), node.ino()),
        "/host is the node's root"
    );

    thread::sleep(Duration::from_millis(100));
    let mut killer = Command::new(&script)
        .arg(target.to_string())
        .spawn()
        .expect("ew-cleanup");
    let sender = killer.id();
    assert!(killer.wait().expect("ew-cleanup").success());
    let status = victim.wait().expect("sleep");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL)
    );

    let wait = Duration::from_secs(10);
    let what = format!("sleep({target}) will exit with code 137");
    let headline = pod
        .line(wait, |l| l.contains("SIGKILL from") && l.contains(&what))
        .unwrap_or_else(|e| panic!("no line saying `SIGKILL from ... {what}`:\n{e}"));
    assert!(
        headline.contains("ew-cleanup"),
        "the sender's command line: {headline}"
    );
    let sender_line = pod
        .line(wait, |l| l.trim_start().starts_with("sender "))
        .unwrap_or_else(|e| panic!("no sender line:\n{e}"));
    assert_eq!(
        sender_line.split_whitespace().nth(1),
        Some(format!("ew-cleanup({sender})").as_str()),
        "{sender_line}"
    );
    let exit = format!("sleep({target}) exited with 137: killed by SIGKILL");
    pod.line(wait, |l| l.contains(&exit))
        .unwrap_or_else(|e| panic!("no `{exit}`:\n{e}"));
    eprintln!("kubectl debug node --profile=sysadmin, exitwatch --pid {target}:\n{headline}\n{sender_line}");
    // In a pod with a token, exitwatch tries the API (for pod names) and, with no answer, says so
    // and goes on: the kill above was reported without it.
    assert!(
        pod.says("exitwatch: kubernetes:", Duration::from_secs(5)),
        "no word about the API server: {:?}",
        pod.stderr_seen
    );
    let api: Vec<&String> = pod
        .stderr_seen
        .iter()
        .filter(|l| l.contains("kubernetes"))
        .collect();
    eprintln!("what it said of the API server: {api:?}");
    // `--pid`: exitwatch ends once its target has.
    let ended = pod.wait(wait);
    assert!(
        ended.is_some_and(|s| s.success()),
        "exitwatch after its target exited: {ended:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
