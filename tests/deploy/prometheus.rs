//! deploy/prometheus: the PrometheusRule's structure (checked here: no schema of the Prometheus
//! Operator's CRD is available offline), its rules through promtool (Prometheus's own parser of
//! PromQL and alert templates), and the metric names its expressions use, which `image.rs`
//! checks against the /metrics of the image itself.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::manifests;

pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/prometheus")
}

/// The one PrometheusRule of deploy/prometheus.
pub fn rule() -> Value {
    let docs = manifests::load(&[dir().join("prometheusrule.yaml")]);
    let [rule] = docs.as_slice() else {
        panic!("one object in prometheusrule.yaml, found {}", docs.len());
    };
    rule.clone()
}

/// Every rule of every group.
fn rules(rule: &Value) -> Vec<Value> {
    rule["spec"]["groups"]
        .as_array()
        .expect("spec.groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("group rules").clone())
        .collect()
}

/// A Prometheus duration: `10m`, `1h30m`, `30s`.
fn is_duration(s: &str) -> bool {
    let mut rest = s;
    let mut parts = 0;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        let Some(unit) = ["ms", "y", "w", "d", "h", "m", "s"]
            .iter()
            .find(|u| rest.starts_with(*u))
        else {
            return false;
        };
        rest = &rest[unit.len()..];
        parts += 1;
    }
    parts > 0
}

/// The PrometheusRule's shape, as the operator's CRD (monitoring.coreos.com/v1) defines it;
/// the error names the first field that is wrong.
fn check_structure(rule: &Value) -> Result<(), String> {
    if rule["apiVersion"] != "monitoring.coreos.com/v1" || rule["kind"] != "PrometheusRule" {
        return Err(format!(
            "apiVersion/kind {} {}",
            rule["apiVersion"], rule["kind"]
        ));
    }
    for field in ["name", "namespace"] {
        if !rule["metadata"][field].is_string() {
            return Err(format!("metadata.{field}"));
        }
    }
    let spec = rule["spec"].as_object().ok_or("spec")?;
    if let Some(k) = spec.keys().find(|k| *k != "groups") {
        return Err(format!("spec.{k} is not a PrometheusRule field"));
    }
    let groups = rule["spec"]["groups"].as_array().ok_or("spec.groups")?;
    if groups.is_empty() {
        return Err("no groups".into());
    }
    let group_fields = [
        "name",
        "rules",
        "interval",
        "limit",
        "partial_response_strategy",
        "query_offset",
        "labels",
    ];
    let rule_fields = [
        "alert",
        "record",
        "expr",
        "for",
        "keep_firing_for",
        "labels",
        "annotations",
    ];
    for g in groups {
        let name = g["name"].as_str().ok_or("a group without a name")?;
        if let Some(k) = g
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
            .find(|k| !group_fields.contains(&k.as_str()))
        {
            return Err(format!("group {name}: {k} is not a group field"));
        }
        let rs = g["rules"]
            .as_array()
            .filter(|r| !r.is_empty())
            .ok_or_else(|| format!("group {name}: no rules"))?;
        for r in rs {
            let id = r["alert"]
                .as_str()
                .or(r["record"].as_str())
                .ok_or_else(|| {
                    format!("group {name}: a rule with neither alert nor record: {r}")
                })?;
            if !r["alert"].is_null() && !r["record"].is_null() {
                return Err(format!("{id}: both alert and record"));
            }
            if let Some(k) = r
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, _)| k)
                .find(|k| !rule_fields.contains(&k.as_str()))
            {
                return Err(format!("{id}: {k} is not a rule field"));
            }
            // The CRD has expr as int-or-string; an alert's is always PromQL text here.
            if r["expr"].as_str().is_none_or(|e| e.trim().is_empty()) {
                return Err(format!("{id}: expr is not PromQL text"));
            }
            for d in ["for", "keep_firing_for"] {
                if !r[d].is_null() && !r[d].as_str().is_some_and(is_duration) {
                    return Err(format!("{id}: {d} {} is not a duration", r[d]));
                }
            }
            for map in ["labels", "annotations"] {
                if r[map].is_null() {
                    continue;
                }
                let m = r[map]
                    .as_object()
                    .ok_or_else(|| format!("{id}: {map} is not a map"))?;
                if let Some((k, _)) = m.iter().find(|(_, v)| !v.is_string()) {
                    return Err(format!("{id}: {map}.{k} is not a string"));
                }
            }
        }
    }
    Ok(())
}

/// `promtool check rules` on the rule groups (a PrometheusRule's spec is a Prometheus rule
/// file); Ok, or its report.
fn promtool(rule: &Value, name: &str) -> Result<String, String> {
    let file = std::env::temp_dir().join(format!(
        "exitwatch-rules-{}-{name}.yaml",
        std::process::id()
    ));
    // JSON is YAML: promtool reads it as a rule file.
    std::fs::write(&file, serde_json::to_string(&rule["spec"]).unwrap()).unwrap();
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run promtool ({e}): `cargo xtask setup` installs it (Debian's prometheus)"
            )
        });
    let _ = std::fs::remove_file(&file);
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(report)
    } else {
        Err(report)
    }
}

/// PromQL words that are not metric names where they stand alone.
const KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "and",
    "or",
    "unless",
    "atan2",
    "start",
    "end",
];

/// The metric names an expression selects: identifiers outside label matchers, ranges and
/// strings that are neither functions (followed by `(`) nor keywords; the label lists after
/// by/without/on/ignoring/group_left/group_right are skipped. A `{__name__=...}` selector is
/// refused rather than guessed.
pub fn metric_names(expr: &str) -> Vec<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = Vec::new();
    let mut i = 0;
    let mut skip_list = false;
    // Skips from an opening bracket to its match, over strings.
    let skip = |i: &mut usize, open: char, close: char| {
        let mut depth = 0;
        while *i < chars.len() {
            let c = chars[*i];
            if c == '"' || c == '\'' || c == '`' {
                *i += 1;
                while *i < chars.len() && chars[*i] != c {
                    if chars[*i] == '\\' {
                        *i += 1;
                    }
                    *i += 1;
                }
            } else if c == open {
                depth += 1;
            } else if c == close {
                depth -= 1;
                if depth == 0 {
                    *i += 1;
                    return;
                }
            }
            *i += 1;
        }
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '{' {
            let start = i;
            skip(&mut i, '{', '}');
            let matchers: String = chars[start..i].iter().collect();
            assert!(
                !matchers.contains("__name__"),
                "a __name__ matcher in {expr:?}: name the metric"
            );
        } else if c == '[' {
            skip(&mut i, '[', ']');
        } else if c == '(' && skip_list {
            skip(&mut i, '(', ')');
            skip_list = false;
        } else if c == '"' || c == '\'' || c == '`' {
            i += 1;
            while i < chars.len() && chars[i] != c {
                i += 1;
            }
            i += 1;
        } else if c.is_ascii_digit() || c == '.' {
            // A number (1e3, 0x1f, 1.5): letters that follow belong to it.
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = chars[i..].iter().find(|c| !c.is_whitespace());
            // `sum by (x) (...)`: an aggregation, whose grouping comes before its parenthesis.
            let rest: String = chars[i..].iter().collect();
            let rest = rest.trim_start();
            let grouping = ["by", "without"].iter().any(|k| {
                rest.strip_prefix(k)
                    .is_some_and(|r| r.starts_with(|c: char| c.is_whitespace() || c == '('))
            });
            let lower = word.to_ascii_lowercase();
            if [
                "by",
                "without",
                "on",
                "ignoring",
                "group_left",
                "group_right",
            ]
            .contains(&lower.as_str())
            {
                skip_list = true;
            } else if KEYWORDS.contains(&lower.as_str()) || next == Some(&'(') || grouping {
                // An aggregation or function: `sum by (x) (...)` has its list skipped above.
            } else if !["inf", "nan"].contains(&lower.as_str()) && !names.contains(&word) {
                names.push(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

/// Every metric name the alerts use, with the alert that uses it.
pub fn alert_metrics() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for r in rules(&rule()) {
        let alert = r["alert"].as_str().unwrap_or_default().to_owned();
        for name in metric_names(r["expr"].as_str().expect("expr")) {
            out.push((name, alert.clone()));
        }
    }
    out
}

#[test]
fn the_prometheus_rule_is_well_formed_and_kept_out_of_the_default_kustomization() {
    let rule = rule();
    check_structure(&rule).unwrap_or_else(|e| panic!("prometheusrule.yaml: {e}"));
    // The check can fail: a misspelt rule field and a bad duration.
    let mut bad = rule.clone();
    bad["spec"]["groups"][0]["rules"][0]["annotation"] = serde_json::json!({});
    assert!(check_structure(&bad)
        .unwrap_err()
        .contains("annotation is not a rule field"));
    let mut bad = rule.clone();
    bad["spec"]["groups"][0]["rules"][0]["for"] = serde_json::json!("10 minutes");
    assert!(check_structure(&bad)
        .unwrap_err()
        .contains("not a duration"));
    // Applied on its own: without the operator's CRDs `kubectl apply -k deploy/kubernetes`
    // would fail on it.
    let own = manifests::load(&[dir().join("kustomization.yaml")]);
    assert_eq!(
        own[0]["resources"],
        serde_json::json!(["prometheusrule.yaml"])
    );
    let default = manifests::load(&[manifests::dir().join("kustomization.yaml")]);
    let resources = default[0]["resources"].to_string();
    assert!(!resources.contains("prometheus"), "{resources}");
    assert!(manifests::objects()
        .iter()
        .all(|o| o["kind"] != "PrometheusRule"));
    // Same namespace as the DaemonSet whose pods it watches.
    assert_eq!(
        rule["metadata"]["namespace"],
        manifests::the("DaemonSet")["metadata"]["namespace"]
    );
}

#[test]
fn promtool_accepts_the_rules_and_refuses_broken_ones() {
    let rule = rule();
    let report = promtool(&rule, "good").unwrap_or_else(|r| panic!("promtool check rules:\n{r}"));
    let n = rules(&rule).len();
    assert!(
        report.contains(&format!("SUCCESS: {n} rules found")),
        "{report}"
    );
    // A PromQL mistake and an annotation template mistake, each named by promtool.
    let mut bad = rule.clone();
    bad["spec"]["groups"][0]["rules"][0]["expr"] =
        serde_json::json!("increase(exitwatch_oom_kills_total[5m]) >> 0");
    let report = promtool(&bad, "expr").expect_err("a broken expression passed promtool");
    assert!(report.contains("parse error"), "{report}");
    let mut bad = rule.clone();
    bad["spec"]["groups"][0]["rules"][0]["annotations"]["summary"] =
        serde_json::json!("{{ $labels.pod }");
    let report = promtool(&bad, "template").expect_err("a broken template passed promtool");
    assert!(report.contains("summary"), "{report}");
}

#[test]
fn the_alerts_cover_oom_kills_foreign_senders_and_the_api() {
    let rule = rule();
    let by_metric = |metric: &str| -> Value {
        let found: Vec<Value> = rules(&rule)
            .into_iter()
            .filter(|r| {
                metric_names(r["expr"].as_str().unwrap())
                    .iter()
                    .any(|m| m == metric)
            })
            .collect();
        assert_eq!(found.len(), 1, "one alert on {metric}");
        found[0].clone()
    };
    let oom = by_metric("exitwatch_oom_kills_total");
    assert_eq!(oom["expr"], "increase(exitwatch_oom_kills_total[5m]) > 0");
    let text = format!(
        "{}{}",
        oom["annotations"]["summary"], oom["annotations"]["description"]
    );
    for label in ["namespace", "pod", "container", "pid1"] {
        assert!(
            text.contains(&format!("$labels.{label}")),
            "the OOM alert does not say its {label}: {text}"
        );
    }
    let signals = by_metric("exitwatch_signals_total");
    let expr = signals["expr"].as_str().unwrap();
    assert!(
        expr.contains(r#"sender_role!~"kubelet|container_runtime|kernel""#),
        "{expr}"
    );
    let api = by_metric("exitwatch_kube_api_up");
    assert_eq!(api["expr"], "exitwatch_kube_api_up == 0");
    assert_eq!(api["for"], "10m");
    for r in rules(&rule) {
        assert!(!r["labels"]["severity"].is_null(), "{r}");
        assert!(!r["annotations"]["summary"].is_null(), "{r}");
    }
}

#[test]
fn metric_names_are_read_from_promql() {
    assert_eq!(
        metric_names(
            r#"sum by (namespace, pod) (increase(a_total{x="b{c}", y=~"d|e"}[5m])) / on (pod) group_left(node) b:c > 0 and up == bool 1e3"#
        ),
        ["a_total", "b:c", "up"]
    );
    assert_eq!(
        metric_names("exitwatch_kube_api_up == 0"),
        ["exitwatch_kube_api_up"]
    );
    assert_eq!(metric_names("rate(x[5m] offset 1h)"), ["x"]);
}

/// `promtool test rules` of tests/deploy/prometheus/alerts_test.yaml against `rule`'s groups:
/// Ok, or its report.
fn promtool_test(rule: &Value, name: &str) -> Result<String, String> {
    let dir = std::env::temp_dir().join(format!("exitwatch-alerts-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("rules.json"),
        serde_json::to_string(&rule["spec"]).unwrap(),
    )
    .unwrap();
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus/alerts_test.yaml");
    std::fs::copy(&tests, dir.join("alerts_test.yaml"))
        .unwrap_or_else(|e| panic!("{}: {e}", tests.display()));
    let out = Command::new("promtool")
        .args(["test", "rules", "alerts_test.yaml"])
        .current_dir(&dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run promtool ({e}): `cargo xtask setup` installs it"));
    let _ = std::fs::remove_dir_all(&dir);
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(report)
    } else {
        Err(report)
    }
}

#[test]
fn the_alerts_fire_on_synthetic_series_as_intended() {
    // Synthetic exitwatch series: an OOM kill, signals from the kubelet, the runtime, the kernel
    // and a person, one node's API down for 15 minutes. Exactly the intended alerts fire, with
    // the annotations an operator reads.
    let rule = rule();
    let report =
        promtool_test(&rule, "good").unwrap_or_else(|r| panic!("promtool test rules:\n{r}"));
    assert!(report.contains("SUCCESS"), "{report}");
    // The test can fail: an alert that also fires for the kubelet's kills is caught.
    let mut bad = rule.clone();
    for r in bad["spec"]["groups"][0]["rules"].as_array_mut().unwrap() {
        if r["alert"] == "ExitwatchPodProcessKilledOutsideKubernetes" {
            r["expr"] = serde_json::json!(
                r#"increase(exitwatch_signals_total{sender_role!~"container_runtime|kernel"}[5m]) > 0"#
            );
        }
    }
    let report =
        promtool_test(&bad, "bad").expect_err("an alert firing on the kubelet's kills passed");
    assert!(report.contains("sender_role=\"kubelet\""), "{report}");
}
