//! The actix-web server: route table, access middleware, request log and metrics.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpServer, ResponseError, web};
use slog::{debug, info, warn};

use super::auth::PROBE_PATHS;
use super::error::AdminError;
use super::findings;
use super::metrics::UNMATCHED;
use super::routes;
use super::state::AdminState;
use crate::logging::log_if_slow;

/// Worker threads for the admin server: it serves probes, scrapes and an operator, never bulk
/// traffic, so two keep it responsive without taking cores from the pipeline.
const ADMIN_WORKERS: usize = 2;

/// Registers every route of [`super::openapi::ROUTES`] on `config`.
pub fn configure(config: &mut web::ServiceConfig) {
    let get = |path: &'static str, route: actix_web::Route| {
        web::resource(path)
            .route(route)
            .default_service(web::to(routes::method_not_allowed))
    };
    config
        .service(get("/health", web::get().to(routes::live)))
        .service(get("/health/live", web::get().to(routes::live)))
        .service(get("/health/ready", web::get().to(routes::ready_probe)))
        .service(get("/health/detailed", web::get().to(routes::detailed)))
        .service(get("/metrics", web::get().to(routes::metrics)))
        .service(get("/config", web::get().to(routes::config)))
        .service(get("/status", web::get().to(routes::status)))
        .service(get("/api/messages", web::get().to(routes::messages)))
        .service(get("/api/search", web::get().to(routes::search)))
        .service(get("/api/findings", web::get().to(findings::findings)))
        .service(get("/api/alerts", web::get().to(routes::alerts)))
        .service(
            web::resource("/api/alerts/test")
                .route(web::post().to(routes::test_alerts))
                .default_service(web::to(routes::post_only)),
        )
        .service(
            web::resource("/api/backups")
                .route(web::get().to(routes::backups))
                .route(web::post().to(routes::create_backup))
                .default_service(web::to(routes::get_or_post_only)),
        )
        .service(get("/openapi.json", web::get().to(routes::openapi)));
}

/// Starts the server on `address` (e.g. `0.0.0.0:8080`). The returned [`Server`] must be
/// spawned or awaited; stop it with its handle. OS signals are left to the service, which
/// orders the shutdown.
pub fn start(
    state: web::Data<AdminState>,
    address: (String, u16),
    max_body_bytes: usize,
    shutdown_timeout: Duration,
) -> Result<(Server, ServerHandle), AdminError> {
    let display = format!("{}:{}", address.0, address.1);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(web::PayloadConfig::new(max_body_bytes))
            .app_data(web::JsonConfig::default().limit(max_body_bytes))
            .configure(configure)
            .default_service(web::to(routes::not_found))
            .wrap(from_fn(access_and_log))
    })
    .workers(ADMIN_WORKERS)
    .disable_signals()
    .shutdown_timeout(shutdown_timeout.as_secs().max(1))
    .bind(address)
    .map_err(|source| AdminError::Bind {
        address: display,
        source,
    })?
    .run();
    let handle = server.handle();
    Ok((server, handle))
}

/// Network restriction for every route but the probes, then one log line and the request
/// metrics for each request. The Authorization header is never logged.
async fn access_and_log(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let caller: Option<IpAddr> = req.peer_addr().map(|addr| addr.ip());
    let method = req.method().to_string();
    let path = req.path().to_owned();
    let Some(state) = req.app_data::<web::Data<AdminState>>().cloned() else {
        return Err(AdminError::Internal("admin state missing".to_owned()).into());
    };
    let response = match state.policy.check_network(&path, caller) {
        Ok(()) => next.call(req).await?.map_into_left_body(),
        Err(err) => req
            .into_response(err.error_response())
            .map_into_right_body(),
    };
    let status = response.status().as_u16();
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| UNMATCHED.to_owned());
    let elapsed = started.elapsed();
    if let Err(err) = state.http_metrics.record(&route, status, elapsed) {
        warn!(state.log, "Admin request not counted"; "route" => &route, "error" => %err);
    }
    log_if_slow(
        &state.log,
        &format!("http {method} {route}"),
        elapsed,
        state.slow_threshold,
    );
    let caller = caller.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    let latency_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    // Probes arrive every few seconds from orchestrators: keep them out of the INFO log.
    if PROBE_PATHS.contains(&path.as_str()) && status < 400 {
        debug!(state.log, "Admin request";
            "method" => &method, "path" => &path, "status" => status,
            "caller" => &caller, "latency_ms" => latency_ms);
    } else {
        info!(state.log, "Admin request";
            "method" => &method, "path" => &path, "status" => status,
            "caller" => &caller, "latency_ms" => latency_ms);
    }
    Ok(response)
}
