//! `trafficpublish`: every frame's metadata as one JSON line.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct TrafficPublish(ObjectSubclass<imp::TrafficPublish>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(Some(plugin), "trafficpublish", gst::Rank::NONE, TrafficPublish::static_type())
}
