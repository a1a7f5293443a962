//! The long-running service: a round of checks every interval, the last
//! report over HTTP, one JSON line per round on stdout, and a clean stop
//! on SIGTERM.

use isokit_report::variables;
use std::future::Future;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use isokit_report::{Health, LogLine, Report, Start};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use crate::checks::Checker;
use crate::config::Config;
use crate::connections::{Transport, serve_until};
use crate::error::{Error, Result};
use crate::metadata;
use crate::time::rfc3339;

/// What the HTTP handlers answer, rendered once per round rather than per
/// request, since /health is polled far more often than rounds end.
#[derive(Debug)]
struct Snapshot {
    health_status: StatusCode,
    health_body: Bytes,
    checks_status: StatusCode,
    checks_body: Bytes,
}

/// The last round's results, shared between the round loop and the handlers.
#[derive(Debug, Clone)]
pub struct AppState {
    latest: Arc<watch::Sender<Arc<Snapshot>>>,
}

impl Default for AppState {
    fn default() -> Self {
        AppState::new()
    }
}

impl AppState {
    /// Before the first round ends, both routes answer 503 `starting`.
    pub fn new() -> AppState {
        let starting = to_json(&Health::starting());
        let snapshot = Snapshot {
            health_status: StatusCode::SERVICE_UNAVAILABLE,
            health_body: starting.clone(),
            checks_status: StatusCode::SERVICE_UNAVAILABLE,
            checks_body: starting,
        };
        AppState {
            latest: Arc::new(watch::Sender::new(Arc::new(snapshot))),
        }
    }

    pub fn publish(&self, report: &Report) {
        let health_status = if report.passes() {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        self.latest.send_replace(Arc::new(Snapshot {
            health_status,
            health_body: to_json(&report.health()),
            checks_status: StatusCode::OK,
            checks_body: to_json(report),
        }));
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        self.latest.borrow().clone()
    }
}

fn to_json(value: &impl serde::Serialize) -> Bytes {
    // The report types hold only strings, numbers, booleans and lists.
    Bytes::from(serde_json::to_vec(value).expect("report types always serialize"))
}

/// `GET /health`: 200 when every endpoint passed and isolation holds, 503
/// otherwise, with a short JSON body. `GET /checks`: the last full report.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/checks", get(checks))
        .with_state(state)
}

async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let snapshot = state.snapshot();
    (
        snapshot.health_status,
        [(header::CONTENT_TYPE, "application/json")],
        snapshot.health_body.clone(),
    )
}

async fn checks(State(state): State<AppState>) -> impl IntoResponse {
    let snapshot = state.snapshot();
    (
        snapshot.checks_status,
        [(header::CONTENT_TYPE, "application/json")],
        snapshot.checks_body.clone(),
    )
}

/// Writes one log line on stdout, whole, so lines never interleave.
pub fn write_line(line: &LogLine) -> Result<()> {
    let mut text = serde_json::to_string(line).expect("log lines always serialize");
    text.push('\n');
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(Error::Stdout)
}

/// Serves /health and /checks on `config.port` and runs a round every
/// interval until SIGTERM or SIGINT.
pub async fn serve(config: Config) -> Result<()> {
    let stop = stop_signal()?;
    let checker = Checker::new(config)?;
    let port = checker.config().port;
    let listen = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
    let listen_error = |source| Error::Listen {
        addr: listen,
        setting: variables::PORT,
        source,
    };
    let listener = TcpListener::bind(listen).await.map_err(listen_error)?;
    let local = listener.local_addr().map_err(listen_error)?;
    write_line(&LogLine::Start(start_line(checker.config(), local)))?;

    let state = AppState::new();
    let rounds = tokio::spawn(run_rounds(checker, state.clone()));
    serve_until(listener, Transport::Plain, app(state), stop).await;
    rounds.abort();
    Ok(())
}

/// Resolves on SIGTERM (what ECS and `docker stop` send) or SIGINT. The
/// handlers are installed before anything else so an early signal is not lost.
pub fn stop_signal() -> Result<impl Future<Output = ()>> {
    let mut terminate = signal(SignalKind::terminate()).map_err(Error::Signal)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(Error::Signal)?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}

async fn run_rounds(checker: Checker, state: AppState) {
    let task = metadata::task_context_or_warn(checker.config()).await;
    let mut ticker = tokio::time::interval(checker.config().interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    for number in 1u64.. {
        ticker.tick().await;
        let report = checker.round(number, task.clone()).await;
        state.publish(&report);
        if let Err(err) = write_line(&LogLine::Round(report)) {
            eprintln!("isokit-service: {}", err.explained());
        }
    }
}

fn start_line(config: &Config, listen: SocketAddr) -> Start {
    Start {
        time: rfc3339(SystemTime::now()),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        listen: listen.to_string(),
        region: config.region.clone(),
        account: config.account.clone(),
        endpoints: config.endpoints.iter().map(ToString::to_string).collect(),
        egress_probes: config
            .egress_probes
            .iter()
            .map(ToString::to_string)
            .collect(),
        interval_ms: duration_ms(config.interval),
        timeout_ms: duration_ms(config.timeout),
        vpc_cidr: config.vpc_cidr.map(|cidr| cidr.to_string()),
        dns_servers: config.dns_servers.iter().map(ToString::to_string).collect(),
    }
}

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use isokit_report::{EgressCheck, EgressOutcome, EndpointCheck, EndpointKind, Failure, Step};
    use tower::ServiceExt;

    use super::*;

    fn endpoint(service: &str, ok: bool) -> EndpointCheck {
        EndpointCheck {
            service: service.to_owned(),
            host: format!("{service}.eu-west-1.amazonaws.com"),
            kind: EndpointKind::Interface,
            ok,
            duration_ms: 2.5,
            addresses: vec!["10.0.1.5".parse().expect("address")],
            steps: Vec::new(),
            failure: (!ok).then(|| Failure {
                step: Step::Tcp,
                cause: "no answer".to_owned(),
                fix: "open the security group".to_owned(),
            }),
        }
    }

    fn report(endpoints: Vec<EndpointCheck>, egress_reachable: bool) -> Report {
        let reachable = endpoints.iter().all(|check| check.ok);
        Report {
            time: "2026-05-07T21:09:36.123Z".to_owned(),
            round: 4,
            healthy: reachable && !egress_reachable,
            reachable,
            isolated: !egress_reachable,
            duration_ms: 12.0,
            region: "eu-west-1".to_owned(),
            account: "123456789012".to_owned(),
            task: None,
            endpoints,
            egress: vec![EgressCheck {
                target: "internet.test:443".to_owned(),
                reachable: egress_reachable,
                outcome: if egress_reachable {
                    EgressOutcome::Connected
                } else {
                    EgressOutcome::Timeout
                },
                detail: String::new(),
                duration_ms: 3000.0,
            }],
        }
    }

    async fn get(state: &AppState, path: &str) -> (StatusCode, String, serde_json::Value) {
        let request = Request::builder()
            .uri(path)
            .body(Body::empty())
            .expect("request");
        let response = app(state.clone())
            .oneshot(request)
            .await
            .expect("router answers");
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let json = serde_json::from_slice(&body).expect("JSON body");
        (status, content_type, json)
    }

    #[tokio::test]
    async fn starting_until_the_first_round_ends() {
        let state = AppState::new();
        let (status, content_type, body) = get(&state, "/health").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(content_type, "application/json");
        assert_eq!(body["status"], "starting");
        let (status, _, body) = get(&state, "/checks").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["status"], "starting");
    }

    #[tokio::test]
    async fn healthy_round_answers_200_and_the_full_report() {
        let state = AppState::new();
        let healthy = report(
            vec![endpoint("ecr.api", true), endpoint("logs", true)],
            false,
        );
        state.publish(&healthy);
        let (status, _, body) = get(&state, "/health").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            serde_json::json!({
                "status": "healthy", "round": 4, "reachable": true, "isolated": true,
                "failing": [], "breaches": [], "inconclusive": []
            })
        );
        let (status, _, body) = get(&state, "/checks").await;
        assert_eq!(status, StatusCode::OK);
        let parsed: Report = serde_json::from_value(body).expect("/checks is a Report");
        assert_eq!(parsed, healthy);
    }

    #[tokio::test]
    async fn failing_endpoint_or_breach_answers_503_naming_them() {
        let state = AppState::new();
        state.publish(&report(
            vec![endpoint("ecr.api", true), endpoint("logs", false)],
            false,
        ));
        let (status, _, body) = get(&state, "/health").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["status"], "unhealthy");
        assert_eq!(body["failing"], serde_json::json!(["logs"]));
        assert_eq!(body["isolated"], true);

        state.publish(&report(vec![endpoint("ecr.api", true)], true));
        let (status, _, body) = get(&state, "/health").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["isolated"], false);
        assert_eq!(body["breaches"], serde_json::json!(["internet.test:443"]));
        let (status, _, _) = get(&state, "/checks").await;
        assert_eq!(
            status,
            StatusCode::OK,
            "the report itself is there, whatever it says"
        );
    }

    #[tokio::test]
    async fn unknown_paths_are_not_found() {
        let request = Request::builder()
            .uri("/nope")
            .body(Body::empty())
            .expect("request");
        let response = app(AppState::new())
            .oneshot(request)
            .await
            .expect("router answers");
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
}
