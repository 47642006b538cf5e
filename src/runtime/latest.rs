//! The newest-wins hand-off between pipeline stages.
//!
//! A bounded channel of one slot where a send never blocks: when the slot is full, the stale
//! value is taken out and handed back to the producer (to count as dropped, or to recycle its
//! buffer). A slow consumer therefore never grows a queue, and never sees old frames.

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};

/// The producing end of a newest-wins slot.
pub struct LatestSender<T> {
    tx: Sender<T>,
    // Our own handle on the slot, so that the producer can evict a stale value.
    rx: Receiver<T>,
}

impl<T> Clone for LatestSender<T> {
    fn clone(&self) -> Self {
        LatestSender {
            tx: self.tx.clone(),
            rx: self.rx.clone(),
        }
    }
}

/// A newest-wins slot: the consumer end is a plain `crossbeam_channel::Receiver`, so it can
/// take part in `select!`.
pub fn newest_wins<T>() -> (LatestSender<T>, Receiver<T>) {
    let (tx, rx) = bounded(1);
    (LatestSender { tx, rx: rx.clone() }, rx)
}

impl<T> LatestSender<T> {
    /// True while the consumer has not taken the value last put in the slot.
    pub fn is_full(&self) -> bool {
        self.tx.is_full()
    }

    /// Puts `value` in the slot, returning the value it displaced, if any.
    pub fn send(&self, mut value: T) -> Option<T> {
        let mut displaced = None;
        loop {
            match self.tx.try_send(value) {
                Ok(()) => return displaced,
                Err(TrySendError::Full(v)) => {
                    if let Ok(old) = self.rx.try_recv() {
                        displaced = Some(old);
                    }
                    value = v;
                }
                // Unreachable while we hold `rx`; treat like a displaced value.
                Err(TrySendError::Disconnected(v)) => return Some(v),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_value_wins_and_stale_is_returned() {
        let (tx, rx) = newest_wins();
        assert_eq!(tx.send(1), None);
        assert_eq!(tx.send(2), Some(1));
        assert_eq!(tx.send(3), Some(2));
        assert_eq!(rx.try_recv(), Ok(3));
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn works_across_threads_without_growing() {
        let (tx, rx) = newest_wins();
        let producer = std::thread::spawn(move || {
            let mut dropped = 0;
            for i in 0..10_000u32 {
                dropped += tx.send(i).is_some() as u32;
            }
            dropped
        });
        let mut last = None;
        let mut got = 0u32;
        // Until the producer is done and has dropped its end (bounded: 60 s), however slowly
        // either thread is scheduled.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let v = match rx.recv_deadline(deadline) {
                Ok(v) => v,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                    panic!("the producer did not finish within 60 s")
                }
            };
            if let Some(l) = last {
                assert!(
                    v > l,
                    "values arrive in order, never an older one after a newer"
                );
            }
            last = Some(v);
            got += 1;
        }
        let dropped = producer.join().unwrap();
        assert_eq!(last, Some(9_999), "the newest value is never lost");
        assert_eq!(got + dropped, 10_000);
    }
}
