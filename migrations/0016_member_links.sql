-- The residence side of a large subtree's member list (MemberList.swift). A member belongs to a
-- subtree's list when it works there or has a live link (introduction) into it. For a province,
-- the live links into it are ~150,000 on the national data, almost all of members who also work in
-- the province; finding the few who work elsewhere meant probing every one of them (2-6 s a page).
--
-- member_links mirrors, for every member with a live link, the link's deepest path (the branch's,
-- else the commune's: the branch is under the commune, so "commune or branch in the subtree" is
-- "this path in the subtree") next to the member's workplace path, kept in step by triggers on
-- introductions and on members' workplace. The partial index holds only links that cross a
-- province (or central body) boundary: the residence side of a province is read from it directly.
CREATE TABLE member_links (
    member_id      uuid PRIMARY KEY REFERENCES members (id) ON DELETE CASCADE,
    link_path      ltree NOT NULL,
    workplace_path ltree NOT NULL
);
INSERT INTO member_links (member_id, link_path, workplace_path)
SELECT i.member_id, COALESCE(i.branch_path, i.commune_path), m.workplace_path
FROM introductions i JOIN members m ON m.id = i.member_id
WHERE i.status IN ('sent', 'received', 'assigned', 'active');
CREATE INDEX member_links_cross ON member_links USING gist (link_path)
    WHERE subpath(link_path, 0, least(2, nlevel(link_path))) <> subpath(workplace_path, 0, least(2, nlevel(workplace_path)));

-- One member has at most one live introduction (introductions_one_live), so the member's row is
-- recomputed from it whenever an introduction of the member changes.
CREATE FUNCTION member_links_sync(member uuid) RETURNS void LANGUAGE sql AS $$
    WITH live AS (
        SELECT COALESCE(i.branch_path, i.commune_path) AS link_path, m.workplace_path
        FROM introductions i JOIN members m ON m.id = i.member_id
        WHERE i.member_id = member AND i.status IN ('sent', 'received', 'assigned', 'active')
    ), gone AS (
        DELETE FROM member_links WHERE member_id = member AND NOT EXISTS (SELECT 1 FROM live)
    )
    INSERT INTO member_links (member_id, link_path, workplace_path)
    SELECT member, link_path, workplace_path FROM live
    ON CONFLICT (member_id) DO UPDATE SET link_path = EXCLUDED.link_path, workplace_path = EXCLUDED.workplace_path;
$$;

CREATE FUNCTION member_links_from_introduction() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN PERFORM member_links_sync(OLD.member_id); END IF;
    IF TG_OP <> 'DELETE' AND (TG_OP = 'INSERT' OR NEW.member_id IS DISTINCT FROM OLD.member_id) THEN
        PERFORM member_links_sync(NEW.member_id);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER introductions_member_links AFTER INSERT OR DELETE OR UPDATE OF status, commune_path, branch_path, member_id
    ON introductions FOR EACH ROW EXECUTE FUNCTION member_links_from_introduction();

CREATE FUNCTION member_links_from_member() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE member_links SET workplace_path = NEW.workplace_path WHERE member_id = NEW.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER members_member_links AFTER UPDATE OF workplace_path ON members
    FOR EACH ROW WHEN (NEW.workplace_path IS DISTINCT FROM OLD.workplace_path) EXECUTE FUNCTION member_links_from_member();
