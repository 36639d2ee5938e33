//! Custom events between the elements.

/// The custom upstream event by which `plateocr` tells `platedetect` how well a track's plate
/// is read: fields `track-id` (u64) and `track-confidence` (f64, the voted text's confidence).
pub const PLATE_READ_EVENT: &str = "traffic-plate-read";

/// How well a track's plate is read so far.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlateRead {
    pub track_id: u64,
    pub track_confidence: f64,
}

/// The upstream event carrying `read`.
pub fn plate_read_event(read: PlateRead) -> gst::Event {
    let s = gst::Structure::builder(PLATE_READ_EVENT)
        .field("track-id", read.track_id)
        .field("track-confidence", read.track_confidence)
        .build();
    gst::event::CustomUpstream::new(s)
}

/// The plate read an event carries, if it is a well-formed [`PLATE_READ_EVENT`].
pub fn read_plate_read(event: &gst::EventRef) -> Option<PlateRead> {
    let s = event.structure().filter(|s| s.name() == PLATE_READ_EVENT)?;
    Some(PlateRead { track_id: s.get("track-id").ok()?, track_confidence: s.get("track-confidence").ok()? })
}

/// Whether `event` is a [`PLATE_READ_EVENT`], well-formed or not.
pub fn is_plate_read(event: &gst::EventRef) -> bool {
    event.structure().is_some_and(|s| s.name() == PLATE_READ_EVENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plate_read_goes_through_its_event() {
        gst::init().unwrap();
        let read = PlateRead { track_id: 42, track_confidence: 0.875 };
        let event = plate_read_event(read);
        assert!(is_plate_read(&event));
        assert_eq!(read_plate_read(&event), Some(read));
        let other =
            gst::event::CustomUpstream::new(gst::Structure::builder(PLATE_READ_EVENT).field("track-id", 1u64).build());
        assert!(is_plate_read(&other));
        assert_eq!(read_plate_read(&other), None, "no confidence: not a read");
    }
}
