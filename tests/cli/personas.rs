//! `maia personas reset`: the shipped personas back as shipped, whatever was done to them,
//! and the owner's own left as they are.

use std::collections::BTreeMap;
use std::process::Output;

use crate::kit::process::{output, text};
use crate::kit::{maia, migrated_database, psql, Database};

/// A persona's display name, description and system prompt, by its name.
type Personas = BTreeMap<String, (String, String, String)>;

/// `maia personas reset` against `db`.
async fn reset(db: &Database) -> Output {
    let mut command = maia();
    command
        .args(["personas", "reset"])
        .env("MAIA_DATABASE__URL", &db.url);
    output(command).await
}

/// Every persona, straight from the table.
async fn personas(db: &Database) -> Personas {
    psql(&db.url)
        .await
        .query(
            "SELECT name, display_name, description, system_prompt FROM personas",
            &[],
        )
        .await
        .expect("read the personas")
        .iter()
        .map(|row| (row.get(0), (row.get(1), row.get(2), row.get(3))))
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The personas maia ships are kept in its code for `reset`; here they meet what
/// migration V2 seeded, in the database itself.
#[tokio::test(flavor = "multi_thread")]
async fn reset_finds_the_personas_a_new_database_was_seeded_with_as_shipped() {
    let db = migrated_database().await;
    let seeded = personas(&db).await;

    let out = reset(&db).await;

    assert!(out.status.success(), "{}", text(&out));
    assert!(stderr(&out).contains("nothing changed"), "{}", text(&out));
    assert_eq!(personas(&db).await, seeded);
    assert_eq!(seeded.len(), 5, "{seeded:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn reset_restores_an_edited_and_a_deleted_shipped_persona_and_keeps_the_owners_own() {
    let db = migrated_database().await;
    let seeded = personas(&db).await;
    psql(&db.url)
        .await
        .batch_execute(
            "UPDATE personas SET display_name = 'Yes-man', system_prompt = 'Agree.' \
                 WHERE name = 'socratic'; \
             DELETE FROM personas WHERE name = 'coach'; \
             INSERT INTO personas (name, display_name, description, system_prompt) \
                 VALUES ('tutor', 'Tutor', 'Mine.', 'Be patient.');",
        )
        .await
        .expect("change the personas");

    let out = reset(&db).await;
    let after = personas(&db).await;
    let again = reset(&db).await;

    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stderr(&out).contains("restored socratic, coach"),
        "{}",
        text(&out)
    );
    let mut expected = seeded;
    let own = ("Tutor".into(), "Mine.".into(), "Be patient.".into());
    expected.insert("tutor".into(), own);
    assert_eq!(after, expected);
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        stderr(&again).contains("nothing changed"),
        "{}",
        text(&again)
    );
}
