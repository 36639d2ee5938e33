//! `plateocr`: licence-plate text, voted per track.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct PlateOcr(ObjectSubclass<imp::PlateOcr>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(Some(plugin), "plateocr", gst::Rank::NONE, PlateOcr::static_type())
}
