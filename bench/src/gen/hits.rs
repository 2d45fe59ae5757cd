//! The synthetic ClickBench `hits` table, per `shared/benchmarks/clickbench/hits-generator.md`.
//!
//! Generation runs in two stages:
//!
//! ```text
//!  plan (O(sites + users), in memory)          rows (O(N), streamed in 64K-row batches)
//!  ------------------------------------        ------------------------------------------------
//!  sites: 25 head counters + site 62 floors    per site, in CounterID order:
//!         + 20,000 Zipf tail counters            keys (user, time) -> sort by (EventDate, UserID,
//!  users: U = 0.1763 N, heavy-tailed rows,         EventTime) -> WatchIDs, re-sent duplicates
//!         10 bots, the Q20 point-lookup user     per row: page, title, referer, phrase, flags,
//!  fill: users (shuffled) -> site quotas           device (row-wise, ~30 columns)
//!  exact placements: AdvEngineID mix,          per batch: the other ~75 columns column-wise,
//!         Google URL rows                        each value a hash of (seed, column, row)
//! ```
//!
//! Rows come out already in the ClickHouse primary-key order (CounterID, EventDate, UserID,
//! EventTime, WatchID), so no global sort is needed. Same seed and N give identical batches.

pub mod check;
mod filler;

use std::collections::VecDeque;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Int16Array, Int32Array, Int64Array, StringArray, StringBuilder, UInt16Array,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

use super::dist::{bijection63, hash3, mix64, DiscreteLomax, Rng, Weighted, Zipf};
use super::text;
use crate::{Error, Result};

/// The default number of rows (the spec's default scale).
pub const DEFAULT_ROWS: u64 = 10_000_000;
/// The smallest N at which the spec's absolute floors (HAVING > 100000, the OFFSET queries)
/// hold; below it, floors shrink in proportion to N.
pub const SPEC_MIN_ROWS: u64 = 5_000_000;
/// The smallest N the generator accepts.
pub const MIN_ROWS: u64 = 1_000;
/// Rows per generated batch (and per Parquet row group).
pub const BATCH_ROWS: usize = 65_536;

/// The URLHash of site 62's designated home page (Q42).
pub const P_HOME_URL_HASH: i64 = 2_868_770_270_353_813_622;
/// The RefererHash of site 62's designated referring page (Q41).
pub const P_REF_REFERER_HASH: i64 = 3_594_120_000_172_545_465;
/// The UserID of the Q20 point lookup; it has exactly 4 rows.
pub const POINT_USER_ID: i64 = 435_090_932_899_640_449;
/// The CounterID of the site behind Q37-Q43.
pub const SITE_62: i32 = 62;

/// Rows of the real 100M-row data set.
const REAL_ROWS: f64 = 99_997_497.0;

/// Parquet/Arrow type of a `hits` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// BIGINT: INT64.
    I64,
    /// INTEGER: INT32.
    I32,
    /// SMALLINT: INT32 annotated INT_16.
    I16,
    /// Date: INT32 annotated UINT_16, days since 1970-01-01.
    U16,
    /// TIMESTAMP: INT64 Unix seconds, no logical type.
    Seconds,
    /// TEXT: BYTE_ARRAY with the UTF8 annotation.
    Str,
}

impl Kind {
    /// The Arrow type that the Parquet writer maps to this column's physical/logical type.
    pub fn data_type(self) -> DataType {
        match self {
            Kind::I64 | Kind::Seconds => DataType::Int64,
            Kind::I32 => DataType::Int32,
            Kind::I16 => DataType::Int16,
            Kind::U16 => DataType::UInt16,
            Kind::Str => DataType::Utf8,
        }
    }
}

/// The 105 columns of `hits`, in ClickBench order.
pub const COLUMNS: [(&str, Kind); 105] = [
    ("WatchID", Kind::I64),
    ("JavaEnable", Kind::I16),
    ("Title", Kind::Str),
    ("GoodEvent", Kind::I16),
    ("EventTime", Kind::Seconds),
    ("EventDate", Kind::U16),
    ("CounterID", Kind::I32),
    ("ClientIP", Kind::I32),
    ("RegionID", Kind::I32),
    ("UserID", Kind::I64),
    ("CounterClass", Kind::I16),
    ("OS", Kind::I16),
    ("UserAgent", Kind::I16),
    ("URL", Kind::Str),
    ("Referer", Kind::Str),
    ("IsRefresh", Kind::I16),
    ("RefererCategoryID", Kind::I16),
    ("RefererRegionID", Kind::I32),
    ("URLCategoryID", Kind::I16),
    ("URLRegionID", Kind::I32),
    ("ResolutionWidth", Kind::I16),
    ("ResolutionHeight", Kind::I16),
    ("ResolutionDepth", Kind::I16),
    ("FlashMajor", Kind::I16),
    ("FlashMinor", Kind::I16),
    ("FlashMinor2", Kind::Str),
    ("NetMajor", Kind::I16),
    ("NetMinor", Kind::I16),
    ("UserAgentMajor", Kind::I16),
    ("UserAgentMinor", Kind::Str),
    ("CookieEnable", Kind::I16),
    ("JavascriptEnable", Kind::I16),
    ("IsMobile", Kind::I16),
    ("MobilePhone", Kind::I16),
    ("MobilePhoneModel", Kind::Str),
    ("Params", Kind::Str),
    ("IPNetworkID", Kind::I32),
    ("TraficSourceID", Kind::I16),
    ("SearchEngineID", Kind::I16),
    ("SearchPhrase", Kind::Str),
    ("AdvEngineID", Kind::I16),
    ("IsArtifical", Kind::I16),
    ("WindowClientWidth", Kind::I16),
    ("WindowClientHeight", Kind::I16),
    ("ClientTimeZone", Kind::I16),
    ("ClientEventTime", Kind::Seconds),
    ("SilverlightVersion1", Kind::I16),
    ("SilverlightVersion2", Kind::I16),
    ("SilverlightVersion3", Kind::I32),
    ("SilverlightVersion4", Kind::I16),
    ("PageCharset", Kind::Str),
    ("CodeVersion", Kind::I32),
    ("IsLink", Kind::I16),
    ("IsDownload", Kind::I16),
    ("IsNotBounce", Kind::I16),
    ("FUniqID", Kind::I64),
    ("OriginalURL", Kind::Str),
    ("HID", Kind::I32),
    ("IsOldCounter", Kind::I16),
    ("IsEvent", Kind::I16),
    ("IsParameter", Kind::I16),
    ("DontCountHits", Kind::I16),
    ("WithHash", Kind::I16),
    ("HitColor", Kind::Str),
    ("LocalEventTime", Kind::Seconds),
    ("Age", Kind::I16),
    ("Sex", Kind::I16),
    ("Income", Kind::I16),
    ("Interests", Kind::I16),
    ("Robotness", Kind::I16),
    ("RemoteIP", Kind::I32),
    ("WindowName", Kind::I32),
    ("OpenerName", Kind::I32),
    ("HistoryLength", Kind::I16),
    ("BrowserLanguage", Kind::Str),
    ("BrowserCountry", Kind::Str),
    ("SocialNetwork", Kind::Str),
    ("SocialAction", Kind::Str),
    ("HTTPError", Kind::I16),
    ("SendTiming", Kind::I32),
    ("DNSTiming", Kind::I32),
    ("ConnectTiming", Kind::I32),
    ("ResponseStartTiming", Kind::I32),
    ("ResponseEndTiming", Kind::I32),
    ("FetchTiming", Kind::I32),
    ("SocialSourceNetworkID", Kind::I16),
    ("SocialSourcePage", Kind::Str),
    ("ParamPrice", Kind::I64),
    ("ParamOrderID", Kind::Str),
    ("ParamCurrency", Kind::Str),
    ("ParamCurrencyID", Kind::I16),
    ("OpenstatServiceName", Kind::Str),
    ("OpenstatCampaignID", Kind::Str),
    ("OpenstatAdID", Kind::Str),
    ("OpenstatSourceID", Kind::Str),
    ("UTMSource", Kind::Str),
    ("UTMMedium", Kind::Str),
    ("UTMCampaign", Kind::Str),
    ("UTMContent", Kind::Str),
    ("UTMTerm", Kind::Str),
    ("FromTag", Kind::Str),
    ("HasGCLID", Kind::I16),
    ("RefererHash", Kind::I64),
    ("URLHash", Kind::I64),
    ("CLID", Kind::I32),
];

/// Columns written without dictionary encoding: high-cardinality ones, where a dictionary
/// costs encoding time and then falls back to plain anyway.
pub const PLAIN_COLUMNS: [&str; 18] = [
    "WatchID",
    "EventTime",
    "ClientEventTime",
    "LocalEventTime",
    "UserID",
    "FUniqID",
    "HID",
    "RemoteIP",
    "ClientIP",
    "WindowName",
    "OpenerName",
    "URLHash",
    "RefererHash",
    "Title",
    "URL",
    "Referer",
    "SearchPhrase",
    "OriginalURL",
];

/// Parquet writer settings for `hits` files.
pub fn writer_properties() -> Result<parquet::file::properties::WriterProperties> {
    super::writer_properties(&PLAIN_COLUMNS)
}

/// The Arrow schema of `hits`: 105 required columns.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(
        COLUMNS
            .iter()
            .map(|(name, kind)| Field::new(*name, kind.data_type(), false))
            .collect::<Vec<_>>(),
    ))
}

// ---------------------------------------------------------------------------------------------
// Real-data facts (spec section 3.4) the plan is built from.

/// The 25 Q28 counters: (CounterID, real rows, average URL bytes).
const HEAD_COUNTERS: [(i32, f64, f64); 25] = [
    (233773, 2_938_865.0, 469.0),
    (245438, 2_510_103.0, 272.0),
    (122612, 3_574_007.0, 239.0),
    (234004, 238_660.0, 204.0),
    (1634, 323_229.0, 198.0),
    (786, 120_528.0, 187.0),
    (114157, 216_408.0, 143.0),
    (515, 146_907.0, 126.0),
    (256004, 858_171.0, 125.0),
    (95427, 374_306.0, 120.0),
    (199550, 7_115_413.0, 110.0),
    (220992, 494_614.0, 106.0),
    (196239, 163_797.0, 98.0),
    (62, 738_150.0, 93.0),
    (96948, 396_093.0, 93.0),
    (188878, 311_998.0, 92.0),
    (249603, 120_325.0, 92.0),
    (3922, 8_527_069.0, 88.0),
    (191697, 124_664.0, 87.0),
    (97467, 131_178.0, 84.0),
    (186300, 802_561.0, 84.0),
    (146891, 605_286.0, 78.0),
    (38, 507_770.0, 76.0),
    (230962, 169_223.0, 76.0),
    (77639, 253_961.0, 75.0),
];

/// Q29's referer hosts: (host, rows on the real data, average referer bytes, search host).
/// The first five, `yandsearch` and `kino` are real names; the rest are plausible stand-ins.
const NAMED_REFERERS: [(&str, f64, f64, bool); 25] = [
    ("go.mail", 8_227_493.0, 120.0, true),
    ("google.ru", 2_158_346.0, 160.0, true),
    ("bonprix.ru", 1_125_057.0, 110.0, false),
    ("e96.ru", 1_018_998.0, 95.0, false),
    ("mysw.info", 984_546.0, 85.0, false),
    ("yandsearch", 900_000.0, 180.0, true),
    ("avito.ru", 820_000.0, 90.0, false),
    ("auto.ru", 760_000.0, 100.0, false),
    ("mail.ru", 700_000.0, 75.0, false),
    ("rambler.ru", 640_000.0, 130.0, false),
    ("vk.com", 590_000.0, 80.0, false),
    ("odnoklassniki.ru", 540_000.0, 140.0, false),
    ("livejournal.com", 490_000.0, 150.0, false),
    ("kinopoisk.ru", 450_000.0, 105.0, false),
    ("sport-express.ru", 410_000.0, 125.0, false),
    ("market.yandex.ru", 370_000.0, 308.0, false),
    ("news.yandex.ru", 330_000.0, 240.0, false),
    ("afisha.ru", 300_000.0, 98.0, false),
    ("rbc.ru", 270_000.0, 115.0, false),
    ("drom.ru", 240_000.0, 88.0, false),
    ("hh.ru", 210_000.0, 92.0, false),
    ("2gis.ru", 185_000.0, 102.0, false),
    ("irr.ru", 160_000.0, 118.0, false),
    ("love.mail.ru", 140_000.0, 200.0, false),
    ("kino", 120_135.0, 135.0, false),
];

/// Other search hosts that bring search referers to about 14% of rows.
const EXTRA_SEARCH_HOSTS: [&str; 4] = [
    "yandex.ru",
    "www.google.com",
    "nova.rambler.ru",
    "search.qip.ru",
];

/// Q8's AdvEngineID mix: (value, real rows).
const ADV_ENGINES: [(i16, f64); 18] = [
    (2, 404_602.0),
    (27, 113_167.0),
    (13, 45_631.0),
    (45, 38_960.0),
    (44, 9_730.0),
    (3, 6_896.0),
    (62, 5_266.0),
    (52, 3_554.0),
    (50, 938.0),
    (28, 836.0),
    (53, 350.0),
    (25, 343.0),
    (61, 158.0),
    (21, 38.0),
    (42, 20.0),
    (16, 7.0),
    (7, 3.0),
    (22, 1.0),
];

/// Q10's top regions: (RegionID, share of rows).
const TOP_REGIONS: [(i32, f64); 10] = [
    (229, 0.183),
    (2, 0.0669),
    (208, 0.0426),
    (169, 0.0332),
    (32, 0.0184),
    (34, 0.0179),
    (184, 0.0176),
    (42, 0.0154),
    (107, 0.0152),
    (51, 0.0144),
];

/// The 10 bots' shares of all rows (Q16).
const BOT_SHARES: [f64; 10] = [
    0.000291, 0.000253, 0.000106, 0.000076, 0.000067, 0.000064, 0.000062, 0.000060, 0.000052,
    0.000049,
];

/// Q36's NAT addresses: shares of all rows.
const NAT_SHARES: [f64; 10] = [
    0.00047, 0.00029, 0.00025, 0.00020, 0.00016, 0.00013, 0.00011, 0.00011, 0.000099, 0.000097,
];

/// Screen widths with their user shares and the usual heights.
const RESOLUTIONS: [(i16, i16, f64); 12] = [
    (1920, 1080, 0.275),
    (1366, 768, 0.205),
    (1280, 1024, 0.13),
    (1600, 900, 0.08),
    (1440, 900, 0.07),
    (1680, 1050, 0.06),
    (1024, 768, 0.08),
    (1536, 864, 0.03),
    (2560, 1440, 0.02),
    (768, 1024, 0.03),
    (360, 640, 0.01),
    (320, 568, 0.01),
];

/// Unix seconds of 2013-07-01 20:00:00 UTC = 2013-07-02 00:00 Moscow (UTC+4).
pub const RANGE_START_S: i64 = 1_372_708_800;
/// Days in the range (2013-07-02 .. 2013-07-31, Moscow dates).
pub const RANGE_DAYS: i64 = 30;
/// EventDate (days since 1970-01-01) of the first Moscow day, 2013-07-02.
pub const FIRST_DATE: u16 = 15_888;
/// Moscow day index (0 = 2013-07-02) of 2013-07-15, the one day of site 62.
const SITE_62_DAY: i64 = 13;
/// Moscow is UTC+4 in the data.
const MOSCOW_OFFSET_S: i64 = 4 * 3600;

// Stream ids for counter-based randomness.
const S_PLAN: u64 = 1;
const S_USER: u64 = 2;
const S_KEYS: u64 = 3;
const S_ROW: u64 = 4;
const S_PAGE: u64 = 5;
const S_TITLE: u64 = 6;
const S_REFERER: u64 = 7;
const S_LINK: u64 = 8;
const S_IP: u64 = 9;
const S_NAT: u64 = 10;

// ---------------------------------------------------------------------------------------------
// The plan.

#[derive(Debug, Clone, Copy, PartialEq)]
enum SiteKind {
    /// One of the 25 Q28 counters other than 62; `top` is its top URL's share.
    Head { top: f64 },
    /// Site 62 (Q37-Q43).
    Site62,
    /// A tail counter.
    Tail,
}

#[derive(Debug, Clone)]
struct Site {
    counter_id: i32,
    rows: u64,
    kind: SiteKind,
    mean_url_bytes: f64,
    pool: u64,
    /// Range into `Plan::segments`.
    segments: std::ops::Range<usize>,
}

/// Per-user attributes (fixed for a user across rows).
#[derive(Debug, Clone, Copy)]
struct User {
    id: i64,
    region: i32,
    ip: [u32; 3],
    ips: u8,
    resolution: u8,
    model: u16,
    phone: i16,
    bot: bool,
}

/// Everything decided before rows: sites, users, which user fills which site, exact placements.
struct Plan {
    seed: u64,
    rows: u64,
    sites: Vec<Site>,
    users: Vec<User>,
    /// (user index, rows) runs, grouped by site.
    segments: Vec<(u32, u32)>,
    ip_pool: u64,
    adv: Vec<(u64, i16)>,
    google: Vec<u64>,
    tables: Tables,
}

/// Samplers shared by all rows.
struct Tables {
    month_hours: Weighted,
    day_hours: Weighted,
    regions: Weighted,
    region_ids: Vec<i32>,
    resolutions: Weighted,
    models: Vec<String>,
    model_pick: Weighted,
    referer: Weighted,
    referer_external: Weighted,
    referer_hosts: Vec<RefererHost>,
    site62_pages: Weighted,
    site62_titles: Weighted,
    link_dest: Weighted,
    head_phrases: Weighted,
    google_phrases: Weighted,
    search_engines: Weighted,
    nat: Weighted,
    tail_phrase_vocab: u64,
}

#[derive(Debug, Clone)]
struct RefererHost {
    host: &'static str,
    mean_bytes: f64,
    search: bool,
}

/// Referer categories of the `referer` table: 0 = empty, 1..=hosts = a host, last = internal.
fn referer_internal(t: &Tables) -> usize {
    t.referer_hosts.len() + 1
}

impl Plan {
    fn new(rows: u64, seed: u64) -> Result<Plan> {
        if rows < MIN_ROWS {
            return Err(Error::InvalidArgument(format!(
                "hits needs at least {MIN_ROWS} rows, got {rows}"
            )));
        }
        let n = rows as f64;
        let floor_scale = (n / SPEC_MIN_ROWS as f64).min(1.0);
        let mut rng = Rng::for_index(seed, S_PLAN, 0);

        // Sites: head counters with floors, then a capped Zipf tail.
        let mut sites = Vec::new();
        let mut head_rows = 0u64;
        for (i, &(id, real, mean_url)) in HEAD_COUNTERS.iter().enumerate() {
            let (r, kind) = if id == SITE_62 {
                (
                    (738_150.0 * n / 1e8).max(150_000.0 * floor_scale),
                    SiteKind::Site62,
                )
            } else {
                let top = if id == 3922 {
                    0.385
                } else {
                    0.25 + 0.15 * super::dist::unit_f64(hash3(seed, S_PLAN, i as u64))
                };
                (
                    (real * n / REAL_ROWS).max(110_000.0 * floor_scale),
                    SiteKind::Head { top },
                )
            };
            let r = r.round() as u64;
            head_rows += r;
            sites.push(Site {
                counter_id: id,
                rows: r,
                kind,
                mean_url_bytes: mean_url,
                pool: 0,
                segments: 0..0,
            });
        }
        let tail_rows = rows.checked_sub(head_rows).ok_or_else(|| {
            Error::InvalidArgument(format!("{rows} rows cannot hold the head counters"))
        })?;
        let head_ids: std::collections::HashSet<i32> = HEAD_COUNTERS.iter().map(|h| h.0).collect();
        let mut tail_ids = Vec::with_capacity(20_000);
        let mut taken = head_ids.clone();
        while tail_ids.len() < 20_000 {
            let id = 1 + rng.below(300_000) as i32;
            if taken.insert(id) {
                tail_ids.push(id);
            }
        }
        let cap = (90_000.0 * floor_scale).max(1.0);
        let quotas = capped_zipf(tail_rows, tail_ids.len(), 1.2, cap);
        for (id, q) in tail_ids.iter().zip(quotas) {
            if q > 0 {
                sites.push(Site {
                    counter_id: *id,
                    rows: q,
                    kind: SiteKind::Tail,
                    mean_url_bytes: 70.0,
                    pool: 0,
                    segments: 0..0,
                });
            }
        }
        sites.sort_by_key(|s| s.counter_id);
        for s in &mut sites {
            s.pool = match s.kind {
                SiteKind::Site62 => 20_000,
                _ => ((0.6 * (s.rows as f64).powf(0.85)).round() as u64).max(1),
            };
        }

        // Users: counts per user, then attributes.
        let user_count = ((0.1763 * n).round() as usize).max(12);
        let bot_rows: Vec<u32> = BOT_SHARES
            .iter()
            .map(|s| ((s * n).round() as u32).max(1))
            .collect();
        let fixed_rows: u64 = bot_rows.iter().map(|&r| u64::from(r)).sum::<u64>() + 4;
        let regular = user_count - 11;
        let regular_rows = rows - fixed_rows;
        if regular_rows < regular as u64 {
            return Err(Error::InvalidArgument(format!("{rows} rows are too few")));
        }
        let max_rows = ((0.9 * f64::from(bot_rows[9])).floor() as u32).max(50);
        let lomax = DiscreteLomax::with_mean(regular_rows as f64 / regular as f64, 1.25, max_rows);
        let mut counts: Vec<u32> = Vec::with_capacity(user_count);
        counts.extend_from_slice(&bot_rows);
        counts.push(4);
        for _ in 0..regular {
            counts.push(lomax.sample(&mut rng));
        }
        // Make the regular users' rows sum exactly to what is left.
        let mut sum: u64 = counts[11..].iter().map(|&c| u64::from(c)).sum();
        while sum != regular_rows {
            let i = 11 + rng.below(regular as u64) as usize;
            if sum < regular_rows && counts[i] < max_rows {
                counts[i] += 1;
                sum += 1;
            } else if sum > regular_rows && counts[i] > 1 {
                counts[i] -= 1;
                sum -= 1;
            }
        }

        let tables = Tables::new(seed, rows, floor_scale)?;
        let ip_pool = ((user_count as f64 / 1.4) as u64).max(1);
        let mut users = Vec::with_capacity(user_count);
        for u in 0..user_count {
            let mut r = Rng::for_index(seed, S_USER, u as u64);
            let id = if u == 10 {
                POINT_USER_ID
            } else {
                let v = 1 + r.below(i64::MAX as u64) as i64;
                let v = if r.chance(0.774) { v } else { -v };
                if v == POINT_USER_ID {
                    v - 1
                } else {
                    v
                }
            };
            let region = tables.region_ids[tables.regions.sample(&mut r)];
            let ips = if u < 10 || r.chance(0.8) {
                1
            } else {
                2 + r.below(2) as u8
            };
            let ip = [
                r.below(ip_pool) as u32,
                r.below(ip_pool) as u32,
                r.below(ip_pool) as u32,
            ];
            let resolution = tables.resolutions.sample(&mut r) as u8;
            let (model, phone) = if r.chance(0.065) {
                let m = tables.model_pick.sample(&mut r);
                let phone = match m {
                    0 => {
                        if r.chance(0.85) {
                            1
                        } else {
                            [5, 6, 7, 10, 32, 13][r.below(6) as usize]
                        }
                    }
                    1 => {
                        if r.chance(0.5) {
                            6
                        } else {
                            26
                        }
                    }
                    2 => 118,
                    _ => 1 + r.below(150) as i16,
                };
                (m as u16 + 1, phone)
            } else {
                (0, 0)
            };
            users.push(User {
                id,
                region,
                ip,
                ips,
                resolution,
                model,
                phone,
                bot: u < 10,
            });
        }

        // Fill site quotas with users in a shuffled order; a user may straddle two sites.
        let mut order: Vec<u32> = (0..user_count as u32).collect();
        rng.shuffle(&mut order);
        let mut segments = Vec::with_capacity(user_count + sites.len());
        let mut next = 0usize;
        let mut left = counts[order[0] as usize];
        for site in &mut sites {
            let start = segments.len();
            let mut need = site.rows;
            while need > 0 {
                if left == 0 {
                    next += 1;
                    left = counts[order[next] as usize];
                }
                let take = u64::from(left).min(need) as u32;
                segments.push((order[next], take));
                left -= take;
                need -= u64::from(take);
            }
            site.segments = start..segments.len();
        }
        assert!(
            next + 1 == order.len() && left == 0,
            "users and site quotas disagree"
        );

        // Exact placements: the AdvEngineID mix (each value at least once) and Google URLs.
        let mut adv_values = Vec::new();
        for &(v, real) in &ADV_ENGINES {
            let c = ((real * n / REAL_ROWS).round() as u64).max(1);
            adv_values.extend(std::iter::repeat_n(v, c as usize));
        }
        rng.shuffle(&mut adv_values);
        let adv_positions = distinct_positions(&mut rng, rows, adv_values.len());
        let adv = adv_positions.into_iter().zip(adv_values).collect();
        // At least 10 rows so that Q24 returns 10 rows at any N.
        let google_rows = ((0.000159 * n).round().max((1500.0 * floor_scale).round()) as usize)
            .max(10)
            .min(rows as usize / 10);
        let google = distinct_positions(&mut rng, rows, google_rows);

        Ok(Plan {
            seed,
            rows,
            sites,
            users,
            segments,
            ip_pool,
            adv,
            google,
            tables,
        })
    }
}

/// `total` rows over `n` ranks with Zipf weights `k^-s`, no rank above `cap`; exact sum.
fn capped_zipf(total: u64, n: usize, s: f64, cap: f64) -> Vec<u64> {
    let weights: Vec<f64> = (1..=n).map(|k| (k as f64).powf(-s)).collect();
    let mut share = vec![0.0; n];
    let mut capped = vec![false; n];
    let mut remaining = total as f64;
    loop {
        let free: f64 = weights
            .iter()
            .zip(&capped)
            .filter(|(_, &c)| !c)
            .map(|(w, _)| w)
            .sum();
        let mut changed = false;
        for i in 0..n {
            if !capped[i] {
                share[i] = remaining * weights[i] / free;
            }
        }
        for i in 0..n {
            if !capped[i] && share[i] > cap {
                capped[i] = true;
                share[i] = cap;
                changed = true;
            }
        }
        if !changed || free <= 0.0 {
            break;
        }
        remaining = total as f64
            - share
                .iter()
                .zip(&capped)
                .filter(|(_, &c)| c)
                .map(|(s, _)| s)
                .sum::<f64>();
    }
    // Largest-remainder rounding to an exact total.
    let mut out: Vec<u64> = share.iter().map(|s| s.floor() as u64).collect();
    let mut short = total - out.iter().sum::<u64>();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        let fa = share[a] - share[a].floor();
        let fb = share[b] - share[b].floor();
        fb.total_cmp(&fa).then(a.cmp(&b))
    });
    for i in order {
        if short == 0 {
            break;
        }
        out[i] += 1;
        short -= 1;
    }
    out
}

/// `k` distinct positions in `0..n`, sorted.
fn distinct_positions(rng: &mut Rng, n: u64, k: usize) -> Vec<u64> {
    let k = k.min(n as usize);
    let mut out: Vec<u64> = Vec::with_capacity(k);
    while out.len() < k {
        while out.len() < k {
            out.push(rng.below(n));
        }
        out.sort_unstable();
        out.dedup();
    }
    out
}

impl Tables {
    fn new(seed: u64, rows: u64, floor_scale: f64) -> Result<Tables> {
        let n = rows as f64;
        // Time: Moscow days 07-02..07-31 (weekends 0.85) x hours (0.9 + 0.6 sin(2pi(h-10)/24)).
        let hour_weight =
            |h: i64| 0.9 + 0.6 * (std::f64::consts::TAU * (h as f64 - 10.0) / 24.0).sin();
        let mut month = Vec::with_capacity(720);
        for d in 0..RANGE_DAYS {
            let weekday = (1 + d) % 7; // 0 = Monday; 2013-07-02 was a Tuesday
            let dw = if weekday >= 5 { 0.85 } else { 1.0 };
            for h in 0..24 {
                month.push(dw * hour_weight(h));
            }
        }
        let day: Vec<f64> = (0..24).map(hour_weight).collect();

        // Regions: the 10 real ones, then 5,000 others continuing a Zipf(1.1) curve.
        let mut region_ids: Vec<i32> = TOP_REGIONS.iter().map(|r| r.0).collect();
        let mut region_w: Vec<f64> = TOP_REGIONS.iter().map(|r| r.1).collect();
        let rest = 1.0 - region_w.iter().sum::<f64>();
        let tail = Weighted::zipf(5000, 1.1, 10);
        let tail_w: Vec<f64> = (0..5000).map(|k| ((k + 11) as f64).powf(-1.1)).collect();
        let tail_sum: f64 = tail_w.iter().sum();
        let mut id = 1;
        for w in tail_w {
            while region_ids.contains(&id) {
                id += 1;
            }
            region_ids.push(id);
            region_w.push(rest * w / tail_sum);
            id += 1;
        }
        drop(tail);

        // Mobile models: five real ones, then a tail of 150.
        let mut models: Vec<String> = ["iPad", "iPhone", "A500", "N8-00", "iPho"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut model_w = vec![0.80, 0.05, 0.015, 0.005, 0.003];
        let prefixes = [
            "GT-I",
            "SM-G",
            "LG-P",
            "HTC ",
            "Nokia ",
            "ONE TOUCH ",
            "Lenovo A",
            "MT",
        ];
        for k in 0..150u64 {
            models.push(format!(
                "{}{}",
                prefixes[(k % prefixes.len() as u64) as usize],
                1000 + mix64(seed ^ k) % 9000
            ));
            model_w.push(0.127 / 150.0 * (150.0 / (k as f64 + 1.0)).sqrt());
        }

        // Referers for rows outside site 62.
        let rows_62 = (738_150.0 * n / 1e8).max(150_000.0 * floor_scale);
        let non62 = n - rows_62;
        let mut hosts: Vec<RefererHost> = Vec::new();
        let mut host_w = Vec::new();
        let mut search_rows = 0.0;
        for &(host, real, mean, search) in &NAMED_REFERERS {
            let r = (real * n / 1e8).max(110_000.0 * floor_scale);
            if search {
                search_rows += r;
            }
            hosts.push(RefererHost {
                host,
                mean_bytes: mean,
                search,
            });
            host_w.push(r / non62);
        }
        let extra = (0.14 * n - search_rows).max(0.0) / non62;
        for host in EXTRA_SEARCH_HOSTS {
            hosts.push(RefererHost {
                host,
                mean_bytes: 110.0,
                search: true,
            });
            host_w.push(extra / EXTRA_SEARCH_HOSTS.len() as f64);
        }
        let named: f64 = host_w.iter().sum();
        let internal_min = 0.08;
        if named + internal_min > 1.0 {
            return Err(Error::InvalidArgument(format!(
                "{rows} rows cannot hold the named referer hosts"
            )));
        }
        let empty = 0.40f64.min(1.0 - named - internal_min);
        let internal = 1.0 - named - empty;
        let mut referer_w = vec![empty];
        referer_w.extend_from_slice(&host_w);
        referer_w.push(internal);

        // Site 62: pages and titles with the spec's head shares, then Zipf(1.05) tails.
        let site62_pages = head_then_zipf(&[0.14, 0.07, 0.025, 0.022, 0.017], 20_000, 1.05);
        let site62_titles = head_then_zipf(&[0.166, 0.112, 0.110, 0.053, 0.031], 10_000, 1.05);

        // Search engines: 2 -> 66%, 3 -> 24%, the rest 1 and 4..30.
        let mut se_w = vec![0.0; 31];
        se_w[2] = 0.66;
        se_w[3] = 0.24;
        se_w[1] = 0.04;
        for w in se_w.iter_mut().skip(4) {
            *w = 0.06 / 27.0;
        }

        Ok(Tables {
            month_hours: Weighted::new(&month),
            day_hours: Weighted::new(&day),
            regions: Weighted::new(&region_w),
            region_ids,
            resolutions: Weighted::new(&RESOLUTIONS.iter().map(|r| r.2).collect::<Vec<_>>()),
            models,
            model_pick: Weighted::new(&model_w),
            referer: Weighted::new(&referer_w),
            referer_external: Weighted::new(&host_w),
            referer_hosts: hosts,
            site62_pages,
            site62_titles,
            link_dest: Weighted::zipf(5_000, 0.6, 0),
            head_phrases: Weighted::zipf(100_000, 0.75, 0),
            google_phrases: Weighted::zipf(text::GOOGLE_PHRASES.len(), 1.0, 0),
            search_engines: Weighted::new(&se_w),
            nat: Weighted::new(&NAT_SHARES),
            tail_phrase_vocab: ((0.2 * n) as u64).max(1),
        })
    }
}

/// A table whose first entries have fixed shares and whose remaining mass follows Zipf(s) over
/// the other `n - head.len()` outcomes.
fn head_then_zipf(head: &[f64], n: usize, s: f64) -> Weighted {
    let rest = 1.0 - head.iter().sum::<f64>();
    let tail: Vec<f64> = (1..=n - head.len()).map(|k| (k as f64).powf(-s)).collect();
    let tail_sum: f64 = tail.iter().sum();
    let mut w = head.to_vec();
    w.extend(tail.iter().map(|t| rest * t / tail_sum));
    Weighted::new(&w)
}

// ---------------------------------------------------------------------------------------------
// Rows.

/// A row's sort key before WatchIDs are known.
#[derive(Debug, Clone, Copy)]
/// The user's attributes travel with the key: rows are visited in key order, and looking users
/// up by index per row would miss the cache on every row.
struct Key {
    date: u16,
    dup: bool,
    user: u32,
    time: i64,
    watch: i64,
    attrs: User,
}

/// A string column under construction. Values arrive as `&str`, so the finished array needs
/// no UTF-8 validation pass.
struct StrCol {
    builder: StringBuilder,
    /// Scratch for re-sent rows.
    last: String,
}

impl StrCol {
    fn with_capacity(rows: usize, bytes: usize) -> StrCol {
        StrCol {
            builder: StringBuilder::with_capacity(rows, bytes),
            last: String::new(),
        }
    }

    #[inline]
    fn push(&mut self, s: &str) {
        self.builder.append_value(s);
    }

    /// Appends the last value again (a re-sent row; rare, so the copy and check are cheap).
    fn push_last_again(&mut self) {
        let offsets = self.builder.offsets_slice();
        let n = offsets.len();
        if n < 2 {
            return;
        }
        let (start, end) = (offsets[n - 2] as usize, offsets[n - 1] as usize);
        self.last.clear();
        self.last
            .push_str(std::str::from_utf8(&self.builder.values_slice()[start..end]).unwrap_or(""));
        self.builder.append_value(&self.last);
    }

    fn finish(mut self) -> Result<StringArray> {
        Ok(self.builder.finish())
    }
}

/// The row-wise ("core") columns of one batch, plus what the filler pass needs.
struct Chunk {
    src: Vec<u64>,
    user: Vec<u32>,
    watch: Vec<i64>,
    title: StrCol,
    time: Vec<i64>,
    date: Vec<u16>,
    counter: Vec<i32>,
    client_ip: Vec<i32>,
    region: Vec<i32>,
    user_id: Vec<i64>,
    url: StrCol,
    referer: StrCol,
    is_refresh: Vec<i16>,
    res_w: Vec<i16>,
    res_h: Vec<i16>,
    is_mobile: Vec<i16>,
    phone: Vec<i16>,
    model: StrCol,
    trafic: Vec<i16>,
    engine: Vec<i16>,
    phrase: StrCol,
    adv: Vec<i16>,
    win_w: Vec<i16>,
    win_h: Vec<i16>,
    is_link: Vec<i16>,
    is_download: Vec<i16>,
    dont_count: Vec<i16>,
    referer_hash: Vec<i64>,
    url_hash: Vec<i64>,
    response_end: Vec<i32>,
}

impl Chunk {
    fn new() -> Chunk {
        let n = BATCH_ROWS + 16;
        Chunk {
            src: Vec::with_capacity(n),
            user: Vec::with_capacity(n),
            watch: Vec::with_capacity(n),
            title: StrCol::with_capacity(n, n * 64),
            time: Vec::with_capacity(n),
            date: Vec::with_capacity(n),
            counter: Vec::with_capacity(n),
            client_ip: Vec::with_capacity(n),
            region: Vec::with_capacity(n),
            user_id: Vec::with_capacity(n),
            url: StrCol::with_capacity(n, n * 128),
            referer: StrCol::with_capacity(n, n * 96),
            is_refresh: Vec::with_capacity(n),
            res_w: Vec::with_capacity(n),
            res_h: Vec::with_capacity(n),
            is_mobile: Vec::with_capacity(n),
            phone: Vec::with_capacity(n),
            model: StrCol::with_capacity(n, n / 4),
            trafic: Vec::with_capacity(n),
            engine: Vec::with_capacity(n),
            phrase: StrCol::with_capacity(n, n * 8),
            adv: Vec::with_capacity(n),
            win_w: Vec::with_capacity(n),
            win_h: Vec::with_capacity(n),
            is_link: Vec::with_capacity(n),
            is_download: Vec::with_capacity(n),
            dont_count: Vec::with_capacity(n),
            referer_hash: Vec::with_capacity(n),
            url_hash: Vec::with_capacity(n),
            response_end: Vec::with_capacity(n),
        }
    }

    fn len(&self) -> usize {
        self.src.len()
    }

    /// Appends an exact copy of the last row (a re-sent event).
    fn push_last_again(&mut self) {
        fn again<T: Copy>(v: &mut Vec<T>) {
            if let Some(&x) = v.last() {
                v.push(x);
            }
        }
        again(&mut self.src);
        again(&mut self.user);
        again(&mut self.watch);
        self.title.push_last_again();
        again(&mut self.time);
        again(&mut self.date);
        again(&mut self.counter);
        again(&mut self.client_ip);
        again(&mut self.region);
        again(&mut self.user_id);
        self.url.push_last_again();
        self.referer.push_last_again();
        again(&mut self.is_refresh);
        again(&mut self.res_w);
        again(&mut self.res_h);
        again(&mut self.is_mobile);
        again(&mut self.phone);
        self.model.push_last_again();
        again(&mut self.trafic);
        again(&mut self.engine);
        self.phrase.push_last_again();
        again(&mut self.adv);
        again(&mut self.win_w);
        again(&mut self.win_h);
        again(&mut self.is_link);
        again(&mut self.is_download);
        again(&mut self.dont_count);
        again(&mut self.referer_hash);
        again(&mut self.url_hash);
        again(&mut self.response_end);
    }
}

/// Lazily built strings (URLs or titles) of one site, indexed by page, with their hashes.
#[derive(Default)]
struct Pool {
    arena: String,
    span: Vec<(u32, u32)>,
    hash: Vec<i64>,
}

const UNBUILT: u32 = u32::MAX;

impl Pool {
    fn reset(&mut self, size: usize) {
        self.arena.clear();
        self.span.clear();
        self.span.resize(size, (UNBUILT, 0));
        self.hash.clear();
        self.hash.resize(size, 0);
    }

    /// The string at `i`, building it with `build` the first time.
    #[inline]
    fn get(&mut self, i: usize, build: impl FnOnce(&mut String)) -> (&str, i64) {
        if self.span[i].0 == UNBUILT {
            let start = self.arena.len();
            build(&mut self.arena);
            let s = &self.arena[start..];
            self.hash[i] = text::hash_bytes(s.as_bytes());
            self.span[i] = (start as u32, self.arena.len() as u32);
        }
        let (a, b) = self.span[i];
        (&self.arena[a as usize..b as usize], self.hash[i])
    }
}

/// Per-site state while its rows are produced.
struct SiteState {
    index: usize,
    domain: String,
    keys: Vec<Key>,
    next: usize,
    pages: PageSampler,
    title_pool: u64,
    urls: Pool,
    titles: Pool,
}

enum PageSampler {
    /// Zipf over all pages (tail sites).
    Zipf(Zipf),
    /// Page 0 with probability `top`, otherwise Zipf over the others.
    Head { top: f64, rest: Option<Zipf> },
    /// Site 62's table.
    Site62,
}

/// Streams the `hits` table as Arrow batches in primary-key order.
pub struct HitsGenerator {
    plan: Plan,
    schema: SchemaRef,
    site: Option<SiteState>,
    next_site: usize,
    position: u64,
    adv_next: usize,
    adv_pending: VecDeque<i16>,
    google_next: usize,
    google_pending: u64,
    phrase_run: PhraseRun,
    link_pool: Pool,
    referer_pools: Vec<Pool>,
    scratch: String,
}

#[derive(Default, Clone, Copy)]
struct PhraseRun {
    user: u32,
    date: u16,
    phrase: u64,
    engine: i16,
    left: u32,
}

impl HitsGenerator {
    /// A generator for `rows` rows from `seed`.
    pub fn new(rows: u64, seed: u64) -> Result<HitsGenerator> {
        let plan = Plan::new(rows, seed)?;
        let mut link_pool = Pool::default();
        link_pool.reset(5_000);
        let referer_pools = plan
            .tables
            .referer_hosts
            .iter()
            .map(|_| {
                let mut p = Pool::default();
                p.reset(REFERER_VARIANTS);
                p
            })
            .collect();
        Ok(HitsGenerator {
            plan,
            schema: schema(),
            site: None,
            next_site: 0,
            position: 0,
            adv_next: 0,
            adv_pending: VecDeque::new(),
            google_next: 0,
            google_pending: 0,
            phrase_run: PhraseRun::default(),
            link_pool,
            referer_pools,
            scratch: String::with_capacity(4096),
        })
    }

    /// The schema of the batches.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Total rows this generator produces.
    pub fn rows(&self) -> u64 {
        self.plan.rows
    }

    /// The next batch (about [`BATCH_ROWS`] rows; a batch never ends between a row and its
    /// re-sent copy), or `None` at the end.
    pub fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        let mut chunk = Chunk::new();
        loop {
            if self.site.as_ref().is_none_or(|s| s.next == s.keys.len()) {
                if self.next_site == self.plan.sites.len() {
                    break;
                }
                let index = self.next_site;
                self.next_site += 1;
                self.site = Some(self.start_site(index));
            }
            let Some(mut site) = self.site.take() else {
                break;
            };
            while site.next < site.keys.len() {
                let key = site.keys[site.next];
                if chunk.len() >= BATCH_ROWS && !key.dup {
                    break;
                }
                let next_is_dup = site.keys.get(site.next + 1).is_some_and(|k| k.dup);
                self.row(&mut chunk, &mut site, key, next_is_dup);
                site.next += 1;
                self.position += 1;
            }
            self.site = Some(site);
            if chunk.len() >= BATCH_ROWS {
                break;
            }
        }
        if chunk.len() == 0 {
            return Ok(None);
        }
        self.finish(chunk).map(Some)
    }

    /// Sorted keys, WatchIDs and re-sent duplicates of one site.
    fn start_site(&mut self, index: usize) -> SiteState {
        let seed = self.plan.seed;
        let site = &self.plan.sites[index];
        let t = &self.plan.tables;
        let mut keys = Vec::with_capacity(site.rows as usize);
        let is_62 = site.kind == SiteKind::Site62;
        let range_end = RANGE_START_S + RANGE_DAYS * 86_400;
        for si in site.segments.clone() {
            let (user, count) = self.plan.segments[si];
            let u = &self.plan.users[user as usize];
            let mut rng = Rng::for_index(seed, S_KEYS, si as u64);
            let mut prev: Option<i64> = None;
            for _ in 0..count {
                let fresh = |rng: &mut Rng| -> i64 {
                    if is_62 {
                        let h = t.day_hours.sample(rng) as i64;
                        RANGE_START_S + SITE_62_DAY * 86_400 + h * 3600 + rng.below(3600) as i64
                    } else if u.bot {
                        RANGE_START_S + rng.below((RANGE_DAYS * 86_400) as u64) as i64
                    } else {
                        let b = t.month_hours.sample(rng) as i64;
                        RANGE_START_S + b * 3600 + rng.below(3600) as i64
                    }
                };
                let time = match prev {
                    // Sessions: half of a user's later rows follow the previous one closely.
                    Some(p) if !u.bot && rng.chance(0.5) => {
                        let tt = p + rng.range_i64(10, 300);
                        let day_end = if is_62 {
                            RANGE_START_S + (SITE_62_DAY + 1) * 86_400
                        } else {
                            range_end
                        };
                        if tt < day_end {
                            tt
                        } else {
                            fresh(&mut rng)
                        }
                    }
                    _ => fresh(&mut rng),
                };
                prev = Some(time);
                keys.push(Key {
                    date: date_of(time),
                    dup: false,
                    user,
                    attrs: *u,
                    time,
                    watch: 0,
                });
            }
        }
        keys.sort_unstable_by_key(|k| (k.date, k.attrs.id, k.time));

        // Re-sent events: 0.02% of rows repeat the previous row of the same user and day.
        let eligible = keys
            .windows(2)
            .filter(|w| w[0].user == w[1].user && w[0].date == w[1].date)
            .count();
        let mut rng = Rng::for_index(seed, S_KEYS, u64::MAX - index as u64);
        if eligible > 0 {
            let p = (0.0002 * keys.len() as f64 / eligible as f64).min(1.0);
            for i in 1..keys.len() {
                let (a, b) = (keys[i - 1], keys[i]);
                if a.user == b.user && a.date == b.date && !a.dup && rng.chance(p) {
                    keys[i].time = a.time;
                    keys[i].dup = true;
                }
            }
        }
        // WatchIDs: a bijection of the global row position, ascending within equal keys.
        let offset = mix64(seed ^ 0x3A7C_11D0) & ((1u64 << 63) - 1);
        for (pos, k) in (self.position..).zip(keys.iter_mut()) {
            if !k.dup {
                k.watch = bijection63((pos + offset) & ((1u64 << 63) - 1)).max(1) as i64;
            }
        }
        let mut i = 0;
        while i < keys.len() {
            let mut j = i + 1;
            while j < keys.len()
                && keys[j].date == keys[i].date
                && keys[j].attrs.id == keys[i].attrs.id
                && keys[j].time == keys[i].time
            {
                j += 1;
            }
            if j - i > 1 {
                let mut ids: Vec<i64> = keys[i..j]
                    .iter()
                    .filter(|k| !k.dup)
                    .map(|k| k.watch)
                    .collect();
                ids.sort_unstable();
                let mut it = ids.into_iter();
                let mut last = 0;
                for k in &mut keys[i..j] {
                    if k.dup {
                        k.watch = last;
                    } else {
                        last = it.next().unwrap_or(last);
                        k.watch = last;
                    }
                }
            }
            i = j;
        }

        let pages = match site.kind {
            SiteKind::Site62 => PageSampler::Site62,
            SiteKind::Head { top } => PageSampler::Head {
                top,
                rest: (site.pool > 1).then(|| Zipf::new(site.pool - 1, 1.1)),
            },
            SiteKind::Tail => PageSampler::Zipf(Zipf::new(site.pool, 1.1)),
        };
        let title_pool = match site.kind {
            SiteKind::Site62 => 10_000,
            _ => site.pool.div_ceil(2),
        };
        let mut urls = Pool::default();
        urls.reset(site.pool as usize);
        let mut titles = Pool::default();
        titles.reset(title_pool as usize);
        let domain = if site.counter_id == SITE_62 {
            "irr.ru".to_string()
        } else {
            text::domain(seed, site.counter_id as u64)
        };
        SiteState {
            index,
            domain,
            keys,
            next: 0,
            pages,
            title_pool,
            urls,
            titles,
        }
    }

    /// One row, appended to `chunk`.
    fn row(&mut self, chunk: &mut Chunk, site: &mut SiteState, key: Key, next_is_dup: bool) {
        let pos = self.position;
        // Exact placements move on to the next original row when they hit a re-sent copy.
        while self.adv_next < self.plan.adv.len() && self.plan.adv[self.adv_next].0 == pos {
            self.adv_pending.push_back(self.plan.adv[self.adv_next].1);
            self.adv_next += 1;
        }
        while self.google_next < self.plan.google.len() && self.plan.google[self.google_next] == pos
        {
            self.google_pending += 1;
            self.google_next += 1;
        }
        if key.dup {
            chunk.push_last_again();
            return;
        }
        let seed = self.plan.seed;
        let t = &self.plan.tables;
        let s = &self.plan.sites[site.index];
        let u = key.attrs;
        let is_62 = s.kind == SiteKind::Site62;
        let mut rng = Rng::for_index(seed, S_ROW, pos);

        let adv = self.adv_pending.pop_front().unwrap_or(0);
        let google = self.google_pending > 0;
        if google {
            self.google_pending -= 1;
        }

        // Flags.
        let (p_refresh, p_link, p_download) = if is_62 {
            (0.08, 0.05, 0.05)
        } else {
            (0.04, 0.015, 0.2)
        };
        let is_refresh = rng.chance(p_refresh);
        let dont_count = rng.chance(0.02);
        let is_link = rng.chance(p_link);
        let is_download = is_link && rng.chance(p_download);

        // URL.
        let mut page = 0usize;
        let url_hash;
        if google {
            let dot_google = rng.chance(0.3);
            self.scratch.clear();
            text::push_google_url(&mut self.scratch, &mut rng, &site.domain, dot_google);
            url_hash = text::hash_bytes(self.scratch.as_bytes());
            chunk.url.push(&self.scratch);
        } else if is_62 && is_link {
            let d = t.link_dest.sample(&mut rng);
            let (u_s, h) = self.link_pool.get(d, |out| {
                let mut r = Rng::for_index(seed, S_LINK, d as u64);
                let host = text::domain(seed, 1_000_000 + d as u64 % 700);
                let len = r.lognormal(80.0, 0.5).clamp(20.0, 1024.0) as usize;
                text::push_url(out, &mut r, &host, len);
            });
            url_hash = h;
            chunk.url.push(u_s);
        } else if rng.chance(0.001) {
            url_hash = text::hash_bytes(b"");
            chunk.url.push("");
        } else {
            page = sample_page(&site.pages, t, &mut rng);
            let (u_s, h) = site_url(&mut site.urls, seed, s, &site.domain, page);
            url_hash = if is_62 && page == 0 {
                P_HOME_URL_HASH
            } else {
                h
            };
            chunk.url.push(u_s);
        }

        // Title.
        if !google && rng.chance(0.0008) {
            self.scratch.clear();
            text::push_google_title(&mut self.scratch, &mut rng);
            chunk.title.push(&self.scratch);
        } else if rng.chance(0.08) {
            chunk.title.push("");
        } else {
            let ti = if is_62 {
                t.site62_titles.sample(&mut rng)
            } else if rng.chance(0.85) {
                page / 2
            } else {
                rng.below(site.title_pool) as usize
            };
            let (title, _) = site.titles.get(ti, |out| {
                let mut r = Rng::for_index(seed, S_TITLE ^ ((s.counter_id as u64) << 8), ti as u64);
                let len = r.lognormal(55.0, 0.45).clamp(8.0, 1000.0) as usize;
                text::push_title(out, &mut r, len);
            });
            chunk.title.push(title);
        }

        // Referer and traffic source.
        let internal_cat = referer_internal(t);
        let (cat, p_ref) = if is_62 {
            let x = rng.f64();
            if x < 0.40 {
                (0, false)
            } else if x < 0.49 {
                (internal_cat, true)
            } else if x < 0.76 {
                (internal_cat, false)
            } else {
                (1 + t.referer_external.sample(&mut rng), false)
            }
        } else {
            (t.referer.sample(&mut rng), false)
        };
        let mut trafic: i16;
        let referer_hash;
        let mut search_referer = false;
        if cat == 0 {
            chunk.referer.push("");
            referer_hash = text::hash_bytes(b"");
            trafic = 0;
        } else if cat == internal_cat {
            let rp = if p_ref {
                P_REF_PAGE
            } else {
                sample_page(&site.pages, t, &mut rng)
            };
            let (r_s, h) = site_url(&mut site.urls, seed, s, &site.domain, rp);
            chunk.referer.push(r_s);
            referer_hash = if is_62 && rp == P_REF_PAGE {
                P_REF_REFERER_HASH
            } else {
                h
            };
            trafic = if rng.chance(0.9) { -1 } else { 6 };
        } else {
            let hi = cat - 1;
            let host = &t.referer_hosts[hi];
            let v = rng.below(REFERER_VARIANTS as u64) as usize;
            let (r_s, h) = self.referer_pools[hi].get(v, |out| {
                let mut r = Rng::for_index(seed, S_REFERER ^ ((hi as u64) << 16), v as u64);
                let len = r.lognormal(host.mean_bytes * 0.9, 0.45).clamp(16.0, 4096.0) as usize;
                text::push_url(out, &mut r, host.host, len);
            });
            chunk.referer.push(r_s);
            referer_hash = h;
            if host.search {
                search_referer = true;
                trafic = 2;
            } else {
                trafic = match rng.below(100) {
                    0 => 4,
                    1 => 5,
                    2 => 7,
                    3 => 8,
                    _ => 1,
                };
            }
        }
        if adv != 0 && rng.chance(0.8) {
            trafic = 3;
        }

        // Search phrase and engine.
        let mut phrase: Option<u64> = None;
        let mut engine: i16 = 0;
        let run = self.phrase_run;
        if u.bot || next_is_dup {
            // Bots never search; a row that is about to be re-sent has no phrase (Q32).
        } else if google {
            if rng.chance(0.15) {
                let g = t.google_phrases.sample(&mut rng);
                phrase = Some(u64::MAX - g as u64);
                engine = t.search_engines.sample(&mut rng) as i16;
            }
        } else if run.left > 0 && run.user == key.user && run.date == key.date {
            phrase = Some(run.phrase);
            engine = run.engine;
            self.phrase_run.left -= 1;
        } else {
            let wants = if search_referer {
                rng.chance(PHRASE_ON_SEARCH)
            } else {
                rng.chance(PHRASE_ON_OTHER)
            };
            if wants {
                engine = t.search_engines.sample(&mut rng) as i16;
                let id = if rng.chance(HEAD_RUN_START) {
                    let id = t.head_phrases.sample(&mut rng) as u64;
                    self.phrase_run = PhraseRun {
                        user: key.user,
                        date: key.date,
                        phrase: id,
                        engine,
                        left: rng.below(5) as u32,
                    };
                    id
                } else {
                    100_000 + rng.below(t.tail_phrase_vocab)
                };
                phrase = Some(id);
            }
        }
        if phrase.is_none() && search_referer {
            engine = t.search_engines.sample(&mut rng) as i16;
        }
        match phrase {
            None => chunk.phrase.push(""),
            Some(id) if id > u64::MAX - 64 => chunk
                .phrase
                .push(text::GOOGLE_PHRASES[(u64::MAX - id) as usize]),
            Some(id) => {
                self.scratch.clear();
                text::push_phrase(&mut self.scratch, id);
                chunk.phrase.push(&self.scratch);
            }
        }

        // Device, address, window, timing.
        let (w, h, _) = RESOLUTIONS[u.resolution as usize];
        let (win_w, win_h) = if rng.chance(0.03) {
            (0, 0)
        } else {
            let ww = i64::from(w) - rng.range_i64(0, i64::from(w) / 4);
            let wh = i64::from(h) - rng.range_i64(60, (i64::from(h) * 45 / 100).max(60));
            (ww as i16, wh.max(0) as i16)
        };
        let ip = if rng.chance(NAT_SHARES.iter().sum::<f64>()) {
            hash3(seed, S_NAT, t.nat.sample(&mut rng) as u64) as i32
        } else {
            let k = rng.below(u64::from(u.ips)) as usize;
            hash3(seed, S_IP, u64::from(u.ip[k]) % self.plan.ip_pool) as i32
        };
        let response_end = if rng.chance(0.6) {
            0
        } else {
            rng.lognormal(600.0, 1.153).min(600_000.0) as i32
        };

        chunk.src.push(pos);
        chunk.user.push(key.user);
        chunk.watch.push(key.watch);
        chunk.time.push(key.time);
        chunk.date.push(key.date);
        chunk.counter.push(s.counter_id);
        chunk.client_ip.push(ip);
        chunk.region.push(u.region);
        chunk.user_id.push(u.id);
        chunk.is_refresh.push(i16::from(is_refresh));
        chunk.res_w.push(w);
        chunk.res_h.push(h);
        chunk.is_mobile.push(i16::from(u.model != 0));
        chunk.phone.push(u.phone);
        if u.model == 0 {
            chunk.model.push("");
        } else {
            chunk.model.push(&t.models[u.model as usize - 1]);
        }
        chunk.trafic.push(trafic);
        chunk.engine.push(engine);
        chunk.adv.push(adv);
        chunk.win_w.push(win_w);
        chunk.win_h.push(win_h);
        chunk.is_link.push(i16::from(is_link));
        chunk.is_download.push(i16::from(is_download));
        chunk.dont_count.push(i16::from(dont_count));
        chunk.referer_hash.push(fix_hash(
            referer_hash,
            p_ref || (is_62 && cat == internal_cat),
        ));
        chunk.url_hash.push(fix_hash(
            url_hash,
            is_62 && page == 0 && !google && !is_link,
        ));
        chunk.response_end.push(response_end);
    }

    /// Turns a chunk into a batch: core columns as built, the rest filled column-wise.
    fn finish(&self, chunk: Chunk) -> Result<RecordBatch> {
        let mut core = CoreColumns::from(chunk)?;
        let ctx = filler::Context {
            seed: self.plan.seed,
            tables: &self.plan.tables,
            users: &self.plan.users,
        };
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(COLUMNS.len());
        for (ordinal, (name, _)) in COLUMNS.iter().enumerate() {
            let array = match core.take(name) {
                Some(a) => a,
                None => filler::column(&ctx, ordinal as u64, name, &core)?,
            };
            columns.push(array);
        }
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

/// Referers per named host: each host has this many distinct referer strings.
const REFERER_VARIANTS: usize = 1024;
/// The page of site 62 that is P_ref (Q41).
const P_REF_PAGE: usize = 7;
/// Probability that a new phrase is a head draw (which starts a 1-5 row run on the user's
/// following rows of the day). Tuned with the two below on 5M rows so that about 11% of rows
/// carry a phrase and COUNT(DISTINCT SearchPhrase) is about 6% of N: the spec's "75% of
/// search-traffic rows plus 0.5% of others" counts run continuations too, and taken literally
/// gives 13% and 7.4%.
const HEAD_RUN_START: f64 = 0.37;
/// Probability that a search-referer row starts a phrase (spec: 75%, see above).
const PHRASE_ON_SEARCH: f64 = 0.60;
/// Probability that another row starts a phrase (spec: 0.5%, see above).
const PHRASE_ON_OTHER: f64 = 0.004;

/// Keeps the two magic hash values for their designated pages only.
#[inline]
fn fix_hash(h: i64, designated: bool) -> i64 {
    if !designated && (h == P_HOME_URL_HASH || h == P_REF_REFERER_HASH) {
        h ^ 1
    } else {
        h
    }
}

#[inline]
fn sample_page(pages: &PageSampler, t: &Tables, rng: &mut Rng) -> usize {
    match pages {
        PageSampler::Zipf(z) => z.sample(rng) as usize - 1,
        PageSampler::Head { top, rest } => match rest {
            Some(z) if !rng.chance(*top) => z.sample(rng) as usize,
            _ => 0,
        },
        PageSampler::Site62 => t.site62_pages.sample(rng),
    }
}

/// The URL of `page` of site `s`: a pure function of (seed, site, page).
#[inline]
fn site_url<'a>(
    pool: &'a mut Pool,
    seed: u64,
    s: &Site,
    domain: &str,
    page: usize,
) -> (&'a str, i64) {
    pool.get(page, |out| {
        let mut r = Rng::for_index(seed, S_PAGE ^ ((s.counter_id as u64) << 8), page as u64);
        let median = s.mean_url_bytes * (-0.18f64).exp();
        let len = r
            .lognormal(median, 0.6)
            .clamp(domain.len() as f64 + 9.0, 4096.0) as usize;
        text::push_url(out, &mut r, domain, len);
    })
}

/// EventDate (Moscow date, days since 1970-01-01) of a UTC Unix time.
#[inline]
pub fn date_of(time_s: i64) -> u16 {
    (time_s + MOSCOW_OFFSET_S).div_euclid(86_400) as u16
}

/// The finished core columns of a batch, taken by name when the batch is assembled.
pub(crate) struct CoreColumns {
    arrays: Vec<(&'static str, Option<ArrayRef>)>,
    /// Source row per row (a re-sent copy shares its original's), for the filler pass.
    pub(crate) src: Vec<u64>,
    /// User index per row.
    pub(crate) user: Vec<u32>,
    /// EventTime per row.
    pub(crate) time: Vec<i64>,
    /// ResponseEndTiming per row.
    pub(crate) response_end: Vec<i32>,
    /// URL per row.
    pub(crate) url: StringArray,
    /// RegionID per row.
    pub(crate) region: Vec<i32>,
}

impl CoreColumns {
    fn from(c: Chunk) -> Result<CoreColumns> {
        let i16a = |v: Vec<i16>| -> ArrayRef { Arc::new(Int16Array::from(v)) };
        let i32a = |v: Vec<i32>| -> ArrayRef { Arc::new(Int32Array::from(v)) };
        let i64a = |v: Vec<i64>| -> ArrayRef { Arc::new(Int64Array::from(v)) };
        let url = c.url.finish()?;
        let arrays: Vec<(&'static str, Option<ArrayRef>)> = vec![
            ("WatchID", Some(i64a(c.watch))),
            ("Title", Some(Arc::new(c.title.finish()?))),
            ("EventTime", Some(i64a(c.time.clone()))),
            ("EventDate", Some(Arc::new(UInt16Array::from(c.date)))),
            ("CounterID", Some(i32a(c.counter))),
            ("ClientIP", Some(i32a(c.client_ip))),
            ("RegionID", Some(i32a(c.region.clone()))),
            ("UserID", Some(i64a(c.user_id))),
            ("URL", Some(Arc::new(url.clone()))),
            ("Referer", Some(Arc::new(c.referer.finish()?))),
            ("IsRefresh", Some(i16a(c.is_refresh))),
            ("ResolutionWidth", Some(i16a(c.res_w))),
            ("ResolutionHeight", Some(i16a(c.res_h))),
            ("IsMobile", Some(i16a(c.is_mobile))),
            ("MobilePhone", Some(i16a(c.phone))),
            ("MobilePhoneModel", Some(Arc::new(c.model.finish()?))),
            ("TraficSourceID", Some(i16a(c.trafic))),
            ("SearchEngineID", Some(i16a(c.engine))),
            ("SearchPhrase", Some(Arc::new(c.phrase.finish()?))),
            ("AdvEngineID", Some(i16a(c.adv))),
            ("WindowClientWidth", Some(i16a(c.win_w))),
            ("WindowClientHeight", Some(i16a(c.win_h))),
            ("IsLink", Some(i16a(c.is_link))),
            ("IsDownload", Some(i16a(c.is_download))),
            ("DontCountHits", Some(i16a(c.dont_count))),
            ("RefererHash", Some(i64a(c.referer_hash))),
            ("URLHash", Some(i64a(c.url_hash))),
            ("ResponseEndTiming", Some(i32a(c.response_end.clone()))),
        ];
        Ok(CoreColumns {
            arrays,
            src: c.src,
            user: c.user,
            time: c.time,
            response_end: c.response_end,
            url,
            region: c.region,
        })
    }

    fn take(&mut self, name: &str) -> Option<ArrayRef> {
        self.arrays
            .iter_mut()
            .find(|(n, _)| *n == name)
            .and_then(|(_, a)| a.take())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn all_batches(rows: u64, seed: u64) -> Vec<RecordBatch> {
        let mut g = HitsGenerator::new(rows, seed).unwrap();
        let mut out = Vec::new();
        while let Some(b) = g.next_batch().unwrap() {
            out.push(b);
        }
        out
    }

    #[test]
    fn same_seed_gives_identical_batches_and_another_seed_differs() {
        let a = all_batches(20_000, 42);
        let b = all_batches(20_000, 42);
        let c = all_batches(20_000, 43);
        assert_eq!(a, b);
        assert_ne!(a, c);
        let rows: usize = a.iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows, 20_000);
    }

    #[test]
    fn rows_come_in_primary_key_order() {
        let batches = all_batches(30_000, 7);
        let mut prev: Option<(i32, u16, i64, i64, i64)> = None;
        for b in &batches {
            let col = |name: &str| b.column(b.schema().index_of(name).unwrap()).clone();
            let counter = col("CounterID");
            let counter = counter.as_any().downcast_ref::<Int32Array>().unwrap();
            let date = col("EventDate");
            let date = date.as_any().downcast_ref::<UInt16Array>().unwrap();
            let user = col("UserID");
            let user = user.as_any().downcast_ref::<Int64Array>().unwrap();
            let time = col("EventTime");
            let time = time.as_any().downcast_ref::<Int64Array>().unwrap();
            let watch = col("WatchID");
            let watch = watch.as_any().downcast_ref::<Int64Array>().unwrap();
            for i in 0..b.num_rows() {
                let k = (
                    counter.value(i),
                    date.value(i),
                    user.value(i),
                    time.value(i),
                    watch.value(i),
                );
                if let Some(p) = prev {
                    assert!(p <= k, "{p:?} > {k:?}");
                }
                prev = Some(k);
            }
        }
    }

    /// `shared/benchmarks/clickbench`: beside the checkout, or under `$STRATA_SHARED_DIR`.
    pub(crate) fn clickbench_dir() -> std::path::PathBuf {
        let beside = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/benchmarks/clickbench");
        if beside.join("columns.tsv").exists() {
            return beside;
        }
        match std::env::var_os("STRATA_SHARED_DIR") {
            Some(dir) => std::path::PathBuf::from(dir).join("benchmarks/clickbench"),
            None => beside,
        }
    }

    pub(crate) fn temp_file(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("strata-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    fn write(rows: u64, seed: u64, name: &str) -> std::path::PathBuf {
        let path = temp_file(name);
        let mut g = HitsGenerator::new(rows, seed).unwrap();
        crate::gen::write_parquet(&mut g, &path, writer_properties().unwrap()).unwrap();
        path
    }

    #[test]
    fn parquet_schema_matches_columns_tsv() {
        use parquet::basic::{ConvertedType, Type as Physical};
        use parquet::file::reader::{FileReader, SerializedFileReader};

        let tsv_path = clickbench_dir().join("columns.tsv");
        let tsv = std::fs::read_to_string(&tsv_path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (set STRATA_SHARED_DIR to the shared/ folder)",
                tsv_path.display()
            )
        });
        let rows: Vec<Vec<&str>> = tsv
            .lines()
            .skip(1)
            .map(|l| l.split('\t').collect())
            .collect();
        assert_eq!(rows.len(), 105);
        let path = write(2_000, 3, "schema.parquet");
        let reader = SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
        let descr = reader.metadata().file_metadata().schema_descr_ptr();
        assert_eq!(descr.num_columns(), 105);
        for (i, row) in rows.iter().enumerate() {
            let (name, parquet_type) = (row[1], row[3]);
            assert_eq!(COLUMNS[i].0, name, "column {}", i + 1);
            let col = descr.column(i);
            assert_eq!(col.name(), name);
            assert!(!col.self_type().is_optional(), "{name} must be required");
            let (physical, converted) = (col.physical_type(), col.converted_type());
            let ok = if parquet_type.starts_with("INT64") {
                physical == Physical::INT64 && converted == ConvertedType::NONE
            } else if parquet_type.starts_with("INT32 annotated INT_16") {
                physical == Physical::INT32 && converted == ConvertedType::INT_16
            } else if parquet_type.starts_with("INT32 annotated UINT_16") {
                physical == Physical::INT32 && converted == ConvertedType::UINT_16
            } else if parquet_type.starts_with("INT32") {
                physical == Physical::INT32 && converted == ConvertedType::NONE
            } else if parquet_type.starts_with("BYTE_ARRAY") {
                physical == Physical::BYTE_ARRAY && converted == ConvertedType::UTF8
            } else {
                false
            };
            assert!(
                ok,
                "{name}: tsv says {parquet_type}, file has {physical:?}/{converted:?}"
            );
        }
    }

    #[test]
    fn same_seed_gives_a_byte_identical_file() {
        let a = std::fs::read(write(5_000, 11, "a.parquet")).unwrap();
        let b = std::fs::read(write(5_000, 11, "b.parquet")).unwrap();
        let c = std::fs::read(write(5_000, 12, "c.parquet")).unwrap();
        assert!(a == b, "same seed, different bytes");
        assert!(a != c);
    }

    #[test]
    fn capped_zipf_sums_exactly_and_respects_the_cap() {
        let q = capped_zipf(1_530_000, 20_000, 1.2, 90_000.0);
        assert_eq!(q.iter().sum::<u64>(), 1_530_000);
        assert!(q.iter().all(|&x| x <= 90_000));
    }

    #[test]
    fn event_dates_span_july_2_to_31() {
        assert_eq!(date_of(RANGE_START_S), FIRST_DATE);
        assert_eq!(date_of(RANGE_START_S - 1), FIRST_DATE - 1);
        assert_eq!(
            date_of(RANGE_START_S + RANGE_DAYS * 86_400 - 1),
            FIRST_DATE + 29
        );
    }
}
