use super::*;
use std::time::Duration;

fn post(uid: &str, reason: &'static str) -> Post {
    Post {
        reason,
        action: "Kill",
        note: "n".into(),
        pod_name: "web".into(),
        namespace: "shop".into(),
        pod_uid: uid.into(),
        field_path: Some("spec.containers{app}".into()),
    }
}

#[test]
fn the_bucket_allows_a_burst_then_the_rate() {
    let t0 = Instant::now();
    let mut b = Bucket::new(60, t0);
    let burst = (0..50).filter(|_| b.take(t0)).count();
    assert_eq!(burst, BURST as usize);
    // One a second at 60 a minute.
    assert!(!b.take(t0 + Duration::from_millis(500)));
    assert!(b.take(t0 + Duration::from_millis(1100)));
    assert!(!b.take(t0 + Duration::from_millis(1200)));
    // A small rate caps the burst at the rate.
    let mut slow = Bucket::new(2, t0);
    assert_eq!((0..10).filter(|_| slow.take(t0)).count(), 2);
}

#[test]
fn a_repeat_is_the_same_reason_on_the_same_container_within_the_window() {
    let t0 = Instant::now();
    let mut r = Repeats::default();
    assert!(!r.repeat(&post("u1", "SignalKilled"), t0));
    assert!(r.repeat(&post("u1", "SignalKilled"), t0 + Duration::from_secs(60)));
    assert!(!r.repeat(&post("u1", "OOMKill"), t0));
    assert!(!r.repeat(&post("u2", "SignalKilled"), t0));
    assert!(!r.repeat(
        &post("u1", "SignalKilled"),
        t0 + Duration::from_secs(60 + 7 * 60)
    ));
}

#[tokio::test]
async fn a_full_queue_drops_and_counts() {
    let metrics = Metrics::new();
    let (poster, mut posts) = channel(Arc::clone(&metrics));
    for _ in 0..QUEUE + 7 {
        poster.send(post("u1", "SignalKilled"));
    }
    assert_eq!(metrics.kube.get(KubeResult::Dropped), 7);
    assert!(posts.next().await.is_some());
    poster.send(post("u1", "SignalKilled"));
    assert_eq!(metrics.kube.get(KubeResult::Dropped), 7);
    // A huge note is refused by bytes before it fills the queue.
    let mut big = post("u1", "SignalKilled");
    big.note = "x".repeat(QUEUE_BYTES);
    poster.send(big);
    assert_eq!(metrics.kube.get(KubeResult::Dropped), 8);
}
