//! Input preparation overlapped with the model: item `i + 1 .. i + depth`
//! are read and decoded on a producer thread while the caller's thread
//! runs the model on item `i`. The queue between them is bounded, so a slow
//! model never lets decoded batches pile up in memory, and items reach the
//! consumer in order, so results do not depend on the timing.

use std::sync::mpsc::sync_channel;

/// Batches prepared ahead of the model. Two keep the model fed when one
/// batch's reads stall, and bound the extra memory to two batches.
pub const PREFETCH_DEPTH: usize = 2;

/// Runs `prepare(i)` for `i` in `0..n` on a producer thread, at most `depth`
/// items ahead, and `consume(i, item)` on this thread in order. The first
/// error of `consume` stops both and is returned; the producer stops at its
/// next item.
pub fn overlapped<T: Send, E>(
    n: usize,
    depth: usize,
    prepare: impl Fn(usize) -> T + Send,
    mut consume: impl FnMut(usize, T) -> Result<(), E>,
) -> Result<(), E> {
    std::thread::scope(|scope| {
        let (tx, rx) = sync_channel::<T>(depth.max(1));
        scope.spawn(move || {
            for i in 0..n {
                // A closed channel: the consumer stopped.
                if tx.send(prepare(i)).is_err() {
                    return;
                }
            }
        });
        for i in 0..n {
            let item = rx.recv().expect("the producer sends every item unless the consumer stopped");
            consume(i, item)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::overlapped;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn items_arrive_in_order_and_the_producer_stays_within_depth() {
        let prepared = AtomicUsize::new(0);
        let mut seen = Vec::new();
        let result: Result<(), ()> = overlapped(
            20,
            2,
            |i| {
                prepared.fetch_add(1, Ordering::SeqCst);
                i * 10
            },
            |i, v| {
                // Consumed i+1 items so far; at most depth queued plus one in hand.
                assert!(prepared.load(Ordering::SeqCst) <= i + 1 + 2 + 1, "producer ran ahead at item {i}");
                std::thread::sleep(std::time::Duration::from_millis(1));
                seen.push(v);
                Ok(())
            },
        );
        assert!(result.is_ok());
        assert_eq!(seen, (0..20).map(|i| i * 10).collect::<Vec<_>>());
    }

    #[test]
    fn a_consumer_error_stops_the_producer() {
        let prepared = AtomicUsize::new(0);
        let result = overlapped(
            1000,
            2,
            |i| {
                prepared.fetch_add(1, Ordering::SeqCst);
                i
            },
            |i, _| if i == 3 { Err(format!("item {i}")) } else { Ok(()) },
        );
        assert_eq!(result, Err("item 3".to_string()));
        assert!(prepared.load(Ordering::SeqCst) < 10, "the producer went on after the error");
    }
}
