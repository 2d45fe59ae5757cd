//! `gen hits --check`: the spec's acceptance list, evaluated on a generated file.
//!
//! The file is read back with the `parquet` crate (only the 25 query columns), and for each of
//! the 43 queries the number of result rows is derived from group counts: a `GROUP BY ... LIMIT
//! 10` query returns 10 rows exactly when there are at least 10 groups, an `OFFSET k LIMIT 10`
//! query when there are at least `k + 10`. No SQL engine is needed.
//!
//! Checks whose thresholds are absolute (HAVING COUNT(*) > 100000, the OFFSETs, Q21's 1,500
//! rows, Q22/Q23's 10 groups) only hold from the spec's minimum of 5,000,000 rows, and so does
//! COUNT(DISTINCT SearchPhrase)/N (its head vocabulary has a fixed 100,000 phrases); below
//! 5,000,000 rows they are reported as `n/a` with their measured figure.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::hash::Hash;
use std::path::Path;

use arrow::array::{Array, Int16Array, Int32Array, Int64Array, StringArray, UInt16Array};
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;

use super::{POINT_USER_ID, P_HOME_URL_HASH, P_REF_REFERER_HASH, SITE_62, SPEC_MIN_ROWS};
use crate::{Error, Result};

/// One acceptance check and its outcome.
#[derive(Debug, Clone)]
pub struct Check {
    /// What is checked, e.g. `Q8 returns 18 rows`.
    pub name: String,
    /// `Some(true)` passed, `Some(false)` failed, `None` not applicable at this N.
    pub passed: Option<bool>,
    /// The measured figure.
    pub measured: String,
    /// What the spec asks for.
    pub expected: String,
}

/// All checks of one file.
#[derive(Debug, Clone)]
pub struct Report {
    /// Rows in the file.
    pub rows: u64,
    /// The checks, in spec order.
    pub checks: Vec<Check>,
}

impl Report {
    /// True when no applicable check failed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed != Some(false))
    }

    /// A printable table, one check per line.
    pub fn render(&self) -> String {
        let width = self.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
        let mut out = String::new();
        for c in &self.checks {
            let status = match c.passed {
                Some(true) => "PASS",
                Some(false) => "FAIL",
                None => "n/a ",
            };
            out.push_str(&format!(
                "{status}  {:width$}  measured {:>14}  expected {}\n",
                c.name, c.measured, c.expected
            ));
        }
        let failed = self
            .checks
            .iter()
            .filter(|c| c.passed == Some(false))
            .count();
        let skipped = self.checks.iter().filter(|c| c.passed.is_none()).count();
        out.push_str(&format!(
            "{} checks: {} passed, {failed} failed, {skipped} n/a (need N >= {SPEC_MIN_ROWS}) at N = {}\n",
            self.checks.len(),
            self.checks.len() - failed - skipped,
            self.rows
        ));
        out
    }
}

/// A distinct-count set that stops growing at `cap` (enough to decide "at least k groups").
struct Capped<T> {
    set: HashSet<T>,
    cap: usize,
}

impl<T: Hash + Eq> Capped<T> {
    fn new(cap: usize) -> Capped<T> {
        Capped {
            set: HashSet::new(),
            cap,
        }
    }
    #[inline]
    fn insert_with(&mut self, make: impl FnOnce() -> T) {
        if self.set.len() < self.cap {
            self.set.insert(make());
        }
    }
    fn len(&self) -> usize {
        self.set.len()
    }
}

const COLUMNS: [&str; 25] = [
    "WatchID",
    "Title",
    "EventTime",
    "EventDate",
    "CounterID",
    "ClientIP",
    "RegionID",
    "UserID",
    "URL",
    "Referer",
    "IsRefresh",
    "ResolutionWidth",
    "MobilePhone",
    "MobilePhoneModel",
    "TraficSourceID",
    "SearchEngineID",
    "SearchPhrase",
    "AdvEngineID",
    "WindowClientWidth",
    "WindowClientHeight",
    "IsLink",
    "IsDownload",
    "DontCountHits",
    "RefererHash",
    "URLHash",
];

/// Days since 1970-01-01 of 2013-07-01, 2013-07-14, 2013-07-15 and 2013-07-31.
const JULY_1: u16 = 15_887;
const JULY_14: u16 = 15_900;
const JULY_15: u16 = 15_901;
const JULY_31: u16 = 15_917;

/// Q40's group key: (TraficSourceID, SearchEngineID, AdvEngineID, Src, Dst).
type TrafficGroup = (i16, i16, i16, Box<[u8]>, Box<[u8]>);

/// Everything the checks need, accumulated batch by batch.
struct Acc {
    rows: u64,
    adv_rows: u64,
    adv_values: HashSet<i16>,
    sum_width: i64,
    users: HashSet<i64>,
    phrases: HashSet<Box<[u8]>>,
    date_min: u16,
    date_max: u16,
    regions: Capped<i32>,
    models: HashSet<String>,
    phone_models: HashSet<(i16, String)>,
    engine_phrase: Capped<(i16, Box<[u8]>)>,
    user_phrase: Capped<(i64, Box<[u8]>)>,
    user_minute_phrase: Capped<(i64, i64, Box<[u8]>)>,
    point_user_rows: u64,
    google_rows: u64,
    q22: HashSet<Box<[u8]>>,
    q23: HashSet<Box<[u8]>>,
    phrase_rows: u64,
    counter_urls: HashMap<i32, u64>,
    referer_hosts: HashMap<String, u64>,
    engine_ip: Capped<(i16, i32)>,
    watch_ip: Vec<(i64, i32, bool)>,
    urls: Capped<Box<[u8]>>,
    ips: Capped<i32>,
    q37: HashSet<Box<[u8]>>,
    q38: HashSet<Box<[u8]>>,
    q39: HashSet<Box<[u8]>>,
    q40: HashSet<TrafficGroup>,
    q41: HashSet<(i64, u16)>,
    q42: HashSet<(i16, i16)>,
    q43: HashSet<i64>,
}

/// Reads `path` and evaluates the acceptance list.
pub fn run(path: &Path) -> Result<Report> {
    let file = File::open(path).map_err(|source| Error::Io {
        operation: "open",
        path: path.to_path_buf(),
        source,
    })?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
    let schema = builder.schema().clone();
    let mut indices = Vec::with_capacity(COLUMNS.len());
    for name in COLUMNS {
        indices.push(schema.index_of(name)?);
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(65_536)
        .build()?;
    let mut acc = Acc {
        rows: 0,
        adv_rows: 0,
        adv_values: HashSet::new(),
        sum_width: 0,
        users: HashSet::new(),
        phrases: HashSet::new(),
        date_min: u16::MAX,
        date_max: 0,
        regions: Capped::new(10),
        models: HashSet::new(),
        phone_models: HashSet::new(),
        engine_phrase: Capped::new(10),
        user_phrase: Capped::new(10),
        user_minute_phrase: Capped::new(10),
        point_user_rows: 0,
        google_rows: 0,
        q22: HashSet::new(),
        q23: HashSet::new(),
        phrase_rows: 0,
        counter_urls: HashMap::new(),
        referer_hosts: HashMap::new(),
        engine_ip: Capped::new(10),
        watch_ip: Vec::new(),
        urls: Capped::new(10),
        ips: Capped::new(10),
        q37: HashSet::new(),
        q38: HashSet::new(),
        q39: HashSet::new(),
        q40: HashSet::new(),
        q41: HashSet::new(),
        q42: HashSet::new(),
        q43: HashSet::new(),
    };
    for batch in reader {
        acc.add(&batch?)?;
    }
    Ok(acc.report())
}

fn col<'a, T: Array + 'static>(b: &'a RecordBatch, name: &str) -> Result<&'a T> {
    let i = b.schema().index_of(name)?;
    b.column(i)
        .as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| Error::Internal(format!("column {name} has an unexpected type")))
}

/// The key of Q29: `REGEXP_REPLACE(Referer, '^https?://(?:www\.)?([^/]+)/.*$', '\1')`; a
/// referer that does not match is its own key.
fn referer_host(r: &str) -> &str {
    let rest = r
        .strip_prefix("https://")
        .or_else(|| r.strip_prefix("http://"));
    let Some(rest) = rest else { return r };
    let rest = rest.strip_prefix("www.").unwrap_or(rest);
    match rest.find('/') {
        Some(0) | None => r,
        Some(i) if !rest[i..].contains('\n') => &rest[..i],
        Some(_) => r,
    }
}

impl Acc {
    fn add(&mut self, b: &RecordBatch) -> Result<()> {
        let watch = col::<Int64Array>(b, "WatchID")?;
        let title = col::<StringArray>(b, "Title")?;
        let time = col::<Int64Array>(b, "EventTime")?;
        let date = col::<UInt16Array>(b, "EventDate")?;
        let counter = col::<Int32Array>(b, "CounterID")?;
        let ip = col::<Int32Array>(b, "ClientIP")?;
        let region = col::<Int32Array>(b, "RegionID")?;
        let user = col::<Int64Array>(b, "UserID")?;
        let url = col::<StringArray>(b, "URL")?;
        let referer = col::<StringArray>(b, "Referer")?;
        let refresh = col::<Int16Array>(b, "IsRefresh")?;
        let width = col::<Int16Array>(b, "ResolutionWidth")?;
        let phone = col::<Int16Array>(b, "MobilePhone")?;
        let model = col::<StringArray>(b, "MobilePhoneModel")?;
        let trafic = col::<Int16Array>(b, "TraficSourceID")?;
        let engine = col::<Int16Array>(b, "SearchEngineID")?;
        let phrase = col::<StringArray>(b, "SearchPhrase")?;
        let adv = col::<Int16Array>(b, "AdvEngineID")?;
        let win_w = col::<Int16Array>(b, "WindowClientWidth")?;
        let win_h = col::<Int16Array>(b, "WindowClientHeight")?;
        let link = col::<Int16Array>(b, "IsLink")?;
        let download = col::<Int16Array>(b, "IsDownload")?;
        let dont_count = col::<Int16Array>(b, "DontCountHits")?;
        let referer_hash = col::<Int64Array>(b, "RefererHash")?;
        let url_hash = col::<Int64Array>(b, "URLHash")?;
        for i in 0..b.num_rows() {
            let p = phrase.value(i);
            let has_phrase = !p.is_empty();
            let u = user.value(i);
            let d = date.value(i);
            let a = adv.value(i);
            let se = engine.value(i);
            let url_s = url.value(i);
            let w_id = watch.value(i);
            let ip_v = ip.value(i);
            self.rows += 1;
            if a != 0 {
                self.adv_rows += 1;
                self.adv_values.insert(a);
            }
            self.sum_width += i64::from(width.value(i));
            self.users.insert(u);
            if !self.phrases.contains(p.as_bytes()) {
                self.phrases.insert(p.as_bytes().into());
            }
            self.date_min = self.date_min.min(d);
            self.date_max = self.date_max.max(d);
            self.regions.insert_with(|| region.value(i));
            let m = model.value(i);
            if !m.is_empty() {
                if !self.models.contains(m) {
                    self.models.insert(m.to_string());
                }
                let key = (phone.value(i), m.to_string());
                self.phone_models.insert(key);
            }
            if has_phrase {
                self.phrase_rows += 1;
                self.engine_phrase.insert_with(|| (se, p.as_bytes().into()));
                self.engine_ip.insert_with(|| (se, ip_v));
            }
            self.user_phrase.insert_with(|| (u, p.as_bytes().into()));
            self.user_minute_phrase
                .insert_with(|| (u, time.value(i).div_euclid(60) % 60, p.as_bytes().into()));
            if u == POINT_USER_ID {
                self.point_user_rows += 1;
            }
            if url_s.contains("google") {
                self.google_rows += 1;
                if has_phrase {
                    self.q22.insert(p.as_bytes().into());
                }
            }
            if has_phrase && title.value(i).contains("Google") && !url_s.contains(".google.") {
                self.q23.insert(p.as_bytes().into());
            }
            if !url_s.is_empty() {
                *self.counter_urls.entry(counter.value(i)).or_insert(0) += 1;
            }
            let r = referer.value(i);
            if !r.is_empty() {
                let host = referer_host(r);
                match self.referer_hosts.get_mut(host) {
                    Some(c) => *c += 1,
                    None => {
                        self.referer_hosts.insert(host.to_string(), 1);
                    }
                }
            }
            self.watch_ip.push((w_id, ip_v, has_phrase));
            self.urls.insert_with(|| url_s.as_bytes().into());
            self.ips.insert_with(|| ip_v);

            if counter.value(i) == SITE_62 && (JULY_1..=JULY_31).contains(&d) {
                let no_refresh = refresh.value(i) == 0;
                let counted = dont_count.value(i) == 0;
                if no_refresh && counted && !url_s.is_empty() {
                    self.q37.insert(url_s.as_bytes().into());
                }
                let t = title.value(i);
                if no_refresh && counted && !t.is_empty() {
                    self.q38.insert(t.as_bytes().into());
                }
                if no_refresh && link.value(i) != 0 && download.value(i) == 0 {
                    self.q39.insert(url_s.as_bytes().into());
                }
                if no_refresh {
                    let src: &str = if se == 0 && a == 0 { r } else { "" };
                    self.q40.insert((
                        trafic.value(i),
                        se,
                        a,
                        src.as_bytes().into(),
                        url_s.as_bytes().into(),
                    ));
                }
                let ts = trafic.value(i);
                if no_refresh
                    && (ts == -1 || ts == 6)
                    && referer_hash.value(i) == P_REF_REFERER_HASH
                {
                    self.q41.insert((url_hash.value(i), d));
                }
                if no_refresh && counted && url_hash.value(i) == P_HOME_URL_HASH {
                    self.q42.insert((win_w.value(i), win_h.value(i)));
                }
                if no_refresh && counted && (JULY_14..=JULY_15).contains(&d) {
                    self.q43.insert(time.value(i).div_euclid(60));
                }
            }
        }
        Ok(())
    }

    fn report(mut self) -> Report {
        let n = self.rows;
        let big = n >= SPEC_MIN_ROWS;
        let mut checks = Vec::new();
        let mut at_least = |name: &str, got: u64, want: u64, absolute: bool| {
            checks.push(Check {
                name: name.to_string(),
                passed: if absolute && !big {
                    None
                } else {
                    Some(got >= want)
                },
                measured: got.to_string(),
                expected: format!(">= {want}"),
            });
        };
        at_least("Q1-Q7, Q30 return 1 row (rows in table)", n, 1, false);
        at_least("Q2 rows with AdvEngineID <> 0", self.adv_rows, 1, false);
        let q8 = self.adv_values.len() as u64;
        at_least(
            "Q9-Q10 RegionID groups (10 rows)",
            self.regions.len() as u64,
            10,
            false,
        );
        at_least(
            "Q11 MobilePhoneModel groups (10 rows)",
            self.models.len() as u64,
            10,
            false,
        );
        at_least(
            "Q12 (MobilePhone, Model) groups (10 rows)",
            self.phone_models.len() as u64,
            10,
            false,
        );
        at_least(
            "Q13-Q14 SearchPhrase groups (10 rows)",
            self.phrases.len() as u64 - 1,
            10,
            false,
        );
        at_least(
            "Q15 (SearchEngineID, SearchPhrase) groups",
            self.engine_phrase.len() as u64,
            10,
            false,
        );
        at_least(
            "Q16 UserID groups (10 rows)",
            self.users.len() as u64,
            10,
            false,
        );
        at_least(
            "Q17-Q18 (UserID, SearchPhrase) groups",
            self.user_phrase.len() as u64,
            10,
            false,
        );
        at_least(
            "Q19 (UserID, minute, SearchPhrase) groups",
            self.user_minute_phrase.len() as u64,
            10,
            false,
        );
        at_least(
            "Q21 URL LIKE '%google%' rows",
            self.google_rows,
            1_500,
            true,
        );
        at_least(
            "Q22 google-URL SearchPhrase groups (10 rows)",
            self.q22.len() as u64,
            10,
            true,
        );
        at_least(
            "Q23 Google-title SearchPhrase groups (10 rows)",
            self.q23.len() as u64,
            10,
            true,
        );
        at_least(
            "Q24 URL LIKE '%google%' rows (10 rows)",
            self.google_rows,
            10,
            false,
        );
        at_least(
            "Q25-Q27 rows with SearchPhrase (10 rows)",
            self.phrase_rows,
            10,
            false,
        );
        let q28 = self.counter_urls.values().filter(|&&c| c > 100_000).count() as u64;
        at_least("Q28 counters with > 100000 rows (25 rows)", q28, 25, true);
        let q29 = self
            .referer_hosts
            .values()
            .filter(|&&c| c > 100_000)
            .count() as u64;
        at_least(
            "Q29 referer hosts with > 100000 rows (25 rows)",
            q29,
            25,
            true,
        );
        at_least(
            "Q31 (SearchEngineID, ClientIP) groups",
            self.engine_ip.len() as u64,
            10,
            false,
        );
        self.watch_ip.sort_unstable_by_key(|&(w, ip, _)| (w, ip));
        let (mut top_all, mut top_phrase, mut groups) = (0u64, 0u64, 0u64);
        let mut i = 0;
        while i < self.watch_ip.len() {
            let mut j = i;
            let mut with_phrase = 0u64;
            while j < self.watch_ip.len()
                && (self.watch_ip[j].0, self.watch_ip[j].1)
                    == (self.watch_ip[i].0, self.watch_ip[i].1)
            {
                with_phrase += u64::from(self.watch_ip[j].2);
                j += 1;
            }
            groups += 1;
            top_all = top_all.max((j - i) as u64);
            top_phrase = top_phrase.max(with_phrase);
            i = j;
        }
        at_least("Q32-Q33 (WatchID, ClientIP) groups", groups, 10, false);
        at_least(
            "Q34-Q35 URL groups (10 rows)",
            self.urls.len() as u64,
            10,
            false,
        );
        at_least(
            "Q36 ClientIP groups (10 rows)",
            self.ips.len() as u64,
            10,
            false,
        );
        at_least(
            "Q37 site-62 URL groups (10 rows)",
            self.q37.len() as u64,
            10,
            false,
        );
        at_least(
            "Q38 site-62 Title groups (10 rows)",
            self.q38.len() as u64,
            10,
            false,
        );
        at_least(
            "Q39 link URL groups (OFFSET 1000: 10 rows)",
            self.q39.len() as u64,
            1_010,
            true,
        );
        at_least(
            "Q40 traffic groups (OFFSET 1000: 10 rows)",
            self.q40.len() as u64,
            1_010,
            true,
        );
        at_least(
            "Q41 (URLHash, EventDate) groups (OFFSET 100)",
            self.q41.len() as u64,
            110,
            true,
        );
        at_least(
            "Q42 window-size groups (OFFSET 10000)",
            self.q42.len() as u64,
            10_010,
            true,
        );
        at_least(
            "Q43 minutes on 07-14..07-15 (OFFSET 1000)",
            self.q43.len() as u64,
            1_010,
            true,
        );

        let mut exact = |name: &str, got: String, want: String, ok: bool| {
            checks.push(Check {
                name: name.to_string(),
                passed: Some(ok),
                measured: got,
                expected: want,
            });
        };
        exact(
            "Q8 returns 18 rows (AdvEngineID values)",
            q8.to_string(),
            "18".into(),
            q8 == 18,
        );
        exact(
            "Q20 returns 4 rows (UserID 435090932899640449)",
            self.point_user_rows.to_string(),
            "4".into(),
            self.point_user_rows == 4,
        );
        exact(
            "Q32 top count with SearchPhrase <> ''",
            top_phrase.to_string(),
            "1".into(),
            top_phrase == 1,
        );
        exact(
            "Q33 top count overall",
            top_all.to_string(),
            "2".into(),
            top_all == 2,
        );
        let first = self.date_min == JULY_1 + 1;
        let last = self.date_max == JULY_31;
        exact(
            "Q7 EventDate range 2013-07-02..2013-07-31",
            format!("{}..{}", self.date_min, self.date_max),
            format!("{}..{}", JULY_1 + 1, JULY_31),
            first && last,
        );
        let ratio = |x: usize| x as f64 / n.max(1) as f64;
        let users = ratio(self.users.len());
        exact(
            "COUNT(DISTINCT UserID) / N",
            format!("{users:.4}"),
            "0.176 +- 5%".into(),
            (users / 0.1763 - 1.0).abs() <= 0.05,
        );
        let phrases = ratio(self.phrases.len());
        // The head vocabulary has an absolute size (100,000 phrases), so the ratio only
        // settles near 0.06 at the spec's scale.
        let phrase_check = Check {
            name: "COUNT(DISTINCT SearchPhrase) / N".into(),
            passed: big.then_some((phrases / 0.06 - 1.0).abs() <= 0.15),
            measured: format!("{phrases:.4}"),
            expected: "0.060 +- 15%".into(),
        };
        let avg_width = self.sum_width as f64 / n.max(1) as f64;
        exact(
            "AVG(ResolutionWidth)",
            format!("{avg_width:.2}"),
            "1513 +- 1%".into(),
            (avg_width / 1513.0 - 1.0).abs() <= 0.01,
        );
        let phrase_share = self.phrase_rows as f64 / n.max(1) as f64;
        exact(
            "share of rows with SearchPhrase <> ''",
            format!("{phrase_share:.4}"),
            "about 0.11 (estimate; 0.08-0.14)".into(),
            (0.08..=0.14).contains(&phrase_share),
        );
        checks.push(phrase_check);
        Report { rows: n, checks }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acceptance_list_passes_at_200k_rows_except_the_absolute_thresholds() {
        let path = crate::gen::hits::tests::temp_file("check.parquet");
        let mut g = crate::gen::hits::HitsGenerator::new(200_000, 1).unwrap();
        let props = crate::gen::hits::writer_properties().unwrap();
        crate::gen::write_parquet(&mut g, &path, props).unwrap();
        let report = run(&path).unwrap();
        let failed: Vec<_> = report
            .checks
            .iter()
            .filter(|c| c.passed == Some(false))
            .collect();
        assert!(failed.is_empty(), "{}", report.render());
        // The checks tied to absolute thresholds are the only ones skipped below 5M rows.
        let skipped = report.checks.iter().filter(|c| c.passed.is_none()).count();
        assert_eq!(skipped, 11, "{}", report.render());
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn referer_host_follows_the_q29_regex() {
        assert_eq!(referer_host("http://www.go.mail/search?q=1"), "go.mail");
        assert_eq!(referer_host("https://e96.ru/a/b"), "e96.ru");
        assert_eq!(referer_host("http://nohost"), "http://nohost");
        assert_eq!(referer_host("ftp://x/y"), "ftp://x/y");
    }
}
