//! The one way the pipelines run CPU-bound work (sealing, opening, GCM) from async code: on
//! the rayon pool, sized to the cores, awaited through a oneshot channel so no tokio worker
//! blocks.

/// Runs `f` on the rayon pool and awaits its result.
pub(crate) async fn on_cpu_pool<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = tokio::sync::oneshot::channel();
    rayon::spawn(move || {
        let _ = tx.send(f());
    });
    rx.await.expect("a CPU pool task panicked")
}
