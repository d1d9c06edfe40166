//! Scalar SNVTs as integer step counts: ranges, exact decimal text and the 16-bit wire value.
//! Separate because the fixed-point arithmetic is one self-contained concept, used by parsing,
//! formatting and the LON byte codec alike.

use super::error::Reason;

/// A scalar SNVT: an integer count of `1 / per_unit` steps, shown with `decimals` decimals.
pub(super) struct Scale {
    /// Steps per unit (100 for a 0.01 resolution). Divides `10^decimals`.
    per_unit: i64,
    decimals: u32,
    /// Smallest and largest valid step counts.
    pub(super) min: i64,
    pub(super) max: i64,
    /// Added to the step count to get the 16-bit wire value.
    offset: i64,
    /// Whether the wire value is signed (`i16`) or unsigned (`u16`).
    signed: bool,
}

/// `SNVT_temp_p`: s16, 0.01 °C; 0x7FFF (327.67) is the invalid value (pylon `SNVT_temp_p.py`).
pub(super) const TEMP_P: Scale = Scale {
    per_unit: 100,
    decimals: 2,
    min: -27_317,
    max: 32_766,
    offset: 0,
    signed: true,
};

/// `SNVT_temp`: u16 tenths of a degree above -274.0 °C (pylon `SNVT_temp.py`).
pub(super) const TEMP: Scale = Scale {
    per_unit: 10,
    decimals: 1,
    min: -2_740,
    max: 62_795,
    offset: 2_740,
    signed: false,
};

/// `SNVT_lev_percent`: s16, 0.005 %; 0x7FFF (163.835) is the invalid value (pylon).
pub(super) const LEV_PERCENT: Scale = Scale {
    per_unit: 200,
    decimals: 3,
    min: -32_768,
    max: 32_766,
    offset: 0,
    signed: true,
};

/// `SNVT_switch` level: u8, 0.5 %, 0..=200 (pylon `SNVT_switch.py`).
pub(super) const SWITCH_LEVEL: Scale = Scale {
    per_unit: 2,
    decimals: 1,
    min: 0,
    max: 200,
    offset: 0,
    signed: false,
};

impl Scale {
    /// Step count of a number, rounded half away from zero; `None` for NaN or infinity.
    pub(super) fn steps_of(&self, v: f64) -> Option<i64> {
        // `as` saturates for huge values, which then fail the range check.
        v.is_finite()
            .then(|| (v * self.per_unit as f64).round() as i64)
    }

    /// The number a step count stands for; the nearest `f64`, equal to parsing its text.
    pub(super) fn value_of(&self, steps: i64) -> f64 {
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
    pub(super) fn canonical_text(&self, v: f64) -> Option<String> {
        self.steps_of(v).map(|steps| self.text_of(steps))
    }

    pub(super) fn range_reason(&self) -> Reason {
        Reason::Number {
            min: self.text_of(self.min),
            max: self.text_of(self.max),
        }
    }

    /// Parses decimal text into a valid step count.
    pub(super) fn parse_steps(&self, text: &str) -> Option<i64> {
        let steps = decimal_steps(text, self.per_unit)?;
        let steps = i64::try_from(steps).ok()?;
        (self.min..=self.max).contains(&steps).then_some(steps)
    }

    pub(super) fn to_wire(&self, steps: i64) -> Option<[u8; 2]> {
        let wire = steps + self.offset;
        if self.signed {
            i16::try_from(wire).ok().map(i16::to_be_bytes)
        } else {
            u16::try_from(wire).ok().map(u16::to_be_bytes)
        }
    }

    pub(super) fn steps_of_wire(&self, bytes: [u8; 2]) -> i64 {
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
