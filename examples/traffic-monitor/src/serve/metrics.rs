//! `GET /metrics`: the fleet in the Prometheus text format. The counters and gauges are read
//! from the cameras at each scrape (a fresh registry, so a removed camera's series go with it);
//! the stage histogram is observed as frames pass ([`super::stages`]).

use prometheus::core::Collector;
use prometheus::{Encoder, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};

use super::camera::Camera;
use super::stages::STAGE_SECONDS;

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> Result<IntCounterVec, String> {
    let vec = IntCounterVec::new(Opts::new(name, help), labels).map_err(|e| e.to_string())?;
    registry.register(Box::new(vec.clone())).map_err(|e| e.to_string())?;
    Ok(vec)
}

fn gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> Result<IntGaugeVec, String> {
    let vec = IntGaugeVec::new(Opts::new(name, help), labels).map_err(|e| e.to_string())?;
    registry.register(Box::new(vec.clone())).map_err(|e| e.to_string())?;
    Ok(vec)
}

/// The text of a scrape.
pub fn render<'a>(cameras: impl Iterator<Item = &'a Camera>) -> Result<String, String> {
    let registry = Registry::new();
    let frames = counter(&registry, "traffic_frames_total", "Frames analysed", &["camera"])?;
    let dropped = counter(&registry, "traffic_dropped_frames_total", "Frames dropped before analysis", &["camera"])?;
    let reconnects = counter(&registry, "traffic_reconnects_total", "Reconnections of a live source", &["camera"])?;
    let crossings =
        counter(&registry, "traffic_crossings_total", "Line crossings", &["camera", "line", "class", "direction"])?;
    let occupancy =
        gauge(&registry, "traffic_zone_occupancy", "Tracks inside a zone now", &["camera", "zone", "class"])?;
    let spooled = gauge(&registry, "traffic_events_spooled", "Events waiting in the spool for Redis", &["camera"])?;
    let sessions = gauge(
        &registry,
        "traffic_model_sessions",
        "Inference sessions of a model (calls it can run at once)",
        &["model"],
    )?;
    let users = gauge(&registry, "traffic_model_users", "Elements sharing those sessions", &["model"])?;
    for used in traffic_vision::runtime::models_in_use() {
        let name = used.model.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        sessions.with_label_values(&[name.as_str()]).add(i64::try_from(used.sessions).unwrap_or(i64::MAX));
        users.with_label_values(&[name.as_str()]).add(i64::try_from(used.users).unwrap_or(i64::MAX));
    }
    for camera in cameras {
        let status = camera.status();
        let id = status.id.as_str();
        frames.with_label_values(&[id]).inc_by(status.frames);
        dropped.with_label_values(&[id]).inc_by(status.dropped);
        reconnects.with_label_values(&[id]).inc_by(status.reconnects);
        spooled.with_label_values(&[id]).set(i64::try_from(status.spooled).unwrap_or(i64::MAX));
        let counts = camera.counts();
        for line in &counts.lines {
            for (class, directions) in &line.counts {
                for (direction, n) in directions {
                    crossings
                        .with_label_values(&[id, line.name.as_str(), class.as_str(), direction.as_str()])
                        .inc_by(*n);
                }
            }
        }
        for zone in &counts.zones {
            for (class, n) in &zone.occupancy {
                occupancy
                    .with_label_values(&[id, zone.zone.name.as_str(), class.as_str()])
                    .set(i64::try_from(*n).unwrap_or(i64::MAX));
            }
        }
    }
    let mut families = registry.gather();
    families.extend(STAGE_SECONDS.collect());
    let mut text = Vec::new();
    TextEncoder::new().encode(&families, &mut text).map_err(|e| e.to_string())?;
    String::from_utf8(text).map_err(|e| e.to_string())
}
