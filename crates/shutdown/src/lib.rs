//! The one answer to "when should this server stop?" for the relay, storage nodes and the
//! `datahub` command: on Ctrl-C or SIGTERM. Servers take the future as an argument (so tests
//! stop them with anything else); their `main`s pass this one.

/// Completes on Ctrl-C or SIGTERM. The handlers are installed when this is called, not when the
/// future is first polled: a signal that arrives while a server is still starting is not lost
/// (nor does it kill the process the default way). A handler that cannot be installed is
/// logged, and that signal then never completes the future.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let listen = |kind: SignalKind, name: &'static str| match signal(kind) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for {name}");
                None
            }
        };
        let term = listen(SignalKind::terminate(), "SIGTERM");
        let int = listen(SignalKind::interrupt(), "SIGINT");
        async move {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(term) => {},
                () = wait(int) => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::time::Duration;

    /// A SIGTERM sent once the future exists completes it, even before it is polled, and does
    /// not end the process the default way (this test would not report then).
    #[tokio::test]
    async fn sigterm_completes_the_future_and_does_not_kill() {
        let stop = super::shutdown_signal();
        let mut stop = Box::pin(stop);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut stop)
                .await
                .is_err(),
            "completed with no signal"
        );
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &std::process::id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(sent, "kill -TERM could not be run");
        assert!(
            tokio::time::timeout(Duration::from_secs(10), stop)
                .await
                .is_ok(),
            "SIGTERM did not complete the future"
        );
    }
}
