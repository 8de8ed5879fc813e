//! The JSON report, `bench.json`: serde structs that mirror its stable keys, filled from a
//! [`Report`].

use serde::Serialize;

use crate::report::{key, Report, Row, Target, TCG_STATEMENT};
use crate::stats::Outcome;

/// A number rounded to 3 decimals; not finite or absent: `null`.
fn num(v: Option<f64>) -> Option<f64> {
    v.filter(|v| v.is_finite())
        .map(|v| (v * 1000.0).round() / 1000.0)
}

#[derive(Serialize)]
#[serde(tag = "status")]
enum JsonOutcome<'a> {
    #[serde(rename = "ok")]
    Measured {
        median_ns: Option<f64>,
        p99_ns: Option<f64>,
        samples: usize,
        batch: usize,
    },
    #[serde(rename = "n/a")]
    NotAvailable { reason: &'a str },
    #[serde(rename = "failed")]
    Failed { reason: &'a str },
}

impl<'a> From<&'a Outcome> for JsonOutcome<'a> {
    fn from(o: &'a Outcome) -> Self {
        match o {
            Outcome::Measured(s) => JsonOutcome::Measured {
                median_ns: num(Some(s.median_ns)),
                p99_ns: num(Some(s.p99_ns)),
                samples: s.samples,
                batch: s.batch,
            },
            Outcome::NotAvailable(reason) => JsonOutcome::NotAvailable { reason },
            Outcome::Failed(reason) => JsonOutcome::Failed { reason },
        }
    }
}

#[derive(Serialize)]
struct JsonRow<'a> {
    key: &'a str,
    label: &'a str,
    detail: &'a str,
    base: JsonOutcome<'a>,
    at_scale: Option<JsonOutcome<'a>>,
    ratio_to_floor: Option<f64>,
    ratio_to_noop_syscall: Option<f64>,
    ratio_to_f_dupfd_query: Option<f64>,
    ratio_to_object_path: Option<f64>,
    at_scale_ratio_to_base: Option<f64>,
}

#[derive(Serialize)]
struct JsonTarget<'a> {
    name: &'a str,
    value: Option<f64>,
    limit: &'a str,
    verdict: &'static str,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    kernel: &'a str,
    kernel_version: &'a str,
    cpu_model: &'a str,
    nproc: usize,
    date_utc: &'a str,
    statement: &'static str,
    samples: usize,
    batch: usize,
    slow_batch: usize,
    scale_setup: &'a str,
    timer: &'a str,
    floor: Option<&'static str>,
    elapsed_s: Option<f64>,
    udmabuf_ns_per_page: Option<f64>,
    udmabuf_ns_at_0_pages: Option<f64>,
    storage_summary: Vec<String>,
    rows: Vec<JsonRow<'a>>,
    targets: Vec<JsonTarget<'a>>,
    notes: &'a [String],
}

/// The references a row's ratios are taken against: (floor, no-op syscall, F_DUPFD_QUERY,
/// OBJECT path) medians.
struct Refs([Option<f64>; 4]);

fn row<'a>(r: &'a Row, refs: &Refs) -> JsonRow<'a> {
    let m = r.base.median();
    let ratio = |i: usize| num(m.zip(refs.0[i]).map(|(m, x)| m / x));
    let scale = r.scale.as_ref();
    JsonRow {
        key: r.key,
        label: &r.label,
        detail: &r.detail,
        base: (&r.base).into(),
        at_scale: scale.map(Into::into),
        ratio_to_floor: ratio(0),
        ratio_to_noop_syscall: ratio(1),
        ratio_to_f_dupfd_query: ratio(2),
        ratio_to_object_path: ratio(3),
        at_scale_ratio_to_base: num(scale.and_then(Outcome::median).zip(m).map(|(a, b)| a / b)),
    }
}

fn target(t: &Target) -> JsonTarget<'_> {
    JsonTarget {
        name: &t.name,
        value: num(t.value),
        limit: &t.limit,
        verdict: match t.pass {
            Some(true) => "PASS",
            Some(false) => "MISS",
            None => "N/A",
        },
    }
}

/// The JSON report.
pub fn render_json(r: &Report) -> String {
    let floor = r.floor();
    let refs = Refs([
        floor.map(|f| f.1),
        r.base_median(key::GETPPID),
        r.base_median(key::F_DUPFD_QUERY),
        r.object_path(),
    ]);
    let line = r.udmabuf_line();
    let targets = r.targets();
    let j = JsonReport {
        kernel: &r.kernel,
        kernel_version: &r.kernel_version,
        cpu_model: &r.cpu_model,
        nproc: r.nproc,
        date_utc: &r.date_utc,
        statement: TCG_STATEMENT,
        samples: r.samples,
        batch: r.batch,
        slow_batch: r.slow_batch,
        scale_setup: &r.scale_setup,
        timer: &r.timer,
        floor: floor.map(|f| f.0),
        elapsed_s: num(Some(r.elapsed_s)),
        udmabuf_ns_per_page: num(line.map(|l| l.0)),
        udmabuf_ns_at_0_pages: num(line.map(|l| l.1)),
        storage_summary: r.storage_lines(),
        rows: r.rows.iter().map(|x| row(x, &refs)).collect(),
        targets: targets.iter().map(target).collect(),
        notes: &r.notes,
    };
    serde_json::to_string_pretty(&j).expect("a report always serializes") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn json_keys_and_values() {
        let j: Value = serde_json::from_str(&render_json(&crate::report::tests::sample())).unwrap();
        assert_eq!(j["floor"], "drm_version");
        let rows = j["rows"].as_array().unwrap();
        assert!(rows
            .iter()
            .any(|r| r["base"] == serde_json::json!({"status": "n/a", "reason": "ENOSYS"})));
        assert!(rows
            .iter()
            .any(|r| r["base"]["status"] == "ok" && r["base"]["median_ns"].is_f64()));
        assert!(j["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "a \"quoted\" note"));
        assert!(j["targets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["verdict"].is_string()));
    }
}
