//! traffic-embed on the first seconds of the residential street video: it must print tracked
//! objects from its pad probe and the crossing and summary from the bus.

use std::process::Command;

use traffic_test_support::shared_data;

/// The track ids (`#N`) of the object lines printed under each frame.
fn object_track_ids(stdout: &str) -> Vec<u64> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("  #"))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

#[test]
fn prints_tracked_objects_and_a_crossing() {
    let Some(video) = shared_data("videos/ahmetozlu_residential_street.mp4") else { return };
    let output = Command::new(env!("CARGO_BIN_EXE_traffic-embed"))
        .arg(&video)
        .args(["--lines", "street:0,0.6,1,0.6:down/up", "--frames", "60"])
        // The binary's own copy of the plugin, not whatever build GST_PLUGIN_PATH points at.
        .env_remove("GST_PLUGIN_PATH")
        .output()
        .expect("run traffic-embed");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "traffic-embed failed: {}", String::from_utf8_lossy(&output.stderr));

    let frames = stdout.lines().filter(|l| l.starts_with("frame ")).count();
    assert!(frames >= 60, "{frames} frames printed");
    let ids = object_track_ids(&stdout);
    assert!(ids.len() > 60, "tracked objects printed: {}", ids.len());

    // The white sedan crosses the line at about frame 14 (BENCHMARKS.md): a crossing message for
    // a track the probe printed, and the summary counts the crossings.
    let crossing = stdout.lines().find(|l| l.starts_with("crossing: line street down, track #")).expect("a crossing");
    let track: u64 = crossing
        .split('#')
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|id| id.parse().ok())
        .expect("crossing track id");
    assert!(ids.contains(&track), "crossing track #{track} printed as an object");
    assert!(stdout.lines().any(|l| l.starts_with("frame ") && l.ends_with(", crossings 1")), "the frame's counts meta");
    let crossings = stdout.lines().filter(|l| l.starts_with("crossing: ")).count();
    assert!(stdout.contains(&format!("summary: street car down {crossings}\n")), "the summary counts every crossing");
}
