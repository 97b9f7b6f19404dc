//! Redis going away and coming back: commands fail as outages while it is down, and the
//! first command after it returns succeeds (the connection retries once over a fresh one).

#[path = "support/redis_server.rs"]
mod redis_server;

use std::time::Duration;

use redis::AsyncCommands;
use redis_server::PrivateRedis;
use scraperx_core::{Error, hot};

#[tokio::test]
async fn the_first_command_after_redis_restarts_succeeds() {
    let mut server = PrivateRedis::start();
    let mut conn = hot::connect(&server.config()).await.expect("connect");
    let _: () = conn.set("k", "v").await.expect("set");
    // Restarted between two commands: the first one after finds the old connection broken.
    server.restart();
    let got: Option<String> = conn.get("k").await.expect("first command after a restart");
    assert_eq!(got, None, "the restarted server is empty");
}

#[tokio::test]
async fn commands_fail_as_an_outage_while_redis_is_down_and_succeed_once_it_is_back() {
    let mut server = PrivateRedis::start();
    let mut conn = hot::connect(&server.config()).await.expect("connect");
    let _: () = conn.set("k", "v").await.expect("set");
    server.stop();
    for _ in 0..3 {
        let asked = std::time::Instant::now();
        let err = conn
            .get::<_, Option<String>>("k")
            .await
            .map_err(Error::from)
            .expect_err("down");
        assert!(matches!(err, Error::RedisUnavailable(_)), "{err:?}");
        assert!(
            asked.elapsed() < Duration::from_secs(1),
            "refused promptly, not after a reconnect backoff: {:?}",
            asked.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Every reconnect attempt so far has failed: the connection holds a failed one.
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.restart();
    let _: () = conn.set("k", "again").await.expect("first command after");
}
