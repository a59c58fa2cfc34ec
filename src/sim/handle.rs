//! A simulator running on its own OS thread and runtime, for tests and benchmarks.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::watch;

use super::server::serve_state;
use super::state::SimState;
use super::{SimConfig, SimStats};

/// How long shutdown waits for answers still being delayed before dropping their connections.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// A running simulator. Stops (and joins its thread) on [`SimHandle::shutdown`] or drop.
pub struct SimHandle {
    addr: SocketAddr,
    state: Arc<SimState>,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl SimHandle {
    /// Binds `addr` (tests use "127.0.0.1:0") and serves on a dedicated OS thread with its own
    /// tokio runtime (so a benchmark's client and server don't share one executor).
    pub fn start(addr: &str, config: SimConfig) -> io::Result<SimHandle> {
        config
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        // Bound here, not on the thread, so a bad address is reported to the caller.
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        // One thread is plenty for a local server and keeps the other core for the client.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (stop, stopping) = watch::channel(false);
        let state = Arc::new(SimState::new(config, stopping.clone()));
        let served = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name(format!("alert-users-sim-{}", addr.port()))
            .spawn(move || runtime.block_on(run(listener, served, stopping)))?;
        Ok(SimHandle {
            addr,
            state,
            stop,
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, to use as the client's API base.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stats(&self) -> SimStats {
        self.state.stats()
    }

    /// How many requests (of any outcome) were received for `alert_id` (as decoded).
    pub fn requests_for(&self, alert_id: &str) -> u32 {
        self.state.requests_for(alert_id)
    }

    /// Stops the server and joins its thread.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.stop.send_replace(true);
        if let Some(thread) = self.thread.take() {
            // A panic on the server thread was already reported there; nothing to add.
            let _ = thread.join();
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Serves until stopped; after the grace period the runtime is dropped, which closes whatever
/// connections are left.
async fn run(
    listener: std::net::TcpListener,
    state: Arc<SimState>,
    stopping: watch::Receiver<bool>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!("simulator cannot use its listener: {e}");
            return;
        }
    };
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let grace = stopped(stopping.clone());
    tokio::select! {
        served = serve_state(listener, state, stopped(stopping)) => {
            if let Err(e) = served {
                tracing::error!("simulator stopped: {e}");
            }
        }
        () = async { grace.await; tokio::time::sleep(SHUTDOWN_GRACE).await } => {}
    }
}
