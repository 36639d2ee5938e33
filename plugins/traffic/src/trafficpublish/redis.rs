//! Events to a Redis stream (XADD), with the `redis` crate's synchronous connection: no async
//! runtime, TLS (`rediss://`) through the system's OpenSSL.

use std::time::Duration;

use redis::streams::StreamMaxlen;
use redis::{ErrorKind, RedisError};

use super::sender::{Failure, Transport};

/// The stream entry's only field: the event as JSON.
pub const EVENT_FIELD: &str = "event";

pub struct Redis {
    client: redis::Client,
    /// The URL without its password, for logs and messages.
    shown: String,
    stream: String,
    /// 0: never trim.
    maxlen: u64,
    timeout: Duration,
    conn: Option<redis::Connection>,
}

impl Redis {
    /// Checks the URL (`redis://` or `rediss://`, `[[user]:password@]host[:port][/db]`); connects later.
    pub fn new(url: &str, stream: &str, maxlen: u64, timeout: Duration) -> Result<Redis, String> {
        let bad = |why: &dyn std::fmt::Display| {
            format!("bad Redis URL '{url}': {why} (expected redis[s]://[[user]:password@]host[:port][/db])")
        };
        let mut shown = url::Url::parse(url).map_err(|e| bad(&e))?;
        if redis::parse_redis_url(url).is_none() {
            return Err(bad(&"it must start with redis:// or rediss://"));
        }
        let client = redis::Client::open(url).map_err(|e| bad(&e))?;
        // The password stays out of logs and error messages.
        let _ = shown.set_password(None);
        Ok(Redis { client, shown: shown.to_string(), stream: stream.into(), maxlen, timeout, conn: None })
    }

    fn open(&self) -> redis::RedisResult<redis::Connection> {
        let mut conn = self.client.get_connection_with_timeout(self.timeout)?;
        conn.set_read_timeout(Some(self.timeout))?;
        conn.set_write_timeout(Some(self.timeout))?;
        // A server that wants a password we lack says so here, not at the first event.
        redis::cmd("PING").query::<String>(&mut conn)?;
        Ok(conn)
    }
}

impl Transport for Redis {
    fn name(&self) -> &'static str {
        "Redis"
    }

    fn describe(&self) -> String {
        self.shown.clone()
    }

    fn connect(&mut self) -> Result<(), Failure> {
        self.conn = None;
        self.conn = Some(self.open().map_err(failure)?);
        Ok(())
    }

    fn deliver(&mut self, event: &str) -> Result<(), Failure> {
        let conn = self.conn.as_mut().ok_or_else(|| Failure::Unreachable("not connected".into()))?;
        let mut xadd = redis::cmd("XADD");
        xadd.arg(&self.stream);
        if self.maxlen > 0 {
            // '~' lets Redis trim whole macro nodes: far cheaper than an exact length.
            xadd.arg(StreamMaxlen::Approx(self.maxlen as usize));
        }
        xadd.arg("*").arg(EVENT_FIELD).arg(event);
        match xadd.query::<String>(conn) {
            Ok(_id) => Ok(()),
            Err(e) => {
                self.conn = None;
                Err(failure(e))
            }
        }
    }

    fn is_connected(&self) -> bool {
        self.conn.is_some()
    }
}

/// Network trouble is an outage; anything Redis answered is a refusal, one of our settings
/// when no retry can help: wrong or missing credentials, a stream key holding another type, a
/// database that does not exist.
fn failure(e: RedisError) -> Failure {
    if e.is_io_error() || e.kind() == ErrorKind::Parse {
        return Failure::Unreachable(e.to_string());
    }
    let reply = e.to_string();
    let settings = matches!(e.code(), Some("WRONGPASS" | "NOAUTH" | "NOPERM" | "WRONGTYPE"))
        || matches!(e.kind(), ErrorKind::AuthenticationFailed | ErrorKind::InvalidClientConfig)
        || reply.contains("AUTH")
        || reply.contains("password")
        || reply.contains("DB index");
    Failure::Refused { reply, settings }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_shown_without_password() {
        let t = |url: &str| Redis::new(url, "s", 0, Duration::from_secs(1));
        assert_eq!(t("redis://bob:s3cret@[::1]:7000/2").unwrap().describe(), "redis://bob@[::1]:7000/2");
        assert_eq!(t("rediss://:s3cret@cache.example").unwrap().describe(), "rediss://cache.example");
        for bad in ["http://x", "redis://h:port", "redis://h/db"] {
            let err = t(bad).err().unwrap_or_else(|| panic!("{bad} accepted"));
            assert!(err.contains(bad) && err.contains("redis[s]://"), "{err}");
        }
    }

    #[test]
    fn a_closed_port_is_an_outage_not_a_refusal() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut redis = Redis::new(&format!("redis://127.0.0.1:{port}"), "s", 0, Duration::from_secs(1)).unwrap();
        assert!(matches!(redis.connect(), Err(Failure::Unreachable(_))));
        assert!(!redis.is_connected());
    }
}
