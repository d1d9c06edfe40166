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

use std::fmt;

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

/// Longest piece of rejected input quoted in a [`ValueError`], so that a huge value cannot
/// flood a log line or a fault string.
const MAX_QUOTED_CHARS: usize = 64;

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

/// A datapoint value that has been parsed and validated for its [`DpType`].
///
/// Numbers are held already rounded to their type's resolution, so two values that print the
/// same compare equal.
#[derive(Debug, Clone, PartialEq)]
pub enum DpValue {
    /// An `SNVT_switch` value.
    Switch {
        /// Level in percent of full level, 0.0..=100.0 in 0.5 steps.
        value: f64,
        /// -1 (invalid / NUL), 0 (off) or 1 (on).
        state: i8,
    },
    /// A scalar: `SNVT_temp_p`, `SNVT_temp` or `SNVT_lev_percent`.
    Number(f64),
    /// An `SNVT_time_stamp` value; 0 in a field means "not specified", year -1 is the NUL date.
    TimeStamp {
        /// -1..=3000.
        year: i16,
        /// 0..=12.
        month: u8,
        /// 0..=31.
        day: u8,
        /// 0..=23.
        hour: u8,
        /// 0..=59.
        minute: u8,
        /// 0..=59.
        second: u8,
    },
    /// An `SNVT_hvac_mode` value.
    HvacMode(HvacMode),
    /// The bytes of a value of a type this module does not interpret.
    Raw(Vec<u8>),
}

/// The `hvac_t` enumeration used by `SNVT_hvac_mode` (pylon `hvac_t.py`).
///
/// The SmartServer shows these by name, e.g. `HVAC_AUTO` (ikegam `ilonss.c`, notes §3.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HvacMode {
    /// `HVAC_NUL` (-1): invalid value.
    Nul,
    /// `HVAC_AUTO` (0): the controller changes between modes itself.
    Auto,
    /// `HVAC_HEAT` (1): heating only.
    Heat,
    /// `HVAC_MRNG_WRMUP` (2): morning warm-up.
    MorningWarmup,
    /// `HVAC_COOL` (3): cooling only.
    Cool,
    /// `HVAC_NIGHT_PURGE` (4): night purge.
    NightPurge,
    /// `HVAC_PRE_COOL` (5): pre-cool.
    PreCool,
    /// `HVAC_OFF` (6): not controlling outputs.
    Off,
    /// `HVAC_TEST` (7): equipment being tested.
    Test,
    /// `HVAC_EMERG_HEAT` (8): emergency heat.
    EmergencyHeat,
    /// `HVAC_FAN_ONLY` (9): fan on, air not conditioned.
    FanOnly,
    /// `HVAC_FREE_COOL` (10): cooling without the compressor.
    FreeCool,
    /// `HVAC_ICE` (11): ice making.
    Ice,
    /// `HVAC_MAX_HEAT` (12): maximum heating.
    MaxHeat,
    /// `HVAC_ECONOMY` (13): economic heat/cool.
    Economy,
    /// `HVAC_DEHUMID` (14): dehumidification.
    Dehumidify,
    /// `HVAC_CALIBRATE` (15): calibration.
    Calibrate,
    /// `HVAC_EMERG_COOL` (16): emergency cool.
    EmergencyCool,
    /// `HVAC_EMERG_STEAM` (17): emergency steam.
    EmergencySteam,
    /// `HVAC_MAX_COOL` (18): maximum cooling.
    MaxCool,
    /// `HVAC_HVC_LOAD` (19): HVAC load.
    HvcLoad,
    /// `HVAC_NO_LOAD` (20): no load.
    NoLoad,
}

/// Every mode with its code and name, in code order.
const HVAC_MODES: [(HvacMode, i8, &str); 22] = [
    (HvacMode::Nul, -1, "HVAC_NUL"),
    (HvacMode::Auto, 0, "HVAC_AUTO"),
    (HvacMode::Heat, 1, "HVAC_HEAT"),
    (HvacMode::MorningWarmup, 2, "HVAC_MRNG_WRMUP"),
    (HvacMode::Cool, 3, "HVAC_COOL"),
    (HvacMode::NightPurge, 4, "HVAC_NIGHT_PURGE"),
    (HvacMode::PreCool, 5, "HVAC_PRE_COOL"),
    (HvacMode::Off, 6, "HVAC_OFF"),
    (HvacMode::Test, 7, "HVAC_TEST"),
    (HvacMode::EmergencyHeat, 8, "HVAC_EMERG_HEAT"),
    (HvacMode::FanOnly, 9, "HVAC_FAN_ONLY"),
    (HvacMode::FreeCool, 10, "HVAC_FREE_COOL"),
    (HvacMode::Ice, 11, "HVAC_ICE"),
    (HvacMode::MaxHeat, 12, "HVAC_MAX_HEAT"),
    (HvacMode::Economy, 13, "HVAC_ECONOMY"),
    (HvacMode::Dehumidify, 14, "HVAC_DEHUMID"),
    (HvacMode::Calibrate, 15, "HVAC_CALIBRATE"),
    (HvacMode::EmergencyCool, 16, "HVAC_EMERG_COOL"),
    (HvacMode::EmergencySteam, 17, "HVAC_EMERG_STEAM"),
    (HvacMode::MaxCool, 18, "HVAC_MAX_COOL"),
    (HvacMode::HvcLoad, 19, "HVAC_HVC_LOAD"),
    (HvacMode::NoLoad, 20, "HVAC_NO_LOAD"),
];

impl HvacMode {
    /// All modes in code order (`HVAC_NUL` first), e.g. to list the valid names.
    pub fn all() -> impl Iterator<Item = HvacMode> {
        HVAC_MODES.iter().map(|&(mode, _, _)| mode)
    }

    /// The name the SmartServer prints, e.g. `HVAC_AUTO`.
    pub fn name(self) -> &'static str {
        // Why: the table lists every variant, so the fallback is never used; it only keeps
        // this total without a panic path.
        self.entry().map_or("HVAC_NUL", |e| e.2)
    }

    /// The enumeration code on the wire (-1 for `HVAC_NUL`).
    pub fn code(self) -> i8 {
        self.entry().map_or(-1, |e| e.1)
    }

    /// The mode with this exact (case-sensitive) name.
    pub fn from_name(name: &str) -> Option<HvacMode> {
        HVAC_MODES.iter().find(|e| e.2 == name).map(|e| e.0)
    }

    /// The mode with this wire code.
    pub fn from_code(code: i8) -> Option<HvacMode> {
        HVAC_MODES.iter().find(|e| e.1 == code).map(|e| e.0)
    }

    fn entry(self) -> Option<&'static (HvacMode, i8, &'static str)> {
        HVAC_MODES.iter().find(|e| e.0 == self)
    }
}

/// A value text (or byte string) that does not fit its datapoint type.
///
/// Maps to i.LON fault 11 ("Format Error") in a Write response; the message names the type,
/// the rejected text and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a valid {type_name} value: {reason}")]
pub struct ValueError {
    /// The type name, e.g. `SNVT_temp_p`.
    pub type_name: String,
    /// The rejected text after trimming (hex for bytes), cut to 64 characters.
    pub text: String,
    /// What was expected instead.
    pub reason: String,
}

impl ValueError {
    fn new(type_name: &str, text: &str, reason: String) -> Self {
        let text = if text.chars().count() > MAX_QUOTED_CHARS {
            let mut cut: String = text.chars().take(MAX_QUOTED_CHARS).collect();
            cut.push('…');
            cut
        } else {
            text.to_owned()
        };
        ValueError {
            type_name: type_name.to_owned(),
            text,
            reason,
        }
    }
}

/// A scalar SNVT: an integer count of `1 / per_unit` steps, shown with `decimals` decimals.
struct Scale {
    /// Steps per unit (100 for a 0.01 resolution). Divides `10^decimals`.
    per_unit: i64,
    decimals: u32,
    /// Smallest and largest valid step counts.
    min: i64,
    max: i64,
    /// Added to the step count to get the 16-bit wire value.
    offset: i64,
    /// Whether the wire value is signed (`i16`) or unsigned (`u16`).
    signed: bool,
}

/// `SNVT_temp_p`: s16, 0.01 °C; 0x7FFF (327.67) is the invalid value (pylon `SNVT_temp_p.py`).
const TEMP_P: Scale = Scale {
    per_unit: 100,
    decimals: 2,
    min: -27_317,
    max: 32_766,
    offset: 0,
    signed: true,
};

/// `SNVT_temp`: u16 tenths of a degree above -274.0 °C (pylon `SNVT_temp.py`).
const TEMP: Scale = Scale {
    per_unit: 10,
    decimals: 1,
    min: -2_740,
    max: 62_795,
    offset: 2_740,
    signed: false,
};

/// `SNVT_lev_percent`: s16, 0.005 %; 0x7FFF (163.835) is the invalid value (pylon).
const LEV_PERCENT: Scale = Scale {
    per_unit: 200,
    decimals: 3,
    min: -32_768,
    max: 32_766,
    offset: 0,
    signed: true,
};

/// `SNVT_switch` level: u8, 0.5 %, 0..=200 (pylon `SNVT_switch.py`).
const SWITCH_LEVEL: Scale = Scale {
    per_unit: 2,
    decimals: 1,
    min: 0,
    max: 200,
    offset: 0,
    signed: false,
};

impl Scale {
    /// Step count of a number, rounded half away from zero; `None` for NaN or infinity.
    fn steps_of(&self, v: f64) -> Option<i64> {
        // `as` saturates for huge values, which then fail the range check.
        v.is_finite()
            .then(|| (v * self.per_unit as f64).round() as i64)
    }

    /// The number a step count stands for; the nearest `f64`, equal to parsing its text.
    fn value_of(&self, steps: i64) -> f64 {
        steps as f64 / self.per_unit as f64
    }

    /// Exact decimal text of a step count, e.g. 2100 steps of 0.01 -> `21.00`.
    fn text_of(&self, steps: i64) -> String {
        let unit = 10_i64.pow(self.decimals);
        let scaled = i128::from(steps) * i128::from(unit / self.per_unit);
        let sign = if scaled < 0 { "-" } else { "" };
        let abs = scaled.unsigned_abs();
        let unit = u128::from(unit.unsigned_abs());
        let width = self.decimals as usize;
        format!("{sign}{}.{:0width$}", abs / unit, abs % unit)
    }

    /// The text of a number rounded to this resolution; `None` for NaN or infinity.
    fn canonical_text(&self, v: f64) -> Option<String> {
        self.steps_of(v).map(|steps| self.text_of(steps))
    }

    fn range_reason(&self) -> String {
        format!(
            "expected a number between {} and {}",
            self.text_of(self.min),
            self.text_of(self.max)
        )
    }

    /// Parses decimal text into a valid step count.
    fn parse_steps(&self, text: &str) -> Option<i64> {
        let steps = decimal_steps(text, self.per_unit)?;
        let steps = i64::try_from(steps).ok()?;
        (self.min..=self.max).contains(&steps).then_some(steps)
    }

    fn to_wire(&self, steps: i64) -> Option<[u8; 2]> {
        let wire = steps + self.offset;
        if self.signed {
            i16::try_from(wire).ok().map(i16::to_be_bytes)
        } else {
            u16::try_from(wire).ok().map(u16::to_be_bytes)
        }
    }

    fn steps_of_wire(&self, bytes: [u8; 2]) -> i64 {
        let wire = if self.signed {
            i64::from(i16::from_be_bytes(bytes))
        } else {
            i64::from(u16::from_be_bytes(bytes))
        };
        wire - self.offset
    }
}

/// Parses plain decimal text (`-12.5`, `+3`, `7.`, `.5`) into a count of `1 / per_unit`
/// steps, rounding half away from zero with exact integer arithmetic.
///
/// Rejects exponents, `inf`, `NaN`, separators other than `.`, and more than 30 digits.
fn decimal_steps(text: &str, per_unit: i64) -> Option<i128> {
    let (negative, body) = match (text.strip_prefix('-'), text.strip_prefix('+')) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        (None, None) => (false, text),
    };
    let (int_part, frac_part) = body.split_once('.').unwrap_or((body, ""));
    let digits = int_part.len() + frac_part.len();
    let all_digits = int_part
        .bytes()
        .chain(frac_part.bytes())
        .all(|b| b.is_ascii_digit());
    if digits == 0 || digits > 30 || !all_digits {
        return None;
    }
    let mut mantissa: i128 = 0;
    for b in int_part.bytes().chain(frac_part.bytes()) {
        mantissa = mantissa * 10 + i128::from(b - b'0');
    }
    let denominator = 10_i128.checked_pow(u32::try_from(frac_part.len()).ok()?)?;
    let numerator = mantissa.checked_mul(i128::from(per_unit))?;
    let mut steps = numerator / denominator;
    if 2 * (numerator % denominator) >= denominator {
        steps += 1;
    }
    Some(if negative { -steps } else { steps })
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
        parsed.map_err(|reason| ValueError::new(self.name(), text, reason))
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
                return Err(fail(raw_too_long(bytes.len())));
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

impl DpValue {
    /// How far apart two values are, for send-on-delta (UG22 p.263).
    ///
    /// Numbers: the absolute difference. Switches: the level difference, or infinity when the
    /// state differs (so any state change passes any delta). `None` for time stamps, HVAC
    /// modes, raw bytes and values of different shapes: compare those with `==`.
    pub fn distance(&self, other: &DpValue) -> Option<f64> {
        match (self, other) {
            (DpValue::Number(a), DpValue::Number(b)) => Some((a - b).abs()),
            (
                DpValue::Switch {
                    value: a,
                    state: sa,
                },
                DpValue::Switch {
                    value: b,
                    state: sb,
                },
            ) => Some(if sa == sb {
                (a - b).abs()
            } else {
                f64::INFINITY
            }),
            _ => None,
        }
    }
}

/// A type-independent rendering: the canonical text for switches, time stamps, HVAC modes and
/// raw bytes, and the shortest text for numbers (`21` rather than `21.0`); use
/// [`DpType::format`] for the SmartServer's text.
impl fmt::Display for DpValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DpValue::Switch { value, state } => write!(f, "{value:.1} {state}"),
            DpValue::Number(n) => write!(f, "{n}"),
            DpValue::TimeStamp {
                year,
                month,
                day,
                hour,
                minute,
                second,
            } => write!(
                f,
                "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}"
            ),
            DpValue::HvacMode(mode) => f.write_str(mode.name()),
            DpValue::Raw(bytes) => f.write_str(&hex_text(bytes)),
        }
    }
}

fn parse_number(scale: &Scale, text: &str) -> Result<DpValue, String> {
    scale
        .parse_steps(text)
        .map(|steps| DpValue::Number(scale.value_of(steps)))
        .ok_or_else(|| scale.range_reason())
}

fn parse_switch(text: &str) -> Result<DpValue, String> {
    let mut parts = text.split_ascii_whitespace();
    let (Some(level), Some(state), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(
            "expected a level and a state separated by a space, e.g. \"100.0 1\"".to_owned(),
        );
    };
    let steps = SWITCH_LEVEL
        .parse_steps(level)
        .ok_or("expected a level between 0.0 and 100.0 followed by a state")?;
    let state = match state {
        "-1" => -1,
        "0" => 0,
        "1" => 1,
        _ => return Err("expected a state of -1, 0 or 1 after the level".to_owned()),
    };
    Ok(DpValue::Switch {
        value: SWITCH_LEVEL.value_of(steps),
        state,
    })
}

fn parse_time_stamp(text: &str) -> Result<DpValue, String> {
    const SHAPE: &str = "expected a time stamp like 2008-04-04T12:57:41";
    let (date, time) = text.split_once(['T', ' ']).ok_or(SHAPE)?;
    let (negative, date) = match date.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, date),
    };
    let field = |part: Option<&str>, max_len: usize| -> Result<i64, String> {
        match part {
            Some(p)
                if (1..=max_len).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()) =>
            {
                p.parse::<i64>().map_err(|_| SHAPE.to_owned())
            }
            _ => Err(SHAPE.to_owned()),
        }
    };
    let mut d = date.split('-');
    let mut t = time.split(':');
    let year = field(d.next(), 4)?;
    let month = field(d.next(), 2)?;
    let day = field(d.next(), 2)?;
    let hour = field(t.next(), 2)?;
    let minute = field(t.next(), 2)?;
    let second = field(t.next(), 2)?;
    if d.next().is_some() || t.next().is_some() {
        return Err(SHAPE.to_owned());
    }
    let year = if negative { -year } else { year };
    let check = |name: &str, v: i64, lo: i64, hi: i64| -> Result<u8, String> {
        if (lo..=hi).contains(&v) {
            u8::try_from(v).map_err(|_| SHAPE.to_owned())
        } else {
            Err(format!("{name} {v} is outside {lo}..={hi}"))
        }
    };
    if !(-1..=3000).contains(&year) {
        return Err(format!("year {year} is outside -1..=3000"));
    }
    Ok(DpValue::TimeStamp {
        year: i16::try_from(year).map_err(|_| SHAPE.to_owned())?,
        month: check("month", month, 0, 12)?,
        day: check("day", day, 0, 31)?,
        hour: check("hour", hour, 0, 23)?,
        minute: check("minute", minute, 0, 59)?,
        second: check("second", second, 0, 59)?,
    })
}

fn parse_hvac_mode(text: &str) -> Result<DpValue, String> {
    HvacMode::from_name(text)
        .map(DpValue::HvacMode)
        .ok_or_else(|| {
            let names: Vec<&str> = HvacMode::all().map(HvacMode::name).collect();
            format!("expected one of {}", names.join(", "))
        })
}

fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    const SHAPE: &str = "expected hex bytes (pairs of 0-9, A-F), e.g. 00C8";
    let mut bytes = Vec::new();
    for group in text.split_ascii_whitespace() {
        let digits = group.as_bytes();
        if digits.len() % 2 != 0 {
            return Err(SHAPE.to_owned());
        }
        for pair in digits.chunks_exact(2) {
            let &[hi, lo] = pair else {
                return Err(SHAPE.to_owned());
            };
            let hi = hex_digit(hi).ok_or(SHAPE)?;
            let lo = hex_digit(lo).ok_or(SHAPE)?;
            bytes.push(hi << 4 | lo);
        }
    }
    if bytes.is_empty() {
        return Err(SHAPE.to_owned());
    }
    if bytes.len() > MAX_RAW_VALUE_BYTES {
        return Err(raw_too_long(bytes.len()));
    }
    Ok(bytes)
}

fn raw_too_long(len: usize) -> String {
    format!(
        "{len} bytes, more than the {MAX_RAW_VALUE_BYTES} bytes of the largest LonTalk network variable"
    )
}

fn hex_digit(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

fn hex_text(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut text = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        text.push(char::from(DIGITS[usize::from(b >> 4)]));
        text.push(char::from(DIGITS[usize::from(b & 0x0F)]));
    }
    text
}

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;
