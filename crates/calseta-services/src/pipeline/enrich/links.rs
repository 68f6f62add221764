//! An enrichment run's indicators and their links to its alert.
//!
//! The indicators a run finds are linked to the alert by the run's first write, not before its
//! lookups: on SQLite every write transaction holds the only writer, and a run whose lookups all
//! answer within [`super::run::RESULTS_HELD_FOR`] then writes once — its links, results, status,
//! event and deliveries in its completion. The completion builds its payload before that
//! transaction, so it shows the links as they will be ([`RunLinks::predict`]) and the transaction
//! checks that the upsert left them so ([`RunLinks::link_as_predicted`]).

use std::collections::HashMap;

use calseta_core::indicators::IndicatorType;
use calseta_jobs::{JobContext, JobFailure};
use calseta_store::indicators::{self, IndicatorRow, LinkOrigin, NewIndicators, NewOrigin, OptionalPass};
use calseta_store::{Db, Tx};
use serde_json::{Map, Value};

/// One indicator's results by provider, keyed by the run's index of the indicator.
pub type TargetResults = (usize, Map<String, Value>);

/// The indicators one run enriches, and their links to its alert.
pub struct RunLinks<'a> {
    alert_id: i64,
    /// What the run enriches, by index: the alert's linked indicators, then those it found new.
    targets: Vec<(IndicatorType, String)>,
    /// Each target's id, once it is linked.
    ids: Vec<Option<i64>>,
    /// The links still to write (found again or new), in extraction order; empty once written.
    to_link: Vec<(IndicatorType, &'a str, Option<NewOrigin<'a>>)>,
}

impl<'a> RunLinks<'a> {
    /// The run over `linked` (the alert's indicators now) that links `to_link`.
    pub fn new(
        alert_id: i64,
        linked: &[IndicatorRow],
        to_link: Vec<(IndicatorType, &'a str, Option<NewOrigin<'a>>)>,
    ) -> Self {
        let mut targets: Vec<(IndicatorType, String)> =
            linked.iter().map(|row| (row.kind, row.value.clone())).collect();
        let mut ids: Vec<Option<i64>> = linked.iter().map(|row| Some(row.id)).collect();
        let mut seen: std::collections::HashSet<(IndicatorType, &str)> =
            linked.iter().map(|row| (row.kind, row.value.as_str())).collect();
        for (kind, value, _) in &to_link {
            if seen.insert((*kind, value)) {
                targets.push((*kind, (*value).to_string()));
                ids.push(None);
            }
        }
        RunLinks { alert_id, targets, ids, to_link }
    }

    /// What the run enriches, by index.
    pub fn targets(&self) -> &[(IndicatorType, String)] {
        &self.targets
    }

    /// Whether links are still to be written.
    pub fn unwritten(&self) -> bool {
        !self.to_link.is_empty()
    }

    /// `results` under the ids of their indicators; those of indicators not linked are left out.
    pub fn with_ids(&self, results: &[TargetResults]) -> Vec<(i64, Map<String, Value>)> {
        under(&self.ids, results)
    }

    /// Writes the links still unwritten and `results` in one fenced transaction (results alone
    /// in one of their own); whether they were written. A failure is logged and the run goes
    /// on: the links are left for the completion, the results for the caller to keep.
    pub async fn write_with(&mut self, ctx: &JobContext, results: &[TargetResults]) -> bool {
        if !self.unwritten() {
            let batch = self.with_ids(results);
            return batch.is_empty() || store_results(ctx.db(), &batch).await;
        }
        match self.link_with(ctx, results).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(alert_id = self.alert_id, error = %e.message, "could not link indicators and store results");
                false
            }
        }
    }

    /// Writes the links still unwritten, in a fenced transaction of their own.
    pub async fn write(&mut self, ctx: &JobContext) -> Result<(), JobFailure> {
        self.link_with(ctx, &[]).await
    }

    /// Writes the links still unwritten and `results` in one fenced transaction.
    async fn link_with(&mut self, ctx: &JobContext, results: &[TargetResults]) -> Result<(), JobFailure> {
        let mut tx = ctx.begin_fenced().await?;
        let rows = indicators::upsert_and_link_all(&mut tx, self.alert_id, &self.to_link).await?;
        let ids = self.ids_with(&rows);
        indicators::merge_results_in(&mut tx, &under(&ids, results), calseta_store::now()).await?;
        tx.commit().await?;
        self.settle(ids);
        Ok(())
    }

    /// The targets' ids once `rows` (just linked, not yet committed) are: ids are recorded only
    /// when their transaction committed ([`RunLinks::settle`]), since a rolled-back insert's id
    /// may be another indicator's later.
    fn ids_with(&self, rows: &[IndicatorRow]) -> Vec<Option<i64>> {
        let by_key: HashMap<(IndicatorType, &str), i64> =
            rows.iter().map(|row| ((row.kind, row.value.as_str()), row.id)).collect();
        self.targets
            .iter()
            .zip(&self.ids)
            .map(|((kind, value), id)| by_key.get(&(*kind, value.as_str())).copied().or(*id))
            .collect()
    }

    /// Records the links as written, with their targets' `ids`.
    pub fn settle(&mut self, ids: Vec<Option<i64>>) {
        self.ids = ids;
        self.to_link.clear();
    }

    /// `linked` and `origins` (the alert's indicators and their links' origins, just read) as the
    /// unwritten links will leave them, stamped as `new` says: indicators found again are seen
    /// now and a link without an origin takes its first; new links come last, in extraction
    /// order, each indicator as stored (one read) or as it will be inserted (under a negative
    /// stand-in id). Indicators already linked keep their ids.
    pub async fn predict(
        &self,
        db: &Db,
        linked: &mut Vec<IndicatorRow>,
        origins: &mut Vec<LinkOrigin>,
        new: &mut NewIndicators,
    ) -> Result<(), JobFailure> {
        let mut position: HashMap<(IndicatorType, String), usize> =
            linked.iter().enumerate().map(|(i, row)| ((row.kind, row.value.clone()), i)).collect();
        // Each pair once, its first origin: as the upsert takes them.
        let mut seen = std::collections::HashSet::new();
        let to_link: Vec<_> =
            self.to_link.iter().filter(|(kind, value, _)| seen.insert((*kind, *value))).collect();
        let fresh: Vec<(IndicatorType, &str)> = to_link
            .iter()
            .filter(|(kind, value, _)| !position.contains_key(&(*kind, (*value).to_string())))
            .map(|(kind, value, _)| (*kind, *value))
            .collect();
        let stored: HashMap<(IndicatorType, String), IndicatorRow> = if fresh.is_empty() {
            HashMap::new()
        } else {
            indicators::find_all(db, &fresh)
                .await?
                .into_iter()
                .map(|row| ((row.kind, row.value.clone()), row))
                .collect()
        };
        for (kind, value, origin) in to_link {
            let key = (*kind, (*value).to_string());
            if let Some(&at) = position.get(&key) {
                if let (Some(row), Some(link)) = (linked.get_mut(at), origins.get_mut(at)) {
                    new.touch(row);
                    if link.origin_pass.0.is_none() {
                        *link = origin_of(row.id, *origin);
                    }
                }
                continue;
            }
            let mut row = match stored.get(&key) {
                Some(row) => row.clone(),
                None => new.unsaved(*kind, value, -(linked.len() as i64) - 1),
            };
            new.touch(&mut row);
            origins.push(origin_of(row.id, *origin));
            position.insert(key, linked.len());
            linked.push(row);
        }
        Ok(())
    }

    /// Writes the unwritten links in `tx` as [`RunLinks::predict`] showed them in `predicted`,
    /// and answers the targets' ids once `tx` commits (for [`RunLinks::settle`]); `None` when
    /// they came out otherwise (another run inserted one of the indicators meanwhile), and the
    /// caller then drops the transaction.
    pub async fn link_as_predicted(
        &self,
        tx: &mut Tx,
        predicted: &[IndicatorRow],
        new: &NewIndicators,
    ) -> Result<Option<Vec<Option<i64>>>, JobFailure> {
        if !self.unwritten() {
            return Ok(Some(self.ids.clone()));
        }
        let rows = indicators::upsert_and_link_as(tx, self.alert_id, &self.to_link, new).await?;
        let shown: HashMap<(IndicatorType, &str), uuid::Uuid> =
            predicted.iter().map(|row| ((row.kind, row.value.as_str()), row.uuid)).collect();
        if rows.iter().any(|row| shown.get(&(row.kind, row.value.as_str())) != Some(&row.uuid)) {
            return Ok(None);
        }
        Ok(Some(self.ids_with(&rows)))
    }
}

/// `results` under the ids in `ids` (by target index); those without one are left out.
pub fn under(ids: &[Option<i64>], results: &[TargetResults]) -> Vec<(i64, Map<String, Value>)> {
    results
        .iter()
        .filter_map(|(index, map)| Some((ids.get(*index).copied().flatten()?, map.clone())))
        .collect()
}

/// A link's origin as the upsert records it.
fn origin_of(indicator_id: i64, origin: Option<NewOrigin<'_>>) -> LinkOrigin {
    LinkOrigin {
        indicator_id,
        origin_field: origin.and_then(|o| o.field).map(str::to_string),
        origin_pass: OptionalPass(origin.map(|o| o.pass)),
        origin_decoder: origin.and_then(|o| o.decoder).map(|d| d.as_str().to_string()),
    }
}

/// Writes `batch` in one transaction of its own; whether it was written (a failure is logged).
pub async fn store_results(db: &Db, batch: &[(i64, Map<String, Value>)]) -> bool {
    match indicators::merge_results(db, batch).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(indicators = batch.len(), error = %e, "could not store enrichment results");
            false
        }
    }
}
