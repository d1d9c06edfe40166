//! `[[datapoint]]` tables (SPEC §3): the emulated datapoint table, validated apart from
//! `[xmpp]` and `[agent]` because it checks names and values against the datapoint types.

use std::collections::HashMap;
use std::ops::Range;

use toml::Spanned;

use super::raw::RawDatapoint;
use super::{CLOCK_DATAPOINT, Position, Validator};
use crate::datapoints::snvt::DpType;
use crate::datapoints::{DatapointConfig, Direction};

impl Validator<'_> {
    pub(super) fn datapoints(&mut self, raw: Vec<Spanned<RawDatapoint>>) -> Vec<DatapointConfig> {
        let mut out = Vec::with_capacity(raw.len());
        let mut seen: HashMap<String, Position> = HashMap::new();
        for dp in raw {
            let header = dp.span();
            let dp = dp.into_inner();
            let name = self
                .required(&dp.name, "[[datapoint]]", &header, "name")
                .and_then(|n| self.datapoint_name(n, &mut seen));
            let dp_type = self
                .required(&dp.dp_type, "[[datapoint]]", &header, "type")
                .and_then(|t| {
                    if t.get_ref().trim().is_empty() {
                        self.error(&t.span(), "datapoint type is empty".to_owned());
                        None
                    } else {
                        Some((DpType::from_name(t.get_ref()), t.span()))
                    }
                });
            let direction = match &dp.direction {
                None => Some(Direction::InOut),
                Some(d) => d.get_ref().parse::<Direction>().ok().or_else(|| {
                    self.error(
                        &d.span(),
                        format!(
                            "datapoint direction {:?} is not one of in, out, in_out",
                            d.get_ref()
                        ),
                    );
                    None
                }),
            };
            let initial = dp_type
                .as_ref()
                .and_then(|(ty, type_span)| self.initial(ty, type_span, dp.value.as_ref()));
            if let (Some(name), Some((dp_type, _)), Some(direction), Some(initial)) =
                (name, dp_type, direction, initial)
            {
                out.push(DatapointConfig {
                    name,
                    dp_type,
                    direction,
                    initial,
                });
            }
        }
        out
    }

    fn datapoint_name(
        &mut self,
        n: &Spanned<String>,
        seen: &mut HashMap<String, Position>,
    ) -> Option<String> {
        let name = n.get_ref();
        let pos = self.pos(&n.span());
        if name.trim().is_empty() {
            self.error(&n.span(), "datapoint name is empty".to_owned());
            None
        } else if let Some(c) = name.chars().find(|c| c.is_control()) {
            self.error(
                &n.span(),
                format!("datapoint name {name:?} contains the control character {c:?}"),
            );
            None
        } else if name == CLOCK_DATAPOINT {
            self.error(
                &n.span(),
                format!(
                    "datapoint {name:?} is built in (the agent's real time clock) and cannot be \
                     configured"
                ),
            );
            None
        } else if let Some(first) = seen.get(name) {
            let first_line = first.line;
            self.error(
                &n.span(),
                format!("duplicate datapoint name {name:?} (first defined at line {first_line})"),
            );
            None
        } else {
            seen.insert(name.clone(), pos);
            Some(name.clone())
        }
    }

    /// The canonical initial value: the parsed `value`, or the type's default (see
    /// [`DatapointConfig::initial`]).
    fn initial(
        &mut self,
        ty: &DpType,
        type_span: &Range<usize>,
        value: Option<&Spanned<String>>,
    ) -> Option<String> {
        let (text, span) = match value {
            Some(v) => (v.get_ref().as_str(), v.span()),
            None => {
                let default = match ty {
                    DpType::Switch => "0.0 0",
                    DpType::TempP | DpType::Temp | DpType::LevPercent => "0",
                    DpType::TimeStamp => "0000-00-00T00:00:00",
                    DpType::HvacMode => "HVAC_AUTO",
                    DpType::Raw { name } => {
                        self.error(
                            type_span,
                            format!(
                                "datapoint type {name:?} needs a value: webbinder keeps this type \
                                 as raw hex bytes and cannot guess its size"
                            ),
                        );
                        return None;
                    }
                };
                (default, type_span.clone())
            }
        };
        match ty.parse(text) {
            Ok(v) => Some(ty.format(&v)),
            Err(e) => {
                self.error(&span, format!("invalid datapoint value: {e}"));
                None
            }
        }
    }
}
