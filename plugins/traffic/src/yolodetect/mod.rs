//! `yolodetect`: vehicle (or any COCO-class) detection with a YOLO ONNX model.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct YoloDetect(ObjectSubclass<imp::YoloDetect>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(Some(plugin), "yolodetect", gst::Rank::NONE, YoloDetect::static_type())
}
