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

/// Name of the custom upstream event by which `plateocr` tells `platedetect` how well a
/// track's plate is read: fields `track-id` (u64) and `track-confidence` (f64).
pub const PLATE_READ_EVENT: &str = "traffic-plate-read";
