//! `traffic_stage_seconds`: how long each of our elements holds a frame, per camera. A probe
//! on the element's sink pad notes when a frame enters, one on its src pad when it leaves: our
//! elements work in place on the streaming thread, so the two are the element's own time.

use std::sync::{Arc, LazyLock, Mutex};
use std::time::Instant;

use gst::prelude::*;
use prometheus::{HistogramOpts, HistogramVec};

/// The elements timed: the analysis chain and the overlay.
const TIMED: [&str; 7] =
    ["yolodetect", "mottracker", "platedetect", "plateocr", "linecounter", "trafficpublish", "overlay"];

/// Seconds per frame, 0.1 ms .. 1.6 s.
pub static STAGE_SECONDS: LazyLock<HistogramVec> = LazyLock::new(|| {
    let opts = HistogramOpts::new("traffic_stage_seconds", "Seconds an element spends on a frame")
        .buckets(prometheus::exponential_buckets(0.0001, 2.0, 15).unwrap_or_default());
    HistogramVec::new(opts, &["camera", "element"]).unwrap_or_else(|e| panic!("traffic_stage_seconds: {e}"))
});

pub struct StageTimer;

impl StageTimer {
    /// Times every element of [`TIMED`] in `pipeline` under the label `camera`.
    pub fn attach(pipeline: &gst::Pipeline, camera: &str) {
        for element in pipeline.iterate_elements().into_iter().flatten() {
            let Some(factory) = element.factory().map(|f| f.name().to_string()) else { continue };
            if !TIMED.contains(&factory.as_str()) {
                continue;
            }
            let (Some(sink), Some(src)) = (element.static_pad("sink"), element.static_pad("src")) else { continue };
            let histogram = STAGE_SECONDS.with_label_values(&[camera, factory.as_str()]);
            let entered = Arc::new(Mutex::new(None::<Instant>));
            sink.add_probe(gst::PadProbeType::BUFFER, {
                let entered = entered.clone();
                move |_, _| {
                    *entered.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
                    gst::PadProbeReturn::Ok
                }
            });
            src.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                if let Some(at) = entered.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    histogram.observe(at.elapsed().as_secs_f64());
                }
                gst::PadProbeReturn::Ok
            });
        }
    }

    /// Forgets a removed camera's series.
    pub fn detach(camera: &str) {
        for element in TIMED {
            let _ = STAGE_SECONDS.remove_label_values(&[camera, element]);
        }
    }
}
