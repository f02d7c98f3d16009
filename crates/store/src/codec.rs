//! Column codecs both backends share: JSON columns and build phases.

use crate::{Result, StoreError};
use slipway_core::BuildPhase;
use std::str::FromStr;

pub(crate) fn parse_phase(s: &str) -> Result<BuildPhase> {
    BuildPhase::from_str(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("bad JSON column: {e}")))
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(format!("cannot encode JSON: {e}")))
}
