//! `ioschain report`: Markdown/HTML reports of run directories, on fake runs built here.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use ioschain_reports::report::{
    REPORT_HTML, REPORT_MD, ReportError, SWEEP_CSV, is_sweep_dir, write_report,
};

/// A `summary.json` as `ioschain run` writes it (schema `ioschain.run/1`), with fields this
/// reader does not know (`workload_key`, `pinning`, `store.bytes`, ...).
fn summary_json(final_tps: f64, out: &str) -> String {
    let tps = serde_json::json!(final_tps);
    format!(
        r#"{{
  "schema": "ioschain.run/1",
  "config": {{
    "engine": {{ "block_interval_ms": 50, "validators_per_shard": 72 }},
    "run": {{ "cores": 2, "duration_s": 3.0, "warmup_s": 2.0, "out": "{out}",
              "rate": 1000.0, "seed": 1, "shards": 2, "inflight": null }},
    "store": {{ "backend": "auto", "fsync": "group", "group_blocks_max": 64 }},
    "workload": {{ "accounts": 1000, "sender": "uniform", "invalid_fraction": 0.0 }}
  }},
  "machine": {{ "cpu": "Test CPU", "cores": 2, "kernel": "6.1", "hostname": "t",
               "rustc": "rustc 1.95.0", "profile": "release", "git_sha": "0123456789abcdef",
               "git_dirty": false }},
  "limits": {{ "verify_sigs_per_s_per_core": 80000.0, "verify_sigs_per_s_cores": 160000.0,
              "cores": 2, "batch": 1024, "blake3_150b_per_s": null,
              "model_tx_per_s": 144000.0, "model_utxos": 2000 }},
  "offered_tps": 1000.0,
  "tps": {{ "final": {tps}, "provisional": 1001.5, "intra_shard": {tps}, "cross_shard": 0.0 }},
  "latency_us": {{
    "provisional": {{ "p50": 3000, "p90": 5000, "p99": 9000, "p999": 12000, "max": 15000, "count": 3000 }},
    "final": {{ "p50": 4000, "p90": 6000, "p99": 11000, "p999": 14000, "max": 17000, "count": 3000 }},
    "cross_shard": null
  }},
  "efficiency": 0.0125,
  "efficiency_model": 0.0069,
  "counts": {{ "submitted": 6000, "provisional": 6000, "final": 6000, "aborted": 0,
              "rejected": {{ "bad_signature": 0, "double_spend": 0 }}, "blocks": 120,
              "signatures_verified": 6000, "verify_batches": 12 }},
  "load": {{ "mode": "open", "achieved_tps": 1000.0, "inbox_backpressure": 0,
            "store_backpressure": 0, "elapsed_s": 6.0 }},
  "store": {{ "backend": "write", "fsync": "group", "blocks": 120, "bytes": 123456 }},
  "pinning": [0, 1],
  "workload_key": "abc",
  "warnings": [],
  "validity": {{
    "valid": true,
    "checks": [
      {{ "name": "no_double_spend", "ok": true, "detail": "0 inputs spent twice" }},
      {{ "name": "value_conserved", "ok": true, "detail": "genesis 1000 = unspent 1000" }}
    ]
  }}
}}"#
    )
}

const TIMELINE: &str = "\
second,phase,offered,submitted,provisional,final,rejected,backpressure,provisional_p50_us,provisional_p99_us,final_p50_us,final_p99_us,final_max_us
0,warmup,1000,1000,950,900,0,0,3000,9000,4000,11000,15000
1,warmup,1000,1000,1010,1020,0,0,3000,9000,4000,11000,15000
2,measure,1000,1000,1000,1000,0,0,3000,9000,4000,11000,15000
3,measure,1000,998,1002,1001,0,0,3000,9000,4000,11000,15000
4,measure,1000,1002,1000,999,0,0,3000,9000,4000,11000,15000
5,drain,0,0,38,80,0,0,3000,9000,4000,11000,15000
";

/// One histogram per (second, stage), as `ioschain run` logs them.
fn write_hlog(path: &Path) {
    let mut buf = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    {
        let mut writer = IntervalLogWriterBuilder::new()
            .add_comment("test latency log")
            .with_start_time(start)
            .with_base_time(start)
            .with_max_value_divisor(1000.0)
            .begin_log_with(&mut buf, &mut serializer)
            .unwrap();
        for second in 0..6u64 {
            for (tag, offset) in [("provisional", 0u64), ("final", 1000)] {
                let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
                for i in 0..1000u64 {
                    h.record(2000 + offset + i * 10).unwrap();
                }
                writer
                    .write_histogram(
                        &h,
                        Duration::from_secs(second),
                        Duration::from_secs(1),
                        Tag::new(tag),
                    )
                    .unwrap();
            }
        }
    }
    std::fs::write(path, buf).unwrap();
}

fn fake_run(parent: &Path, name: &str, final_tps: f64) -> PathBuf {
    let dir = parent.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.display().to_string();
    std::fs::write(dir.join("summary.json"), summary_json(final_tps, &out)).unwrap();
    std::fs::write(dir.join("timeline.csv"), TIMELINE).unwrap();
    write_hlog(&dir.join("latency.hlog"));
    dir
}

/// The texts of an SVG's `<text>` elements, trimmed.
fn svg_texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let body = &t[t.find('>')? + 1..];
            Some(body[..body.find("</text>")?].trim().to_string())
        })
        .collect()
}

fn has_text(svg: &str, label: &str) -> bool {
    svg_texts(svg).iter().any(|t| t == label)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn report_of_one_run_has_summary_timeline_and_latency_charts() {
    let tmp = tempfile::tempdir().unwrap();
    let run = fake_run(tmp.path(), "run-a", 999.7);
    let out = tmp.path().join("report");
    let md_path = write_report(std::slice::from_ref(&run), &out, false).unwrap();
    assert_eq!(md_path, out.join(REPORT_MD));
    assert!(!out.join(REPORT_HTML).exists(), "no HTML without --html");

    let md = read(&md_path);
    assert!(md.starts_with("# ioschain run report"), "{md}");
    assert!(md.contains("Run 1: run-a"), "{md}");
    assert!(md.contains("**1,000**"), "final tps shown: {md}");
    assert!(md.contains("1,002"), "provisional tps shown: {md}");
    assert!(md.contains("**VALID**"), "{md}");
    assert!(
        md.contains("`no_double_spend`") && md.contains("`value_conserved`"),
        "{md}"
    );
    assert!(
        md.contains("2 shards · 2 cores · offered 1,000 tx/s"),
        "{md}"
    );
    assert!(md.contains("warm-up 2 s, measured 3 s"), "{md}");
    assert!(md.contains("store write (asked: auto)"), "{md}");
    assert!(
        md.contains("| final | 4.00 | 6.00 | 11.0 | 14.0 |"),
        "final latency row: {md}"
    );
    assert!(md.contains("1.2 %"), "efficiency: {md}");
    assert!(
        md.contains("0.7 % of the model ceiling") && md.contains("144,000 per second"),
        "efficiency_model: {md}"
    );
    assert!(
        md.contains(
            "Spectrum from latency.hlog: 6 interval histograms merged over the 3 measured seconds"
        ),
        "{md}"
    );
    assert!(
        md.contains("(timeline-1.svg)")
            && md.contains("(latency-1.svg)")
            && md.contains("(latency-seconds-1.svg)"),
        "{md}"
    );
    // The timeline predates the per-shard columns, the summary the roles: those charts
    // are left out, and the report says why for the per-shard one.
    assert!(md.contains("timeline.csv has no per-shard columns"), "{md}");
    for absent in ["shards-1.svg", "roles-1.svg", "memory-1.svg"] {
        assert!(!out.join(absent).exists(), "{absent}");
    }
    assert!(!md.contains("Cost by role"), "{md}");

    let timeline = read(&out.join("timeline-1.svg"));
    assert!(timeline.contains("<svg"));
    for label in [
        "seconds since start",
        "transactions per second",
        "offered",
        "submitted",
        "final",
        "warm-up (not measured)",
        "drain (not measured)",
        "1k",
    ] {
        assert!(has_text(&timeline, label), "timeline SVG lacks {label:?}");
    }
    let by_second = read(&out.join("latency-seconds-1.svg"));
    for label in ["provisional p99", "final p50", "latency (ms)"] {
        assert!(
            has_text(&by_second, label),
            "latency-seconds SVG lacks {label:?}"
        );
    }
    let latency = read(&out.join("latency-1.svg"));
    assert!(latency.contains("<svg"));
    for label in [
        "latency (ms)",
        "percentile (axis: 1/(1-q), log scale)",
        "90%",
        "99%",
        "99.9%",
        "provisional (3,000 values)",
        "final (3,000 values)",
    ] {
        assert!(has_text(&latency, label), "latency SVG lacks {label:?}");
    }
}

/// A timeline as `ioschain run` writes it now: the levels (`queued_clients`,
/// `queued_validators`, `rss_bytes`, `disk_bytes`, empty for a second the host did not
/// sample) and the per-shard columns, which this reader must take or ignore by name.
const TIMELINE_CURRENT: &str = "\
second,phase,offered,submitted,provisional,final,rejected,backpressure,provisional_p50_us,provisional_p99_us,final_p50_us,final_p99_us,final_max_us,cross_shard,cross_shard_p99_us,queued_clients,queued_validators,rss_bytes,disk_bytes,final_s0,final_s1
0,warmup,1000,1000,950,900,0,0,3000,9000,4000,11000,15000,0,0,120,40,200000000,1000000,440,460
1,warmup,1000,1000,1010,1020,0,0,3000,9000,4000,11000,15000,0,0,130,42,250000000,2000000,500,520
2,measure,1000,1000,1000,1000,0,0,3000,9000,4000,11000,15000,0,0,110,41,260000000,3000000,490,510
3,measure,1000,998,1002,1001,0,0,3000,9000,4000,11000,15000,0,0,118,39,,4000000,500,501
4,measure,1000,1002,1000,999,0,0,3000,9000,4000,11000,15000,0,0,121,40,263000000,5000000,499,500
5,drain,0,0,38,80,0,0,3000,9000,4000,11000,15000,0,0,0,0,263000000,5100000,40,40
";

/// A run directory as `ioschain run` writes it now: per-shard timeline columns, memory
/// and disk, and costs by role in the summary.
fn current_run(parent: &Path, name: &str) -> PathBuf {
    let dir = fake_run(parent, name, 1000.0);
    let mut summary: serde_json::Value =
        serde_json::from_str(&read(&dir.join("summary.json"))).unwrap();
    summary["roles"] = serde_json::json!({
        "ordering": { "us_per_tx": 15.4, "share": 0.48 },
        "sampling": { "us_per_tx": 5.8, "share": 0.18 },
        "atomix": { "us_per_tx": 3.2, "share": 0.10 },
        "checking": { "us_per_tx": 2.8, "share": 0.09 },
        "signing": { "us_per_tx": 3.2, "share": 0.10 },
        "leader": { "us_per_tx": 1.1, "share": 0.03 },
        "clients": { "us_per_tx": 0.3, "share": 0.01 },
        "coordinator": { "us_per_tx": 0.2, "share": 0.006 },
        "host": { "us_per_tx": 0.1, "share": 0.004 }
    });
    std::fs::write(dir.join("summary.json"), summary.to_string()).unwrap();
    std::fs::write(dir.join("timeline.csv"), TIMELINE_CURRENT).unwrap();
    dir
}

#[test]
fn report_of_a_current_run_has_every_chart() {
    let tmp = tempfile::tempdir().unwrap();
    let run = current_run(tmp.path(), "run-now");
    let out = tmp.path().join("report");
    let md = read(&write_report(&[run], &out, true).unwrap());
    let files = [
        "latency-1.svg",
        "latency-seconds-1.svg",
        "roles-1.svg",
        "timeline-1.svg",
        "memory-1.svg",
        "shards-1.svg",
    ];
    let mut at = 0;
    for file in files {
        let link = format!("({file})");
        let found = md[at..]
            .find(&link)
            .unwrap_or_else(|| panic!("{file} not linked after byte {at}: {md}"));
        at += found + link.len();
    }
    assert!(
        md.find("(timeline-1.svg)") < md.find("(memory-1.svg)"),
        "memory and disk come under the throughput chart"
    );
    assert!(md.contains("### Cost by role"), "{md}");
    assert!(md.contains("| ordering | 15.4 | 48.0 % |"), "{md}");
    assert!(!md.contains("no per-shard columns"), "{md}");

    let shards = read(&out.join("shards-1.svg"));
    assert!(has_text(&shards, "shard 0") && has_text(&shards, "shard 1"));
    let memory = read(&out.join("memory-1.svg"));
    assert!(has_text(&memory, "resident memory") && has_text(&memory, "block log on disk"));
    let roles = read(&out.join("roles-1.svg"));
    assert!(has_text(&roles, "ordering 15.4 µs (48 %)"), "{roles}");
    let html = read(&out.join(REPORT_HTML));
    assert_eq!(html.matches("<svg").count(), files.len());
}

#[test]
fn html_report_is_self_contained() {
    let tmp = tempfile::tempdir().unwrap();
    let run = fake_run(tmp.path(), "run-a", 1000.0);
    let out = tmp.path().join("report");
    write_report(&[run], &out, true).unwrap();

    let html_files: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "html"))
        .collect();
    assert_eq!(html_files, vec![out.join(REPORT_HTML)]);

    let html = read(&out.join(REPORT_HTML));
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<style>"));
    assert_eq!(
        html.matches("<svg").count(),
        3,
        "the spectrum, latency per second and throughput inlined"
    );
    assert!(html.contains("seconds since start") && html.contains("latency (ms)"));
    assert!(html.contains("<strong>VALID</strong>"));
    assert!(!html.contains("<script"), "no scripts");
    assert!(!html.contains("<img"), "no images fetched");
    assert!(!html.contains("<link"), "no stylesheets fetched");
    assert!(!html.contains("@import") && !html.contains("url("));
    for scheme in ["http://", "https://"] {
        for (i, _) in html.match_indices(scheme) {
            let before = &html[..i];
            assert!(
                before.ends_with("xmlns=\"")
                    && html[i..].starts_with("http://www.w3.org/2000/svg\""),
                "external reference at byte {i}: {}",
                &html[i.saturating_sub(40)..(i + 60).min(html.len())]
            );
        }
    }
    for attr in ["src=", "href="] {
        assert!(!html.contains(attr), "{attr} in the HTML report");
    }
}

#[test]
fn two_runs_give_a_comparison_table() {
    let tmp = tempfile::tempdir().unwrap();
    let a = fake_run(tmp.path(), "run-a", 1000.0);
    let b = fake_run(tmp.path(), "run-b", 1900.0);
    let out = tmp.path().join("report");
    let md = read(&write_report(&[a, b], &out, true).unwrap());

    assert!(md.contains("## Comparison"), "{md}");
    assert!(md.contains("|  | **run-a** | **run-b** |"), "{md}");
    assert!(md.contains("| final tx/s | 1,000 | 1,900 |"), "{md}");
    assert!(md.contains("| validity | VALID | VALID |"), "{md}");
    assert!(
        md.contains("Run 1: run-a") && md.contains("Run 2: run-b"),
        "{md}"
    );
    for file in [
        "timeline-1.svg",
        "timeline-2.svg",
        "latency-1.svg",
        "latency-2.svg",
        "latency-seconds-1.svg",
        "latency-seconds-2.svg",
        "compare-timeline.svg",
        "compare-latency-provisional.svg",
        "compare-latency-final.svg",
    ] {
        assert!(md.contains(&format!("({file})")), "{file} not linked: {md}");
        let svg = read(&out.join(file));
        assert!(svg.contains("<svg"), "{file}");
    }
    let overlay = read(&out.join("compare-latency-final.svg"));
    assert!(has_text(&overlay, "run-a") && has_text(&overlay, "run-b"));
    let overlay = read(&out.join("compare-timeline.svg"));
    assert!(has_text(&overlay, "run-a final") && has_text(&overlay, "run-b offered"));
    let html = read(&out.join(REPORT_HTML));
    assert_eq!(html.matches("<svg").count(), 9);
}

#[test]
fn missing_summary_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("not-a-run");
    std::fs::create_dir_all(&empty).unwrap();
    let err =
        write_report(std::slice::from_ref(&empty), &tmp.path().join("out"), false).unwrap_err();
    assert!(
        matches!(&err, ReportError::MissingSummary { path, .. } if *path == empty.join("summary.json")),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("summary.json") && msg.contains("not found"),
        "{msg}"
    );
    assert!(msg.contains("ioschain run --out DIR"), "{msg}");

    // A summary that is not JSON names the file too; no runs at all is an error.
    std::fs::write(empty.join("summary.json"), "{ not json").unwrap();
    let err =
        write_report(std::slice::from_ref(&empty), &tmp.path().join("out"), false).unwrap_err();
    assert!(matches!(err, ReportError::ParseSummary { .. }), "{err:?}");
    assert!(err.to_string().contains("summary.json"), "{err}");
    std::fs::write(empty.join("summary.json"), r#"{"schema": "other/9"}"#).unwrap();
    let err = write_report(&[empty], &tmp.path().join("out"), false).unwrap_err();
    assert!(err.to_string().contains("other/9"), "{err}");
    let err = write_report(&[], &tmp.path().join("out"), false).unwrap_err();
    assert!(matches!(err, ReportError::NoRuns), "{err:?}");
}

#[test]
fn missing_hlog_falls_back_to_summary_percentiles() {
    let tmp = tempfile::tempdir().unwrap();
    let run = fake_run(tmp.path(), "run-a", 1000.0);
    std::fs::remove_file(run.join("latency.hlog")).unwrap();
    let out = tmp.path().join("report");
    let md = read(&write_report(std::slice::from_ref(&run), &out, false).unwrap());
    assert!(md.contains("latency.hlog is missing"), "{md}");
    assert!(
        md.contains("falls back to the percentiles of summary.json"),
        "{md}"
    );
    // No p99.99 without the log.
    assert!(
        md.contains("| final | 4.00 | 6.00 | 11.0 | 14.0 | — | 17.0 | 3,000 |"),
        "{md}"
    );
    let latency = read(&out.join("latency-1.svg"));
    assert!(latency.contains("<svg") && latency.contains("latency (ms)"));

    // An unreadable log falls back the same way.
    std::fs::write(
        run.join("latency.hlog"),
        "Tag=final,0.000,1.000,2.0,!!!notbase64\n",
    )
    .unwrap();
    let md = read(&write_report(&[run], &out, false).unwrap());
    assert!(md.contains("latency.hlog is unreadable"), "{md}");
    assert!(md.contains("falls back"), "{md}");
}

/// A sweep directory as `ioschain sweep` writes it: `sweep.csv` and a run per point.
fn fake_sweep(parent: &Path) -> PathBuf {
    let dir = parent.join("sweep");
    std::fs::create_dir_all(&dir).unwrap();
    let mut csv = String::from(
        "shards,cores,offered_tps,repeat,tps_final,final_p50_ms,final_p99_ms,provisional_p99_ms,efficiency,valid\n",
    );
    for (shards, cores) in [(1, 1), (2, 2)] {
        for rate in [10_000u64, 20_000, 40_000] {
            let tps = (rate as f64 * 0.99).min(30_000.0 * f64::from(cores));
            let p99 = if tps < rate as f64 * 0.95 {
                900.0
            } else {
                70.0
            };
            csv.push_str(&format!(
                "{shards},{cores},{rate},1,{tps:.1},40.000,{p99:.3},10.000,,true\n"
            ));
            fake_run(&dir, &format!("shards{shards}-rate{rate}-rep1"), tps);
        }
    }
    std::fs::write(dir.join(SWEEP_CSV), csv).unwrap();
    dir
}

#[test]
fn a_sweep_directory_gets_the_sweep_report() {
    let tmp = tempfile::tempdir().unwrap();
    let sweep = fake_sweep(tmp.path());
    assert!(is_sweep_dir(&sweep));
    assert!(!is_sweep_dir(&sweep.join("shards1-rate10000-rep1")));
    let out = tmp.path().join("report");
    let md = read(&write_report(std::slice::from_ref(&sweep), &out, true).unwrap());
    assert!(md.starts_with("# ioschain sweep report"), "{md}");
    assert!(
        md.contains("6 runs over shard counts 1, 2 × offered rates 10,000, 20,000, 40,000 tx/s"),
        "{md}"
    );
    assert!(md.contains("| 2 | 2 | 40,000 | 1 | **39,600** |"), "{md}");
    assert!(md.contains("(sweep-latency.svg)") && md.contains("(sweep-per-core.svg)"));
    assert!(
        md.contains("shards2-rate40000-rep1"),
        "the runs are listed: {md}"
    );
    let curve = read(&out.join("sweep-latency.svg"));
    assert!(has_text(&curve, "1 shard final p99") && has_text(&curve, "2 shards final p50"));
    let html = read(&out.join(REPORT_HTML));
    assert_eq!(html.matches("<svg").count(), 2);

    // A sweep goes alone; its runs still report as runs.
    let run = sweep.join("shards1-rate10000-rep1");
    let err = write_report(&[sweep.clone(), run.clone()], &out, false).unwrap_err();
    assert!(
        matches!(err, ReportError::SweepWithOthers { .. }),
        "{err:?}"
    );
    let md = read(&write_report(&[run], &out, false).unwrap());
    assert!(md.starts_with("# ioschain run report"), "{md}");

    // A malformed sweep.csv names the file and the line.
    std::fs::write(
        sweep.join(SWEEP_CSV),
        "shards,cores,offered_tps,tps_final,final_p50_ms,final_p99_ms\n1,1,10,x,1,2\n",
    )
    .unwrap();
    let err = write_report(&[sweep], &out, false).unwrap_err();
    assert!(
        err.to_string()
            .contains("sweep.csv:2: `tps_final` is \"x\""),
        "{err}"
    );
}

/// Writes a report of real runs: `IOSCHAIN_REPORT_DEMO="OUT RUN..." cargo test -p
/// ioschain-reports --test report -- --ignored`.
#[test]
#[ignore = "needs real run directories named in IOSCHAIN_REPORT_DEMO"]
fn demo_report_of_real_runs() {
    let spec = std::env::var("IOSCHAIN_REPORT_DEMO").expect("IOSCHAIN_REPORT_DEMO=\"OUT RUN...\"");
    let mut parts = spec.split_whitespace().map(PathBuf::from);
    let out = parts.next().expect("an output directory");
    let runs: Vec<PathBuf> = parts.collect();
    let md = write_report(&runs, &out, true).unwrap();
    println!(
        "wrote {} and {}",
        md.display(),
        out.join(REPORT_HTML).display()
    );
}
