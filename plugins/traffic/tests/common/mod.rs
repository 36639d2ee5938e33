//! Shared by the element tests: plugin registration, the sample files, reading metadata back.
#![allow(dead_code)] // each test binary uses its own part of this module

use std::path::PathBuf;
use std::sync::Once;

use gst::prelude::*;
pub use traffic_meta::{FrameSize, Object};
#[allow(unused_imports)] // as above
pub use traffic_test_support::{repo_root, shared_data};

pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().expect("gst::init");
        gsttraffic::plugin_register_static().expect("register the traffic plugin");
    });
}

/// A file fetched by `make setup`; the tests need the real models, so a missing one fails loudly.
pub fn weight(name: &str) -> PathBuf {
    let path = traffic_vision::runtime::weight(name);
    assert!(path.is_file(), "{} is missing: run `make setup` first", path.display());
    path
}

/// A JPEG as one buffer with its caps, ready for a harness whose pipeline starts with `jpegdec`.
pub fn jpeg_buffer(name: &str) -> (gst::Caps, gst::Buffer) {
    let bytes = std::fs::read(weight(name)).expect("read jpeg");
    let caps = gst::Caps::builder("image/jpeg").field("framerate", gst::Fraction::new(1, 1)).build();
    (caps, gst::Buffer::from_slice(bytes))
}

/// The objects on an output buffer of a harness, with the frame size from its caps.
pub fn objects_of(h: &gst_check::Harness, buffer: &gst::Buffer) -> Vec<Object> {
    let caps = h.sinkpad().and_then(|p| p.current_caps()).expect("negotiated caps");
    let info = gst_video::VideoInfo::from_caps(&caps).expect("video caps");
    traffic_meta::objects(buffer, FrameSize { width: info.width(), height: info.height() })
}

pub fn iou(a: [f64; 4], b: [f64; 4]) -> f64 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let area = |r: [f64; 4]| (r[2] - r[0]) * (r[3] - r[1]);
    inter / (area(a) + area(b) - inter)
}

pub fn corners(o: &Object) -> [f64; 4] {
    [o.bbox.x1, o.bbox.y1, o.bbox.x2, o.bbox.y2]
}

/// Runs a launch line to EOS; returns the first error message, if any.
pub fn run_to_eos(launch: &str) -> Result<(), String> {
    let pipeline = gst::parse::launch(launch).map_err(|e| e.to_string())?;
    let bus = pipeline.bus().expect("bus");
    if let Err(e) = pipeline.set_state(gst::State::Playing) {
        let msg = first_error(&bus).unwrap_or_else(|| e.to_string());
        let _ = pipeline.set_state(gst::State::Null);
        return Err(msg);
    }
    let result = match bus
        .timed_pop_filtered(gst::ClockTime::from_seconds(300), &[gst::MessageType::Eos, gst::MessageType::Error])
        .as_ref()
        .map(|m| m.view())
    {
        Some(gst::MessageView::Eos(_)) => Ok(()),
        Some(gst::MessageView::Error(e)) => Err(format!("{} ({:?})", e.error(), e.debug())),
        _ => Err("timed out".into()),
    };
    pipeline.set_state(gst::State::Null).expect("to NULL");
    result
}

fn first_error(bus: &gst::Bus) -> Option<String> {
    let msg = bus.timed_pop_filtered(gst::ClockTime::from_seconds(5), &[gst::MessageType::Error])?;
    match msg.view() {
        gst::MessageView::Error(e) => Some(format!("{} ({:?})", e.error(), e.debug())),
        _ => None,
    }
}

/// A folder holding only the `libgsttraffic.so` built with this test, for GST_PLUGIN_PATH.
/// cargo builds it in `deps/` beside this test; the copy in the profile folder may be another
/// build's (several cargo commands share target/), and `deps/` has every other library too.
pub fn plugin_dir() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let built = exe.with_file_name("libgsttraffic.so");
    assert!(built.is_file(), "{} missing: cargo builds it with the tests", built.display());
    let dir = std::env::temp_dir().join(format!(
        "gsttraffic-plugin-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).expect("plugin folder");
    std::fs::copy(&built, dir.join("libgsttraffic.so")).expect("copy the plugin");
    dir
}

/// A 64x48 RGB frame at 40 ms x `i` on which track `100 + i` crosses line `road` inward, with
/// the line's running total after it (`i + 1`), as linecounter attaches them: what the
/// publisher tests send.
pub fn crossing_frame(i: u64) -> gst::Buffer {
    let mut buffer = gst::Buffer::with_size(64 * 48 * 3).unwrap();
    let b = buffer.get_mut().unwrap();
    b.set_pts(gst::ClockTime::from_mseconds(40 * i));
    let counts = traffic_meta::Counts {
        lines: vec![traffic_meta::LineTotals {
            name: "road".into(),
            start: (0.0, 24.0),
            end: (64.0, 24.0),
            in_name: "in".into(),
            out_name: "out".into(),
            totals: vec![traffic_meta::ClassTotal { class: "car".into(), direction: "in".into(), count: i + 1 }],
        }],
        crossings: vec![traffic_meta::Crossing {
            line: "road".into(),
            direction: "in".into(),
            track_id: 100 + i,
            class: "car".into(),
            ..Default::default()
        }],
        zones: vec![],
        zone_events: vec![],
    };
    traffic_meta::set_counts(b, &counts);
    buffer
}
