//! One page of `getOrganizationApiRequests`, decoded compactly: the collector decodes each answer
//! into a [`RequestPage`] (every string of the page in one buffer) and the store reads its records
//! borrowed.

use super::records::{RequestRecord, Text};
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// Where a string of a [`RequestPage`] lies in the page's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    /// The span from `start` to `end`, or `None` past 4 GiB: a span cut short would read back
    /// another string's text.
    fn new(start: usize, end: usize) -> Option<Span> {
        Some(Span {
            start: u32::try_from(start).ok()?,
            end: u32::try_from(end).ok()?,
        })
    }
}

/// The most records a page of `getOrganizationApiRequests` holds: its `perPage` runs from 3 to
/// 1000. A longer array is not the API's, and decoding stops at the record past this bound, so a
/// body of a million tiny records costs no more memory than a page does.
pub const MAX_RECORDS_PER_PAGE: usize = 1000;

/// A page whose text passes 4 GiB, beyond what a [`RequestPage`] can name (the client reads no
/// answer of more than 64 MiB).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the page's text passes 4 GiB")]
pub struct PageTooLarge;

/// One page of `getOrganizationApiRequests`, decoded compactly: every string of every record is
/// copied once into one buffer and named by its place there, so a page of 1000 records takes two
/// allocations instead of ~9000, and freeing it two frees. [`RequestPage::records`] reads the
/// records back as `RequestRecord<&str>`, which [`callbudget_store::Store::store_request_pages`]
/// stores. Decodes from the API's JSON array like `Vec<RequestRecord>` does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestPage {
    text: String,
    records: Vec<RequestRecord<Span>>,
}

impl RequestPage {
    /// Appends a record, copying its strings; refused, and the page left as it was, when the
    /// page's text would pass 4 GiB.
    pub fn push<S: AsRef<str>>(&mut self, record: &RequestRecord<S>) -> Result<(), PageTooLarge> {
        let text = &mut self.text;
        let before = text.len();
        let mut fits = true;
        let record = record.map_text(|v| {
            let start = text.len();
            text.push_str(v.as_ref());
            let span = Span::new(start, text.len());
            fits &= span.is_some();
            span.unwrap_or(Span { start: 0, end: 0 })
        });
        if !fits {
            text.truncate(before);
            return Err(PageTooLarge);
        }
        self.records.push(record);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The records, in order, their strings borrowed from the page.
    pub fn records(&self) -> impl ExactSizeIterator<Item = RequestRecord<&str>> + Clone + '_ {
        let text = self.text.as_str();
        self.records.iter().map(move |r| {
            r.map_text(|s| {
                text.get(s.start as usize..s.end as usize)
                    .unwrap_or_default()
            })
        })
    }

    /// The bytes this page holds on the heap: its text and its records' slots.
    pub fn heap_bytes(&self) -> usize {
        self.text.capacity() + self.records.capacity() * std::mem::size_of::<RequestRecord<Span>>()
    }

    /// How many records are exact copies of an earlier record of the page (every field alike,
    /// the time to the microsecond): a few at most in a real log, where two requests alike in
    /// everything would have to share a microsecond.
    pub fn repeated_records(&self) -> usize {
        let mut seen = std::collections::HashSet::with_capacity(self.len());
        self.records().filter(|r| !seen.insert(r.clone())).count()
    }

    /// A digest of the records in order, to tell a page served again under another cursor.
    pub fn digest(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.len().hash(&mut hasher);
        for record in self.records() {
            record.hash(&mut hasher);
        }
        hasher.finish()
    }

    /// Keeps only the records whose `ts` passes `keep` (their strings stay in the buffer).
    pub fn retain_ts(&mut self, mut keep: impl FnMut(DateTime<Utc>) -> bool) {
        self.records.retain(|r| keep(r.ts));
    }
}

impl<'de> Deserialize<'de> for RequestPage {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct PageVisitor;
        impl<'de> serde::de::Visitor<'de> for PageVisitor {
            type Value = RequestPage;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array of request records")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<RequestPage, A::Error> {
                let mut page = RequestPage::default();
                if let Some(n) = seq.size_hint() {
                    page.records.reserve(n.min(MAX_RECORDS_PER_PAGE));
                }
                while let Some(record) = seq.next_element::<RequestRecord<Text<'de>>>()? {
                    if page.len() == MAX_RECORDS_PER_PAGE {
                        return Err(serde::de::Error::custom(format_args!(
                            "more than {MAX_RECORDS_PER_PAGE} records in one page, the most the API pages"
                        )));
                    }
                    page.push(&record).map_err(serde::de::Error::custom)?;
                }
                Ok(page)
            }
        }
        d.deserialize_seq(PageVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RequestRecord;

    #[test]
    fn spans_past_4_gib_are_refused_not_cut_short() {
        let gib4 = u32::MAX as usize;
        assert_eq!(
            Span::new(gib4 - 1, gib4),
            Some(Span {
                start: u32::MAX - 1,
                end: u32::MAX
            })
        );
        assert_eq!(Span::new(gib4 - 1, gib4 + 1), None);
        assert_eq!(Span::new(gib4 + 1, gib4 + 2), None);
    }

    #[test]
    fn a_page_of_more_records_than_the_api_pages_is_refused_as_it_decodes() {
        let record = r#"{"ts": "2026-11-20T10:15:02Z"}"#;
        let json = |n: usize| format!("[{}]", vec![record; n].join(","));
        let full: RequestPage = serde_json::from_str(&json(MAX_RECORDS_PER_PAGE)).unwrap();
        assert_eq!(full.len(), MAX_RECORDS_PER_PAGE);
        assert_eq!(full.repeated_records(), MAX_RECORDS_PER_PAGE - 1);
        let e = serde_json::from_str::<RequestPage>(&json(MAX_RECORDS_PER_PAGE + 1)).unwrap_err();
        assert_eq!(e.classify(), serde_json::error::Category::Data);
        assert!(
            e.to_string()
                .starts_with("more than 1000 records in one page, the most the API pages"),
            "{e}"
        );
    }

    #[test]
    fn repeated_records_and_digests_tell_pages_apart() {
        let a = r#"{"ts": "2026-11-20T10:15:02.000001Z", "path": "/a"}"#;
        let b = r#"{"ts": "2026-11-20T10:15:02.000002Z", "path": "/a"}"#;
        let page = |items: &[&str]| -> RequestPage {
            serde_json::from_str(&format!("[{}]", items.join(","))).unwrap()
        };
        assert_eq!(page(&[a, b]).repeated_records(), 0);
        assert_eq!(page(&[a, b, a, b, a]).repeated_records(), 3);
        assert_eq!(page(&[a, b]).digest(), page(&[a, b]).digest());
        assert_ne!(page(&[a, b]).digest(), page(&[b, a]).digest());
        assert_ne!(page(&[a]).digest(), page(&[a, a]).digest());
        assert!(page(&[a, b]).heap_bytes() >= 2 * std::mem::size_of::<RequestRecord<Span>>());
    }

    #[test]
    fn a_request_page_decodes_as_the_records_do() {
        // Escaped strings (copied), plain ones (borrowed), nulls, missing fields, empty strings.
        let json = r#"[
 {"adminId": "212406", "method": "GET", "host": "api.meraki.com",
  "path": "/api/v1/devices/Q2XX-AAAA-0001/lldpCdp", "queryString": "",
  "userAgent": "python-meraki/4.7.0 \"Caller\"/(NocPoller/2.1 Acme) \u00e9",
  "ts": "2026-11-20T10:15:02.120000Z", "responseCode": 429, "sourceIp": "203.0.113.7",
  "version": 1, "operationId": "getDeviceLldpCdp",
  "client": {"id": "k_3f9", "type": "api_key"}},
 {"ts": "2026-11-20T11:15:02+01:00", "adminId": null, "path": "/x\/y", "client": {"id": null}},
 {"ts": "2026-11-20T10:15:02.5Z", "method": "POST", "queryString": "a=1&b=\t2"}
]"#;
        let owned: Vec<RequestRecord> = serde_json::from_str(json).unwrap();
        let page: RequestPage = serde_json::from_str(json).unwrap();
        assert_eq!(page.len(), 3);
        let read: Vec<RequestRecord> = page.records().map(|r| r.to_owned_record()).collect();
        assert_eq!(read, owned);
        assert_eq!(
            owned[0].user_agent.as_deref(),
            Some("python-meraki/4.7.0 \"Caller\"/(NocPoller/2.1 Acme) \u{e9}")
        );
        assert_eq!(owned[1].path.as_deref(), Some("/x/y"));

        let mut kept = page.clone();
        kept.retain_ts(|ts| ts != owned[1].ts);
        let read: Vec<RequestRecord> = kept.records().map(|r| r.to_owned_record()).collect();
        assert_eq!(read, vec![owned[0].clone(), owned[2].clone()]);

        assert!(serde_json::from_str::<RequestPage>(r#"[{"adminId": "1"}]"#).is_err());
        assert!(serde_json::from_str::<RequestPage>(r#"{"ts": "2026-11-20T10:15:02Z"}"#).is_err());
        assert!(
            serde_json::from_str::<RequestPage>("[]")
                .unwrap()
                .is_empty()
        );
    }
}
