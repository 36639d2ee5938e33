//! Drawing on video frames in place, with no GStreamer in it: the `overlay` element's core.
//! Hand-written rather than a drawing crate: those draw on RGB images, and converting a 1080p
//! I420 frame to RGB and back costs more than the whole overlay (about 1.4 ms a frame here).
//!
//! - [`Canvas`]: a mutable view of a frame's planes in the formats the elements accept (RGB,
//!   BGR, RGBx, BGRx, RGBA, BGRA packed; I420 and NV12 planar). Filled rectangles with alpha,
//!   outlines (solid or dashed), thick anti-aliased line segments and alpha masks. Planar YUV
//!   frames get luma at full resolution and chroma per 2x2 block, weighted by how much of the
//!   block the shape covers; colours are converted with the inverse of the frame's own
//!   matrix and range ([`RgbToYuv`]). Everything is clipped to the frame: boxes outside it,
//!   NaN coordinates, zero-sized or odd-sized frames draw what fits and never panic.
//! - [`Font`]: DejaVu Sans Bold, embedded, rasterised once per pixel size into cached alpha
//!   masks, so drawing text on a frame is a blend of cached masks.
//! - [`Painter`] and [`Scene`]: what the `overlay` element draws (boxes, labels, plates,
//!   trails, counting lines, the counts panel, FPS), laid out and sized from the frame height.
//!   [`Trails`] keeps the recent anchor positions of each track.

mod canvas;
mod font;
mod scene;

pub use canvas::{Canvas, Color, RgbToYuv};
pub use font::{Font, TextSize};
pub use scene::{
    class_color, BoxLabel, CountLine, ObjectBox, Painter, PanelRow, PlateLabel, Scene, Style, Trail, Trails,
};
