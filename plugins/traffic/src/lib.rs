//! `libgsttraffic`: GStreamer elements for traffic video analytics. Each element is a thin
//! shell: it maps the buffer, calls `traffic-vision`, and writes `traffic-meta`.

mod linecounter;
mod mottracker;
mod overlay;
mod trafficpublish;
mod video;
mod yolodetect;

/// Locks a mutex even if a panicking thread poisoned it: element state stays usable.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn plugin_init(plugin: &gst::Plugin) -> Result<(), gst::glib::BoolError> {
    yolodetect::register(plugin)?;
    mottracker::register(plugin)?;
    overlay::register(plugin)?;
    linecounter::register(plugin)?;
    trafficpublish::register(plugin)?;
    Ok(())
}

gst::plugin_define!(
    traffic,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MIT/X11",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);
