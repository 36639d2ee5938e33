//! `counts.csv`: linecounter's bins (`[counting] bin`) as a traffic count report, one row per
//! bin, line, class and direction: `start,end,line,class,direction,count,mean_speed_kmh`, in
//! stream seconds. Every bin lists every line, class and direction seen in the run, with 0 where
//! nothing of it crossed, so a day of 15-minute bins has 96 rows for each.

use std::collections::BTreeSet;
use std::path::Path;

use traffic_meta::Bin;

pub const FILE: &str = "counts.csv";
const HEADER: &str = "start,end,line,class,direction,count,mean_speed_kmh";

/// A field as CSV writes it: quoted when it holds a separator, a quote or a line break.
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// The report's text.
pub fn render(bins: &[Bin]) -> String {
    let keys: BTreeSet<(&str, &str, &str)> = bins
        .iter()
        .flat_map(|b| &b.counts)
        .map(|c| (c.line.as_str(), c.class.as_str(), c.direction.as_str()))
        .collect();
    let mut text = format!("{HEADER}\n");
    for bin in bins {
        for &(line, class, direction) in &keys {
            let count = bin
                .counts
                .iter()
                .find(|c| (c.line.as_str(), c.class.as_str(), c.direction.as_str()) == (line, class, direction));
            let speed = count.and_then(|c| c.mean_speed_kmh).map_or(String::new(), |v| format!("{v:.1}"));
            text.push_str(&format!(
                "{:.3},{:.3},{},{},{},{},{speed}\n",
                bin.start,
                bin.end,
                field(line),
                field(class),
                field(direction),
                count.map_or(0, |c| c.count),
            ));
        }
    }
    text
}

pub fn write(path: &Path, bins: &[Bin]) -> Result<(), String> {
    std::fs::write(path, render(bins)).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use traffic_meta::BinCount;

    fn count(class: &str, direction: &str, count: u64, speed: Option<f64>) -> BinCount {
        BinCount {
            line: "street, north".into(),
            class: class.into(),
            direction: direction.into(),
            count,
            mean_speed_kmh: speed,
            mean_headway_s: None,
        }
    }

    #[test]
    fn every_bin_lists_every_line_class_and_direction_seen() {
        let bins = [
            Bin { start: 0.0, end: 10.0, counts: vec![count("car", "down", 2, Some(31.26))] },
            Bin { start: 10.0, end: 20.0, counts: vec![] },
            Bin { start: 20.0, end: 27.5, counts: vec![count("car", "down", 0, None), count("bus", "up", 1, None)] },
        ];
        assert_eq!(
            render(&bins),
            "start,end,line,class,direction,count,mean_speed_kmh\n\
             0.000,10.000,\"street, north\",bus,up,0,\n\
             0.000,10.000,\"street, north\",car,down,2,31.3\n\
             10.000,20.000,\"street, north\",bus,up,0,\n\
             10.000,20.000,\"street, north\",car,down,0,\n\
             20.000,27.500,\"street, north\",bus,up,1,\n\
             20.000,27.500,\"street, north\",car,down,0,\n"
        );
        assert_eq!(render(&[]), format!("{HEADER}\n"));
    }
}
