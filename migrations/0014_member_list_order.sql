-- Member lists are ordered by (created_at, id) (keyset paging). Without an index in that order a
-- province's first page read and sorted every member of the province, or worse (50 s on the
-- national data). With it, a large subtree walks the index and stops
-- after one page (6 ms for a province's first 50); small subtrees still read their path indexes.
CREATE INDEX members_created_order ON members (created_at, id);
