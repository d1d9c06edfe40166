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
    pub fn parse(&self, text: &str) -> Result<DpValue, ValueError> {
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
    Ok(bytes)
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
mod tests {
    use super::*;

    fn switch(value: f64, state: i8) -> DpValue {
        DpValue::Switch { value, state }
    }

    fn stamp(year: i16, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> DpValue {
        DpValue::TimeStamp {
            year,
            month,
            day,
            hour,
            minute,
            second,
        }
    }

    fn err(ty: &DpType, text: &str, reason: &str) -> ValueError {
        ValueError {
            type_name: ty.name().to_owned(),
            text: text.to_owned(),
            reason: reason.to_owned(),
        }
    }

    fn canonical(ty: &DpType, text: &str) -> String {
        match ty.parse(text) {
            Ok(v) => ty.format(&v),
            Err(e) => format!("error: {e}"),
        }
    }

    const TEMP_P_RANGE: &str = "expected a number between -273.17 and 327.66";
    const TEMP_RANGE: &str = "expected a number between -274.0 and 6279.5";
    const LEV_RANGE: &str = "expected a number between -163.840 and 163.830";
    const SWITCH_LEVEL_REASON: &str = "expected a level between 0.0 and 100.0 followed by a state";
    const SWITCH_STATE_REASON: &str = "expected a state of -1, 0 or 1 after the level";
    const SWITCH_SHAPE: &str =
        "expected a level and a state separated by a space, e.g. \"100.0 1\"";
    const STAMP_SHAPE: &str = "expected a time stamp like 2008-04-04T12:57:41";
    const HEX_SHAPE: &str = "expected hex bytes (pairs of 0-9, A-F), e.g. 00C8";

    // ---- names and formats ----

    #[test]
    fn from_name_recognises_every_supported_short_name() {
        let names = [
            ("SNVT_switch", DpType::Switch),
            ("SNVT_temp_p", DpType::TempP),
            ("SNVT_temp", DpType::Temp),
            ("SNVT_lev_percent", DpType::LevPercent),
            ("SNVT_time_stamp", DpType::TimeStamp),
            ("SNVT_hvac_mode", DpType::HvacMode),
        ];
        for (name, ty) in names {
            assert_eq!(DpType::from_name(name), ty);
            assert_eq!(ty.name(), name);
        }
    }

    #[test]
    fn from_name_accepts_full_format_description_and_si_suffix() {
        assert_eq!(
            DpType::from_name("#0000000000000000[0].SNVT_switch"),
            DpType::Switch
        );
        assert_eq!(
            DpType::from_name("#0000000000000000[0].SNVT_temp_p#SI"),
            DpType::TempP
        );
    }

    #[test]
    fn from_name_keeps_unknown_field_and_us_formats_as_raw() {
        for name in [
            "SNVT_count",
            "snvt_switch",
            "SNVT_switch.value",
            "#0000000000000000[0].SNVT_temp_f#US",
            "",
        ] {
            assert_eq!(
                DpType::from_name(name),
                DpType::Raw {
                    name: name.to_owned()
                }
            );
        }
        assert_eq!(DpType::from_name("SNVT_count").name(), "SNVT_count");
    }

    #[test]
    fn lon_format_is_the_standard_description_as_in_the_read_example() {
        assert_eq!(
            DpType::Switch.lon_format(),
            "#0000000000000000[0].SNVT_switch"
        );
        assert_eq!(DpType::Temp.lon_format(), "#0000000000000000[0].SNVT_temp");
        assert_eq!(
            DpType::HvacMode.lon_format(),
            "#0000000000000000[0].SNVT_hvac_mode"
        );
        assert_eq!(
            DpType::TimeStamp.lon_format(),
            "#0000000000000000[0].SNVT_time_stamp"
        );
    }

    #[test]
    fn raw_type_has_raw_hex_lon_format_but_keeps_its_description() {
        let ty = DpType::from_name("SNVT_count");
        assert_eq!(ty.lon_format(), "RAW_HEX");
        assert_eq!(ty.format_description(), "#0000000000000000[0].SNVT_count");
        assert_eq!(
            DpType::from_name("#8000010128000000[4].UFPTrealTimeClock").format_description(),
            "#8000010128000000[4].UFPTrealTimeClock"
        );
        assert_eq!(DpType::from_name("RAW_HEX").format_description(), "RAW_HEX");
    }

    #[test]
    fn units_match_the_read_examples() {
        assert_eq!(DpType::Switch.unit(), Some("value, state"));
        assert_eq!(DpType::Temp.unit(), Some("°C"));
        assert_eq!(DpType::TempP.unit(), Some("°C"));
        assert_eq!(DpType::LevPercent.unit(), Some("% of full level"));
        assert_eq!(DpType::HvacMode.unit(), Some("HVAC mode names"));
        assert_eq!(DpType::from_name("SNVT_count").unit(), None);
    }

    // ---- SNVT_switch ----

    #[test]
    fn switch_parses_the_guide_values() {
        // PR p.31 WebBinder Write and p.32 WriteResponse.
        assert_eq!(DpType::Switch.parse("0.0 0"), Ok(switch(0.0, 0)));
        assert_eq!(DpType::Switch.parse("100.0 1"), Ok(switch(100.0, 1)));
        // i100PR p.50: UCPTdefOutput of an output switch.
        assert_eq!(DpType::Switch.parse("0.0 -1"), Ok(switch(0.0, -1)));
    }

    #[test]
    fn switch_formats_one_decimal_and_integer_state() {
        assert_eq!(DpType::Switch.format(&switch(100.0, 1)), "100.0 1");
        assert_eq!(DpType::Switch.format(&switch(0.0, 0)), "0.0 0");
        assert_eq!(DpType::Switch.format(&switch(50.5, -1)), "50.5 -1");
        assert_eq!(DpType::Switch.format(&switch(33.3, 1)), "33.5 1");
    }

    #[test]
    fn switch_text_is_canonicalised_with_trimming_and_rounding_to_half_percent() {
        assert_eq!(canonical(&DpType::Switch, "  100 1\t"), "100.0 1");
        assert_eq!(canonical(&DpType::Switch, "50   1"), "50.0 1");
        assert_eq!(canonical(&DpType::Switch, "33.3 1"), "33.5 1");
        assert_eq!(canonical(&DpType::Switch, "33.2 1"), "33.0 1");
        assert_eq!(canonical(&DpType::Switch, "+0.25 0"), "0.5 0");
    }

    #[test]
    fn switch_round_trips_every_level_and_state() {
        for level in 0..=200_i64 {
            for state in [-1_i8, 0, 1] {
                let v = switch(level as f64 / 2.0, state);
                let text = DpType::Switch.format(&v);
                assert_eq!(DpType::Switch.parse(&text), Ok(v.clone()), "{text}");
            }
        }
    }

    #[test]
    fn switch_accepts_level_bounds_and_rejects_just_outside() {
        assert_eq!(DpType::Switch.parse("0.0 0"), Ok(switch(0.0, 0)));
        assert_eq!(DpType::Switch.parse("100.0 1"), Ok(switch(100.0, 1)));
        for text in ["100.5 1", "-0.5 0", "255 1"] {
            assert_eq!(
                DpType::Switch.parse(text),
                Err(err(&DpType::Switch, text, SWITCH_LEVEL_REASON))
            );
        }
    }

    #[test]
    fn switch_rejects_states_other_than_minus_one_zero_one() {
        for text in ["50.0 2", "50.0 -2", "50.0 1.0", "50.0 on", "50.0 +1"] {
            assert_eq!(
                DpType::Switch.parse(text),
                Err(err(&DpType::Switch, text, SWITCH_STATE_REASON))
            );
        }
    }

    #[test]
    fn switch_rejects_missing_or_extra_fields() {
        for text in ["100.0", "", "ON", "100.0 1 1"] {
            assert_eq!(
                DpType::Switch.parse(text),
                Err(err(&DpType::Switch, text, SWITCH_SHAPE))
            );
        }
    }

    #[test]
    fn switch_default_presets_are_off_then_on() {
        assert_eq!(
            DpType::Switch.default_presets(),
            vec![
                ("OFF".to_owned(), switch(0.0, 0)),
                ("ON".to_owned(), switch(100.0, 1)),
            ]
        );
    }

    // ---- SNVT_temp_p ----

    #[test]
    fn temp_p_formats_two_decimals() {
        assert_eq!(DpType::TempP.format(&DpValue::Number(21.0)), "21.00");
        assert_eq!(DpType::TempP.format(&DpValue::Number(-0.5)), "-0.50");
        assert_eq!(canonical(&DpType::TempP, " 21 "), "21.00");
        assert_eq!(canonical(&DpType::TempP, "21.005"), "21.01");
        assert_eq!(canonical(&DpType::TempP, "-0.004"), "0.00");
    }

    #[test]
    fn temp_p_accepts_bounds_and_rejects_just_outside() {
        assert_eq!(DpType::TempP.parse("-273.17"), Ok(DpValue::Number(-273.17)));
        assert_eq!(DpType::TempP.parse("327.66"), Ok(DpValue::Number(327.66)));
        for text in ["-273.18", "327.67", "1000"] {
            assert_eq!(
                DpType::TempP.parse(text),
                Err(err(&DpType::TempP, text, TEMP_P_RANGE))
            );
        }
    }

    #[test]
    fn temp_p_rejects_garbage_with_the_documented_message() {
        let e = DpType::TempP.parse("abc").unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"abc\" is not a valid SNVT_temp_p value: expected a number between -273.17 and 327.66"
        );
        for text in [
            "NaN", "inf", "-inf", "1e2", "", "12,5", "--1", "+", ".", "-", "1.2.3", "0x10",
        ] {
            assert_eq!(
                DpType::TempP.parse(text),
                Err(err(&DpType::TempP, text, TEMP_P_RANGE)),
                "{text:?}"
            );
        }
    }

    #[test]
    fn temp_p_round_trips_every_valid_step() {
        for steps in TEMP_P.min..=TEMP_P.max {
            let v = DpValue::Number(TEMP_P.value_of(steps));
            let text = DpType::TempP.format(&v);
            assert_eq!(DpType::TempP.parse(&text), Ok(v.clone()), "{text}");
        }
    }

    #[test]
    fn temp_types_have_occupancy_presets() {
        let expected = vec![
            ("OCCUPIED".to_owned(), DpValue::Number(21.0)),
            ("UNOCCUPIED".to_owned(), DpValue::Number(16.0)),
            ("STANDBY".to_owned(), DpValue::Number(19.0)),
        ];
        assert_eq!(DpType::TempP.default_presets(), expected);
        assert_eq!(DpType::Temp.default_presets(), expected);
    }

    // ---- SNVT_temp ----

    #[test]
    fn temp_parses_the_read_example_value() {
        // PR p.54: <UCPTvalue LonFormat="#0000000000000000[0].SNVT_temp" Unit="°C">21.0</UCPTvalue>
        assert_eq!(DpType::Temp.parse("21.0"), Ok(DpValue::Number(21.0)));
        assert_eq!(DpType::Temp.format(&DpValue::Number(21.0)), "21.0");
    }

    #[test]
    fn temp_rounds_half_away_from_zero_to_tenths() {
        assert_eq!(canonical(&DpType::Temp, "21.04"), "21.0");
        assert_eq!(canonical(&DpType::Temp, "21.05"), "21.1");
        assert_eq!(canonical(&DpType::Temp, "-21.05"), "-21.1");
    }

    #[test]
    fn temp_accepts_bounds_and_rejects_just_outside() {
        assert_eq!(DpType::Temp.parse("-274.0"), Ok(DpValue::Number(-274.0)));
        assert_eq!(DpType::Temp.parse("6279.5"), Ok(DpValue::Number(6279.5)));
        for text in ["-274.1", "6279.6"] {
            assert_eq!(
                DpType::Temp.parse(text),
                Err(err(&DpType::Temp, text, TEMP_RANGE))
            );
        }
    }

    #[test]
    fn temp_round_trips_every_wire_value() {
        for wire in 0..=u16::MAX {
            let v = DpType::Temp.decode(&wire.to_be_bytes());
            let Ok(v) = v else {
                panic!("wire {wire} rejected: {v:?}");
            };
            let text = DpType::Temp.format(&v);
            assert_eq!(DpType::Temp.parse(&text), Ok(v.clone()), "{text}");
            assert_eq!(DpType::Temp.encode(&v), Ok(wire.to_be_bytes().to_vec()));
        }
    }

    // ---- SNVT_lev_percent ----

    #[test]
    fn lev_percent_formats_three_decimals_and_rounds_to_half_thousandths() {
        assert_eq!(DpType::LevPercent.format(&DpValue::Number(50.0)), "50.000");
        assert_eq!(canonical(&DpType::LevPercent, "12.3456"), "12.345");
        assert_eq!(canonical(&DpType::LevPercent, "12.3475"), "12.350");
        assert_eq!(canonical(&DpType::LevPercent, "12.3474"), "12.345");
    }

    #[test]
    fn lev_percent_accepts_bounds_and_rejects_just_outside() {
        assert_eq!(
            DpType::LevPercent.parse("-163.84"),
            Ok(DpValue::Number(-163.84))
        );
        assert_eq!(
            DpType::LevPercent.parse("163.83"),
            Ok(DpValue::Number(163.83))
        );
        for text in ["-163.845", "163.835"] {
            assert_eq!(
                DpType::LevPercent.parse(text),
                Err(err(&DpType::LevPercent, text, LEV_RANGE))
            );
        }
    }

    #[test]
    fn lev_percent_round_trips_every_valid_step() {
        for steps in LEV_PERCENT.min..=LEV_PERCENT.max {
            let v = DpValue::Number(LEV_PERCENT.value_of(steps));
            let text = DpType::LevPercent.format(&v);
            assert_eq!(DpType::LevPercent.parse(&text), Ok(v.clone()), "{text}");
        }
    }

    // ---- SNVT_time_stamp ----

    #[test]
    fn time_stamp_round_trips_the_system_time_example() {
        // PR p.305: <UCPTsystemTime>2008-04-04T12:57:41</UCPTsystemTime>
        let v = stamp(2008, 4, 4, 12, 57, 41);
        assert_eq!(
            DpType::TimeStamp.parse("2008-04-04T12:57:41"),
            Ok(v.clone())
        );
        assert_eq!(DpType::TimeStamp.format(&v), "2008-04-04T12:57:41");
    }

    #[test]
    fn time_stamp_accepts_space_separator_and_unpadded_fields() {
        assert_eq!(
            canonical(&DpType::TimeStamp, " 2008-04-04 12:57:41 "),
            "2008-04-04T12:57:41"
        );
        assert_eq!(
            canonical(&DpType::TimeStamp, "8-4-4T1:2:3"),
            "0008-04-04T01:02:03"
        );
    }

    #[test]
    fn time_stamp_accepts_unspecified_and_null_fields() {
        assert_eq!(
            DpType::TimeStamp.parse("0000-00-00T00:00:00"),
            Ok(stamp(0, 0, 0, 0, 0, 0))
        );
        let null = stamp(-1, 0, 0, 0, 0, 0);
        assert_eq!(DpType::TimeStamp.format(&null), "-001-00-00T00:00:00");
        assert_eq!(
            DpType::TimeStamp.parse("-001-00-00T00:00:00"),
            Ok(null.clone())
        );
        assert_eq!(DpType::TimeStamp.parse("-1-00-00T00:00:00"), Ok(null));
    }

    #[test]
    fn time_stamp_accepts_field_maxima() {
        assert_eq!(
            DpType::TimeStamp.parse("3000-12-31T23:59:59"),
            Ok(stamp(3000, 12, 31, 23, 59, 59))
        );
    }

    #[test]
    fn time_stamp_rejects_each_field_just_outside_its_range() {
        let cases = [
            ("3001-01-01T00:00:00", "year 3001 is outside -1..=3000"),
            ("-002-01-01T00:00:00", "year -2 is outside -1..=3000"),
            ("2008-13-01T00:00:00", "month 13 is outside 0..=12"),
            ("2008-01-32T00:00:00", "day 32 is outside 0..=31"),
            ("2008-01-01T24:00:00", "hour 24 is outside 0..=23"),
            ("2008-01-01T00:60:00", "minute 60 is outside 0..=59"),
            ("2008-01-01T00:00:60", "second 60 is outside 0..=59"),
        ];
        for (text, reason) in cases {
            assert_eq!(
                DpType::TimeStamp.parse(text),
                Err(err(&DpType::TimeStamp, text, reason))
            );
        }
    }

    #[test]
    fn time_stamp_rejects_other_shapes() {
        for text in [
            "2008-04-04",
            "2008-04-04T12:57",
            "2008-04-04T12:57:41Z",
            "2008-04-04T12:57:41.116",
            "2008-04-04T12:57:41-07:00",
            "2008/04/04 12:57:41",
            "20080-04-04T12:57:41",
            "2008-004-04T12:57:41",
            "2008-04-04T+1:57:41",
            "",
        ] {
            assert_eq!(
                DpType::TimeStamp.parse(text),
                Err(err(&DpType::TimeStamp, text, STAMP_SHAPE)),
                "{text:?}"
            );
        }
    }

    // ---- SNVT_hvac_mode ----

    #[test]
    fn hvac_mode_parses_the_real_device_value() {
        // ikegam ilonss.c: <UCPTvalue LonFormat="#0000000000000000[0].SNVT_hvac_mode" ...>HVAC_AUTO</UCPTvalue>
        let v = DpType::HvacMode.parse("HVAC_AUTO");
        assert_eq!(v, Ok(DpValue::HvacMode(HvacMode::Auto)));
        assert_eq!(
            DpType::HvacMode.format(&DpValue::HvacMode(HvacMode::Auto)),
            "HVAC_AUTO"
        );
    }

    #[test]
    fn hvac_mode_round_trips_every_name_and_code() {
        let mut count = 0;
        for mode in HvacMode::all() {
            let v = DpValue::HvacMode(mode);
            assert_eq!(DpType::HvacMode.parse(mode.name()), Ok(v.clone()));
            assert_eq!(HvacMode::from_code(mode.code()), Some(mode));
            assert_eq!(
                DpType::HvacMode.encode(&v),
                Ok(vec![mode.code().to_be_bytes()[0]])
            );
            count += 1;
        }
        assert_eq!(count, 22);
        assert_eq!(HvacMode::Nul.code(), -1);
        assert_eq!(HvacMode::NoLoad.code(), 20);
        assert_eq!(HvacMode::MorningWarmup.name(), "HVAC_MRNG_WRMUP");
    }

    #[test]
    fn hvac_mode_rejects_wrong_case_and_codes() {
        for text in ["hvac_auto", "3", "AUTO", ""] {
            let e = DpType::HvacMode.parse(text).unwrap_err();
            assert_eq!(e.text, text);
            assert!(
                e.reason
                    .starts_with("expected one of HVAC_NUL, HVAC_AUTO, HVAC_HEAT,"),
                "{}",
                e.reason
            );
            assert!(
                e.reason.ends_with("HVAC_HVC_LOAD, HVAC_NO_LOAD"),
                "{}",
                e.reason
            );
        }
        assert_eq!(DpType::HvacMode.default_presets(), vec![]);
    }

    // ---- raw types ----

    #[test]
    fn raw_parses_hex_in_any_case_and_formats_upper_case() {
        let ty = DpType::from_name("SNVT_count");
        assert_eq!(ty.parse("00c8"), Ok(DpValue::Raw(vec![0x00, 0xC8])));
        assert_eq!(ty.parse(" 00 C8 "), Ok(DpValue::Raw(vec![0x00, 0xC8])));
        assert_eq!(
            ty.parse("0a0B 0c"),
            Ok(DpValue::Raw(vec![0x0A, 0x0B, 0x0C]))
        );
        assert_eq!(ty.format(&DpValue::Raw(vec![0x00, 0xC8, 0xff])), "00C8FF");
        assert_eq!(ty.default_presets(), vec![]);
    }

    #[test]
    fn raw_rejects_odd_length_non_hex_and_empty_text() {
        let ty = DpType::from_name("SNVT_count");
        for text in ["0", "00C", "0 0", "0g", "xx", "", "0x00"] {
            assert_eq!(ty.parse(text), Err(err(&ty, text, HEX_SHAPE)), "{text:?}");
        }
    }

    // ---- raw encoding ----

    #[test]
    fn encode_gives_big_endian_lon_bytes() {
        let cases: [(DpType, DpValue, Vec<u8>); 7] = [
            (DpType::Switch, switch(100.0, 1), vec![0xC8, 0x01]),
            (DpType::Switch, switch(0.0, -1), vec![0x00, 0xFF]),
            (DpType::TempP, DpValue::Number(21.0), vec![0x08, 0x34]),
            (DpType::TempP, DpValue::Number(-273.17), vec![0x95, 0x4B]),
            (DpType::Temp, DpValue::Number(21.0), vec![0x0B, 0x86]),
            (DpType::LevPercent, DpValue::Number(50.0), vec![0x27, 0x10]),
            (
                DpType::TimeStamp,
                stamp(2008, 4, 4, 12, 57, 41),
                vec![0x07, 0xD8, 4, 4, 12, 57, 41],
            ),
        ];
        for (ty, v, bytes) in cases {
            assert_eq!(ty.encode(&v), Ok(bytes.clone()), "{v:?}");
            assert_eq!(ty.decode(&bytes), Ok(v));
        }
    }

    #[test]
    fn encode_rejects_values_of_another_shape_or_out_of_range() {
        assert_eq!(
            DpType::Switch.encode(&DpValue::Number(3.0)),
            Err(err(&DpType::Switch, "3", SWITCH_SHAPE))
        );
        assert_eq!(
            DpType::TempP.encode(&DpValue::Number(400.0)),
            Err(err(&DpType::TempP, "400.00", TEMP_P_RANGE))
        );
        assert_eq!(
            DpType::TempP.encode(&DpValue::Number(f64::NAN)),
            Err(err(&DpType::TempP, "NaN", TEMP_P_RANGE))
        );
    }

    #[test]
    fn decode_rejects_wrong_length_invalid_markers_and_unknown_codes() {
        assert_eq!(
            DpType::Switch.decode(&[0xC8]),
            Err(err(&DpType::Switch, "C8", "expected 2 bytes, got 1"))
        );
        assert_eq!(
            DpType::TempP.decode(&[0x7F, 0xFF]),
            Err(err(&DpType::TempP, "327.67", TEMP_P_RANGE))
        );
        assert_eq!(
            DpType::LevPercent.decode(&[0x7F, 0xFF]),
            Err(err(&DpType::LevPercent, "163.835", LEV_RANGE))
        );
        assert_eq!(
            DpType::Switch.decode(&[0xC9, 0x01]),
            Err(err(&DpType::Switch, "100.5 1", SWITCH_LEVEL_REASON))
        );
        assert_eq!(
            DpType::Switch.decode(&[0x00, 0x02]),
            Err(err(&DpType::Switch, "0.0 2", SWITCH_STATE_REASON))
        );
        assert_eq!(
            DpType::HvacMode.decode(&[21]),
            Err(err(&DpType::HvacMode, "15", "unknown HVAC mode code 21"))
        );
        assert_eq!(
            DpType::TimeStamp.decode(&[0x07, 0xD8, 13, 1, 0, 0, 0]),
            Err(err(
                &DpType::TimeStamp,
                "2008-13-01T00:00:00",
                "month 13 is outside 0..=12"
            ))
        );
    }

    #[test]
    fn raw_hex_text_converts_to_a_typed_value_through_decode() {
        // A Write with LonFormat="RAW_HEX" to a switch point.
        let raw = DpType::from_name("RAW_HEX");
        let Ok(DpValue::Raw(bytes)) = raw.parse("C801") else {
            panic!("hex not parsed");
        };
        assert_eq!(DpType::Switch.decode(&bytes), Ok(switch(100.0, 1)));
        assert_eq!(raw.decode(&[]), Err(err(&raw, "", HEX_SHAPE)));
    }

    // ---- distance ----

    #[test]
    fn distance_of_numbers_is_the_absolute_difference() {
        assert_eq!(
            DpValue::Number(21.5).distance(&DpValue::Number(20.0)),
            Some(1.5)
        );
        assert_eq!(
            DpValue::Number(-1.0).distance(&DpValue::Number(1.0)),
            Some(2.0)
        );
    }

    #[test]
    fn distance_of_switches_is_the_level_difference_unless_the_state_changes() {
        assert_eq!(switch(50.0, 1).distance(&switch(60.5, 1)), Some(10.5));
        assert_eq!(
            switch(0.0, 0).distance(&switch(0.0, 1)),
            Some(f64::INFINITY)
        );
    }

    #[test]
    fn distance_is_none_for_non_numeric_and_mismatched_values() {
        let t = stamp(2008, 4, 4, 12, 57, 41);
        assert_eq!(t.distance(&t), None);
        let h = DpValue::HvacMode(HvacMode::Heat);
        assert_eq!(h.distance(&h), None);
        assert_eq!(DpValue::Raw(vec![1]).distance(&DpValue::Raw(vec![2])), None);
        assert_eq!(DpValue::Number(1.0).distance(&switch(1.0, 1)), None);
    }

    // ---- errors ----

    #[test]
    fn error_quotes_trimmed_text_and_cuts_long_input() {
        let e = DpType::Temp.parse("  hot \n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"hot\" is not a valid SNVT_temp value: expected a number between -274.0 and 6279.5"
        );
        let long = "9".repeat(100);
        let e = DpType::Temp.parse(&long).unwrap_err();
        assert_eq!(e.text, format!("{}…", "9".repeat(64)));
    }

    #[test]
    fn format_of_a_mismatched_value_uses_the_generic_text() {
        assert_eq!(DpType::TempP.format(&switch(1.0, 1)), "1.0 1");
        assert_eq!(DpType::Switch.format(&DpValue::Number(21.0)), "21");
        assert_eq!(DpType::TempP.format(&DpValue::Number(f64::INFINITY)), "inf");
    }
}
