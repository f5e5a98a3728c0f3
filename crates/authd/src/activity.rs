//! Activity recording off the request path.
//!
//! Every `/api` request (allowed or denied) becomes one row, which is what lets an analyst
//! replay what a stolen token did. Requests only push into a bounded channel; one background
//! task batch-inserts (up to `activity_batch_rows` rows or `activity_flush_interval`, whichever
//! comes first, one transaction per batch) and bumps `sessions.last_seen_at` for the sessions
//! it saw. When the channel is full the row is handed to a spawned task that waits for room, so
//! no row is dropped and the request still does not wait. [`Recorder::flush`] waits until
//! everything queued so far is on disk; shutdown calls it.

use std::collections::HashMap;
use std::time::Duration;

use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// One recorded request.
#[derive(Debug, Clone)]
pub struct Activity {
    pub at_ms: i64,
    pub user_id: Option<i64>,
    pub session_id: Option<String>,
    pub jti: Option<String>,
    pub client_ip: String,
    pub user_agent: Option<String>,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub denial_reason: Option<String>,
    pub sensitive: bool,
}

enum Msg {
    Row(Box<Activity>),
    Flush(oneshot::Sender<()>),
}

/// Cloneable handle used by the middleware.
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::Sender<Msg>,
}

/// The writer task; await [`Writer::join`] after dropping every [`Recorder`] to drain.
pub struct Writer {
    handle: JoinHandle<()>,
}

impl Writer {
    pub async fn join(self) {
        if let Err(e) = self.handle.await {
            tracing::error!(error = %e, "activity writer panicked");
        }
    }
}

/// Starts the writer task.
pub fn start(pool: SqlitePool, queue: usize, batch_rows: usize, interval: Duration) -> (Recorder, Writer) {
    let (tx, rx) = mpsc::channel(queue);
    let handle = tokio::spawn(run(pool, rx, batch_rows, interval));
    (Recorder { tx }, Writer { handle })
}

impl Recorder {
    /// Queues a row without waiting.
    pub fn record(&self, activity: Activity) {
        match self.tx.try_send(Msg::Row(Box::new(activity))) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(msg)) => {
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    if tx.send(msg).await.is_err() {
                        tracing::error!("activity writer gone; row lost");
                    }
                });
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::error!("activity writer gone; row lost");
            }
        }
    }

    /// Returns once every row queued before the call is committed.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

async fn run(pool: SqlitePool, mut rx: mpsc::Receiver<Msg>, batch_rows: usize, interval: Duration) {
    let mut batch: Vec<Activity> = Vec::with_capacity(batch_rows);
    let mut waiters: Vec<oneshot::Sender<()>> = Vec::new();
    loop {
        let first = match rx.recv().await {
            Some(m) => m,
            None => break,
        };
        let deadline = tokio::time::Instant::now() + interval;
        let mut msg = Some(first);
        loop {
            match msg.take() {
                Some(Msg::Row(a)) => batch.push(*a),
                Some(Msg::Flush(w)) => {
                    waiters.push(w);
                    break;
                }
                None => {}
            }
            if batch.len() >= batch_rows {
                break;
            }
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(m)) => msg = Some(m),
                Ok(None) | Err(_) => break,
            }
        }
        write_batch(&pool, &mut batch).await;
        for w in waiters.drain(..) {
            let _ = w.send(());
        }
    }
    write_batch(&pool, &mut batch).await;
    tracing::debug!("activity writer drained");
}

async fn write_batch(pool: &SqlitePool, batch: &mut Vec<Activity>) {
    if batch.is_empty() {
        return;
    }
    let n = batch.len();
    if let Err(e) = insert_rows(pool, batch).await {
        tracing::error!(error = %e, rows = n, "activity batch insert failed");
    }
    batch.clear();
}

async fn insert_rows(pool: &SqlitePool, rows: &[Activity]) -> sqlx::Result<()> {
    let mut tx = crate::db::write_tx(pool).await?;
    let mut last_seen: HashMap<&str, i64> = HashMap::new();
    for a in rows {
        sqlx::query(
            "INSERT INTO activity (at_ms, user_id, session_id, jti, client_ip, user_agent, method,
                                   path, status, denial_reason, sensitive)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(a.at_ms)
        .bind(a.user_id)
        .bind(&a.session_id)
        .bind(&a.jti)
        .bind(&a.client_ip)
        .bind(&a.user_agent)
        .bind(&a.method)
        .bind(&a.path)
        .bind(i64::from(a.status))
        .bind(&a.denial_reason)
        .bind(a.sensitive)
        .execute(&mut *tx)
        .await?;
        if let (Some(sid), None) = (&a.session_id, &a.denial_reason) {
            let t = last_seen.entry(sid.as_str()).or_insert(0);
            *t = (*t).max(a.at_ms / 1000);
        }
    }
    for (sid, t) in last_seen {
        sqlx::query("UPDATE sessions SET last_seen_at = max(last_seen_at, ?) WHERE id = ?")
            .bind(t)
            .bind(sid)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Database;

    fn row(i: usize) -> Activity {
        Activity {
            at_ms: i as i64,
            user_id: Some(1),
            session_id: None,
            jti: None,
            client_ip: "127.0.0.1".into(),
            user_agent: None,
            method: "GET".into(),
            path: format!("/api/x/{i}"),
            status: 200,
            denial_reason: None,
            sensitive: false,
        }
    }

    #[tokio::test]
    async fn overflowing_the_queue_loses_nothing_and_flush_waits_for_disk() {
        let pool = crate::db::open(&Database::Memory).await.unwrap();
        let (rec, writer) = start(pool.clone(), 4, 3, Duration::from_millis(20));
        for i in 0..50 {
            rec.record(row(i));
        }
        // Rows handed to overflow tasks are sent before the flush below is queued only if
        // those tasks ran; yield so they do.
        tokio::task::yield_now().await;
        rec.flush().await;
        drop(rec);
        writer.join().await;
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM activity")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(n, 50);
    }
}
