//! yolodetect on bus.jpg against Ultralytics' own result, through gst_check::Harness.

mod common;

use common::*;
use gst_check::Harness;

/// `YOLO('yolov8n.pt').predict('bus.jpg')` with Ultralytics 8.4.190 (weights/README.md).
const ULTRALYTICS_BUS: [f64; 4] = [17.3, 230.6, 801.5, 768.4];
const ULTRALYTICS_BUS_CONF: f64 = 0.871;
const ULTRALYTICS_PERSONS: [[f64; 4]; 4] = [
    [48.7, 399.3, 244.5, 902.5],
    [670.3, 380.3, 809.9, 875.7],
    [221.4, 405.8, 344.7, 857.4],
    [0.0, 551.0, 67.1, 873.9],
];

fn detect_bus_jpg(pipeline: &str) -> Vec<Object> {
    init();
    let mut h = Harness::new_parse(pipeline);
    let (caps, buffer) = jpeg_buffer("bus.jpg");
    h.set_src_caps(caps);
    h.play();
    let out = h.push_and_pull(buffer).expect("a frame out");
    objects_of(&h, &out)
}

fn the_bus(objects: &[Object]) -> &Object {
    let buses: Vec<_> = objects.iter().filter(|o| o.label() == "bus").collect();
    assert_eq!(buses.len(), 1, "one bus: {objects:#?}");
    buses[0]
}

#[test]
fn all_classes_match_ultralytics() {
    // Class-aware NMS (as Ultralytics) and the default class-agnostic NMS agree on this image.
    for nms in ["agnostic-nms=false", "agnostic-nms=true"] {
        let objects = detect_bus_jpg(&format!("jpegdec ! yolodetect classes=all {nms}"));
        let bus = the_bus(&objects);
        let conf = bus.detection.as_ref().unwrap().confidence;
        assert!(iou(corners(bus), ULTRALYTICS_BUS) >= 0.9, "{nms}: bus box {:?}", bus.bbox);
        assert!((conf - ULTRALYTICS_BUS_CONF).abs() <= 0.02, "{nms}: bus confidence {conf}");
        let persons: Vec<_> = objects.iter().filter(|o| o.label() == "person").collect();
        for reference in ULTRALYTICS_PERSONS {
            let best = persons.iter().map(|p| iou(corners(p), reference)).fold(0.0, f64::max);
            assert!(best >= 0.8, "{nms}: Ultralytics' person {reference:?} not found (best IoU {best}): {persons:#?}");
        }
        // Every object carries the full detection param with the model's class names.
        for o in &objects {
            let d = o.detection.as_ref().expect("detection param");
            assert!(d.confidence >= 0.25 && d.confidence <= 1.0);
            assert_eq!(o.roi_type, d.label);
        }
    }
}

/// YOLO-World v2 s converted by scripts/yolo_pt2onnx.py with its saved COCO vocabulary, against
/// `YOLO('yolov8s-worldv2.pt').predict('bus.jpg')` with Ultralytics 8.4.190.
#[test]
fn yolo_world_v2_matches_ultralytics() {
    let model = weight("yolov8s-worldv2.onnx");
    let objects = detect_bus_jpg(&format!("jpegdec ! yolodetect classes=all model={}", model.display()));
    let bus = the_bus(&objects);
    let conf = bus.detection.as_ref().unwrap().confidence;
    assert!(iou(corners(bus), [8.8, 231.2, 806.5, 744.4]) >= 0.9, "bus box {:?}", bus.bbox);
    assert!((conf - 0.889).abs() <= 0.02, "bus confidence {conf}");
    let persons = objects.iter().filter(|o| o.label() == "person").count();
    assert!(persons >= 4, "Ultralytics finds 4 persons above 0.6: {objects:#?}");
}

#[test]
fn default_classes_report_only_the_bus() {
    let objects = detect_bus_jpg("jpegdec ! yolodetect");
    assert_eq!(objects.len(), 1, "{objects:#?}");
    assert_eq!(the_bus(&objects).detection.as_ref().unwrap().label_id, 5);
}

#[test]
fn every_raw_format_is_read_in_place() {
    let reference = detect_bus_jpg("jpegdec ! yolodetect");
    let reference_conf = the_bus(&reference).detection.as_ref().unwrap().confidence;
    for format in ["RGB", "BGR", "RGBx", "BGRx", "RGBA", "BGRA", "I420", "NV12"] {
        let objects = detect_bus_jpg(&format!("jpegdec ! videoconvert ! video/x-raw,format={format} ! yolodetect"));
        let bus = the_bus(&objects);
        let conf = bus.detection.as_ref().unwrap().confidence;
        assert!(iou(corners(bus), corners(&reference[0])) > 0.97, "{format}: {:?}", bus.bbox);
        assert!((conf - reference_conf).abs() < 0.02, "{format}: {conf} vs {reference_conf}");
    }
}

#[test]
fn interval_runs_the_model_on_every_nth_frame() {
    init();
    let mut h = Harness::new_parse("jpegdec ! yolodetect interval=2");
    let (caps, buffer) = jpeg_buffer("bus.jpg");
    h.set_src_caps(caps);
    h.play();
    let frames: Vec<(usize, bool)> = (0..4)
        .map(|_| {
            let out = h.push_and_pull(buffer.copy()).expect("frame");
            (objects_of(&h, &out).len(), traffic_meta::detected(&out))
        })
        .collect();
    // Skipped frames carry no objects and no `detected` mark, so a tracker predicts them.
    assert_eq!(frames, [(1, true), (0, false), (1, true), (0, false)]);
}

#[test]
fn input_size_changes_the_inference_size() {
    // A bigger input still finds the bus; a tiny one must not crash.
    let big = detect_bus_jpg("jpegdec ! yolodetect input-size=960");
    assert!(iou(corners(the_bus(&big)), ULTRALYTICS_BUS) >= 0.9);
    let _ = detect_bus_jpg("jpegdec ! yolodetect input-size=64");
}

fn start_error(launch: &str) -> String {
    init();
    run_to_eos(launch).expect_err("the pipeline must fail")
}

#[test]
fn missing_model_names_the_file() {
    let err = start_error("videotestsrc num-buffers=1 ! yolodetect model=/nonexistent/model.onnx ! fakesink");
    assert!(err.contains("/nonexistent/model.onnx") && err.contains("not found"), "{err}");
}

#[test]
fn a_file_that_is_no_model_is_a_clear_error() {
    let path = std::env::temp_dir().join(format!("not-a-model-{}.onnx", std::process::id()));
    std::fs::write(&path, b"this is not an ONNX model").unwrap();
    let err = start_error(&format!("videotestsrc num-buffers=1 ! yolodetect model={} ! fakesink", path.display()));
    std::fs::remove_file(&path).ok();
    assert!(err.contains("unsupported model") && err.contains("not-a-model"), "{err}");
}

#[test]
fn a_model_of_another_task_is_rejected_by_its_shape() {
    // The OCR recogniser loads fine in ONNX Runtime but is no detector.
    let ocr = weight("PP-OCRv6_rec_small.onnx");
    let err = start_error(&format!("videotestsrc num-buffers=1 ! yolodetect model={} ! fakesink", ocr.display()));
    assert!(err.contains("unsupported model"), "{err}");
}

#[test]
fn unknown_class_lists_the_model_classes() {
    let err = start_error("videotestsrc num-buffers=1 ! yolodetect classes=car,tank ! fakesink");
    assert!(err.contains("tank") && err.contains("person,bicycle,car"), "{err}");
}

/// Two yolodetect with one model in a row would report every vehicle twice, and every count
/// would double: the second sees the first's mark on the frame and adds nothing, with a
/// warning. Another model still adds its own objects.
#[test]
fn a_second_detector_with_the_same_model_adds_nothing() {
    let once = detect_bus_jpg("jpegdec ! yolodetect classes=all");
    assert!(once.len() >= 5, "{once:#?}");
    init();
    let mut h = Harness::new_parse("jpegdec ! yolodetect classes=all ! yolodetect classes=all");
    let (caps, buffer) = jpeg_buffer("bus.jpg");
    h.set_src_caps(caps);
    h.play();
    let out = h.push_and_pull(buffer).expect("a frame out");
    assert_eq!(objects_of(&h, &out).len(), once.len());
    let world = weight("yolov8s-worldv2.onnx");
    let both =
        detect_bus_jpg(&format!("jpegdec ! yolodetect classes=all ! yolodetect model={} classes=all", world.display()));
    assert!(both.len() > once.len(), "another model adds its own: {} vs {}", both.len(), once.len());
}
