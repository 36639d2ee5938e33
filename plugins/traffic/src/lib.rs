//! `libgsttraffic`: GStreamer elements for traffic video analytics. Each element is a thin
//! shell: it maps the buffer, calls `traffic-vision`, and writes `traffic-meta`.

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

/// Locks a mutex even if a panicking thread poisoned it: element state stays usable.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The model file of a `model` property: its value, or `default` in the weights folder when empty.
pub(crate) fn model_path(setting: &str, default: &str) -> std::path::PathBuf {
    if setting.is_empty() {
        traffic_vision::runtime::weight(default)
    } else {
        std::path::PathBuf::from(setting)
    }
}

/// The GStreamer error for a vision-core failure at start-up (model or runtime loading).
pub(crate) fn start_error(e: &traffic_vision::VisionError) -> gst::ErrorMessage {
    use traffic_vision::VisionError;
    match e {
        VisionError::MissingFile { .. } => gst::error_msg!(gst::ResourceError::NotFound, ["{}", e]),
        VisionError::Runtime(_) => gst::error_msg!(gst::LibraryError::Init, ["{}", e]),
        _ => gst::error_msg!(gst::ResourceError::Settings, ["{}", e]),
    }
}

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
