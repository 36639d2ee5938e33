//! `linecounter`: counts tracks crossing virtual lines, per class and direction.

use gst::glib;
use gst::prelude::*;

mod config;
mod imp;

glib::wrapper! {
    pub struct LineCounter(ObjectSubclass<imp::LineCounter>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(Some(plugin), "linecounter", gst::Rank::NONE, LineCounter::static_type())
}
