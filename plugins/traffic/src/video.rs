//! What every video element shares: the raw formats we accept, the caps' video info, the
//! mapping of a GStreamer video frame onto a `traffic_vision::Frame`, and the boxes between the
//! vision core and the metadata.

use gst::subclass::prelude::*;
use gst_video::prelude::*;
use gst_video::{VideoColorMatrix, VideoColorRange, VideoFormat, VideoFrameRef};
use traffic_meta::PixelBox;
use traffic_vision::frame::YuvToRgb;
use traffic_vision::{BBox, Frame, PixelFormat, VisionError, YuvMatrix};

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

/// Raw video in the formats our pixel loops read directly, so users need no `videoconvert`.
pub fn caps() -> gst::Caps {
    gst_video::VideoCapsBuilder::new().format_list(FORMATS).build()
}

/// Any raw video, in any memory: for elements that read metadata only.
pub fn any_caps() -> gst::Caps {
    gst::Caps::builder("video/x-raw").any_features().build()
}

/// The always-present src and sink pads of an in-place element with these caps.
pub fn pad_templates(caps: &gst::Caps) -> Vec<gst::PadTemplate> {
    [("src", gst::PadDirection::Src), ("sink", gst::PadDirection::Sink)]
        .into_iter()
        .filter_map(|(name, direction)| gst::PadTemplate::new(name, direction, gst::PadPresence::Always, caps).ok())
        .collect()
}

/// The video info of negotiated caps; a failure is logged in the caller's debug category.
pub fn info_from_caps(cat: &gst::DebugCategory, caps: &gst::Caps) -> Result<gst_video::VideoInfo, gst::LoggableError> {
    gst_video::VideoInfo::from_caps(caps).map_err(|_| gst::loggable_error!(cat, "cannot parse caps {caps}"))
}

/// Our name for a GStreamer raw format, for the formats of [`caps`].
pub fn pixel_format(format: VideoFormat) -> Option<PixelFormat> {
    Some(match format {
        VideoFormat::Rgb => PixelFormat::Rgb,
        VideoFormat::Bgr => PixelFormat::Bgr,
        VideoFormat::Rgbx => PixelFormat::Rgbx,
        VideoFormat::Bgrx => PixelFormat::Bgrx,
        VideoFormat::Rgba => PixelFormat::Rgba,
        VideoFormat::Bgra => PixelFormat::Bgra,
        VideoFormat::I420 => PixelFormat::I420,
        VideoFormat::Nv12 => PixelFormat::Nv12,
        _ => return None,
    })
}

/// The frame's YUV -> RGB conversion, from the caps' colorimetry.
pub fn yuv_of(info: &gst_video::VideoInfo) -> YuvToRgb {
    let colorimetry = info.colorimetry();
    let matrix = match colorimetry.matrix() {
        VideoColorMatrix::Bt709 => YuvMatrix::Bt709,
        _ => YuvMatrix::Bt601,
    };
    YuvToRgb::new(matrix, colorimetry.range() == VideoColorRange::Range0_255)
}

/// Row strides of each plane, in bytes.
pub fn strides(info: &gst_video::VideoInfo) -> Vec<usize> {
    info.stride()[..info.n_planes() as usize].iter().map(|&s| s.max(0) as usize).collect()
}

/// Our pixel format of the frame, or an error naming the unsupported one.
pub fn format_of(info: &gst_video::VideoInfo) -> Result<PixelFormat, VisionError> {
    pixel_format(info.format()).ok_or_else(|| VisionError::Frame(format!("format {} is not supported", info.format())))
}

/// Borrows the planes of a mapped frame.
fn frame<'a>(vframe: &'a VideoFrameRef<&gst::BufferRef>) -> Result<Frame<'a>, VisionError> {
    let info = vframe.info();
    let format = format_of(info)?;
    let n = info.n_planes() as usize;
    let mut planes = Vec::with_capacity(n);
    for p in 0..n as u32 {
        planes.push(vframe.plane_data(p).map_err(|e| VisionError::Frame(e.to_string()))?);
    }
    Frame::new(format, info.width() as usize, info.height() as usize, &planes, &strides(info), yuv_of(info))
}

/// Maps `buf` readable and runs `step` on its frame. A failure of either is posted as a stream
/// error of `imp`: "cannot map the video frame", or "`what` failed: <reason>".
pub fn read_frame<E: ElementImpl, T>(
    imp: &E,
    buf: &gst::BufferRef,
    info: &gst_video::VideoInfo,
    what: &str,
    step: impl FnOnce(&Frame) -> Result<T, VisionError>,
) -> Result<T, gst::FlowError> {
    let vframe = VideoFrameRef::from_buffer_ref_readable(buf, info).map_err(|_| {
        gst::element_imp_error!(imp, gst::StreamError::Failed, ["cannot map the video frame"]);
        gst::FlowError::Error
    })?;
    frame(&vframe).and_then(|frame| step(&frame)).map_err(|e| {
        gst::element_imp_error!(imp, gst::StreamError::Failed, ["{} failed: {}", what, e]);
        gst::FlowError::Error
    })
}

/// A vision-core box in metadata pixels.
pub fn pixel_box(b: &BBox) -> PixelBox {
    PixelBox { x1: b.x1 as f64, y1: b.y1 as f64, x2: b.x2 as f64, y2: b.y2 as f64 }
}

/// A metadata box as a vision-core box.
pub fn vision_box(b: &PixelBox) -> BBox {
    BBox::new(b.x1 as f32, b.y1 as f32, b.x2 as f32, b.y2 as f32)
}

/// A vision-core detection as metadata, with its class name.
pub fn meta_detection(d: &traffic_vision::Detection, label: String) -> traffic_meta::Detection {
    traffic_meta::Detection { label, label_id: d.class_id, confidence: d.score as f64, bbox: pixel_box(&d.bbox) }
}

/// The frame size the metadata coordinates refer to.
pub fn frame_size(info: &gst_video::VideoInfo) -> traffic_meta::FrameSize {
    traffic_meta::FrameSize { width: info.width(), height: info.height() }
}
