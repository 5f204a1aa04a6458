use super::*;
use crate::sink::spec::Rotation;

fn settings() -> Settings {
    Settings {
        node: "node-1".into(),
        http: HttpSettings {
            token_file: None,
            ca_file: None,
            batch_size: 10,
            batch_wait: Duration::from_millis(10),
            timeout: Duration::from_secs(1),
        },
    }
}

fn record(n: usize) -> Record {
    Record {
        line: Arc::from(format!("{{\"n\":{n}}}\n").as_bytes()),
        kind: "signal",
        severity: 5,
        time_ns: 0,
        otel: None,
    }
}

#[tokio::test]
async fn close_delivers_everything_queued_to_a_file() {
    let path = std::env::temp_dir().join(format!("exitwatch-fanout-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let metrics = Metrics::default();
    let outputs = [Output {
        spec: SinkSpec::File {
            path: path.clone(),
            rotation: Rotation {
                max_size: 1 << 20,
                keep: 1,
            },
        },
        queue_size: 100,
        queue_bytes: 1 << 20,
    }];
    let mut fan = FanOut::start(&outputs, &settings(), &metrics).unwrap();
    for n in 0..3 {
        fan.send(record(n));
    }
    fan.close(tokio::time::Instant::now() + Duration::from_secs(5))
        .await;
    let text = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!(text, "{\"n\":0}\n{\"n\":1}\n{\"n\":2}\n");
    assert!(metrics.render().contains(&format!(
        "exitwatch_sink_sent_total{{sink=\"file://{}\"}} 3",
        path.display()
    )));
    // A closed fan-out takes nothing more.
    fan.send(record(4));
}

#[tokio::test]
async fn a_full_queue_drops_the_newest_events_and_counts_them() {
    // Nobody listens on port 9 of loopback: the output fails and retries, holding what it has.
    let metrics = Metrics::default();
    let outputs = [Output {
        spec: spec::parse(
            "syslog+tcp://127.0.0.1:9",
            &spec::Defaults {
                queue_size: 2,
                queue_bytes: 1 << 20,
                rotation: Rotation {
                    max_size: 1,
                    keep: 0,
                },
                udp_max_size: 1024,
            },
        )
        .unwrap()
        .spec,
        queue_size: 2,
        queue_bytes: 1 << 20,
    }];
    let fan = FanOut::start(&outputs, &settings(), &metrics).unwrap();
    // The worker runs only when this task yields: all five meet a queue of two.
    for n in 0..5 {
        fan.send(record(n));
    }
    let text = metrics.render();
    assert!(
        text.contains("exitwatch_sink_dropped_total{sink=\"syslog+tcp://127.0.0.1:9\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("exitwatch_sink_queue_length{sink=\"syslog+tcp://127.0.0.1:9\"} 2"),
        "{text}"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let retries = |m: &Metrics| {
        m.render()
            .lines()
            .find(|l| l.starts_with("exitwatch_sink_retries_total"))
            .and_then(|l| l.rsplit_once(' ')?.1.parse::<u64>().ok())
            .unwrap()
    };
    assert!(retries(&metrics) >= 1);
}

#[tokio::test]
async fn a_queue_over_its_byte_budget_drops_the_newest_events_but_holds_gap_reports() {
    // Each record is 8 bytes ({"n":0}\n); a budget of 20 bytes holds two of them.
    let metrics = Metrics::default();
    let outputs = [Output {
        spec: spec::parse(
            "syslog+tcp://127.0.0.1:9",
            &spec::Defaults {
                queue_size: 100,
                queue_bytes: 20,
                rotation: Rotation {
                    max_size: 1,
                    keep: 0,
                },
                udp_max_size: 1024,
            },
        )
        .unwrap()
        .spec,
        queue_size: 100,
        queue_bytes: 20,
    }];
    let fan = FanOut::start(&outputs, &settings(), &metrics).unwrap();
    for n in 0..5 {
        fan.send(record(n));
    }
    let mut gap = record(9);
    gap.kind = "lost";
    fan.send(gap);
    let text = metrics.render();
    let name = "sink=\"syslog+tcp://127.0.0.1:9\"";
    assert!(
        text.contains(&format!("exitwatch_sink_dropped_total{{{name}}} 3")),
        "{text}"
    );
    assert!(
        text.contains(&format!("exitwatch_sink_queue_length{{{name}}} 3")),
        "{text}"
    );
    assert!(
        text.contains(&format!("exitwatch_sink_queue_bytes{{{name}}} 24")),
        "{text}"
    );
}

#[test]
fn written_records_come_back_to_be_freed_within_a_byte_bound() {
    let spent = Spent::default();
    let mut batch: Vec<Record> = (0..3).map(record).collect();
    let line = Arc::clone(&batch[0].line);
    spent.give(&mut batch);
    assert!(batch.is_empty());
    assert_eq!(spent.held(), (3, 3 * 8));
    assert_eq!(
        Arc::strong_count(&line),
        2,
        "held, not freed, by the writer"
    );
    spent.collect();
    assert_eq!(spent.held(), (0, 0));
    assert_eq!(
        Arc::strong_count(&line),
        1,
        "freed by the collecting thread"
    );
    // Past the bound a writer frees its batch itself: nothing waits unbounded.
    let big = Record {
        line: Arc::from(vec![b'x'; MAX_SPENT_BYTES as usize / 2 + 1]),
        ..record(0)
    };
    spent.give(&mut vec![big.clone()]);
    let mut second = vec![big.clone()];
    spent.give(&mut second);
    assert!(second.is_empty());
    assert_eq!(spent.held().0, 1);
    assert_eq!(
        Arc::strong_count(&big.line),
        2,
        "the second was freed by its writer"
    );
}

/// A FanOut with one output of `slots` events and `bytes` bytes, and the queue it serves.
fn one_output(slots: usize, bytes: u64, waits: bool) -> (FanOut, Queue) {
    let (tx, rx) = mpsc::channel(slots);
    let stats = Arc::new(SinkStats::new("test".into()));
    let spent = Arc::new(Spent::default());
    let (_done_tx, done) = oneshot::channel();
    let out = Out {
        tx: Some(tx),
        stats: Arc::clone(&stats),
        done,
        queue_size: slots,
        queue_bytes: bytes,
        reported_drops: 0,
        reported_at: None,
        held: Default::default(),
        waits,
        stuck: Default::default(),
    };
    let fan = FanOut {
        outs: vec![out],
        stdout_closed: Arc::new(Notify::new()),
        otlp: false,
        spent: Arc::clone(&spent),
        wait_budget: WaitBudget::default(),
    };
    (fan, Queue { rx, stats, spent })
}

#[test]
fn a_slow_but_live_writer_is_waited_for_and_nothing_is_dropped() {
    let (fan, mut queue) = one_output(2, 1 << 20, true);
    let stats = Arc::clone(&queue.stats);
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        while let Some(r) = queue.blocking_recv() {
            queue.settled(1);
            got.push(r.line);
            std::thread::sleep(Duration::from_millis(2));
        }
        got
    });
    for n in 0..20 {
        fan.send(record(n));
    }
    drop(fan);
    let got = reader.join().unwrap();
    assert_eq!(got.len(), 20, "every event, in order");
    assert_eq!(&*got[19], b"{\"n\":19}\n");
    assert_eq!(stats.dropped.load(Relaxed), 0);
}

#[test]
fn a_writer_that_does_not_move_is_waited_for_once_then_dropped_and_counted() {
    // Full in bytes: the second record does not fit.
    let (fan, queue) = one_output(16, 10, true);
    let t0 = Instant::now();
    for n in 0..5 {
        fan.send(record(n));
    }
    let waited = t0.elapsed();
    assert_eq!(queue.stats.dropped.load(Relaxed), 4);
    assert!(waited >= WAIT_FOR_ROOM, "waited {waited:?}");
    assert!(
        waited < 3 * WAIT_FOR_ROOM,
        "waited once, not per event: {waited:?}"
    );
    // Caught up (drained): waited for again.
    let mut queue = queue;
    while queue.try_recv().is_some() {
        queue.settled(1);
    }
    let t1 = Instant::now();
    fan.send(record(5));
    fan.send(record(6));
    // (What is left of this second's waiting share, a little under WAIT_FOR_ROOM.)
    assert!(
        t1.elapsed() >= WAIT_FOR_ROOM / 2,
        "waited {:?}",
        t1.elapsed()
    );
    assert_eq!(queue.stats.dropped.load(Relaxed), 5);
}

#[test]
fn a_network_output_is_never_waited_for() {
    let (fan, queue) = one_output(1, 1 << 20, false);
    let t0 = Instant::now();
    for n in 0..3 {
        fan.send(record(n));
    }
    assert!(t0.elapsed() < WAIT_FOR_ROOM);
    assert_eq!(queue.stats.dropped.load(Relaxed), 2);
}

#[test]
fn a_record_larger_than_the_queue_is_dropped_at_once() {
    let (fan, queue) = one_output(16, 4, true);
    let t0 = Instant::now();
    fan.send(record(0));
    fan.send(record(1));
    assert!(t0.elapsed() < WAIT_FOR_ROOM, "waited {:?}", t0.elapsed());
    assert_eq!(queue.stats.dropped.load(Relaxed), 2);
}

#[test]
fn a_writer_that_barely_moves_gets_at_most_the_waiting_share() {
    // One slot, a reader taking a record every 100 ms: never stuck, but each event would wait.
    let (fan, mut queue) = one_output(1, 1 << 20, true);
    let stats = Arc::clone(&queue.stats);
    let reader = std::thread::spawn(move || {
        let mut got = 0;
        while queue.blocking_recv().is_some() {
            queue.settled(1);
            got += 1;
            std::thread::sleep(Duration::from_millis(100));
        }
        got
    });
    let t0 = Instant::now();
    for n in 0..30 {
        fan.send(record(n));
    }
    let took = t0.elapsed();
    drop(fan);
    let got = reader.join().unwrap();
    assert!(
        took < WAIT_SHARE + WAIT_FOR_ROOM,
        "the event thread was held {took:?}"
    );
    let dropped = stats.dropped.load(Relaxed);
    assert!(
        dropped > 0,
        "past its share, a slow writer's events are dropped"
    );
    assert_eq!(got + dropped, 30, "delivered {got}, dropped {dropped}");
}
