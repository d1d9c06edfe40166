//! The text parsers of the typed SNVTs (switch, scalars, time stamp, HVAC mode): the shapes the
//! SmartServer accepts in `<UCPTvalue>`. Separate so `DpType::parse` reads as a plain dispatch.

use super::scale::{SWITCH_LEVEL, Scale};
use super::{DpValue, HvacMode};

pub(super) fn parse_number(scale: &Scale, text: &str) -> Result<DpValue, String> {
    scale
        .parse_steps(text)
        .map(|steps| DpValue::Number(scale.value_of(steps)))
        .ok_or_else(|| scale.range_reason())
}

pub(super) fn parse_switch(text: &str) -> Result<DpValue, String> {
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

pub(super) fn parse_time_stamp(text: &str) -> Result<DpValue, String> {
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

pub(super) fn parse_hvac_mode(text: &str) -> Result<DpValue, String> {
    HvacMode::from_name(text)
        .map(DpValue::HvacMode)
        .ok_or_else(|| {
            let names: Vec<&str> = HvacMode::all().map(HvacMode::name).collect();
            format!("expected one of {}", names.join(", "))
        })
}
