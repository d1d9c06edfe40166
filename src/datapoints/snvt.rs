//! LON datapoint value types (SNVTs) as the i.LON SmartServer Data Server shows them.
//!
//! This module owns, for each supported standard network variable type: its names
//! (`SNVT_switch`, the `LonFormat` / `UCPTformatDescription` strings), the text form the
//! SmartServer prints in `<UCPTvalue>` (parse, validate, format), the raw LON encoding used
//! when values travel as hex, the default presets (`UCPTvalueDef`), and the numeric distance
//! used for send-on-delta. Any other type name is kept as raw hex bytes.
//!
//! It is pure: no I/O, no clock, no logging. Where a value lives, who may write it (priority)
//! and when it is sent are decided elsewhere.
//!
//! Sources, as cited in `notes/ilon-soap.md`: the SmartServer 2.0 Programmer's Reference (PR),
//! the i.LON 100 Programmer's Reference (i100PR) and Echelon's generated type definitions
//! (pylon) for ranges and encodings.

mod error;
mod hvac_mode;
mod parse;
mod raw_hex;
mod scale;
mod value;

pub use error::ValueError;
pub use hvac_mode::HvacMode;
pub use value::DpValue;

use error::Reason;
use parse::{parse_hvac_mode, parse_number, parse_switch, parse_time_stamp};
use raw_hex::{hex_text, parse_hex};
use scale::{LEV_PERCENT, SWITCH_LEVEL, Scale, TEMP, TEMP_P};

/// The `LonFormat` attribute of a `<UCPTvalue>` that carries a preset name instead of a value
/// (PR p.54, p.442), e.g. `<UCPTvalue LonFormat="UCPTvalueDef">ON</UCPTvalue>`.
pub const PRESET_LON_FORMAT: &str = "UCPTvalueDef";

/// The `LonFormat` of a value given as raw hex bytes (PR p.37: a point without a format
/// description is `RAW_HEX`).
pub const RAW_HEX_LON_FORMAT: &str = "RAW_HEX";

/// Longest value text a write may carry, in bytes, counted before trimming: 1,024.
///
/// Why: a value travels in WebBinder Writes and Read answers, up to 100 items per stanza,
/// below the server's stanza limit (ejabberd's stock 256 KiB): 100 values of 1 KiB plus their
/// markup fit, so an accepted value can always be delivered. Every write path (SOAP Write,
/// `dp write`, replicated writes, configured initial values) goes through [`DpType::parse`],
/// which refuses a longer text (fault 11) before anything is stored, acknowledged or queued.
pub const MAX_VALUE_TEXT_BYTES: usize = 1024;

/// Most bytes of a raw (hex) value: 228, the largest network variable LonTalk carries (long
/// network variables, Neuron firmware 16 and later; the classic limit is 31). Its hex text
/// (456 digits) is within [`MAX_VALUE_TEXT_BYTES`].
pub const MAX_RAW_VALUE_BYTES: usize = 228;

/// Prefix of every standard (SNVT) format description: program ID 0, scope 0 (PR p.37).
const STANDARD_PREFIX: &str = "#0000000000000000[0].";

/// The type of a datapoint: decides how its value text is parsed, printed and encoded.
///
/// Built from the type name in the configuration or in a `LonFormat` attribute with
/// [`DpType::from_name`]; names this module does not know become [`DpType::Raw`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DpType {
    /// `SNVT_switch`: a level 0..100 % in 0.5 steps plus a state -1 (invalid), 0 or 1.
    Switch,
    /// `SNVT_temp_p`: temperature in °C, -273.17..327.66 in 0.01 steps.
    TempP,
    /// `SNVT_temp`: temperature in °C, -274.0..6279.5 in 0.1 steps.
    Temp,
    /// `SNVT_lev_percent`: a percentage, -163.840..163.830 in 0.005 steps.
    LevPercent,
    /// `SNVT_time_stamp`: a date and time of day, every field may be 0 for "not specified".
    TimeStamp,
    /// `SNVT_hvac_mode`: an HVAC mode name such as `HVAC_AUTO`.
    HvacMode,
    /// Any other type: the value is kept and shown as hex bytes.
    Raw {
        /// The type name as configured, e.g. `SNVT_count`.
        name: String,
    },
}

impl DpType {
    /// The type for a configured type name or a `LonFormat` attribute.
    ///
    /// Accepts the short name (`SNVT_switch`) and the full standard format description
    /// (`#0000000000000000[0].SNVT_switch`, optionally with the default `#SI` format).
    /// Anything else, including field formats such as `SNVT_switch.value` and `#US` formats,
    /// becomes [`DpType::Raw`] with the name as given.
    pub fn from_name(name: &str) -> DpType {
        let short = name.strip_prefix(STANDARD_PREFIX).unwrap_or(name);
        let short = short.strip_suffix("#SI").unwrap_or(short);
        match short {
            "SNVT_switch" => DpType::Switch,
            "SNVT_temp_p" => DpType::TempP,
            "SNVT_temp" => DpType::Temp,
            "SNVT_lev_percent" => DpType::LevPercent,
            "SNVT_time_stamp" => DpType::TimeStamp,
            "SNVT_hvac_mode" => DpType::HvacMode,
            _ => DpType::Raw {
                name: name.to_owned(),
            },
        }
    }

    /// The type name, e.g. `SNVT_switch`; for [`DpType::Raw`] the name it was built from.
    pub fn name(&self) -> &str {
        match self {
            DpType::Switch => "SNVT_switch",
            DpType::TempP => "SNVT_temp_p",
            DpType::Temp => "SNVT_temp",
            DpType::LevPercent => "SNVT_lev_percent",
            DpType::TimeStamp => "SNVT_time_stamp",
            DpType::HvacMode => "SNVT_hvac_mode",
            DpType::Raw { name } => name,
        }
    }

    /// The `UCPTformatDescription` of a point of this type (Get, List filters), e.g.
    /// `#0000000000000000[0].SNVT_switch` (PR p.37, p.47).
    ///
    /// A raw type keeps a name that already is a description (`#...`) or `RAW_HEX`, and gets
    /// the standard prefix otherwise.
    pub fn format_description(&self) -> String {
        let name = self.name();
        if name.starts_with('#') || name == RAW_HEX_LON_FORMAT {
            name.to_owned()
        } else {
            format!("{STANDARD_PREFIX}{name}")
        }
    }

    /// The `LonFormat` attribute of a `<UCPTvalue>` holding [`DpType::format`]'s text.
    ///
    /// The format description for known types (PR p.54:
    /// `LonFormat="#0000000000000000[0].SNVT_switch"`); `RAW_HEX` for raw types, whose text is
    /// hex rather than the type's formatted value. Presets use [`PRESET_LON_FORMAT`] instead.
    pub fn lon_format(&self) -> String {
        match self {
            DpType::Raw { .. } => RAW_HEX_LON_FORMAT.to_owned(),
            _ => self.format_description(),
        }
    }

    /// The `Unit` attribute the SmartServer adds to a formatted value in a Read response.
    ///
    /// `value, state`, `°C` (SNVT_temp) and `% of full level` are from PR p.54, `HVAC mode
    /// names` from ikegam; `°C` for SNVT_temp_p and the SNVT_time_stamp field list follow the
    /// same pattern. `None` for raw types.
    pub fn unit(&self) -> Option<&'static str> {
        match self {
            DpType::Switch => Some("value, state"),
            DpType::TempP | DpType::Temp => Some("°C"),
            DpType::LevPercent => Some("% of full level"),
            DpType::TimeStamp => Some("year, month, day, hour, minute, second"),
            DpType::HvacMode => Some("HVAC mode names"),
            DpType::Raw { .. } => None,
        }
    }

    /// Parses and validates a value text as the SmartServer accepts it in `<UCPTvalue>`.
    ///
    /// Surrounding whitespace is ignored. Numbers are plain decimals (no exponent, `.` as the
    /// decimal symbol, i100PR page-40) rounded to the type's resolution, as the Data Server
    /// does when it encodes them; a result outside the type's range is an error. Forms:
    /// `SNVT_switch` `"100.0 1"`; `SNVT_temp_p` `"21.00"`; `SNVT_temp` `"21.0"`;
    /// `SNVT_lev_percent` `"50.000"`; `SNVT_time_stamp` `"2008-04-04T12:57:41"` (a space
    /// instead of `T` is accepted); `SNVT_hvac_mode` `"HVAC_AUTO"`; raw types hex bytes
    /// (`"00C8"`, any case, whitespace allowed between whole bytes).
    ///
    /// A text longer than [`MAX_VALUE_TEXT_BYTES`] (before trimming) and raw values over
    /// [`MAX_RAW_VALUE_BYTES`] are refused before any other work.
    pub fn parse(&self, text: &str) -> Result<DpValue, ValueError> {
        if text.len() > MAX_VALUE_TEXT_BYTES {
            return Err(ValueError::new(
                self.name(),
                text.trim(),
                format!(
                    "the value is {} bytes, longer than {MAX_VALUE_TEXT_BYTES} bytes (the value length limit)",
                    text.len()
                ),
            ));
        }
        let text = text.trim();
        let parsed = match self {
            DpType::Switch => parse_switch(text),
            DpType::TempP => parse_number(&TEMP_P, text),
            DpType::Temp => parse_number(&TEMP, text),
            DpType::LevPercent => parse_number(&LEV_PERCENT, text),
            DpType::TimeStamp => parse_time_stamp(text),
            DpType::HvacMode => parse_hvac_mode(text),
            DpType::Raw { .. } => parse_hex(text).map(DpValue::Raw),
        };
        parsed.map_err(|reason| ValueError::new(self.name(), text, reason.to_string()))
    }

    /// The canonical text the SmartServer prints for a value of this type.
    ///
    /// `SNVT_switch` `"100.0 1"` (PR p.31, p.54; state -1 prints as `"0.0 -1"`, i100PR p.50),
    /// `SNVT_temp` one decimal `"21.0"` (PR p.54), `SNVT_temp_p` two decimals `"21.00"`,
    /// `SNVT_lev_percent` three decimals `"50.000"` (one decimal per digit of resolution),
    /// `SNVT_time_stamp` `"2008-04-04T12:57:41"` (the form of `UCPTsystemTime`, PR p.305),
    /// `SNVT_hvac_mode` the mode name, raw types upper-case hex `"00C8"`.
    ///
    /// For a valid value, `parse(format(v)) == v` and the text is the canonical form of any
    /// text that parses to `v`. A value of another type's shape is printed with
    /// [`DpValue`]'s `Display` (which this type's `parse` then rejects).
    pub fn format(&self, v: &DpValue) -> String {
        let canonical = match (self, v) {
            (DpType::TempP, DpValue::Number(n)) => TEMP_P.canonical_text(*n),
            (DpType::Temp, DpValue::Number(n)) => TEMP.canonical_text(*n),
            (DpType::LevPercent, DpValue::Number(n)) => LEV_PERCENT.canonical_text(*n),
            (DpType::Switch, DpValue::Switch { value, state }) => SWITCH_LEVEL
                .canonical_text(*value)
                .map(|level| format!("{level} {state}")),
            _ => None,
        };
        canonical.unwrap_or_else(|| v.to_string())
    }

    /// The presets (`ValueDef`s) a new point of this type starts with, in `UCPTindex` order,
    /// so that `<UCPTvalue LonFormat="UCPTvalueDef">ON</UCPTvalue>` can be resolved and a Read
    /// can name the preset the value equals.
    ///
    /// `SNVT_switch`: `OFF` = `0.0 0`, `ON` = `100.0 1` (PR p.30-31, p.442). `SNVT_temp` and
    /// `SNVT_temp_p`: `OCCUPIED` 21 °C, `UNOCCUPIED` 16 °C, `STANDBY` 19 °C (PR p.52 gives
    /// these names as 69.8/60.8/66.2 °F, PR p.54 shows `OCCUPIED` at `21.0`). None otherwise.
    pub fn default_presets(&self) -> Vec<(String, DpValue)> {
        let list: &[(&str, DpValue)] = match self {
            DpType::Switch => &[
                (
                    "OFF",
                    DpValue::Switch {
                        value: 0.0,
                        state: 0,
                    },
                ),
                (
                    "ON",
                    DpValue::Switch {
                        value: 100.0,
                        state: 1,
                    },
                ),
            ],
            DpType::TempP | DpType::Temp => &[
                ("OCCUPIED", DpValue::Number(21.0)),
                ("UNOCCUPIED", DpValue::Number(16.0)),
                ("STANDBY", DpValue::Number(19.0)),
            ],
            _ => &[],
        };
        list.iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect()
    }

    /// The raw LON bytes of a value (big-endian, as on the network), for hex transport.
    ///
    /// Sizes: `SNVT_switch` 2 (level in 0.5 %, state as s8), `SNVT_temp_p` and
    /// `SNVT_lev_percent` 2 (s16), `SNVT_temp` 2 (u16, tenths above -274.0), `SNVT_time_stamp`
    /// 7 (year s16, then month, day, hour, minute, second), `SNVT_hvac_mode` 1 (s8).
    /// The value is validated first, as [`DpType::parse`] would.
    pub fn encode(&self, v: &DpValue) -> Result<Vec<u8>, ValueError> {
        let canonical = self.parse(&self.format(v))?;
        let steps = |scale: &Scale, n: f64| scale.steps_of(n).and_then(|s| scale.to_wire(s));
        let bytes = match (self, &canonical) {
            (DpType::Switch, DpValue::Switch { value, state }) => SWITCH_LEVEL
                .steps_of(*value)
                .and_then(|s| u8::try_from(s).ok())
                .map(|level| vec![level, state.to_be_bytes()[0]]),
            (DpType::TempP, DpValue::Number(n)) => steps(&TEMP_P, *n).map(Vec::from),
            (DpType::Temp, DpValue::Number(n)) => steps(&TEMP, *n).map(Vec::from),
            (DpType::LevPercent, DpValue::Number(n)) => steps(&LEV_PERCENT, *n).map(Vec::from),
            (
                DpType::TimeStamp,
                DpValue::TimeStamp {
                    year,
                    month,
                    day,
                    hour,
                    minute,
                    second,
                },
            ) => {
                let [y0, y1] = year.to_be_bytes();
                Some(vec![y0, y1, *month, *day, *hour, *minute, *second])
            }
            (DpType::HvacMode, DpValue::HvacMode(mode)) => Some(mode.code().to_be_bytes().to_vec()),
            (DpType::Raw { .. }, DpValue::Raw(bytes)) => Some(bytes.clone()),
            _ => None,
        };
        bytes.ok_or_else(|| {
            ValueError::new(
                self.name(),
                &self.format(v),
                "the value cannot be encoded for this type".to_owned(),
            )
        })
    }

    /// The value of raw LON bytes (the inverse of [`DpType::encode`]), validated as
    /// [`DpType::parse`] would; the invalid markers (0x7FFF for `SNVT_temp_p` and
    /// `SNVT_lev_percent`) are rejected like the text forms.
    pub fn decode(&self, bytes: &[u8]) -> Result<DpValue, ValueError> {
        let fail = |reason: String| ValueError::new(self.name(), &hex_text(bytes), reason);
        let value = match (self, bytes) {
            (DpType::Switch, &[level, state]) => DpValue::Switch {
                value: SWITCH_LEVEL.value_of(i64::from(level)),
                state: i8::from_be_bytes([state]),
            },
            (DpType::TempP, &[hi, lo]) => {
                DpValue::Number(TEMP_P.value_of(TEMP_P.steps_of_wire([hi, lo])))
            }
            (DpType::Temp, &[hi, lo]) => {
                DpValue::Number(TEMP.value_of(TEMP.steps_of_wire([hi, lo])))
            }
            (DpType::LevPercent, &[hi, lo]) => {
                DpValue::Number(LEV_PERCENT.value_of(LEV_PERCENT.steps_of_wire([hi, lo])))
            }
            (DpType::TimeStamp, &[y0, y1, month, day, hour, minute, second]) => {
                DpValue::TimeStamp {
                    year: i16::from_be_bytes([y0, y1]),
                    month,
                    day,
                    hour,
                    minute,
                    second,
                }
            }
            (DpType::HvacMode, &[code]) => {
                let code = i8::from_be_bytes([code]);
                DpValue::HvacMode(
                    HvacMode::from_code(code)
                        .ok_or_else(|| fail(format!("unknown HVAC mode code {code}")))?,
                )
            }
            (DpType::Raw { .. }, _) if bytes.len() > MAX_RAW_VALUE_BYTES => {
                return Err(fail(Reason::RawTooLong { len: bytes.len() }.to_string()));
            }
            (DpType::Raw { .. }, _) => DpValue::Raw(bytes.to_vec()),
            _ => {
                let len = match self {
                    DpType::TimeStamp => 7,
                    DpType::HvacMode => 1,
                    _ => 2,
                };
                return Err(fail(format!("expected {len} bytes, got {}", bytes.len())));
            }
        };
        // Range checks live in one place: the text parser.
        self.parse(&self.format(&value))
    }
}

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;
