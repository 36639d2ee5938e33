//! `traffic-monitor serve`: every `[[camera]]` of the config runs in this process, each its own
//! pipeline on its own thread ([`camera`]); an HTTP API ([`api`]) lists, adds and removes them,
//! serves their counts, snapshots, Prometheus metrics and a dashboard. One camera's failure
//! never stops another. Ctrl-C ends every camera as the single-camera mode ends its one (EOS,
//! outputs complete), then the service.

mod api;
mod camera;
mod fleet;
mod metrics;
mod stages;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::cli::ServeArgs;
use camera::Camera;
use fleet::Fleet;

const SIGNAL_POLL: Duration = Duration::from_millis(100);

/// The cameras, by id, and the config new ones are built from.
pub struct Service {
    fleet: Fleet,
    cameras: Mutex<BTreeMap<String, Arc<Camera>>>,
}

impl Service {
    fn cameras(&self) -> MutexGuard<'_, BTreeMap<String, Arc<Camera>>> {
        self.cameras.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn camera(&self, id: &str) -> Option<Arc<Camera>> {
        self.cameras().get(id).cloned()
    }

    /// Ends every camera (EOS to each) and waits until their outputs are written.
    fn stop_all(&self) {
        let cameras: Vec<Arc<Camera>> = self.cameras().values().cloned().collect();
        cameras.iter().for_each(|c| c.request_stop());
        cameras.iter().for_each(|c| c.join());
    }
}

pub fn main(args: &ServeArgs) -> ExitCode {
    let (fleet, configs) = match Fleet::load(&args.config) {
        Ok(f) => f,
        Err(e) => return crate::fail(&e, crate::USAGE_ERROR),
    };
    if let Err(e) = crate::init_gstreamer() {
        return crate::fail(&e, 1);
    }
    // Models load once per process (`traffic_vision::runtime::session`) and run on one pool.
    if let Err(e) = traffic_vision::runtime::use_one_thread_pool(args.inference_threads) {
        return crate::fail(&e.to_string(), 1);
    }
    let service = Arc::new(Service { fleet, cameras: Mutex::new(BTreeMap::new()) });
    for c in configs {
        // A camera that cannot start (a missing file, a locked folder) is listed as failed.
        match Camera::start(&c.id, c.config, true) {
            Ok(camera) => {
                service.cameras().insert(c.id, Arc::new(camera));
            }
            Err(e) => tracing::error!(camera = %c.id, "{e}"),
        }
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build() {
        Ok(r) => r,
        Err(e) => return crate::fail(&format!("cannot start the HTTP runtime: {e}"), 1),
    };
    let served = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        tracing::info!(cameras = service.cameras().len(), "listening on http://{}", args.listen);
        axum::serve(listener, api::router(service.clone()))
            .with_graceful_shutdown(interrupted(service.clone()))
            .await
            .map_err(|e| format!("HTTP server: {e}"))
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The cameras still finish their outputs.
            service.stop_all();
            crate::fail(&e, 1)
        }
    }
}

/// Resolves after Ctrl-C (or SIGTERM), once every camera has finished its outputs; the API
/// answers until then.
async fn interrupted(service: Arc<Service>) {
    while crate::monitor::interrupts() == 0 {
        tokio::time::sleep(SIGNAL_POLL).await;
    }
    tracing::info!("interrupted: finishing every camera's outputs (Ctrl-C again to quit at once)");
    let _ = tokio::task::spawn_blocking(move || service.stop_all()).await;
}
