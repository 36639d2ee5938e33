//! `overlay`: draws the metadata on the frames in place: boxes coloured per class with their
//! labels, track trails, plate text, counting lines with their totals, a counts panel, FPS.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct Overlay(ObjectSubclass<imp::Overlay>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(Some(plugin), "overlay", gst::Rank::NONE, Overlay::static_type())
}
