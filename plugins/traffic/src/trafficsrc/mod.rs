//! `trafficsrc`: a video source for live cameras and files. It wraps `uridecodebin`, keeps
//! latency low with a leaky queue, and rebuilds a live source that drops, with backoff, while
//! the elements downstream keep their state.

use gst::glib;
use gst::prelude::*;

mod backoff;
mod forward;
mod imp;
mod state;
mod supervisor;

glib::wrapper! {
    pub struct TrafficSrc(ObjectSubclass<imp::TrafficSrc>) @extends gst::Bin, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(Some(plugin), "trafficsrc", gst::Rank::NONE, TrafficSrc::static_type())
}
