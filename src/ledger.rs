//! Where alerts that gave no user end up (not-found and failure records) and the run's counts.

use std::fmt;
use std::time::Duration;

/// Why an alert is in the not-found file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotFoundReason {
    /// 404 whose message says the alert itself is unknown (`Alert … not found`).
    AlertNotFound,
    /// Any other 404: the API does not tell an unknown alert from an alert without a user.
    NotFound,
    /// 200 with an empty body or without an `id`.
    EmptyResponse,
}

impl NotFoundReason {
    pub fn as_str(self) -> &'static str {
        match self {
            NotFoundReason::AlertNotFound => "alert_not_found",
            NotFoundReason::NotFound => "not_found",
            NotFoundReason::EmptyResponse => "empty_response",
        }
    }

    /// Classifies a 404 by its free-text message. The text is undocumented and may change,
    /// so only the documented shape `Alert <id> not found` counts as "the alert is unknown".
    pub fn of_404(message: Option<&str>) -> Self {
        let m = message.unwrap_or("").trim_start().to_ascii_lowercase();
        if m.starts_with("alert") && m.contains("not found") {
            NotFoundReason::AlertNotFound
        } else {
            NotFoundReason::NotFound
        }
    }
}

/// One row of the not-found file: `alert_id,reason,error_code,message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotFound {
    pub alert_id: String,
    pub reason: NotFoundReason,
    pub error_code: Option<String>,
    pub message: Option<String>,
}

/// What went wrong for an alert in the failures file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The input line is not an alert ID; it was never sent.
    InvalidId,
    /// An HTTP status that is neither success nor not-found, after all retries.
    HttpStatus,
    Timeout,
    Connection,
    /// A 200 whose body is not a user record (bad JSON, a field of the wrong type).
    MalformedResponse,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::InvalidId => "invalid_id",
            FailureKind::HttpStatus => "http_status",
            FailureKind::Timeout => "timeout",
            FailureKind::Connection => "connection",
            FailureKind::MalformedResponse => "malformed_response",
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of the failures file: `alert_id,kind,http_status,error_code,message,attempts,target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub alert_id: String,
    pub kind: FailureKind,
    pub http_status: Option<u16>,
    pub error_code: Option<String>,
    pub message: String,
    /// Requests sent for this alert (0 for an invalid ID).
    pub attempts: u32,
    /// The API's correlation id, when it sent one.
    pub target: Option<String>,
}

/// The numbers a run reports at the end (stderr line, `--summary` JSON, the exit code's basis).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// Lines read from the input, blank and comment lines included.
    pub input_lines: u64,
    /// Distinct valid alert IDs.
    pub distinct_ids: u64,
    /// Valid IDs skipped because they appeared earlier in the input.
    pub duplicates: u64,
    pub invalid: u64,
    /// Rows of the user table (distinct accounts).
    pub users: u64,
    /// Alerts that returned a user.
    pub alerts_with_user: u64,
    pub not_found: u64,
    /// Alerts in the failures file, invalid lines included.
    pub failed: u64,
    /// HTTP requests sent, retries and throttled ones included.
    pub requests: u64,
    pub retries: u64,
    pub throttled: u64,
    /// What the state file did, with `--state`.
    pub state: Option<StateCounts>,
}

/// The state file's part of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct StateCounts {
    /// Answers taken from the state instead of asked for: each is a call saved.
    pub reused: u64,
    /// Answers of this run committed to the state.
    pub stored: u64,
}

impl Counts {
    /// The final line a person or a cron log reads.
    pub fn line(&self, elapsed: Duration) -> String {
        let mut line = format!(
            "{} input lines, {} distinct IDs, {} duplicates skipped, {} invalid; \
             {} users from {} alerts, {} not found, {} failed; {} requests ({} retries, {} throttled) in {}",
            self.input_lines,
            self.distinct_ids,
            self.duplicates,
            self.invalid,
            self.users,
            self.alerts_with_user,
            self.not_found,
            self.failed,
            self.requests,
            self.retries,
            self.throttled,
            format_elapsed(elapsed),
        );
        if let Some(s) = self.state {
            line += &format!(
                "; {} answers from the state ({} calls saved), {} stored",
                s.reused, s.reused, s.stored
            );
        }
        line
    }
}

/// `1.234s`, `12m05s`, `3h02m`: short, and precise where it matters.
pub fn format_elapsed(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{:.3}s", d.as_secs_f64())
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m{:02}s", s / 3600, s % 3600 / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_documented_message_means_the_alert_is_unknown() {
        use NotFoundReason::*;
        assert_eq!(
            NotFoundReason::of_404(Some("Alert da6_1 not found")),
            AlertNotFound
        );
        assert_eq!(
            NotFoundReason::of_404(Some("  alert X was not found.")),
            AlertNotFound
        );
        assert_eq!(NotFoundReason::of_404(Some("User not found")), NotFound);
        assert_eq!(
            NotFoundReason::of_404(Some("User not found for alert X")),
            NotFound
        );
        assert_eq!(NotFoundReason::of_404(None), NotFound);
    }

    #[test]
    fn elapsed_reads_well_at_every_scale() {
        assert_eq!(format_elapsed(Duration::from_millis(1234)), "1.234s");
        assert_eq!(format_elapsed(Duration::from_secs(725)), "12m05s");
        assert_eq!(
            format_elapsed(Duration::from_secs(3 * 3600 + 125)),
            "3h02m05s"
        );
    }
}
