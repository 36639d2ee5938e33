//! ByteTrack's constant-velocity Kalman filter on `(cx, cy, a, h)`: box centre, aspect ratio
//! `w / h` and height, plus their velocities. Process and measurement noise scale with the
//! box height (`std_weight_position` 1/20, `std_weight_velocity` 1/160), exactly as
//! `KalmanFilterXYAH` in ByteTrack and BoxMOT; `a` and `h` are kept at least 1e-4 after each
//! step, as current BoxMOT does, so a degenerate measurement never yields an inverted box.
//!
//! Fixed-size arrays in `f64` (numpy's precision, for frame-by-frame parity); nothing allocates.
//! Hand-written rather than through a linear-algebra crate: 8x8 fixed matrices are all it needs,
//! and frame-by-frame parity with BoxMOT's numpy code is checked against it.

// Matrix code reads best with explicit indices.
#![allow(clippy::needless_range_loop)]

const STD_WEIGHT_POSITION: f64 = 1.0 / 20.0;
const STD_WEIGHT_VELOCITY: f64 = 1.0 / 160.0;
const MIN_SIZE: f64 = 1e-4;

/// A track's Gaussian state: mean `[cx, cy, a, h, vx, vy, va, vh]` and its covariance.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct XyahKalman {
    pub mean: [f64; 8],
    pub covariance: [[f64; 8]; 8],
}

impl XyahKalman {
    /// A new state at `measurement` (`[cx, cy, a, h]`) with zero velocity.
    pub fn initiate(measurement: [f64; 4]) -> Self {
        let h = measurement[3];
        let (p, v) = (STD_WEIGHT_POSITION * h, STD_WEIGHT_VELOCITY * h);
        let std = [2.0 * p, 2.0 * p, 1e-2, 2.0 * p, 10.0 * v, 10.0 * v, 1e-5, 10.0 * v];
        let mut mean = [0.0; 8];
        mean[..4].copy_from_slice(&measurement);
        let mut state = XyahKalman { mean, covariance: diagonal(std.map(|s| s * s)) };
        state.clamp_size();
        state
    }

    /// One frame ahead: `x = F x`, `P = F P Fᵀ + Q`, with `F` the constant-velocity model.
    pub fn predict(&mut self) {
        let h = self.mean[3];
        let (p, v) = (STD_WEIGHT_POSITION * h, STD_WEIGHT_VELOCITY * h);
        let process_std = [p, p, 1e-2, p, v, v, 1e-5, v];

        for i in 0..4 {
            self.mean[i] += self.mean[i + 4];
        }
        // F = [[I, I], [0, I]]: add the velocity rows, then the velocity columns.
        let cov = &mut self.covariance;
        for i in 0..4 {
            for j in 0..8 {
                cov[i][j] += cov[i + 4][j];
            }
        }
        for row in cov.iter_mut() {
            for j in 0..4 {
                row[j] += row[j + 4];
            }
        }
        for (i, s) in process_std.iter().enumerate() {
            cov[i][i] += s * s;
        }
        self.clamp_size();
    }

    /// Corrects the state with a measured `[cx, cy, a, h]`. A non-finite measurement, or one
    /// whose innovation covariance is not positive definite, leaves the state as it is.
    pub fn update(&mut self, measurement: [f64; 4]) {
        if measurement.iter().any(|v| !v.is_finite()) {
            return;
        }
        let h = self.mean[3];
        let p = STD_WEIGHT_POSITION * h;
        let noise_std = [p, p, 1e-1, p];

        // S = H P Hᵀ + R is the top-left block of P plus R.
        let mut innovation_cov = [[0.0; 4]; 4];
        for i in 0..4 {
            for j in 0..4 {
                innovation_cov[i][j] = self.covariance[i][j];
            }
            innovation_cov[i][i] += noise_std[i] * noise_std[i];
        }
        let Some(chol) = cholesky4(&innovation_cov) else { return };

        // K = P Hᵀ S⁻¹, one row of K per state component (S is symmetric).
        let mut gain = [[0.0; 4]; 8];
        for (i, row) in gain.iter_mut().enumerate() {
            let pht = [self.covariance[i][0], self.covariance[i][1], self.covariance[i][2], self.covariance[i][3]];
            *row = cholesky_solve4(&chol, pht);
        }

        let innovation: [f64; 4] = std::array::from_fn(|k| measurement[k] - self.mean[k]);
        for (i, row) in gain.iter().enumerate() {
            self.mean[i] += (0..4).map(|k| row[k] * innovation[k]).sum::<f64>();
        }

        // P -= K S Kᵀ, as BoxMOT writes it.
        let mut gain_s = [[0.0; 4]; 8];
        for i in 0..8 {
            for j in 0..4 {
                gain_s[i][j] = (0..4).map(|k| gain[i][k] * innovation_cov[k][j]).sum();
            }
        }
        for i in 0..8 {
            for j in 0..8 {
                self.covariance[i][j] -= (0..4).map(|k| gain_s[i][k] * gain[j][k]).sum::<f64>();
            }
        }
        self.clamp_size();
    }

    /// The mean as a `[x1, y1, x2, y2]` box.
    pub fn xyxy(&self) -> [f64; 4] {
        let [cx, cy, a, h] = [self.mean[0], self.mean[1], self.mean[2], self.mean[3]];
        let w = a * h;
        [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0]
    }

    /// ByteTrack zeroes the height velocity of tracks that are not currently tracked before
    /// predicting them, so a lost box keeps its size.
    pub fn freeze_height(&mut self) {
        self.mean[7] = 0.0;
    }

    fn clamp_size(&mut self) {
        // `max` maps NaN to the bound, which keeps a poisoned state visible but bounded.
        self.mean[2] = self.mean[2].max(MIN_SIZE);
        self.mean[3] = self.mean[3].max(MIN_SIZE);
    }
}

fn diagonal<const N: usize>(values: [f64; N]) -> [[f64; N]; N] {
    let mut m = [[0.0; N]; N];
    for (i, v) in values.into_iter().enumerate() {
        m[i][i] = v;
    }
    m
}

/// Lower-triangular `L` with `L Lᵀ = a`, or `None` when `a` is not positive definite.
fn cholesky4(a: &[[f64; 4]; 4]) -> Option<[[f64; 4]; 4]> {
    let mut l = [[0.0; 4]; 4];
    for i in 0..4 {
        for j in 0..=i {
            let sum = a[i][j] - (0..j).map(|k| l[i][k] * l[j][k]).sum::<f64>();
            if i == j {
                if sum.is_nan() || sum <= 0.0 {
                    return None;
                }
                l[i][i] = sum.sqrt();
            } else {
                l[i][j] = sum / l[j][j];
            }
        }
    }
    Some(l)
}

/// Solves `L Lᵀ x = b`.
fn cholesky_solve4(l: &[[f64; 4]; 4], b: [f64; 4]) -> [f64; 4] {
    let mut y = [0.0; 4];
    for i in 0..4 {
        y[i] = (b[i] - (0..i).map(|k| l[i][k] * y[k]).sum::<f64>()) / l[i][i];
    }
    let mut x = [0.0; 4];
    for i in (0..4).rev() {
        x[i] = (y[i] - (i + 1..4).map(|k| l[k][i] * x[k]).sum::<f64>()) / l[i][i];
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_velocity_converges() {
        // A 40 px high box moving +3 px/frame in x and -1 px/frame in y.
        let truth = |t: f64| [100.0 + 3.0 * t, 200.0 - t, 1.5, 40.0];
        let mut kf = XyahKalman::initiate(truth(0.0));
        for t in 1..40 {
            kf.predict();
            kf.update(truth(t as f64));
        }
        assert!((kf.mean[4] - 3.0).abs() < 0.05, "vx {}", kf.mean[4]);
        assert!((kf.mean[5] + 1.0).abs() < 0.05, "vy {}", kf.mean[5]);
        assert!(kf.mean[6].abs() < 1e-3 && kf.mean[7].abs() < 0.05);
        // Ten frames of pure prediction land on the extrapolated truth.
        for _ in 0..10 {
            kf.predict();
        }
        let expected = truth(49.0);
        for k in 0..4 {
            assert!((kf.mean[k] - expected[k]).abs() < 1.0, "component {k}: {} vs {}", kf.mean[k], expected[k]);
        }
    }

    #[test]
    fn covariance_stays_symmetric_and_positive() {
        let mut kf = XyahKalman::initiate([10.0, 10.0, 0.5, 20.0]);
        for t in 0..25 {
            kf.predict();
            if t % 3 != 0 {
                kf.update([10.0 + t as f64, 10.0, 0.5, 20.0]);
            }
        }
        for i in 0..8 {
            assert!(kf.covariance[i][i] > 0.0);
            for j in 0..8 {
                let (a, b) = (kf.covariance[i][j], kf.covariance[j][i]);
                assert!((a - b).abs() <= 1e-9 * a.abs().max(1.0), "P[{i}][{j}]");
            }
        }
    }

    #[test]
    fn degenerate_measurements_do_not_poison_the_box() {
        let mut kf = XyahKalman::initiate([10.0, 10.0, 0.0, 0.0]);
        kf.predict();
        kf.update([f64::NAN, 10.0, 1.0, 10.0]);
        let b = kf.xyxy();
        assert!(b[2] >= b[0] && b[3] >= b[1]);
        assert!(kf.mean[3] >= MIN_SIZE && kf.mean[2] >= MIN_SIZE);
    }
}
