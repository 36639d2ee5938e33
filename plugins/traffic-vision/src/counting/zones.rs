//! Polygon zones: which tracked objects are inside a zone now (occupancy, per class), since
//! when (dwell), and how many entered. An object is inside when its anchor point is inside the
//! polygon (even-odd rule). It enters after `min_frames` consecutive frames inside and leaves
//! after `min_frames` frames seen outside: the same hysteresis as the lines, so a box jittering
//! on the edge neither enters and leaves on every frame nor counts twice. A track the tracker
//! stops reporting (a parked car hidden by passing traffic) stays inside until it has been
//! unseen for `lost_after` frames (the tracker's track buffer, [`DEFAULT_LOST_AFTER`] by default):
//! the tracker keeps its ID through such gaps.
//!
//! [`ZoneCounter::update`] returns what happened on the frame: an [`ZoneEventKind::Enter`] when
//! a track is confirmed inside, an [`ZoneEventKind::Exit`] with the visit's dwell when it is
//! confirmed outside or lost. Entry and exit are both confirmed `min_frames` frames late, so
//! the dwell of a track that drives out is the time from its first frame inside to its first
//! frame outside; a track lost while hidden left when it was last seen (its dwell is then
//! `min_frames - 1` frames short, as an occupant's dwell is).

use std::collections::{HashMap, HashSet};

use super::lines::{first_repeated, Anchor, Point, TrackObservation};
use crate::VisionError;

/// Frames a track may go unseen before it counts as gone: mottracker's default track buffer.
pub const DEFAULT_LOST_AFTER: u64 = 30;

/// A zone as the user gives it: a polygon in pixels, or in fractions of the frame.
#[derive(Clone, Debug, PartialEq)]
pub struct ZoneSpec {
    pub name: String,
    pub points: Vec<Point>,
    /// Every coordinate is within 0..=1: fractions of the frame size.
    pub fractional: bool,
}

impl ZoneSpec {
    /// Parses `name:x1,y1,x2,y2,x3,y3[,...]`: at least three corners; coordinates all within
    /// 0..=1 are fractions of the frame, otherwise pixels.
    pub fn parse(spec: &str) -> Result<Self, VisionError> {
        let bad =
            |why: &str| VisionError::Config(format!("zone '{spec}': {why} (expected name:x1,y1,x2,y2,x3,y3[,...])"));
        let (name, coords) = spec.trim().split_once(':').ok_or_else(|| bad("no coordinates"))?;
        let coords: Vec<f64> = coords
            .split(',')
            .map(|c| c.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| bad("coordinates must be numbers"))?;
        Self::new(name, &coords)
    }

    /// A zone from its name and corners `[x1, y1, x2, y2, x3, y3, ...]` (as a config file
    /// gives them), checked as [`ZoneSpec::parse`] checks them.
    pub fn new(name: &str, coords: &[f64]) -> Result<Self, VisionError> {
        let name = name.trim();
        let bad = |why: &str| VisionError::Config(format!("zone '{name}': {why}"));
        if name.is_empty() {
            return Err(bad("no name"));
        }
        if coords.len() < 6 || !coords.len().is_multiple_of(2) {
            return Err(bad("an even number of coordinates, at least three corners, needed"));
        }
        if coords.iter().any(|c| !c.is_finite() || *c < 0.0) {
            return Err(bad("coordinates must be finite and not negative"));
        }
        let points: Vec<Point> = coords.chunks(2).map(|p| (p[0], p[1])).collect();
        if polygon_area(&points).abs() < 1e-12 {
            return Err(bad("the corners enclose no area"));
        }
        Ok(ZoneSpec { name: name.to_string(), points, fractional: coords.iter().all(|c| *c <= 1.0) })
    }

    /// Parses `;`-separated zones; names must be unique.
    pub fn parse_list(specs: &str) -> Result<Vec<Self>, VisionError> {
        let zones: Vec<Self> =
            specs.split(';').filter(|s| !s.trim().is_empty()).map(Self::parse).collect::<Result<_, _>>()?;
        if let Some(dup) = first_repeated(zones.iter().map(|z| z.name.as_str())) {
            return Err(VisionError::Config(format!("zone name '{dup}' is used twice")));
        }
        Ok(zones)
    }

    /// The zone in pixels of a `width` x `height` frame.
    pub fn in_pixels(&self, width: u32, height: u32) -> Zone {
        let scale = |&(x, y): &Point| if self.fractional { (x * width as f64, y * height as f64) } else { (x, y) };
        Zone { name: self.name.clone(), polygon: self.points.iter().map(scale).collect() }
    }
}

fn polygon_area(points: &[Point]) -> f64 {
    let n = points.len();
    (0..n).map(|i| points[i].0 * points[(i + 1) % n].1 - points[(i + 1) % n].0 * points[i].1).sum::<f64>() / 2.0
}

/// Whether `p` is inside `polygon` (even-odd rule; any simple or self-touching polygon).
pub fn contains(polygon: &[Point], p: Point) -> bool {
    let mut inside = false;
    let n = polygon.len();
    for i in 0..n {
        let (a, b) = (polygon[i], polygon[(i + n - 1) % n]);
        if (a.1 > p.1) != (b.1 > p.1) && p.0 < (b.0 - a.0) * (p.1 - a.1) / (b.1 - a.1) + a.0 {
            inside = !inside;
        }
    }
    inside
}

/// A zone resolved to pixels.
#[derive(Clone, Debug, PartialEq)]
pub struct Zone {
    pub name: String,
    pub polygon: Vec<Point>,
}

/// An object inside a zone now.
#[derive(Clone, Debug, PartialEq)]
pub struct Occupant {
    pub track_id: u64,
    pub class: String,
    /// Seconds since it entered.
    pub dwell: f64,
}

/// Whether a track came into a zone or left it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZoneEventKind {
    Enter,
    Exit,
}

/// A track entering or leaving a zone on this frame.
#[derive(Clone, Debug, PartialEq)]
pub struct ZoneEvent {
    /// Index of the zone in [`ZoneCounter::zones`].
    pub zone: usize,
    pub track_id: u64,
    pub class: String,
    pub kind: ZoneEventKind,
    /// Seconds inside: 0 on entering, the whole visit on leaving.
    pub dwell: f64,
    /// On leaving: the mean of the speeds [`ZoneCounter::add_speeds`] gave while inside.
    pub mean_speed_kmh: Option<f64>,
}

struct Presence {
    inside: bool,
    last_seen: u64,
    /// Stream time of `last_seen`: when a lost track left.
    last_seen_at: f64,
    /// Consecutive frames on the other side of the edge than `inside` says.
    streak: u32,
    entered_at: f64,
    class: String,
    /// Sum and number of the speeds seen inside on this visit.
    speed_sum: f64,
    speeds: u32,
}

impl Presence {
    fn mean_speed_kmh(&self) -> Option<f64> {
        (self.speeds > 0).then(|| self.speed_sum / self.speeds as f64)
    }
}

/// The zone state of one stream.
pub struct ZoneCounter {
    zones: Vec<Zone>,
    anchor: Anchor,
    min_frames: u32,
    lost_after: u64,
    frame: u64,
    /// Per zone: the tracks seen inside (or on their way in or out).
    presence: Vec<HashMap<u64, Presence>>,
    /// Per zone: entries per class.
    entries: Vec<HashMap<String, u64>>,
}

impl ZoneCounter {
    /// `lost_after`: frames a track may go unseen and still be inside (the tracker's buffer).
    pub fn new(zones: Vec<Zone>, anchor: Anchor, min_frames: u32, lost_after: u64) -> Self {
        let n = zones.len();
        ZoneCounter {
            zones,
            anchor,
            min_frames: min_frames.max(1),
            lost_after,
            frame: 0,
            presence: (0..n).map(|_| HashMap::new()).collect(),
            entries: vec![HashMap::new(); n],
        }
    }

    pub fn zones(&self) -> &[Zone] {
        &self.zones
    }

    /// Entries per class since the start (or the last reset).
    pub fn entries(&self, zone: usize) -> &HashMap<String, u64> {
        &self.entries[zone]
    }

    /// Moves the zones to new pixel positions (the frame size changed) and keeps who is
    /// inside and the entry counts. `zones` must be the same zones (names, in order): anything
    /// else is an error and changes nothing.
    pub fn relocate(&mut self, zones: Vec<Zone>) -> Result<(), VisionError> {
        let same = zones.len() == self.zones.len() && zones.iter().zip(&self.zones).all(|(a, b)| a.name == b.name);
        if !same {
            return Err(VisionError::Config("relocating zones to other zones".into()));
        }
        for (old, new) in self.zones.iter_mut().zip(zones) {
            old.polygon = new.polygon;
        }
        Ok(())
    }

    pub fn reset(&mut self) {
        self.presence.iter_mut().for_each(HashMap::clear);
        self.entries.iter_mut().for_each(HashMap::clear);
    }

    /// Feeds one frame's confirmed tracks at stream time `now` (seconds); returns the entries
    /// and exits of this frame, by zone, then track id.
    pub fn update(&mut self, now: f64, observations: &[TrackObservation]) -> Vec<ZoneEvent> {
        self.frame += 1;
        let frame = self.frame;
        let classes: HashMap<u64, &str> = observations.iter().map(|o| (o.track_id, o.class.as_str())).collect();
        let mut events = Vec::new();
        for (zi, zone) in self.zones.iter().enumerate() {
            let presence = &mut self.presence[zi];
            let mut seen_inside = HashSet::new();
            for obs in observations {
                let p = self.anchor.of(&obs.bbox);
                if p.0.is_finite() && p.1.is_finite() && contains(&zone.polygon, p) {
                    seen_inside.insert(obs.track_id);
                    presence.entry(obs.track_id).or_insert_with(|| Presence {
                        inside: false,
                        last_seen: frame,
                        last_seen_at: now,
                        streak: 0,
                        entered_at: now,
                        class: obs.class.clone(),
                        speed_sum: 0.0,
                        speeds: 0,
                    });
                }
            }
            let (min_frames, lost_after) = (self.min_frames, self.lost_after);
            let entries = &mut self.entries[zi];
            let first = events.len();
            let mut event = |id: u64, p: &Presence, kind, dwell: f64| {
                let mean_speed_kmh = if kind == ZoneEventKind::Exit { p.mean_speed_kmh() } else { None };
                let class = p.class.clone();
                events.push(ZoneEvent { zone: zi, track_id: id, class, kind, dwell: dwell.max(0.0), mean_speed_kmh });
            };
            presence.retain(|id, p| {
                let Some(class) = classes.get(id) else {
                    // Unseen: neither in nor out; gone once the tracker has surely dropped it.
                    let kept = frame - p.last_seen <= lost_after;
                    if !kept && p.inside {
                        event(*id, p, ZoneEventKind::Exit, p.last_seen_at - p.entered_at);
                    }
                    return kept;
                };
                p.class = class.to_string();
                p.last_seen = frame;
                p.last_seen_at = now;
                if seen_inside.contains(id) == p.inside {
                    p.streak = 0;
                    return true;
                }
                p.streak += 1;
                if p.streak < min_frames {
                    return true;
                }
                p.streak = 0;
                p.inside = !p.inside;
                if p.inside {
                    p.entered_at = now;
                    (p.speed_sum, p.speeds) = (0.0, 0);
                    *entries.entry(p.class.clone()).or_insert(0) += 1;
                    event(*id, p, ZoneEventKind::Enter, 0.0);
                } else {
                    event(*id, p, ZoneEventKind::Exit, now - p.entered_at);
                }
                // Gone out: forget it (it may enter again, and counts again then).
                p.inside
            });
            events[first..].sort_by_key(|e| e.track_id);
        }
        events
    }

    /// Adds this frame's speed of each track inside a zone to its visit (the mean its exit
    /// reports); `speed` is None for a track without one.
    pub fn add_speeds(&mut self, speed: impl Fn(u64) -> Option<f64>) {
        for p in self.presence.iter_mut().flat_map(|z| z.iter_mut()).filter(|(_, p)| p.inside) {
            if let Some(v) = speed(*p.0) {
                p.1.speed_sum += v;
                p.1.speeds += 1;
            }
        }
    }

    /// Who is inside `zone` now, oldest first.
    pub fn occupants(&self, zone: usize, now: f64) -> Vec<Occupant> {
        let mut inside: Vec<Occupant> = self.presence[zone]
            .iter()
            .filter(|(_, p)| p.inside)
            .map(|(id, p)| Occupant { track_id: *id, class: p.class.clone(), dwell: (now - p.entered_at).max(0.0) })
            .collect();
        inside.sort_by(|a, b| b.dwell.total_cmp(&a.dwell).then(a.track_id.cmp(&b.track_id)));
        inside
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BBox;

    fn square() -> ZoneCounter {
        let zone = ZoneSpec::parse("lot:100,100,300,100,300,300,100,300").unwrap().in_pixels(640, 480);
        ZoneCounter::new(vec![zone], Anchor::BottomCenter, 2, DEFAULT_LOST_AFTER)
    }

    /// A 40x30 car whose bottom centre is at (x, y).
    fn car(id: u64, x: f64, y: f64) -> TrackObservation {
        let bbox = BBox::new((x - 20.0) as f32, (y - 30.0) as f32, (x + 20.0) as f32, y as f32);
        TrackObservation { track_id: id, bbox, class: "car".into() }
    }

    #[test]
    fn parsing_and_point_in_polygon() {
        let z = ZoneSpec::parse("a:0.1,0.1,0.9,0.1,0.5,0.9").unwrap();
        assert!(z.fractional);
        let px = z.in_pixels(100, 100);
        assert!(contains(&px.polygon, (50.0, 50.0)));
        assert!(!contains(&px.polygon, (12.0, 80.0)));
        for bad in ["a:1,2,3,4", "a:1,2,3,4,5", ":1,1,2,2,3,1", "a:0,0,1,1,2,2", "a:x,1,2,3,4,5", "a:-1,0,5,0,5,5"] {
            assert!(ZoneSpec::parse(bad).is_err(), "{bad}");
        }
        assert!(ZoneSpec::parse_list("a:0,0,10,0,10,10;a:0,0,5,0,5,5").is_err());
    }

    #[test]
    fn a_parked_car_is_an_occupant_with_its_dwell_and_enters_once() {
        let mut z = square();
        for frame in 0..10 {
            z.update(frame as f64, &[car(1, 200.0, 200.0), car(2, 500.0, 400.0)]);
        }
        let inside = z.occupants(0, 9.0);
        assert_eq!(inside.len(), 1);
        assert_eq!((inside[0].track_id, inside[0].dwell), (1, 8.0), "entered on its second frame inside");
        assert_eq!(z.entries(0)[&"car".to_string()], 1);
    }

    #[test]
    fn jitter_on_the_edge_does_not_enter_and_leave_every_frame() {
        let mut z = square();
        for frame in 0..20 {
            let y = if frame % 2 == 0 { 298.0 } else { 302.0 };
            z.update(frame as f64, &[car(1, 200.0, y)]);
        }
        assert!(z.entries(0).is_empty(), "never two frames in a row inside");
        for frame in 20..25 {
            z.update(frame as f64, &[car(1, 200.0, 250.0)]);
        }
        for frame in 25..28 {
            let y = if frame % 2 == 0 { 298.0 } else { 302.0 };
            z.update(frame as f64, &[car(1, 200.0, y)]);
        }
        assert_eq!(z.entries(0)[&"car".to_string()], 1);
        assert_eq!(z.occupants(0, 28.0).len(), 1, "one frame outside at a time is not leaving");
    }

    #[test]
    fn hidden_stays_inside_leaving_empties_the_zone_and_a_return_counts_again() {
        let mut z = square();
        z.update(0.0, &[car(1, 200.0, 200.0)]);
        z.update(1.0, &[car(1, 200.0, 200.0)]);
        assert_eq!(z.occupants(0, 1.0).len(), 1);
        // Hidden for a while (the tracker keeps its ID): still inside, entered once.
        for t in 2..12 {
            z.update(t as f64, &[]);
        }
        z.update(12.0, &[car(1, 200.0, 200.0)]);
        assert_eq!(z.occupants(0, 12.0)[0].dwell, 11.0);
        // Driven out: gone after min_frames seen outside.
        z.update(13.0, &[car(1, 500.0, 200.0)]);
        assert_eq!(z.occupants(0, 13.0).len(), 1);
        z.update(14.0, &[car(1, 500.0, 200.0)]);
        assert!(z.occupants(0, 14.0).is_empty());
        // Back in: a second entry.
        z.update(15.0, &[car(1, 200.0, 200.0)]);
        z.update(16.0, &[car(1, 200.0, 200.0)]);
        assert_eq!(z.entries(0)[&"car".to_string()], 2);
        assert_eq!(z.occupants(0, 18.0)[0].dwell, 2.0);
        // Lost by the tracker for good: gone after DEFAULT_LOST_AFTER unseen frames.
        for t in 0..=DEFAULT_LOST_AFTER {
            z.update(20.0 + t as f64, &[]);
        }
        assert!(z.occupants(0, 60.0).is_empty());
        z.reset();
        assert!(z.occupants(0, 7.0).is_empty() && z.entries(0).is_empty());
    }

    fn kinds(events: &[ZoneEvent]) -> Vec<(u64, ZoneEventKind, f64)> {
        events.iter().map(|e| (e.track_id, e.kind, e.dwell)).collect()
    }

    #[test]
    fn events_enter_after_min_frames_exit_with_the_dwell_and_a_return_enters_again() {
        use ZoneEventKind::{Enter, Exit};
        let mut z = square();
        assert!(z.update(0.0, &[car(1, 200.0, 200.0)]).is_empty(), "one frame inside is not yet in");
        let entered = z.update(1.0, &[car(1, 200.0, 200.0), car(2, 500.0, 400.0)]);
        assert_eq!(kinds(&entered), [(1, Enter, 0.0)]);
        assert_eq!((entered[0].zone, entered[0].class.as_str()), (0, "car"));
        for t in 2..5 {
            assert!(z.update(t as f64, &[car(1, 200.0, 200.0)]).is_empty(), "staying makes no event");
        }
        assert!(z.update(5.0, &[car(1, 500.0, 200.0)]).is_empty(), "one frame outside is not yet out");
        // First frame inside at 0, first frame outside at 5: 5 s inside, whatever min-frames.
        assert_eq!(kinds(&z.update(6.0, &[car(1, 500.0, 200.0)])), [(1, Exit, 5.0)]);
        assert!(z.update(7.0, &[car(1, 500.0, 200.0)]).is_empty(), "out once");
        z.update(8.0, &[car(1, 200.0, 200.0)]);
        assert_eq!(kinds(&z.update(9.0, &[car(1, 200.0, 200.0)])), [(1, Enter, 0.0)], "a return is a new entry");
        assert_eq!(z.entries(0)[&"car".to_string()], 2);
    }

    #[test]
    fn an_exit_carries_the_mean_speed_seen_inside_on_that_visit() {
        let mut z = square();
        let speed = |t: f64| move |id: u64| (id == 1).then_some(10.0 * t);
        for t in 0..4 {
            let t = t as f64;
            z.update(t, &[car(1, 200.0, 200.0), car(2, 150.0, 150.0)]);
            // Inside from t = 1 on (min-frames 2): 10, 20 and 30 km/h count; track 2 has none.
            z.add_speeds(speed(t));
        }
        z.update(4.0, &[car(1, 500.0, 200.0), car(2, 150.0, 150.0)]);
        let exit = z.update(5.0, &[car(1, 500.0, 200.0), car(2, 150.0, 150.0)]);
        assert_eq!(exit.len(), 1, "{exit:?}");
        assert_eq!((exit[0].track_id, exit[0].mean_speed_kmh), (1, Some(20.0)));
        // A new visit starts a new mean; a visit without speeds has none.
        z.update(6.0, &[car(1, 200.0, 200.0)]);
        z.update(7.0, &[car(1, 200.0, 200.0)]);
        z.add_speeds(|id| (id == 1).then_some(50.0));
        z.update(8.0, &[car(1, 500.0, 200.0)]);
        assert_eq!(z.update(9.0, &[car(1, 500.0, 200.0)])[0].mean_speed_kmh, Some(50.0));
        let lost = (10..60).flat_map(|t| z.update(t as f64, &[])).collect::<Vec<_>>();
        assert!(lost.iter().all(|e| e.track_id == 2 && e.mean_speed_kmh.is_none()), "{lost:?}");
    }

    #[test]
    fn a_lost_track_exits_when_it_was_last_seen_and_jitter_makes_no_events() {
        use ZoneEventKind::{Enter, Exit};
        let mut z = square();
        let mut events = Vec::new();
        for frame in 0..20 {
            let y = if frame % 2 == 0 { 298.0 } else { 302.0 };
            events.extend(z.update(frame as f64, &[car(1, 200.0, y), car(3, 150.0, 150.0)]));
        }
        assert_eq!(kinds(&events), [(3, Enter, 0.0)], "the jittering car never enters");
        // Track 3 is hidden from t = 20 on and dropped DEFAULT_LOST_AFTER frames later: it left at 19.
        let mut lost = Vec::new();
        for t in 20..=20 + DEFAULT_LOST_AFTER {
            lost.extend(z.update(t as f64, &[]));
        }
        assert_eq!(kinds(&lost), [(3, Exit, 18.0)], "entered at 1, last seen at 19");
        assert!(z.occupants(0, 60.0).is_empty());
    }

    #[test]
    fn events_of_one_frame_come_by_zone_then_track() {
        let zones = ZoneSpec::parse_list("a:0,0,100,0,100,100,0,100;b:0,0,300,0,300,300,0,300").unwrap();
        let mut z = ZoneCounter::new(
            zones.iter().map(|s| s.in_pixels(640, 480)).collect(),
            Anchor::BottomCenter,
            1,
            DEFAULT_LOST_AFTER,
        );
        let events = z.update(0.0, &[car(9, 50.0, 50.0), car(4, 60.0, 60.0), car(7, 200.0, 200.0)]);
        let order: Vec<(usize, u64)> = events.iter().map(|e| (e.zone, e.track_id)).collect();
        assert_eq!(order, [(0, 4), (0, 9), (1, 4), (1, 7), (1, 9)]);
        assert!(ZoneSpec::new("x", &[0.0, 0.0, 1.0, 0.0]).unwrap_err().to_string().contains("zone 'x'"));
        assert_eq!(
            ZoneSpec::new("x", &[0.0, 0.0, 1.0, 0.0, 1.0, 1.0]).unwrap(),
            ZoneSpec::parse("x:0,0,1,0,1,1").unwrap()
        );
    }
}
