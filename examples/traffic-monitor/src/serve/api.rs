//! The HTTP API, JSON in and out; errors are `{"error": "<one line>"}` with 400, 404 or 409.
//!
//! | route | |
//! |---|---|
//! | `GET /` | the dashboard |
//! | `GET /healthz` | 200 while the service runs |
//! | `GET /readyz` | 200 once every camera produced a frame or ended, else 503 |
//! | `GET /api/cameras` | every camera's status |
//! | `POST /api/cameras` | a `[[camera]]` table as JSON: 201 and it starts |
//! | `GET /api/cameras/{id}` | one camera's status |
//! | `DELETE /api/cameras/{id}` | 204 once it ended cleanly (EOS, outputs complete) |
//! | `GET /api/cameras/{id}/counts` | totals per line, class and direction; zones; crossings over stream time |
//! | `GET /api/cameras/{id}/snapshot.jpg` | the latest frame, annotated |
//! | `GET /metrics` | Prometheus text format |

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::camera::{Camera, State as CameraState};
use super::stages::StageTimer;
use super::{metrics, Service};

const DASHBOARD: &str = include_str!("dashboard.html");

type Shared = State<Arc<Service>>;

pub fn router(service: Arc<Service>) -> Router {
    Router::new()
        .route("/", get(|| async { Html(DASHBOARD) }))
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/cameras", get(list).post(add))
        .route("/api/cameras/{id}", get(status).delete(remove))
        .route("/api/cameras/{id}/counts", get(counts))
        .route("/api/cameras/{id}/snapshot.jpg", get(snapshot))
        .with_state(service)
}

fn error(status: StatusCode, reason: impl std::fmt::Display) -> Response {
    // One line, whatever the reason's source wrote.
    let reason = reason.to_string().lines().map(str::trim).collect::<Vec<_>>().join(" ");
    (status, Json(json!({ "error": reason }))).into_response()
}

fn not_found(id: &str) -> Response {
    error(StatusCode::NOT_FOUND, format!("no camera '{id}'"))
}

async fn readyz(State(service): Shared) -> Response {
    let waiting: Vec<String> = service
        .cameras()
        .values()
        .map(|c| c.status())
        .filter(|s| s.frames == 0 && !matches!(s.state, CameraState::Ended | CameraState::Failed))
        .map(|s| s.id)
        .collect();
    let status = if waiting.is_empty() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(json!({ "ready": waiting.is_empty(), "waiting": waiting }))).into_response()
}

async fn metrics(State(service): Shared) -> Response {
    let cameras: Vec<Arc<Camera>> = service.cameras().values().cloned().collect();
    match metrics::render(cameras.iter().map(|c| c.as_ref())) {
        Ok(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn list(State(service): Shared) -> Response {
    let statuses: Vec<_> = service.cameras().values().map(|c| c.status()).collect();
    Json(statuses).into_response()
}

async fn status(State(service): Shared, Path(id): Path<String>) -> Response {
    service.camera(&id).map_or_else(|| not_found(&id), |c| Json(c.status()).into_response())
}

async fn add(State(service): Shared, body: Bytes) -> Response {
    let table: toml::Table = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(serde_json::Value::Object(o)) => match serde_json::from_value(serde_json::Value::Object(o)) {
            Ok(t) => t,
            Err(e) => return error(StatusCode::BAD_REQUEST, format!("the camera table: {e}")),
        },
        Ok(_) => return error(StatusCode::BAD_REQUEST, "the body must be a JSON object: a [[camera]] table"),
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("bad JSON: {e}")),
    };
    let camera = match service.fleet.camera(&table) {
        Ok(c) => c,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let mut cameras = service.cameras();
    if cameras.contains_key(&camera.id) {
        return error(StatusCode::CONFLICT, format!("camera '{}' exists", camera.id));
    }
    match Camera::start(&camera.id, camera.config, false) {
        Ok(started) => {
            let status = started.status();
            cameras.insert(camera.id, Arc::new(started));
            (StatusCode::CREATED, Json(status)).into_response()
        }
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

async fn remove(State(service): Shared, Path(id): Path<String>) -> Response {
    let Some(camera) = service.camera(&id) else { return not_found(&id) };
    camera.request_stop();
    let waited = tokio::task::spawn_blocking({
        let camera = camera.clone();
        move || camera.join()
    })
    .await;
    if let Err(e) = waited {
        return error(StatusCode::INTERNAL_SERVER_ERROR, format!("camera '{id}': {e}"));
    }
    // Only this camera: another may have been added with the id since.
    let mut cameras = service.cameras();
    if cameras.get(&id).is_some_and(|c| Arc::ptr_eq(c, &camera)) {
        cameras.remove(&id);
        StageTimer::detach(&id);
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn counts(State(service): Shared, Path(id): Path<String>) -> Response {
    service.camera(&id).map_or_else(|| not_found(&id), |c| Json(c.counts()).into_response())
}

async fn snapshot(State(service): Shared, Path(id): Path<String>) -> Response {
    let Some(camera) = service.camera(&id) else { return not_found(&id) };
    match tokio::task::spawn_blocking(move || camera.snapshot()).await {
        Ok(Ok(Some(jpeg))) => {
            ([(header::CONTENT_TYPE, "image/jpeg"), (header::CACHE_CONTROL, "no-store")], jpeg).into_response()
        }
        Ok(Ok(None)) => error(StatusCode::SERVICE_UNAVAILABLE, format!("camera '{id}' has no frame yet")),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}
