//! The read model "an alert with its context": the alert detail, the context documents that apply
//! to it and its past related alerts. REST's alert, MCP's alert resources and the `alert.enriched`
//! payload all read it here, so they always agree on what the context is.

use calseta_store::context_documents::DocumentRow;
use calseta_store::indicators::LinkOrigin;

use crate::ServiceError;
use crate::pipeline::context::{AlertContext, PastAlert};
use crate::views::alert_detail::AlertDetail;

/// An alert with its context.
#[derive(Debug, Clone)]
pub struct AlertWithContext {
    /// The alert with its indicators and detection rule.
    pub detail: AlertDetail,
    /// The context documents whose targeting selects the alert (global ones first).
    pub documents: Vec<DocumentRow>,
    /// Other alerts sharing its indicators, newest first.
    pub past_alerts: Vec<PastAlert>,
}

/// The context the context stage chooses for an alert, without the alert.
#[derive(Debug, Clone)]
pub struct ChosenContext {
    /// The context documents whose targeting selects the alert (global ones first).
    pub documents: Vec<DocumentRow>,
    /// Other alerts sharing its indicators, newest first.
    pub past_alerts: Vec<PastAlert>,
}

impl ChosenContext {
    /// The documents and past alerts `context` chooses for `detail` (for callers that keep their
    /// detail, such as the payload builder).
    pub async fn of(context: &AlertContext, detail: &AlertDetail) -> Result<Self, ServiceError> {
        let documents = context.documents_for(&detail.targeting_facts()).await?;
        let past_alerts = context.past_alerts(&detail.alert, &detail.indicators).await?;
        Ok(ChosenContext { documents, past_alerts })
    }
}

impl AlertWithContext {
    /// `detail` with the context `context` chooses for it.
    pub async fn of(context: &AlertContext, detail: AlertDetail) -> Result<Self, ServiceError> {
        let ChosenContext { documents, past_alerts } = ChosenContext::of(context, &detail).await?;
        Ok(AlertWithContext { detail, documents, past_alerts })
    }

    /// Where the indicator with internal id `indicator_id` was found, when its link records it.
    pub fn origin_of(&self, indicator_id: i64) -> Option<&LinkOrigin> {
        self.detail.origins.iter().find(|o| o.indicator_id == indicator_id && o.origin_pass.0.is_some())
    }
}
