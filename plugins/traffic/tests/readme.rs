//! The README's element table against the plugin itself: users configure the elements from that
//! table, so every element the plugin registers has a row, every row names an element that
//! exists, and every property of an element is named in its row.

mod common;

use common::*;
use gst::prelude::*;

/// `(element, description)` of each row of the table under "| element | what it does |".
fn element_rows(readme: &str) -> Vec<(String, String)> {
    readme
        .lines()
        .skip_while(|l| !l.starts_with("| element |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| {
            let mut cells = l.trim_matches('|').splitn(2, '|');
            let name = cells.next()?.trim().trim_matches('`').to_string();
            Some((name, cells.next()?.to_string()))
        })
        .collect()
}

/// Properties every element has from its GStreamer base class, documented by GStreamer.
const BASE_PROPERTIES: [&str; 5] = ["name", "parent", "qos", "async-handling", "message-forward"];

#[test]
fn the_readme_names_every_element_and_each_of_its_properties() {
    init();
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README.md");
    let rows = element_rows(&readme);
    let plugin = gst::Registry::get().find_plugin("traffic").expect("the traffic plugin");
    let registered: Vec<String> = gst::Registry::get()
        .features_by_plugin(&plugin.plugin_name())
        .into_iter()
        .filter(|f| f.type_().is_a(gst::ElementFactory::static_type()))
        .map(|f| f.name().to_string())
        .collect();
    assert!(registered.len() >= 8, "plugin features: {registered:?}");

    let mut missing = Vec::new();
    for name in &registered {
        let Some((_, row)) = rows.iter().find(|(n, _)| n == name) else {
            missing.push(format!("{name}: no row"));
            continue;
        };
        let element = gst::ElementFactory::make(name).build().expect("element");
        for pspec in element.list_properties() {
            let property = pspec.name();
            // Named alone (`model`) or with an example value (`lines="road:..."`).
            let named = row.contains(&format!("`{property}`")) || row.contains(&format!("`{property}="));
            if !BASE_PROPERTIES.contains(&property) && !named {
                missing.push(format!("{name}: `{property}`"));
            }
        }
    }
    for (name, _) in &rows {
        if !registered.contains(name) {
            missing.push(format!("{name}: a row for an element the plugin does not have"));
        }
    }
    assert!(missing.is_empty(), "README.md's element table is out of date:\n{}", missing.join("\n"));
}
