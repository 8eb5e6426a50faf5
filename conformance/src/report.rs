//! Results: each module keeps a log of checks with the suite's severities, and ends PASSED,
//! WARNING (only warning-level checks failed), FAILED, SKIPPED or INTERRUPTED (the module could
//! not run to its end, e.g. the provider answered something unusable: that is a failure too).

use serde::Serialize;

/// How much a failed check counts, as in the suite (`ConditionResult`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    Failure,
    Warning,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub severity: Severity,
    pub ok: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Outcome {
    Passed,
    Warning,
    Failed,
    Skipped,
    Interrupted,
}

impl Outcome {
    pub fn counts_as_failure(self) -> bool {
        matches!(self, Self::Failed | Self::Interrupted)
    }
}

/// One module's log.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleLog {
    pub module: String,
    /// Which run: e.g. `sesame-password`, `sesame-mfa`, `calibration`.
    pub run: String,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<String>,
    pub checks: Vec<Check>,
}

impl ModuleLog {
    pub fn new(module: &str, run: &str) -> Self {
        Self {
            module: module.into(),
            run: run.into(),
            outcome: Outcome::Passed,
            skipped: None,
            interrupted: None,
            checks: Vec::new(),
        }
    }

    /// Records a check; returns `ok` so callers can stop after a failed precondition.
    pub fn check(
        &mut self,
        name: &str,
        severity: Severity,
        ok: bool,
        detail: impl Into<String>,
    ) -> bool {
        self.checks.push(Check {
            name: name.into(),
            severity,
            ok,
            detail: if ok { String::new() } else { detail.into() },
        });
        ok
    }

    pub fn fail(&mut self, name: &str, ok: bool, detail: impl Into<String>) -> bool {
        self.check(name, Severity::Failure, ok, detail)
    }

    pub fn warn(&mut self, name: &str, ok: bool, detail: impl Into<String>) -> bool {
        self.check(name, Severity::Warning, ok, detail)
    }

    pub fn skip(&mut self, reason: impl Into<String>) {
        self.skipped = Some(reason.into());
    }

    pub fn interrupt(&mut self, reason: impl Into<String>) {
        self.interrupted = Some(reason.into());
    }

    /// The outcome from the checks, as the suite computes it.
    pub fn finish(mut self) -> Self {
        // As the suite: a failure stays a failure even if the module skips afterwards.
        let failed = self
            .checks
            .iter()
            .any(|c| !c.ok && c.severity == Severity::Failure);
        self.outcome = if self.interrupted.is_some() {
            Outcome::Interrupted
        } else if failed {
            Outcome::Failed
        } else if self.skipped.is_some() {
            Outcome::Skipped
        } else if self.checks.iter().any(|c| !c.ok) {
            Outcome::Warning
        } else {
            Outcome::Passed
        };
        self
    }

    /// The failed checks, one line each.
    pub fn problems(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| format!("{:?} {}: {}", c.severity, c.name, c.detail))
            .collect();
        if let Some(r) = &self.interrupted {
            out.push(format!("interrupted: {r}"));
        }
        out
    }
}

/// The summary table (Markdown) of a set of runs: one row per module, one column per run.
pub fn summary(logs: &[ModuleLog]) -> String {
    let mut runs: Vec<&str> = Vec::new();
    let mut modules: Vec<&str> = Vec::new();
    for l in logs {
        if !runs.contains(&l.run.as_str()) {
            runs.push(&l.run);
        }
        if !modules.contains(&l.module.as_str()) {
            modules.push(&l.module);
        }
    }
    let mut out = format!(
        "| module | {} |\n|---|{}\n",
        runs.join(" | "),
        "---|".repeat(runs.len())
    );
    for m in &modules {
        let cells: Vec<String> = runs
            .iter()
            .map(|r| {
                logs.iter()
                    .find(|l| l.module == *m && l.run == *r)
                    .map(|l| format!("{:?}", l.outcome).to_uppercase())
                    .unwrap_or_else(|| "-".into())
            })
            .collect();
        out.push_str(&format!("| {m} | {} |\n", cells.join(" | ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_follow_the_worst_failed_check() {
        let mut l = ModuleLog::new("m", "r");
        l.fail("a", true, "");
        assert_eq!(l.clone().finish().outcome, Outcome::Passed);
        l.warn("b", false, "w");
        assert_eq!(l.clone().finish().outcome, Outcome::Warning);
        l.fail("c", false, "f");
        assert_eq!(l.clone().finish().outcome, Outcome::Failed);
        l.skip("not advertised");
        assert_eq!(
            l.clone().finish().outcome,
            Outcome::Failed,
            "a skip hides no failure"
        );
        let mut s = ModuleLog::new("m", "r");
        s.warn("b", false, "w");
        s.skip("not advertised");
        assert_eq!(s.finish().outcome, Outcome::Skipped);
        l.interrupt("no answer");
        assert!(l.finish().outcome.counts_as_failure());
    }
}
