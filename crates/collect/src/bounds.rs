//! What a window's request log must agree with before it is stored: each page is no copy of
//! itself or of an earlier page, the window's pages fit a byte budget in memory, and the records
//! agree with what the API says of the window elsewhere — its overview's count, and the budget
//! that bounds what an organization's log can hold. Each check fails the window alone, with its
//! reason; none of it is stored.

use callbudget_api::{RequestPage, RequestsOverview};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// The most a window's decoded pages may hold in memory by default (about 700,000 records: a
/// saturated hour at 10 requests/s holds 36,000 answered ones plus its 429s). A window is held
/// whole until it is stored in one transaction; a larger one fails with the advice to collect
/// shorter windows.
pub const WINDOW_MEMORY_BYTES: usize = 256 << 20;

/// Records of a page that may repeat earlier ones of the same page before it is a page repeating
/// itself (when they are also more than the distinct ones): two requests alike in every field,
/// the time to the microsecond, are rare in a real log, but a retry storm may make a few.
pub const REPEATS_TOLERATED: usize = 10;

/// Why a page of the request log is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageFault {
    #[error(
        "{repeated} of its {records} records repeat earlier ones of the same page: a page repeating itself is not the API's log"
    )]
    RepeatsItself { records: usize, repeated: usize },
    #[error(
        "it holds the same records as page {earlier}: a page served again under another cursor"
    )]
    SameAsEarlier { earlier: usize },
    #[error(
        "the window's records passed {} MiB in memory, the most a window is held in before it is stored; collect shorter windows (--window-minutes)",
        limit >> 20
    )]
    MemoryBudget { limit: usize },
}

/// Checks a window's pages as they arrive: see [`PageFault`].
#[derive(Debug)]
pub struct PageGuard {
    byte_limit: usize,
    bytes: usize,
    pages: usize,
    /// The digest of each non-empty page seen, and its number.
    digests: HashMap<u64, usize>,
}

impl PageGuard {
    pub fn new(byte_limit: usize) -> PageGuard {
        PageGuard {
            byte_limit,
            bytes: 0,
            pages: 0,
            digests: HashMap::new(),
        }
    }

    /// Checks the next page of the window.
    pub fn check(&mut self, page: &RequestPage) -> Result<(), PageFault> {
        self.pages += 1;
        self.bytes = self.bytes.saturating_add(page.heap_bytes());
        if self.bytes > self.byte_limit {
            return Err(PageFault::MemoryBudget {
                limit: self.byte_limit,
            });
        }
        let repeated = page.repeated_records();
        if repeated >= REPEATS_TOLERATED && repeated * 2 > page.len() {
            return Err(PageFault::RepeatsItself {
                records: page.len(),
                repeated,
            });
        }
        if !page.is_empty()
            && let Some(&earlier) = self.digests.get(&page.digest())
        {
            return Err(PageFault::SameAsEarlier { earlier });
        }
        if !page.is_empty() {
            self.digests.insert(page.digest(), self.pages);
        }
        Ok(())
    }
}

/// Why a window's records disagree with what the API says of the window.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowFault {
    #[error(
        "its overview counts {answered} requests answered (not 429), more than the organization's budget admits in the window ({allowed} at {rate} a second over {seconds} s, with the margin for records logged meanwhile); not believed"
    )]
    OverviewBeyondBudget {
        answered: u64,
        allowed: u64,
        rate: String,
        seconds: i64,
    },
    #[error(
        "its pages held {received} records where its overview counts {counted} (at most {allowed} with the margin for records logged meanwhile): not the window's log"
    )]
    MoreThanOverview {
        received: u64,
        counted: u64,
        allowed: u64,
    },
    #[error(
        "its pages held {answered} requests answered (not 429), more than the organization's budget admits in the window ({allowed} at {rate} a second over {seconds} s, with the margin for records logged meanwhile): not the window's log"
    )]
    BeyondBudget {
        answered: u64,
        allowed: u64,
        rate: String,
        seconds: i64,
    },
}

/// `count` with the margin the pages get for records logged while they are fetched (the
/// collector's own calls among them): 10 % and two pages of `per_page`.
pub fn with_margin(count: u64, per_page: u64) -> u64 {
    count
        .saturating_add(count / 10)
        .saturating_add(per_page.saturating_mul(2))
}

/// The requests an organization's budget answers (429s aside) in `(t0, t1)` at most: its rate
/// over the window plus a burst of one second's worth, with [`with_margin`].
pub fn budget_admits(rate: f64, (t0, t1): (DateTime<Utc>, DateTime<Utc>), per_page: u64) -> u64 {
    let seconds = (t1 - t0).num_milliseconds().max(0) as f64 / 1000.0;
    let admitted = (rate.max(0.0) * (seconds + 1.0)).ceil();
    // A rate too large for a u64 admits everything.
    let admitted = if admitted < u64::MAX as f64 {
        admitted as u64
    } else {
        u64::MAX
    };
    with_margin(admitted, per_page)
}

/// The requests an overview counts as answered: every code but 429 (saturating).
pub fn answered(overview: &RequestsOverview) -> u64 {
    overview
        .response_code_counts
        .iter()
        .filter(|(code, _)| code.as_str() != "429")
        .fold(0u64, |sum, (_, n)| sum.saturating_add(*n))
}

/// What a window is checked against: the organization's budget rate and the page size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowBounds {
    /// The organization's budget, requests per second (Meraki: 10).
    pub rate: f64,
    pub per_page: u64,
    pub window: (DateTime<Utc>, DateTime<Utc>),
}

impl WindowBounds {
    fn seconds(&self) -> i64 {
        (self.window.1 - self.window.0).num_seconds()
    }

    fn rate_text(&self) -> String {
        format!("{}", self.rate)
    }

    /// Before paging: an overview whose answered requests the budget cannot have answered.
    pub fn check_overview(&self, overview: &RequestsOverview) -> Result<(), WindowFault> {
        let answered = answered(overview);
        let allowed = budget_admits(self.rate, self.window, self.per_page);
        if answered > allowed {
            return Err(WindowFault::OverviewBeyondBudget {
                answered,
                allowed,
                rate: self.rate_text(),
                seconds: self.seconds(),
            });
        }
        Ok(())
    }

    /// After paging: the records received (those outside the window included: the server sent
    /// them as the window's) against the overview's count and the budget.
    pub fn check_pages(&self, counted: u64, pages: &[RequestPage]) -> Result<(), WindowFault> {
        let received = pages.iter().map(RequestPage::len).sum::<usize>() as u64;
        let allowed = with_margin(counted, self.per_page);
        if received > allowed {
            return Err(WindowFault::MoreThanOverview {
                received,
                counted,
                allowed,
            });
        }
        let answered = pages
            .iter()
            .flat_map(RequestPage::records)
            .filter(|r| r.response_code != Some(429))
            .count() as u64;
        let allowed = budget_admits(self.rate, self.window, self.per_page);
        if answered > allowed {
            return Err(WindowFault::BeyondBudget {
                answered,
                allowed,
                rate: self.rate_text(),
                seconds: self.seconds(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use callbudget_api::timestamp::parse;

    fn page(records: &[(&str, &str, u16)]) -> RequestPage {
        let items: Vec<String> = records
            .iter()
            .map(|(ts, path, code)| {
                format!(r#"{{"ts": "{ts}", "path": "{path}", "responseCode": {code}}}"#)
            })
            .collect();
        serde_json::from_str(&format!("[{}]", items.join(","))).unwrap()
    }

    fn distinct(n: usize, code: u16) -> RequestPage {
        let records: Vec<(String, u16)> = (0..n)
            .map(|i| {
                (
                    format!("2026-11-19T10:00:{:02}.{:06}Z", i / 1000 % 60, i % 1000),
                    code,
                )
            })
            .collect();
        let borrowed: Vec<(&str, &str, u16)> = records
            .iter()
            .map(|(ts, c)| (ts.as_str(), "/a", *c))
            .collect();
        page(&borrowed)
    }

    fn hour() -> (DateTime<Utc>, DateTime<Utc>) {
        (
            parse("2026-11-19T10:00:00Z").unwrap(),
            parse("2026-11-19T11:00:00Z").unwrap(),
        )
    }

    #[test]
    fn a_page_repeating_itself_or_an_earlier_page_is_refused() {
        let mut guard = PageGuard::new(WINDOW_MEMORY_BYTES);
        let first = distinct(30, 200);
        assert_eq!(guard.check(&first), Ok(()));
        assert_eq!(guard.check(&distinct(5, 429)), Ok(()));
        assert_eq!(
            guard.check(&first),
            Err(PageFault::SameAsEarlier { earlier: 1 })
        );
        // Twelve records repeated: the page of the issue, 1000 records of 12.
        let twelve = distinct(12, 200);
        let mut json = Vec::new();
        for _ in 0..83 {
            json.extend(twelve.records().map(|r| serde_json::to_string(&r).unwrap()));
        }
        let repeating: RequestPage =
            serde_json::from_str(&format!("[{}]", json.join(","))).unwrap();
        let fault = PageGuard::new(WINDOW_MEMORY_BYTES)
            .check(&repeating)
            .unwrap_err();
        assert_eq!(
            fault,
            PageFault::RepeatsItself {
                records: 996,
                repeated: 984
            }
        );
        // A few alike (a retry storm at one microsecond) pass.
        let ts = "2026-11-19T10:00:00.000001Z";
        let few = page(&[(ts, "/a", 429); 9]);
        assert_eq!(PageGuard::new(WINDOW_MEMORY_BYTES).check(&few), Ok(()));
    }

    #[test]
    fn the_pages_of_a_window_fit_its_byte_budget() {
        let one = distinct(100, 200);
        let limit = one.heap_bytes() * 3;
        let mut guard = PageGuard::new(limit);
        for i in 0..3 {
            // Each page different, each the same size.
            let shifted: Vec<String> = distinct(100, 200)
                .records()
                .map(|mut r| {
                    r.path = Some(["/x", "/y", "/z"][i]);
                    serde_json::to_string(&r).unwrap()
                })
                .collect();
            let page: RequestPage =
                serde_json::from_str(&format!("[{}]", shifted.join(","))).unwrap();
            assert_eq!(guard.check(&page), Ok(()), "page {i}");
        }
        assert_eq!(
            guard.check(&distinct(1, 200)),
            Err(PageFault::MemoryBudget { limit })
        );
        assert!(
            PageFault::MemoryBudget { limit: 256 << 20 }
                .to_string()
                .starts_with("the window's records passed 256 MiB in memory")
        );
    }

    #[test]
    fn a_window_agrees_with_its_overview_and_its_budget() {
        let bounds = WindowBounds {
            rate: 10.0,
            per_page: 1000,
            window: hour(),
        };
        // 10/s over an hour plus a second: 36,010, then 10 % and two pages.
        assert_eq!(budget_admits(10.0, hour(), 1000), 41_611);
        let overview = |counts: &[(&str, u64)]| RequestsOverview {
            response_code_counts: counts.iter().map(|&(c, n)| (c.to_owned(), n)).collect(),
        };
        assert_eq!(
            bounds.check_overview(&overview(&[("200", 41_611), ("429", 5_000_000)])),
            Ok(())
        );
        let e = bounds
            .check_overview(&overview(&[("200", 40_000), ("404", 1_612)]))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "its overview counts 41612 requests answered (not 429), more than the organization's budget admits in the window (41611 at 10 a second over 3600 s, with the margin for records logged meanwhile); not believed"
        );

        let pages = [distinct(1000, 200), distinct(1000, 429), distinct(14, 200)];
        assert_eq!(bounds.check_pages(12, &pages[2..]), Ok(()));
        assert_eq!(
            bounds.check_pages(12, &pages),
            Err(WindowFault::MoreThanOverview {
                received: 2014,
                counted: 12,
                allowed: 2013
            })
        );
        assert_eq!(bounds.check_pages(2014, &pages), Ok(()));
        let tight = WindowBounds {
            rate: 0.001,
            per_page: 3,
            ..bounds
        };
        assert_eq!(
            tight.check_pages(2014, &pages),
            Err(WindowFault::BeyondBudget {
                answered: 1014,
                allowed: 10,
                rate: "0.001".to_owned(),
                seconds: 3600
            })
        );
        assert_eq!(budget_admits(f64::INFINITY, hour(), 1000), u64::MAX);
    }
}
