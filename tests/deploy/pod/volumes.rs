//! The container's volumeMounts as `ctr run --mount` flags: hostPath volumes checked (or made)
//! as the kubelet does by their `type`, configMap volumes written out as files.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::Host;

/// `--mount` flags for the container's volumeMounts; host directories made on the way go to
/// `created`.
pub fn mounts(
    pod: &Value,
    c: &Value,
    config_maps: &[&Value],
    host: &Host,
    created: &mut Vec<PathBuf>,
) -> Result<Vec<String>, String> {
    let volumes = pod["volumes"].as_array().cloned().unwrap_or_default();
    let mut out = Vec::new();
    for m in c["volumeMounts"].as_array().into_iter().flatten() {
        let name = m["name"].as_str().ok_or("volumeMount without a name")?;
        let dst = m["mountPath"]
            .as_str()
            .ok_or("volumeMount without a mountPath")?;
        for unsupported in ["subPath", "subPathExpr", "mountPropagation"] {
            if !m[unsupported].is_null() {
                return Err(format!(
                    "volumeMount {name}: {unsupported} is not reproduced"
                ));
            }
        }
        let v = volumes
            .iter()
            .find(|v| v["name"] == name)
            .ok_or_else(|| format!("volumeMount {name} names no volume"))?;
        let src = if let Some(path) = v["hostPath"]["path"].as_str() {
            host_path(
                host.path(path),
                v["hostPath"]["type"].as_str().unwrap_or(""),
                created,
            )?
        } else if let Some(cm) = v["configMap"]["name"].as_str() {
            config_map_dir(cm, config_maps, &host.volumes_dir.join(name))?
        } else {
            return Err(format!(
                "volume {name}: only hostPath and configMap are reproduced"
            ));
        };
        let mode = match (m["readOnly"] == true, m["recursiveReadOnly"].as_str()) {
            (false, None | Some("Disabled")) => "rw",
            (false, Some(_)) => {
                return Err(format!(
                    "volumeMount {name}: recursiveReadOnly needs readOnly: true (the API server refuses it)"
                ))
            }
            (true, None | Some("Disabled")) => "ro",
            // What the kubelet does with a runtime that cannot make a mount recursively
            // read-only, as the tests' containerd 1.6 (its CRI plugin has no `rro`): plain
            // read-only. The mounts beneath stay as they are on the host.
            (true, Some("IfPossible")) => "ro",
            (true, Some(other)) => {
                return Err(format!(
                    "volumeMount {name}: recursiveReadOnly {other} is not reproduced (containerd 1.6 cannot; the kubelet would not start the pod)"
                ))
            }
        };
        out.push(format!(
            "--mount=type=bind,src={},dst={dst},options=rbind:{mode}",
            src.display()
        ));
    }
    Ok(out)
}

/// The kubelet's checks of a hostPath `type`.
fn host_path(path: &str, kind: &str, created: &mut Vec<PathBuf>) -> Result<PathBuf, String> {
    let p = Path::new(path);
    let meta = std::fs::metadata(p);
    let ok = match kind {
        "Directory" => meta.is_ok_and(|m| m.is_dir()),
        "DirectoryOrCreate" => {
            make_dir(p, created)?;
            true
        }
        "CharDevice" => {
            meta.is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_char_device(&m.file_type()))
        }
        // Unchecked by the kubelet; containerd's CRI plugin makes a missing source a directory.
        "" => {
            if meta.is_err() {
                make_dir(p, created)?;
            }
            true
        }
        "Socket" => meta.is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_socket(&m.file_type())),
        "File" => meta.is_ok_and(|m| m.is_file()),
        other => return Err(format!("hostPath {path}: type {other:?} is not reproduced")),
    };
    if !ok {
        return Err(format!(
            "hostPath {path} is not a {kind} here: the kubelet would not start the pod"
        ));
    }
    Ok(p.to_owned())
}

/// `mkdir -p`, remembering the outermost directory it made (to be removed after the test).
fn make_dir(p: &Path, created: &mut Vec<PathBuf>) -> Result<(), String> {
    if let Some(outermost) = p.ancestors().take_while(|a| !a.exists()).last() {
        created.push(outermost.to_owned());
    }
    std::fs::create_dir_all(p).map_err(|e| format!("hostPath {}: {e}", p.display()))
}

/// The ConfigMap's data as files in `dir`, as the kubelet projects them.
fn config_map_dir(name: &str, config_maps: &[&Value], dir: &Path) -> Result<PathBuf, String> {
    let cm = config_maps
        .iter()
        .find(|cm| cm["metadata"]["name"] == name)
        .ok_or_else(|| format!("configMap {name} is not among the manifests"))?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for (key, value) in cm["data"].as_object().into_iter().flatten() {
        let text = value
            .as_str()
            .ok_or_else(|| format!("configMap {name}: {key} is not text"))?;
        std::fs::write(dir.join(key), text).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    Ok(dir.to_owned())
}
