//! `linecounter`: counts tracks crossing virtual lines, per class and direction.

use gst::glib;
use gst::prelude::*;

mod config;
mod imp;

/// The `anchor` property: the point of a box whose path is tested against the lines and zones.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstLineCounterAnchor")]
pub enum AnchorChoice {
    #[default]
    #[enum_value(name = "Bottom centre of the box (where the vehicle meets the road)", nick = "bottom-center")]
    BottomCenter,
    #[enum_value(name = "Centre of the box", nick = "center")]
    Center,
    #[enum_value(name = "Top centre of the box", nick = "top-center")]
    TopCenter,
}

glib::wrapper! {
    pub struct LineCounter(ObjectSubclass<imp::LineCounter>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    // Documented with the plugin, as gst-plugins-rs does for the enums of its properties.
    AnchorChoice::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(Some(plugin), "linecounter", gst::Rank::NONE, LineCounter::static_type())
}
