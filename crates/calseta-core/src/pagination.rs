//! Page arithmetic shared by every list endpoint (`page` ≥ 1, `page_size` 1..=500).

/// Largest page a client may ask for.
pub const MAX_PAGE_SIZE: u32 = 500;
/// Page size when none is given.
pub const DEFAULT_PAGE_SIZE: u32 = 50;

/// A validated page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// 1-based page number.
    pub page: u32,
    /// Items per page.
    pub page_size: u32,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self { page: 1, page_size: DEFAULT_PAGE_SIZE }
    }
}

impl PageRequest {
    /// Rows to skip.
    pub fn offset(&self) -> i64 {
        i64::from(self.page.saturating_sub(1)) * i64::from(self.page_size)
    }

    /// Rows to return.
    pub fn limit(&self) -> i64 {
        i64::from(self.page_size)
    }
}

/// `ceil(total / page_size)`, 0 when there is nothing.
pub fn total_pages(total: i64, page_size: u32) -> i64 {
    if total <= 0 || page_size == 0 {
        return 0;
    }
    let size = i64::from(page_size);
    (total + size - 1) / size
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_round_up() {
        assert_eq!(total_pages(0, 50), 0);
        assert_eq!(total_pages(1, 50), 1);
        assert_eq!(total_pages(50, 50), 1);
        assert_eq!(total_pages(51, 50), 2);
        let p = PageRequest { page: 3, page_size: 20 };
        assert_eq!((p.offset(), p.limit()), (40, 20));
    }
}
