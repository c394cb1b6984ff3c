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

    /// Each column's path ("introductions", "pending", "assign") and the index of a column by name.
    static let parts: [[String]] = columns.map { $0.split(separator: ".").map(String.init) }
    static let index: [String: Int] = Dictionary(uniqueKeysWithValues: columns.enumerated().map { ($1, $0) })

    var org: Org
    var counts = [Int](repeating: 0, count: CoverageRow.columns.count)
    /// Linked (live-introduction) members, used instead of the residence count for residential branches.
    var linked = 0, linkedExemptActivities = 0
    var links: [(String, String)] = []

    init(org: Org) { self.org = org }

    mutating func add(_ key: String, _ n: Int) {
        guard let i = CoverageRow.index[key] else { return }
        counts[i] += n
    }

    /// One aggregated database row (see CoverageSQL for the sources and their keys).
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

    /// The final counters in column order: a residential branch's members are those linked to it
    /// (members record the residence commune, not the branch); the introduction-exempt count is
    /// withheld (nil) from residence-side callers, who never learn of such members (HD 33 §1.2).
    func values(residenceCaller: Bool) -> [Int?] {
        var v: [Int?] = counts
        if org.residentialBranch {
            v[CoverageRow.index["members.working"]!] = linked
            v[CoverageRow.index["members.exempt.activities"]!] = linkedExemptActivities
            v[CoverageRow.index["members.exempt.introduction"]!] = 0
        }
        if residenceCaller { v[CoverageRow.index["members.exempt.introduction"]!] = nil }
        return v
    }

    /// The row as a JSON object: the dotted column names become nested objects (the columns of
    /// one object are contiguous in `columns`). Written directly as bytes: a country's sending
    /// side has 33,000 rows, which JSONSerialization took tens of seconds to write.
    func write(_ out: inout JSONBytes, residenceCaller: Bool) {
        out.raw("{\"org\":{\"id\":")
        out.uuid(org.id)
        out.raw(",\"code\":")
        out.string(org.code)
        out.raw(",\"name\":")
        out.string(org.name)
        out.raw(",\"kind\":")
        out.string(org.kind)
        out.raw("}")
        var open: [String] = []
        var hasItems = [true]
        func key(_ k: String) {
            if hasItems[hasItems.count - 1] { out.raw(",") }
            hasItems[hasItems.count - 1] = true
            out.string(k)
            out.raw(":")
        }
        for (i, value) in values(residenceCaller: residenceCaller).enumerated() {
            let path = CoverageRow.parts[i], dirs = path.dropLast()
            var common = 0
            while common < open.count && common < dirs.count && open[common] == dirs[dirs.startIndex + common] { common += 1 }
            while open.count > common { out.raw("}"); open.removeLast(); hasItems.removeLast() }
            for d in dirs.dropFirst(common) { key(d); out.raw("{"); open.append(d); hasItems.append(false) }
            key(path[path.count - 1])
            if let value { out.int(value) } else { out.null() }
        }
        for _ in open { out.raw("}") }
        out.raw(",\"links\":{")
        for (i, (name, href)) in links.enumerated() {
            if i > 0 { out.raw(",") }
            out.string(name)
            out.raw(":")
            out.string(href)
        }
        out.raw("}}")
    }

    static let csvHeader = ["org_id", "org_code", "org_name", "org_kind"] + columns.map { $0.replacingOccurrences(of: ".", with: "_") }

    func csv(residenceCaller: Bool) -> [String?] {
        [org.id.lower, org.code, org.name, org.kind] + values(residenceCaller: residenceCaller).map { $0.map(String.init) }
    }

    /// Drill-down: the same report for this organization, its overdue list, and the existing lists
    /// filtered on it where they have a filter for this kind of organization.
    mutating func addLinks(year: Int, workplaceSide: Bool) {
        let id = org.id.lower
        links = [("report", "/v1/reports/coverage?org_id=\(id)&year=\(year)" + (workplaceSide ? "&group_by=workplace" : "")),
                 ("overdue", "/v1/reports/overdue?org_id=\(id)")]
        if workplaceSide {
            links += [("members", "/v1/members?org_id=\(id)"), ("introductions", "/v1/introductions?workplace_id=\(id)"),
                      ("assessment_requests", "/v1/assessment-requests?requester_org_id=\(id)&year=\(year)")]
        } else if org.kind == "commune" {
            links += [("introductions", "/v1/introductions?commune_id=\(id)"),
                      ("assessment_requests", "/v1/assessment-requests?commune_id=\(id)&year=\(year)")]
        } else if org.residentialBranch {
            links += [("introductions", "/v1/introductions?branch_id=\(id)"),
                      ("assessment_requests", "/v1/assessment-requests?branch_id=\(id)&year=\(year)")]
        }
    }
}
