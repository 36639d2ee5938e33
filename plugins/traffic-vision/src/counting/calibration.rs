//! Calibration of a view: the homography from 4 image points to 4 points of the ground plane
//! in metres (a road rectangle measured once), so an anchor's pixel path becomes metres.

use super::lines::Point;
use crate::VisionError;

/// The four image and world corners as the user gives them.
#[derive(Clone, Debug, PartialEq)]
pub struct CalibrationSpec {
    /// Image corners, in order around the quadrilateral: pixels, or fractions of the frame.
    pub image: [Point; 4],
    /// The same corners on the ground, in metres.
    pub world: [Point; 4],
    /// The image coordinates are fractions of the frame (all within 0..=1).
    pub fractional: bool,
}

/// Twice the signed area of triangle `a b c`.
fn cross(a: Point, b: Point, c: Point) -> f64 {
    (b.0 - a.0) * (c.1 - a.1) - (b.1 - a.1) * (c.0 - a.0)
}

/// Why four corners in order cannot be a quadrilateral of the ground, if they cannot.
fn quad_fault(q: &[Point; 4]) -> Option<&'static str> {
    let scale = q.iter().flat_map(|p| [p.0.abs(), p.1.abs()]).fold(0.0, f64::max).max(1e-12);
    let turns: Vec<f64> = (0..4).map(|i| cross(q[i], q[(i + 1) % 4], q[(i + 2) % 4])).collect();
    // Any three of four corners: the four consecutive triples are all of them.
    if turns.iter().any(|t| t.abs() <= 1e-9 * scale * scale) {
        return Some("three of the points are on one line");
    }
    let (left, right) = (turns.iter().filter(|t| **t > 0.0).count(), turns.iter().filter(|t| **t < 0.0).count());
    if left == 2 && right == 2 {
        return Some("the quadrilateral crosses itself (give the corners in order around it)");
    }
    if left != 4 && right != 4 {
        return Some("the quadrilateral is not convex");
    }
    None
}

impl CalibrationSpec {
    /// Corners from 8 image and 8 world coordinates; refuses non-finite values, three points on a
    /// line and quadrilaterals that cross themselves or are not convex, with the reason.
    pub fn new(image: &[f64], world: &[f64]) -> Result<Self, VisionError> {
        let bad = |why: &str| VisionError::Config(format!("calibration: {why}"));
        if image.len() != 8 || world.len() != 8 {
            return Err(bad("4 image points (8 numbers) and 4 world points (8 numbers) needed"));
        }
        if image.iter().chain(world).any(|c| !c.is_finite()) {
            return Err(bad("coordinates must be finite numbers"));
        }
        if image.iter().any(|c| *c < 0.0) {
            return Err(bad("image coordinates must not be negative"));
        }
        let points = |c: &[f64]| [(c[0], c[1]), (c[2], c[3]), (c[4], c[5]), (c[6], c[7])];
        let (image_points, world_points) = (points(image), points(world));
        if let Some(why) = quad_fault(&image_points) {
            return Err(bad(&format!("image points: {why}")));
        }
        if let Some(why) = quad_fault(&world_points) {
            return Err(bad(&format!("world points: {why}")));
        }
        Ok(CalibrationSpec { image: image_points, world: world_points, fractional: image.iter().all(|c| *c <= 1.0) })
    }

    /// Parses `u1,v1,u2,v2,u3,v3,u4,v4:X1,Y1,X2,Y2,X3,Y3,X4,Y4`.
    pub fn parse(spec: &str) -> Result<Self, VisionError> {
        let numbers = |part: &str| -> Result<Vec<f64>, VisionError> {
            part.split(',').map(|c| c.trim().parse::<f64>()).collect::<Result<_, _>>().map_err(|_| {
                VisionError::Config(format!(
                    "calibration '{spec}': coordinates must be numbers (expected u1,v1,...,u4,v4:X1,Y1,...,X4,Y4)"
                ))
            })
        };
        let (image, world) = spec.trim().split_once(':').ok_or_else(|| {
            VisionError::Config(format!(
                "calibration '{spec}': image and world points must be separated by ':' (u1,v1,...,u4,v4:X1,Y1,...,X4,Y4)"
            ))
        })?;
        Self::new(&numbers(image)?, &numbers(world)?)
    }

    /// The homography of a `width` x `height` frame.
    pub fn in_pixels(&self, width: u32, height: u32) -> Result<Homography, VisionError> {
        let image =
            self.image.map(|(u, v)| if self.fractional { (u * width as f64, v * height as f64) } else { (u, v) });
        Homography::from_points(&image, &self.world)
    }
}

/// A plane-to-plane projective map: image pixels to ground metres.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Homography {
    m: [[f64; 3]; 3],
    /// Sign of the projective scale on the calibrated quadrilateral: points with the other sign
    /// are beyond the horizon.
    w_sign: f64,
}

impl Homography {
    /// The homography that maps each `from` point to its `to` point (direct linear transform,
    /// `h33 = 1`).
    pub fn from_points(from: &[Point; 4], to: &[Point; 4]) -> Result<Self, VisionError> {
        let mut a = [[0.0f64; 9]; 8];
        for (i, (&(u, v), &(x, y))) in from.iter().zip(to).enumerate() {
            a[2 * i] = [u, v, 1.0, 0.0, 0.0, 0.0, -u * x, -v * x, x];
            a[2 * i + 1] = [0.0, 0.0, 0.0, u, v, 1.0, -u * y, -v * y, y];
        }
        let h = solve8(a).ok_or_else(|| VisionError::Config("calibration: the points give no homography".into()))?;
        let m = [[h[0], h[1], h[2]], [h[3], h[4], h[5]], [h[6], h[7], 1.0]];
        let w = |(u, v): Point| m[2][0] * u + m[2][1] * v + 1.0;
        let w_sign = w(from[0]).signum();
        if from.iter().any(|p| w(*p).signum() != w_sign) {
            return Err(VisionError::Config("calibration: the horizon crosses the calibrated quadrilateral".into()));
        }
        Ok(Homography { m, w_sign })
    }

    /// The ground point of image point `p`; None beyond the horizon.
    pub fn to_ground(&self, (u, v): Point) -> Option<Point> {
        let m = &self.m;
        let w = m[2][0] * u + m[2][1] * v + m[2][2];
        if w.is_nan() || w * self.w_sign <= 1e-12 {
            return None;
        }
        let x = (m[0][0] * u + m[0][1] * v + m[0][2]) / w;
        let y = (m[1][0] * u + m[1][1] * v + m[1][2]) / w;
        (x.is_finite() && y.is_finite()).then_some((x, y))
    }
}

/// Solves the 8x8 system of an augmented matrix by Gaussian elimination with partial pivoting.
fn solve8(mut a: [[f64; 9]; 8]) -> Option<[f64; 8]> {
    for col in 0..8 {
        let pivot = (col..8).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        let pivot_row = a[col];
        for (row, r) in a.iter_mut().enumerate() {
            if row != col {
                let f = r[col] / pivot_row[col];
                for (v, p) in r[col..].iter_mut().zip(&pivot_row[col..]) {
                    *v -= f * p;
                }
            }
        }
    }
    let mut x = [0.0; 8];
    for (i, xi) in x.iter_mut().enumerate() {
        *xi = a[i][8] / a[i][i];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESIDENTIAL: &str = "0.42,0.95,0.90,0.95,0.49,0.47,0.335,0.47:0,0,4,0,4,14,0,14";

    #[test]
    fn maps_the_corners_and_keeps_lines_straight() {
        let spec = CalibrationSpec::parse(RESIDENTIAL).unwrap();
        assert!(spec.fractional);
        let h = spec.in_pixels(640, 352).unwrap();
        for (img, world) in spec.image.iter().zip(&spec.world) {
            let g = h.to_ground((img.0 * 640.0, img.1 * 352.0)).unwrap();
            assert!((g.0 - world.0).abs() < 1e-9 && (g.1 - world.1).abs() < 1e-9, "{g:?} vs {world:?}");
        }
        // The image midpoint of the near edge is the world midpoint (a straight edge stays one).
        let mid = h.to_ground(((0.42 + 0.90) / 2.0 * 640.0, 0.95 * 352.0)).unwrap();
        assert!((mid.0 - 2.0).abs() < 1e-9 && mid.1.abs() < 1e-9);
        // Far up the road is farther than 14 m; above the horizon is nowhere.
        assert!(h.to_ground((0.42 * 640.0, 0.40 * 352.0)).unwrap().1 > 14.0);
        assert_eq!(h.to_ground((320.0, 0.0)), None);
        // Fractions follow the frame size: the same world point at twice the resolution.
        let h2 = spec.in_pixels(1280, 704).unwrap();
        let (a, b) = (h.to_ground((300.0, 250.0)).unwrap(), h2.to_ground((600.0, 500.0)).unwrap());
        assert!((a.0 - b.0).abs() < 1e-9 && (a.1 - b.1).abs() < 1e-9);
    }

    #[test]
    fn degenerate_points_fail_with_the_reason() {
        for (spec, why) in [
            ("0.1,0.9,0.5,0.9,0.9,0.9,0.3,0.4:0,0,4,0,4,14,0,14", "image points: three of the points are on one line"),
            ("0.1,0.9,0.9,0.9,0.1,0.4,0.9,0.4:0,0,4,0,4,14,0,14", "image points: the quadrilateral crosses itself"),
            ("0.1,0.9,0.9,0.9,0.5,0.8,0.1,0.4:0,0,4,0,4,14,0,14", "image points: the quadrilateral is not convex"),
            ("0.42,0.95,0.90,0.95,0.49,0.47,0.335,0.47:0,0,4,0,8,0,0,14", "world points: three of the points"),
            ("0.42,0.95,0.90,0.95,0.49,0.47,0.335,0.47:0,0,4,0,0,14,4,14", "world points: the quadrilateral crosses"),
            ("0.42,0.95,0.90,0.95,0.49,0.47,0.335,0.47:0,0,4,0,4,14,0,NaN", "finite"),
            ("0.42,0.95,0.90,0.95,0.49,0.47,0.335,inf:0,0,4,0,4,14,0,14", "finite"),
            ("0.42,0.95,0.90,0.95,0.49,0.47:0,0,4,0,4,14", "4 image points"),
            ("0.42,0.95,0.90,0.95,0.49,0.47,0.335,0.47", "separated by ':'"),
            ("0.42,0.95,x,0.95,0.49,0.47,0.335,0.47:0,0,4,0,4,14,0,14", "must be numbers"),
            ("1,1,1,1,1,1,1,1:0,0,4,0,4,14,0,14", "three of the points"),
        ] {
            let err = CalibrationSpec::parse(spec).unwrap_err().to_string();
            assert!(err.contains(why), "{spec}: {err}");
        }
    }
}
