import Branchlink
import XCTest

/// Every (state, action, side) of the introduction and change-notice machines against the expected
/// outcome, from one table.
final class IntroductionStateMachineTests: XCTestCase {
    typealias S = IntroductionStatus

    /// (action, allowed side, from-states that succeed, resulting state)
    static let table: [(IntroductionAction, ExchangeSide, Set<S>, S)] = [
        (.receive, .commune, [.sent], .received),
        (.assign, .commune, [.received, .assigned], .assigned),
        (.acknowledge, .branch, [.assigned], .active),
        (.return, .commune, [.sent, .received], .returned),
        (.withdraw, .workplace, [.sent, .received, .assigned], .withdrawn),
        (.end, .workplace, [.active], .ended),
    ]

    func testEveryStateActionAndSide() {
        var checked = 0
        for (action, allowedSide, okStates, target) in Self.table {
            for state in S.allCases {
                for side in ExchangeSide.allCases {
                    let result = IntroductionStateMachine.apply(action, to: state, by: side)
                    let expected: Result<S, TransitionRefusal>
                    if side != allowedSide {
                        expected = .failure(.wrongSide(required: allowedSide))
                    } else if okStates.contains(state) {
                        expected = .success(target)
                    } else {
                        expected = .failure(.invalidState(current: state.rawValue))
                    }
                    XCTAssertEqual(result, expected, "\(action) from \(state) by \(side)")
                    checked += 1
                }
            }
        }
        XCTAssertEqual(checked, IntroductionAction.allCases.count * S.allCases.count * ExchangeSide.allCases.count)
        XCTAssertEqual(Set(Self.table.map(\.0)), Set(IntroductionAction.allCases), "every action is in the table")
    }

    func testTerminalStatesAcceptNothing() {
        for state in [S.returned, .withdrawn, .ended] {
            for action in IntroductionAction.allCases {
                if case .success = IntroductionStateMachine.apply(action, to: state, by: action.actor) {
                    XCTFail("\(action) must not leave terminal state \(state)")
                }
            }
        }
        XCTAssertEqual(S.allCases.filter(\.isLive), [.sent, .received, .assigned, .active])
    }

    func testChangeNoticeEffectsAndAcknowledgement() {
        let effects: [ChangeNoticeKind: ChangeNoticeKind.Effect] = [
            .positionChange: .keepsLink, .disciplined: .keepsLink, .exemptionChange: .keepsLink, .dataCorrection: .keepsLink,
            .expelled: .endsLink, .removed: .endsLink, .leftParty: .endsLink, .deceased: .endsLink, .retired: .endsLink,
            .residenceChange: .endsLinkAndReintroduce, .workTransfer: .endsLinkIfOtherCommittee,
        ]
        XCTAssertEqual(Set(effects.keys), Set(ChangeNoticeKind.allCases))
        for (kind, effect) in effects { XCTAssertEqual(kind.effect, effect, "\(kind)") }

        for status in ChangeNoticeStatus.allCases {
            for side in ExchangeSide.allCases {
                let r = ChangeNoticeStateMachine.acknowledge(status, by: side)
                switch (side, status) {
                case (.commune, .sent), (.branch, .sent): XCTAssertEqual(r, .success(.acknowledged))
                case (.workplace, _), (.other, _): XCTAssertEqual(r, .failure(.wrongSide(required: .commune)))
                default: XCTAssertEqual(r, .failure(.invalidState(current: status.rawValue)))
                }
            }
        }
    }
}
