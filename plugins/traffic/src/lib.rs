//! `libgsttraffic`: GStreamer elements for traffic video analytics. Each element is a thin
//! shell: it maps the buffer, calls `traffic-vision`, and writes `traffic-meta`.

mod element;
mod linecounter;
mod mottracker;
mod overlay;
mod platedetect;
mod plateocr;
mod stats;
mod trafficpublish;
mod trafficsrc;
mod video;
mod yolodetect;

pub(crate) use element::{lock, model_path, settable, start_error};

fn plugin_init(plugin: &gst::Plugin) -> Result<(), gst::glib::BoolError> {
    yolodetect::register(plugin)?;
    mottracker::register(plugin)?;
    overlay::register(plugin)?;
    platedetect::register(plugin)?;
    plateocr::register(plugin)?;
    linecounter::register(plugin)?;
    trafficpublish::register(plugin)?;
    trafficsrc::register(plugin)?;
    Ok(())
}

gst::plugin_define!(
    traffic,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    // The code is MIT OR Apache-2.0; GStreamer takes one licence from a fixed list, and
    // "MIT/X11" is the one of ours it knows.
    "MIT/X11",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);
