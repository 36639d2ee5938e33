//! overlay through gst_check::Harness: what it draws, where, and when it leaves a frame alone.

mod common;

use common::*;
use gst::glib;
use gst::prelude::*;
use std::collections::HashMap;
use std::sync::Mutex;

use gst_check::Harness;
use gst_video::VideoFormat;
use traffic_meta::{ClassTotal, Counts, Crossing, Detection, LineTotals, PixelBox, Plate, Track, NO_PARENT};

const SWITCHES: [&str; 7] =
    ["show-boxes", "show-labels", "show-tracks", "show-plates", "show-lines", "show-counts", "show-fps"];

fn info(format: VideoFormat, width: u32, height: u32) -> gst_video::VideoInfo {
    init();
    gst_video::VideoInfo::builder(format, width, height).fps(gst::Fraction::new(25, 1)).build().unwrap()
}

fn harness(info: &gst_video::VideoInfo, props: &[(&str, glib::Value)]) -> Harness {
    init();
    let mut h = Harness::new("overlay");
    {
        let element = h.element().unwrap();
        for (name, value) in props {
            element.set_property_from_value(name, value);
        }
    }
    h.set_src_caps(info.to_caps().unwrap());
    h.play();
    h
}

fn off(name: &str) -> (&str, glib::Value) {
    (name, false.to_value())
}

/// A grey frame (every byte 0x50) at time `index` / 25 s.
fn blank(info: &gst_video::VideoInfo, index: u64) -> gst::Buffer {
    let mut buffer = gst::Buffer::from_mut_slice(vec![0x50u8; info.size()]);
    buffer.get_mut().unwrap().set_pts(gst::ClockTime::from_mseconds(40 * index));
    buffer
}

fn size_of(info: &gst_video::VideoInfo) -> FrameSize {
    FrameSize { width: info.width(), height: info.height() }
}

fn car_box(x1: f64, y1: f64, x2: f64, y2: f64) -> Detection {
    Detection { label: "car".into(), label_id: 2, confidence: 0.87, bbox: PixelBox { x1, y1, x2, y2 } }
}

/// Adds a tracked car; returns its ROI id.
fn add_car(b: &mut gst::BufferRef, info: &gst_video::VideoInfo, det: &Detection, track_id: u64) -> i32 {
    let roi = traffic_meta::add_detection(b, size_of(info), det, NO_PARENT);
    let track = Track { id: track_id, age: 5, predicted: false, label: "car".into(), label_id: 2, speed_kmh: None };
    traffic_meta::set_track(b, roi, &track);
    roi
}

fn counts(width: f64, y: f64, crossed: bool) -> Counts {
    Counts {
        lines: vec![LineTotals {
            name: "main".into(),
            start: (0.0, y),
            end: (width, y),
            in_name: "in".into(),
            out_name: "out".into(),
            totals: vec![
                ClassTotal { class: "car".into(), direction: "in".into(), count: 3 },
                ClassTotal { class: "car".into(), direction: "out".into(), count: 1 },
                ClassTotal { class: "truck".into(), direction: "in".into(), count: 1 },
            ],
        }],
        crossings: if crossed {
            vec![Crossing {
                line: "main".into(),
                direction: "in".into(),
                track_id: 1,
                class: "car".into(),
                ..Default::default()
            }]
        } else {
            vec![]
        },
        zones: vec![],
        zone_events: vec![],
    }
}

fn bytes(buffer: &gst::Buffer) -> Vec<u8> {
    buffer.map_readable().unwrap().to_vec()
}

/// The bytes of pixel (x, y) on the first plane (the luma of YUV frames).
fn pixel(info: &gst_video::VideoInfo, data: &[u8], x: u32, y: u32) -> Vec<u8> {
    let bpp = info.format_info().pixel_stride()[0] as usize;
    let o = info.offset()[0] + y as usize * info.stride()[0] as usize + x as usize * bpp;
    data[o..o + bpp].to_vec()
}

/// Runs one frame through and returns (input bytes, output bytes).
fn through(h: &mut Harness, buffer: gst::Buffer) -> (Vec<u8>, Vec<u8>) {
    let before = bytes(&buffer);
    let out = h.push_and_pull(buffer).expect("a frame out");
    (before, bytes(&out))
}

#[test]
fn a_car_box_is_drawn_in_every_format() {
    for format in FORMATS {
        let info = info(format, 640, 360);
        let mut h = harness(&info, &[off("show-fps")]);
        let mut buffer = blank(&info, 0);
        add_car(buffer.get_mut().unwrap(), &info, &car_box(200.0, 150.0, 400.0, 260.0), 7);
        let (before, after) = through(&mut h, buffer);
        let px = |data: &[u8], x, y| pixel(&info, data, x, y);
        // The outline, on all four sides.
        for (x, y) in [(200, 200), (400, 200), (300, 150), (300, 260)] {
            assert_ne!(px(&before, x, y), px(&after, x, y), "{format:?}: edge ({x},{y})");
        }
        // The label sits above the box.
        let label_changed = (200..300).any(|x| px(&before, x, 140) != px(&after, x, 140));
        assert!(label_changed, "{format:?}: label above the box");
        // Inside the box and far from it nothing changes.
        for (x, y) in [(300, 205), (50, 300), (600, 20), (500, 330)] {
            assert_eq!(px(&before, x, y), px(&after, x, y), "{format:?}: ({x},{y}) untouched");
        }
    }
}

const FORMATS: [VideoFormat; 8] = [
    VideoFormat::Rgb,
    VideoFormat::Bgr,
    VideoFormat::Rgbx,
    VideoFormat::Bgrx,
    VideoFormat::Rgba,
    VideoFormat::Bgra,
    VideoFormat::I420,
    VideoFormat::Nv12,
];

/// The background of the frames compared across formats: a colour with chroma, so that a
/// misplaced chroma write shows.
const BACKGROUND: [u8; 3] = [90, 120, 60];
/// What the padding between rows and planes holds; the overlay must never write there.
const PADDING: u8 = 0xA5;

/// The frame's own Y'CbCr conversion, as the overlay reads it from the caps.
fn yuv_conversion(info: &gst_video::VideoInfo) -> traffic_vision::draw::RgbToYuv {
    let matrix = match info.colorimetry().matrix() {
        gst_video::VideoColorMatrix::Bt709 => traffic_vision::YuvMatrix::Bt709,
        _ => traffic_vision::YuvMatrix::Bt601,
    };
    let full = info.colorimetry().range() == gst_video::VideoColorRange::Range0_255;
    traffic_vision::draw::RgbToYuv::inverse_of(&traffic_vision::frame::YuvToRgb::new(matrix, full))
}

/// A plane's layout in a padded buffer: offset, stride, rows.
#[derive(Clone, Copy, Debug)]
struct PlaneLayout {
    offset: usize,
    stride: usize,
    rows: usize,
}

/// Planes as a decoder with padded rows lays them out (avdec does at 320x240): each row 70
/// bytes past the caps' stride and each plane 24 bytes after the previous one, described by a
/// VideoMeta on the buffer.
fn padded_layout(info: &gst_video::VideoInfo) -> Vec<PlaneLayout> {
    let (h, ch) = (info.height() as usize, (info.height() as usize).div_ceil(2));
    let mut offset = 24;
    (0..info.n_planes() as usize)
        .map(|p| {
            let plane =
                PlaneLayout { offset, stride: info.stride()[p] as usize + 70, rows: if p == 0 { h } else { ch } };
            offset += plane.stride * plane.rows + 24;
            plane
        })
        .collect()
}

/// A frame in `BACKGROUND`, with the padded layout of [`padded_layout`] and `PADDING` in every
/// byte outside the pixels.
fn padded_frame(info: &gst_video::VideoInfo, layout: &[PlaneLayout]) -> gst::Buffer {
    let last = layout.last().unwrap();
    let mut data = vec![PADDING; last.offset + last.stride * last.rows + 24];
    let (w, h) = (info.width() as usize, info.height() as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let mut put = |p: usize, x: usize, y: usize, v: u8| data[layout[p].offset + y * layout[p].stride + x] = v;
    match info.format() {
        VideoFormat::I420 | VideoFormat::Nv12 => {
            let yuv = yuv_conversion(info).convert(BACKGROUND[0], BACKGROUND[1], BACKGROUND[2]);
            for y in 0..h {
                (0..w).for_each(|x| put(0, x, y, yuv[0]));
            }
            for y in 0..ch {
                for x in 0..cw {
                    if info.format() == VideoFormat::Nv12 {
                        put(1, 2 * x, y, yuv[1]);
                        put(1, 2 * x + 1, y, yuv[2]);
                    } else {
                        put(1, x, y, yuv[1]);
                        put(2, x, y, yuv[2]);
                    }
                }
            }
        }
        _ => {
            let f = info.format_info();
            let bpp = f.pixel_stride()[0] as usize;
            for y in 0..h {
                for x in 0..w {
                    (0..bpp).for_each(|k| put(0, x * bpp + k, y, 0xFF));
                    for (c, &v) in BACKGROUND.iter().enumerate() {
                        put(0, x * bpp + f.poffset()[c] as usize, y, v);
                    }
                }
            }
        }
    }
    let mut buffer = gst::Buffer::from_mut_slice(data);
    {
        let b = buffer.get_mut().unwrap();
        b.set_pts(gst::ClockTime::ZERO);
        let offsets: Vec<usize> = layout.iter().map(|p| p.offset).collect();
        let strides: Vec<i32> = layout.iter().map(|p| p.stride as i32).collect();
        gst_video::VideoMeta::add_full(
            b,
            gst_video::VideoFrameFlags::empty(),
            info.format(),
            info.width(),
            info.height(),
            &offsets,
            &strides,
        )
        .expect("video meta");
    }
    buffer
}

/// Every kind of thing the overlay draws, placed in fractions of the frame: a tracked car with
/// its plate, an untracked truck, a counting line that a car just crossed, the counts panel
/// and a zone.
fn add_everything(b: &mut gst::BufferRef, info: &gst_video::VideoInfo) {
    let (w, h) = (info.width() as f64, info.height() as f64);
    let at = |x1: f64, y1: f64, x2: f64, y2: f64| car_box(x1 * w, y1 * h, x2 * w, y2 * h);
    let car = add_car(b, info, &at(0.21, 0.33, 0.55, 0.71), 7);
    let plate = traffic_meta::add_plate_box(b, size_of(info), &at(0.33, 0.6, 0.43, 0.66), car);
    let text = Plate { text: "AB12".into(), confidence: 0.6, track_text: "AB123".into(), track_confidence: 0.8 };
    traffic_meta::set_plate(b, plate, &text);
    let truck = Detection { label: "truck".into(), label_id: 7, ..at(0.63, 0.11, 0.93, 0.43) };
    traffic_meta::add_detection(b, size_of(info), &truck, NO_PARENT);
    let mut counts = counts(w, 0.83 * h, true);
    counts.zones.push(traffic_meta::ZoneState {
        name: "lot".into(),
        points: vec![(0.6 * w, 0.55 * h), (0.95 * w, 0.5 * h), (0.9 * w, 0.95 * h), (0.62 * w, 0.9 * h)],
        occupants: vec![traffic_meta::ZoneOccupant { track_id: 3, class: "car".into(), dwell: 12.0 }],
        entries: vec![("car".into(), 1)],
    });
    traffic_meta::set_counts(b, &counts);
}

/// The overlay's output of [`add_everything`] on a padded frame of `info`, and its layout.
fn render_everything(info: &gst_video::VideoInfo) -> (Vec<u8>, Vec<PlaneLayout>) {
    let layout = padded_layout(info);
    let mut h = harness(info, &[off("show-fps")]);
    let mut buffer = padded_frame(info, &layout);
    add_everything(buffer.get_mut().unwrap(), info);
    let out = h.push_and_pull(buffer).expect("a frame out");
    (bytes(&out), layout)
}

/// Every format, at sizes small, odd, common and large, with rows padded as decoders pad them,
/// draws what RGB draws: packed formats the same bytes, planar YUV the same luma (within
/// rounding) and, per 2x2 block, a chroma within the range of the RGB render's chroma in that
/// block (anti-aliasing and subsampling are the only differences). No padding byte changes.
#[test]
fn every_format_and_size_renders_what_rgb_renders() {
    for (w, h) in [(320, 240), (640, 352), (641, 353), (1920, 1080), (7, 5)] {
        let rgb_info = info(VideoFormat::Rgb, w, h);
        let (rgb, rgb_layout) = render_everything(&rgb_info);
        let reference = |x: usize, y: usize| {
            let o = rgb_layout[0].offset + y * rgb_layout[0].stride + 3 * x;
            [rgb[o], rgb[o + 1], rgb[o + 2]]
        };
        let (w, h) = (w as usize, h as usize);
        let background =
            (0..h).flat_map(|y| (0..w).map(move |x| (x, y))).filter(|&(x, y)| reference(x, y) == BACKGROUND);
        assert!(background.count() < w * h, "{w}x{h}: the RGB render draws something");
        for format in FORMATS {
            let info = info(format, w as u32, h as u32);
            let (out, layout) = render_everything(&info);
            let what = format!("{format:?} {w}x{h}");
            // Nothing outside the pixels changed.
            let mut inside = vec![false; out.len()];
            let row_bytes = |p: usize| match format {
                VideoFormat::I420 if p > 0 => w.div_ceil(2),
                VideoFormat::Nv12 if p > 0 => 2 * w.div_ceil(2),
                _ => w * info.format_info().pixel_stride()[0] as usize,
            };
            for (p, plane) in layout.iter().enumerate() {
                for y in 0..plane.rows {
                    let start = plane.offset + y * plane.stride;
                    inside[start..start + row_bytes(p)].iter_mut().for_each(|b| *b = true);
                }
            }
            let outside_changed = out.iter().zip(&inside).filter(|(&b, &i)| !i && b != PADDING).count();
            assert_eq!(outside_changed, 0, "{what}: padding bytes written");
            let at = |p: usize, x: usize, y: usize| out[layout[p].offset + y * layout[p].stride + x];
            match format {
                VideoFormat::I420 | VideoFormat::Nv12 => {
                    let to_yuv = yuv_conversion(&info);
                    let background = to_yuv.convert(BACKGROUND[0], BACKGROUND[1], BACKGROUND[2]);
                    let want = |x: usize, y: usize| {
                        let [r, g, b] = reference(x, y);
                        to_yuv.convert(r, g, b)
                    };
                    for y in 0..h {
                        for x in 0..w {
                            let (got, want) = (at(0, x, y) as i32, want(x, y)[0] as i32);
                            assert!((got - want).abs() <= 2, "{what}: luma at ({x},{y}) is {got}, RGB draws {want}");
                        }
                    }
                    for cy in 0..h.div_ceil(2) {
                        for cx in 0..w.div_ceil(2) {
                            let got = match format {
                                VideoFormat::Nv12 => [at(1, 2 * cx, cy), at(1, 2 * cx + 1, cy)],
                                _ => [at(1, cx, cy), at(2, cx, cy)],
                            };
                            // The block's pixels, and those around it.
                            let pixels = |margin: usize| -> Vec<[u8; 3]> {
                                let (y0, x0) = ((2 * cy).saturating_sub(margin), (2 * cx).saturating_sub(margin));
                                let (y1, x1) = ((2 * cy + 2 + margin).min(h), (2 * cx + 2 + margin).min(w));
                                (y0..y1).flat_map(|y| (x0..x1).map(move |x| (x, y))).map(|(x, y)| want(x, y)).collect()
                            };
                            let block = pixels(0);
                            let uniform = block.iter().all(|c| c[1..] == block[0][1..]);
                            // A block the RGB render paints in one colour has that chroma. One
                            // with edges in it may fall anywhere between the colours drawn
                            // there and the one under them: each shape blends its share of the
                            // block in turn, and a shape covering part of it shows its own
                            // colour whole only in the pixels around.
                            let near = if uniform { block.clone() } else { pixels(2) };
                            for (k, got) in got.into_iter().enumerate() {
                                let under = [background[k + 1]].into_iter().filter(|_| !uniform);
                                let chroma: Vec<i32> =
                                    near.iter().map(|c| c[k + 1]).chain(under).map(i32::from).collect();
                                let (lo, hi) = (*chroma.iter().min().unwrap(), *chroma.iter().max().unwrap());
                                assert!(
                                    (lo - 2..=hi + 2).contains(&(got as i32)),
                                    "{what}: chroma {k} of block ({cx},{cy}) is {got}, RGB draws {lo}..={hi} ({block:?})"
                                );
                            }
                        }
                    }
                }
                _ => {
                    let f = info.format_info();
                    let bpp = f.pixel_stride()[0] as usize;
                    for y in 0..h {
                        for x in 0..w {
                            let got: [u8; 3] = std::array::from_fn(|c| at(0, x * bpp + f.poffset()[c] as usize, y));
                            assert_eq!(got, reference(x, y), "{what}: pixel ({x},{y})");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn yuv_box_colour_is_the_class_colour() {
    // The car's colour drawn on I420 reads back, through BT.601 limited range, as itself.
    let info = info(VideoFormat::I420, 640, 360);
    let mut h = harness(&info, &[off("show-fps"), off("show-labels")]);
    let mut buffer = blank(&info, 0);
    add_car(buffer.get_mut().unwrap(), &info, &car_box(101.0, 100.0, 301.0, 250.0), 1);
    let (_, after) = through(&mut h, buffer);
    // The outline is 2 px wide at 640x360, centred on the edge: luma columns 100 and 101,
    // which make chroma column 50 whole; chroma row 62 is luma rows 124 and 125.
    let plane = |p: usize, x: usize, y: usize| after[info.offset()[p] + y * info.stride()[p] as usize + x] as f32;
    let conv = traffic_vision::frame::YuvToRgb::new(traffic_vision::YuvMatrix::Bt601, false);
    let got = conv.convert(plane(0, 100, 125), plane(1, 50, 62), plane(2, 50, 62));
    let c = traffic_vision::draw::class_color("car");
    for (k, want) in [c.r, c.g, c.b].into_iter().enumerate() {
        assert!((got[k] - want as f32).abs() <= 6.0, "read back {got:?}, drew {c:?}");
    }
}

#[test]
fn all_switches_off_leave_the_frame_untouched() {
    for format in [VideoFormat::Rgbx, VideoFormat::I420] {
        let info = info(format, 320, 240);
        let props: Vec<_> = SWITCHES.iter().map(|s| off(s)).collect();
        let mut h = harness(&info, &props);
        for i in 0..3 {
            let mut buffer = blank(&info, i);
            {
                let b = buffer.get_mut().unwrap();
                let car = add_car(b, &info, &car_box(20.0, 30.0, 200.0, 150.0), 1);
                let plate = traffic_meta::add_plate_box(b, size_of(&info), &car_box(80.0, 120.0, 120.0, 135.0), car);
                let text =
                    Plate { text: "AB123".into(), confidence: 0.9, track_text: "AB123".into(), track_confidence: 0.9 };
                traffic_meta::set_plate(b, plate, &text);
                traffic_meta::set_counts(b, &counts(320.0, 200.0, true));
            }
            let (before, after) = through(&mut h, buffer);
            assert!(before == after, "{format:?}: frame {i} changed");
        }
    }
}

#[test]
fn a_frame_without_objects_and_fps_off_is_untouched() {
    let info = info(VideoFormat::Nv12, 320, 240);
    let mut h = harness(&info, &[off("show-fps")]);
    for i in 0..3 {
        let (before, after) = through(&mut h, blank(&info, i));
        assert!(before == after, "frame {i} changed");
    }
}

#[test]
fn fps_is_drawn_in_the_top_right_corner() {
    let info = info(VideoFormat::Rgb, 320, 240);
    let mut h = harness(&info, &[]);
    let (before, after) = through(&mut h, blank(&info, 0));
    let changed = |x0: u32, x1: u32, y0: u32, y1: u32| {
        (y0..y1).any(|y| (x0..x1).any(|x| pixel(&info, &before, x, y) != pixel(&info, &after, x, y)))
    };
    assert!(changed(220, 320, 0, 30), "FPS box top right");
    assert!(!changed(0, 320, 60, 240), "nothing else");
}

#[test]
fn plates_lines_and_counts_are_drawn() {
    let info = info(VideoFormat::Bgrx, 640, 360);
    let mut h = harness(&info, &[off("show-fps"), off("show-boxes"), off("show-labels")]);
    let mut buffer = blank(&info, 0);
    {
        let b = buffer.get_mut().unwrap();
        let car = add_car(b, &info, &car_box(300.0, 100.0, 500.0, 200.0), 4);
        let plate = traffic_meta::add_plate_box(b, size_of(&info), &car_box(380.0, 170.0, 420.0, 185.0), car);
        let text = Plate { text: "AB12".into(), confidence: 0.6, track_text: "AB123".into(), track_confidence: 0.8 };
        traffic_meta::set_plate(b, plate, &text);
        traffic_meta::set_counts(b, &counts(640.0, 300.0, false));
    }
    let (before, after) = through(&mut h, buffer);
    let changed = |x0: u32, x1: u32, y0: u32, y1: u32| {
        (y0..y1).any(|y| (x0..x1).any(|x| pixel(&info, &before, x, y) != pixel(&info, &after, x, y)))
    };
    assert!(changed(370, 430, 201, 225), "plate text under the car");
    assert!(changed(0, 100, 299, 302), "the counting line");
    assert!(changed(5, 60, 5, 40), "the counts panel");
    assert!(!changed(305, 495, 105, 160), "no box: inside the car untouched");
}

#[test]
fn zones_are_outlined_with_their_occupancy() {
    let info = info(VideoFormat::Rgbx, 640, 360);
    let zone = traffic_meta::ZoneState {
        name: "lot".into(),
        points: vec![(100.0, 100.0), (400.0, 100.0), (400.0, 300.0), (100.0, 300.0)],
        occupants: vec![traffic_meta::ZoneOccupant { track_id: 3, class: "car".into(), dwell: 42.0 }],
        entries: vec![("car".into(), 1)],
    };
    let frame_with_zone = |i| {
        let mut buffer = blank(&info, i);
        let counts = Counts { zones: vec![zone.clone()], ..Counts::default() };
        traffic_meta::set_counts(buffer.get_mut().unwrap(), &counts);
        buffer
    };
    let mut h = harness(&info, &[off("show-fps"), off("show-counts")]);
    let (before, after) = through(&mut h, frame_with_zone(0));
    let changed = |x0: u32, x1: u32, y0: u32, y1: u32| {
        (y0..y1).any(|y| (x0..x1).any(|x| pixel(&info, &before, x, y) != pixel(&info, &after, x, y)))
    };
    assert!(changed(150, 350, 298, 302), "bottom edge");
    assert!(changed(398, 402, 150, 250), "right edge");
    assert!(changed(150, 350, 60, 99) || changed(150, 350, 101, 140), "the label by the first edge");
    assert!(!changed(150, 350, 160, 240), "the inside stays clear");
    let mut h = harness(&info, &[off("show-fps"), off("show-counts"), off("show-lines")]);
    let (before, after) = through(&mut h, frame_with_zone(1));
    assert!(before == after, "show-lines=false hides the zones");
}

#[test]
fn trails_follow_a_moving_track_and_switch_at_runtime() {
    let info = info(VideoFormat::I420, 640, 360);
    let mut h = harness(&info, &[off("show-fps"), off("show-boxes"), off("show-labels")]);
    let mut last = (vec![], vec![]);
    for i in 0..12u64 {
        let x = 100.0 + 20.0 * i as f64;
        let mut buffer = blank(&info, i);
        add_car(buffer.get_mut().unwrap(), &info, &car_box(x, 150.0, x + 80.0, 220.0), 9);
        last = through(&mut h, buffer);
    }
    let (before, after) = &last;
    // Bottom centres ran from x 140 to 360 along y 220: the trail lies on that path.
    for x in [200, 260, 320] {
        assert_ne!(pixel(&info, before, x, 220), pixel(&info, after, x, 220), "trail at x {x}");
    }
    assert_eq!(pixel(&info, before, 260, 180), pixel(&info, after, 260, 180), "no box drawn");
    // Switched off while playing: the next frame is untouched.
    h.element().unwrap().set_property("show-tracks", false);
    let mut buffer = blank(&info, 12);
    add_car(buffer.get_mut().unwrap(), &info, &car_box(340.0, 150.0, 420.0, 220.0), 9);
    let (before, after) = through(&mut h, buffer);
    assert!(before == after);
    // And the boxes back on.
    h.element().unwrap().set_property("show-boxes", true);
    let mut buffer = blank(&info, 13);
    add_car(buffer.get_mut().unwrap(), &info, &car_box(360.0, 150.0, 440.0, 220.0), 9);
    let (before, after) = through(&mut h, buffer);
    assert!(before != after);
}

#[test]
fn odd_sizes_and_wild_boxes_do_not_crash() {
    for format in [VideoFormat::I420, VideoFormat::Nv12, VideoFormat::Rgb, VideoFormat::Bgra] {
        for (w, hgt) in [(321, 241), (1, 1), (3, 5), (17, 9)] {
            let info = info(format, w, hgt);
            let mut h = harness(&info, &[("font-scale", 3.0f64.to_value())]);
            for i in 0..3 {
                let mut buffer = blank(&info, i);
                {
                    let b = buffer.get_mut().unwrap();
                    let (fw, fh) = (w as f64, hgt as f64);
                    add_car(b, &info, &car_box(-50.0, -50.0, fw + 50.0, fh + 50.0), 1);
                    add_car(b, &info, &car_box(fw - 1.0, fh - 1.0, fw, fh), 2);
                    add_car(b, &info, &car_box(fw * 0.3, fh * 0.3, fw * 0.6, fh * 0.7), 3);
                    let car = add_car(b, &info, &car_box(0.0, 0.0, 0.5, 0.5), 4);
                    let plate = traffic_meta::add_plate_box(b, size_of(&info), &car_box(0.0, 0.0, fw, fh), car);
                    let text =
                        Plate { text: "X".into(), confidence: 0.5, track_text: String::new(), track_confidence: 0.0 };
                    traffic_meta::set_plate(b, plate, &text);
                    traffic_meta::set_counts(b, &counts(fw * 3.0, fh - 0.5, i == 1));
                }
                let out = h.push_and_pull(buffer).expect("a frame out");
                assert_eq!(out.size(), info.size());
            }
        }
    }
}

#[test]
fn properties_are_documented_and_have_their_defaults() {
    init();
    let element = gst::ElementFactory::make("overlay").build().unwrap();
    for name in SWITCHES {
        let pspec = element.find_property(name).unwrap();
        assert!(pspec.blurb().is_some_and(|b| b.len() > 20), "{name}");
        assert!(element.property::<bool>(name), "{name} defaults to on");
        assert!(pspec.flags().contains(glib::ParamFlags::WRITABLE));
    }
    assert_eq!(element.property::<u32>("trail-length"), 30);
    assert_eq!(element.property::<f64>("font-scale"), 1.0);
}

/// A mapped frame as RGB pixels, row-major, read through its own layout (VideoMeta included).
fn rgb_pixels(buffer: &gst::BufferRef, info: &gst_video::VideoInfo) -> Vec<[u8; 3]> {
    use gst_video::prelude::*;
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, info).expect("map the frame");
    let layout = frame.info().clone();
    let (w, h) = (info.width() as usize, info.height() as usize);
    let stride = |p: usize| layout.stride()[p] as usize;
    let plane = |p: u32| frame.plane_data(p).expect("plane");
    let matrix = match info.colorimetry().matrix() {
        gst_video::VideoColorMatrix::Bt709 => traffic_vision::YuvMatrix::Bt709,
        _ => traffic_vision::YuvMatrix::Bt601,
    };
    let full = info.colorimetry().range() == gst_video::VideoColorRange::Range0_255;
    let to_rgb = traffic_vision::frame::YuvToRgb::new(matrix, full);
    let yuv = |y: u8, u: u8, v: u8| to_rgb.convert(y as f32, u as f32, v as f32).map(|c| c.round() as u8);
    let mut out = Vec::with_capacity(w * h);
    for y in 0..h {
        for x in 0..w {
            out.push(match info.format() {
                VideoFormat::I420 => {
                    let c = (y / 2) * stride(1) + x / 2;
                    yuv(plane(0)[y * stride(0) + x], plane(1)[c], plane(2)[(y / 2) * stride(2) + x / 2])
                }
                VideoFormat::Nv12 => {
                    let c = (y / 2) * stride(1) + 2 * (x / 2);
                    yuv(plane(0)[y * stride(0) + x], plane(1)[c], plane(1)[c + 1])
                }
                _ => {
                    let f = info.format_info();
                    let o = y * stride(0) + x * f.pixel_stride()[0] as usize;
                    std::array::from_fn(|c| plane(0)[o + f.poffset()[c] as usize])
                }
            });
        }
    }
    out
}

/// What the overlay got on one frame: its pixels and metadata, and the recent anchors of each
/// track (the trails it may draw).
struct OverlayInput {
    pixels: Vec<[u8; 3]>,
    objects: Vec<Object>,
    counts: Option<Counts>,
    trails: Vec<Vec<(f64, f64)>>,
}

/// A pixel rectangle `[x0, x1) x [y0, y1)`.
type Area = [f64; 4];

fn close(a: [u8; 3], b: [u8; 3], tolerance: i32) -> bool {
    a.iter().zip(&b).all(|(&a, &b)| (a as i32 - b as i32).abs() <= tolerance)
}

/// Checks one overlay output against what its metadata says must be drawn: each box's left,
/// right and bottom edges in its class colour; a label in the class colour with text in it by
/// each box; nothing changed outside the places boxes, labels, plates, trails, lines, the counts
/// panel and the FPS may take. Returns what is wrong.
fn check_drawing(
    input: &OverlayInput,
    output: &[[u8; 3]],
    w: usize,
    h: usize,
    matrix: gst_video::VideoColorMatrix,
) -> Vec<String> {
    let (kr, kb) = if matrix == gst_video::VideoColorMatrix::Bt709 { (0.2126, 0.0722) } else { (0.299, 0.114) };
    let luma = |p: [u8; 3]| kr * p[0] as f64 + (1.0 - kr - kb) * p[1] as f64 + kb * p[2] as f64;
    let mut wrong = Vec::new();
    let (wf, hf) = (w as f64, h as f64);
    // The overlay's sizes (traffic-vision draw::scene Metrics), rounded up.
    let line = ((wf + hf) * 0.5 * 0.003).round().max(2.0);
    let px = (wf.min(hf) * 0.024).max(12.0);
    let text_h = 2.0 * px;
    let at = |x: f64, y: f64| (y as usize).min(h - 1) * w + (x as usize).min(w - 1);
    let mut allowed: Vec<Area> = Vec::new();
    let vehicles: Vec<&Object> = input.objects.iter().filter(|o| !o.is_plate()).collect();
    let (mut edges_ok, mut edges_all, mut labelled, mut labelled_boxes) = (0usize, 0usize, 0usize, 0usize);
    for o in &vehicles {
        let b = &o.bbox;
        let class = o.track.as_ref().map_or_else(|| o.label(), |t| t.label.as_str());
        let c = traffic_vision::draw::class_color(class);
        let colour = [c.r, c.g, c.b];
        let room = (2.0 * b.width()).max(3.0 * px);
        let left = b.x1.min(wf - room) - line - 1.0;
        allowed.push([
            left,
            b.y1 - line - text_h - 1.0,
            b.x2.max(b.x1 + room) + line + 1.0,
            b.y2 + line + 2.5 * text_h,
        ]);
        let inside = b.x1 >= line && b.y1 >= line && b.x2 + line < wf && b.y2 + line < hf;
        if !inside || b.width() < 6.0 * line || b.height() < 6.0 * line {
            continue;
        }
        // Edges sampled away from the corners, on the rounded edge: the outline covers it
        // whatever its width.
        let predicted = o.track.as_ref().is_some_and(|t| t.predicted);
        let samples: Vec<(f64, f64)> = (1..10)
            .flat_map(|k| {
                let (fx, fy) = (b.x1 + b.width() * k as f64 / 10.0, b.y1 + b.height() * k as f64 / 10.0);
                [(b.x1.round(), fy), (b.x2.round(), fy), (fx, b.y2.round())]
            })
            .collect();
        // By luma: a 2 px edge at an odd column shares its chroma blocks with the video.
        let hits = samples.iter().filter(|&&(x, y)| (luma(output[at(x, y)]) - luma(colour)).abs() <= 16.0).count();
        if !predicted {
            edges_ok += hits;
            edges_all += samples.len();
        } else if hits == 0 {
            wrong.push(format!("no dashed edge of predicted {class} box {:?}", [b.x1, b.y1, b.x2, b.y2]));
        }
        // The label: above the box, inside its top or below it, in the class colour, with
        // text in it.
        labelled_boxes += 1;
        let band = [left, (b.y1 - line - text_h).max(0.0), b.x1 + room + line, (b.y2 + line + text_h).min(hf)];
        // Dark text on a bright label, white on a dark one.
        let fg = if c.brightness() > 150.0 { [0, 0, 0] } else { [255, 255, 255] };
        let mut label_px = Vec::new();
        for y in band[1] as usize..band[3] as usize {
            for x in band[0].max(0.0) as usize..(band[2] as usize).min(w) {
                let (before, after) = (input.pixels[y * w + x], output[y * w + x]);
                // A predicted box's label is translucent: any change is its own.
                let in_colour =
                    if predicted { before != after } else { close(after, colour, 30) && !close(before, colour, 30) };
                if in_colour {
                    label_px.push((x, y));
                }
            }
        }
        let (x0, x1) = (label_px.iter().map(|p| p.0).min(), label_px.iter().map(|p| p.0).max());
        let (y0, y1) = (label_px.iter().map(|p| p.1).min(), label_px.iter().map(|p| p.1).max());
        if let (Some(x0), Some(x1), Some(y0), Some(y1)) = (x0, x1, y0, y1) {
            let text_px = (y0..=y1)
                .flat_map(|y| (x0..=x1).map(move |x| (x, y)))
                .filter(|&(x, y)| close(output[y * w + x], fg, 40))
                .count();
            if text_px >= 8 {
                labelled += 1;
            }
        }
    }
    if edges_all > 0 && (edges_ok as f64) < 0.8 * edges_all as f64 {
        wrong.push(format!("only {edges_ok} of {edges_all} box edge samples are in the box's class colour"));
    }
    if (labelled as f64) < 0.7 * labelled_boxes as f64 {
        wrong.push(format!("labels with text found by {labelled} of {labelled_boxes} boxes"));
    }
    for trail in &input.trails {
        for p in trail {
            allowed.push([p.0 - 2.0 * line, p.1 - 2.0 * line, p.0 + 2.0 * line, p.1 + 2.0 * line]);
        }
        for seg in trail.windows(2) {
            let (a, b) = (seg[0], seg[1]);
            allowed.push([
                a.0.min(b.0) - 2.0 * line,
                a.1.min(b.1) - 2.0 * line,
                a.0.max(b.0) + 2.0 * line,
                a.1.max(b.1) + 2.0 * line,
            ]);
        }
    }
    let mut panel_rows = 0;
    if let Some(counts) = &input.counts {
        for l in &counts.lines {
            let my = (l.start.1 + l.end.1) * 0.5;
            let reach = 2.0 * line + 2.0;
            allowed.push([
                l.start.0.min(l.end.0) - reach,
                l.start.1.min(l.end.1) - reach,
                l.start.0.max(l.end.0) + reach,
                l.start.1.max(l.end.1) + reach,
            ]);
            allowed.push([0.0, my - text_h - 2.0 * line, wf, my + text_h + 2.0 * line]);
            let classes: std::collections::BTreeSet<&str> = l.totals.iter().map(|t| t.class.as_str()).collect();
            panel_rows += 2 + classes.len();
        }
    }
    // The counts panel in the top-left corner, the FPS in the top-right one.
    allowed.push([0.0, 0.0, wf * 0.6, 2.0 * line + panel_rows as f64 * 1.5 * px + px]);
    allowed.push([wf * 0.4, 0.0, wf, 3.0 * line + text_h]);
    let mut stray = 0;
    let mut first = None;
    for y in 0..h {
        for x in 0..w {
            if input.pixels[y * w + x] == output[y * w + x] {
                continue;
            }
            // A pixel beside a drawn one shares its chroma block.
            let (xf, yf) = (x as f64, y as f64);
            if !allowed.iter().any(|a| xf >= a[0] - 2.0 && xf < a[2] + 2.0 && yf >= a[1] - 2.0 && yf < a[3] + 2.0) {
                stray += 1;
                first.get_or_insert((x, y));
            }
        }
    }
    if stray > 0 {
        wrong.push(format!("{stray} pixels changed where nothing is to be drawn, the first at {first:?}"));
    }
    wrong
}

/// One output of [`screenshots`]: the size in the file names, the elements that scale the
/// decoded frame (before the detector: videoscale in GStreamer 1.22 keeps the ROI rectangles
/// but drops their params, class, confidence and track), the detector's options, the frames
/// to write (counted from 1).
struct Shot {
    size: &'static str,
    scale: &'static str,
    detector: &'static str,
    frames: &'static [u64],
}

/// Renders the residential clip through detector, tracker, counter (when registered) and
/// overlay, checks each chosen frame against its metadata ([`check_drawing`]) and writes it as
/// `out/overlay-<size>-<n>.png`, to be looked at too: readable labels, distinct colours, no
/// clutter. A plate read is added to the largest tracked vehicle (no plate reader runs here),
/// to show plate labels too.
fn screenshots(shots: &[Shot]) {
    init();
    let Some(video) = shared_data("videos/ahmetozlu_residential_street.mp4") else { return };
    weight("yolov8n.onnx");
    let out = repo_root().join("out");
    std::fs::create_dir_all(&out).expect("out/");
    let counter = if gst::ElementFactory::find("linecounter").is_some() {
        "linecounter lines=street:0.25,0.62,0.98,0.62:down/up ! "
    } else {
        eprintln!("linecounter not registered: screenshots without counting lines");
        ""
    };
    let mut launch = format!("filesrc location={} ! decodebin ! tee name=t ", video.display());
    for (i, shot) in shots.iter().enumerate() {
        let name = format!("overlay-{}", shot.size);
        for f in std::fs::read_dir(&out).unwrap().flatten() {
            if f.file_name().to_string_lossy().starts_with(&format!("{name}-")) {
                std::fs::remove_file(f.path()).ok();
            }
        }
        launch += &format!(
            "t. ! queue name=q{i} max-size-buffers=30 ! {}yolodetect {} ! mottracker ! {counter}overlay name=o{i} ! \
             videoconvert ! pngenc ! multifilesink sync=false async=false location={}/{name}-%d.png ",
            shot.scale,
            shot.detector,
            out.display()
        );
    }
    let pipeline = gst::parse::launch(&launch).expect("launch").downcast::<gst::Bin>().unwrap();
    let failures = std::sync::Arc::new(Mutex::new(Vec::<String>::new()));
    let checked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for (i, shot) in shots.iter().enumerate() {
        let keep = shot.frames;
        let last = *keep.iter().max().unwrap();
        let overlay = pipeline.by_name(&format!("o{i}")).unwrap();
        // What the overlay got on the kept frames, checked against what it made of them.
        let inputs = std::sync::Arc::new(Mutex::new(HashMap::<u64, OverlayInput>::new()));
        let (inputs_in, inputs_out) = (inputs.clone(), inputs.clone());
        // Frames seen, and each track's recent anchors.
        let seen = Mutex::new((0u64, HashMap::<u64, Vec<(f64, f64)>>::new()));
        overlay.static_pad("sink").unwrap().add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            let video = pad.current_caps().and_then(|c| gst_video::VideoInfo::from_caps(&c).ok());
            let (Some(video), Some(buffer)) = (video, info.buffer_mut()) else { return gst::PadProbeReturn::Ok };
            let buffer = buffer.make_mut();
            add_plate_to_largest(buffer, size_of(&video));
            let mut seen = seen.lock().unwrap();
            seen.0 += 1;
            let (frame_in, anchors) = (seen.0, &mut seen.1);
            let objects = traffic_meta::objects(buffer, size_of(&video));
            for o in objects.iter().filter(|o| !o.is_plate()) {
                if let Some(t) = &o.track {
                    let trail = anchors.entry(t.id).or_default();
                    trail.push(((o.bbox.x1 + o.bbox.x2) * 0.5, o.bbox.y2));
                    let excess = trail.len().saturating_sub(30);
                    trail.drain(..excess);
                }
            }
            if keep.contains(&frame_in) {
                let trails = objects
                    .iter()
                    .filter_map(|o| o.track.as_ref())
                    .filter_map(|t| anchors.get(&t.id).cloned())
                    .collect();
                let input = OverlayInput {
                    pixels: rgb_pixels(buffer, &video),
                    counts: traffic_meta::counts(buffer),
                    objects,
                    trails,
                };
                inputs_in.lock().unwrap().insert(frame_in, input);
            }
            gst::PadProbeReturn::Ok
        });
        let failures = failures.clone();
        let checked = checked.clone();
        let frames_out = std::sync::atomic::AtomicU64::new(0);
        overlay.static_pad("src").unwrap().add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            let frame_out = frames_out.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            let video = pad.current_caps().and_then(|c| gst_video::VideoInfo::from_caps(&c).ok());
            let input = inputs_out.lock().unwrap().remove(&frame_out);
            if let (Some(video), Some(buffer), Some(input)) = (video, info.buffer(), input) {
                let output = rgb_pixels(buffer, &video);
                let (w, h) = (video.width() as usize, video.height() as usize);
                for wrong in check_drawing(&input, &output, w, h, video.colorimetry().matrix()) {
                    failures.lock().unwrap().push(format!("{}x{h} frame {frame_out}: {wrong}", w));
                }
                checked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            gst::PadProbeReturn::Ok
        });
        // Once a branch has written its frames, it drops the rest before its detector.
        let finished = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let skip = finished.clone();
        let queue = pipeline.by_name(&format!("q{i}")).unwrap();
        queue.static_pad("src").unwrap().add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            if skip.load(std::sync::atomic::Ordering::Relaxed) {
                gst::PadProbeReturn::Drop
            } else {
                gst::PadProbeReturn::Ok
            }
        });
        let count = std::sync::atomic::AtomicU64::new(0);
        overlay.static_pad("src").unwrap().add_probe(gst::PadProbeType::BUFFER, move |pad, _| {
            let frame = count.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if frame == last + 2 {
                finished.store(true, std::sync::atomic::Ordering::Relaxed);
                // Frames go down to the file sink in this thread: the kept ones are written.
                if let Some(element) = pad.parent_element() {
                    let s = gst::Structure::builder("screenshots-done").field("branch", i as u32).build();
                    let _ = element.post_message(gst::message::Application::builder(s).src(&element).build());
                }
            }
            if keep.contains(&frame) {
                gst::PadProbeReturn::Ok
            } else {
                gst::PadProbeReturn::Drop
            }
        });
    }
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).expect("playing");
    let mut done = 0;
    while done < shots.len() {
        let msg = bus
            .timed_pop_filtered(
                gst::ClockTime::from_seconds(300),
                &[gst::MessageType::Application, gst::MessageType::Eos, gst::MessageType::Error],
            )
            .expect("no message in 300 s");
        match msg.view() {
            gst::MessageView::Application(_) => done += 1,
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{} ({:?})", e.error(), e.debug()),
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    for shot in shots {
        for n in 0..shot.frames.len() {
            let path = out.join(format!("overlay-{}-{n}.png", shot.size));
            let png = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(png.starts_with(b"\x89PNG"), "{}", path.display());
            eprintln!("wrote {}", path.display());
        }
    }
    let kept: usize = shots.iter().map(|s| s.frames.len()).sum();
    assert_eq!(checked.load(std::sync::atomic::Ordering::Relaxed), kept, "every kept frame checked");
    let failures = failures.lock().unwrap();
    assert!(failures.is_empty(), "the overlay does not draw what the metadata says:\n{}", failures.join("\n"));
}

/// A plate box and read on the largest tracked vehicle, as a plate reader would attach them.
fn add_plate_to_largest(b: &mut gst::BufferRef, size: FrameSize) {
    let objects = traffic_meta::objects(b, size);
    let area = |o: &&Object| o.bbox.width() * o.bbox.height();
    let Some(car) = objects.iter().filter(|o| o.track.is_some()).max_by(|a, b| area(a).total_cmp(&area(b))) else {
        return;
    };
    let (w, h) = (car.bbox.width(), car.bbox.height());
    let (cx, y) = ((car.bbox.x1 + car.bbox.x2) * 0.5, car.bbox.y1 + h * 0.72);
    let plate = Detection {
        label: "license_plate".into(),
        label_id: 0,
        confidence: 0.8,
        bbox: PixelBox { x1: cx - w * 0.14, y1: y, x2: cx + w * 0.14, y2: y + h * 0.1 },
    };
    let id = traffic_meta::add_plate_box(b, size, &plate, car.roi_id);
    let text = Plate { text: "ABC 1Z34".into(), confidence: 0.7, track_text: "ABC 1234".into(), track_confidence: 0.9 };
    traffic_meta::set_plate(b, id, &text);
}

/// The clip at its own size (three moments) and at 320x240: `out/overlay-640x352-{0,1,2}.png`,
/// `out/overlay-320x240-0.png`.
#[test]
fn residential_video_screenshots() {
    screenshots(&[
        Shot { size: "640x352", scale: "", detector: "", frames: &[50, 100, 150] },
        Shot {
            size: "320x240",
            scale: "videoscale add-borders=false ! video/x-raw,width=320,height=240 ! ",
            detector: "",
            frames: &[100],
        },
    ]);
}

/// At 3840x2160, with the detector on every other frame (the frame written is one the
/// tracker predicted: dashed boxes): `out/overlay-3840x2160-0.png`.
#[test]
fn residential_video_screenshot_4k() {
    screenshots(&[Shot {
        size: "3840x2160",
        scale: "videoscale add-borders=false ! video/x-raw,width=3840,height=2160 ! ",
        detector: "interval=2",
        frames: &[40],
    }]);
}
