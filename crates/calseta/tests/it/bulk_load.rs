//! `calseta_store::bulk`, the loader behind `calseta bench --scale`: alerts it stores read like
//! ingested ones through the API (the list and its filters, the detail with its indicators and
//! rule, the activity, past alerts), on both engines; and the disk size it reports.

use calseta_core::alerts::{AlertStatus, CloseClassification, EnrichmentStatus, Malice, Severity};
use calseta_core::indicators::IndicatorType;
use calseta_store::bulk::{self, BulkAlert, BulkIndicator};
use serde_json::json;

use crate::helpers::*;

fn indicator(kind: IndicatorType, value: &str) -> BulkIndicator {
    BulkIndicator {
        kind,
        value: value.into(),
        malice: Malice::Malicious,
        enrichment_results: Some(
            json!({"virustotal": {"success": true, "extracted": {"malicious_count": 9}}}),
        ),
        seen_at: calseta_store::now(),
    }
}

fn alert(title: &str, hours_ago: i64, indicator_ids: &[i64], rule: i64) -> BulkAlert {
    let at = calseta_store::now() - chrono::Duration::hours(hours_ago);
    BulkAlert {
        title: title.into(),
        description: "Stored by the bulk loader.".into(),
        severity: Severity::High,
        status: AlertStatus::Open,
        enrichment_status: EnrichmentStatus::Enriched,
        close_classification: None,
        source_name: "splunk".into(),
        occurred_at: at,
        ingested_at: at,
        closed_at: None,
        fingerprint: format!("{:032x}", hours_ago),
        raw_payload: json!({"title": title, "src_ip": "185.220.101.47"}).to_string(),
        tags: vec!["bulk".into(), "vip".into()],
        detection_rule_id: Some(rule),
        indicator_ids: indicator_ids.to_vec(),
    }
}

#[tokio::test]
async fn bulk_loaded_alerts_read_like_ingested_ones() {
    let app = spawn_app().await;
    let key = app.admin_key.clone();
    let pool =
        [indicator(IndicatorType::Ip, "185.220.101.47"), indicator(IndicatorType::Domain, "c2.bad-cdn.net")];
    let ids = bulk::insert_indicators(&app.db, &pool).await.unwrap();
    assert_eq!(
        bulk::insert_indicators(&app.db, &pool).await.unwrap(),
        ids,
        "existing indicators are found, not duplicated"
    );
    let mut tx = app.db.begin().await.unwrap();
    let rule =
        calseta_store::detection_rules::find_or_create_stub(&mut tx, "splunk", "Brute force").await.unwrap();
    tx.commit().await.unwrap();

    let mut closed = alert("Older, closed", 48, &ids[..1], rule);
    closed.status = AlertStatus::Closed;
    closed.closed_at = Some(calseta_store::now() - chrono::Duration::hours(40));
    closed.close_classification = Some(CloseClassification::TruePositive);
    let stored =
        bulk::insert_alerts(&app.db, &[closed, alert("Newer", 2, &ids, rule)], "cai_bulk").await.unwrap();
    assert_eq!(stored.len(), 2);
    let (older, newer) = (stored[0].1, stored[1].1);
    assert_eq!(bulk::alert_count(&app.db).await.unwrap(), 2);

    let (_, list) = app.get("/v1/alerts?source_name=splunk&severity=High&tags=vip", &key).await;
    assert_eq!(list["meta"]["total"], 2, "{list}");
    assert_eq!(list["data"][0]["uuid"], newer.to_string(), "newest first");
    let (_, list) =
        app.get("/v1/alerts?status=Closed&enrichment_status=Enriched&is_enriched=true", &key).await;
    assert_eq!(list["meta"]["total"], 1, "{list}");

    let (status, detail) = app.get(&format!("/v1/alerts/{newer}"), &key).await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["data"]["indicators"].as_array().unwrap().len(), 2, "{detail}");
    assert_eq!(detail["data"]["detection_rule"]["name"], "Brute force");
    let (_, context) = app.get(&format!("/v1/alerts/{newer}/context"), &key).await;
    let shown = context["meta"]["past_alerts"].as_array().unwrap();
    assert_eq!(shown.len(), 1, "{context}");
    assert_eq!(shown[0]["uuid"], older.to_string());
    assert_eq!(shown[0]["close_classification"], "True Positive - Suspicious Activity");

    let (_, activity) = app.get(&format!("/v1/alerts/{older}/activity"), &key).await;
    let events = activity["data"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{activity}");
    assert_eq!(events[0]["event_type"], "alert_ingested");

    assert!(bulk::disk_bytes(&app.db).await.unwrap() > 0);
    bulk::refresh_statistics(&app.db).await.unwrap();
}
