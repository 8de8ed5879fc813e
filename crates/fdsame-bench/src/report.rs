//! Rendering: markdown table + targets, SVG bar chart (the JSON is `json.rs`). Pure functions
//! of a `Report`.

use std::fmt::Write as _;

use plotters::prelude::*;

use crate::stats::Outcome;

/// Stable row keys.
pub mod key {
    pub const DRM_FILE_SAME: &str = "drm_file_same";
    pub const DMA_BUF_SAME: &str = "dma_buf_same_object";
    pub const F_DUPFD_QUERY: &str = "f_dupfd_query";
    pub const KCMP: &str = "kcmp";
    pub const EPOLL: &str = "mesa_epoll";
    pub const FSTAT: &str = "fstat_pair";
    pub const FDINFO: &str = "fdinfo";
    pub const SYSFS: &str = "sysfs";
    pub const DRM_GET_CAP: &str = "drm_get_cap";
    pub const DRM_VERSION: &str = "drm_version";
    pub const GETPPID: &str = "getppid";
    /// `fdsame::compare()` on the DRM pair of `DRM_FILE_SAME`.
    pub const LIB_DRM: &str = "fdsame_compare_drm";
    /// `fdsame::compare()` on the dma-buf pair of `DMA_BUF_SAME` (the OBJECT path).
    pub const LIB_DMA_BUF: &str = "fdsame_compare_dma_buf";
    /// Two different dma-bufs of one exporter without `same_storage` (vgem PRIME or the
    /// system heap): neither the OBJECT path nor the STORAGE path answers, result 0.
    pub const DMA_BUF_TWO: &str = "dma_buf_two_objects";
    /// One vim2m (videobuf2-vmalloc) plane exported twice: the STORAGE path through vb2.
    pub const STORAGE_VIM2M: &str = "dma_buf_storage_vim2m";
    /// Two udmabufs over one memfd range of 1, 256 and 2048 pages: the STORAGE path through
    /// udmabuf's page-array compare.
    pub const STORAGE_UDMABUF_1: &str = "dma_buf_storage_udmabuf_1p";
    pub const STORAGE_UDMABUF_256: &str = "dma_buf_storage_udmabuf_256p";
    pub const STORAGE_UDMABUF_2048: &str = "dma_buf_storage_udmabuf_2048p";
    /// Two 2048-page udmabufs over two memfds: compared, different (the compare stops at the
    /// first page).
    pub const STORAGE_UDMABUF_DIFF: &str = "dma_buf_storage_udmabuf_2048p_other";
    /// The udmabuf pairs over one range: (key, pages).
    pub const UDMABUF_SAME: [(&str, usize); 3] = [
        (STORAGE_UDMABUF_1, 1),
        (STORAGE_UDMABUF_256, 256),
        (STORAGE_UDMABUF_2048, 2048),
    ];
}

/// One mechanism.
#[derive(Debug, Clone)]
pub struct Row {
    pub key: &'static str,
    pub label: String,
    /// What exactly was compared / called.
    pub detail: String,
    pub base: Outcome,
    /// Re-measured with many fds / dma-bufs open and the pair at the highest numbers.
    pub scale: Option<Outcome>,
}

/// Everything the program found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub kernel: String,
    pub kernel_version: String,
    pub cpu_model: String,
    pub nproc: usize,
    pub date_utc: String,
    pub samples: usize,
    pub batch: usize,
    pub slow_batch: usize,
    /// How the at-scale process looked (fd counts, buffer source, fd numbers).
    pub scale_setup: String,
    /// Which clock timed the batches.
    pub timer: String,
    /// Free-form notes (devices found, pairs used, fallbacks).
    pub notes: Vec<String>,
    pub rows: Vec<Row>,
    pub elapsed_s: f64,
}

/// One computed target.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub name: String,
    /// Measured ratio, `None` when an input is n/a.
    pub value: Option<f64>,
    pub limit: String,
    pub pass: Option<bool>,
}

impl Report {
    pub fn row(&self, key: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.key == key)
    }

    /// The base median of row `key`.
    pub fn base_median(&self, key: &str) -> Option<f64> {
        self.row(key)?.base.median()
    }

    /// The floor: the cheaper of the measured DRM core ioctls, with its key.
    pub fn floor(&self) -> Option<(&'static str, f64)> {
        [key::DRM_GET_CAP, key::DRM_VERSION]
            .into_iter()
            .filter_map(|k| Some((k, self.base_median(k)?)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// The OBJECT path: `DMA_BUF_IOCTL_SAME_OBJECT` on a dma-buf and its dup (same
    /// `struct dma_buf`, a pointer compare, no exporter callback), the reference of the
    /// "x OBJECT path" column.
    pub fn object_path(&self) -> Option<f64> {
        self.base_median(key::DMA_BUF_SAME)
    }

    /// The udmabuf page compare as a straight line through the 1-page and the 2048-page
    /// pairs: (ns per page, ns at 0 pages). `None` unless both were measured.
    pub fn udmabuf_line(&self) -> Option<(f64, f64)> {
        let (k1, p1) = key::UDMABUF_SAME[0];
        let (k2, p2) = key::UDMABUF_SAME[key::UDMABUF_SAME.len() - 1];
        let (m1, m2) = (self.base_median(k1)?, self.base_median(k2)?);
        let slope = (m2 - m1) / (p2 - p1) as f64;
        Some((slope, m1 - slope * p1 as f64))
    }

    /// What the STORAGE rows say, in ratios: one line each for vb2, the udmabuf page compare
    /// (slope, linearity, the largest pair against the smallest) and a different-memory pair.
    pub fn storage_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        let obj = self.object_path();
        let dupfd = self.base_median(key::F_DUPFD_QUERY);
        let x = |a: Option<f64>, b: Option<f64>| fmt_ratio(a.zip(b).map(|(a, b)| a / b));
        if let Some(v) = self.base_median(key::STORAGE_VIM2M) {
            out.push(format!(
                "vim2m (videobuf2-vmalloc, one plane exported twice; the callback compares two pointers): {} the OBJECT path, {} F_DUPFD_QUERY",
                x(Some(v), obj),
                x(Some(v), dupfd)
            ));
        }
        let ud: Vec<(usize, f64)> = key::UDMABUF_SAME
            .iter()
            .filter_map(|(k, p)| Some((*p, self.base_median(k)?)))
            .collect();
        if !ud.is_empty() {
            let cells: Vec<String> = ud
                .iter()
                .map(|(p, m)| {
                    format!(
                        "{p} page{} {} ns = {} the OBJECT path = {} F_DUPFD_QUERY",
                        if *p == 1 { "" } else { "s" },
                        fmt_ns(*m),
                        x(Some(*m), obj),
                        x(Some(*m), dupfd)
                    )
                })
                .collect();
            out.push(format!(
                "udmabuf pairs over one memfd range: {}",
                cells.join("; ")
            ));
        }
        if let Some((slope, at0)) = self.udmabuf_line() {
            let (p_lo, m_lo) = ud[0];
            let (p_hi, m_hi) = ud[ud.len() - 1];
            let mut line = format!(
                "udmabuf page compare, a line through {p_lo} and {p_hi} pages: {} ns per page (F_DUPFD_QUERY every {} pages), {} ns at 0 pages; the {p_hi}-page pair costs {} the {p_lo}-page pair",
                fmt_ns(slope),
                dupfd
                    .filter(|_| slope > 0.0)
                    .map_or("—".into(), |d| format!("{:.0}", d / slope)),
                fmt_ns(at0),
                fmt_ratio(Some(m_hi / m_lo)),
            );
            for (p, m) in &ud[1..ud.len() - 1] {
                let pred = at0 + slope * *p as f64;
                line.push_str(&format!(
                    "; {p} pages: the line predicts {} ns, measured {} ns ({})",
                    fmt_ns(pred),
                    fmt_ns(*m),
                    fmt_ratio(Some(m / pred))
                ));
            }
            out.push(line);
        }
        if let Some(d) = self.base_median(key::STORAGE_UDMABUF_DIFF) {
            out.push(format!(
                "udmabuf, 2048 pages over two memfds (compared, different: the first pages differ, and the compare stops there): {} ns = {} the same-memory 2048-page pair, {} the 1-page pair",
                fmt_ns(d),
                x(Some(d), self.base_median(key::STORAGE_UDMABUF_2048)),
                x(Some(d), self.base_median(key::STORAGE_UDMABUF_1)),
            ));
        }
        out
    }

    /// Did any measurement fail (wrong answer, error while timing)?
    pub fn any_failed(&self) -> bool {
        self.rows.iter().any(|r| {
            matches!(r.base, Outcome::Failed(_)) || matches!(r.scale, Some(Outcome::Failed(_)))
        })
    }

    /// The PASS/MISS targets the benchmark judges the new ioctls by.
    pub fn targets(&self) -> Vec<Target> {
        let mut out = Vec::new();
        let floor = self.floor().map(|f| f.1);
        let dupfd = self.base_median(key::F_DUPFD_QUERY);
        let epoll = self.base_median(key::EPOLL);
        let fdinfo = self.base_median(key::FDINFO);
        for (k, name) in [
            (key::DRM_FILE_SAME, "DRM_IOCTL_FILE_SAME"),
            (key::DMA_BUF_SAME, "DMA_BUF_IOCTL_SAME_OBJECT"),
        ] {
            let m = self.base_median(k);
            let ratio = |a: Option<f64>, b: Option<f64>| Some(a? / b?).filter(|v| v.is_finite());
            let at_most = |v: Option<f64>, lim: f64| v.map(|v| v <= lim);
            let at_least = |v: Option<f64>, lim: f64| v.map(|v| v >= lim);
            let r = ratio(m, floor);
            out.push(Target {
                name: format!("{name} within 1.2x of the cheapest DRM ioctl"),
                value: r,
                limit: "<= 1.20x".into(),
                pass: at_most(r, 1.2),
            });
            let r = ratio(m, dupfd);
            out.push(Target {
                name: format!("{name} within 1.5x of F_DUPFD_QUERY"),
                value: r,
                limit: "<= 1.50x".into(),
                pass: at_most(r, 1.5),
            });
            let r = ratio(epoll, m);
            out.push(Target {
                name: format!("{name} >= 5x cheaper than the epoll trick"),
                value: r,
                limit: ">= 5x".into(),
                pass: at_least(r, 5.0),
            });
            let r = ratio(fdinfo, m);
            out.push(Target {
                name: format!("{name} >= 20x cheaper than fdinfo parsing"),
                value: r,
                limit: ">= 20x".into(),
                pass: at_least(r, 20.0),
            });
            let s = self
                .row(k)
                .and_then(|r| r.scale.as_ref())
                .and_then(|o| o.median());
            let r = ratio(s, m);
            out.push(Target {
                name: format!("{name} at 10k fds within 1.2x of base"),
                value: r,
                limit: "<= 1.20x".into(),
                pass: at_most(r, 1.2),
            });
        }
        // The library call against the raw ioctl it issues, on the same pair.
        for (lib, raw, name) in [
            (
                key::LIB_DRM,
                key::DRM_FILE_SAME,
                "fdsame::compare() on two DRM descriptors within 1.5x of DRM_IOCTL_FILE_SAME",
            ),
            (
                key::LIB_DMA_BUF,
                key::DMA_BUF_SAME,
                "fdsame::compare() on two dma-bufs within 1.5x of DMA_BUF_IOCTL_SAME_OBJECT",
            ),
        ] {
            let r = self
                .base_median(lib)
                .zip(self.base_median(raw))
                .map(|(l, r)| l / r)
                .filter(|v| v.is_finite());
            out.push(Target {
                name: name.into(),
                value: r,
                limit: "<= 1.50x".into(),
                pass: r.map(|v| v <= 1.5),
            });
        }
        out
    }
}

/// `123`, `12.3`, `1.23` — three significant-ish digits, no exponent.
pub fn fmt_ns(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn fmt_ratio(v: Option<f64>) -> String {
    match v.filter(|v| v.is_finite()) {
        Some(v) if v >= 100.0 => format!("{v:.0}x"),
        Some(v) if v >= 10.0 => format!("{v:.1}x"),
        Some(v) => format!("{v:.2}x"),
        None => "—".into(),
    }
}

fn outcome_cell(o: &Outcome) -> String {
    match o {
        Outcome::Measured(s) => fmt_ns(s.median_ns),
        Outcome::NotAvailable(e) => format!("n/a: {e}"),
        Outcome::Failed(e) => format!("FAILED: {e}"),
    }
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
}

pub const TCG_STATEMENT: &str = "Under TCG (QEMU without KVM) absolute times are meaningless: \
every instruction is translated, so only the ratios between rows of one run count.";

/// The markdown report (header, table, targets, notes).
pub fn render_markdown(r: &Report) -> String {
    let mut s = md_header(r);
    md_table(&mut s, r);
    let storage = r.storage_lines();
    if !storage.is_empty() {
        let _ = writeln!(
            s,
            "\n## STORAGE path (two different dma-bufs, the exporter's same_storage)\n"
        );
        for l in &storage {
            let _ = writeln!(s, "- {l}");
        }
    }

    md_targets(&mut s, r);
    let _ = writeln!(s, "\n## What each row does\n");
    for row in &r.rows {
        let _ = writeln!(s, "- **{}**: {}", row.label, row.detail);
    }
    if !r.notes.is_empty() {
        let _ = writeln!(s, "\n## Notes\n");
        for n in &r.notes {
            let _ = writeln!(s, "- {n}");
        }
    }
    let _ = writeln!(s, "\nWall time of the whole run: {:.2} s.", r.elapsed_s);
    s
}

/// The report's header: kernel, machine, date, method, timer, the at-scale setup.
fn md_header(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# fdsame-bench: cost of answering \"same file?\"\n");
    let _ = writeln!(s, "- kernel: `{}` ({})", r.kernel, r.kernel_version);
    let _ = writeln!(s, "- machine: {}, nproc {}", r.cpu_model, r.nproc);
    let _ = writeln!(s, "- date: {}", r.date_utc);
    let _ = writeln!(
        s,
        "- method: {} samples of {} calls ({} for fdinfo/sysfs) per row and condition; every sample times one batch with the timer below, per-call = batch time / calls; the rows of a pass are interleaved sample by sample; median and p99 (nearest rank) over the samples; every row is checked once to give its expected answer before it is timed (the two new ioctls: exactly the result bits in its description below, in both directions for the dma-buf pairs) and every timed call must give it again",
        r.samples, r.batch, r.slow_batch
    );
    let _ = writeln!(s, "- timer: {}", r.timer);
    let _ = writeln!(s, "- at scale: {}", r.scale_setup);
    let _ = writeln!(s, "- **{TCG_STATEMENT}**\n");

    s
}

/// The table of every row: medians, p99, ratios to the references, at scale.
fn md_table(s: &mut String, r: &Report) {
    let floor = r.floor();
    let noop = r.base_median(key::GETPPID);
    let dupfd = r.base_median(key::F_DUPFD_QUERY);
    let obj = r.object_path();
    match floor {
        Some((k, _)) => {
            let label = r.row(k).map(|x| x.label.as_str()).unwrap_or(k);
            let _ = writeln!(
                s,
                "Floor = cheapest DRM core ioctl on the same fd: **{label}**.\n"
            );
        }
        None => {
            let _ = writeln!(
                s,
                "Floor = cheapest DRM core ioctl: n/a (no DRM device measured).\n"
            );
        }
    }
    let _ = writeln!(
        s,
        "| mechanism | median ns | p99 ns | x floor (DRM ioctl) | x no-op syscall | x F_DUPFD_QUERY | x OBJECT path | at-10k median ns | at-10k / base |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in &r.rows {
        let m = row.base.median();
        let (med, p99) = match &row.base {
            Outcome::Measured(st) => (fmt_ns(st.median_ns), fmt_ns(st.p99_ns)),
            other => (outcome_cell(other), "—".into()),
        };
        let rf = m.zip(floor).map(|(m, f)| m / f.1);
        let rn = m.zip(noop).map(|(m, n)| m / n);
        let rd = m.zip(dupfd).map(|(m, d)| m / d);
        let ro = m.zip(obj).map(|(m, o)| m / o);
        let (sc, sr) = match &row.scale {
            None => ("—".into(), "—".into()),
            Some(o) => (
                outcome_cell(o),
                fmt_ratio(o.median().zip(m).map(|(a, b)| a / b)),
            ),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            md_escape(&row.label),
            md_escape(&med),
            p99,
            fmt_ratio(rf),
            fmt_ratio(rn),
            fmt_ratio(rd),
            fmt_ratio(ro),
            md_escape(&sc),
            sr
        );
    }
}

/// The targets, with their verdicts.
fn md_targets(s: &mut String, r: &Report) {
    let _ = writeln!(s, "\n## Targets\n");
    let _ = writeln!(s, "| target | measured | limit | verdict |");
    let _ = writeln!(s, "|---|---:|---:|---|");
    for t in r.targets() {
        let verdict = match t.pass {
            Some(true) => "PASS",
            Some(false) => "MISS",
            None => "N/A (input not measured)",
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            t.name,
            fmt_ratio(t.value),
            t.limit,
            verdict
        );
    }
}

/// Horizontal bar chart of the medians, log-scale x axis; base in blue, at-10k in orange.
pub fn render_svg(r: &Report) -> String {
    let mut bars: Vec<(String, f64, bool)> = Vec::new();
    for row in &r.rows {
        if let Some(m) = row.base.median() {
            bars.push((row.label.clone(), m, false));
        }
        if let Some(m) = row.scale.as_ref().and_then(|o| o.median()) {
            bars.push((format!("{} @10k", row.label), m, true));
        }
    }
    let mut svg = String::new();
    let height = 110 + 22 * bars.len().max(1) as u32;
    {
        let root = SVGBackend::with_string(&mut svg, (940, height)).into_drawing_area();
        draw_chart(&root, &r.kernel, &bars).expect("drawing into a string does not fail");
    }
    svg
}

/// The axis in decades: from the decade below the smallest bar to the one above the largest.
fn decades(bars: &[(String, f64, bool)]) -> (f64, f64) {
    let finite = || bars.iter().map(|b| b.1).filter(|v| v.is_finite());
    let (Some(min), Some(max)) = (finite().reduce(f64::min), finite().reduce(f64::max)) else {
        return (1.0, 10.0); // no bar
    };
    let lo = min.max(0.1).log10().floor();
    let hi = max.log10().ceil().max(lo + 1.0);
    (10f64.powf(lo), 10f64.powf(hi))
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

fn draw_chart(
    root: &Area<'_>,
    kernel: &str,
    bars: &[(String, f64, bool)],
) -> Result<(), Box<dyn std::error::Error>> {
    root.fill(&WHITE)?;
    let (title, sub) = root.split_vertically(40);
    title.draw_text(
        &format!("Median ns per answer (log scale), kernel {kernel}"),
        &("sans-serif", 14)
            .into_font()
            .style(FontStyle::Bold)
            .color(&BLACK),
        (10, 6),
    )?;
    title.draw_text("Under TCG absolute times are meaningless; compare bar ratios. Orange: 10k extra fds/dma-bufs.", &("sans-serif", 11).into_font().color(&BLACK), (10, 24))?;
    let (lo, hi) = decades(bars);
    let n = bars.len().max(1) as i32;
    let mut chart = ChartBuilder::on(&sub)
        .margin(10)
        .x_label_area_size(24)
        .y_label_area_size(330)
        .build_cartesian_2d((lo..hi).log_scale(), (0..n).into_segmented())?;
    let label = |v: &SegmentValue<i32>| match v {
        SegmentValue::CenterOf(i) => bars.get(*i as usize).map_or(String::new(), |b| b.0.clone()),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(bars.len().max(1))
        .y_label_formatter(&label)
        .x_label_formatter(&|v| fmt_ns(*v))
        .draw()?;
    let blue = RGBColor(0x3a, 0x78, 0xc2);
    let orange = RGBColor(0xe8, 0x86, 0x2a);
    chart.draw_series(bars.iter().enumerate().map(|(i, (_, v, scale))| {
        let i = i as i32;
        let color = if *scale { orange } else { blue };
        let mut bar = Rectangle::new(
            [
                (lo, SegmentValue::Exact(i)),
                (*v, SegmentValue::Exact(i + 1)),
            ],
            color.filled(),
        );
        bar.set_margin(3, 3, 0, 0);
        bar
    }))?;
    chart.draw_series(bars.iter().enumerate().map(|(i, (_, v, _))| {
        Text::new(
            format!(" {}", fmt_ns(*v)),
            (*v, SegmentValue::CenterOf(i as i32)),
            ("sans-serif", 11).into_font(),
        )
    }))?;
    if bars.is_empty() {
        sub.draw_text(
            "no measurements",
            &("sans-serif", 11).into_font().color(&BLACK),
            (340, 20),
        )?;
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::stats::Stats;

    fn ok(m: f64) -> Outcome {
        Outcome::Measured(Stats {
            median_ns: m,
            p99_ns: m * 1.5,
            samples: 10,
            batch: 10,
        })
    }

    pub fn sample() -> Report {
        let row = |key, label: &str, base, scale| Row {
            key,
            label: label.into(),
            detail: "d".into(),
            base,
            scale,
        };
        Report {
            kernel: "7.3.0-fdsame".into(),
            kernel_version: "#1 SMP".into(),
            cpu_model: "QEMU TCG <cpu> & co".into(),
            nproc: 2,
            date_utc: "2026-01-01 00:00:00 UTC".into(),
            samples: 10,
            batch: 10,
            slow_batch: 2,
            scale_setup: "10000 eventfd dups".into(),
            timer: "CLOCK_MONOTONIC".into(),
            notes: vec!["a \"quoted\" note".into()],
            rows: vec![
                row(
                    key::DRM_FILE_SAME,
                    "DRM_IOCTL_FILE_SAME",
                    ok(110.0),
                    Some(ok(115.0)),
                ),
                row(
                    key::DMA_BUF_SAME,
                    "DMA_BUF_IOCTL_SAME_OBJECT",
                    ok(200.0),
                    Some(ok(400.0)),
                ),
                row(
                    key::F_DUPFD_QUERY,
                    "fcntl(F_DUPFD_QUERY)",
                    ok(100.0),
                    Some(ok(100.0)),
                ),
                row(
                    key::KCMP,
                    "kcmp",
                    Outcome::NotAvailable("ENOSYS".into()),
                    Some(Outcome::NotAvailable("ENOSYS".into())),
                ),
                row(
                    key::EPOLL,
                    "Mesa epoll | trick",
                    ok(1000.0),
                    Some(ok(1000.0)),
                ),
                row(key::FDINFO, "fdinfo", ok(5000.0), None),
                row(key::STORAGE_VIM2M, "vim2m", ok(220.0), None),
                row(key::STORAGE_UDMABUF_1, "udmabuf 1", ok(230.0), None),
                row(key::STORAGE_UDMABUF_256, "udmabuf 256", ok(485.0), None),
                row(key::STORAGE_UDMABUF_2048, "udmabuf 2048", ok(2277.0), None),
                row(
                    key::STORAGE_UDMABUF_DIFF,
                    "udmabuf other",
                    Outcome::Failed("answered 0x0 before timing, expected exactly 0x8".into()),
                    None,
                ),
                row(key::DRM_GET_CAP, "GET_CAP", ok(105.0), None),
                row(key::DRM_VERSION, "VERSION", ok(100.0), None),
                row(key::GETPPID, "getppid", ok(50.0), None),
            ],
            elapsed_s: 1.0,
        }
    }

    #[test]
    fn udmabuf_line_and_object_path() {
        let r = sample();
        assert_eq!(r.object_path(), Some(200.0));
        let (slope, at0) = r.udmabuf_line().unwrap();
        assert!((slope - 1.0).abs() < 1e-9, "{slope}");
        assert!((at0 - 229.0).abs() < 1e-9, "{at0}");
        let lines = r.storage_lines();
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[0].contains("1.10x the OBJECT path, 2.20x F_DUPFD_QUERY"));
        let mut r = sample();
        r.rows.retain(|x| x.key != key::STORAGE_UDMABUF_2048);
        assert_eq!(r.udmabuf_line(), None);
    }

    #[test]
    fn floor_is_cheaper_drm_ioctl() {
        assert_eq!(sample().floor(), Some((key::DRM_VERSION, 100.0)));
    }

    #[test]
    fn library_targets() {
        let mut r = sample();
        let row = |key, base| Row {
            key,
            label: "lib".into(),
            detail: "d".into(),
            base,
            scale: None,
        };
        // DRM raw 110 ns, library 154 ns: 1.40x PASS; dma-buf raw 200 ns, library 320: 1.60x MISS.
        r.rows.push(row(key::LIB_DRM, ok(154.0)));
        r.rows.push(row(key::LIB_DMA_BUF, ok(320.0)));
        let t = r.targets();
        assert!(t[10].name.contains("DRM_IOCTL_FILE_SAME"));
        assert!((t[10].value.unwrap() - 1.4).abs() < 1e-9);
        assert_eq!(t[10].pass, Some(true));
        assert!((t[11].value.unwrap() - 1.6).abs() < 1e-9);
        assert_eq!(t[11].pass, Some(false));
        let md = render_markdown(&r);
        assert!(md.contains("| fdsame::compare() on two dma-bufs within 1.5x of DMA_BUF_IOCTL_SAME_OBJECT | 1.60x | <= 1.50x | MISS |"));
    }

    #[test]
    fn targets_verdicts() {
        let t = sample().targets();
        assert_eq!(t.len(), 12);
        // DRM: 1.1x floor PASS, 1.1x dupfd PASS, 9.09x epoll PASS, 45x fdinfo PASS, 1.045x PASS.
        assert_eq!(t[0].pass, Some(true));
        assert!((t[0].value.unwrap() - 1.1).abs() < 1e-9);
        assert_eq!(t[1].pass, Some(true));
        assert_eq!(t[2].pass, Some(true));
        assert_eq!(t[3].pass, Some(true));
        assert_eq!(t[4].pass, Some(true));
        // dma-buf: 2x floor MISS, 2x dupfd MISS, 5x epoll PASS, 25x fdinfo PASS, 2x scale MISS.
        assert_eq!(t[5].pass, Some(false));
        assert_eq!(t[6].pass, Some(false));
        assert_eq!(t[7].pass, Some(true));
        assert_eq!(t[8].pass, Some(true));
        assert_eq!(t[9].pass, Some(false));
        // No library rows in the sample: the library targets are N/A.
        assert_eq!((t[10].pass, t[11].pass), (None, None));
        let mut r = sample();
        r.rows
            .retain(|x| x.key != key::DRM_GET_CAP && x.key != key::DRM_VERSION);
        assert_eq!(r.targets()[0].pass, None);
    }

    #[test]
    fn markdown_table() {
        let md = render_markdown(&sample());
        assert!(md.contains("7.3.0-fdsame"));
        assert!(md.contains("2026-01-01 00:00:00 UTC"));
        assert!(md.contains("absolute times are meaningless"));
        assert!(md.contains("Floor = cheapest DRM core ioctl on the same fd: **VERSION**"));
        assert!(
            md.contains(
                "| DRM_IOCTL_FILE_SAME | 110 | 165 | 1.10x | 2.20x | 1.10x | 0.55x | 115 | 1.05x |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| kcmp | n/a: ENOSYS | — | — | — | — | — | n/a: ENOSYS | — |"),
            "{md}"
        );
        assert!(
            md.contains("| vim2m | 220 | 330 | 2.20x | 4.40x | 2.20x | 1.10x | — | — |"),
            "{md}"
        );
        assert!(md.contains(
            "| udmabuf other | FAILED: answered 0x0 before timing, expected exactly 0x8 |"
        ));
        assert!(md.contains("## STORAGE path"));
        assert!(md.contains("1.00 ns per page (F_DUPFD_QUERY every 100 pages), 229 ns at 0 pages; the 2048-page pair costs 9.90x the 1-page pair"), "{md}");
        assert!(
            md.contains("256 pages: the line predicts 485 ns, measured 485 ns (1.00x)"),
            "{md}"
        );
        assert!(md.contains("| Mesa epoll \\| trick |"));
        assert!(md.contains("| DMA_BUF_IOCTL_SAME_OBJECT at 10k fds within 1.2x of base | 2.00x | <= 1.20x | MISS |"));
        // Every table line has the same number of cells.
        let table: Vec<&str> = md
            .lines()
            .skip_while(|l| !l.starts_with("| mechanism"))
            .take_while(|l| l.starts_with('|'))
            .collect();
        assert_eq!(table.len(), 2 + 14);
        for l in table {
            assert_eq!(l.replace("\\|", "").matches('|').count(), 10, "{l}");
        }
    }

    /// Minimal XML well-formedness check: every tag closes in order, attributes quoted,
    /// no raw '<' or '&' outside markup/entities.
    fn assert_well_formed(xml: &str) {
        let mut stack: Vec<String> = Vec::new();
        let mut rest = xml;
        let mut roots = 0;
        while let Some(lt) = rest.find('<') {
            let text = &rest[..lt];
            for (i, _) in text.match_indices('&') {
                let ent = &text[i..];
                assert!(
                    ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                        .iter()
                        .any(|e| ent.starts_with(e)),
                    "bare & in {text:?}"
                );
            }
            let gt = rest[lt..].find('>').expect("unclosed tag") + lt;
            let tag = &rest[lt + 1..gt];
            assert!(!tag.contains('<'), "nested < in {tag:?}");
            assert_eq!(
                tag.matches('"').count() % 2,
                0,
                "unbalanced quotes in {tag:?}"
            );
            if tag.starts_with('?') {
                assert!(tag.ends_with('?'));
            } else if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(
                    stack.pop().as_deref(),
                    Some(name.trim()),
                    "mismatched </{name}>"
                );
            } else {
                let name = tag
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .trim_end_matches('/')
                    .to_string();
                if stack.is_empty() {
                    roots += 1;
                }
                if !tag.ends_with('/') {
                    stack.push(name);
                }
            }
            rest = &rest[gt + 1..];
        }
        assert!(stack.is_empty(), "unclosed {stack:?}");
        assert_eq!(roots, 1);
        assert!(rest.trim().is_empty());
    }

    #[test]
    fn svg_axis_in_decades() {
        let bar = |v: f64| (String::new(), v, false);
        assert_eq!(decades(&[]), (1.0, 10.0));
        assert_eq!(decades(&[bar(120.0), bar(4500.0)]), (100.0, 10_000.0));
        assert_eq!(decades(&[bar(100.0)]), (100.0, 1000.0));
        assert_eq!(decades(&[bar(f64::NAN), bar(5.0)]), (1.0, 10.0));
    }

    #[test]
    fn svg_well_formed() {
        let svg = render_svg(&sample());
        assert_well_formed(&svg);
        assert!(svg.starts_with("<svg") && svg.contains("xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.contains("QEMU TCG") || svg.contains("7.3.0-fdsame"));
        // 12 base bars (kcmp n/a, udmabuf other failed) in blue + 4 at-10k bars (kcmp n/a)
        // in orange, each labelled.
        assert_eq!(svg.matches("fill=\"#3A78C2\"").count(), 12, "{svg}");
        assert_eq!(svg.matches("fill=\"#E8862A\"").count(), 4);
        assert_eq!(
            svg.matches(" @10k\n</text>").count(),
            4,
            "each bar is labelled"
        );
        assert!(svg.contains("&amp;") || !svg.contains('&'));
        let empty = Report::default();
        assert_well_formed(&render_svg(&empty));
    }

    #[test]
    fn checker_rejects_bad_xml() {
        assert!(std::panic::catch_unwind(|| assert_well_formed("<a><b></a></b>")).is_err());
        assert!(std::panic::catch_unwind(|| assert_well_formed("<a>x & y</a>")).is_err());
    }
}
