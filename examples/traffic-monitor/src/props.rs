//! Config sections to element properties, by their `gst-inspect-1.0` names.

use gst::glib;
use gst::glib::translate::{ToGlibPtr, ToGlibPtrMut};
use gst::prelude::*;

/// Sets each `key = value` of `table` as the property `key` of `element`; `section` names the
/// config section in errors.
pub fn apply(element: &gst::Element, section: &str, table: &toml::Table) -> Result<(), String> {
    for (key, value) in table {
        set(element, key, value).map_err(|why| format!("[{section}] {key}: {why}"))?;
    }
    Ok(())
}

/// Sets one property from a TOML scalar, parsed as `gst-launch-1.0` would parse it (numbers,
/// booleans, enum nicks, strings); a wrong name, type or range is an error, not a panic.
pub fn set(element: &gst::Element, key: &str, value: &toml::Value) -> Result<(), String> {
    let factory = element.factory().map_or_else(|| element.name().to_string(), |f| f.name().to_string());
    let pspec = element
        .find_property(key)
        .ok_or_else(|| format!("{factory} has no property '{key}' (gst-inspect-1.0 {factory} lists them)"))?;
    if !pspec.flags().contains(glib::ParamFlags::WRITABLE) || pspec.flags().contains(glib::ParamFlags::CONSTRUCT_ONLY) {
        return Err(format!("{factory}'s '{key}' cannot be set"));
    }
    let text = match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::Float(x) => x.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        other => return Err(format!("expected a string, number or boolean, not {}", other.type_str())),
    };
    let parsed = glib::Value::deserialize_with_pspec(&text, &pspec)
        .map_err(|_| format!("'{text}' is not a valid {} for {factory}", pspec.value_type().name()))?;
    if !in_range(&pspec, &parsed) {
        return Err(format!("{text} is out of range for {factory} ({})", pspec.blurb().unwrap_or_default()));
    }
    element.set_property_from_value(key, &parsed);
    Ok(())
}

/// Whether `value` fits the property's range: glib's setter panics on one that does not.
fn in_range(pspec: &glib::ParamSpec, value: &glib::Value) -> bool {
    let mut copy = value.clone();
    // SAFETY: both pointers are valid for the call; validation only rewrites `copy`.
    let changed =
        unsafe { glib::gobject_ffi::g_param_value_validate(pspec.to_glib_none().0, copy.to_glib_none_mut().0) };
    changed == glib::ffi::GFALSE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue() -> gst::Element {
        gst::init().unwrap();
        gst::ElementFactory::make("queue").build().unwrap()
    }

    #[test]
    fn sets_numbers_enums_and_booleans() {
        let q = queue();
        let table: toml::Table =
            toml::from_str("max-size-buffers = 2\nleaky = \"downstream\"\nsilent = true\n").unwrap();
        apply(&q, "source", &table).unwrap();
        assert_eq!(q.property::<u32>("max-size-buffers"), 2);
        assert!(q.property::<bool>("silent"));
        assert_eq!(q.property_value("leaky").get::<&glib::EnumValue>().map(|v| v.nick()).ok(), Some("downstream"));
    }

    #[test]
    fn bad_names_types_and_ranges_are_errors() {
        let q = queue();
        let err = |text: &str| apply(&q, "s", &toml::from_str(text).unwrap()).unwrap_err();
        assert!(err("max-size-bufers = 2").contains("no property 'max-size-bufers'"));
        assert!(err("leaky = \"sideways\"").contains("sideways"));
        assert!(err("silent = 3").contains("not a valid gboolean"), "{}", err("silent = 3"));
        assert!(err("silent = [1]").contains("expected a string"));
        assert!(err("current-level-buffers = 1").contains("cannot be set"));
        // A number of the right type outside the property's range.
        let balance = gst::ElementFactory::make("videobalance").build().unwrap();
        let out_of_range = apply(&balance, "s", &toml::from_str("contrast = 5.0").unwrap()).unwrap_err();
        assert!(out_of_range.contains("out of range"), "{out_of_range}");
        apply(&balance, "s", &toml::from_str("contrast = 1.5").unwrap()).unwrap();
    }
}
