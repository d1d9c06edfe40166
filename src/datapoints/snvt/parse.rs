//! The text parsers of the typed SNVTs (switch, scalars, time stamp, HVAC mode): the shapes the
//! SmartServer accepts in `<UCPTvalue>`. Separate so `DpType::parse` reads as a plain dispatch.

use super::error::Reason;
use super::scale::{SWITCH_LEVEL, Scale};
use super::{DpValue, HvacMode};

pub(super) fn parse_number(scale: &Scale, text: &str) -> Result<DpValue, Reason> {
    scale
        .parse_steps(text)
        .map(|steps| DpValue::Number(scale.value_of(steps)))
        .ok_or_else(|| scale.range_reason())
}

pub(super) fn parse_switch(text: &str) -> Result<DpValue, Reason> {
    let mut parts = text.split_ascii_whitespace();
    let (Some(level), Some(state), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(Reason::SwitchShape);
    };
    let steps = SWITCH_LEVEL.parse_steps(level).ok_or(Reason::SwitchLevel)?;
    let state = match state {
        "-1" => -1,
        "0" => 0,
        "1" => 1,
        _ => return Err(Reason::SwitchState),
    };
    Ok(DpValue::Switch {
        value: SWITCH_LEVEL.value_of(steps),
        state,
    })
}

pub(super) fn parse_time_stamp(text: &str) -> Result<DpValue, Reason> {
    let (date, time) = text.split_once(['T', ' ']).ok_or(Reason::TimeStampShape)?;
    let (negative, date) = match date.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, date),
    };
    let field = |part: Option<&str>, max_len: usize| -> Result<i64, Reason> {
        match part {
            Some(p)
                if (1..=max_len).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()) =>
            {
                p.parse::<i64>().map_err(|_| Reason::TimeStampShape)
            }
            _ => Err(Reason::TimeStampShape),
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
        return Err(Reason::TimeStampShape);
    }
    let year = if negative { -year } else { year };
    let check = |field, value: i64, min, max| -> Result<u8, Reason> {
        if (min..=max).contains(&value) {
            u8::try_from(value).map_err(|_| Reason::TimeStampShape)
        } else {
            Err(Reason::TimeStampField {
                field,
                value,
                min,
                max,
            })
        }
    };
    if !(-1..=3000).contains(&year) {
        return Err(Reason::TimeStampField {
            field: "year",
            value: year,
            min: -1,
            max: 3000,
        });
    }
    Ok(DpValue::TimeStamp {
        year: i16::try_from(year).map_err(|_| Reason::TimeStampShape)?,
        month: check("month", month, 0, 12)?,
        day: check("day", day, 0, 31)?,
        hour: check("hour", hour, 0, 23)?,
        minute: check("minute", minute, 0, 59)?,
        second: check("second", second, 0, 59)?,
    })
}

pub(super) fn parse_hvac_mode(text: &str) -> Result<DpValue, Reason> {
    HvacMode::from_name(text)
        .map(DpValue::HvacMode)
        .ok_or(Reason::HvacMode)
}
