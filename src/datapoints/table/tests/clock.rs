//! The clock point: there without configuration, ticked over any held priority.

use super::*;

// ---- clock ----

#[test]
fn clock_point_exists_without_configuration_and_starts_at_open_time() {
    let f = fixture();
    let rtc = f.table.read(RTC_NAME).unwrap();
    assert_eq!(rtc.dp_type, DpType::TimeStamp);
    assert_eq!(rtc.direction, Direction::Out);
    assert_eq!(rtc.text(), "2008-04-08T18:14:53");
    assert_eq!(rtc.priority, 255);
}

#[test]
fn tick_clock_updates_the_clock_point_and_publishes_a_clock_event() {
    let f = fixture();
    let mut rx = f.table.subscribe();
    let outcome = f.table.tick_clock(later(7)).unwrap();
    assert!(outcome.is_applied());
    let rtc = f.table.read(RTC_NAME).unwrap();
    assert_eq!(rtc.text(), "2008-04-08T18:15:00");
    assert_eq!(rtc.priority, 0);
    assert_eq!(rtc.last_update, later(7));
    assert_eq!(
        rx.try_recv().unwrap(),
        ChangeEvent {
            name: RTC_NAME.to_owned(),
            value: rtc.value.clone(),
            text: "2008-04-08T18:15:00".to_owned(),
            priority: 0,
            point_status: PointStatus::NoCondition,
            at: later(7),
            source: UpdateSource::Clock,
        }
    );
}

#[test]
fn tick_clock_applies_over_any_held_priority() {
    let f = fixture();
    f.table
        .write(admin(RTC_NAME, "2000-01-01T00:00:00").with_priority(0))
        .unwrap();
    assert!(f.table.tick_clock(later(1)).unwrap().is_applied());
    assert_eq!(
        f.table.read(RTC_NAME).unwrap().text(),
        "2008-04-08T18:14:54"
    );
}
