//! `oom_memcg` / `oom_global`: which limit an OOM kill hit, and so who has to act.

use serde_json::json;

use super::{Diagnosis, DiagnosisCode};
use crate::event::OomEvent;
use crate::oom::{Constraint, OomContext};
use crate::story::who;

/// None when the kernel log line naming the constraint was not found.
pub fn oom(o: &OomEvent) -> Option<Diagnosis> {
    let ctx = o.context.as_ref()?;
    Some(match ctx.constraint {
        Constraint::Memcg => oom_memcg(o, ctx),
        _ => oom_global(o, ctx),
    })
}

fn oom_memcg(o: &OomEvent, ctx: &OomContext) -> Diagnosis {
    Diagnosis {
        code: DiagnosisCode::OomMemcg,
        message: format!(
            "the memory cgroup {} hit its own limit: raise the container's or pod's memory limit \
             (resources.limits.memory) or find the leak in {}",
            ctx.oom_memcg.as_deref().unwrap_or("?"),
            who(&o.victim)
        ),
        evidence: json!({ "memcg": ctx.oom_memcg, "limit_bytes": o.memcg_usage.and_then(|u| u.limit_bytes) }),
    }
}

fn oom_global(o: &OomEvent, ctx: &OomContext) -> Diagnosis {
    Diagnosis {
        code: DiagnosisCode::OomGlobal,
        message: format!(
            "the node itself ran out of memory ({} constraint) and the kernel killed {} as the biggest \
             scorer: look at node overcommit and at pods without memory limits (BestEffort and \
             Burstable pods are killed first)",
            ctx.constraint.as_str(),
            who(&o.victim)
        ),
        evidence: json!({ "constraint": ctx.constraint.as_str(), "oom_score_adj": o.oom_score_adj }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixtures;

    fn with_constraint(constraint: Constraint) -> OomEvent {
        let mut o = fixtures::memcg_oom();
        let ctx = o.context.as_mut().unwrap();
        ctx.constraint = constraint;
        ctx.oom_memcg = None;
        o.oom_score_adj = 1000;
        o
    }

    #[test]
    fn a_memcg_oom_points_at_the_cgroups_limit() {
        let d = oom(&fixtures::memcg_oom()).unwrap();
        assert_eq!(d.code, DiagnosisCode::OomMemcg);
        assert_eq!(
            d.message,
            "the memory cgroup /kubepods/burstable/pod1 hit its own limit: raise the container's or \
             pod's memory limit (resources.limits.memory) or find the leak in python3(5937)"
        );
        assert_eq!(
            d.evidence,
            json!({ "memcg": "/kubepods/burstable/pod1", "limit_bytes": 64 << 20 })
        );
    }

    #[test]
    fn a_node_wide_oom_points_at_the_node() {
        let d = oom(&with_constraint(Constraint::Global)).unwrap();
        assert_eq!(d.code, DiagnosisCode::OomGlobal);
        assert!(
            d.message.starts_with(
                "the node itself ran out of memory (global constraint) and the kernel killed python3(5937)"
            ),
            "{}",
            d.message
        );
        assert_eq!(
            d.evidence,
            json!({ "constraint": "global", "oom_score_adj": 1000 })
        );
    }

    #[test]
    fn cpuset_and_mempolicy_ooms_are_not_a_cgroups_limit() {
        for c in [Constraint::Cpuset, Constraint::Mempolicy] {
            let d = oom(&with_constraint(c)).unwrap();
            assert_eq!(d.code, DiagnosisCode::OomGlobal);
            assert_eq!(d.evidence["constraint"], c.as_str());
        }
    }

    #[test]
    fn without_the_kernels_oom_line_there_is_no_diagnosis() {
        let mut o = fixtures::memcg_oom();
        o.context = None;
        assert_eq!(oom(&o), None);
    }
}
