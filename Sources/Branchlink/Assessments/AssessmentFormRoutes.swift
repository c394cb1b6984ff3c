import Foundation
import HTTP
import Postgres

/// `PUT /v1/assessment-requests/{id}/form` (the branch saves a draft while the request waits on it)
/// and `GET …/form`: the printable A4 form by default, JSON with `Accept: application/json`, PDF
/// with `Accept: application/pdf`.
///
/// Who reads the content when: the branch always; the commune (and its ancestors) once it is
/// submitted; the requesting side once the commune has confirmed it, as on paper, where the form
/// reaches the workplace only through the commune.
enum AssessmentFormRoutes {
    /// The stored form of a request, nil when the branch has saved nothing yet.
    static func content(_ db: Connection, _ requestID: UUID) throws -> FormContent? {
        try stored(db, requestID)?.content
    }

    struct Stored {
        var content: FormContent
        var version: Int
        var updatedAt: Date
    }

    static func stored(_ db: Connection, _ requestID: UUID) throws -> Stored? {
        guard let row = try db.queryRow("SELECT grades::text, proposal, remarks, version, updated_at FROM assessment_forms WHERE request_id = $1",
                                        requestID) else { return nil }
        let raw = try JSONSerialization.jsonObject(with: Data(try row.decode(String.self, 0).utf8)) as? [String: Any] ?? [:]
        var grades: [Int: Int] = [:]
        for (k, v) in raw { if let item = Int(k), let g = v as? Int { grades[item] = g } }
        let proposal = try row.decode(String?.self, 1).flatMap(FormProposal.init(rawValue:))
        return Stored(content: FormContent(grades: grades, proposal: proposal, remarks: try row.decode(String?.self, 2)),
                      version: try row.decode(Int.self, 3), updatedAt: try row.decode(Date.self, 4))
    }

    // MARK: Save the draft

    static func put(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        try Policy.require(p, .act)
        let id = try AssessmentRequestRoutes.pathID(request)
        var input = try JSONInput(request)
        var content = FormContent()
        if let items = input.array("items", required: false, maxCount: 20) {
            for (i, raw) in items.enumerated() {
                guard let o = raw as? [String: Any] else { input.fail("items/\(i)", "type", "must be an object"); continue }
                var itemInput = JSONInput(object: o)
                let number = itemInput.int("item", range: 1...20)
                let grade = itemInput.int("grade", range: 1...9)
                var errs = itemInput.errors
                itemInput.collectUnknown(into: &errs)
                for e in errs { input.fail("items/\(i)" + e.pointer, e.code, e.message) }
                guard let number, let grade else { continue }
                if content.grades[number] != nil { input.fail("items/\(i)/item", "duplicate_item", "item \(number) appears twice") }
                content.grades[number] = grade
                content.itemIndex[number] = i
            }
        }
        content.proposal = input.enumeration("proposal", FormProposal.self, required: false)
        content.remarks = input.string("remarks", required: false, maxLength: FormValidation.maxRemarks)
        try input.finish()

        let (r, saved) = try ctx.db.transaction { db -> (AssessmentRequest, Stored) in
            let r = try AssessmentRequestRoutes.load(db, id, for: p, forUpdate: true)
            if case .failure(let refusal) = AssessmentStateMachine.apply(.editForm, to: r.status, by: Policy.side(p, r.involved)) {
                throw Policy.refusal(refusal, action: "edit the form of")
            }
            let template = try FormTemplates.load(db, r.variant, version: r.formVersion)
            let errors = FormValidation.draftErrors(content, template)
            guard errors.isEmpty else { throw APIError(status: 422, code: "validation_failed", detail: "The form has invalid items.", errors: errors) }
            let previous = try stored(db, id)
            try ETag.checkIfMatch(request, version: previous?.version ?? 0)
            let grades = Dictionary(uniqueKeysWithValues: content.grades.map { (String($0.key), $0.value) })
            let json = String(decoding: try JSONSerialization.data(withJSONObject: grades, options: [.sortedKeys]), as: UTF8.self)
            let saved = try db.queryRow("""
                INSERT INTO assessment_forms (request_id, variant, template_version, grades, proposal, remarks, updated_by)
                VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)
                ON CONFLICT (request_id) DO UPDATE SET grades = excluded.grades, proposal = excluded.proposal, remarks = excluded.remarks,
                    updated_by = excluded.updated_by, updated_at = now(), version = assessment_forms.version + 1
                RETURNING version, updated_at
                """, id, r.formVariant, r.formVersion, json, content.proposal?.rawValue, content.remarks, p.accountID)
            try EventLog.append(db, type: AssessmentAction.editForm.eventType, entityType: "assessment_request", entityID: id,
                                orgIDs: [r.requesterOrgId, r.communeId] + (r.branchId.map { [$0] } ?? []), actor: p,
                                requestID: request.requestID, data: ["complete": FormValidation.submitErrors(content, template).isEmpty])
            return (r, Stored(content: FormContent(grades: content.grades, proposal: content.proposal, remarks: content.remarks),
                              version: try saved!.decode(Int.self, 0), updatedAt: try saved!.decode(Date.self, 1)))
        }
        let view = try FormView.make(ctx.db, r, saved)
        return try JSONOutput.resource(view, version: saved.version)
    }

    // MARK: Read

    static func get(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let r = try AssessmentRequestRoutes.load(ctx.db, try AssessmentRequestRoutes.pathID(request), for: p)
        try requireReadable(p, r)
        let saved = try stored(ctx.db, r.id)
        let accept = request.headers["accept"]?.lowercased() ?? ""
        if accept.contains("application/json") {
            let version = saved?.version ?? 0
            if let notModified = ETag.notModified(request, version: version) { return notModified }
            return try JSONOutput.resource(try FormView.make(ctx.db, r, saved), version: version)
        }
        let html = try AssessmentFormDocument.html(ctx.db, r, saved?.content ?? FormContent())
        return try PrintOutput.respond(request, html: html, filename: "phieu-nhan-xet-\(r.id.lower.prefix(8))")
    }

    static func requireReadable(_ p: Principal, _ r: AssessmentRequest) throws {
        if p.orgID == r.branchId { return }
        let reached: Set<AssessmentStatus> = Policy.contains(p, path: r.involved.communePath)
            ? [.submitted, .confirmed, .closed] : [.confirmed, .closed]
        guard reached.contains(r.status) else {
            throw APIError(status: 409, code: "form_not_available",
                           detail: "The form reaches the commune when the branch submits it, and the requesting organization when the commune confirms it.",
                           extra: ["current_status": r.status.rawValue])
        }
    }
}

/// The JSON form: the template's items with the chosen grades, the derived summary (labelled as
/// derived), the meeting it was agreed at, and the member's attendance at the branch's meetings
/// (what the branch looks at when it grades the attendance item).
struct FormView: Encodable {
    // Absent values are encoded as null, not left out: clients see every field of the contract.
    struct GradedItem: Encodable {
        var item: Int; var text: String; var gradeLabels: [String]; var grade: Int?; var gradeLabel: String?
        enum CodingKeys: String, CodingKey { case item, text, gradeLabels, grade, gradeLabel }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(item, forKey: .item); try c.encode(text, forKey: .text); try c.encode(gradeLabels, forKey: .gradeLabels)
            try c.encode(grade, forKey: .grade); try c.encode(gradeLabel, forKey: .gradeLabel)
        }
    }
    struct Option: Encodable { var value: String; var label: String }
    struct Proposal: Encodable {
        var item: Int; var text: String; var options: [Option]; var value: String?
        enum CodingKeys: String, CodingKey { case item, text, options, value }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(item, forKey: .item); try c.encode(text, forKey: .text); try c.encode(options, forKey: .options)
            try c.encode(value, forKey: .value)
        }
    }
    struct Remarks: Encodable {
        var item: Int; var text: String; var value: String?
        enum CodingKeys: String, CodingKey { case item, text, value }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(item, forKey: .item); try c.encode(text, forKey: .text); try c.encode(value, forKey: .value)
        }
    }
    struct Summary: Encodable {
        var derived = true; var value: String?; var label: String?; var rule = FormSummary.rule
        enum CodingKeys: String, CodingKey { case derived, value, label, rule }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(derived, forKey: .derived); try c.encode(value, forKey: .value); try c.encode(label, forKey: .label)
            try c.encode(rule, forKey: .rule)
        }
    }
    struct Attendance: Encodable { var meetingId: String; var heldOn: PGDate; var topic: String; var status: String }

    var requestId: String
    var status: String
    var formVariant: String
    var templateVersion: Int
    var items: [GradedItem]
    var proposal: Proposal?
    var remarks: Remarks?
    var summary: Summary
    var meeting: AssessmentMeeting?
    var attendanceHistory: [Attendance]
    var version: Int
    var updatedAt: Date?

    enum CodingKeys: String, CodingKey {
        case requestId, status, formVariant, templateVersion, items, proposal, remarks, summary, meeting, attendanceHistory, version, updatedAt
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(requestId, forKey: .requestId)
        try c.encode(status, forKey: .status)
        try c.encode(formVariant, forKey: .formVariant)
        try c.encode(templateVersion, forKey: .templateVersion)
        try c.encode(items, forKey: .items)
        try c.encode(proposal, forKey: .proposal)
        try c.encode(remarks, forKey: .remarks)
        try c.encode(summary, forKey: .summary)
        try c.encode(meeting, forKey: .meeting)
        try c.encode(attendanceHistory, forKey: .attendanceHistory)
        try c.encode(version, forKey: .version)
        try c.encode(updatedAt, forKey: .updatedAt)
    }

    static func make(_ db: Connection, _ r: AssessmentRequest, _ saved: AssessmentFormRoutes.Stored?) throws -> FormView {
        let t = try FormTemplates.load(db, r.variant, version: r.formVersion)
        let c = saved?.content ?? FormContent()
        let graded = t.gradedItems.map { item in
            let g = c.grades[item.number]
            return GradedItem(item: item.number, text: item.textVi, gradeLabels: item.gradeLabels, grade: g,
                              gradeLabel: g.flatMap { item.gradeLabels.indices.contains($0 - 1) ? item.gradeLabels[$0 - 1] : nil })
        }
        let proposal = t.items.first { $0.kind == .proposal }.map { item in
            Proposal(item: item.number, text: item.textVi,
                     options: FormProposal.allCases.map { Option(value: $0.rawValue, label: item.gradeLabels[$0.index]) }, value: c.proposal?.rawValue)
        }
        let remarks = t.items.first { $0.kind == .remarks }.map { Remarks(item: $0.number, text: $0.textVi, value: c.remarks) }
        let summary = FormSummary.derive(c, t)
        let history = try db.query("""
            SELECT rm.id, rm.held_on, rm.topic, a.status FROM residence_meeting_attendance a JOIN residence_meetings rm ON rm.id = a.meeting_id
            WHERE a.member_id = $1 AND rm.held_on >= make_date($2::int - 1, 1, 1) ORDER BY rm.held_on DESC, rm.id LIMIT 24
            """, r.memberId, r.year).map {
            Attendance(meetingId: try $0.decode(UUID.self, 0).lower, heldOn: try $0.decode(PGDate.self, 1), topic: try $0.decode(String.self, 2),
                       status: try $0.decode(String.self, 3))
        }
        let meeting = try r.meetingId.flatMap { try AssessmentMeetingRoutes.fetch(db, $0) }
        return FormView(requestId: r.id.lower, status: r.status.rawValue, formVariant: r.formVariant, templateVersion: t.version,
                        items: graded, proposal: proposal, remarks: remarks,
                        summary: Summary(value: summary?.rawValue, label: summary?.labelVi), meeting: meeting,
                        attendanceHistory: history, version: saved?.version ?? 0, updatedAt: saved?.updatedAt)
    }
}
