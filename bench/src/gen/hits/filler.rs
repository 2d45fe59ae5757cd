//! The ~75 columns no query reads except Q24's `SELECT *`: cheap, plausible distributions,
//! filled column by column. Each value is a pure function of (seed, column, source row) or of
//! (seed, column, user), so a re-sent copy of a row repeats its original exactly.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int16Array, Int32Array, Int64Array, StringArray};

use super::{CoreColumns, Tables, User};
use crate::gen::dist::{below, hash3, unit_f64, Weighted};
use crate::{Error, Result};

/// What the filler needs besides the batch's core columns.
pub(super) struct Context<'a> {
    pub(super) seed: u64,
    pub(super) tables: &'a Tables,
    pub(super) users: &'a [User],
}

/// The column `name` (ordinal `ordinal` in the schema) for the rows of `core`.
pub(super) fn column(
    ctx: &Context<'_>,
    ordinal: u64,
    name: &str,
    core: &CoreColumns,
) -> Result<ArrayRef> {
    let stream = 1_000 + ordinal;
    let seed = ctx.seed;
    // Per-row and per-user uniform 64-bit values for this column.
    let row = |i: usize| hash3(seed, stream, core.src[i]);
    let user = |i: usize| hash3(seed, stream, u64::from(core.user[i]));
    let n = core.src.len();
    // Mostly-empty strings: '' except with probability `p`, then one of `values`.
    let rare_str = |p: f64, values: &[&str]| -> ArrayRef {
        Arc::new(StringArray::from_iter_values((0..n).map(|i| {
            let h = row(i);
            if unit_f64(h) < p {
                values[below(h.rotate_left(17), values.len() as u64) as usize]
            } else {
                ""
            }
        })))
    };
    let chance = |h: u64, p: f64| unit_f64(h) < p;
    let t: &Tables = ctx.tables;
    let zipf_of = |w: &Weighted, h: u64| w.at(unit_f64(h));

    let array: ArrayRef = match name {
        "JavaEnable" => i16s(n, |i| i16::from(chance(user(i), 0.7))),
        "GoodEvent" => i16s(n, |_| 1),
        "CounterClass" => i16s(n, |i| match below(row(i), 10) {
            0..=6 => 0,
            7 | 8 => 1,
            _ => 2,
        }),
        "OS" | "UserAgent" | "UserAgentMajor" => {
            let w = small_zipf();
            i16s(n, |i| zipf_of(&w, user(i)) as i16)
        }
        "UserAgentMinor" => {
            let codes = [
                "0", "1", "2", "5", "10", "11", "12", "D0", "9D", "1a", "22", "F3",
            ];
            Arc::new(StringArray::from_iter_values(
                (0..n).map(|i| codes[below(user(i), codes.len() as u64) as usize]),
            ))
        }
        "RefererCategoryID" | "URLCategoryID" => {
            let w = Weighted::zipf(16_001, 1.1, 0);
            i16s(n, |i| zipf_of(&w, row(i)) as i16)
        }
        "RefererRegionID" => i32s(n, |i| t.region_ids[t.regions.at(unit_f64(row(i)))]),
        "URLRegionID" => i32s(n, |i| {
            if chance(row(i), 0.7) {
                core.region[i]
            } else {
                t.region_ids[t.regions.at(unit_f64(row(i).rotate_left(23)))]
            }
        }),
        "ResolutionDepth" => i16s(n, |i| match below(user(i), 10) {
            0..=6 => 24,
            7 | 8 => 32,
            _ => 16,
        }),
        "FlashMajor" => i16s(n, |i| if chance(user(i), 0.9) { 11 } else { 0 }),
        "FlashMinor" => i16s(n, |i| below(user(i), 10) as i16),
        "FlashMinor2" => {
            let values = ["", "0", "1", "2", "3", "5", "12", "16", "19"];
            Arc::new(StringArray::from_iter_values(
                (0..n).map(|i| values[below(user(i), values.len() as u64) as usize]),
            ))
        }
        "NetMajor" | "NetMinor" => i16s(n, |i| below(user(i), 5) as i16),
        "CookieEnable" => i16s(n, |i| i16::from(chance(user(i), 0.98))),
        "JavascriptEnable" => i16s(n, |i| i16::from(chance(user(i), 0.97))),
        "Params" => rare_str(0.01, &["p=1", "page=2", "id=77", "sort=price"]),
        "IPNetworkID" => i32s(n, |i| below(user(i), 5_000_000) as i32),
        "IsArtifical" => i16s(n, |i| i16::from(chance(row(i), 0.01))),
        "ClientTimeZone" => i16s(n, |i| client_tz(user(i))),
        "ClientEventTime" => i64s(n, |i| {
            let h = row(i);
            core.time[i] + i64::from(client_tz(user(i))) * 3600 + below(h, 7) as i64 - 3
        }),
        "LocalEventTime" => i64s(n, |i| core.time[i] + 4 * 3600 + below(row(i), 5) as i64 - 2),
        "SilverlightVersion1" | "SilverlightVersion2" | "SilverlightVersion4" => i16s(n, |i| {
            if chance(user(i), 0.8) {
                0
            } else {
                below(user(i) >> 8, 6) as i16
            }
        }),
        "SilverlightVersion3" => i32s(n, |i| {
            if chance(user(i), 0.8) {
                0
            } else {
                below(user(i) >> 8, 60_000) as i32
            }
        }),
        "PageCharset" => Arc::new(StringArray::from_iter_values((0..n).map(|i| {
            if chance(row(i), 0.8) {
                "utf-8"
            } else {
                "windows-1251"
            }
        }))),
        "CodeVersion" => i32s(n, |i| below(row(i), 2_001) as i32),
        "IsNotBounce" => i16s(n, |i| i16::from(chance(row(i), 0.3))),
        "FUniqID" => i64s(n, |i| {
            let h = user(i);
            if chance(h, 0.3) {
                0
            } else {
                (h.rotate_left(13) >> 1) as i64
            }
        }),
        "OriginalURL" => Arc::new(StringArray::from_iter_values((0..n).map(|i| {
            if chance(row(i), 0.02) {
                core.url.value(i)
            } else {
                ""
            }
        }))),
        "HID" => i32s(n, |i| row(i) as i32),
        "IsOldCounter" | "IsEvent" | "IsParameter" => i16s(n, |i| i16::from(chance(row(i), 0.02))),
        "WithHash" => i16s(n, |i| i16::from(chance(row(i), 0.02))),
        "HitColor" => {
            let colors = [
                "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "E", "F", "T",
            ];
            Arc::new(StringArray::from_iter_values((0..n).map(|i| {
                let h = row(i);
                if chance(h, 0.6) {
                    "5"
                } else {
                    colors[below(h.rotate_left(9), colors.len() as u64) as usize]
                }
            })))
        }
        "Age" => i16s(n, |i| {
            let h = user(i);
            if chance(h, 0.6) {
                0
            } else {
                1 + below(h.rotate_left(7), 55) as i16
            }
        }),
        "Sex" => i16s(n, |i| below(user(i), 3) as i16),
        "Income" => i16s(n, |i| below(user(i), 5) as i16),
        "Interests" => i16s(n, |i| {
            let h = user(i);
            if chance(h, 0.5) {
                0
            } else {
                below(h.rotate_left(5), 16_000) as i16
            }
        }),
        "Robotness" => i16s(n, |i| {
            if ctx.users[core.user[i] as usize].bot {
                1 + below(user(i), 9) as i16
            } else {
                0
            }
        }),
        "RemoteIP" => i32s(n, |i| user(i) as i32),
        "WindowName" | "OpenerName" => i32s(n, |i| {
            let h = row(i);
            if chance(h, 0.6) {
                -1
            } else {
                (h.rotate_left(11) as i32).abs()
            }
        }),
        "HistoryLength" => i16s(n, |i| below(row(i), 51) as i16),
        "BrowserLanguage" => {
            let langs = [
                "ru", "ru", "ru", "ru", "en", "uk", "de", "tr", "kk", "be", "fr",
            ];
            Arc::new(StringArray::from_iter_values(
                (0..n).map(|i| langs[below(user(i), langs.len() as u64) as usize]),
            ))
        }
        "BrowserCountry" => {
            let countries = ["ru", "ru", "ru", "ua", "by", "kz", "tr", "de", "us", "uz"];
            Arc::new(StringArray::from_iter_values((0..n).map(|i| {
                countries[below(user(i), countries.len() as u64) as usize]
            })))
        }
        "SocialNetwork" => rare_str(0.01, &["vkontakte", "facebook", "odnoklassniki", "twitter"]),
        "SocialAction" => rare_str(0.005, &["like", "share", "comment"]),
        "HTTPError" => i16s(n, |i| if chance(row(i), 0.005) { 404 } else { 0 }),
        "SendTiming" => i32s(n, |i| core.response_end[i] / 50),
        "DNSTiming" => i32s(n, |i| core.response_end[i] / 20),
        "ConnectTiming" => i32s(n, |i| core.response_end[i] / 10),
        "ResponseStartTiming" => i32s(n, |i| core.response_end[i] * 3 / 5),
        "FetchTiming" => i32s(n, |i| core.response_end[i] * 3 / 10),
        "SocialSourceNetworkID" => i16s(n, |i| {
            let h = row(i);
            if chance(h, 0.01) {
                1 + below(h.rotate_left(3), 9) as i16
            } else {
                0
            }
        }),
        "SocialSourcePage" => rare_str(0.005, &["/feed", "/wall", "/groups", "/id1"]),
        "ParamPrice" => i64s(n, |i| {
            let h = row(i);
            if chance(h, 0.01) {
                below(h.rotate_left(15), 100_000) as i64
            } else {
                0
            }
        }),
        "ParamOrderID" => rare_str(0.005, &["A-1001", "B-2002", "C-3003", "D-4004"]),
        "ParamCurrency" => rare_str(0.01, &["RUB", "USD", "EUR"]),
        "ParamCurrencyID" => i16s(n, |i| if chance(row(i), 0.01) { 643 } else { 0 }),
        "OpenstatServiceName" => rare_str(0.01, &["direct.yandex.ru", "begun.ru", "adwords"]),
        "OpenstatCampaignID" => rare_str(0.01, &["1", "17", "265", "3411"]),
        "OpenstatAdID" => rare_str(0.01, &["ad1", "ad17", "ad265"]),
        "OpenstatSourceID" => rare_str(0.01, &["src1", "src2", "src3"]),
        "UTMSource" => rare_str(0.015, &["yandex", "direct", "vk", "email", "begun"]),
        "UTMMedium" => rare_str(0.015, &["cpc", "banner", "email", "social"]),
        "UTMCampaign" => rare_str(0.015, &["summer", "sale", "brand", "retarget"]),
        "UTMContent" => rare_str(0.01, &["text1", "img2", "video"]),
        "UTMTerm" => rare_str(0.01, &["kupit", "cena", "otzyvy"]),
        "FromTag" => rare_str(0.01, &["menu", "footer", "banner"]),
        "HasGCLID" => i16s(n, |i| i16::from(chance(row(i), 0.01))),
        "CLID" => i32s(n, |i| {
            let h = row(i);
            if chance(h, 0.95) {
                0
            } else {
                below(h.rotate_left(21), 3_000_000) as i32
            }
        }),
        other => {
            return Err(Error::Internal(format!(
                "hits column {other} has no generator"
            )))
        }
    };
    Ok(array)
}

/// A Zipf-like table over 0..=150 for OS and browser ids.
fn small_zipf() -> Weighted {
    Weighted::zipf(151, 1.2, 0)
}

/// The client's time-zone offset in hours, mostly Moscow.
#[inline]
fn client_tz(h: u64) -> i16 {
    match below(h, 20) {
        0..=13 => 4,
        14 | 15 => 3,
        16 => 2,
        17 => 6,
        18 => 5,
        _ => 0,
    }
}

fn i16s(n: usize, f: impl Fn(usize) -> i16) -> ArrayRef {
    Arc::new(Int16Array::from_iter_values((0..n).map(f)))
}

fn i32s(n: usize, f: impl Fn(usize) -> i32) -> ArrayRef {
    Arc::new(Int32Array::from_iter_values((0..n).map(f)))
}

fn i64s(n: usize, f: impl Fn(usize) -> i64) -> ArrayRef {
    Arc::new(Int64Array::from_iter_values((0..n).map(f)))
}
