//! Quota periods (UTC calendar days and months) and webhook notifications.
//!
//! A notification is sent when a request moves a consumer's use of a quota from below a
//! threshold to at or above it. Counters are updated atomically, so exactly one request
//! crosses each threshold per period on a store. Each node also remembers what it sent (up to
//! 100 000 entries, then the memory is cleared), so a threshold notifies once per period per node. Sending happens on a background task
//! with a bounded queue; when the queue is full, notifications are dropped and logged.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use gatectl_spec::model::QuotaPeriod;
use serde::Serialize;
use tokio::sync::mpsc;

const QUEUE_CAPACITY: usize = 1024;
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);
const SENT_CAPACITY: usize = 100_000;

/// Returns the id (`2026-12-04` or `2026-12`) and the end, in Unix milliseconds, of the
/// calendar period that a time falls in.
pub(crate) fn period_window(period: QuotaPeriod, now_millis: u64) -> (String, u64) {
    let now = DateTime::<Utc>::from_timestamp_millis(now_millis as i64).unwrap_or_default();
    let today = now.date_naive();
    let (id, next_start) = match period {
        QuotaPeriod::Day => (today.format("%Y-%m-%d").to_string(), today.succ_opt()),
        QuotaPeriod::Month => {
            let (year, month) = if today.month() == 12 { (today.year() + 1, 1) } else { (today.year(), today.month() + 1) };
            (today.format("%Y-%m").to_string(), NaiveDate::from_ymd_opt(year, month, 1))
        }
    };
    let end =
        next_start.and_then(|date| date.and_hms_opt(0, 0, 0)).map_or(u64::MAX, |start| start.and_utc().timestamp_millis().max(0) as u64);
    (id, end)
}

/// Returns the length in seconds of the quota period that ends at `end_millis`: a day, or the
/// month before that instant (28 to 31 days).
pub(crate) fn period_seconds(period: QuotaPeriod, end_millis: u64) -> u64 {
    const DAY: u64 = 86_400;
    match period {
        QuotaPeriod::Day => DAY,
        QuotaPeriod::Month => {
            let end = DateTime::<Utc>::from_timestamp_millis(i64::try_from(end_millis).unwrap_or(i64::MAX)).unwrap_or_default();
            // The period's last day is the day before the next one starts.
            end.date_naive().pred_opt().map_or(31, |last_day| u64::from(last_day.day())) * DAY
        }
    }
}

pub(crate) fn period_name(period: QuotaPeriod) -> &'static str {
    match period {
        QuotaPeriod::Day => "day",
        QuotaPeriod::Month => "month",
    }
}

/// The JSON body POSTed to the webhook.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct QuotaNotification {
    pub consumer: String,
    pub tier: String,
    pub period: String,
    /// The period the quota counts, for example `2026-12-04` or `2026-12`.
    pub window: String,
    /// The percentage threshold crossed.
    pub threshold: u8,
    pub used: u64,
    pub limit: u64,
}

struct Delivery {
    url: String,
    notification: QuotaNotification,
}

/// Queues notifications and sends them from a background task.
pub(crate) struct Notifier {
    sender: mpsc::Sender<Delivery>,
    sent: Mutex<HashSet<(String, String, String, u8)>>,
}

impl Notifier {
    /// Starts the sending task on the current tokio runtime.
    pub fn start(client: reqwest::Client) -> Arc<Self> {
        let (sender, mut receiver) = mpsc::channel::<Delivery>(QUEUE_CAPACITY);
        tokio::spawn(async move {
            while let Some(delivery) = receiver.recv().await {
                let result = client.post(&delivery.url).timeout(WEBHOOK_TIMEOUT).json(&delivery.notification).send().await;
                let notification = &delivery.notification;
                match result.map(|response| response.status()) {
                    Ok(status) if status.is_success() => {
                        tracing::info!(consumer = %notification.consumer, threshold = notification.threshold, "quota notification sent");
                    }
                    Ok(status) => {
                        tracing::warn!(consumer = %notification.consumer, url = %delivery.url, status = status.as_u16(), "quota webhook returned an error status");
                    }
                    Err(error) => {
                        tracing::warn!(consumer = %notification.consumer, url = %delivery.url, %error, "quota webhook failed");
                    }
                }
            }
        });
        Arc::new(Self { sender, sent: Mutex::new(HashSet::new()) })
    }

    /// Queues a notification unless this node already sent it for the same period.
    pub fn notify(&self, url: &str, notification: QuotaNotification) {
        let identity = (notification.consumer.clone(), notification.period.clone(), notification.window.clone(), notification.threshold);
        {
            let mut sent = self.sent.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if sent.len() >= SENT_CAPACITY {
                sent.clear();
            }
            if !sent.insert(identity) {
                return;
            }
        }
        if self.sender.try_send(Delivery { url: url.to_owned(), notification }).is_err() {
            tracing::warn!(url, "quota notification queue is full; notification dropped");
        }
    }
}

/// Returns the thresholds (percentages) that `used` reaches and `used - 1` did not.
pub(crate) fn crossed_thresholds(thresholds: &[u8], used: u64, limit: u64) -> Vec<u8> {
    let reached = |count: u64, threshold: u8| u128::from(count) * 100 >= u128::from(threshold) * u128::from(limit);
    thresholds.iter().copied().filter(|&threshold| reached(used, threshold) && (used == 0 || !reached(used - 1, threshold))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_and_month_windows() {
        // 2026-12-31T23:59:59Z
        let now = 1_798_761_599_000;
        assert_eq!(period_window(QuotaPeriod::Day, now), ("2026-12-31".to_owned(), 1_798_761_600_000));
        assert_eq!(period_window(QuotaPeriod::Month, now), ("2026-12".to_owned(), 1_798_761_600_000));
    }

    #[test]
    fn period_lengths_follow_the_calendar() {
        let (_, end_of_december) = period_window(QuotaPeriod::Month, 1_798_761_599_000);
        assert_eq!(period_seconds(QuotaPeriod::Month, end_of_december), 31 * 86_400);
        // 2027-02-10T12:00:00Z: February 2027 has 28 days.
        let (_, end_of_february) = period_window(QuotaPeriod::Month, 1_802_260_800_000);
        assert_eq!(period_seconds(QuotaPeriod::Month, end_of_february), 28 * 86_400);
        assert_eq!(period_seconds(QuotaPeriod::Day, end_of_february), 86_400);
    }

    #[test]
    fn thresholds_cross_once() {
        assert_eq!(crossed_thresholds(&[80, 100], 7, 10), Vec::<u8>::new());
        assert_eq!(crossed_thresholds(&[80, 100], 8, 10), vec![80]);
        assert_eq!(crossed_thresholds(&[80, 100], 9, 10), Vec::<u8>::new());
        assert_eq!(crossed_thresholds(&[80, 100], 10, 10), vec![100]);
    }
}
