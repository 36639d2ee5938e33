//! `trafficpublish`: every frame's metadata as one JSON line, and events (crossings, zone
//! entries and exits, plates, a summary) as JSON lines and to a Redis stream, delivered at
//! least once.

use gst::glib;
use gst::prelude::*;

mod events;
mod imp;
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
