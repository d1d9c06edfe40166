//! How a Write item's `<UCPTvalue>` text becomes a value of the point's type, per its
//! `LonFormat` attribute (notes/ilon-soap.md §3.2, §3.7): the point's own format (short or full
//! format description), a `UCPTvalueDef` preset name, `RAW_HEX` bytes, or one structure field
//! (`SNVT_switch.value`).
//!
//! Pure: it decides the value or the fault; `table.rs` applies it.

use super::fault::WriteFault;
use super::snvt::{DpType, DpValue, PRESET_LON_FORMAT, RAW_HEX_LON_FORMAT};
use super::table::Datapoint;

/// Longest piece of a request quoted in a fault string, so a huge preset name or format
/// cannot make the answer huge.
const MAX_QUOTED_CHARS: usize = 64;

/// `s` in quotes, cut to [`MAX_QUOTED_CHARS`] characters (marked with `...`).
fn quote(s: &str) -> String {
    if s.chars().count() <= MAX_QUOTED_CHARS {
        format!("{s:?}")
    } else {
        let cut: String = s.chars().take(MAX_QUOTED_CHARS).collect();
        format!("{cut:?}...")
    }
}

/// The value a Write item asks for, per its `LonFormat` (notes §3.2, §3.7).
pub(crate) fn resolve_value(
    dp: &Datapoint,
    text: &str,
    lon_format: Option<&str>,
) -> Result<DpValue, WriteFault> {
    let parse = |text: &str| {
        dp.dp_type
            .parse(text)
            .map_err(|e| WriteFault::format(&dp.name, e))
    };
    let Some(format) = lon_format.map(str::trim).filter(|f| !f.is_empty()) else {
        return parse(text);
    };
    if format == PRESET_LON_FORMAT {
        let wanted = text.trim();
        return dp
            .presets
            .iter()
            .find(|(name, _)| name == wanted)
            .map(|(_, value)| value.clone())
            .ok_or_else(|| {
                let names: Vec<&str> = dp.presets.iter().map(|(n, _)| n.as_str()).collect();
                WriteFault::format(
                    &dp.name,
                    format!(
                        "no preset {} for {} (presets: {})",
                        quote(wanted),
                        dp.dp_type.name(),
                        if names.is_empty() {
                            "none".to_owned()
                        } else {
                            names.join(", ")
                        }
                    ),
                )
            });
    }
    if format == RAW_HEX_LON_FORMAT {
        let raw = DpType::from_name(RAW_HEX_LON_FORMAT);
        return match raw.parse(text) {
            Ok(DpValue::Raw(bytes)) => dp
                .dp_type
                .decode(&bytes)
                .map_err(|e| WriteFault::format(&dp.name, e)),
            Ok(other) => Err(WriteFault::format(&dp.name, format!("not hex: {other}"))),
            Err(e) => Err(WriteFault::format(&dp.name, e)),
        };
    }
    let own = dp.dp_type.format_description();
    if DpType::from_name(format).format_description() == own {
        return parse(text);
    }
    if let Some((base, field)) = format.rsplit_once('.')
        && DpType::from_name(base).format_description() == own
    {
        return write_field(dp, field, text);
    }
    Err(WriteFault::format(
        &dp.name,
        format!(
            "LonFormat {} does not match the point's type {}",
            quote(format),
            dp.dp_type.name()
        ),
    ))
}

/// The point's value with one structure field replaced (`LonFormat="SNVT_switch.value"`,
/// PR p.54, p.57-58); the result is validated by the type's parser.
fn write_field(dp: &Datapoint, field: &str, text: &str) -> Result<DpValue, WriteFault> {
    let text = text.trim();
    let plain_number = !text.is_empty()
        && text
            .trim_start_matches(['-', '+'])
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.');
    let unknown = || {
        WriteFault::field_not_found(
            &dp.name,
            format!("{} has no field {}", dp.dp_type.name(), quote(field)),
        )
    };
    let composed = match (&dp.value, field) {
        (DpValue::Switch { state, .. }, "value") => format!("{text} {state}"),
        (DpValue::Switch { .. }, "state") => {
            let current = dp.text();
            let level = current.split(' ').next().unwrap_or("0.0");
            format!("{level} {text}")
        }
        (
            DpValue::TimeStamp {
                year,
                month,
                day,
                hour,
                minute,
                second,
            },
            _,
        ) => {
            let mut parts = [
                year.to_string(),
                month.to_string(),
                day.to_string(),
                hour.to_string(),
                minute.to_string(),
                second.to_string(),
            ];
            let index = ["year", "month", "day", "hour", "minute", "second"]
                .iter()
                .position(|f| *f == field)
                .ok_or_else(unknown)?;
            parts[index] = text.to_owned();
            let [y, mo, d, h, mi, s] = parts;
            format!("{y}-{mo}-{d}T{h}:{mi}:{s}")
        }
        _ => return Err(unknown()),
    };
    if !plain_number {
        return Err(WriteFault::format(
            &dp.name,
            format!(
                "field {} value {} is not a number",
                quote(field),
                quote(text)
            ),
        ));
    }
    dp.dp_type
        .parse(&composed)
        .map_err(|e| WriteFault::format(&dp.name, e))
}
