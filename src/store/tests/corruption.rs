//! Corrupted records in sled: errors, not panics, and purge still works.

use super::*;

#[test]
fn corrupted_records_give_errors_not_panics() {
    let f = Fixture::new();
    let s = f.store();
    for i in 0..3 {
        s.enqueue("h", &write("c", "T", &i.to_string()), false)
            .unwrap();
    }
    s.flush().unwrap();
    let tree = f.tree();
    let (key, mut chunk) = tree
        .scan_prefix(b"Q")
        .next()
        .unwrap()
        .map(|(k, v)| (k, v.to_vec()))
        .unwrap();
    chunk.truncate(chunk.len() - 2);
    tree.insert(&key, chunk).unwrap();
    let err = s.peek_run("h", None, 10).unwrap_err();
    assert!(
        matches!(
            &err,
            StoreError::Corrupt {
                tree: TREE_QUEUE,
                source: DecodeError::Truncated {
                    record: "queue chunk",
                    ..
                },
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "sled tree \"replication\": queue chunk of host \"h\" from seq 1 is corrupted"
    );
    assert!(matches!(s.ack("h", 3), Err(StoreError::Corrupt { .. })));
    // The operator's way out still works.
    assert_eq!(s.purge("h").unwrap(), 3);

    tree.insert(b"Hbroken", &[9u8][..]).unwrap();
    let err = s
        .enqueue("broken", &write("c", "T", "v"), false)
        .unwrap_err();
    assert!(
        matches!(
            &err,
            StoreError::Corrupt {
                source: DecodeError::Version {
                    record: "host",
                    found: 9
                },
                ..
            }
        ),
        "{err:?}"
    );
    tree.insert(b"Ec1", &[1u8, 0][..]).unwrap();
    assert!(matches!(
        s.connection("c1"),
        Err(StoreError::Corrupt { .. })
    ));
    assert!(matches!(s.connections(), Err(StoreError::Corrupt { .. })));
}
