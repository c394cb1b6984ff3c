import Foundation
import Postgres

/// The three things the scheduler says about one waiting step, each at most once.
public enum ReminderKind: String, CaseIterable, Sendable {
    /// The step is due within `due_soon_days` (and not yet overdue).
    case dueSoon = "due_soon"
    /// The due date has passed (`due_on < today`, the same "overdue" as everywhere else).
    case overdue
    /// Overdue by `escalate_after_days` or more: goes to the parent of the organization waited on.
    case escalation
}

/// The effective deadline-policy values for the organization a step waits on (`due_soon_days`,
/// `escalate_after_days`: PUT /v1/policies, inherited down the tree), and how far back the
/// scheduler looks for steps it has not yet reminded (a scheduler that starts on old data does not
/// remind of items overdue for years).
public struct ReminderPolicy: Sendable, Equatable {
    public var dueSoonDays: Int
    public var escalateAfterDays: Int
    public var lookbackDays: Int

    public static let defaultDueSoonDays = 3
    public static let defaultEscalateAfterDays = 7
    public static let defaultLookbackDays = 365

    public init(dueSoonDays: Int = defaultDueSoonDays, escalateAfterDays: Int = defaultEscalateAfterDays,
                lookbackDays: Int = defaultLookbackDays) {
        self.dueSoonDays = dueSoonDays
        self.escalateAfterDays = escalateAfterDays
        self.lookbackDays = lookbackDays
    }
}

/// The pure rule, table-tested in SchedulerTests; `ReminderTask` states the same conditions in SQL
/// (set-based, over millions of rows) and the month-long simulation checks both agree.
public enum ReminderRule {
    /// Which reminders are due for a step due on `dueOn`, on calendar day `today` (Asia/Ho_Chi_Minh).
    /// A reminder that is due stays due until it is sent: a scheduler that was down sends it late,
    /// once. `due_soon` is no longer due once the step is overdue (a late "due soon" says nothing
    /// the "overdue" does not); nothing is due for steps overdue beyond the look-back.
    public static func due(dueOn: PGDate, today: PGDate, policy: ReminderPolicy) -> Set<ReminderKind> {
        let daysLeft = dueOn.daysSince2000 - today.daysSince2000
        var kinds: Set<ReminderKind> = []
        if daysLeft >= 0 {
            if daysLeft <= policy.dueSoonDays { kinds.insert(.dueSoon) }
            return kinds
        }
        let overdueBy = -daysLeft
        guard overdueBy <= policy.lookbackDays else { return kinds }
        kinds.insert(.overdue)
        if overdueBy >= policy.escalateAfterDays { kinds.insert(.escalation) }
        return kinds
    }

    /// The scheduler's calendar day for the instant `now`.
    public static func today(_ now: Date) -> PGDate { PGDate(now, timeZone: serviceTimeZone) }

    static let serviceTimeZone = TimeZone(identifier: "Asia/Ho_Chi_Minh") ?? TimeZone(secondsFromGMT: 7 * 3600)!
}
