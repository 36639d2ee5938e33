//! Line counting: a track counts on a line when the path of its anchor point between two
//! observations intersects the line segment (so fast vehicles never jump over it), in the
//! direction of the side it went to, once per track, line and direction, and only after it
//! stayed on the new side for `min_frames` observations (so jitter on the line never counts).
//!
//! Direction: for a line from `start` to `end`, `in` is a crossing towards the side that
//! `end - start` turned 90° clockwise on screen points to (image y grows downwards). A line
//! drawn left to right counts downward motion as `in`; drawn right to left, upward.

use std::collections::{HashMap, HashSet};

use crate::{BBox, VisionError};

/// A point in frame pixels.
pub type Point = (f64, f64);

/// Which point of a box follows the vehicle over the line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Anchor {
    /// Where the vehicle touches the road: robust for lines drawn on the road.
    #[default]
    BottomCenter,
    Center,
    TopCenter,
}

impl Anchor {
    pub fn of(self, b: &BBox) -> Point {
        let cx = (b.x1 as f64 + b.x2 as f64) / 2.0;
        match self {
            Anchor::BottomCenter => (cx, b.y2 as f64),
            Anchor::Center => (cx, (b.y1 as f64 + b.y2 as f64) / 2.0),
            Anchor::TopCenter => (cx, b.y1 as f64),
        }
    }
}

/// A counting line as the user gives it: end points in pixels, or in fractions of the frame.
/// The first name that comes twice: lines and zones are told apart by name.
pub fn first_repeated<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut seen = HashSet::new();
    names.into_iter().find(|name| !seen.insert(*name))
}

#[derive(Clone, Debug, PartialEq)]
pub struct LineSpec {
    pub name: String,
    pub start: Point,
    pub end: Point,
    /// The four coordinates are fractions of the frame size (all within 0..=1).
    pub fractional: bool,
    pub in_name: String,
    pub out_name: String,
    /// The only direction allowed (true: `in`), if the line is one-way: a crossing the other
    /// way is wrong-way.
    pub only_inward: Option<bool>,
}

impl LineSpec {
    /// A line from its parts: coordinates all within 0..=1 are fractions of the frame,
    /// otherwise pixels. The name may hold neither `;` nor `:` (the `lines` syntax's
    /// separators); the two direction names must differ.
    pub fn new(name: &str, [x1, y1, x2, y2]: [f64; 4], in_name: &str, out_name: &str) -> Result<Self, VisionError> {
        let bad = |why: &str| VisionError::Config(format!("line '{name}': {why}"));
        let name = name.trim();
        if name.is_empty() {
            return Err(bad("no name"));
        }
        if name.contains([';', ':']) {
            return Err(bad("a name may not contain ';' or ':'"));
        }
        let coords = [x1, y1, x2, y2];
        if coords.iter().any(|c| !c.is_finite() || *c < 0.0) {
            return Err(bad("coordinates must be finite and not negative"));
        }
        let (in_name, out_name) = (in_name.trim(), out_name.trim());
        if in_name.is_empty() || out_name.is_empty() || in_name == out_name {
            return Err(bad("two different direction names needed"));
        }
        if (x1, y1) == (x2, y2) {
            return Err(bad("the two end points are the same"));
        }
        Ok(LineSpec {
            name: name.to_string(),
            start: (x1, y1),
            end: (x2, y2),
            fractional: coords.iter().all(|c| *c <= 1.0),
            in_name: in_name.to_string(),
            out_name: out_name.to_string(),
            only_inward: None,
        })
    }

    /// Makes the line one-way: `direction` (one of its two direction names) is the only one
    /// allowed.
    pub fn only(mut self, direction: &str) -> Result<Self, VisionError> {
        let direction = direction.trim();
        self.only_inward = Some(match direction {
            d if d == self.in_name => true,
            d if d == self.out_name => false,
            _ => {
                return Err(VisionError::Config(format!(
                    "line '{}': the allowed direction '{direction}' is neither '{}' nor '{}'",
                    self.name, self.in_name, self.out_name
                )))
            }
        });
        Ok(self)
    }

    /// Parses `name:x1,y1,x2,y2[:in/out][:only=in]`; the direction names default to `in` and
    /// `out`; `only=` names the one direction allowed on a one-way line.
    pub fn parse(spec: &str) -> Result<Self, VisionError> {
        let bad = |why: &str| {
            VisionError::Config(format!("line '{spec}': {why} (expected name:x1,y1,x2,y2[:in/out][:only=in])"))
        };
        let mut parts = spec.trim().split(':');
        let name = parts.next().unwrap_or_default();
        let coords: Vec<f64> = parts
            .next()
            .ok_or_else(|| bad("no coordinates"))?
            .split(',')
            .map(|c| c.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| bad("coordinates must be numbers"))?;
        let [x1, y1, x2, y2] = coords[..] else {
            return Err(bad("four coordinates needed"));
        };
        let mut rest: Vec<&str> = parts.collect();
        let only = match rest.last().and_then(|p| p.trim().strip_prefix("only=")) {
            Some(direction) => {
                rest.pop();
                Some(direction)
            }
            None => None,
        };
        let (in_name, out_name) = match rest[..] {
            [] => ("in", "out"),
            [dirs] => dirs.split_once('/').ok_or_else(|| bad("directions must read in/out"))?,
            _ => return Err(bad("too many ':'")),
        };
        let why = |e: VisionError| bad(e.to_string().split_once(": ").map_or("", |(_, why)| why));
        let line = LineSpec::new(name, [x1, y1, x2, y2], in_name, out_name).map_err(why)?;
        match only {
            Some(direction) => line.only(direction).map_err(why),
            None => Ok(line),
        }
    }

    /// Parses `;`-separated lines; names must be unique.
    pub fn parse_list(specs: &str) -> Result<Vec<Self>, VisionError> {
        let lines: Vec<Self> =
            specs.split(';').filter(|s| !s.trim().is_empty()).map(Self::parse).collect::<Result<_, _>>()?;
        if let Some(dup) = first_repeated(lines.iter().map(|l| l.name.as_str())) {
            return Err(VisionError::Config(format!("line name '{dup}' is used twice")));
        }
        Ok(lines)
    }

    /// End points in pixels of a `width` x `height` frame.
    pub fn in_pixels(&self, width: u32, height: u32) -> (Point, Point) {
        let scale = |(x, y): Point| if self.fractional { (x * width as f64, y * height as f64) } else { (x, y) };
        (scale(self.start), scale(self.end))
    }

    /// The line on a `width` x `height` frame.
    pub fn line(&self, width: u32, height: u32) -> Line {
        let (start, end) = self.in_pixels(width, height);
        Line {
            name: self.name.clone(),
            start,
            end,
            in_name: self.in_name.clone(),
            out_name: self.out_name.clone(),
            only_inward: self.only_inward,
        }
    }
}

/// Which side of the directed line `a -> b` point `p` is on: +1 the `in` side, -1 the `out`
/// side, 0 on the line.
fn side(a: Point, b: Point, p: Point) -> i8 {
    let cross = (b.0 - a.0) * (p.1 - a.1) - (b.1 - a.1) * (p.0 - a.0);
    // With y down, a positive cross product is clockwise of a -> b on screen: the `in` side.
    if cross > 1e-9 {
        1
    } else if cross < -1e-9 {
        -1
    } else {
        0
    }
}

/// Whether segment `p -> q` meets segment `a -> b` (touching counts).
fn segments_meet(p: Point, q: Point, a: Point, b: Point) -> bool {
    let (d1, d2) = (side(a, b, p), side(a, b, q));
    let (d3, d4) = (side(p, q, a), side(p, q, b));
    if d1 != d2 && d3 != d4 && !(d1 == 0 && d2 == 0) {
        return true;
    }
    // Collinear or touching cases: a point of one on the other.
    let on = |s: Point, e: Point, r: Point| {
        side(s, e, r) == 0
            && r.0 >= s.0.min(e.0) - 1e-9
            && r.0 <= s.0.max(e.0) + 1e-9
            && r.1 >= s.1.min(e.1) - 1e-9
            && r.1 <= s.1.max(e.1) + 1e-9
    };
    on(a, b, p) || on(a, b, q) || on(p, q, a) || on(p, q, b)
}

/// A counting line resolved to pixels.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub name: String,
    pub start: Point,
    pub end: Point,
    pub in_name: String,
    pub out_name: String,
    /// One-way: the only direction allowed (true: `in`).
    pub only_inward: Option<bool>,
}

/// A crossing the counter has just confirmed.
#[derive(Clone, Debug, PartialEq)]
pub struct CrossingEvent {
    pub line: usize,
    /// True for the line's `in` direction.
    pub inward: bool,
    pub track_id: u64,
    pub class: String,
    /// Against the one direction the line allows.
    pub wrong_way: bool,
}

/// One observation of a confirmed track on one frame.
#[derive(Clone, Debug, PartialEq)]
pub struct TrackObservation {
    pub track_id: u64,
    pub bbox: BBox,
    pub class: String,
}

/// A crossing seen but not yet confirmed: the track must stay on the new side.
#[derive(Clone, Copy, Debug)]
struct Pending {
    inward: bool,
    frames_on_side: u32,
}

#[derive(Default)]
struct TrackState {
    last_anchor: Option<Point>,
    last_seen: u64,
    /// Per line.
    pending: HashMap<usize, Pending>,
    /// (line, inward) already counted.
    counted: HashSet<(usize, bool)>,
}

/// Totals per line, class and direction.
pub type Totals = Vec<HashMap<(String, bool), u64>>;

/// The line counter of one stream.
pub struct CrossingCounter {
    lines: Vec<Line>,
    anchor: Anchor,
    min_frames: u32,
    /// A track not seen for this many frames is forgotten (bounded memory on long runs).
    forget_after: u64,
    frame: u64,
    tracks: HashMap<u64, TrackState>,
    totals: Totals,
}

impl CrossingCounter {
    pub fn new(lines: Vec<Line>, anchor: Anchor, min_frames: u32) -> Self {
        let totals = vec![HashMap::new(); lines.len()];
        CrossingCounter {
            lines,
            anchor,
            min_frames: min_frames.max(1),
            forget_after: 300,
            frame: 0,
            tracks: HashMap::new(),
            totals,
        }
    }

    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    /// Moves the lines to new pixel positions (the frame size changed, e.g. a camera that came
    /// back at another resolution) and keeps the totals: counts never go back. Anchors seen in
    /// the old pixels are forgotten so no path spans the two geometries; what each track has
    /// counted is kept, so a track that survives the change cannot count twice.
    /// `lines` must be the same lines (names, in order): anything else is an error and changes
    /// nothing.
    pub fn relocate(&mut self, lines: Vec<Line>) -> Result<(), VisionError> {
        let same = lines.len() == self.lines.len() && lines.iter().zip(&self.lines).all(|(a, b)| a.name == b.name);
        if !same {
            let names = |l: &[Line]| l.iter().map(|l| l.name.clone()).collect::<Vec<_>>().join(",");
            return Err(VisionError::Config(format!(
                "relocating lines {} to other lines {}",
                names(&self.lines),
                names(&lines)
            )));
        }
        for (old, new) in self.lines.iter_mut().zip(lines) {
            old.start = new.start;
            old.end = new.end;
        }
        for track in self.tracks.values_mut() {
            track.last_anchor = None;
            track.pending.clear();
        }
        Ok(())
    }

    /// Clears the totals and the crossing state (the lines stay).
    pub fn reset(&mut self) {
        self.tracks.clear();
        self.totals = vec![HashMap::new(); self.lines.len()];
    }

    /// Feeds one frame's observed (not predicted) confirmed tracks; returns the crossings
    /// confirmed on this frame.
    pub fn update(&mut self, observations: &[TrackObservation]) -> Vec<CrossingEvent> {
        self.frame += 1;
        let mut events = Vec::new();
        for obs in observations {
            let p = self.anchor.of(&obs.bbox);
            if !(p.0.is_finite() && p.1.is_finite()) {
                continue;
            }
            let state = self.tracks.entry(obs.track_id).or_default();
            state.last_seen = self.frame;
            let previous = state.last_anchor.replace(p);
            for (li, line) in self.lines.iter().enumerate() {
                let now_side = side(line.start, line.end, p);
                if let Some(q) = previous {
                    if segments_meet(q, p, line.start, line.end)
                        && now_side != 0
                        && side(line.start, line.end, q) != now_side
                    {
                        // A fresh crossing replaces any pending one (jitter back and forth).
                        state.pending.insert(li, Pending { inward: now_side > 0, frames_on_side: 0 });
                    }
                }
                let Some(pending) = state.pending.get_mut(&li) else { continue };
                let on_new_side = now_side == if pending.inward { 1 } else { -1 };
                if !on_new_side && now_side != 0 {
                    // Back before it was confirmed: jitter, not a crossing.
                    state.pending.remove(&li);
                    continue;
                }
                pending.frames_on_side += u32::from(on_new_side);
                if pending.frames_on_side >= self.min_frames {
                    let inward = pending.inward;
                    state.pending.remove(&li);
                    if state.counted.insert((li, inward)) {
                        *self.totals[li].entry((obs.class.clone(), inward)).or_insert(0) += 1;
                        events.push(CrossingEvent {
                            line: li,
                            inward,
                            track_id: obs.track_id,
                            class: obs.class.clone(),
                            wrong_way: line.only_inward.is_some_and(|only| only != inward),
                        });
                    }
                }
            }
        }
        let (frame, forget) = (self.frame, self.forget_after);
        self.tracks.retain(|_, t| frame - t.last_seen <= forget);
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A horizontal line across a 640-wide frame at y = 200, drawn left to right: `in` is down.
    fn counter(min_frames: u32) -> CrossingCounter {
        let line = Line {
            name: "l".into(),
            start: (0.0, 200.0),
            end: (640.0, 200.0),
            in_name: "in".into(),
            out_name: "out".into(),
            only_inward: None,
        };
        CrossingCounter::new(vec![line], Anchor::BottomCenter, min_frames)
    }

    /// A 40x30 car whose bottom centre is at (x, y).
    fn car(id: u64, x: f64, y: f64, class: &str) -> TrackObservation {
        let bbox = BBox::new((x - 20.0) as f32, (y - 30.0) as f32, (x + 20.0) as f32, y as f32);
        TrackObservation { track_id: id, bbox, class: class.into() }
    }

    fn run(c: &mut CrossingCounter, path: &[(u64, f64, f64, &str)]) -> Vec<CrossingEvent> {
        path.iter().flat_map(|&(id, x, y, class)| c.update(&[car(id, x, y, class)])).collect()
    }

    #[test]
    fn relocating_the_lines_keeps_the_totals_and_never_bridges_two_geometries() {
        let mut c = counter(1);
        assert_eq!(run(&mut c, &[(1, 100.0, 150.0, "car"), (1, 100.0, 250.0, "car")]).len(), 1);
        // The frame doubles in size: the line moves to y = 400.
        let line = Line {
            name: "l".into(),
            start: (0.0, 400.0),
            end: (1280.0, 400.0),
            in_name: "in".into(),
            out_name: "out".into(),
            only_inward: None,
        };
        c.relocate(vec![line]).unwrap();
        assert_eq!(c.lines()[0].start, (0.0, 400.0));
        assert_eq!(c.totals()[0][&("car".to_string(), true)], 1);
        // Track 2's last anchor (y = 300, old pixels) is above the new line; its next anchor
        // (y = 500, new pixels) is below it: that path spans two geometries and must not count.
        assert_eq!(run(&mut c, &[(2, 100.0, 300.0, "car")]).len(), 0);
        c.relocate(vec![Line {
            name: "l".into(),
            start: (0.0, 400.0),
            end: (1280.0, 400.0),
            in_name: "in".into(),
            out_name: "out".into(),
            only_inward: None,
        }])
        .unwrap();
        assert!(run(&mut c, &[(2, 100.0, 500.0, "car")]).is_empty());
        let other = Line {
            name: "other".into(),
            start: (0.0, 1.0),
            end: (1.0, 1.0),
            in_name: "a".into(),
            out_name: "b".into(),
            only_inward: None,
        };
        assert!(c.relocate(vec![other]).is_err(), "other lines are not a relocation");
        assert!(c.relocate(Vec::new()).is_err());
        assert_eq!(c.lines()[0].start, (0.0, 400.0), "a refused relocation changes nothing");
        // Track 1 already counted `in`: crossing the moved line again does not count twice.
        assert!(run(&mut c, &[(1, 100.0, 350.0, "car"), (1, 100.0, 450.0, "car")]).is_empty());
        assert_eq!(c.totals()[0][&("car".to_string(), true)], 1);
        // A new track crossing the moved line counts on top.
        assert_eq!(run(&mut c, &[(3, 100.0, 350.0, "car"), (3, 100.0, 450.0, "car")]).len(), 1);
        assert_eq!(c.totals()[0][&("car".to_string(), true)], 2);
    }

    #[test]
    fn jitter_across_the_line_counts_once() {
        let mut c = counter(3);
        let mut path: Vec<(u64, f64, f64, &str)> = vec![(1, 100.0, 150.0, "car"), (1, 100.0, 190.0, "car")];
        // Stops on the line, the box jittering 3 px up and down for 20 frames.
        for i in 0..20 {
            path.push((1, 100.0, if i % 2 == 0 { 202.0 } else { 198.0 }, "car"));
        }
        path.extend([(1, 100.0, 220.0, "car"), (1, 100.0, 240.0, "car"), (1, 100.0, 260.0, "car")]);
        let events = run(&mut c, &path);
        assert_eq!(events.len(), 1, "{events:?}");
        assert!(events[0].inward);
        assert_eq!(c.totals()[0][&("car".to_string(), true)], 1);
    }

    #[test]
    fn a_fast_vehicle_jumping_the_line_counts() {
        let mut c = counter(2);
        // 200 px per frame: above the line, then far below it.
        let events = run(&mut c, &[(1, 300.0, 100.0, "car"), (1, 300.0, 300.0, "car"), (1, 300.0, 500.0, "car")]);
        assert_eq!(events.len(), 1);
        // Crossing diagonally past the end of the segment does not count.
        let mut c = counter(1);
        assert!(run(&mut c, &[(2, 700.0, 100.0, "car"), (2, 900.0, 300.0, "car")]).is_empty());
    }

    #[test]
    fn opposite_directions_count_separately() {
        let mut c = counter(2);
        let down = [(1, 100.0, 150.0, "car"), (1, 100.0, 250.0, "car"), (1, 100.0, 300.0, "car")];
        let up = [(2, 400.0, 300.0, "car"), (2, 400.0, 150.0, "car"), (2, 400.0, 100.0, "car")];
        let events: Vec<_> = run(&mut c, &down).into_iter().chain(run(&mut c, &up)).collect();
        assert_eq!(events.iter().map(|e| e.inward).collect::<Vec<_>>(), [true, false]);
        assert_eq!(c.totals()[0][&("car".to_string(), true)], 1);
        assert_eq!(c.totals()[0][&("car".to_string(), false)], 1);
        // A track counts at most once per direction, even if it comes back and crosses again.
        let again =
            [(1, 100.0, 150.0, "car"), (1, 100.0, 140.0, "car"), (1, 100.0, 250.0, "car"), (1, 100.0, 260.0, "car")];
        let events = run(&mut c, &again);
        assert_eq!(events.iter().filter(|e| e.inward).count(), 0, "{events:?}");
    }

    #[test]
    fn reversing_before_min_frames_does_not_count() {
        let mut c = counter(3);
        let path = [
            (1, 100.0, 150.0, "car"),
            (1, 100.0, 210.0, "car"),
            (1, 100.0, 215.0, "car"),
            (1, 100.0, 150.0, "car"),
            (1, 100.0, 120.0, "car"),
        ];
        assert!(run(&mut c, &path).is_empty());
        assert!(c.totals()[0].is_empty());
    }

    #[test]
    fn class_flicker_does_not_double_count() {
        let mut c = counter(2);
        let path = [
            (1, 100.0, 150.0, "car"),
            (1, 100.0, 250.0, "truck"),
            (1, 100.0, 260.0, "car"),
            (1, 100.0, 270.0, "truck"),
        ];
        let events = run(&mut c, &path);
        assert_eq!(events.len(), 1);
        let total: u64 = c.totals()[0].values().sum();
        assert_eq!(total, 1);
    }

    #[test]
    fn line_specs() {
        let l = LineSpec::parse("north:0.1,0.6,0.9,0.6").unwrap();
        assert!(l.fractional);
        assert_eq!(l.in_pixels(640, 360), ((64.0, 216.0), (576.0, 216.0)));
        assert_eq!((l.in_name.as_str(), l.out_name.as_str()), ("in", "out"));
        let l = LineSpec::parse(" exit : 100, 200, 500,200 : south/north").unwrap();
        assert!(!l.fractional);
        assert_eq!((l.name.as_str(), l.in_name.as_str(), l.out_name.as_str()), ("exit", "south", "north"));
        assert_eq!(LineSpec::parse_list("a:0,0.5,1,0.5;b:0.5,0,0.5,1;").unwrap().len(), 2);
        for bad in [
            "",
            "a",
            "a:1,2,3",
            "a:1,2,3,x",
            "a:1,1,1,1",
            "a:0,0,1,1:in",
            "a:0,0,1,1:x/x",
            "a:-1,0,1,1",
            "a:0,0,1,1:a/b:c",
        ] {
            assert!(LineSpec::parse(bad).is_err(), "{bad}");
        }
        assert!(LineSpec::parse_list("a:0,0,1,1;a:0,1,1,0").is_err());
    }

    #[test]
    fn a_vehicle_crossing_a_one_way_line_the_wrong_way_alarms_once() {
        let spec = LineSpec::parse("ramp:0,200,640,200:down/up:only=down").unwrap();
        assert_eq!(spec.only_inward, Some(true));
        let mut c = CrossingCounter::new(vec![spec.line(640, 480)], Anchor::BottomCenter, 2);
        let allowed = run(&mut c, &[(1, 100.0, 150.0, "car"), (1, 100.0, 250.0, "car"), (1, 100.0, 300.0, "car")]);
        assert_eq!(allowed.iter().map(|e| (e.inward, e.wrong_way)).collect::<Vec<_>>(), [(true, false)]);
        // Up the ramp, hovering on the line on the way (jitter), then back and up again: one alarm.
        let mut path = vec![(2, 400.0, 300.0, "car"), (2, 400.0, 210.0, "car")];
        for i in 0..10 {
            path.push((2, 400.0, if i % 2 == 0 { 195.0 } else { 205.0 }, "car"));
        }
        path.extend([(2, 400.0, 150.0, "car"), (2, 400.0, 100.0, "car"), (2, 400.0, 250.0, "car")]);
        path.extend([(2, 400.0, 260.0, "car"), (2, 400.0, 150.0, "car"), (2, 400.0, 100.0, "car")]);
        let events = run(&mut c, &path);
        let wrong: Vec<_> = events.iter().filter(|e| e.wrong_way).collect();
        assert_eq!(wrong.len(), 1, "{events:?}");
        assert!(!wrong[0].inward && wrong[0].track_id == 2);
        // The wrong-way crossing still counts in its direction.
        assert_eq!(c.totals()[0][&("car".to_string(), false)], 1);
        assert_eq!(LineSpec::parse("r:0,0.5,1,0.5:only=out").unwrap().only_inward, Some(false));
        for bad in ["r:0,0.5,1,0.5:a/b:only=in", "r:0,0.5,1,0.5:only=", "r:0,0.5,1,0.5:a/b:only=a:x"] {
            assert!(LineSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn forgotten_tracks_free_their_state() {
        let mut c = counter(1);
        for id in 0..1000 {
            c.update(&[car(id, 100.0, 100.0, "car")]);
        }
        assert!(c.tracks.len() <= 301);
    }
}
