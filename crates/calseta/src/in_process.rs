//! The ingest service lent to `calseta bench` in its own process, for ingest without HTTP and the
//! storage ceiling: the bench crate knows no services, and this composition root wires them exactly
//! as `serve` does, from the same settings as the servers the bench starts.

use std::sync::Arc;

use calseta_bench::ceilings::{InProcessIngest, IngestHalves, Prepared, Work};
use calseta_services::Services;
use calseta_services::pipeline::ingest::PreparedAlert;
use calseta_services::resources::api_keys::{ApiKey, NewKeyRequest};
use calseta_store::Db;

use crate::app;
use crate::config::Config;

/// Opens the services on the bench's database.
pub struct ServiceIngest;

#[async_trait::async_trait(?Send)]
impl InProcessIngest for ServiceIngest {
    async fn open(&self, env: &[(String, String)]) -> Result<Arc<dyn IngestHalves>, String> {
        let lookup = |name: &str| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).or_else(|| std::env::var(name).ok())
        };
        let config = Config::from_lookup(&lookup).map_err(|e| e.to_string())?;
        open_services(config).await
    }
}

/// Connects, migrates and wires the services as `serve` does; issues an ingest-only key.
async fn open_services(config: Config) -> Result<Arc<dyn IngestHalves>, String> {
    let (db, key) = app::open_for_service(&config).await.map_err(|e| e.to_string())?;
    let services = app::services(&config, &db, key).await.map_err(|e| e.to_string())?;
    let request = NewKeyRequest {
        name: "bench in-process ingest".into(),
        scopes: vec!["alerts:ingest".into()],
        key_type: None,
        allowed_sources: None,
        expires_at: None,
    };
    let issued = services.keys.issue(request).await.map_err(|e| e.to_string())?;
    Ok(Arc::new(Halves { services, key: issued.key, db }))
}

struct Halves {
    services: Arc<Services>,
    key: ApiKey,
    db: Db,
}

#[async_trait::async_trait]
impl IngestHalves for Halves {
    async fn prepare(&self, source: &str, body: &str) -> Result<Prepared, String> {
        let prepared =
            self.services.ingest.prepare(source, &self.key, body).await.map_err(|e| e.to_string())?;
        Ok(Box::new(prepared))
    }

    async fn store(&self, prepared: &Prepared) -> Result<(), String> {
        let prepared =
            prepared.downcast_ref::<PreparedAlert>().ok_or("not an alert this service prepared")?;
        self.services.ingest.store(prepared).await.map(|_| ()).map_err(|e| e.to_string())
    }

    fn work(&self) -> Work {
        self.db.work_done()
    }

    async fn close(&self) {
        self.db.close().await;
    }
}
