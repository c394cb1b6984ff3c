import Foundation
import HTTP
import Postgres

/// `/v1/escalations/{id}`: an item overdue by `escalate_after_days`, put by the scheduler into the
/// inbox of the parent of the organization it waits on (inbox kind `escalation`). The parent's
/// accounts acknowledge it (it leaves their inbox; the item itself still waits on the child); the
/// scheduler resolves it when the item stops waiting in that step. Visible to the parent's subtree
/// (which holds the organization waited on) and its ancestors; only the parent acts on it.
/// Pure rule of an escalation (table-tested in SchedulerTests).
public enum EscalationStateMachine {
    /// Only the parent organization's own officers and admins acknowledge, and only an open
    /// escalation (`resolved` and `acknowledged` are final). The side is checked first, like the
    /// exchanges' actions: someone who may never acknowledge learns nothing about the state.
    public static func acknowledge(_ status: String, byParent: Bool) -> Result<String, TransitionRefusal> {
        guard byParent else { return .failure(.wrongSide(required: .other)) }
        guard status == "open" else { return .failure(.invalidState(current: status)) }
        return .success("acknowledged")
    }
}

enum EscalationRoutes {
    static func register(on router: Router<AppContext>) {
        router.get("/v1/escalations/{id}", get)
        router.post("/v1/escalations/{id}/acknowledge", acknowledge)
    }

    struct Escalation {
        var id: UUID, itemKind: String, itemID: UUID, step: String, memberID: UUID, memberName: String
        var itemDueOn: PGDate, daysOverdue: Int, escalatedOn: PGDate, waitedOrgID: UUID, escalatedToOrgID: UUID, path: String
        var status: String, awaitingOrgID: UUID?, dueOn: PGDate?, note: String?, acknowledgedAt: Date?, acknowledgedBy: UUID?
        var resolvedAt: Date?, createdAt: Date, updatedAt: Date, version: Int, today: PGDate

        var itemHref: String {
            switch itemKind {
            case "introduction": "/v1/introductions/\(itemID.lower)"
            case "change_notice": "/v1/change-notices/\(itemID.lower)"
            case "assessment_request": "/v1/assessment-requests/\(itemID.lower)"
            case "residence_report": "/v1/residence-reports/\(itemID.lower)"
            default: "/v1/members/\(memberID.lower)"
            }
        }

        func json() throws -> [UInt8] {
            let obj: [String: Any] = [
                "id": id.lower, "item": ["kind": itemKind, "id": itemID.lower, "href": itemHref], "step": step,
                "member": ["id": memberID.lower, "full_name": memberName], "item_due_on": itemDueOn.description,
                "days_overdue": daysOverdue, "escalated_on": escalatedOn.description, "waited_org_id": waitedOrgID.lower,
                "escalated_to_org_id": escalatedToOrgID.lower, "status": status,
                "awaiting_org_id": awaitingOrgID?.lower ?? NSNull(), "due_on": dueOn?.description ?? NSNull(),
                "overdue": dueOn.map { $0 < today } ?? false, "note": note ?? NSNull(),
                "acknowledged_at": acknowledgedAt.map(Timestamp.rfc3339) ?? NSNull(),
                "acknowledged_by": acknowledgedBy?.lower ?? NSNull(), "resolved_at": resolvedAt.map(Timestamp.rfc3339) ?? NSNull(),
                "created_at": Timestamp.rfc3339(createdAt), "updated_at": Timestamp.rfc3339(updatedAt), "version": version,
            ]
            return Array(try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys]))
        }
    }

    static func load(_ db: Connection, _ id: UUID, for p: Principal, forUpdate: Bool = false) throws -> Escalation {
        guard let r = try db.queryRow("""
            SELECT e.id, e.item_kind, e.item_id, e.step, e.member_id, m.full_name, e.item_due_on, e.days_overdue, e.escalated_on,
                   e.waited_org_id, e.escalated_to_org_id, e.escalated_to_path::text, e.status, e.awaiting_org_id, e.due_on, e.note,
                   e.acknowledged_at, e.acknowledged_by, e.resolved_at, e.created_at, e.updated_at, e.version, hcm_today()
            FROM escalations e JOIN members m ON m.id = e.member_id WHERE e.id = $1
            """ + (forUpdate ? " FOR UPDATE OF e" : ""), id) else { throw APIError.notFound("escalation") }
        let e = Escalation(
            id: try r.decode(UUID.self, 0), itemKind: try r.decode(String.self, 1), itemID: try r.decode(UUID.self, 2),
            step: try r.decode(String.self, 3), memberID: try r.decode(UUID.self, 4), memberName: try r.decode(String.self, 5),
            itemDueOn: try r.decode(PGDate.self, 6), daysOverdue: try r.decode(Int.self, 7), escalatedOn: try r.decode(PGDate.self, 8),
            waitedOrgID: try r.decode(UUID.self, 9), escalatedToOrgID: try r.decode(UUID.self, 10), path: try r.decode(String.self, 11),
            status: try r.decode(String.self, 12), awaitingOrgID: try r.decode(UUID?.self, 13), dueOn: try r.decode(PGDate?.self, 14),
            note: try r.decode(String?.self, 15), acknowledgedAt: try r.decode(Date?.self, 16), acknowledgedBy: try r.decode(UUID?.self, 17),
            resolvedAt: try r.decode(Date?.self, 18), createdAt: try r.decode(Date.self, 19), updatedAt: try r.decode(Date.self, 20),
            version: try r.decode(Int.self, 21), today: try r.decode(PGDate.self, 22))
        guard Policy.contains(p, path: e.path) else { throw APIError.notFound("escalation") }
        return e
    }

    static func get(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let e = try load(ctx.db, try request.pathUUID(notFound: "escalation"), for: p)
        if let notModified = ETag.notModified(request, version: e.version) { return notModified }
        return JSONOutput.resource(json: try e.json(), version: e.version)
    }

    static func acknowledge(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        try Policy.require(p, .act)
        let id = try request.pathUUID(notFound: "escalation")
        var input = try JSONInput(request)
        let note = input.string("note", required: false, maxLength: 2000)
        try input.finish()
        let e = try ctx.db.transaction { db -> Escalation in
            let e = try load(db, id, for: p, forUpdate: true)
            if case .failure(let refusal) = EscalationStateMachine.acknowledge(e.status, byParent: p.orgID == e.escalatedToOrgID && p.role != .viewer) {
                if case .wrongSide = refusal {
                    throw APIError(status: 403, code: "not_your_action",
                                   detail: "Only the organization the item was escalated to acknowledges the escalation.")
                }
                throw Policy.refusal(refusal, action: "acknowledge")
            }
            try ETag.checkIfMatch(request, version: e.version)
            try db.execute("""
                UPDATE escalations SET status = 'acknowledged', awaiting_org_id = NULL, due_on = NULL, note = $2, acknowledged_at = now(),
                    acknowledged_by = $3, updated_at = now(), version = version + 1 WHERE id = $1
                """, id, note, p.accountID)
            let orgIDs = try db.queryRow("SELECT org_ids FROM escalations WHERE id = $1", id)!.decode([UUID].self, 0)
            try EventLog.append(db, type: "escalation.acknowledged", entityType: "escalation", entityID: id, orgIDs: orgIDs, actor: p,
                                requestID: request.requestID, data: ["item": ["kind": e.itemKind, "id": e.itemID.lower], "step": e.step])
            return try load(db, id, for: p)
        }
        return JSONOutput.resource(json: try e.json(), version: e.version)
    }
}
