-- Member lists are ordered by (created_at, id) (keyset paging), within the caller's subtree. Without
-- an index in that order a province's first page read and sorted every member of the province, or
-- worse (50 s on the national data). members_province_order keeps each province's members in list
-- order, so a province (or anything in it) walks only its own range and stops after one page; the
-- root walks members_created_order. Small subtrees still read their path indexes (MemberList.swift).
CREATE INDEX members_created_order ON members (created_at, id);
CREATE INDEX members_province_order ON members ((subpath(workplace_path, 0, least(2, nlevel(workplace_path)))), created_at, id);
