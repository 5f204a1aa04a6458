//! Batches for the network outputs: what a worker gathers from its queue before one request.

use super::{Queue, Record};

/// Waits for the next event, then gathers more into `batch` until it holds `size` or `wait`
/// has passed since the first. False when the queue is closed and empty (time to stop).
pub(crate) async fn gather(
    queue: &mut Queue,
    batch: &mut Vec<Record>,
    size: usize,
    wait: std::time::Duration,
) -> bool {
    let Some(first) = queue.recv().await else {
        return false;
    };
    batch.push(first);
    let until = tokio::time::Instant::now() + wait;
    while batch.len() < size {
        tokio::select! {
            next = queue.recv() => match next {
                Some(r) => batch.push(r),
                // Shutting down: send what there is now.
                None => break,
            },
            _ = tokio::time::sleep_until(until) => break,
        }
    }
    true
}
