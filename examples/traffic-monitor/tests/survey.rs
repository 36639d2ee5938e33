//! The built `traffic-monitor` as a count and speed survey on the residential street video: a
//! calibrated view gives every crossing a speed, `[counting] bin` writes counts.csv.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use traffic_test_support::shared_data;

const BIN: &str = env!("CARGO_BIN_EXE_traffic-monitor");

/// The near lane as a rough rectangle 4 m wide and 14 m long (issue 15); 8 cars cross `street`
/// towards the camera in the clip's 37.7 s.
const CONFIG: &str = r#"
[plates]
enabled = false
[counting]
bin = "10s"
[calibration]
image = [0.42, 0.95, 0.90, 0.95, 0.49, 0.47, 0.335, 0.47]
world = [0, 0, 4, 0, 4, 14, 0, 14]
[[line]]
name = "street"
points = [0, 0.6, 1, 0.6]
in = "down"
out = "up"
[[zone]]
name = "road"
points = [0.33, 0.55, 0.75, 0.55, 0.9, 0.9, 0.38, 0.9]
[output]
mp4 = false
chart = false
"#;

#[test]
fn a_calibrated_run_gives_every_crossing_a_speed_and_counts_csv_its_bins() {
    let Some(video) = shared_data("videos/ahmetozlu_residential_street.mp4") else { return };
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("traffic-monitor").join("survey");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("traffic.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let status = Command::new(BIN).arg(&video).arg("--config").arg(&config).arg("--out").arg(&dir).status().unwrap();
    assert!(status.success(), "{status}");

    let summary: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    let crossings = summary["crossings"].as_array().unwrap();
    assert_eq!(crossings.len(), 8, "{crossings:?}");
    let speeds: Vec<f64> = crossings.iter().filter_map(|c| c["speed_kmh"].as_f64()).collect();
    // Every crossing has one, the first car's too: it crosses 0.58 s into the clip, tracked
    // since the first frame, more than the half second a speed needs.
    assert_eq!(speeds.len(), 8, "{crossings:?}");
    assert!(speeds.iter().all(|v| (5.0..=90.0).contains(v)), "{speeds:?}");
    let stats = &summary["lines"][0]["speeds"]["car"]["down"];
    assert_eq!(stats["vehicles"], speeds.len(), "{stats}");
    let (mean, v85) = (stats["mean_kmh"].as_f64().unwrap(), stats["v85_kmh"].as_f64().unwrap());
    let want_mean = speeds.iter().sum::<f64>() / speeds.len() as f64;
    assert!((mean - want_mean).abs() < 0.01 && v85 >= stats["median_kmh"].as_f64().unwrap(), "{stats}");
    // Headways: every crossing after the first has one, the gap to the previous crossing.
    assert!(crossings[1..].iter().all(|c| c["headway_s"].as_f64().is_some_and(|h| h > 0.0)), "{crossings:?}");

    // Each visit of the zone over the road has its mean speed; over the visits, a car's speed.
    let zone = &summary["zones"][0];
    assert!(zone["visits_ended"].as_u64() >= Some(6), "{zone}");
    let zone_speed = zone["mean_speed_kmh"].as_f64().expect("the visits' mean speed");
    assert!((5.0..=90.0).contains(&zone_speed), "{zone}");
    let events = std::fs::read_to_string(dir.join("events.jsonl")).expect("events.jsonl");
    let exits: Vec<Value> = events
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["type"] == "zone-exit")
        .collect();
    assert!(exits.iter().any(|e| e["mean_speed_kmh"].is_f64()), "{exits:?}");

    // counts.csv: 10 s bins over 37.7 s are 4 per class seen, and they add up to the 8 crossings.
    let csv = std::fs::read_to_string(dir.join("counts.csv")).expect("counts.csv written");
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("start,end,line,class,direction,count,mean_speed_kmh"));
    let mut per_class: BTreeMap<String, Vec<(f64, f64, u64)>> = BTreeMap::new();
    for row in lines {
        let f: Vec<&str> = row.split(',').collect();
        assert_eq!((f.len(), f[2], f[4]), (7, "street", "down"), "{row}");
        per_class.entry(f[3].to_string()).or_default().push((
            f[0].parse().unwrap(),
            f[1].parse().unwrap(),
            f[5].parse().unwrap(),
        ));
        if f[5] != "0" {
            let mean: f64 = f[6].parse().expect("a bin with crossings has their mean speed");
            assert!((5.0..=90.0).contains(&mean), "{row}");
        }
    }
    assert!(!per_class.is_empty(), "{csv}");
    let mut total = 0;
    for (class, bins) in &per_class {
        assert_eq!(bins.len(), 4, "{class}: {csv}");
        let spans: Vec<(f64, f64)> = bins.iter().map(|b| (b.0, b.1)).collect();
        assert_eq!(&spans[..3], [(0.0, 10.0), (10.0, 20.0), (20.0, 30.0)], "{csv}");
        assert!(spans[3].0 == 30.0 && (spans[3].1 - 37.7).abs() < 0.1, "the last bin ends with the video: {csv}");
        total += bins.iter().map(|b| b.2).sum::<u64>();
    }
    assert_eq!(total, 8, "{csv}");
}
