//! When a Web connection sends (SPEC §4, notes/ilon-soap.md §6.4): the change test
//! (send-on-delta, by default "only if the value changed") and the min-send-time throttle.
//! Pure: values and instants in, a decision out.

use std::time::{Duration, Instant};

use crate::datapoints::DpValue;

/// What to do with one update of a connection's source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Enqueue it now.
    Send,
    /// Not a change worth sending.
    Skip,
    /// A change, but the throttle holds it until this instant (the newest value then wins).
    Defer(Instant),
}

/// Whether `new` is a change worth sending after `last` (the value last enqueued).
///
/// `None` delta: any difference (the Web connection default, UG22 p.263); `0`: every update,
/// even an unchanged one; `d > 0`: a move of at least `d` (any state change of a switch, any
/// difference for types without a distance).
pub fn is_change(delta: Option<f64>, last: Option<&DpValue>, new: &DpValue) -> bool {
    let Some(last) = last else {
        return true;
    };
    match delta {
        None => last != new,
        Some(d) if d <= 0.0 => true,
        Some(d) => new.distance(last).map_or(last != new, |x| x >= d),
    }
}

/// The decision for an update at `now`, given the connection's settings and history.
pub fn decide(
    delta: Option<f64>,
    min_send: Option<Duration>,
    last: Option<&DpValue>,
    last_sent_at: Option<Instant>,
    new: &DpValue,
    now: Instant,
) -> Decision {
    if !is_change(delta, last, new) {
        return Decision::Skip;
    }
    match (min_send, last_sent_at) {
        (Some(min), Some(at)) if now < at + min => Decision::Defer(at + min),
        _ => Decision::Send,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(x: f64) -> DpValue {
        DpValue::Number(x)
    }

    #[test]
    fn default_sends_only_changes_and_the_first_value() {
        assert!(is_change(None, None, &n(1.0)));
        assert!(!is_change(None, Some(&n(1.0)), &n(1.0)));
        assert!(is_change(None, Some(&n(1.0)), &n(1.5)));
    }

    #[test]
    fn zero_delta_sends_every_update() {
        assert!(is_change(Some(0.0), Some(&n(1.0)), &n(1.0)));
    }

    #[test]
    fn delta_needs_a_big_enough_move() {
        assert!(!is_change(Some(0.5), Some(&n(1.0)), &n(1.4)));
        assert!(is_change(Some(0.5), Some(&n(1.0)), &n(1.5)));
        assert!(is_change(Some(0.5), Some(&n(1.0)), &n(0.5)));
    }

    #[test]
    fn throttle_defers_until_min_send_time_after_the_last_send() {
        let t0 = Instant::now();
        let min = Some(Duration::from_secs(1));
        let d = decide(None, min, Some(&n(1.0)), Some(t0), &n(2.0), t0);
        assert_eq!(d, Decision::Defer(t0 + Duration::from_secs(1)));
        let later = t0 + Duration::from_secs(2);
        assert_eq!(
            decide(None, min, Some(&n(1.0)), Some(t0), &n(2.0), later),
            Decision::Send
        );
        assert_eq!(
            decide(None, min, Some(&n(2.0)), Some(t0), &n(2.0), later),
            Decision::Skip
        );
    }
}
