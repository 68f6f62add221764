//! The database work the pipeline asks for, as the store counts it: one write transaction per
//! lone ingest with a known number of statements and one for ingests that arrive together, the
//! counters on `/metrics`, an idle worker that only reads, many indicators linked in two
//! statements, and an enrichment run's links shown and written by its completion.

use std::time::{Duration, Instant};

use calseta::in_process::ServiceIngest;
use calseta_bench::ceilings::{InProcessIngest, Work};
use calseta_core::alerts::EnrichmentStatus;
use calseta_core::extraction::ExtractionPass;
use calseta_core::indicators::IndicatorType;
use calseta_core::jobs::JobStatus;
use calseta_services::pipeline::enrich::links::RunLinks;
use calseta_store::indicators::{self, NewOrigin};
use calseta_store::{Db, DbOptions};
use serde_json::json;

use crate::helpers::*;

fn generic_alert(n: u32) -> String {
    json!({"title": format!("Work count #{n}"), "severity": "High", "rule_name": "Counted rule",
           "src_ip": format!("198.51.100.{}", n % 250 + 1)})
    .to_string()
}

/// Stores an alert straight through the store: no request, so no key's `last_used_at` write can
/// land in a measured window.
async fn stored_alert(db: &Db, title: &str) -> (i64, uuid::Uuid) {
    let alert = calseta_store::alerts::NewAlert {
        title: title.into(),
        description: None,
        severity: calseta_core::alerts::Severity::Low,
        source_name: "generic".into(),
        occurred_at: calseta_store::now(),
        fingerprint: format!("{:064x}", title.len()),
        raw_payload: "{}".into(),
        tags: Vec::new(),
        detection_rule_id: None,
    };
    let mut tx = db.begin().await.unwrap();
    let stored = calseta_store::alerts::insert(&mut tx, &alert).await.unwrap();
    tx.commit().await.unwrap();
    stored
}

fn since(after: Work, before: Work) -> (u64, u64, u64, u64) {
    (
        after.statements - before.statements,
        after.round_trips - before.round_trips,
        after.write_transactions - before.write_transactions,
        after.commits - before.commits,
    )
}

#[tokio::test]
async fn an_ingest_is_one_write_transaction_with_a_known_number_of_statements() {
    // The ingest service exactly as `calseta bench` runs it in process (no HTTP, no worker).
    let database = test_database().await;
    let env: Vec<(String, String)> = test_env(&database.url).into_iter().collect();
    let halves = ServiceIngest.open(&env).await.unwrap();
    let postgres = database.url.starts_with("postgres");
    let (mut statements, mut round_trips) = (Vec::new(), Vec::new());
    for n in 0..3 {
        let prepared = halves.prepare("generic", &generic_alert(n)).await.unwrap();
        let before = halves.work();
        halves.store(&prepared).await.unwrap();
        let (sent, trips, transactions, commits) = since(halves.work(), before);
        assert_eq!((transactions, commits), (1, 1), "alert {n}: one write transaction, one commit");
        statements.push(sent);
        round_trips.push(trips);
    }
    // SQLite: BEGIN, one lookup of the duplicate and the rule, the rule's stub (its first alert
    // only), the alert, its job and its event (sent together), COMMIT. PostgreSQL adds the
    // fingerprint's advisory lock and the job's NOTIFY, and sends every statement alone.
    let expected = if postgres { (vec![9, 8, 8], vec![9, 8, 8]) } else { (vec![7, 6, 6], vec![6, 5, 5]) };
    assert_eq!((statements, round_trips), expected);
    halves.close().await;
}

#[tokio::test]
async fn metrics_count_the_statements_transactions_and_commits_of_the_process() {
    let app = spawn_app_with(AppOptions { run_worker: false, ..Default::default() }).await;
    let scrape = || async {
        let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        let read = |name: &str| -> u64 {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse::<f64>().ok())
                .unwrap_or_else(|| panic!("{name} not in\n{text}")) as u64
        };
        (
            read("calseta_db_statements_total"),
            read("calseta_db_write_transactions_total"),
            read("calseta_db_commits_total"),
            read("calseta_db_round_trips_total"),
        )
    };
    let before = scrape().await;
    let body = generic_alert(1);
    let response = app
        .client
        .post(app.url("/v1/ingest/generic"))
        .bearer_auth(&app.admin_key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let after = scrape().await;
    assert!(after.0 >= before.0 + 7, "statements {before:?} → {after:?}");
    assert!(after.1 > before.1 && after.2 > before.2, "transactions and commits {before:?} → {after:?}");
    let round_trips = after.3 - before.3;
    assert!(round_trips > 0 && round_trips <= after.0 - before.0, "round trips {before:?} → {after:?}");
    // The same figures as the handle the server writes through.
    let work = app.db.work_done();
    assert!(work.statements >= after.0 && work.write_transactions >= after.1, "{work:?} {after:?}");
    // On SQLite the one write connection is timed: held (its commits within that), waited for.
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let seconds = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse::<f64>().ok())
            .unwrap_or_else(|| panic!("{name} not in\n{text}"))
    };
    let (held, waited, committing) = (
        seconds("calseta_db_writer_held_seconds_total"),
        seconds("calseta_db_writer_wait_seconds_total"),
        seconds("calseta_db_commit_seconds_total"),
    );
    if app.db.engine() == calseta_store::Engine::Postgres {
        assert_eq!((held, waited, committing), (0.0, 0.0, 0.0), "no writer to time on PostgreSQL");
    } else {
        assert!(held > 0.0 && committing > 0.0 && committing <= held, "{held} {waited} {committing}");
    }
}

#[tokio::test]
async fn an_idle_worker_reads_when_it_polls_and_takes_no_write_transaction() {
    let app =
        spawn_app_with(AppOptions { env: vec![("JOB_POLL_INTERVAL_MS", "10".into())], ..Default::default() })
            .await;
    // The periodic jobs the worker schedules as it starts run first; then nothing is queued.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let counts = calseta_store::jobs::counts_by_kind(&app.db).await.unwrap();
        let succeeded = counts.iter().filter(|c| c.status == JobStatus::Succeeded).count();
        if succeeded >= 3 && counts.iter().all(|c| c.status == JobStatus::Succeeded) {
            break;
        }
        assert!(Instant::now() < deadline, "the start-up jobs did not finish: {counts:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = app.db.work_done();
    let started = Instant::now();
    // At least 50 polls (each one read of when the next job falls due).
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.db.work_done().statements < before.statements + 50 {
        assert!(Instant::now() < deadline, "the worker stopped polling");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let idle = app.db.work_done().since(before);
    // Nothing due and no lease lapsed: no claim at all. Each poll used to claim in a write
    // transaction per slot group (three) that took nothing, and then the once-a-second look for
    // lapsed leases still claimed (one write transaction) when no lease had lapsed.
    assert_eq!(idle.write_transactions, 0, "an idle worker took {idle:?} in {:?}", started.elapsed());
}

#[tokio::test]
async fn many_indicators_are_linked_in_two_statements_per_two_hundred_keeping_first_origins() {
    let app = spawn_app_with(AppOptions { run_worker: false, ..Default::default() }).await;
    let (alert_id, _) = stored_alert(&app.db, "Many indicators").await;
    let values: Vec<String> = (0..250).map(|i| format!("host-{i}.example.org")).collect();
    let first =
        NewOrigin { field: Some("first.field"), pass: ExtractionPass::RawPayloadMappings, decoder: None };
    let second = NewOrigin { field: Some("second.field"), pass: ExtractionPass::Manual, decoder: None };
    let mut items: Vec<_> = values.iter().map(|v| (IndicatorType::Domain, v.as_str(), Some(first))).collect();
    // The same pair again in one call: stored once, its first origin kept.
    items.push((IndicatorType::Domain, values[7].as_str(), Some(second)));

    let before = app.db.work_done();
    let mut tx = app.db.begin().await.unwrap();
    let rows = indicators::upsert_and_link_all(&mut tx, alert_id, &items).await.unwrap();
    tx.commit().await.unwrap();
    let work = app.db.work_done().since(before);
    assert_eq!(work.statements, 4 + 2, "two statements per 200 indicators, plus BEGIN and COMMIT");
    let returned: Vec<&str> = rows.iter().map(|r| r.value.as_str()).collect();
    assert_eq!(returned, values.iter().map(String::as_str).collect::<Vec<_>>(), "in the order given, once");

    // Linked again from another field: the rows are the same, the first origins stand.
    let again: Vec<_> = values.iter().map(|v| (IndicatorType::Domain, v.as_str(), Some(second))).collect();
    let mut tx = app.db.begin().await.unwrap();
    let rows_again = indicators::upsert_and_link_all(&mut tx, alert_id, &again).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        rows_again.iter().map(|r| r.id).collect::<Vec<_>>(),
        rows.iter().map(|r| r.id).collect::<Vec<_>>()
    );
    let linked = indicators::for_alert(&app.db, alert_id).await.unwrap();
    assert_eq!(
        linked.iter().map(|r| r.value.as_str()).collect::<Vec<_>>(),
        values.iter().map(String::as_str).collect::<Vec<_>>(),
        "linked once each, in the order given"
    );
    let before = app.db.work_done();
    let (with_origins, origins) = indicators::for_alert_with_origins(&app.db, alert_id).await.unwrap();
    assert_eq!(
        app.db.work_done().since(before).statements,
        1,
        "the indicators and their origins in one read"
    );
    assert_eq!(
        with_origins.iter().map(|r| r.id).collect::<Vec<_>>(),
        linked.iter().map(|r| r.id).collect::<Vec<_>>()
    );
    assert_eq!(origins.len(), 250);
    assert!(
        origins.iter().zip(&linked).all(|(o, i)| o.indicator_id == i.id),
        "each origin with its indicator"
    );
    assert!(origins.iter().all(|o| o.origin_field.as_deref() == Some("first.field")), "{:?}", &origins[..3]);
}

#[tokio::test]
async fn a_fresh_handle_has_done_no_work_and_counts_its_own() {
    let database = test_database().await;
    let db = Db::connect(&DbOptions::new(database.url.clone())).await.unwrap();
    db.migrate().await.unwrap();
    let other = Db::connect(&DbOptions::new(database.url.clone())).await.unwrap();
    let start = db.work_done();
    calseta_store::state::get(&db, "nothing").await.unwrap();
    assert_eq!(db.work_done().since(start).statements, 1, "one read, one statement");
    assert_eq!(other.work_done().statements, 0, "each handle counts its own work");
    db.close().await;
    other.close().await;
}

#[tokio::test]
async fn a_batch_of_provider_results_is_read_in_one_statement_and_written_in_one() {
    let app = spawn_app_with(AppOptions { run_worker: false, ..Default::default() }).await;
    let (alert_id, _) = stored_alert(&app.db, "Results").await;
    let origin = NewOrigin { field: Some("f"), pass: ExtractionPass::RawPayloadMappings, decoder: None };
    let mut tx = app.db.begin().await.unwrap();
    let rows = indicators::upsert_and_link_all(
        &mut tx,
        alert_id,
        &[(IndicatorType::Ip, "203.0.113.7", Some(origin)), (IndicatorType::Ip, "203.0.113.8", Some(origin))],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let answer = |provider: &str| {
        let mut map = serde_json::Map::new();
        map.insert(provider.into(), json!({"success": true, "extracted": {"provider": provider}}));
        map
    };
    // The same indicator twice in one batch: both answers are kept.
    let batch =
        vec![(rows[0].id, answer("first")), (rows[1].id, answer("first")), (rows[0].id, answer("second"))];
    let before = app.db.work_done();
    indicators::merge_results(&app.db, &batch).await.unwrap();
    let work = app.db.work_done().since(before);
    assert_eq!(work.statements, 2 + 2, "one read and one write, plus BEGIN and COMMIT: {work:?}");
    let stored = indicators::for_alert(&app.db, alert_id).await.unwrap();
    let results = |i: usize| stored[i].enrichment_results.as_ref().unwrap().0.clone();
    assert_eq!(results(0)["first"]["extracted"]["provider"], "first");
    assert_eq!(results(0)["second"]["extracted"]["provider"], "second");
    assert_eq!(results(1).as_object().unwrap().len(), 1);
}

/// A migrated store on a fresh test database (kept while the test runs).
async fn migrated_store() -> (TestDatabase, Db) {
    let database = test_database().await;
    let db = Db::connect(&DbOptions::new(&database.url)).await.unwrap();
    db.migrate().await.unwrap();
    (database, db)
}

/// An activity event about alert `alert_id`, for the tests of deferred writes.
fn probe_event(alert_id: i64) -> calseta_store::activity::NewActivity {
    calseta_store::activity::NewActivity {
        event_type: "probe".into(),
        actor_type: "system".into(),
        actor_key_prefix: None,
        alert_id: Some(alert_id),
        workflow_id: None,
        detection_rule_id: None,
        references: None,
    }
}

#[tokio::test]
async fn deferred_writes_go_together_in_order_and_fail_their_transaction_whole() {
    let (_database, db) = migrated_store().await;
    let (alert_id, alert_uuid) = stored_alert(&db, "Deferred writes").await;
    let postgres = db.engine() == calseta_store::Engine::Postgres;
    let job = |n: u32| calseta_store::jobs::NewJob {
        kind: "deferred_probe".into(),
        queue: "probe".into(),
        payload: json!({"n": n}),
        max_attempts: 1,
        run_at: calseta_store::now(),
    };
    let event = probe_event;

    // Two jobs, an event and the alert's enrichment status, then a read in the same transaction
    // that must see them.
    let before = db.work_done();
    let mut tx = db.begin().await.unwrap();
    calseta_store::jobs::enqueue(&mut tx, &job(1)).await.unwrap();
    calseta_store::jobs::enqueue(&mut tx, &job(2)).await.unwrap();
    calseta_store::activity::append(&mut tx, &event(alert_id)).await.unwrap();
    let now = calseta_store::now();
    calseta_store::alerts::set_enrichment(&mut tx, alert_id, EnrichmentStatus::Enriched, Some(now), now)
        .await
        .unwrap();
    assert_eq!(
        db.work_done().since(before).round_trips,
        1,
        "BEGIN only: the writes wait for the next statement"
    );
    let read = calseta_store::alerts::get_in(&mut tx, alert_uuid).await.unwrap().unwrap();
    assert_eq!(read.enrichment_status, EnrichmentStatus::Enriched, "the read sees the deferred update");
    tx.commit().await.unwrap();
    let work = db.work_done().since(before);
    // BEGIN; the four deferred writes (and two NOTIFYs on PostgreSQL); the read; COMMIT.
    let expected = if postgres { (9, 9) } else { (7, 4) };
    assert_eq!((work.statements, work.round_trips), expected, "{work:?}");
    let probes = calseta_store::jobs::counts_by_kind(&db).await.unwrap();
    let queued: i64 = probes.iter().filter(|c| c.kind == "deferred_probe").map(|c| c.count).sum();
    assert_eq!(queued, 2);

    // A deferred write that fails fails the statement it travels with; a caller that carries on
    // anyway cannot commit what did not land.
    let mut tx = db.begin().await.unwrap();
    calseta_store::jobs::enqueue(&mut tx, &job(5)).await.unwrap();
    calseta_store::activity::append(&mut tx, &event(alert_id + 1_000_000)).await.unwrap();
    assert!(calseta_store::alerts::get_in(&mut tx, alert_uuid).await.is_err());
    assert!(tx.commit().await.is_err(), "committed a transaction whose deferred writes failed");

    // A deferred write that fails (an event about an alert that does not exist) fails the
    // commit, and nothing of its transaction stays: not the job deferred before it.
    let mut tx = db.begin().await.unwrap();
    calseta_store::jobs::enqueue(&mut tx, &job(3)).await.unwrap();
    calseta_store::activity::append(&mut tx, &event(alert_id + 1_000_000)).await.unwrap();
    assert!(tx.commit().await.is_err(), "a deferred write that fails must fail the commit");
    let probes = calseta_store::jobs::counts_by_kind(&db).await.unwrap();
    let queued: i64 = probes.iter().filter(|c| c.kind == "deferred_probe").map(|c| c.count).sum();
    assert_eq!(queued, 2, "the failed transaction left its job behind");
    // The writer is free again: the next transaction commits.
    let mut tx = db.begin().await.unwrap();
    calseta_store::jobs::enqueue(&mut tx, &job(4)).await.unwrap();
    tx.commit().await.unwrap();
    db.close().await;
}

#[tokio::test]
async fn a_claim_sends_no_statement_for_queues_its_kinds_are_not_in() {
    let (_database, db) = migrated_store().await;
    let enqueue = |kind: &'static str, queue: &'static str| calseta_store::jobs::NewJob {
        kind: kind.into(),
        queue: queue.into(),
        payload: json!({}),
        max_attempts: 1,
        run_at: calseta_store::now() - chrono::Duration::seconds(1),
    };
    let (deliver, enrich) = (vec!["probe_deliver".to_string()], vec!["probe_enrich".to_string()]);
    let (dispatch_queue, enrichment_queue) = (vec!["dispatch".to_string()], vec!["enrichment".to_string()]);
    let order = calseta_store::jobs::ClaimOrder { priority: &["dispatch"], reclaim_lapsed: false };
    let claim = async |known: bool| {
        let mut tx = db.begin().await.unwrap();
        calseta_store::jobs::enqueue(&mut tx, &enqueue("probe_deliver", "dispatch")).await.unwrap();
        calseta_store::jobs::enqueue(&mut tx, &enqueue("probe_enrich", "enrichment")).await.unwrap();
        tx.commit().await.unwrap();
        let groups = [
            calseta_store::jobs::ClaimGroup {
                kinds: &deliver,
                queues: if known { &dispatch_queue } else { &[] },
                limit: 10,
            },
            calseta_store::jobs::ClaimGroup {
                kinds: &enrich,
                queues: if known { &enrichment_queue } else { &[] },
                limit: 10,
            },
        ];
        let before = db.work_done();
        let lease = calseta_store::now() + chrono::Duration::seconds(60);
        let claimed = calseta_store::jobs::claim_groups(&db, &groups, 20, uuid::Uuid::new_v4(), lease, order)
            .await
            .unwrap();
        let counts: Vec<usize> = claimed.iter().map(Vec::len).collect();
        (counts, db.work_done().since(before).statements)
    };
    // Queues unknown: each group asks the dispatch queue first, then any due job.
    assert_eq!(claim(false).await, (vec![1, 1], 2 + 4));
    // Known: the delivery group asks only the dispatch queue, the enrichment group only "any due".
    assert_eq!(claim(true).await, (vec![1, 1], 2 + 2));
    db.close().await;
}

#[tokio::test]
async fn a_jobs_completion_carries_its_deferred_writes_in_one_round_trip() {
    let (_database, db) = migrated_store().await;
    let (alert_id, _) = stored_alert(&db, "Completion").await;
    let job = |kind: &str| calseta_store::jobs::NewJob {
        kind: kind.into(),
        queue: "probe".into(),
        payload: json!({}),
        max_attempts: 1,
        run_at: calseta_store::now() - chrono::Duration::seconds(1),
    };
    let mut tx = db.begin().await.unwrap();
    calseta_store::jobs::enqueue(&mut tx, &job("probe_running")).await.unwrap();
    tx.commit().await.unwrap();
    let kinds = vec!["probe_running".to_string()];
    let token = uuid::Uuid::new_v4();
    let lease = calseta_store::now() + chrono::Duration::seconds(60);
    let claimed = calseta_store::jobs::claim(&db, &kinds, 1, token, lease, Default::default()).await.unwrap();
    assert_eq!(claimed.len(), 1);

    let mut tx = db.begin().await.unwrap();
    calseta_store::jobs::enqueue(&mut tx, &job("probe_next")).await.unwrap();
    calseta_store::activity::append(&mut tx, &probe_event(alert_id)).await.unwrap();
    let before = db.work_done();
    assert!(calseta_store::jobs::mark_succeeded(&mut tx, claimed[0].id, token).await.unwrap());
    let work = db.work_done().since(before);
    tx.commit().await.unwrap();
    // The job, the event and the completion: one round trip on SQLite; on PostgreSQL each alone,
    // the job's NOTIFY too.
    let expected = if db.engine() == calseta_store::Engine::Postgres { (4, 4) } else { (3, 1) };
    assert_eq!((work.statements, work.round_trips), expected, "{work:?}");
    // A completion whose lease is gone reports it, its deferred writes sent all the same.
    let mut tx = db.begin().await.unwrap();
    calseta_store::jobs::enqueue(&mut tx, &job("probe_next")).await.unwrap();
    assert!(!calseta_store::jobs::mark_succeeded(&mut tx, claimed[0].id, token).await.unwrap());
    tx.commit().await.unwrap();
    let counts = calseta_store::jobs::counts_by_kind(&db).await.unwrap();
    let next: i64 = counts.iter().filter(|c| c.kind == "probe_next").map(|c| c.count).sum();
    let done: Vec<_> = counts.iter().filter(|c| c.kind == "probe_running").map(|c| c.status).collect();
    assert_eq!((next, done), (2, vec![JobStatus::Succeeded]));
    db.close().await;
}

#[tokio::test]
async fn a_row_whose_queue_is_not_its_kinds_is_still_claimed_on_the_look_for_lapsed_leases() {
    let (_database, db) = migrated_store().await;
    // A delivery whose row names another queue (a kind moved between releases).
    let mut tx = db.begin().await.unwrap();
    let misfiled = calseta_store::jobs::NewJob {
        kind: "probe_deliver".into(),
        queue: "enrichment".into(),
        payload: json!({}),
        max_attempts: 1,
        run_at: calseta_store::now() - chrono::Duration::seconds(1),
    };
    calseta_store::jobs::enqueue(&mut tx, &misfiled).await.unwrap();
    tx.commit().await.unwrap();
    let (kinds, queues) = (vec!["probe_deliver".to_string()], vec!["dispatch".to_string()]);
    let group = [calseta_store::jobs::ClaimGroup { kinds: &kinds, queues: &queues, limit: 10 }];
    let claim = async |reclaim_lapsed: bool| {
        let order = calseta_store::jobs::ClaimOrder { priority: &["dispatch"], reclaim_lapsed };
        let lease = calseta_store::now() + chrono::Duration::seconds(60);
        calseta_store::jobs::claim_groups(&db, &group, 10, uuid::Uuid::new_v4(), lease, order).await.unwrap()
            [0]
        .len()
    };
    // The frequent claim asks only the group's queue…
    assert_eq!(claim(false).await, 0);
    // …the look for lapsed leases also asks for any due job of its kinds.
    assert_eq!(claim(true).await, 1);
    db.close().await;
}

#[tokio::test]
async fn an_enrichment_run_whose_lookups_answer_together_writes_its_links_and_results_with_its_completion() {
    let app = spawn_app_with(AppOptions {
        env: vec![("ENRICHMENT_MOCK_MODE", "true".into())],
        ..AppOptions::default()
    })
    .await;
    let body =
        json!({"source_name": "generic", "payload": {"title": "Together", "src_ip": "185.220.101.47"}});
    let (status, accepted) = app.post("/v1/alerts", &app.admin_key, body).await;
    assert_eq!(status, 202, "{accepted}");
    let uuid: uuid::Uuid = accepted["data"]["alert_uuid"].as_str().unwrap().parse().unwrap();
    let alert = eventually("the alert to be enriched", Duration::from_secs(30), || async {
        let alert = calseta_store::alerts::get(&app.db, uuid).await.unwrap()?;
        (alert.enrichment_status == EnrichmentStatus::Enriched).then_some(alert)
    })
    .await;
    let linked = indicators::for_alert(&app.db, alert.id).await.unwrap();
    let ip = linked.iter().find(|i| i.value == "185.220.101.47").expect("the address is linked");
    let results = ip.enrichment_results.as_ref().expect("results are stored").0.clone();
    assert!(results.as_object().unwrap().len() >= 2, "the mock providers answered: {results}");
    // Written by the completion transaction and stamped with its time, not by a transaction of
    // their own before it.
    assert_eq!(Some(ip.updated_at), alert.enriched_at, "results: {results}");
    // So are the indicator, new to Calseta, and its link: no write transaction before the lookups.
    assert_eq!(Some(ip.first_seen), alert.enriched_at);
    let linked_at = query_text(
        &app,
        &format!("SELECT CAST(created_at AS TEXT) FROM alert_indicators WHERE alert_id = {}", alert.id),
    )
    .await;
    let enriched_at =
        query_text(&app, &format!("SELECT CAST(enriched_at AS TEXT) FROM alerts WHERE id = {}", alert.id))
            .await;
    assert_eq!(linked_at, enriched_at);
}

/// A prediction of [`predicted_links`]: the alert, its run's links, the rows and origins shown.
type Predicted = (
    i64,
    RunLinks<'static>,
    Vec<indicators::IndicatorRow>,
    Vec<indicators::LinkOrigin>,
    indicators::NewIndicators,
);

/// A run's links as its completion shows them before writing them: an alert already linked to
/// one indicator, found again, and two new links — one to an indicator another alert has, one to
/// an indicator new to Calseta.
async fn predicted_links(db: &Db, title: &str) -> Predicted {
    let (alert_id, _) = stored_alert(db, title).await;
    let (other_id, _) = stored_alert(db, &format!("{title}, the other")).await;
    let by_hand = NewOrigin { field: None, pass: ExtractionPass::Manual, decoder: None };
    let mut tx = db.begin().await.unwrap();
    indicators::upsert_and_link_all(
        &mut tx,
        alert_id,
        &[(IndicatorType::Domain, "known.example", Some(by_hand))],
    )
    .await
    .unwrap();
    indicators::upsert_and_link_all(&mut tx, other_id, &[(IndicatorType::Ip, "203.0.113.70", Some(by_hand))])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let found = NewOrigin { field: Some("src_ip"), pass: ExtractionPass::RawPayloadMappings, decoder: None };
    let to_link = vec![
        (IndicatorType::Domain, "known.example", Some(found)),
        (IndicatorType::Ip, "203.0.113.70", Some(found)),
        (IndicatorType::Ip, "203.0.113.71", Some(found)),
        (IndicatorType::Ip, "203.0.113.71", None),
    ];
    let before = indicators::for_alert(db, alert_id).await.unwrap();
    let links = RunLinks::new(alert_id, &before, to_link);
    assert_eq!(links.targets().len(), 3, "each indicator once: {:?}", links.targets());
    let (mut linked, mut origins) = indicators::for_alert_with_origins(db, alert_id).await.unwrap();
    let mut new = indicators::NewIndicators::at(calseta_store::now());
    links.predict(db, &mut linked, &mut origins, &mut new).await.unwrap();
    (alert_id, links, linked, origins, new)
}

#[tokio::test]
async fn a_completion_shows_the_links_it_writes_as_they_are_written() {
    let (_database, db) = migrated_store().await;
    let (alert_id, links, predicted, predicted_origins, new) = predicted_links(&db, "Predicted").await;
    let mut tx = db.begin().await.unwrap();
    let ids = links.link_as_predicted(&mut tx, &predicted, &new).await.unwrap().expect("as predicted");
    tx.commit().await.unwrap();
    let (stored, origins) = indicators::for_alert_with_origins(&db, alert_id).await.unwrap();
    let shown = |rows: &[indicators::IndicatorRow]| -> Vec<String> {
        rows.iter()
            .map(|r| {
                format!(
                    "{} {} {} {} {} {}",
                    r.uuid, r.value, r.first_seen, r.last_seen, r.updated_at, r.malice
                )
            })
            .collect()
    };
    assert_eq!(shown(&predicted), shown(&stored), "the rows, in link order, as predicted");
    let origin =
        |o: &indicators::LinkOrigin| (o.origin_field.clone(), o.origin_pass.0, o.origin_decoder.clone());
    assert_eq!(
        predicted_origins.iter().map(origin).collect::<Vec<_>>(),
        origins.iter().map(origin).collect::<Vec<_>>(),
        "the first origin kept by the known link, the new links' origins as found"
    );
    assert_eq!(ids, stored.iter().map(|r| Some(r.id)).collect::<Vec<_>>(), "each target's id");
    assert!(predicted[2].id < 0, "the new indicator's id is a stand-in until it is written");
    assert_eq!(predicted[1].id, stored[1].id, "the other alert's indicator keeps its id");
}

#[tokio::test]
async fn a_completion_whose_new_indicator_another_run_inserted_first_writes_nothing() {
    let (_database, db) = migrated_store().await;
    let (alert_id, links, predicted, _, new) = predicted_links(&db, "Raced").await;
    // Another alert's run inserts the indicator new to Calseta after the prediction.
    let (rival_id, _) = stored_alert(&db, "Raced, a rival").await;
    let mut tx = db.begin().await.unwrap();
    indicators::upsert_and_link_all(&mut tx, rival_id, &[(IndicatorType::Ip, "203.0.113.71", None)])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = db.begin().await.unwrap();
    assert!(links.link_as_predicted(&mut tx, &predicted, &new).await.unwrap().is_none());
    drop(tx);
    let stored = indicators::for_alert(&db, alert_id).await.unwrap();
    assert_eq!(stored.len(), 1, "only the link made before: {stored:?}");
}

#[tokio::test]
async fn a_delivery_reads_its_agent_and_its_alerts_id_in_one_statement() {
    let app = spawn_app_with(AppOptions {
        run_worker: false,
        env: vec![("SSRF_ALLOWED_HOSTS", "127.0.0.1".into())],
        ..Default::default()
    })
    .await;
    let body = json!({"name": "one-read", "endpoint_url": "http://127.0.0.1:9/agent"});
    let (status, agent) = app.post("/v1/agents", &app.admin_key, body).await;
    assert_eq!(status, 201, "{agent}");
    let agent: uuid::Uuid = agent["data"]["uuid"].as_str().unwrap().parse().unwrap();
    let (alert_id, alert) = stored_alert(&app.db, "Delivered").await;
    let before = app.db.work_done();
    let (row, found) = calseta_store::agents::with_alert_id(&app.db, agent, alert).await.unwrap().unwrap();
    assert_eq!(app.db.work_done().since(before).statements, 1);
    assert_eq!((row.uuid, row.name.as_str(), found), (agent, "one-read", Some(alert_id)));
    // A deleted alert reads as none; a deleted agent as nothing at all.
    let gone = uuid::Uuid::now_v7();
    let (_, found) = calseta_store::agents::with_alert_id(&app.db, agent, gone).await.unwrap().unwrap();
    assert_eq!(found, None);
    assert!(calseta_store::agents::with_alert_id(&app.db, gone, alert).await.unwrap().is_none());
}

/// Posts generic alerts titled `titles` to `app`, all at once; each one's status and answer, in
/// order.
async fn post_together(app: &TestApp, titles: &[&str]) -> Vec<(u16, serde_json::Value)> {
    let requests: Vec<_> = titles
        .iter()
        .map(|title| {
            let (client, url, key) = (app.client.clone(), app.url("/v1/alerts"), app.admin_key.clone());
            let body =
                json!({"source_name": "generic", "payload": {"title": title, "src_ip": "198.51.100.9"}});
            tokio::spawn(async move {
                status_json(client.post(url).bearer_auth(key).json(&body).send().await.unwrap()).await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for request in requests {
        answers.push(request.await.unwrap());
    }
    answers
}

#[tokio::test]
async fn ingests_that_arrive_together_are_written_in_one_transaction_and_fail_alone() {
    let app = spawn_app_with(AppOptions { run_worker: false, ..AppOptions::default() }).await;
    let sqlite = app.db.engine() == calseta_store::Engine::Sqlite;
    let services = app.services();
    refuse_rows(&app, "refuse_alert", "alerts", "INSERT", "NEW.title = 'Refused'").await;
    // The key's `last_used_at` is written now, not by a request waiting below.
    let (status, _) = app.get("/v1/alerts", &app.admin_key).await;
    assert_eq!(status, 200);
    // On SQLite a write transaction held here holds the only writer: the ingests posted meanwhile
    // all wait for it, and are written by one batch when it ends. (On PostgreSQL each ingest has a
    // transaction of its own: only the outcomes are checked.)
    let together = |titles: &'static [&'static str]| {
        let (app, services) = (&app, services.clone());
        async move {
            let held = app.db.begin().await.unwrap();
            let before = app.db.work_done();
            let posted = post_together(app, titles);
            let release = async {
                if sqlite {
                    eventually("every ingest waiting for the writer", Duration::from_secs(20), || async {
                        (services.ingest.ingests_waiting() == titles.len()).then_some(())
                    })
                    .await;
                }
                drop(held);
            };
            let (answers, ()) = tokio::join!(posted, release);
            (answers, app.db.work_done().since(before))
        }
    };

    // Four new alerts and a duplicate of one: one transaction, one commit.
    let (answers, work) =
        together(&["Together #1", "Together #2", "Together #3", "Together #4", "Together #2"]).await;
    assert!(answers.iter().all(|(status, _)| *status == 202), "{answers:?}");
    let duplicates = answers.iter().filter(|(_, body)| body["data"]["is_duplicate"] == true).count();
    assert_eq!(duplicates, 1, "the second 'Together #2' is a duplicate of the first: {answers:?}");
    if sqlite {
        assert_eq!((work.write_transactions, work.commits), (1, 1), "{work:?}");
    }

    // One alert the database refuses: it fails alone, the others are stored.
    let (answers, _) = together(&["Alone #1", "Refused", "Alone #2"]).await;
    let statuses: Vec<u16> = answers.iter().map(|(status, _)| *status).collect();
    assert_eq!(statuses[0], 202, "{answers:?}");
    assert_eq!(statuses[2], 202, "{answers:?}");
    assert!(statuses[1] >= 500, "{answers:?}");
    let stored = query_i64(&app, "SELECT COUNT(*) FROM alerts WHERE title LIKE 'Alone #%'").await;
    assert_eq!(stored, 2);
    assert_eq!(query_i64(&app, "SELECT COUNT(*) FROM alerts WHERE title = 'Refused'").await, 0);

    // One alert the database refuses only at the commit (a deferred foreign key): the commit
    // fails, and with it every ingest of the batch — none is written again, none stored.
    exec_sql(&app, "CREATE TABLE guard_parent (title TEXT PRIMARY KEY)").await;
    exec_sql(
        &app,
        "CREATE TABLE guard (title TEXT REFERENCES guard_parent (title) DEFERRABLE INITIALLY DEFERRED)",
    )
    .await;
    if sqlite {
        exec_sql(
            &app,
            "CREATE TRIGGER guard_alert AFTER INSERT ON alerts WHEN NEW.title = 'Refused at commit' \
             BEGIN INSERT INTO guard (title) VALUES (NEW.title); END",
        )
        .await;
    } else {
        exec_sql(
            &app,
            "CREATE FUNCTION guard_alert() RETURNS trigger AS $$ BEGIN INSERT INTO guard (title) VALUES (NEW.title); RETURN NEW; END $$ LANGUAGE plpgsql",
        )
        .await;
        exec_sql(
            &app,
            "CREATE TRIGGER guard_alert AFTER INSERT ON alerts FOR EACH ROW WHEN (NEW.title = 'Refused at commit') EXECUTE FUNCTION guard_alert()",
        )
        .await;
    }
    let (answers, _) = together(&["Committed with #1", "Refused at commit", "Committed with #2"]).await;
    assert!(answers[1].0 >= 500, "{answers:?}");
    let stored = query_i64(&app, "SELECT COUNT(*) FROM alerts WHERE title LIKE '%ommit%'").await;
    if sqlite {
        assert!(answers.iter().all(|(status, _)| *status == 503), "{answers:?}");
        assert_eq!(stored, 0, "nothing of the batch is stored");
    } else {
        // Each ingest its own transaction on PostgreSQL: only the refused one fails.
        assert_eq!(stored, answers.iter().filter(|(status, _)| *status == 202).count() as i64, "{answers:?}");
    }
    // The writer goes on.
    let (answers, _) = together(&["After the failed commit"]).await;
    assert_eq!(answers[0].0, 202, "{answers:?}");
}
