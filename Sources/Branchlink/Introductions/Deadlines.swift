import Foundation
import Postgres

/// Waiting steps and their due dates. Due dates are computed once, when an item starts waiting on
/// an organization, from the policy in force for that organization (`policy_days()` walks up the
/// tree); "overdue" is derived at read time (`due_on < hcm_today()`), never stored.
public enum WaitingStep: String, CaseIterable, Sendable {
    case introductionReceive = "introduction_receive"
    case introductionAssign = "introduction_assign"
    case introductionAcknowledge = "introduction_acknowledge"
    case noticeAcknowledge = "notice_acknowledge"
    case requestForward = "request_forward"
    case formSubmit = "form_submit"
    case formConfirm = "form_confirm"
    case resultClose = "result_close"
    case reintroduce

    /// Fallback when no policy row sets the step (the root row of migration 0005 sets them all).
    var defaultDays: Int {
        switch self {
        case .introductionReceive, .introductionAssign, .noticeAcknowledge, .resultClose: 10
        case .introductionAcknowledge: 15
        case .requestForward, .formConfirm: 7
        case .formSubmit: 20
        case .reintroduce: 30
        }
    }
}

public enum Deadlines {
    /// Due date (Asia/Ho_Chi_Minh calendar) of `step` starting today at organization `orgID`.
    public static func dueOn(_ db: Connection, step: WaitingStep, orgID: UUID) throws -> PGDate {
        let row = try db.queryRow("SELECT hcm_today() + COALESCE(policy_days($1, $2), $3::int)", orgID, step.rawValue, step.defaultDays)
        return try row!.decode(PGDate.self, 0)
    }

    public static func today(_ db: Connection) throws -> PGDate {
        try db.queryRow("SELECT hcm_today()")!.decode(PGDate.self, 0)
    }
}
