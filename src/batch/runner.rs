//! Applies one operation to each object of a source: only the objects of this worker's shard,
//! at most `jobs` at a time, each outcome written to the report as it finishes. A failed
//! object is reported and the run goes on; a source that fails (a bad manifest line, a
//! listing denied) ends the run after the objects in flight, as does a cancellation.

use std::future::Future;

use futures::StreamExt;
use futures::stream::FuturesUnordered;

use super::ObjectRef;
use super::report::{Done, ReportLine, ReportWriter};
use super::shard::Shard;
use super::source::ObjectSource;
use crate::error::{Error, ErrorClass, Result};
use crate::transfer::Cancel;

/// Objects worked on at once by default (each with its own parts or ranges in flight).
pub const DEFAULT_JOBS: usize = 4;

/// How a run went, object by object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Objects of this shard that were worked on.
    pub processed: u64,
    pub succeeded: u64,
    pub failed: u64,
    /// Failed objects whose data cannot be trusted (tampered, wrong key).
    pub integrity_failures: u64,
    /// Objects of the source that belong to other shards.
    pub other_shards: u64,
}

impl Summary {
    fn count(&mut self, line: &ReportLine, outcome: &Result<Done>) {
        self.processed += 1;
        if line.result == "ok" {
            self.succeeded += 1;
            return;
        }
        self.failed += 1;
        let failure = match outcome {
            Ok(done) => done.failure.as_ref(),
            Err(e) => Some(e),
        };
        if failure.is_some_and(|e| e.class() == ErrorClass::Integrity) {
            self.integrity_failures += 1;
        }
    }
}

/// Runs `op` on every object of `source` that `shard` owns (all of them without a shard),
/// `jobs` at a time, writing one report line per object. `Err` only when the source failed,
/// the report could not be written, or the run was cancelled (after the objects in flight
/// finished: `op` gets its own cancellation and cleans up); failed objects are counted.
pub async fn run<F, Fut>(
    source: &mut ObjectSource, shard: Option<Shard>, jobs: usize, report: &mut ReportWriter,
    cancel: Cancel, op: F,
) -> Result<Summary>
where
    F: Fn(ObjectRef) -> Fut,
    Fut: Future<Output = Result<Done>>,
{
    let jobs = jobs.max(1);
    let mut summary = Summary::default();
    let mut ended: Option<Error> = None;
    let mut source_done = false;
    let mut in_flight = FuturesUnordered::new();
    loop {
        let can_pull = !source_done && in_flight.len() < jobs;
        if !can_pull && in_flight.is_empty() {
            break;
        }
        tokio::select! {
            item = source.next(), if can_pull => match item {
                None => source_done = true,
                Some(Err(e)) => {
                    ended.get_or_insert(e);
                    source_done = true;
                }
                Some(Ok(object)) => {
                    if shard.is_some_and(|s| !s.contains(&object.location.key)) {
                        summary.other_shards += 1;
                    } else if cancel.is_cancelled() {
                        ended.get_or_insert(Error::Interrupted);
                        source_done = true;
                    } else {
                        let work = op(object.clone());
                        in_flight.push(async move { (object, work.await) });
                    }
                }
            },
            Some((object, outcome)) = in_flight.next(), if !in_flight.is_empty() => {
                let line = ReportLine::new(&object, &outcome);
                summary.count(&line, &outcome);
                // A report that cannot be written ends the run; what is in flight finishes.
                if ended.is_none()
                    && let Err(e) = report.write(&line)
                {
                    ended = Some(e);
                    source_done = true;
                }
            }
        }
    }
    match ended {
        Some(e) => Err(e),
        // Objects cut short by a signal were reported; the run itself was interrupted.
        None if cancel.is_cancelled() => Err(Error::Interrupted),
        None => Ok(summary),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::store::ObjectStore;
    use crate::store::memory::MemoryStore;

    /// A report writer whose lines the test can read.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Lines {
        fn parsed(&self) -> Vec<serde_json::Value> {
            let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
            text.lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        }
    }

    fn store_with(n: usize) -> Arc<dyn ObjectStore> {
        let store = MemoryStore::new();
        for i in 0..n {
            let location = crate::location::ObjectLocation {
                bucket: "b".into(),
                key: format!("p/{i:04}"),
            };
            store.insert(&location, vec![1u8; 3]);
        }
        Arc::new(store)
    }

    #[tokio::test]
    async fn shards_cover_a_listing_exactly_once_and_failures_are_counted() {
        let store = store_with(300);
        let mut seen = BTreeSet::new();
        let mut total = Summary::default();
        for index in 0..3 {
            let lines = Lines::default();
            let mut report = ReportWriter::to_writer(Box::new(lines.clone()), "test");
            let mut source = ObjectSource::listing(Arc::clone(&store), "b".into(), "p/".into());
            let shard = Shard::new(index, 3).unwrap();
            let summary = run(
                &mut source,
                Some(shard),
                3,
                &mut report,
                Cancel::never(),
                |o| async move {
                    if o.location.key.ends_with('7') {
                        Err(Error::integrity("tampered", None))
                    } else {
                        Ok(Done::new("verified", None))
                    }
                },
            )
            .await
            .unwrap();
            assert_eq!(summary.processed + summary.other_shards, 300);
            total.processed += summary.processed;
            total.failed += summary.failed;
            total.integrity_failures += summary.integrity_failures;
            for line in lines.parsed() {
                assert!(
                    seen.insert(line["object"].as_str().unwrap().to_string()),
                    "{line}"
                );
                let key = line["object"].as_str().unwrap();
                assert_eq!(
                    line["result"],
                    if key.ends_with('7') { "failed" } else { "ok" }
                );
            }
        }
        assert_eq!(seen.len(), 300);
        assert_eq!(total.processed, 300);
        assert_eq!((total.failed, total.integrity_failures), (30, 30));
    }

    #[tokio::test]
    async fn a_bad_manifest_line_ends_the_run_after_the_good_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.csv");
        std::fs::write(&path, "b,one\nb,two\nnobucket\nb,three\n").unwrap();
        let mut source = ObjectSource::manifest(store_with(0), path.to_str().unwrap(), None)
            .await
            .unwrap();
        let lines = Lines::default();
        let mut report = ReportWriter::to_writer(Box::new(lines.clone()), "test");
        let err = run(
            &mut source,
            None,
            1,
            &mut report,
            Cancel::never(),
            |_| async { Ok(Done::new("verified", None)) },
        )
        .await
        .unwrap_err();
        assert_eq!(err.class(), ErrorClass::Usage);
        assert!(err.to_string().contains("line 3"), "{err}");
        assert_eq!(lines.parsed().len(), 2);
    }

    #[tokio::test]
    async fn a_cancelled_run_reports_what_finished_and_is_interrupted() {
        let (trigger, cancel) = Cancel::new();
        let trigger = std::sync::Mutex::new(Some(trigger));
        let objects = (0..10)
            .map(|i| ObjectRef::new("b", format!("k{i}")))
            .collect();
        let mut source = ObjectSource::from_refs(objects);
        let lines = Lines::default();
        let mut report = ReportWriter::to_writer(Box::new(lines.clone()), "test");
        let err = run(&mut source, None, 1, &mut report, cancel.clone(), |_| {
            // The first object sees the signal arrive while it works.
            if let Some(trigger) = trigger.lock().unwrap().take() {
                trigger.send(true).unwrap();
            }
            let cancel = cancel.clone();
            async move {
                if cancel.is_cancelled() {
                    return Err(Error::Interrupted);
                }
                Ok(Done::new("verified", None))
            }
        })
        .await
        .unwrap_err();
        assert!(matches!(err, Error::Interrupted), "{err}");
        let lines = lines.parsed();
        assert_eq!(lines.len(), 1, "no new object starts after the signal");
        assert_eq!(lines[0]["error_class"], "interrupted");
    }
}
