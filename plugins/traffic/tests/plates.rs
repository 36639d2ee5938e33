//! platedetect and plateocr through gst_check::Harness: a benchmark plate read exactly, no
//! plate (nor error) on a frame without vehicles, vehicles of similar size batched into one
//! inference, crops of any size searched or skipped without error, and the per-track search
//! schedule.

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
        let track = traffic_meta::Track {
            id: track,
            age: 5,
            predicted: false,
            label: "car".into(),
            label_id: 2,
            speed_kmh: None,
        };
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
fn vehicles_of_similar_size_share_one_batch_and_keep_their_plates() {
    init();
    let Some(path) = shared_data(EU1) else { return };
    // eu1.jpg at half size, on I420 (crops at even offsets): the car (308x208, searched at
    // 320x224) and a second vehicle right of the plate (198x215, at 224x224) run as one batch:
    // padding both to 320x224 costs less than the 25 % more pixels a second run would save.
    let (caps, frame) = decode_to(&path, "video/x-raw,format=I420,width=500,height=375");
    let size = frame_size(&caps);
    let plate_gt = EU1_BOX.map(|v| v * 0.5);
    let (with_car, car_id) = with_vehicle(&frame, size, eu1_car(0.5), None);
    let (buffer, _) = with_vehicle(&with_car, size, PixelBox { x1: 302.0, y1: 160.0, x2: 500.0, y2: 375.0 }, None);
    let mut h = Harness::new_parse("platedetect ! plateocr");
    h.set_src_caps(caps);
    h.play();
    let out = h.push_and_pull(buffer).expect("a frame out");
    let objects = objects_of(&h, &out);
    // The car keeps its one plate; whatever the model sees in the second crop (a badge, at
    // most) is not that plate again.
    let (car_plates, other): (Vec<_>, Vec<_>) =
        objects.iter().filter(|o| o.is_plate()).partition(|o| o.parent_id == car_id);
    assert_eq!(car_plates.len(), 1, "{objects:#?}");
    let p = car_plates[0];
    assert!(iou(corners(p), plate_gt) >= 0.5, "plate box {:?}", p.bbox);
    assert_eq!(p.plate.as_ref().map(|t| t.text.as_str()), Some(EU1_TEXT));
    assert!(other.iter().all(|o| iou(corners(o), plate_gt) < 0.1), "{other:#?}");
    assert_eq!((stat(&mut h, "inferences"), stat(&mut h, "crops")), (1, 2));
    let element = h.find_element("platedetect").expect("platedetect");
    let median = element.property::<gst::Structure>("stats").get::<f64>("median-ms-per-crop").expect("median");
    assert!(median > 0.0, "median-ms-per-crop {median}");
}

/// A vehicle larger than the detector input is shrunk to `max-input` and its plate still found.
#[test]
fn a_crop_larger_than_the_input_is_shrunk_to_it() {
    init();
    let Some(path) = shared_data(EU1) else { return };
    let (caps, frame) = decode(&path, "RGB");
    let size = frame_size(&caps);
    // The car is 615x415: at max-input 320 it is searched at 320x224.
    let mut h = Harness::new_parse("platedetect max-input=330");
    h.set_src_caps(caps);
    h.play();
    let element = h.find_element("platedetect").expect("platedetect");
    assert_eq!(element.property::<u32>("max-input"), 320, "rounded down to the stride");
    let out = h.push_and_pull(with_vehicle(&frame, size, eu1_car(1.0), None).0).expect("a frame out");
    let objects = objects_of(&h, &out);
    let plate = objects.iter().find(|o| o.is_plate()).expect("a plate");
    assert!(iou(corners(plate), EU1_BOX) >= 0.5, "plate box {:?}", plate.bbox);
}

/// Vehicles are searched at most at `max-input` (352 by default: twice `min-vehicle-size`), the
/// whole frame of `mode=frame` at `frame-input` (640), each rounded down to the stride.
#[test]
fn the_frame_is_searched_at_its_own_cap() {
    init();
    let Some(path) = shared_data(EU1) else { return };
    let (caps, frame) = decode(&path, "RGB");
    let mut h = Harness::new_parse("platedetect mode=frame");
    h.set_src_caps(caps);
    h.play();
    let element = h.find_element("platedetect").expect("platedetect");
    assert_eq!(element.property::<u32>("max-input"), 352);
    assert_eq!(element.property::<u32>("frame-input"), 640);
    element.set_property("frame-input", 700u32);
    assert_eq!(element.property::<u32>("frame-input"), 672, "rounded down to the stride");
    let out = h.push_and_pull(frame).expect("a frame out");
    let objects = objects_of(&h, &out);
    let plate = objects.iter().find(|o| o.is_plate()).expect("a plate in the whole frame");
    assert!(iou(corners(plate), EU1_BOX) >= 0.5, "plate box {:?}", plate.bbox);
}

/// Crops a few pixels wide, at odd offsets and sizes, reaching past the frame, or empty, and
/// frames of odd or large sizes: searched padded, clipped or skipped, never an error.
#[test]
fn tiny_odd_and_outsized_crops_and_frames_are_no_error() {
    init();
    for (format, w, h_px) in [("I420", 641u32, 353u32), ("RGB", 7, 5), ("NV12", 1920, 1080)] {
        let caps: gst::Caps =
            format!("video/x-raw,format={format},width={w},height={h_px},framerate=25/1").parse().unwrap();
        let info = gst_video::VideoInfo::from_caps(&caps).unwrap();
        let frame = gst::Buffer::from_slice(vec![90u8; info.size()]);
        let size = frame_size(&caps);
        let (wf, hf) = (w as f64, h_px as f64);
        let boxes = [
            PixelBox { x1: 1.5, y1: 0.5, x2: 4.5, y2: 3.5 },
            PixelBox { x1: 3.0, y1: 1.0, x2: 4.0, y2: 2.0 },
            PixelBox { x1: 2.0, y1: 2.0, x2: 2.0, y2: 2.0 },
            PixelBox { x1: -50.0, y1: -20.0, x2: wf + 70.0, y2: hf + 10.0 },
            PixelBox { x1: wf - 1.0, y1: hf - 1.0, x2: wf + 300.0, y2: hf + 300.0 },
        ];
        for mode in ["vehicles", "frame", "auto"] {
            let mut h = Harness::new_parse(&format!("platedetect mode={mode} min-vehicle-size=0"));
            h.set_src_caps(caps.clone());
            h.play();
            let mut buffer = frame.clone();
            for (i, b) in boxes.iter().enumerate() {
                buffer = with_vehicle(&buffer, size, *b, Some(i as u64)).0;
            }
            let out = h.push_and_pull(buffer).expect("a frame out");
            assert!(objects_of(&h, &out).iter().all(|o| !o.is_plate()), "{format} {w}x{h_px} {mode}: a plate in grey");
            assert!(stat(&mut h, "inferences") >= 1, "{format} {w}x{h_px} {mode}: searched");
        }
    }
}
