//! Rows of a given age, for retention: traces and conversations written straight into the
//! tables with the times a test chooses, or made through the API and aged afterwards.

use std::collections::BTreeSet;

use uuid::Uuid;

use super::database::psql;

/// A conversation written by [`seed_conversation`]: its id, and each exchange's question,
/// answer and trace.
#[derive(Debug, Clone)]
pub struct SeededConversation {
    pub id: Uuid,
    pub messages: Vec<Uuid>,
    pub traces: Vec<Uuid>,
}

/// A trace made `days` ago, in no conversation (a one-off query's).
pub async fn seed_trace(db_url: &str, days: i32) -> Uuid {
    let id = Uuid::new_v4();
    psql(db_url)
        .await
        .execute(
            "INSERT INTO consciousness_traces \
             (id, query, response, mode, model, status, latency_ms, created_at) \
             VALUES ($1, 'seeded question', 'seeded answer', 'fast', 'seed', 'ok', 1, \
                     now() - make_interval(days => $2))",
            &[&id, &days],
        )
        .await
        .expect("insert a trace");
    id
}

/// A conversation last active `idle_days` ago with `exchanges` questions, each answered and
/// with its trace (made `trace_days` ago) linked both ways, as maia stores them.
pub async fn seed_conversation(
    db_url: &str,
    idle_days: i32,
    exchanges: usize,
    trace_days: i32,
) -> SeededConversation {
    let db = psql(db_url).await;
    let id = Uuid::new_v4();
    db.execute(
        "INSERT INTO conversations (id, mode, last_activity_at) \
         VALUES ($1, 'fast', now() - make_interval(days => $2))",
        &[&id, &idle_days],
    )
    .await
    .expect("insert a conversation");
    let mut seeded = SeededConversation {
        id,
        messages: Vec::new(),
        traces: Vec::new(),
    };
    for n in 0..exchanges {
        let (question, answer) = (Uuid::new_v4(), Uuid::new_v4());
        let trace = seed_trace(db_url, trace_days).await;
        db.execute(
            "INSERT INTO messages (id, conversation_id, role, content) \
             VALUES ($1, $2, 'user', $3)",
            &[&question, &id, &format!("question {n}")],
        )
        .await
        .expect("insert a question");
        db.execute(
            "INSERT INTO messages (id, conversation_id, role, content, trace_id) \
             VALUES ($1, $2, 'assistant', $3, $4)",
            &[&answer, &id, &format!("answer {n}"), &trace],
        )
        .await
        .expect("insert an answer");
        db.execute(
            "UPDATE consciousness_traces SET message_id = $1 WHERE id = $2",
            &[&question, &trace],
        )
        .await
        .expect("link the trace to its question");
        seeded.messages.extend([question, answer]);
        seeded.traces.push(trace);
    }
    seeded
}

/// Which of `ids` are still in `table`.
pub async fn remaining(db_url: &str, table: &str, ids: &[Uuid]) -> BTreeSet<Uuid> {
    psql(db_url)
        .await
        .query(
            &format!("SELECT id FROM {table} WHERE id = ANY($1)"),
            &[&ids],
        )
        .await
        .unwrap_or_else(|e| panic!("select from {table}: {e}"))
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// Every trace, and every conversation's last activity, made `days` older.
pub async fn age_everything(db_url: &str, days: i32) {
    let db = psql(db_url).await;
    for statement in [
        "UPDATE consciousness_traces SET created_at = created_at - make_interval(days => $1)",
        "UPDATE conversations SET last_activity_at = last_activity_at - make_interval(days => $1)",
    ] {
        db.execute(statement, &[&days]).await.expect("age the rows");
    }
}
