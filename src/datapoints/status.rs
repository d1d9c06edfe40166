//! The point status a datapoint reports in `<UCPTpointStatus LonFormat="UCPTpointStatus">`.
//!
//! This module owns the `AL_*` enumeration and its wire names (notes/ilon-soap.md §5, from
//! i100PR page-98/122 and PR p.31, p.54). It is pure: it decides no status by itself; the
//! table and the replication layer set it.

use std::fmt;
use std::str::FromStr;

/// An i.LON alarm/point status (`UCPTpointStatus`), e.g. `AL_NO_CONDITION`.
///
/// A healthy point of this emulator reports [`PointStatus::NoCondition`], the status the
/// SmartServer's own WebBinder Write carries (PR p.31). [`PointStatus::Offline`] is the status
/// for an unreachable point (PR p.215). The rest are listed so that any status a peer sends
/// can be parsed and shown again unchanged.
///
/// The default is `AL_NO_CONDITION`, what a healthy emulated point reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PointStatus {
    /// `AL_NO_CONDITION`: no alarm condition (the WebBinder example, PR p.31).
    #[default]
    NoCondition,
    /// `AL_NUL`: status never set by an alarm application (Read example, PR p.54).
    Nul,
    /// `AL_VALUE_INVALID`: the value is invalid.
    ValueInvalid,
    /// `AL_CONSTANT`: the value has not changed for too long.
    Constant,
    /// `AL_OFFLINE`: the point or its device cannot be reached.
    Offline,
    /// `AL_ALM_CONDITION`: set on alarm points by the Alarm Generator (i100PR page-98).
    AlarmCondition,
    /// `AL_TOT_SVC_ALM_1`: total service time alarm 1.
    TotalServiceAlarm1,
    /// `AL_TOT_SVC_ALM_2`: total service time alarm 2.
    TotalServiceAlarm2,
    /// `AL_TOT_SVC_ALM_3`: total service time alarm 3.
    TotalServiceAlarm3,
    /// `AL_LOW_LMT_CLR_1`: low limit 1 cleared (a hysteresis threshold).
    LowLimitClear1,
    /// `AL_LOW_LMT_CLR_2`: low limit 2 cleared (a hysteresis threshold).
    LowLimitClear2,
    /// `AL_HIGH_LMT_CLR_1`: high limit 1 cleared (a hysteresis threshold).
    HighLimitClear1,
    /// `AL_HIGH_LMT_CLR_2`: high limit 2 cleared (a hysteresis threshold).
    HighLimitClear2,
    /// `AL_LOW_LMT_ALM_1`: below low limit 1.
    LowLimitAlarm1,
    /// `AL_LOW_LMT_ALM_2`: below low limit 2.
    LowLimitAlarm2,
    /// `AL_HIGH_LMT_ALM_1`: above high limit 1.
    HighLimitAlarm1,
    /// `AL_HIGH_LMT_ALM_2`: above high limit 2.
    HighLimitAlarm2,
    /// `AL_FIR_ALM`: fire alarm.
    FireAlarm,
    /// `AL_FIR_PRE_ALM`: fire pre-alarm.
    FirePreAlarm,
    /// `AL_FIR_TRBL`: fire trouble.
    FireTrouble,
    /// `AL_FIR_SUPV`: fire supervisory.
    FireSupervisory,
    /// `AL_FIR_TEST_ALM`: fire test alarm.
    FireTestAlarm,
    /// `AL_FIR_TEST_PRE_ALM`: fire test pre-alarm.
    FireTestPreAlarm,
    /// `AL_FIR_ENVCOMP_MAX`: fire environmental compensation at maximum.
    FireEnvCompMax,
    /// `AL_FIR_MONITOR_COND`: fire monitor condition.
    FireMonitorCondition,
    /// `AL_FIR_MAINT_ALERT`: fire maintenance alert.
    FireMaintenanceAlert,
}

/// Every status with its wire name.
const NAMES: [(PointStatus, &str); 26] = [
    (PointStatus::NoCondition, "AL_NO_CONDITION"),
    (PointStatus::Nul, "AL_NUL"),
    (PointStatus::ValueInvalid, "AL_VALUE_INVALID"),
    (PointStatus::Constant, "AL_CONSTANT"),
    (PointStatus::Offline, "AL_OFFLINE"),
    (PointStatus::AlarmCondition, "AL_ALM_CONDITION"),
    (PointStatus::TotalServiceAlarm1, "AL_TOT_SVC_ALM_1"),
    (PointStatus::TotalServiceAlarm2, "AL_TOT_SVC_ALM_2"),
    (PointStatus::TotalServiceAlarm3, "AL_TOT_SVC_ALM_3"),
    (PointStatus::LowLimitClear1, "AL_LOW_LMT_CLR_1"),
    (PointStatus::LowLimitClear2, "AL_LOW_LMT_CLR_2"),
    (PointStatus::HighLimitClear1, "AL_HIGH_LMT_CLR_1"),
    (PointStatus::HighLimitClear2, "AL_HIGH_LMT_CLR_2"),
    (PointStatus::LowLimitAlarm1, "AL_LOW_LMT_ALM_1"),
    (PointStatus::LowLimitAlarm2, "AL_LOW_LMT_ALM_2"),
    (PointStatus::HighLimitAlarm1, "AL_HIGH_LMT_ALM_1"),
    (PointStatus::HighLimitAlarm2, "AL_HIGH_LMT_ALM_2"),
    (PointStatus::FireAlarm, "AL_FIR_ALM"),
    (PointStatus::FirePreAlarm, "AL_FIR_PRE_ALM"),
    (PointStatus::FireTrouble, "AL_FIR_TRBL"),
    (PointStatus::FireSupervisory, "AL_FIR_SUPV"),
    (PointStatus::FireTestAlarm, "AL_FIR_TEST_ALM"),
    (PointStatus::FireTestPreAlarm, "AL_FIR_TEST_PRE_ALM"),
    (PointStatus::FireEnvCompMax, "AL_FIR_ENVCOMP_MAX"),
    (PointStatus::FireMonitorCondition, "AL_FIR_MONITOR_COND"),
    (PointStatus::FireMaintenanceAlert, "AL_FIR_MAINT_ALERT"),
];

/// The `LonFormat` attribute of a `<UCPTpointStatus>` element (PR p.31, p.54).
pub const POINT_STATUS_LON_FORMAT: &str = "UCPTpointStatus";

impl PointStatus {
    /// All statuses, `AL_NO_CONDITION` first, e.g. to list the valid names in an error.
    pub fn all() -> impl Iterator<Item = PointStatus> {
        NAMES.iter().map(|&(status, _)| status)
    }

    /// The wire name, e.g. `AL_NO_CONDITION`.
    pub fn name(self) -> &'static str {
        // Why: NAMES lists every variant, so the fallback is never used; it only keeps this
        // total without a panic path.
        NAMES
            .iter()
            .find(|(status, _)| *status == self)
            .map_or("AL_NUL", |&(_, name)| name)
    }

    /// The status with this exact (case-sensitive) wire name.
    pub fn from_name(name: &str) -> Option<PointStatus> {
        NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .map(|&(status, _)| status)
    }
}

impl fmt::Display for PointStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A `UCPTpointStatus` text that is not one of the `AL_*` names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown point status {0:?}: expected an AL_* name such as AL_NO_CONDITION")]
pub struct PointStatusError(pub String);

impl FromStr for PointStatus {
    type Err = PointStatusError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PointStatus::from_name(s.trim()).ok_or_else(|| PointStatusError(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_round_trips_through_its_name() {
        let mut count = 0;
        for status in PointStatus::all() {
            assert_eq!(status.name().parse::<PointStatus>(), Ok(status));
            assert_eq!(status.to_string(), status.name());
            count += 1;
        }
        assert_eq!(count, 26);
    }

    #[test]
    fn default_status_is_no_condition() {
        assert_eq!(PointStatus::default().name(), "AL_NO_CONDITION");
    }

    #[test]
    fn unknown_or_lower_case_status_is_rejected() {
        assert_eq!(
            "al_nul".parse::<PointStatus>(),
            Err(PointStatusError("al_nul".to_owned()))
        );
        assert_eq!(
            "AL_WHATEVER".parse::<PointStatus>(),
            Err(PointStatusError("AL_WHATEVER".to_owned()))
        );
    }
}
