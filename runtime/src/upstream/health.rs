//! Active health checks: periodic GET probes of each target.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use http::{Request, Uri};
use http_body_util::BodyExt;

use super::{TargetState, UpstreamPool};
use crate::proxy::body::empty_body;

/// Probes every target of `pool` until the returned task is aborted. Each target starts healthy.
pub fn spawn_active_checks(pool: Arc<UpstreamPool>) -> Option<tokio::task::JoinHandle<()>> {
    let check = pool.active.clone()?;
    let task = tokio::spawn(async move {
        let mut interval = tokio::time::interval(check.interval.as_std().max(std::time::Duration::from_millis(10)));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let probes = pool.targets.iter().map(|target| probe(&pool, target, &check));
            futures_util::future::join_all(probes).await;
        }
    });
    Some(task)
}

async fn probe(pool: &UpstreamPool, target: &TargetState, check: &gatectl_spec::model::ActiveHealthCheck) {
    let success = send_probe(pool, target, check).await;
    let (count, threshold) = if success {
        target.active_failures.store(0, Ordering::Relaxed);
        (target.active_successes.fetch_add(1, Ordering::Relaxed) + 1, check.healthy_threshold)
    } else {
        target.active_successes.store(0, Ordering::Relaxed);
        (target.active_failures.fetch_add(1, Ordering::Relaxed) + 1, check.unhealthy_threshold)
    };
    let was_healthy = target.healthy.load(Ordering::Relaxed);
    if count >= threshold && was_healthy != success {
        target.healthy.store(success, Ordering::Relaxed);
        if success {
            tracing::info!(upstream = %pool.name, upstream.addr = %target.authority, "target healthy again after active checks");
        } else {
            tracing::warn!(upstream = %pool.name, upstream.addr = %target.authority, "target unhealthy after failed active checks");
        }
    }
}

async fn send_probe(pool: &UpstreamPool, target: &TargetState, check: &gatectl_spec::model::ActiveHealthCheck) -> bool {
    let uri = format!("{}://{}{}{}", pool.uri_scheme(), target.authority, pool.base_path, check.path);
    let Ok(uri) = uri.parse::<Uri>() else { return false };
    let Ok(request) = Request::get(uri).header(http::header::USER_AGENT, "gatectl-health-check").body(empty_body()) else {
        return false;
    };
    let client = pool.client(pool.timeouts.connect.as_std());
    let exchange = async {
        let response = client.request(request).await.ok()?;
        let status = response.status().as_u16();
        let _ = response.into_body().collect().await;
        Some(status)
    };
    match tokio::time::timeout(check.timeout.as_std(), exchange).await {
        Ok(Some(status)) => check.healthy_statuses.contains(&status),
        _ => false,
    }
}
