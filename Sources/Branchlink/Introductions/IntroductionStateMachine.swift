/// The residence link of a member (DESIGN.md §2 "Introduction"), as a pure state machine: no I/O,
/// table-tested in IntroductionStateMachineTests. Routes ask it before touching the database and
/// turn its refusals into 403/409 problems.
public enum IntroductionStatus: String, CaseIterable, Sendable, Codable {
    case sent, received, assigned, active, returned, withdrawn, ended

    /// A live introduction blocks another one for the same member.
    public var isLive: Bool { self == .sent || self == .received || self == .assigned || self == .active }
}

/// Which side of the exchange the caller acts for, relative to one introduction.
public enum ExchangeSide: String, CaseIterable, Sendable {
    /// The workplace committee that issued it (or an ancestor acting for it).
    case workplace
    /// The addressed commune/ward committee.
    case commune
    /// The residential branch it is assigned to.
    case branch
    /// Anyone else (a viewer of an ancestor, an unrelated organization).
    case other
}

public enum IntroductionAction: String, CaseIterable, Sendable {
    case receive, assign, acknowledge, `return`, withdraw
    /// Applied by a change notice that ends the link (expelled, moved, …), never called directly.
    case end

    /// The side allowed to take this action.
    public var actor: ExchangeSide {
        switch self {
        case .receive, .assign, .return: .commune
        case .acknowledge: .branch
        case .withdraw, .end: .workplace
        }
    }

    /// States the action may start from, and the state it leads to.
    public var transitions: (from: Set<IntroductionStatus>, to: IntroductionStatus) {
        switch self {
        case .receive: ([.sent], .received)
        // The commune may correct its choice of branch until the branch has taken the member on.
        case .assign: ([.received, .assigned], .assigned)
        case .acknowledge: ([.assigned], .active)
        case .return: ([.sent, .received], .returned)
        case .withdraw: ([.sent, .received, .assigned], .withdrawn)
        case .end: ([.active], .ended)
        }
    }
}

public enum TransitionRefusal: Error, Equatable, Sendable {
    /// The caller's side may not take this action (403).
    case wrongSide(required: ExchangeSide)
    /// The action is not allowed in the current state (409, with the current state).
    case invalidState(current: String)
}

public enum IntroductionStateMachine {
    /// The next status, or why the action is refused. The side is checked first: someone who may
    /// never take the action learns nothing about the state.
    public static func apply(_ action: IntroductionAction, to status: IntroductionStatus,
                             by side: ExchangeSide) -> Result<IntroductionStatus, TransitionRefusal> {
        guard side == action.actor else { return .failure(.wrongSide(required: action.actor)) }
        let t = action.transitions
        guard t.from.contains(status) else { return .failure(.invalidState(current: status.rawValue)) }
        return .success(t.to)
    }
}
