//! SORT's constant-velocity Kalman filter on `(cx, cy, s, r)`: box centre, area `w·h` and
//! aspect ratio `w / h`, with velocities for the centre and the area (the ratio is constant).
//! OC-SORT and BoxMOT's `ocsort.py` use this model, not ByteTrack's: its noise is fixed rather
//! than scaled by the box height, which is what OC-SORT's tuned thresholds assume.
//!
//! Noise as BoxMOT's `KalmanBoxTracker`: `R = diag(1, 1, 10, 10)`,
//! `P₀ = diag(10, 10, 10, 10, 1e4, 1e4, 1e4)`, `Q = diag(1, 1, 1, 1, 0.01, 0.01, 1e-4)`;
//! the update uses the Joseph form as filterpy does. Fixed-size `f64` arrays, no allocation.

// Matrix code reads best with explicit indices.
#![allow(clippy::needless_range_loop)]

const MEASUREMENT_VARIANCE: [f64; 4] = [1.0, 1.0, 10.0, 10.0];
const INITIAL_VARIANCE: [f64; 7] = [10.0, 10.0, 10.0, 10.0, 1e4, 1e4, 1e4];
const PROCESS_VARIANCE: [f64; 7] = [1.0, 1.0, 1.0, 1.0, 0.01, 0.01, 1e-4];

/// State `[cx, cy, s, r, vx, vy, vs]` and its covariance.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct XysrKalman {
    pub x: [f64; 7],
    pub p: [[f64; 7]; 7],
}

impl XysrKalman {
    pub fn initiate(measurement: [f64; 4]) -> Self {
        let mut x = [0.0; 7];
        x[..4].copy_from_slice(&measurement);
        let mut p = [[0.0; 7]; 7];
        for (i, v) in INITIAL_VARIANCE.iter().enumerate() {
            p[i][i] = *v;
        }
        XysrKalman { x, p }
    }

    /// One frame ahead. OC-SORT first stops an area velocity that would make the area
    /// negative; that guard lives in the track (it is skipped during observation replay).
    pub fn predict(&mut self) {
        for i in 0..3 {
            self.x[i] += self.x[i + 4];
        }
        // F = I plus ones at (0,4), (1,5), (2,6): add velocity rows, then velocity columns.
        for i in 0..3 {
            for j in 0..7 {
                self.p[i][j] += self.p[i + 4][j];
            }
        }
        for row in self.p.iter_mut() {
            for j in 0..3 {
                row[j] += row[j + 4];
            }
        }
        for (i, q) in PROCESS_VARIANCE.iter().enumerate() {
            self.p[i][i] += q;
        }
    }

    /// Corrects the state with a measured `[cx, cy, s, r]`. A non-finite measurement or a
    /// singular innovation covariance leaves the state as it is.
    pub fn update(&mut self, z: [f64; 4]) {
        if z.iter().any(|v| !v.is_finite()) {
            return;
        }
        let mut s = [[0.0; 4]; 4];
        for i in 0..4 {
            for j in 0..4 {
                s[i][j] = self.p[i][j];
            }
            s[i][i] += MEASUREMENT_VARIANCE[i];
        }
        let Some(s_inv) = invert4(&s) else { return };

        // K = P Hᵀ S⁻¹ (7×4).
        let mut k = [[0.0; 4]; 7];
        for i in 0..7 {
            for j in 0..4 {
                k[i][j] = (0..4).map(|m| self.p[i][m] * s_inv[m][j]).sum();
            }
        }
        let y: [f64; 4] = std::array::from_fn(|i| z[i] - self.x[i]);
        for i in 0..7 {
            self.x[i] += (0..4).map(|j| k[i][j] * y[j]).sum::<f64>();
        }

        // Joseph form: P = (I − K H) P (I − K H)ᵀ + K R Kᵀ. H selects the first four state
        // components, so (I − K H) M = M − K · (rows 0..4 of M), and likewise on the right.
        let mut ap = self.p;
        for i in 0..7 {
            for j in 0..7 {
                ap[i][j] -= (0..4).map(|m| k[i][m] * self.p[m][j]).sum::<f64>();
            }
        }
        for i in 0..7 {
            for j in 0..7 {
                let apat = ap[i][j] - (0..4).map(|m| ap[i][m] * k[j][m]).sum::<f64>();
                let krk: f64 = (0..4).map(|m| k[i][m] * MEASUREMENT_VARIANCE[m] * k[j][m]).sum();
                self.p[i][j] = apat + krk;
            }
        }
    }

    /// The state as a `[x1, y1, x2, y2]` box; NaN when the area or ratio went negative (the
    /// tracker drops such tracks, as BoxMOT does).
    pub fn xyxy(&self) -> [f64; 4] {
        xysr_to_xyxy([self.x[0], self.x[1], self.x[2], self.x[3]])
    }
}

/// `[cx, cy, s, r]` to `[x1, y1, x2, y2]`, as SORT's `convert_x_to_bbox`.
pub(crate) fn xysr_to_xyxy([cx, cy, s, r]: [f64; 4]) -> [f64; 4] {
    let w = (s * r).sqrt();
    let h = s / w;
    [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0]
}

/// `[x1, y1, x2, y2]` to `[cx, cy, s, r]`, as BoxMOT's `xyxy2xysr` (its 1e-6 included).
pub(crate) fn xyxy_to_xysr([x1, y1, x2, y2]: [f64; 4]) -> [f64; 4] {
    let (w, h) = (x2 - x1, y2 - y1);
    [x1 + w / 2.0, y1 + h / 2.0, w * h, w / (h + 1e-6)]
}

/// Gauss–Jordan inverse with partial pivoting; `None` when singular or not finite.
fn invert4(m: &[[f64; 4]; 4]) -> Option<[[f64; 4]; 4]> {
    let mut a = *m;
    let mut inv = [[0.0; 4]; 4];
    for (i, row) in inv.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for col in 0..4 {
        let pivot = (col..4).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        let magnitude = a[pivot][col].abs();
        if magnitude.is_nan() || magnitude <= 1e-300 {
            return None;
        }
        a.swap(col, pivot);
        inv.swap(col, pivot);
        let d = a[col][col];
        for j in 0..4 {
            a[col][j] /= d;
            inv[col][j] /= d;
        }
        for i in 0..4 {
            if i != col {
                let f = a[i][col];
                for j in 0..4 {
                    a[i][j] -= f * a[col][j];
                    inv[i][j] -= f * inv[col][j];
                }
            }
        }
    }
    Some(inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_velocity_converges() {
        let truth = |t: f64| xyxy_to_xysr([50.0 + 4.0 * t, 80.0 + 0.5 * t, 110.0 + 4.0 * t, 120.0 + 0.5 * t]);
        let mut kf = XysrKalman::initiate(truth(0.0));
        for t in 1..60 {
            kf.predict();
            kf.update(truth(t as f64));
        }
        assert!((kf.x[4] - 4.0).abs() < 0.1, "vx {}", kf.x[4]);
        assert!((kf.x[5] - 0.5).abs() < 0.1, "vy {}", kf.x[5]);
        assert!(kf.x[6].abs() < 1.0, "vs {}", kf.x[6]);
        kf.predict();
        let predicted = kf.xyxy();
        let expected = [50.0 + 240.0, 80.0 + 30.0, 110.0 + 240.0, 120.0 + 30.0];
        for k in 0..4 {
            assert!((predicted[k] - expected[k]).abs() < 1.0, "{predicted:?} vs {expected:?}");
        }
    }

    #[test]
    fn box_conversions_round_trip() {
        let b = [10.0, 20.0, 70.0, 60.0];
        let back = xysr_to_xyxy(xyxy_to_xysr(b));
        for k in 0..4 {
            assert!((back[k] - b[k]).abs() < 1e-3);
        }
    }

    #[test]
    fn inverse_of_known_matrix() {
        let m = [[4.0, 1.0, 0.0, 0.0], [1.0, 3.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0], [0.0, 0.0, 0.0, 5.0]];
        let inv = invert4(&m).expect("invertible");
        for i in 0..4 {
            for j in 0..4 {
                let v: f64 = (0..4).map(|k| m[i][k] * inv[k][j]).sum();
                assert!((v - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12);
            }
        }
        assert!(invert4(&[[0.0; 4]; 4]).is_none());
        assert!(invert4(&[[f64::NAN; 4]; 4]).is_none());
    }

    #[test]
    fn bad_measurements_leave_the_state() {
        let mut kf = XysrKalman::initiate([10.0, 10.0, 100.0, 1.0]);
        let before = kf.clone();
        kf.update([f64::NAN, 0.0, 1.0, 1.0]);
        assert_eq!(kf, before);
    }
}
