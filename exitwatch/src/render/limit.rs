//! The 16 KiB line cap of the machine formats: an event too long is re-rendered shorter, never split.

use std::borrow::Cow;

use crate::escape::json_string;
use crate::event::Ancestor;

/// The longest line, newline included. containerd's CRI logger splits longer stdout lines into
/// partial records, which a SIEM then receives as two broken events.
pub const MAX_LINE: usize = 16 * 1024;

/// How much a renderer shortens an event: the start of argv (the command and its first options)
/// and the nearest ancestors (the parent first) are what is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shorten {
    /// Bytes of argv kept, over all arguments; None keeps all of it.
    pub arg_bytes: Option<usize>,
    /// Ancestors kept, nearest first; None keeps them all.
    pub ancestors: Option<usize>,
}

impl Shorten {
    pub const NONE: Shorten = Shorten {
        arg_bytes: None,
        ancestors: None,
    };

    /// argv as JSON strings, and whether any of it was cut.
    pub fn args(self, args: &[Vec<u8>]) -> (Vec<Cow<'_, str>>, bool) {
        let Some(mut budget) = self.arg_bytes else {
            return (args.iter().map(|a| json_string(a)).collect(), false);
        };
        let mut out = Vec::new();
        for a in args {
            // Each argument costs its separator too, so a flood of empty ones is cut as well.
            if a.len() < budget {
                budget -= a.len() + 1;
                out.push(json_string(a));
                continue;
            }
            let keep = char_floor(a, budget);
            if keep > 0 {
                out.push(json_string(&a[..keep]));
            }
            return (out, true);
        }
        (out, false)
    }

    /// The ancestry kept (root first, so its tail), and whether any was cut.
    pub fn ancestry(self, ancestry: &[Ancestor]) -> (&[Ancestor], bool) {
        match self.ancestors {
            Some(n) if n < ancestry.len() => (&ancestry[ancestry.len() - n..], true),
            _ => (ancestry, false),
        }
    }
}

/// The steps tried in turn. argv is the only field of unbounded size (an OOM victim's is read
/// from /proc; JSON escapes can make one byte six); ancestry is bounded but large.
const STEPS: [Shorten; 5] = [
    Shorten::NONE,
    Shorten {
        arg_bytes: Some(4096),
        ancestors: None,
    },
    Shorten {
        arg_bytes: Some(1024),
        ancestors: Some(16),
    },
    Shorten {
        arg_bytes: Some(256),
        ancestors: Some(4),
    },
    Shorten {
        arg_bytes: Some(0),
        ancestors: Some(1),
    },
];

/// Renders one line (without its newline) onto the end of `out` through `render`, shortening
/// step by step until the line and its newline fit in [`MAX_LINE`]. The last step's line is
/// kept whatever its length: with no argv and only the parent left, every remaining field is
/// bounded by the kernel's record sizes to a few KiB.
pub fn fit<E>(
    mut render: impl FnMut(Shorten, &mut Vec<u8>) -> Result<(), E>,
    out: &mut Vec<u8>,
) -> Result<(), E> {
    let start = out.len();
    for step in STEPS {
        out.truncate(start);
        render(step, out)?;
        if out.len() - start < MAX_LINE {
            break;
        }
    }
    Ok(())
}

/// The largest cut at or below `n` that does not split a UTF-8 sequence (invalid bytes, which
/// are written as `\xNN` anyway, are cut anywhere).
fn char_floor(bytes: &[u8], n: usize) -> usize {
    let mut i = n.min(bytes.len());
    for _ in 0..3 {
        if i == 0 || i == bytes.len() || bytes[i] & 0xc0 != 0x80 {
            break;
        }
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<Vec<u8>> {
        list.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn no_budget_keeps_everything() {
        let argv = args(&["a", "bb"]);
        let (out, cut) = Shorten::NONE.args(&argv);
        assert_eq!(out, ["a", "bb"]);
        assert!(!cut);
    }

    #[test]
    fn budget_keeps_the_start_of_argv() {
        let s = Shorten {
            arg_bytes: Some(5),
            ancestors: None,
        };
        assert_eq!(
            s.args(&args(&["ab", "cdef", "g"])),
            (vec!["ab".into(), "cd".into()], true)
        );
        assert_eq!(
            s.args(&args(&["ab", "c"])),
            (vec!["ab".into(), "c".into()], false)
        );
        let none = Shorten {
            arg_bytes: Some(0),
            ancestors: None,
        };
        assert_eq!(none.args(&args(&["a"])), (vec![], true));
        assert_eq!(none.args(&args(&["", ""])), (vec![], true));
        assert_eq!(none.args(&[]), (vec![], false));
    }

    #[test]
    fn cuts_never_split_a_character() {
        let s = Shorten {
            arg_bytes: Some(2),
            ancestors: None,
        };
        assert_eq!(s.args(&args(&["aé"])), (vec!["a".into()], true));
        assert_eq!(s.args(&[vec![b'a', 0xff, 0xfe]]).0, ["a\\xff"]);
    }

    #[test]
    fn ancestry_keeps_the_nearest() {
        let anc = |pid| Ancestor {
            pid,
            comm: vec![],
            start_ns: 0,
        };
        let all = [anc(1), anc(2), anc(3)];
        let s = Shorten {
            arg_bytes: None,
            ancestors: Some(1),
        };
        let (kept, cut) = s.ancestry(&all);
        assert_eq!(kept.iter().map(|a| a.pid).collect::<Vec<_>>(), [3]);
        assert!(cut);
        assert!(!Shorten::NONE.ancestry(&all).1);
    }

    #[test]
    fn fit_steps_down_until_the_line_fits() {
        let mut tried = Vec::new();
        // Onto what the buffer already holds, which stays.
        let mut line = b"before".to_vec();
        fit(
            |s, out: &mut Vec<u8>| -> Result<(), ()> {
                tried.push(s);
                let n = s.arg_bytes.map_or(100_000, |b| b * 8);
                out.extend(std::iter::repeat_n(b'x', n));
                Ok(())
            },
            &mut line,
        )
        .unwrap();
        assert_eq!(line.len(), 6 + 8192);
        assert!(line.starts_with(b"beforexxx"));
        assert_eq!(tried, STEPS[..3]);
    }
}
