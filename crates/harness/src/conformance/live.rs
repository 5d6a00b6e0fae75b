//! `ringstream-harness conformance live`: DataFrameJSON messages through a [`LiveFrame`].
//!
//! Input: `{"maxLength": N|null, "maxDelta": ms|null, "action": "append"|"replace"|null,
//! "messages": [DataFrameJSON, ...]}` (null or absent options take the library's defaults:
//! 1000, Infinity, append). The first message is what `StreamingDataFrame.fromDataFrameJSON`
//! reads, the others go through `push`, as in Grafana's `LiveDataStream`. Output: the frame in
//! the oracle's format ([`LiveFrame::to_oracle_json`]).

use serde::Deserialize;

use crate::live::{Action, LiveFrame, LiveOptions};
use crate::wire::DataFrameJson;
use crate::HarnessError;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Input {
    #[serde(default)]
    max_length: Option<usize>,
    #[serde(default)]
    max_delta: Option<f64>,
    #[serde(default)]
    action: Option<String>,
    messages: Vec<DataFrameJson>,
}

/// Runs an input (JSON text) and returns the resulting frame in the oracle's format.
///
/// # Errors
/// Invalid JSON or an invalid message, an unknown action, or a message the library throws on
/// (the remaining messages are not run).
pub fn run(input: &str) -> Result<serde_json::Value, HarnessError> {
    let input: Input = serde_json::from_str(input)?;
    let defaults = LiveOptions::default();
    let action = match input.action.as_deref() {
        None | Some("append") => Action::Append,
        Some("replace") => Action::Replace,
        Some(other) => {
            return Err(HarnessError::Script(format!(
                "unknown action {other:?}: expected \"append\" or \"replace\""
            )))
        }
    };
    let mut frame = LiveFrame::new(LiveOptions {
        max_length: input.max_length.unwrap_or(defaults.max_length),
        max_delta: input.max_delta,
        action,
    });
    for msg in &input.messages {
        frame.push(msg)?;
    }
    Ok(frame.to_oracle_json())
}
