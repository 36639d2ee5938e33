//! platedetect and plateocr through gst_check::Harness: a benchmark plate read exactly, and no
//! plate (nor error) on a frame without vehicles.

mod common;

use common::*;
use gst::prelude::*;
use gst_check::Harness;
use traffic_meta::{Detection, PixelBox, NO_PARENT};

/// openalpr_endtoend_eu/eu1.jpg (1000x750): `eu1.jpg 396 340 203 46 M5XSX`.
const EU1: &str = "plates/openalpr_endtoend_eu/eu1.jpg";
const EU1_BOX: [f64; 4] = [396.0, 340.0, 599.0, 386.0];
const EU1_TEXT: &str = "M5XSX";

/// Decodes a JPEG into one raw buffer of `format`, with its caps.
fn decode(path: &std::path::Path, format: &str) -> (gst::Caps, gst::Buffer) {
    let mut h = Harness::new_parse(&format!("jpegdec ! videoconvert ! capsfilter caps=video/x-raw,format={format}"));
    let caps = gst::Caps::builder("image/jpeg").field("framerate", gst::Fraction::new(1, 1)).build();
    h.set_src_caps(caps);
    h.play();
    let out = h.push_and_pull(gst::Buffer::from_slice(std::fs::read(path).expect("read jpeg"))).expect("decoded");
    let caps = h.sinkpad().and_then(|p| p.current_caps()).expect("caps");
    (caps, out)
}

#[test]
fn benchmark_plate_is_read_exactly_in_every_format() {
    init();
    let Some(path) = shared_data(EU1) else { return };
    for format in ["RGB", "BGRx", "I420", "NV12"] {
        let (caps, mut buffer) = decode(&path, format);
        let info = gst_video::VideoInfo::from_caps(&caps).unwrap();
        let size = FrameSize { width: info.width(), height: info.height() };
        let [x1, y1, x2, y2] = EU1_BOX;
        let det = Detection { label: "plate".into(), label_id: 0, confidence: 0.9, bbox: PixelBox { x1, y1, x2, y2 } };
        traffic_meta::add_plate_box(buffer.make_mut(), size, &det, NO_PARENT);

        let mut h = Harness::new("plateocr");
        h.set_src_caps(caps);
        h.play();
        let out = h.push_and_pull(buffer).expect("a frame out");
        let objects = objects_of(&h, &out);
        let plate = objects.iter().find(|o| o.is_plate()).and_then(|o| o.plate.clone()).expect("plate param");
        assert_eq!(plate.text, EU1_TEXT, "{format}: {plate:?}");
        assert!(plate.confidence > 0.5, "{format}: {plate:?}");
        // No track: the frame's read is the track's.
        assert_eq!(plate.track_text, EU1_TEXT);
    }
}

#[test]
fn vehicle_to_plate_text_end_to_end() {
    init();
    let Some(path) = shared_data(EU1) else { return };
    let mut h = Harness::new_parse("jpegdec ! yolodetect ! platedetect ! plateocr");
    let caps = gst::Caps::builder("image/jpeg").field("framerate", gst::Fraction::new(1, 1)).build();
    h.set_src_caps(caps);
    h.play();
    let out = h.push_and_pull(gst::Buffer::from_slice(std::fs::read(path).unwrap())).expect("a frame out");
    let objects = objects_of(&h, &out);
    let plates: Vec<_> = objects.iter().filter(|o| o.is_plate()).collect();
    assert_eq!(plates.len(), 1, "{objects:#?}");
    let p = plates[0];
    assert!(iou(corners(p), EU1_BOX) >= 0.5, "plate box {:?}", p.bbox);
    let parent = objects.iter().find(|o| o.roi_id == p.parent_id).expect("the plate's vehicle");
    assert!(!parent.is_plate());
    assert_eq!(p.plate.as_ref().map(|t| t.text.as_str()), Some(EU1_TEXT));
}

#[test]
fn frame_without_vehicles_gets_no_plate_and_no_error() {
    init();
    let (w, h_px) = (320usize, 240usize);
    let caps = gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, w as u32, h_px as u32)
        .fps(gst::Fraction::new(25, 1))
        .build()
        .unwrap()
        .to_caps()
        .unwrap();
    let mut h = Harness::new_parse("platedetect ! plateocr");
    h.set_src_caps(caps);
    h.play();
    for _ in 0..3 {
        let out = h.push_and_pull(gst::Buffer::from_slice(vec![90u8; w * h_px * 3])).expect("a frame out");
        assert!(objects_of(&h, &out).is_empty());
    }
}

#[test]
fn tracked_vehicles_are_searched_every_interval_until_read() {
    init();
    let Some(path) = shared_data(EU1) else { return };
    let (caps, frame) = decode(&path, "RGB");
    let info = gst_video::VideoInfo::from_caps(&caps).unwrap();
    let size = FrameSize { width: info.width(), height: info.height() };
    // The car of eu1.jpg, tracked as 7 (as mottracker would mark it).
    let tracked = || {
        let mut b = frame.copy();
        let car = Detection {
            label: "car".into(),
            label_id: 2,
            confidence: 0.9,
            bbox: PixelBox { x1: 194.0, y1: 173.0, x2: 809.0, y2: 588.0 },
        };
        let id = traffic_meta::add_detection(b.make_mut(), size, &car, NO_PARENT);
        let track = traffic_meta::Track { id: 7, age: 5, predicted: false, label: "car".into(), label_id: 2 };
        traffic_meta::set_track(b.make_mut(), id, &track);
        b
    };
    let mut h = Harness::new_parse("platedetect interval=2 done-confidence=0.8");
    h.set_src_caps(caps);
    h.play();
    let plates = |h: &mut Harness| {
        let out = h.push_and_pull(tracked()).expect("a frame out");
        objects_of(h, &out).iter().filter(|o| o.is_plate()).count()
    };
    assert_eq!(plates(&mut h), 1, "first sight: searched");
    assert_eq!(plates(&mut h), 0, "within the interval: skipped");
    assert_eq!(plates(&mut h), 1, "interval over: searched again");
    // plateocr downstream reports the track read well enough: no more searches.
    let done = gst::Structure::builder("traffic-plate-read").field("track-id", 7u64).field("track-confidence", 0.85).build();
    assert!(h.push_upstream_event(gst::event::CustomUpstream::new(done)));
    assert_eq!(plates(&mut h), 0);
    assert_eq!(plates(&mut h), 0);
}
