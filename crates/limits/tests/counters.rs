//! The same semantics from both kinds of counters. The Redis case needs
//! `EMPORIUM_TEST_REDIS_URL` (without it, it prints a notice and passes).

use std::time::Duration;

use emporium_limits::{Counters, MemoryCounters, Op, RedisCounters};

const MINUTE: Duration = Duration::from_secs(60);

async fn behaves_like_counters(counters: &dyn Counters) {
    let hit = Op::Hit { key: "hits", window: MINUTE };
    let out = counters.run(&[hit, hit, Op::Get { key: "absent" }]).await.unwrap();
    assert_eq!((out[0].value, out[1].value, out[2].value), (1, 2, 0));
    assert!(out[1].ttl > Duration::from_secs(50) && out[1].ttl <= MINUTE, "{:?}", out[1]);
    assert_eq!(out[2].ttl, Duration::ZERO);

    let short = Duration::from_millis(100);
    let out = counters
        .run(&[
            Op::Slide { key: "slide", window: short },
            Op::Slide { key: "slide", window: MINUTE },
            Op::Set { key: "flag", ttl: short },
            Op::Delete { key: "hits" },
            Op::Get { key: "hits" },
        ])
        .await
        .unwrap();
    assert_eq!(out.iter().map(|c| c.value).collect::<Vec<_>>(), [1, 2, 1, 0, 0]);
    assert!(out[1].ttl > Duration::from_secs(50), "a slide restarts the expiry");

    // Poll until the short flag has expired (Redis expires on its own clock).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while counters.run(&[Op::Get { key: "flag" }]).await.unwrap()[0].value != 0 {
        assert!(std::time::Instant::now() < deadline, "the flag never expired");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn memory_counters_count_expire_and_forget() {
    behaves_like_counters(&MemoryCounters::default()).await;
}

#[tokio::test]
async fn redis_counters_count_expire_and_forget() {
    let Some(url) = std::env::var("EMPORIUM_TEST_REDIS_URL").ok().filter(|u| !u.is_empty()) else {
        eprintln!("EMPORIUM_TEST_REDIS_URL is not set: skipping this Redis case");
        return;
    };
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let prefix = format!("emporium-test:{}:{nanos}:", std::process::id());
    behaves_like_counters(&RedisCounters::new(&url, &prefix).unwrap()).await;
}

#[tokio::test]
async fn unreachable_redis_is_reported_not_waited_for() {
    // A port nothing listens on: the call fails fast instead of hanging.
    let counters = RedisCounters::new("redis://127.0.0.1:1", "x:").unwrap();
    let started = std::time::Instant::now();
    assert!(counters.run(&[Op::Get { key: "k" }]).await.is_err());
    assert!(started.elapsed() < Duration::from_secs(3));
    // Right after a failure, calls do not even try: an outage costs no request its timeout.
    let again = counters.run(&[Op::Get { key: "k" }]).await.unwrap_err();
    assert!(again.to_string().contains("a moment ago"), "{again}");
}
