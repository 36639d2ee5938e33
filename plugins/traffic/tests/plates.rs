//! platedetect and plateocr through gst_check::Harness: a benchmark plate read exactly, no
//! plate (nor error) on a frame without vehicles, small vehicles packed into one inference, and
//! the per-track search schedule.

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
    decode_to(path, &format!("video/x-raw,format={format}"))
}

/// Decodes a JPEG into one raw buffer of the given raw caps (format, size), with its caps.
fn decode_to(path: &std::path::Path, raw_caps: &str) -> (gst::Caps, gst::Buffer) {
    let mut h = Harness::new_parse(&format!("jpegdec ! videoscale ! videoconvert ! capsfilter caps={raw_caps}"));
    let caps = gst::Caps::builder("image/jpeg").field("framerate", gst::Fraction::new(1, 1)).build();
    h.set_src_caps(caps);
    h.play();
    let out = h.push_and_pull(gst::Buffer::from_slice(std::fs::read(path).expect("read jpeg"))).expect("decoded");
    let caps = h.sinkpad().and_then(|p| p.current_caps()).expect("caps");
    (caps, out)
}

/// plateocr's read of the plate at `bbox` (pixels) in the image at `path`, decoded to `format`.
fn read_plate(path: &std::path::Path, format: &str, [x1, y1, x2, y2]: [f64; 4]) -> traffic_meta::Plate {
    let (caps, mut buffer) = decode(path, format);
    let info = gst_video::VideoInfo::from_caps(&caps).unwrap();
    let size = FrameSize { width: info.width(), height: info.height() };
    let det = Detection { label: "plate".into(), label_id: 0, confidence: 0.9, bbox: PixelBox { x1, y1, x2, y2 } };
    traffic_meta::add_plate_box(buffer.make_mut(), size, &det, NO_PARENT);

    let mut h = Harness::new("plateocr");
    h.set_src_caps(caps);
    h.play();
    let out = h.push_and_pull(buffer).expect("a frame out");
    let objects = objects_of(&h, &out);
    objects.iter().find(|o| o.is_plate()).and_then(|o| o.plate.clone()).expect("plate param")
}

#[test]
fn benchmark_plate_is_read_exactly_in_every_format() {
    init();
    let Some(path) = shared_data(EU1) else { return };
    for format in ["RGB", "BGRx", "I420", "NV12"] {
        let plate = read_plate(&path, format, EU1_BOX);
        assert_eq!(plate.text, EU1_TEXT, "{format}: {plate:?}");
        assert!(plate.confidence > 0.5, "{format}: {plate:?}");
        // No track: the frame's read is the track's.
        assert_eq!(plate.track_text, EU1_TEXT);
    }
}

/// openalpr_endtoend_eu/test_044.jpg (`RK878AC`) at the box platedetect finds there: the dark
/// EU country band at the plate's left end reads as an unsure `B` unless it is dropped.
#[test]
fn plate_artwork_at_an_end_is_not_read_as_a_character() {
    init();
    let Some(path) = shared_data("plates/openalpr_endtoend_eu/test_044.jpg") else { return };
    let plate = read_plate(&path, "I420", [244.23, 162.32, 323.9, 189.83]);
    assert_eq!(plate.text, "RK878AC", "{plate:?}");
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

/// A camera that runs for months sees a new vehicle every few seconds: what platedetect keeps
/// per track (its search schedule, plateocr's read confidence) goes with the track.
#[test]
fn memory_of_tracks_stays_bounded_over_ten_thousand_vehicles() {
    init();
    let caps = gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, 320, 240)
        .fps(gst::Fraction::new(25, 1))
        .build()
        .unwrap()
        .to_caps()
        .unwrap();
    let size = frame_size(&caps);
    let frame = gst::Buffer::from_slice(vec![90u8; 320 * 240 * 3]);
    // Vehicles too small to search, so that no inference runs: only the bookkeeping.
    let mut h = Harness::new_parse("platedetect mode=vehicles");
    h.set_src_caps(caps);
    h.play();
    let mut most = (0, 0);
    for id in 0..10_000u64 {
        let (buffer, _) = with_vehicle(&frame, size, PixelBox { x1: 10.0, y1: 10.0, x2: 60.0, y2: 50.0 }, Some(id));
        h.push_and_pull(buffer).expect("a frame out");
        // plateocr reports each vehicle's read after its frame, as it does downstream.
        assert!(h.push_upstream_event(traffic_meta::plate_read_event(traffic_meta::PlateRead {
            track_id: id,
            track_confidence: 0.5
        })));
        most = (most.0.max(stat(&mut h, "tracks")), most.1.max(stat(&mut h, "reads")));
    }
    assert!(most.0 > 500 && most.0 <= 601, "tracks remembered at most: {}", most.0);
    assert!(most.1 > 500 && most.1 <= 601, "reads remembered at most: {}", most.1);
    // A flush (a seek) forgets them all.
    assert!(h.push_event(gst::event::FlushStart::new()));
    assert!(h.push_event(gst::event::FlushStop::new(true)));
    assert!(h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<gst::ClockTime>::new())));
    let (buffer, _) = with_vehicle(&frame, size, PixelBox { x1: 10.0, y1: 10.0, x2: 60.0, y2: 50.0 }, Some(20_000));
    h.push_and_pull(buffer).expect("a frame out");
    assert_eq!((stat(&mut h, "tracks"), stat(&mut h, "reads")), (1, 0));
}

/// The car of eu1.jpg (1000x750), at `scale`.
fn eu1_car(scale: f64) -> PixelBox {
    PixelBox { x1: 194.0 * scale, y1: 173.0 * scale, x2: 809.0 * scale, y2: 588.0 * scale }
}

/// A copy of `frame` with a vehicle at `bbox`, tracked as `track` when given (as mottracker
/// would mark it); returns the buffer and the vehicle's ROI id.
fn with_vehicle(frame: &gst::Buffer, size: FrameSize, bbox: PixelBox, track: Option<u64>) -> (gst::Buffer, i32) {
    let mut b = frame.copy();
    let car = Detection { label: "car".into(), label_id: 2, confidence: 0.9, bbox };
    let id = traffic_meta::add_detection(b.make_mut(), size, &car, NO_PARENT);
    if let Some(track) = track {
        let track = traffic_meta::Track { id: track, age: 5, predicted: false, label: "car".into(), label_id: 2 };
        traffic_meta::set_track(b.make_mut(), id, &track);
    }
    (b, id)
}

fn frame_size(caps: &gst::Caps) -> FrameSize {
    let info = gst_video::VideoInfo::from_caps(caps).unwrap();
    FrameSize { width: info.width(), height: info.height() }
}

/// A field of platedetect's `stats` (find_element looks elements up by factory name).
fn stat(h: &mut Harness, name: &str) -> u64 {
    let element = h.find_element("platedetect").expect("platedetect in the harness");
    let stats = element.property::<gst::Structure>("stats");
    stats.get::<u64>(name).expect("stat")
}

#[test]
fn tracked_vehicles_are_searched_every_interval_until_read() {
    init();
    let Some(path) = shared_data(EU1) else { return };
    let (caps, frame) = decode(&path, "RGB");
    let size = frame_size(&caps);
    let tracked = || with_vehicle(&frame, size, eu1_car(1.0), Some(7)).0;
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
    let done = traffic_meta::PlateRead { track_id: 7, track_confidence: 0.85 };
    assert!(h.push_upstream_event(traffic_meta::plate_read_event(done)));
    assert_eq!(plates(&mut h), 0);
    assert_eq!(plates(&mut h), 0);
}

#[test]
fn parked_vehicle_is_searched_less_and_less() {
    init();
    let Some(path) = shared_data(EU1) else { return };
    let (caps, frame) = decode(&path, "RGB");
    let size = frame_size(&caps);
    // Never reported read (no plateocr): each search doubles the wait, 1, 2, 4, then 8 at most.
    let mut h = Harness::new_parse("platedetect interval=1 max-interval=8");
    h.set_src_caps(caps);
    h.play();
    let mut searched = Vec::new();
    for i in 0..24 {
        let out = h.push_and_pull(with_vehicle(&frame, size, eu1_car(1.0), Some(3)).0).expect("a frame out");
        if objects_of(&h, &out).iter().any(|o| o.is_plate()) {
            searched.push(i);
        }
    }
    assert_eq!(searched, vec![0, 1, 3, 7, 15, 23]);
    assert_eq!(stat(&mut h, "inferences"), 6);
    // The car drives off: searched at once.
    let moved = PixelBox { x1: 0.0, ..eu1_car(1.0) };
    let out = h.push_and_pull(with_vehicle(&frame, size, moved, Some(3)).0).expect("a frame out");
    assert_eq!(stat(&mut h, "inferences"), 7, "{:?}", objects_of(&h, &out));
}

#[test]
fn small_vehicles_share_one_inference_and_keep_their_plates() {
    init();
    let Some(path) = shared_data(EU1) else { return };
    // eu1.jpg at half size: the car's box (308x208) fits a 320 px tile unshrunk.
    let (caps, frame) = decode_to(&path, "video/x-raw,format=I420,width=500,height=375");
    let size = frame_size(&caps);
    let plate_gt = EU1_BOX.map(|v| v * 0.5);
    let (with_car, car_id) = with_vehicle(&frame, size, eu1_car(0.5), None);
    // A second vehicle left of the plate.
    let (buffer, _) = with_vehicle(&with_car, size, PixelBox { x1: 0.0, y1: 180.0, x2: 190.0, y2: 375.0 }, None);
    let mut boxes = Vec::new();
    for (mosaic, inferences) in [(true, 1), (false, 2)] {
        let mut h = Harness::new_parse(&format!("platedetect mosaic={mosaic} ! plateocr"));
        h.set_src_caps(caps.clone());
        h.play();
        let out = h.push_and_pull(buffer.clone()).expect("a frame out");
        let objects = objects_of(&h, &out);
        let plates: Vec<_> = objects.iter().filter(|o| o.is_plate()).collect();
        assert_eq!(plates.len(), 1, "mosaic={mosaic}: {objects:#?}");
        let p = plates[0];
        assert_eq!(p.parent_id, car_id, "mosaic={mosaic}");
        assert!(iou(corners(p), plate_gt) >= 0.5, "mosaic={mosaic}: plate box {:?}", p.bbox);
        assert_eq!(p.plate.as_ref().map(|t| t.text.as_str()), Some(EU1_TEXT), "mosaic={mosaic}");
        assert_eq!(stat(&mut h, "inferences"), inferences, "mosaic={mosaic}");
        assert_eq!(stat(&mut h, "crops"), 2, "mosaic={mosaic}");
        boxes.push(corners(p));
    }
    assert!(iou(boxes[0], boxes[1]) >= 0.7, "mosaic and lone boxes differ: {boxes:?}");
}

#[test]
fn a_mosaic_fills_its_free_tiles_with_vehicles_not_yet_due() {
    init();
    let Some(path) = shared_data(EU1) else { return };
    let (caps, frame) = decode_to(&path, "video/x-raw,format=RGB,width=500,height=375");
    let size = frame_size(&caps);
    let (car_only, car_id) = with_vehicle(&frame, size, eu1_car(0.5), Some(1));
    let mut h = Harness::new_parse("platedetect interval=2");
    h.set_src_caps(caps);
    h.play();
    // Frame 0: the car alone, on the whole input.
    h.push_and_pull(car_only.clone()).expect("a frame out");
    assert_eq!((stat(&mut h, "inferences"), stat(&mut h, "crops")), (1, 1));
    // Frame 1: a second vehicle is due (first sight); the car, not due, rides in a free tile.
    let (both, _) = with_vehicle(&car_only, size, PixelBox { x1: 0.0, y1: 180.0, x2: 190.0, y2: 375.0 }, Some(2));
    let out = h.push_and_pull(both.clone()).expect("a frame out");
    assert_eq!((stat(&mut h, "inferences"), stat(&mut h, "crops")), (2, 3));
    let objects = objects_of(&h, &out);
    assert!(objects.iter().any(|o| o.is_plate() && o.parent_id == car_id), "{objects:#?}");
    // Frame 2: neither is due.
    h.push_and_pull(both).expect("a frame out");
    assert_eq!(stat(&mut h, "inferences"), 2);
}
