import Foundation

/// One row of `GET /v1/reports/coverage`: the counts of one organization's subtree, as flat named
/// counters ("introductions.pending.assign") that become nested JSON objects and CSV columns. Pure:
/// the SQL side (CoverageReport) only feeds it aggregated rows.
struct CoverageRow: Sendable {
    struct Org: Sendable {
        var id: UUID
        var code: String
        var name: String
        var kind: String
        /// ltree text; the key the aggregated rows are matched on.
        var path: String
        /// A residential branch (a branch under a commune): its members are those linked to it.
        var residentialBranch: Bool
    }

    static let statuses = ["requested", "forwarded", "submitted", "confirmed", "closed", "cancelled"]
    static let steps = ["introduction_receive", "introduction_assign", "introduction_acknowledge", "notice_acknowledge",
                        "report_acknowledge", "request_forward", "form_submit", "form_confirm", "result_close", "reintroduce"]

    /// Every counter, in CSV column order.
    static let columns: [String] = {
        var c = ["members.working", "members.exempt.activities", "members.exempt.introduction",
                 "introductions.introduced", "introductions.active", "introductions.pending.receive", "introductions.pending.assign",
                 "introductions.pending.acknowledge", "introductions.returned",
                 "change_notices.sent", "change_notices.acknowledged", "change_notices.overdue"]
        c += statuses.map { "annual_requests.\($0)" }
        c += statuses.map { "on_demand_requests.\($0)" } + ["on_demand_requests.confidential"]
        c += ["forms.recorded", "forms.with_front_meeting", "forms.grades.1", "forms.grades.2", "forms.grades.3",
              "forms.proposals.commend", "forms.proposals.none", "forms.proposals.consider_handling"]
        c += ["overdue.total"] + steps.map { "overdue.by_step.\($0)" }
        return c
    }()

    var org: Org
    var counts: [String: Int] = Dictionary(uniqueKeysWithValues: CoverageRow.columns.map { ($0, 0) })
    /// Linked (live-introduction) members, used instead of the residence count for residential branches.
    var linked = 0, linkedExemptActivities = 0
    var links: [String: String] = [:]

    init(org: Org) { self.org = org }

    mutating func add(_ key: String, _ n: Int) { counts[key, default: 0] += n }

    /// One aggregated database row (see CoverageReport.sql for the sources and their keys).
    mutating func add(source: String, k1: String?, k2: String?, k3: String?, n: [Int]) {
        switch source {
        case "m":
            add("members.working", n[0])
            if k1 == "activities" { add("members.exempt.activities", n[0]) }
            if k1 == "introduction" { add("members.exempt.introduction", n[0]) }
        case "i":
            let live = ["sent", "received", "assigned", "active"].contains(k1 ?? "")
            if live {
                add("introductions.introduced", n[0])
                linked += n[0]
                if k2 == "true" { linkedExemptActivities += n[0] }
            }
            switch k1 {
            case "active": add("introductions.active", n[0])
            case "sent": add("introductions.pending.receive", n[0])
            case "received": add("introductions.pending.assign", n[0])
            case "assigned": add("introductions.pending.acknowledge", n[0])
            case "returned": add("introductions.returned", n[0])
            default: break
            }
        case "n":
            add("change_notices.sent", n[0])
            if k1 == "acknowledged" { add("change_notices.acknowledged", n[0]) }
            if k1 == "sent" && k2 == "true" { add("change_notices.overdue", n[0]) }
        case "r":
            guard let purpose = k1, let status = k2 else { return }
            add("\(purpose)_requests.\(status)", n[0])
            if purpose == "on_demand" { add("on_demand_requests.confidential", n[1]) }
            add("forms.with_front_meeting", n[2])
            add("forms.recorded", n[3])
            add("forms.grades.1", n[4])
            add("forms.grades.2", n[5])
            add("forms.grades.3", n[6])
            if let proposal = k3 { add("forms.proposals.\(proposal)", n[3]) }
        case "o":
            guard let step = k1 else { return }
            add("overdue.total", n[0])
            add("overdue.by_step.\(step)", n[0])
        default: break
        }
    }

    /// The final counters: a residential branch's members are those linked to it (members record
    /// the residence commune, not the branch); an introduction-exempt count is withheld (nil) from
    /// residence-side callers, who never learn of such members (HD 33 §1.2).
    func values(residenceCaller: Bool) -> [String: Int?] {
        var v: [String: Int?] = counts.mapValues { Optional($0) }
        if org.residentialBranch {
            v["members.working"] = linked
            v["members.exempt.activities"] = linkedExemptActivities
            v["members.exempt.introduction"] = 0
        }
        if residenceCaller { v["members.exempt.introduction"] = .some(nil) }
        return v
    }

    func json(residenceCaller: Bool) -> [String: Any] {
        var out: [String: Any] = ["org": ["id": org.id.lower, "code": org.code, "name": org.name, "kind": org.kind]]
        for (key, value) in values(residenceCaller: residenceCaller) {
            CoverageRow.set(&out, path: key.split(separator: ".").map(String.init), value: value.map { $0 as Any } ?? NSNull())
        }
        out["links"] = links.isEmpty ? [:] : links
        return out
    }

    static func set(_ object: inout [String: Any], path: [String], value: Any) {
        guard let first = path.first else { return }
        if path.count == 1 { object[first] = value; return }
        var inner = object[first] as? [String: Any] ?? [:]
        set(&inner, path: Array(path.dropFirst()), value: value)
        object[first] = inner
    }

    static let csvHeader = ["org_id", "org_code", "org_name", "org_kind"] + columns.map { $0.replacingOccurrences(of: ".", with: "_") }

    func csv(residenceCaller: Bool) -> [String?] {
        let v = values(residenceCaller: residenceCaller)
        return [org.id.lower, org.code, org.name, org.kind] + CoverageRow.columns.map { key in v[key].flatMap { $0 }.map(String.init) }
    }

    /// Drill-down: the same report for this organization, its overdue list, and the existing lists
    /// filtered on it where they have a filter for this kind of organization.
    mutating func addLinks(year: Int, workplaceSide: Bool) {
        let id = org.id.lower
        links["report"] = "/v1/reports/coverage?org_id=\(id)&year=\(year)" + (workplaceSide ? "&group_by=workplace" : "")
        links["overdue"] = "/v1/reports/overdue?org_id=\(id)"
        if workplaceSide {
            links["members"] = "/v1/members?org_id=\(id)"
            links["introductions"] = "/v1/introductions?workplace_id=\(id)"
            links["assessment_requests"] = "/v1/assessment-requests?requester_org_id=\(id)&year=\(year)"
        } else if org.kind == "commune" {
            links["introductions"] = "/v1/introductions?commune_id=\(id)"
            links["assessment_requests"] = "/v1/assessment-requests?commune_id=\(id)&year=\(year)"
        } else if org.residentialBranch {
            links["introductions"] = "/v1/introductions?branch_id=\(id)"
            links["assessment_requests"] = "/v1/assessment-requests?branch_id=\(id)&year=\(year)"
        }
    }
}
