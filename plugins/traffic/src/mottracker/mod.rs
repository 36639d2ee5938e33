//! `mottracker`: multi-object tracking (ByteTrack or OC-SORT), a stable ID per vehicle.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct MotTracker(ObjectSubclass<imp::MotTracker>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(Some(plugin), "mottracker", gst::Rank::NONE, MotTracker::static_type())
}
