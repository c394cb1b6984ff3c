-- Member name search at national scale (issue 4: p99 <= 50 ms over 5.5 M members).
--
-- Ranking every match of a common fragment ("nguyen van" matches hundreds of thousands of
-- members) cannot be fast, but the rank of a member depends only on the spelling of its name:
-- exact-accent match on lower(full_name), similarity on its search key. There are few spellings
-- (about 90,000 for 5.5 M demo members), so the search ranks spellings, then walks the members of
-- each spelling in (created_at, id) order through a btree, and stops after one page.

-- Every lower-cased spelling of a member name that has ever been stored, with its search key.
-- Spellings whose members are gone stay: they only cost a lookup that finds no member.
CREATE TABLE member_name_forms (
    form       text PRIMARY KEY,
    search_key text NOT NULL
);
INSERT INTO member_name_forms (form, search_key)
SELECT DISTINCT lower(full_name), search_key(lower(full_name)) FROM members;
CREATE INDEX member_name_forms_trgm ON member_name_forms USING gin (search_key gin_trgm_ops);

-- Statement-level with transition tables: an import or a demo load of many rows costs one
-- set-based insert, not a trigger call per row.
CREATE FUNCTION member_name_forms_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO member_name_forms (form, search_key)
    SELECT DISTINCT lower(n.full_name), search_key(lower(n.full_name)) FROM member_name_forms_new n
    ON CONFLICT (form) DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER members_name_forms_insert AFTER INSERT ON members
    REFERENCING NEW TABLE AS member_name_forms_new FOR EACH STATEMENT EXECUTE FUNCTION member_name_forms_add();
CREATE TRIGGER members_name_forms_update AFTER UPDATE ON members
    REFERENCING NEW TABLE AS member_name_forms_new FOR EACH STATEMENT EXECUTE FUNCTION member_name_forms_add();

-- The members of one spelling in keyset order.
CREATE INDEX members_name_form ON members (lower(full_name), created_at, id);

ANALYZE member_name_forms;
ANALYZE members;
