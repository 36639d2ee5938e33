//! `platedetect`: licence-plate boxes inside vehicle boxes (or the whole frame).

use gst::glib;
use gst::prelude::*;

mod imp;

/// The `mode` property: where plates are searched.
#[derive(Debug, Eq, PartialEq, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstPlateDetectMode")]
pub enum Mode {
    #[default]
    #[enum_value(name = "Search inside each vehicle box of a useful size", nick = "vehicles")]
    Vehicles,
    #[enum_value(name = "Search the whole frame (no vehicle detector upstream)", nick = "frame")]
    Frame,
    #[enum_value(
        name = "Inside vehicle boxes; the whole frame when there is no vehicle or no searched vehicle showed a plate",
        nick = "auto"
    )]
    Auto,
}

glib::wrapper! {
    pub struct PlateDetect(ObjectSubclass<imp::PlateDetect>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    // Documented with the plugin, as gst-plugins-rs does for the enums of its properties.
    Mode::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(Some(plugin), "platedetect", gst::Rank::NONE, PlateDetect::static_type())
}
