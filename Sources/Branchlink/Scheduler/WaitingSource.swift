import Foundation

/// One kind of item that waits on an organization (a table with `awaiting_org_id` and `due_on`),
/// described once as SQL over the alias `x` for the scheduler's set-based statements.
struct WaitingSource: Sendable {
    /// Item kind: the events' `entity_type`, so reminders follow the item's visibility rules
    /// (a confidential request's reminders reach only the organizations it involves).
    let kind: String
    let table: String
    /// The waiting step's name (the deadline-policy step that gave its due date).
    let step: String
    /// Identity of one wait: step, send-back round where a step can recur, and due date. A new wait
    /// on the same item (sent back and waiting again, a due date moved) is a new key.
    let stepKey: String
    /// The organizations the item involves: the `org_ids` of its events.
    let orgIDs: String
    /// Still waiting, beyond `awaiting_org_id IS NOT NULL` (the partial due-date index's predicate).
    let live: String
    let confidential: String

    static let all: [WaitingSource] = [
        WaitingSource(
            kind: "introduction", table: "introductions",
            step: "CASE x.status WHEN 'sent' THEN 'introduction_receive' WHEN 'received' THEN 'introduction_assign' ELSE 'introduction_acknowledge' END",
            stepKey: "x.status || '@' || x.due_on::text",
            orgIDs: "array_remove(ARRAY[x.workplace_id, x.commune_id, x.branch_id], NULL)",
            live: "TRUE", confidential: "FALSE"),
        WaitingSource(
            kind: "change_notice", table: "change_notices", step: "'notice_acknowledge'",
            stepKey: "x.status || '@' || x.due_on::text",
            orgIDs: "array_remove(ARRAY[x.workplace_id, x.commune_id, x.branch_id], NULL)",
            live: "TRUE", confidential: "FALSE"),
        WaitingSource(
            kind: "assessment_request", table: "assessment_requests",
            step: "CASE x.status WHEN 'requested' THEN 'request_forward' WHEN 'forwarded' THEN 'form_submit' WHEN 'submitted' THEN 'form_confirm' ELSE 'result_close' END",
            // forwarded → submitted → (sent back) forwarded again: the round tells the waits apart.
            stepKey: "x.status || '#' || x.send_back_count || '@' || x.due_on::text",
            orgIDs: "array_remove(ARRAY[x.requester_org_id, x.commune_id, x.branch_id], NULL)",
            live: "TRUE", confidential: "x.confidential"),
        WaitingSource(
            kind: "residence_report", table: "residence_reports", step: "'report_acknowledge'",
            stepKey: "x.status || '@' || x.due_on::text",
            orgIDs: "ARRAY[x.workplace_id, x.commune_id, x.branch_id]",
            live: "TRUE", confidential: "FALSE"),
        WaitingSource(
            kind: "workplace_task", table: "workplace_tasks", step: "x.kind",
            stepKey: "x.kind || '@' || x.due_on::text",
            orgIDs: "ARRAY[x.awaiting_org_id]",
            live: "x.done_at IS NULL", confidential: "FALSE"),
    ]

    static func named(_ kind: String) -> WaitingSource? { all.first { $0.kind == kind } }
}
