//! What every pixel-reading element shares: the raw formats we accept, and the mapping of a
//! GStreamer video frame onto a `traffic_vision::Frame`.

use gst_video::prelude::*;
use gst_video::{VideoColorMatrix, VideoColorRange, VideoFormat, VideoFrameRef};
use traffic_vision::frame::YuvToRgb;
use traffic_vision::{Frame, PixelFormat, VisionError, YuvMatrix};

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
pub fn frame<'a>(vframe: &'a VideoFrameRef<&gst::BufferRef>) -> Result<Frame<'a>, VisionError> {
    let info = vframe.info();
    let format = format_of(info)?;
    let n = info.n_planes() as usize;
    let mut planes = Vec::with_capacity(n);
    for p in 0..n as u32 {
        planes.push(vframe.plane_data(p).map_err(|e| VisionError::Frame(e.to_string()))?);
    }
    Frame::new(format, info.width() as usize, info.height() as usize, &planes, &strides(info), yuv_of(info))
}

/// The frame size the metadata coordinates refer to.
pub fn frame_size(info: &gst_video::VideoInfo) -> traffic_meta::FrameSize {
    traffic_meta::FrameSize { width: info.width(), height: info.height() }
}
