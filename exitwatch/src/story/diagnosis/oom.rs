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
