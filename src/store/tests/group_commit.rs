//! Group commit: concurrent commits share flushes and are durable; a commit also works
//! outside a runtime thread pool.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// Why: the test holds the store's state lock on purpose while the commits queue up.
#[allow(clippy::await_holding_lock)]
async fn fifty_concurrent_commits_share_flushes_and_are_durable() {
    let mut f = Fixture::new();
    let s = f.store().clone();
    // Hold the state lock so that the first flush cannot get past its spill until all 50
    // callers wait: then at most two flushes serve them all.
    let before = s.inner.commits.generations();
    let held = s.inner.lock();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move { s.commit().await }));
    }
    while s.inner.commits.waiters() < 50 {
        tokio::task::yield_now().await;
    }
    drop(held);
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let flushes = s.inner.commits.generations() - before;
    assert!(flushes <= 2, "{flushes} flushes for 50 concurrent commits");

    // Enqueue + commit from 50 tasks, then drop everything and look again.
    let mut tasks = Vec::new();
    for i in 0..50u32 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let seq = s
                .enqueue(
                    "h",
                    &write(&format!("c{i}"), &format!("T{i}"), &i.to_string()),
                    false,
                )
                .unwrap();
            s.commit().await.map(|()| seq)
        }));
    }
    let mut got = Vec::new();
    for task in tasks {
        got.push(task.await.unwrap().unwrap());
    }
    got.sort_unstable();
    assert_eq!(got, (1..=50).collect::<Vec<u64>>());
    drop(s);
    f.crash_and_reopen();
    let run = f.store().peek_run("h", None, 100).unwrap();
    assert_eq!(seqs(&run), (1..=50).collect::<Vec<u64>>());
}

#[test]
fn commit_works_outside_a_runtime_thread_pool() {
    let f = Fixture::new();
    let s = f.store().clone();
    s.enqueue("h", &write("c", "T", "v"), false).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(s.commit()).unwrap();
}
