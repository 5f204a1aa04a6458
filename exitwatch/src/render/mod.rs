//! Rendering events for people (text, stap) and machines (json). Pure: writes into any `Write`.

mod json;
mod stap;
mod text;

use std::io::{self, Write};

use crate::cli::Format;
use crate::story::Annotated;
use crate::users::Users;

/// What every renderer needs besides the event.
#[derive(Clone, Debug)]
pub struct Context {
    /// Node name for machine formats (`NODE_NAME` or the hostname).
    pub node: String,
    /// Unix time of boot in nanoseconds: kernel timestamps are nanoseconds since boot.
    pub boot_epoch_ns: i128,
    /// Emit ANSI colours (text format on a terminal only).
    pub color: bool,
    pub users: Users,
    /// Bytes per page, for the OOM killer's page counts.
    pub page_size: u64,
}

impl Context {
    pub fn wall_ns(&self, since_boot_ns: u64) -> i128 {
        self.boot_epoch_ns + i128::from(since_boot_ns)
    }
}

/// Writes one event in `format`.
pub fn render(
    format: Format,
    ctx: &Context,
    event: &Annotated,
    out: &mut dyn Write,
) -> io::Result<()> {
    match format {
        Format::Text => text::render(ctx, event, out),
        Format::Stap => stap::render(&event.event, out),
        Format::Json => json::render(ctx, event, out),
    }
}

#[cfg(test)]
pub(crate) mod fixtures;

/// Wraps a bare event for renderer tests (no id story).
#[cfg(test)]
pub(crate) fn bare(event: crate::event::Event) -> Annotated {
    Annotated {
        id: "t-1".into(),
        event,
        cause: None,
        diagnosis: Vec::new(),
    }
}
