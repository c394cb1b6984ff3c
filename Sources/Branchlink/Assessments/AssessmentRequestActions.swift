import Foundation
import HTTP
import Postgres

/// `POST /v1/assessment-requests/{id}/{forward|submit|send-back|confirm|close|cancel}`. The row is
/// locked before the state machine is asked, so concurrent calls serialize: one wins, the others
/// get 409 with the current status.
extension AssessmentRequestRoutes {
    static func act(_ action: AssessmentAction, _ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let id = try pathID(request)
        var input = try JSONInput(request)
        var text: String?
        switch action {
        case .sendBack, .cancel: text = input.string("reason", maxLength: 2000)
        case .close: text = input.string("note", required: false, maxLength: 2000)
        case .forward, .submit, .confirm, .editForm: break
        }
        try input.finish()

        let r = try ctx.db.transaction { db -> AssessmentRequest in
            let r = try load(db, id, for: p, forUpdate: true)
            let next: AssessmentStatus
            switch AssessmentStateMachine.apply(action, to: r.status, by: Policy.side(p, r.involved)) {
            case .failure(let refusal): throw Policy.refusal(refusal, action: action.rawValue)
            case .success(let s): next = s
            }
            try ETag.checkIfMatch(request, version: r.version)
            var orgIDs = [r.requesterOrgId, r.communeId] + (r.branchId.map { [$0] } ?? [])
            switch action {
            case .forward:
                // The branch is the one the member's link is assigned to now, not when the request
                // was made: a member who moved branch is assessed by the branch that knows him.
                guard let link = try db.queryRow("""
                    SELECT branch_id FROM introductions WHERE id = $1 AND status = 'active' AND branch_id IS NOT NULL
                    """, r.introductionId) else {
                    throw APIError(status: 409, code: "link_not_active",
                                   detail: "The member's residence link is no longer active: cancel the request or introduce the member again.")
                }
                let branchID = try link.decode(UUID.self, 0)
                let due = try dueOn(db, .formSubmit, orgID: branchID, neededBy: r.neededBy)
                try update(db, id, """
                    status = 'forwarded', forwarded_on = hcm_today(), branch_id = $2, awaiting_org_id = $2, due_on = $3
                    """, branchID, due)
                orgIDs.append(branchID)
            case .submit:
                try checkSubmittable(db, r)
                let due = try dueOn(db, .formConfirm, orgID: r.communeId, neededBy: r.neededBy)
                try update(db, id, "status = 'submitted', submitted_on = hcm_today(), awaiting_org_id = commune_id, due_on = $2", due)
            case .sendBack:
                guard let branchID = r.branchId else { throw APIError.notFound() }
                let due = try dueOn(db, .formSubmit, orgID: branchID, neededBy: r.neededBy)
                try update(db, id, """
                    status = 'forwarded', submitted_on = NULL, send_back_count = send_back_count + 1, send_back_reason = $2,
                    awaiting_org_id = branch_id, due_on = $3
                    """, text, due)
            case .confirm:
                let due = try dueOn(db, .resultClose, orgID: r.requesterOrgId, neededBy: r.neededBy)
                try update(db, id, "status = 'confirmed', confirmed_on = hcm_today(), awaiting_org_id = requester_org_id, due_on = $2", due)
            case .close:
                try update(db, id, "status = 'closed', closed_on = hcm_today(), close_note = $2, awaiting_org_id = NULL, due_on = NULL", text)
            case .cancel:
                try update(db, id, "status = 'cancelled', cancelled_on = hcm_today(), cancel_reason = $2, awaiting_org_id = NULL, due_on = NULL", text)
            case .editForm:
                throw APIError.notFound()
            }
            var data: [String: Any] = ["from": r.status.rawValue, "to": next.rawValue]
            if action == .sendBack { data["send_back_count"] = r.sendBackCount + 1 }
            try EventLog.append(db, type: action.eventType, entityType: "assessment_request", entityID: id, orgIDs: orgIDs, actor: p,
                                requestID: request.requestID, data: data)
            return try load(db, id, for: p)
        }
        return try JSONOutput.resource(r, version: r.version)
    }

    /// The two conditions of a submission: the comments were agreed at a recorded meeting with the
    /// Fatherland Front work committee (the "secretary comments alone" defect is impossible by
    /// construction), and every item of the form is filled in.
    static func checkSubmittable(_ db: Connection, _ r: AssessmentRequest) throws {
        let front = try r.meetingId.flatMap { try db.queryRow("SELECT front_attendees FROM assessment_meetings WHERE id = $1", $0) }
            .map { try $0.decode(Int.self, 0) } ?? 0
        guard front > 0 else {
            let message = r.meetingId == nil
                ? "No assessment meeting is recorded for this request: record the branch committee's meeting with the Front work committee first."
                : "The recorded meeting has no Front work committee attendee: the comments must be agreed with the Front work committee."
            throw APIError(status: 422, code: "front_meeting_required", detail: message,
                           errors: [FieldError(pointer: "/meeting_id", code: "front_meeting_required", message: message)])
        }
        let template = try FormTemplates.load(db, r.variant, version: r.formVersion)
        let content = try AssessmentFormRoutes.content(db, r.id) ?? FormContent()
        let errors = FormValidation.submitErrors(content, template)
        guard errors.isEmpty else {
            throw APIError(status: 422, code: "form_incomplete", detail: "The form is not complete: every item needs a grade before submission.",
                           errors: errors)
        }
    }

    /// `UPDATE assessment_requests SET <assignments>, updated_at, version+1 WHERE id = $1`.
    static func update(_ db: Connection, _ id: UUID, _ assignments: String, _ params: (any PostgresEncodable)...) throws {
        try db.execute("UPDATE assessment_requests SET \(assignments), updated_at = now(), version = version + 1 WHERE id = $1",
                       parameters: [id] + params)
    }
}
