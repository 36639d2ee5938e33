//! `mottracker`: multi-object tracking (ByteTrack or OC-SORT), a stable ID per vehicle.

use gst::glib;
use gst::prelude::*;

mod imp;

/// The `algorithm` property: the multi-object tracker.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstMotTrackerAlgorithm")]
pub enum AlgorithmChoice {
    #[default]
    #[enum_value(name = "ByteTrack: high- then low-confidence IoU association", nick = "bytetrack")]
    ByteTrack,
    #[enum_value(name = "OC-SORT: observation-centric re-update, momentum and recovery", nick = "ocsort")]
    OcSort,
}

glib::wrapper! {
    pub struct MotTracker(ObjectSubclass<imp::MotTracker>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    // Documented with the plugin, as gst-plugins-rs does for the enums of its properties.
    AlgorithmChoice::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(Some(plugin), "mottracker", gst::Rank::NONE, MotTracker::static_type())
}
