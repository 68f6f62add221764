//! Rows carry the core enums: a text column decodes with `#[sqlx(try_from = "String")]`, a
//! nullable one with `#[sqlx(try_from = "NullableText")]`; an unknown value is a decode error.

use calseta_core::UnknownValue;
use calseta_core::alerts::{CloseClassification, Malice, Severity};
use calseta_core::indicators::MaliceSource;
use calseta_core::workflows::WorkflowType;

/// A nullable text column, read before it is parsed into an optional core enum.
#[derive(Debug, Clone, sqlx::Type)]
#[sqlx(transparent)]
pub struct NullableText(Option<String>);

/// `impl TryFrom<NullableText> for Option<E>` for each core enum `E` stored in a nullable column.
macro_rules! nullable_enums {
    ($($e:ty),+ $(,)?) => {
        $(
            impl TryFrom<NullableText> for Option<$e> {
                type Error = UnknownValue;
                fn try_from(text: NullableText) -> Result<Self, Self::Error> {
                    text.0.map(<$e>::try_from).transpose()
                }
            }
        )+
    };
}

nullable_enums!(CloseClassification, Malice, MaliceSource, Severity, WorkflowType);
