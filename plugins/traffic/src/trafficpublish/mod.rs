//! `trafficpublish`: every frame's metadata as one JSON line, and events (crossings, zone
//! entries and exits, plates, a summary) as JSON lines, to a Redis stream and to MQTT, delivered
//! at least once.
//!
//! Brokers:
//! - `redis-url=redis[s]://[[user]:password@]host[:port][/db]`: each event is one entry
//!   (`XADD stream MAXLEN ~ stream-maxlen * event <json>`) of `stream`; `rediss://` is TLS.
//! - `mqtt-url=mqtt[s]://[user[:password]@]host[:port][?client_id=ID]`: each event is one
//!   message at QoS 1 on `mqtt-topic` (default `traffic/{source}/events`, `{source}` being the
//!   `source` property, or `default`); `mqtts://` is TLS. Without `client_id` a unique one is
//!   made.
//!
//! Every event goes to each broker set, from a thread per broker, through a spool file
//! (`spool`; MQTT's is `<spool>.mqtt` when Redis is set too): an event leaves the spool only once
//! the broker acknowledged it (the XADD reply, the PUBACK), so an outage or a restart of the
//! broker loses nothing, and the next run sends what this one could not. A broker that refuses
//! us for a reason no retry can mend (credentials, a key of another type) is posted as an error.

use gst::glib;
use gst::prelude::*;

mod events;
mod frame_json;
mod imp;
mod mqtt;
mod redis;
mod sender;
mod spool;

/// Which events to publish (docs/events.md).
#[glib::flags(name = "GstTrafficPublishEvents")]
pub enum EventKinds {
    #[flags_value(name = "A track crossed a counting line", nick = "crossing")]
    CROSSING = 0b001,
    #[flags_value(name = "A track's voted plate text was first read or changed", nick = "plate")]
    PLATE = 0b010,
    #[flags_value(name = "The totals at the end of the stream", nick = "summary")]
    SUMMARY = 0b100,
    #[flags_value(name = "A track entered or left a zone", nick = "zone")]
    ZONE = 0b1000,
}

glib::wrapper! {
    pub struct TrafficPublish(ObjectSubclass<imp::TrafficPublish>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    // Documented with the plugin, as gst-plugins-rs does for the types of its properties.
    EventKinds::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(Some(plugin), "trafficpublish", gst::Rank::NONE, TrafficPublish::static_type())
}
