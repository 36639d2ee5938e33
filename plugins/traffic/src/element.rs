//! What every element shell shares: locking, model paths, start-up errors, and which
//! properties may change in the state the element is in.

use gst::prelude::*;

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

/// Whether `pspec` may be set on `element` now. GLib's flags only document that a property
/// changes in NULL or READY only; the element must refuse it later itself, or the new value
/// would silently do nothing until a restart. Refused with a warning, in the log and on the bus.
pub(crate) fn settable(element: &gst::Element, cat: gst::DebugCategory, pspec: &gst::glib::ParamSpec) -> bool {
    let ready_only = pspec.flags().contains(gst::PARAM_FLAG_MUTABLE_READY);
    let state = element.current_state();
    if !ready_only || state <= gst::State::Ready {
        return true;
    }
    let msg = format!("'{}' can only be changed in the NULL or READY state, not in {state:?}: ignored", pspec.name());
    gst::warning!(cat, obj = element, "{msg}");
    let _ =
        element.post_message(gst::message::Warning::builder(gst::CoreError::StateChange, &msg).src(element).build());
    false
}
