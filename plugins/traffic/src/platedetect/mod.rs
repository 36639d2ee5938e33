//! `platedetect`: licence-plate boxes inside vehicle boxes (or the whole frame).

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct PlateDetect(ObjectSubclass<imp::PlateDetect>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(Some(plugin), "platedetect", gst::Rank::NONE, PlateDetect::static_type())
}
