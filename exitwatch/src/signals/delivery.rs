//! What happened to a generated signal at the target: the kernel's verdict and the target's disposition.

use serde::Serialize;

/// The kernel's verdict on a generated signal (`enum trace_signal_ret`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalResult {
    Delivered,
    Ignored,
    AlreadyPending,
    OverflowFail,
    LoseInfo,
}

impl SignalResult {
    pub fn from_raw(v: i32) -> Option<Self> {
        use exitwatch_common::result as r;
        match v {
            r::DELIVERED => Some(Self::Delivered),
            r::IGNORED => Some(Self::Ignored),
            r::ALREADY_PENDING => Some(Self::AlreadyPending),
            r::OVERFLOW_FAIL => Some(Self::OverflowFail),
            r::LOSE_INFO => Some(Self::LoseInfo),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Ignored => "ignored",
            Self::AlreadyPending => "already_pending",
            Self::OverflowFail => "overflow_fail",
            Self::LoseInfo => "lose_info",
        }
    }
}

/// What the target had arranged for a signal when it was generated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// SIG_DFL: the default action applies.
    Default,
    /// SIG_IGN.
    Ignored,
    /// A handler function is installed.
    Handled,
}

impl Disposition {
    /// From `sighand->action[n-1].sa.sa_handler`: 0 is SIG_DFL, 1 is SIG_IGN, anything else a handler.
    pub fn from_handler(handler: u64) -> Self {
        match handler {
            0 => Self::Default,
            1 => Self::Ignored,
            _ => Self::Handled,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Ignored => "ignored",
            Self::Handled => "handled",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_result_from_trace_signal_ret() {
        let all: Vec<_> = (0..=4)
            .map(|v| SignalResult::from_raw(v).unwrap().as_str())
            .collect();
        assert_eq!(
            all,
            [
                "delivered",
                "ignored",
                "already_pending",
                "overflow_fail",
                "lose_info"
            ]
        );
        assert_eq!(SignalResult::from_raw(5), None);
        assert_eq!(SignalResult::from_raw(-1), None);
        let json = serde_json::to_string(&SignalResult::AlreadyPending).unwrap();
        assert_eq!(json, "\"already_pending\"");
    }

    #[test]
    fn disposition_from_handler() {
        assert_eq!(Disposition::from_handler(0), Disposition::Default);
        assert_eq!(Disposition::from_handler(1), Disposition::Ignored);
        assert_eq!(
            Disposition::from_handler(0x5555_5555_1234),
            Disposition::Handled
        );
        assert_eq!(Disposition::Ignored.as_str(), "ignored");
        assert_eq!(
            serde_json::to_string(&Disposition::Handled).unwrap(),
            "\"handled\""
        );
    }
}
