//! What `trafficsrc` tells about its camera: the `traffic-source` bus message, posted when a
//! live source connects or is lost, and its `stats` structure `traffic-source-stats`. Built and
//! read here only, so applications never spell the field names themselves.

pub const SOURCE_MESSAGE: &str = "traffic-source";
pub const SOURCE_STATS: &str = "traffic-source-stats";

/// Where a source stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceState {
    Idle,
    /// A decoder is being set up; no frame from it yet.
    Connecting,
    Connected,
    /// The source was lost; a new decoder comes after a backoff.
    Reconnecting,
    /// `retry-timeout` ran out; an error was posted.
    Failed,
}

impl SourceState {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceState::Idle => "idle",
            SourceState::Connecting => "connecting",
            SourceState::Connected => "connected",
            SourceState::Reconnecting => "reconnecting",
            SourceState::Failed => "failed",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Idle, Self::Connecting, Self::Connected, Self::Reconnecting, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// Why a source was lost and when the next attempt comes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retry {
    pub delay_ms: u64,
    pub reason: String,
}

/// A `traffic-source` message: `state` (`connected` or `reconnecting`), `uri`, `attempt` (failed
/// attempts before this connection, or the number of the coming one), `reconnects` (times
/// connected again so far), and on a loss `delay-ms` and `reason`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceMessage {
    pub state: SourceState,
    pub uri: String,
    pub attempt: u32,
    pub reconnects: u32,
    pub retry: Option<Retry>,
}

pub fn source_structure(m: &SourceMessage) -> gst::Structure {
    let mut s = gst::Structure::builder(SOURCE_MESSAGE)
        .field("state", m.state.as_str())
        .field("uri", m.uri.as_str())
        .field("attempt", m.attempt)
        .field("reconnects", m.reconnects)
        .build();
    if let Some(retry) = &m.retry {
        s.set("delay-ms", retry.delay_ms);
        s.set("reason", retry.reason.as_str());
    }
    s
}

/// Reads a `traffic-source` message's structure; None for any other structure.
pub fn read_source(s: &gst::StructureRef) -> Option<SourceMessage> {
    if s.name() != SOURCE_MESSAGE {
        return None;
    }
    let retry = match (s.get::<u64>("delay-ms"), s.get::<String>("reason")) {
        (Ok(delay_ms), Ok(reason)) => Some(Retry { delay_ms, reason }),
        _ => None,
    };
    Some(SourceMessage {
        state: SourceState::from_name(&s.get::<String>("state").ok()?)?,
        uri: s.get::<String>("uri").unwrap_or_default(),
        attempt: s.get::<u32>("attempt").unwrap_or(0),
        reconnects: s.get::<u32>("reconnects").unwrap_or(0),
        retry,
    })
}

/// `trafficsrc`'s `stats` property.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceStats {
    pub uri: String,
    pub state: SourceState,
    /// A live source (network camera): reconnected when lost, its queue leaky.
    pub live: bool,
    pub buffers: u64,
    /// Frames the leaky queue dropped because downstream was too slow.
    pub dropped: u64,
    pub reconnects: u32,
    /// Failed attempts since the source was last connected.
    pub attempt: u32,
    /// Empty when there was none.
    pub last_error: String,
}

pub fn source_stats_structure(stats: &SourceStats) -> gst::Structure {
    gst::Structure::builder(SOURCE_STATS)
        .field("uri", stats.uri.as_str())
        .field("state", stats.state.as_str())
        .field("live", stats.live)
        .field("buffers", stats.buffers)
        .field("dropped", stats.dropped)
        .field("reconnects", stats.reconnects)
        .field("attempt", stats.attempt)
        .field("last-error", stats.last_error.as_str())
        .build()
}

/// Reads `trafficsrc`'s `stats`; None for any other structure.
pub fn read_source_stats(s: &gst::StructureRef) -> Option<SourceStats> {
    if s.name() != SOURCE_STATS {
        return None;
    }
    Some(SourceStats {
        uri: s.get::<String>("uri").unwrap_or_default(),
        state: SourceState::from_name(&s.get::<String>("state").ok()?)?,
        live: s.get::<bool>("live").unwrap_or(false),
        buffers: s.get::<u64>("buffers").unwrap_or(0),
        dropped: s.get::<u64>("dropped").unwrap_or(0),
        reconnects: s.get::<u32>("reconnects").unwrap_or(0),
        attempt: s.get::<u32>("attempt").unwrap_or(0),
        last_error: s.get::<String>("last-error").unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_messages_round_trip_with_and_without_a_retry() {
        gst::init().unwrap();
        for retry in [None, Some(Retry { delay_ms: 500, reason: "connection refused".into() })] {
            let m = SourceMessage {
                state: if retry.is_some() { SourceState::Reconnecting } else { SourceState::Connected },
                uri: "rtsp://camera/stream".into(),
                attempt: 3,
                reconnects: 1,
                retry,
            };
            let s = source_structure(&m);
            assert_eq!(s.name(), "traffic-source");
            assert_eq!(read_source(&s), Some(m));
        }
        assert_eq!(read_source(&gst::Structure::new_empty("traffic-crossing")), None);
    }

    #[test]
    fn source_stats_round_trip() {
        gst::init().unwrap();
        let stats = SourceStats {
            uri: "file:///v.mp4".into(),
            state: SourceState::Failed,
            live: true,
            buffers: 1_000,
            dropped: 7,
            reconnects: 2,
            attempt: 5,
            last_error: "no data for 5000 ms".into(),
        };
        let s = source_stats_structure(&stats);
        assert_eq!((s.name().as_str(), s.get::<u64>("dropped").unwrap()), ("traffic-source-stats", 7));
        assert_eq!(read_source_stats(&s), Some(stats));
        for state in ["idle", "connecting", "connected", "reconnecting", "failed"] {
            assert_eq!(SourceState::from_name(state).map(SourceState::as_str), Some(state));
        }
    }
}
