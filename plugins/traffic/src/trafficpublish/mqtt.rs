//! Events to an MQTT topic at QoS 1 with `rumqttc`'s synchronous client: one event in flight at
//! a time, delivered once the broker's PUBACK for it came back.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use percent_encoding::percent_decode_str;
use rumqttc::{
    Client, ConnectReturnCode, Connection, ConnectionError, Event, MqttOptions, Outgoing, Packet, QoS,
    TlsConfiguration, Transport as Link,
};

use super::sender::{Failure, Transport};

/// Replaced by the `source` property in `mqtt-topic`.
pub const SOURCE_PLACEHOLDER: &str = "{source}";
/// What `{source}` becomes when the element has no `source`.
const NO_SOURCE: &str = "default";
const URL_FORM: &str = "mqtt[s]://[user[:password]@]host[:port][?client_id=ID]";

pub struct Mqtt {
    options: MqttOptions,
    /// The URL without credentials, and the topic, for logs and messages.
    shown: String,
    topic: String,
    timeout: Duration,
    link: Option<(Client, Connection)>,
}

/// The topic for a source: `{source}` replaced by it, with the characters MQTT gives a meaning
/// in topic names (level separator, wildcards) replaced by '_'.
pub fn topic(template: &str, source: Option<&str>) -> String {
    let source: String =
        source.unwrap_or(NO_SOURCE).chars().map(|c| if matches!(c, '/' | '+' | '#') { '_' } else { c }).collect();
    template.replace(SOURCE_PLACEHOLDER, &source)
}

impl Mqtt {
    /// Checks the URL; connects later. Without `client_id` in the URL a unique one is made, so
    /// that two pipelines never take each other's session.
    pub fn new(url: &str, topic: String, timeout: Duration) -> Result<Mqtt, String> {
        let bad = |why: &dyn std::fmt::Display| format!("bad MQTT URL '{url}': {why} (expected {URL_FORM})");
        if topic.is_empty() || topic.contains(['+', '#']) {
            return Err(format!("bad MQTT topic '{topic}': events need a topic name without wildcards"));
        }
        let parsed = url::Url::parse(url).map_err(|e| bad(&e))?;
        let (link, default_port) = match parsed.scheme() {
            "mqtt" => (Link::Tcp, 1883),
            "mqtts" => (Link::tls_with_config(TlsConfiguration::Native), 8883),
            _ => return Err(bad(&"it must start with mqtt:// or mqtts://")),
        };
        let host = parsed.host_str().filter(|h| !h.is_empty()).ok_or_else(|| bad(&"no host"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = parsed.port().unwrap_or(default_port);
        let client_id = match parsed.query_pairs().find(|(k, _)| k == "client_id") {
            Some((_, id)) => id.into_owned(),
            None => unique_client_id(),
        };
        let mut options = MqttOptions::new(client_id, host, port);
        options.set_transport(link);
        if !parsed.username().is_empty() {
            let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
            options.set_credentials(decode(parsed.username()), decode(parsed.password().unwrap_or_default()));
        }
        let host = if host.contains(':') { format!("[{host}]") } else { host.to_string() };
        let shown = format!("{}://{host}:{port} topic {topic}", parsed.scheme());
        Ok(Mqtt { options, shown, topic, timeout, link: None })
    }

    /// Polls the connection until `want` picks an event, an error, or the timeout.
    fn wait_for<T>(&mut self, what: &str, mut want: impl FnMut(&Event) -> Option<T>) -> Result<T, Failure> {
        let deadline = Instant::now() + self.timeout;
        let result = loop {
            let Some((_, conn)) = self.link.as_mut() else {
                return Err(Failure::Unreachable("not connected".into()));
            };
            let left = deadline.saturating_duration_since(Instant::now());
            match conn.recv_timeout(left) {
                Ok(Ok(event)) => {
                    if let Some(found) = want(&event) {
                        return Ok(found);
                    }
                }
                Ok(Err(e)) => break failure(e),
                Err(_) => break Failure::Unreachable(format!("no {what} within {:?}", self.timeout)),
            }
        };
        self.link = None;
        Err(result)
    }
}

impl Transport for Mqtt {
    fn name(&self) -> &'static str {
        "MQTT"
    }

    fn describe(&self) -> String {
        self.shown.clone()
    }

    fn connect(&mut self) -> Result<(), Failure> {
        // A fresh client each time: nothing the old one had in flight is resent behind our back.
        self.link = Some(Client::new(self.options.clone(), 8));
        let code = self.wait_for("CONNACK", |event| match event {
            Event::Incoming(Packet::ConnAck(ack)) => Some(ack.code),
            _ => None,
        })?;
        if code != ConnectReturnCode::Success {
            self.link = None;
            return Err(refusal(code));
        }
        Ok(())
    }

    fn deliver(&mut self, event: &str) -> Result<(), Failure> {
        let Some((client, _)) = self.link.as_ref() else {
            return Err(Failure::Unreachable("not connected".into()));
        };
        if let Err(e) = client.publish(self.topic.as_str(), QoS::AtLeastOnce, false, event) {
            self.link = None;
            return Err(Failure::Unreachable(e.to_string()));
        }
        let mut sent = None;
        self.wait_for("PUBACK", |event| match event {
            Event::Outgoing(Outgoing::Publish(pkid)) => {
                sent = Some(*pkid);
                None
            }
            Event::Incoming(Packet::PubAck(ack)) if Some(ack.pkid) == sent => Some(()),
            _ => None,
        })
    }

    fn is_connected(&self) -> bool {
        self.link.is_some()
    }
}

/// Unique enough across processes and elements, within the 23 characters every broker accepts.
fn unique_client_id() -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("trafficpublish-{:08x}", nanos ^ std::process::id().rotate_left(16))
}

fn failure(e: ConnectionError) -> Failure {
    match e {
        ConnectionError::ConnectionRefused(code) => refusal(code),
        other => Failure::Unreachable(other.to_string()),
    }
}

/// The broker's CONNACK said no. Only "unavailable" may mend itself.
fn refusal(code: ConnectReturnCode) -> Failure {
    let why = match code {
        ConnectReturnCode::Success => "accepted",
        ConnectReturnCode::RefusedProtocolVersion => "unsupported protocol version",
        ConnectReturnCode::BadClientId => "client id rejected",
        ConnectReturnCode::ServiceUnavailable => "server unavailable",
        ConnectReturnCode::BadUserNamePassword => "bad user name or password",
        ConnectReturnCode::NotAuthorized => "not authorized",
    };
    Failure::Refused {
        reply: format!("connection refused: {why} (CONNACK code {})", code as u8),
        settings: code != ConnectReturnCode::ServiceUnavailable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_take_the_source_without_wildcards() {
        assert_eq!(topic("traffic/{source}/events", Some("north")), "traffic/north/events");
        assert_eq!(topic("traffic/{source}/events", Some("a/b+#")), "traffic/a_b__/events");
        assert_eq!(topic("traffic/{source}/events", None), "traffic/default/events");
        assert_eq!(topic("fixed", Some("x")), "fixed");
    }

    #[test]
    fn urls_give_host_port_credentials_and_client_id() {
        let t = |url: &str| Mqtt::new(url, "t".into(), Duration::from_secs(1));
        let m = t("mqtt://bob:p%40ss@broker.local:1884?client_id=cam-1").unwrap();
        assert_eq!(m.options.broker_address(), ("broker.local".to_string(), 1884));
        let login = m.options.credentials().expect("credentials");
        assert_eq!((login.username.as_str(), login.password.as_str()), ("bob", "p@ss"));
        assert_eq!(m.options.client_id(), "cam-1");
        assert_eq!(m.describe(), "mqtt://broker.local:1884 topic t", "no credentials shown");
        let m = t("mqtts://[::1]").unwrap();
        assert_eq!(m.options.broker_address(), ("::1".to_string(), 8883));
        assert!(m.options.client_id().starts_with("trafficpublish-") && m.options.client_id().len() <= 23);
        for bad in ["redis://x", "mqtt://", "mqtt://h:port", "not a url"] {
            let err = t(bad).err().unwrap_or_else(|| panic!("{bad} accepted"));
            assert!(err.contains(bad) && err.contains("mqtt[s]://"), "{err}");
        }
        assert!(Mqtt::new("mqtt://h", "a/+/b".into(), Duration::from_secs(1)).is_err());
    }
}
