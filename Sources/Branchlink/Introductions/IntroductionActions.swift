import Foundation
import HTTP
import Postgres

/// `POST /v1/introductions/{id}/{receive|assign|acknowledge|return|withdraw}`. The row is locked
/// (`FOR UPDATE`) before the state machine is asked, so concurrent calls serialize: exactly one
/// `receive` wins, the others get 409 with the current status.
extension IntroductionRoutes {
    static func act(_ action: IntroductionAction, _ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let id = try pathID(request)
        var input = try JSONInput(request)
        var branchID: UUID?
        var reasonCode: String?
        var reason: String?
        switch action {
        case .assign: branchID = input.uuid("branch_id")
        case .return:
            reasonCode = input.string("reason_code", pattern: "^(wrong_address|not_resident|other)$")
            reason = input.string("reason", required: reasonCode == "other", maxLength: 2000)
        case .withdraw: reason = input.string("reason", maxLength: 2000)
        case .receive, .acknowledge, .end: break
        }
        try input.finish()

        let intro = try ctx.db.transaction { db -> Introduction in
            let intro = try load(db, id, for: p, forUpdate: true)
            if case .failure(let refusal) = IntroductionStateMachine.apply(action, to: intro.status, by: Policy.side(p, intro.involved)) {
                throw Policy.refusal(refusal, action: action.rawValue)
            }
            try ETag.checkIfMatch(request, version: intro.version)
            var orgIDs = [intro.workplaceId, intro.communeId] + (intro.branchId.map { [$0] } ?? [])
            switch action {
            case .receive:
                let due = try Deadlines.dueOn(db, step: .introductionAssign, orgID: intro.communeId)
                try update(db, id, "status = 'received', received_on = hcm_today(), awaiting_org_id = commune_id, due_on = $2", due)
            case .assign:
                guard let branchID, let row = try db.queryRow("""
                    SELECT path::text FROM organizations WHERE id = $1 AND kind = 'branch' AND parent_id = $2 AND valid_to IS NULL
                    """, branchID, intro.communeId) else {
                    throw fieldError(422, "invalid_branch", "/branch_id", "Must be an open residential branch of this commune.")
                }
                let due = try Deadlines.dueOn(db, step: .introductionAcknowledge, orgID: branchID)
                try update(db, id, """
                    status = 'assigned', assigned_on = hcm_today(), branch_id = $2, branch_path = $3::ltree, awaiting_org_id = $2, due_on = $4
                    """, branchID, try row.decode(String.self, 0), due)
                orgIDs.append(branchID)
            case .acknowledge:
                try update(db, id, "status = 'active', acknowledged_on = hcm_today(), awaiting_org_id = NULL, due_on = NULL")
            case .return:
                try update(db, id, "status = 'returned', return_reason_code = $2, return_reason = $3, awaiting_org_id = NULL, due_on = NULL",
                           reasonCode, reason)
            case .withdraw:
                try update(db, id, "status = 'withdrawn', withdraw_reason = $2, awaiting_org_id = NULL, due_on = NULL", reason)
            case .end:
                throw APIError.notFound()
            }
            let past = ["receive": "received", "assign": "assigned", "acknowledge": "acknowledged", "return": "returned", "withdraw": "withdrawn"]
            try EventLog.append(db, type: "introduction.\(past[action.rawValue] ?? action.rawValue)", entityType: "introduction",
                                entityID: id, orgIDs: orgIDs, actor: p, requestID: request.requestID,
                                data: ["from": intro.status.rawValue])
            return try load(db, id, for: p)
        }
        return try JSONOutput.resource(intro, version: intro.version)
    }

    /// `UPDATE introductions SET <assignments>, updated_at, version+1 WHERE id = $1`.
    static func update(_ db: Connection, _ id: UUID, _ assignments: String, _ params: (any PostgresEncodable)...) throws {
        try db.execute("UPDATE introductions SET \(assignments), updated_at = now(), version = version + 1 WHERE id = $1",
                       parameters: [id] + params)
    }
}
