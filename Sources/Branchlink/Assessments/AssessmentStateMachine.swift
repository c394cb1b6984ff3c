/// An assessment request (DESIGN.md §2, domain.md §9.3) as a pure state machine: no I/O, table-tested
/// in AssessmentStateMachineTests. The requester is the `workplace` side of `ExchangeSide`.
///
///     requested ─forward(commune)→ forwarded ─submit(branch)→ submitted ─confirm(commune)→ confirmed ─close(workplace)→ closed
///     submitted ─send-back(commune, reason)→ forwarded
///     requested | forwarded ─cancel(workplace, reason)→ cancelled
public enum AssessmentStatus: String, CaseIterable, Sendable, Codable {
    case requested, forwarded, submitted, confirmed, closed, cancelled

    /// The organization the request waits on in this state, and the policy step that dates it.
    public var waiting: (side: ExchangeSide, step: WaitingStep)? {
        switch self {
        case .requested: (.commune, .requestForward)
        case .forwarded: (.branch, .formSubmit)
        case .submitted: (.commune, .formConfirm)
        case .confirmed: (.workplace, .resultClose)
        case .closed, .cancelled: nil
        }
    }

    /// The action the waiting organization is expected to take (inbox rows name it).
    public var expectedAction: AssessmentAction? {
        switch self {
        case .requested: .forward
        case .forwarded: .submit
        case .submitted: .confirm
        case .confirmed: .close
        case .closed, .cancelled: nil
        }
    }
}

public enum AssessmentPurpose: String, CaseIterable, Sendable, Codable {
    case annual, admission, fullMembership = "full_membership", appointment, committeePersonnel = "committee_personnel"
    case reward, discipline, other

    /// Purposes a requester may ask for on demand; annual requests come only from campaigns.
    public static var onDemand: [AssessmentPurpose] { allCases.filter { $0 != .annual } }
}

public enum AssessmentAction: String, CaseIterable, Sendable {
    case forward, submit, sendBack = "send-back", confirm, close, cancel
    /// Not a transition: saving the draft form and recording the meeting are allowed to the branch
    /// while the request waits on it.
    case editForm = "edit-form"

    public var actor: ExchangeSide {
        switch self {
        case .forward, .sendBack, .confirm: .commune
        case .submit, .editForm: .branch
        case .close, .cancel: .workplace
        }
    }

    public var transitions: (from: Set<AssessmentStatus>, to: AssessmentStatus) {
        switch self {
        case .forward: ([.requested], .forwarded)
        case .submit: ([.forwarded], .submitted)
        // The commune returns a submitted form to the branch for changes; it waits on the branch again.
        case .sendBack: ([.submitted], .forwarded)
        case .confirm: ([.submitted], .confirmed)
        case .close: ([.confirmed], .closed)
        // Once the branch has submitted, the comments exist: the requester closes instead.
        case .cancel: ([.requested, .forwarded], .cancelled)
        case .editForm: ([.forwarded], .forwarded)
        }
    }

    /// The event type recorded for the transition.
    public var eventType: String {
        switch self {
        case .forward: "assessment_request.forwarded"
        case .submit: "assessment_request.submitted"
        case .sendBack: "assessment_request.sent_back"
        case .confirm: "assessment_request.confirmed"
        case .close: "assessment_request.closed"
        case .cancel: "assessment_request.cancelled"
        case .editForm: "assessment_form.saved"
        }
    }
}

public enum AssessmentStateMachine {
    /// The next status, or why the action is refused. The side is checked first: a caller who may
    /// never take the action learns nothing about the state.
    public static func apply(_ action: AssessmentAction, to status: AssessmentStatus,
                             by side: ExchangeSide) -> Result<AssessmentStatus, TransitionRefusal> {
        guard side == action.actor else { return .failure(.wrongSide(required: action.actor)) }
        let t = action.transitions
        guard t.from.contains(status) else { return .failure(.invalidState(current: status.rawValue)) }
        return .success(t.to)
    }
}
