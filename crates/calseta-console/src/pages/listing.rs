//! What the list pages share: the filters held in the URL (read back into their form, carried
//! into paging links and the bulk form's return address), the pager and time display.
//!
//! Filters are read with the same `RawArgs` parse REST uses, so a console URL and a REST query
//! mean the same. A GET form sends its empty fields as `key=`, which the parser refuses for enum
//! lists (an empty value is an error on REST), so empty values are dropped first: an empty
//! field in the console means "any".

use calseta_core::pagination::PageRequest;
use chrono::{DateTime, SecondsFormat, Utc};

/// Keys a page adds to its own URL that are no filter (the bulk summary, the page number, the
/// queue's keyset cursors).
const NOT_FILTERS: &[&str] = &["page", "changed", "failed", "after", "before"];

/// The bulk change's summary, which a return address drops.
const SUMMARY: &[&str] = &["changed", "failed"];

/// Keys that say how a list is sorted (a column header's link replaces them).
const SORT_KEYS: &[&str] = &["sort_by", "sort_order"];

/// The non-empty query pairs of a request, in order.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    pairs: Vec<(String, String)>,
}

impl Filters {
    /// Reads a raw query string, dropping empty values.
    pub fn from_query(raw: Option<&str>) -> Self {
        let pairs = form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Filters { pairs }
    }

    /// The pairs re-encoded (the query the parser reads).
    pub fn encoded(&self) -> String {
        encode(self.pairs.iter())
    }

    /// Every value of `key`.
    pub fn values(&self, key: &str) -> Vec<String> {
        self.pairs.iter().filter(|(k, _)| k == key).map(|(_, v)| v.clone()).collect()
    }

    /// The first value of `key`, or an empty text (form fields show it back).
    pub fn value(&self, key: &str) -> String {
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap_or_default()
    }

    /// Whether `key` holds `value` (a comma-separated value counts each item, as REST does).
    pub fn has(&self, key: &str, value: &str) -> bool {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .any(|(_, v)| v.split(',').any(|item| item.trim() == value))
    }

    /// The filters alone, without the page number and summaries: what a paging link or the bulk
    /// form's return address keeps.
    pub fn kept(&self) -> String {
        encode(self.pairs.iter().filter(|(k, _)| !NOT_FILTERS.contains(&k.as_str())))
    }

    /// The filters and `extra` pairs as `path?query` (just `path` when there are none).
    pub fn href_with(&self, path: &str, drop: &[&str], extra: &[(&str, &str)]) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (k, v) in self
            .pairs
            .iter()
            .filter(|(k, _)| !NOT_FILTERS.contains(&k.as_str()) && !drop.contains(&k.as_str()))
        {
            out.append_pair(k, v);
        }
        for (k, v) in extra {
            out.append_pair(k, v);
        }
        let query = out.finish();
        if query.is_empty() { path.to_string() } else { format!("{path}?{query}") }
    }

    /// `path` with the filters and a keyset cursor (`after` or `before`).
    pub fn cursor_href(&self, path: &str, key: &str, cursor: &str) -> String {
        self.href_with(path, &[], &[(key, cursor)])
    }

    /// `path` with the filters, sorted by `column` in `order` (`asc` or `desc`), from the first
    /// page.
    pub fn sort_href(&self, path: &str, column: &str, order: &str) -> String {
        self.href_with(path, SORT_KEYS, &[("sort_by", column), ("sort_order", order)])
    }

    /// The filters and the page shown without the bulk summary: where a form sends the browser
    /// back to.
    pub fn here(&self) -> String {
        encode(self.pairs.iter().filter(|(k, _)| !SUMMARY.contains(&k.as_str())))
    }

    /// Whether the URL filters anything (sorting and paging aside).
    pub fn any(&self) -> bool {
        self.pairs.iter().any(|(k, _)| {
            !NOT_FILTERS.contains(&k.as_str()) && !SORT_KEYS.contains(&k.as_str()) && k != "page_size"
        })
    }

    /// `path` with the filters and `page` (the first page needs no number).
    pub fn page_href(&self, path: &str, page: u32) -> String {
        let mut query = self.kept();
        if page > 1 {
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str(&format!("page={page}"));
        }
        if query.is_empty() { path.to_string() } else { format!("{path}?{query}") }
    }
}

fn encode<'a>(pairs: impl Iterator<Item = &'a (String, String)>) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        out.append_pair(k, v);
    }
    out.finish()
}

/// The paging links of a list page.
#[derive(Debug, Clone, Default)]
pub struct Pager {
    /// The page shown, from 1.
    pub page: u32,
    /// How many pages there are (at least 1).
    pub pages: u32,
    /// How many items match in all.
    pub total: i64,
    /// The previous page's link, if there is one.
    pub previous: Option<String>,
    /// The next page's link, if there is one.
    pub next: Option<String>,
}

impl Pager {
    /// The pager of a keyset page: links to the pages before and after it, by cursor.
    pub fn keyset(
        path: &str,
        filters: &Filters,
        before: Option<&str>,
        after: Option<&str>,
        total: i64,
    ) -> Self {
        Pager {
            page: 0,
            pages: 0,
            total,
            previous: before.map(|c| filters.cursor_href(path, "before", c)),
            next: after.map(|c| filters.cursor_href(path, "after", c)),
        }
    }
}

impl Pager {
    /// The pager of `page` of `total` items on `path` with `filters`.
    pub fn new(path: &str, filters: &Filters, page: PageRequest, total: i64) -> Self {
        let size = i64::from(page.page_size.max(1));
        let pages = u32::try_from(((total + size - 1) / size).max(1)).unwrap_or(u32::MAX);
        let previous = (page.page > 1).then(|| filters.page_href(path, page.page - 1));
        let next = (i64::from(page.page) * size < total).then(|| filters.page_href(path, page.page + 1));
        Pager { page: page.page, pages, total, previous, next }
    }
}

/// A time shown in a table: the machine-readable value for `<time datetime>`, the text (UTC,
/// which `assets/app.js` replaces with the browser's zone) and the full UTC time for `title`.
#[derive(Debug, Clone)]
pub struct Shown {
    /// RFC 3339 in UTC.
    pub iso: String,
    /// `2026-01-02 03:04 UTC`.
    pub text: String,
    /// `2026-01-02 03:04:05 UTC`.
    pub full: String,
}

impl From<DateTime<Utc>> for Shown {
    fn from(at: DateTime<Utc>) -> Self {
        Shown {
            iso: at.to_rfc3339_opts(SecondsFormat::Secs, true),
            text: at.format("%Y-%m-%d %H:%M UTC").to_string(),
            full: at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        }
    }
}

/// A list query the parser refused (`field: message; field: message`), one line per field, for
/// the notice above the filters.
pub fn query_errors(message: &str) -> Vec<String> {
    message.split("; ").map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_are_dropped_and_paging_keeps_the_filters() {
        let f = Filters::from_query(Some("status=Open&severity=&page=3&changed=2&tags=a%26b"));
        assert_eq!(f.encoded(), "status=Open&page=3&changed=2&tags=a%26b");
        assert_eq!(f.kept(), "status=Open&tags=a%26b");
        assert_eq!(f.page_href("/alerts", 2), "/alerts?status=Open&tags=a%26b&page=2");
        assert_eq!(Filters::default().page_href("/alerts", 1), "/alerts");
        assert!(f.has("status", "Open") && !f.has("status", "Closed"));
    }

    #[test]
    fn sort_and_cursor_links_keep_the_filters_and_drop_the_cursor() {
        let f = Filters::from_query(Some("tags=a&after=5%3Ax&sort_by=title&sort_order=asc&changed=1"));
        assert_eq!(f.sort_href("/alerts", "title", "desc"), "/alerts?tags=a&sort_by=title&sort_order=desc");
        assert_eq!(
            f.cursor_href("/alerts", "before", "7:2026"),
            "/alerts?tags=a&sort_by=title&sort_order=asc&before=7%3A2026"
        );
        assert_eq!(f.here(), "tags=a&after=5%3Ax&sort_by=title&sort_order=asc");
        assert!(f.any() && !Filters::from_query(Some("sort_by=title&after=1%3Ax")).any());
    }

    #[test]
    fn the_pager_links_only_existing_pages() {
        let f = Filters::default();
        let p = Pager::new("/a", &f, PageRequest { page: 1, page_size: 2 }, 5);
        assert_eq!((p.pages, p.previous.as_deref(), p.next.as_deref()), (3, None, Some("/a?page=2")));
        let p = Pager::new("/a", &f, PageRequest { page: 3, page_size: 2 }, 5);
        assert_eq!((p.previous.as_deref(), p.next), (Some("/a?page=2"), None));
    }
}
