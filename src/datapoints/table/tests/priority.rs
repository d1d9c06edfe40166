//! Write priority: which writes apply under a held priority, and `Dp_ResetPrio_Invoke`.

use super::*;

// ---- priority ----

#[test]
fn lower_priority_number_wins_and_higher_number_is_then_ignored() {
    let f = fixture();
    f.table
        .write_at(admin(SWITCH_IN, "100.0 1").with_priority(100), later(1))
        .unwrap();
    let outcome = f
        .table
        .write_at(soap(SWITCH_IN, "0.0 0").with_priority(200), later(2))
        .unwrap();
    let current = f.table.read(SWITCH_IN).unwrap();
    assert_eq!(current.value, switch(100.0, 1));
    assert_eq!(current.priority, 100);
    assert_eq!(current.last_update, later(1));
    assert_eq!(
        outcome,
        WriteOutcome::IgnoredPriority {
            current,
            requested: 200
        }
    );
    assert!(!outcome.is_applied());
}

#[test]
fn write_without_priority_uses_255_and_is_ignored_under_a_held_priority() {
    let f = fixture();
    f.table
        .write(admin(SWITCH_IN, "100.0 1").with_priority(254))
        .unwrap();
    let outcome = f.table.write(admin(SWITCH_IN, "0.0 0")).unwrap();
    assert_eq!(
        outcome,
        WriteOutcome::IgnoredPriority {
            current: f.table.read(SWITCH_IN).unwrap(),
            requested: 255
        }
    );
}

#[test]
fn equal_and_lower_priority_numbers_apply() {
    let f = fixture();
    let w = |text: &str, p: u8| f.table.write(admin(SWITCH_IN, text).with_priority(p));
    assert!(w("10.0 1", 100).unwrap().is_applied());
    assert!(w("20.0 1", 100).unwrap().is_applied());
    assert!(w("30.0 1", 0).unwrap().is_applied());
    let dp = f.table.read(SWITCH_IN).unwrap();
    assert_eq!((dp.value, dp.priority), (switch(30.0, 1), 0));
}

#[test]
fn reset_priority_restores_255_so_default_writes_apply_again() {
    let f = fixture();
    f.table
        .write(admin(SWITCH_IN, "100.0 1").with_priority(100))
        .unwrap();
    let dp = f.table.reset_priority(SWITCH_IN, 50).unwrap();
    assert_eq!(dp.priority, 255);
    assert_eq!(dp.value, switch(100.0, 1));
    assert!(
        f.table
            .write(admin(SWITCH_IN, "0.0 0"))
            .unwrap()
            .is_applied()
    );
    assert_eq!(value_of(&f.table, SWITCH_IN), switch(0.0, 0));
}

#[test]
fn reset_priority_with_a_lower_priority_fails_with_fault_12() {
    let f = fixture();
    f.table
        .write(admin(SWITCH_IN, "100.0 1").with_priority(100))
        .unwrap();
    assert_eq!(
        f.table.reset_priority(SWITCH_IN, 235).unwrap_err(),
        WriteFault {
            code: 12,
            message: "Command failed: priority 235 is lower than the current priority 100"
                .to_owned(),
            name: SWITCH_IN.to_owned(),
        }
    );
    assert_eq!(f.table.read(SWITCH_IN).unwrap().priority, 100);
    assert_eq!(
        f.table.reset_priority("Net/LON/nope", 0).unwrap_err().code,
        WriteFault::NOT_FOUND
    );
}
