//! `plateocr`: licence-plate text, voted per track.

use gst::glib;
use gst::prelude::*;

mod imp;

/// The `charset-mode` property: how characters outside the charset are handled.
#[derive(Debug, Eq, PartialEq, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstPlateOcrCharsetMode")]
pub enum CharsetMode {
    #[enum_value(name = "Per timestep, the best of blank and the charset's characters", nick = "best-allowed")]
    BestAllowed,
    /// Reads better on the openalpr benchmark (exact 0.597 vs 0.535 with PP-OCRv6): a symbol
    /// outside the charset (a badge, a separator) is dropped rather than forced into a letter.
    #[default]
    #[enum_value(
        name = "Per timestep, the best of every class; characters outside the charset are dropped",
        nick = "argmax-drop"
    )]
    ArgmaxDrop,
}

glib::wrapper! {
    pub struct PlateOcr(ObjectSubclass<imp::PlateOcr>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    // Documented with the plugin, as gst-plugins-rs does for the enums of its properties.
    CharsetMode::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(Some(plugin), "plateocr", gst::Rank::NONE, PlateOcr::static_type())
}
