//! The `hvac_t` enumeration of `SNVT_hvac_mode`: names and wire codes. Separate because it is
//! a self-contained table that depends on nothing else in `snvt`.

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
