import Branchlink
import XCTest

/// The assessment request state machine and the form validation, as pure functions: every action
/// from every state by every side, every item of every variant.
final class AssessmentRulesTests: XCTestCase {
    // MARK: State machine

    /// (action, allowed from, to, side): every other state is a 409, every other side a 403.
    let table: [(AssessmentAction, Set<AssessmentStatus>, AssessmentStatus, ExchangeSide)] = [
        (.forward, [.requested], .forwarded, .commune),
        (.submit, [.forwarded], .submitted, .branch),
        (.sendBack, [.submitted], .forwarded, .commune),
        (.confirm, [.submitted], .confirmed, .commune),
        (.close, [.confirmed], .closed, .workplace),
        (.cancel, [.requested, .forwarded], .cancelled, .workplace),
        (.editForm, [.forwarded], .forwarded, .branch),
    ]

    func testEveryActionFromEveryStateBySide() {
        XCTAssertEqual(table.count, AssessmentAction.allCases.count, "every action is in the table")
        var checked = 0
        for (action, from, to, actor) in table {
            for status in AssessmentStatus.allCases {
                for side in ExchangeSide.allCases {
                    let result = AssessmentStateMachine.apply(action, to: status, by: side)
                    if side != actor {
                        XCTAssertEqual(result, .failure(.wrongSide(required: actor)), "\(action) by \(side) from \(status)")
                    } else if from.contains(status) {
                        XCTAssertEqual(result, .success(to), "\(action) from \(status)")
                    } else {
                        XCTAssertEqual(result, .failure(.invalidState(current: status.rawValue)), "\(action) from \(status)")
                    }
                    checked += 1
                }
            }
        }
        XCTAssertEqual(checked, 7 * 6 * 4)
    }

    func testWaitingStepsAndTerminalStates() {
        let expected: [AssessmentStatus: (ExchangeSide, WaitingStep, AssessmentAction)?] = [
            .requested: (.commune, .requestForward, .forward), .forwarded: (.branch, .formSubmit, .submit),
            .submitted: (.commune, .formConfirm, .confirm), .confirmed: (.workplace, .resultClose, .close),
            .closed: nil, .cancelled: nil,
        ]
        for status in AssessmentStatus.allCases {
            let e = expected[status]!
            XCTAssertEqual(status.waiting?.side, e?.0, "\(status)")
            XCTAssertEqual(status.waiting?.step, e?.1, "\(status)")
            XCTAssertEqual(status.expectedAction, e?.2, "\(status)")
            // The waiting side is the side that takes the expected action.
            if let action = status.expectedAction { XCTAssertEqual(action.actor, status.waiting?.side) }
        }
        // Nothing leaves a terminal state.
        for status in [AssessmentStatus.closed, .cancelled] {
            for action in AssessmentAction.allCases {
                if case .success = AssessmentStateMachine.apply(action, to: status, by: action.actor) { XCTFail("\(action) from \(status)") }
            }
        }
        XCTAssertFalse(AssessmentPurpose.onDemand.contains(.annual))
        XCTAssertEqual(AssessmentPurpose.onDemand.count, 7)
    }

    // MARK: Forms

    /// The shape of the seeded templates (migration 0007; AssessmentFlowTests checks the database
    /// holds exactly this shape).
    static func template(_ variant: FormTemplate.Variant) -> FormTemplate {
        func graded(_ n: Int) -> FormTemplate.Item { .init(number: n, kind: .graded, textVi: "Mục \(n)", textEn: "Item \(n)", gradeLabels: ["a", "b", "c"]) }
        switch variant {
        case .A:
            return FormTemplate(variant: .A, version: 1, items: (1...5).map(graded) + [
                .init(number: 6, kind: .proposal, textVi: "Đề xuất", textEn: "Proposal", gradeLabels: ["Biểu dương", "Không đề nghị", "Xem xét xử lý"]),
                .init(number: 7, kind: .remarks, textVi: "Nhận xét khác", textEn: "Other", gradeLabels: []),
            ])
        case .B:
            return FormTemplate(variant: .B, version: 1, items: (1...3).map(graded) + [
                .init(number: 4, kind: .remarks, textVi: "Nhận xét khác", textEn: "Other", gradeLabels: []),
            ])
        }
    }

    func complete(_ variant: FormTemplate.Variant) -> FormContent {
        let t = Self.template(variant)
        return FormContent(grades: Dictionary(uniqueKeysWithValues: t.gradedItems.map { ($0.number, 1) }),
                           proposal: variant == .A ? .commend : nil, remarks: "Gương mẫu")
    }

    func testCompleteFormsOfBothVariantsAreValid() {
        for v in FormTemplate.Variant.allCases {
            XCTAssertEqual(FormValidation.draftErrors(complete(v), Self.template(v)), [], "\(v)")
            XCTAssertEqual(FormValidation.submitErrors(complete(v), Self.template(v)), [], "\(v)")
        }
    }

    /// Each graded item of each variant: missing → submit refuses naming it (a draft accepts);
    /// each grade 1–3 accepted; 0 and 4 refused with the item's pointer.
    func testEveryItemOfEveryVariant() {
        for v in FormTemplate.Variant.allCases {
            let t = Self.template(v)
            for item in t.gradedItems {
                var missing = complete(v)
                missing.grades[item.number] = nil
                XCTAssertEqual(FormValidation.draftErrors(missing, t), [], "\(v) item \(item.number) missing in a draft")
                XCTAssertEqual(FormValidation.submitErrors(missing, t).map(\.code), ["required"], "\(v) item \(item.number)")
                XCTAssertTrue(FormValidation.submitErrors(missing, t)[0].message.contains("item \(item.number)"))
                for grade in 1...3 {
                    var c = complete(v)
                    c.grades[item.number] = grade
                    XCTAssertEqual(FormValidation.submitErrors(c, t), [], "\(v) item \(item.number) grade \(grade)")
                }
                for grade in [0, 4] {
                    var c = complete(v)
                    c.grades[item.number] = grade
                    c.itemIndex[item.number] = 2
                    let errors = FormValidation.draftErrors(c, t)
                    XCTAssertEqual(errors.map(\.code), ["invalid_grade"], "\(v) item \(item.number) grade \(grade)")
                    XCTAssertEqual(errors.first?.pointer, "/items/2/grade")
                }
            }
        }
    }

    func testItemsThatAreNotGradedAndTheProposal() {
        let a = Self.template(.A), b = Self.template(.B)
        // Item 6 of A is the proposal, 7 the remarks, 8 does not exist: none takes a grade.
        for n in [6, 7, 8, 0] {
            var c = complete(.A)
            c.grades[n] = 1
            XCTAssertEqual(FormValidation.draftErrors(c, a).map(\.code), ["unknown_item"], "A item \(n)")
        }
        // Variant B has three graded items: 4 is its remarks, 5 does not exist.
        for n in [4, 5] {
            var c = complete(.B)
            c.grades[n] = 2
            XCTAssertEqual(FormValidation.draftErrors(c, b).map(\.code), ["unknown_item"], "B item \(n)")
        }
        // The proposal: required to submit A, refused on B.
        var noProposal = complete(.A)
        noProposal.proposal = nil
        XCTAssertEqual(FormValidation.draftErrors(noProposal, a), [])
        XCTAssertEqual(FormValidation.submitErrors(noProposal, a).map(\.pointer), ["/form/proposal"])
        for p in FormProposal.allCases {
            var c = complete(.A)
            c.proposal = p
            XCTAssertEqual(FormValidation.submitErrors(c, a), [], "\(p)")
        }
        var withProposal = complete(.B)
        withProposal.proposal = .commend
        XCTAssertEqual(FormValidation.draftErrors(withProposal, b).map(\.code), ["not_in_variant"])
        // Remarks are optional and bounded.
        var long = complete(.B)
        long.remarks = String(repeating: "ư", count: FormValidation.maxRemarks + 1)
        XCTAssertEqual(FormValidation.draftErrors(long, b).map(\.code), ["too_long"])
        var none = complete(.B)
        none.remarks = nil
        XCTAssertEqual(FormValidation.submitErrors(none, b), [])
        // An empty form lists every missing item.
        XCTAssertEqual(FormValidation.submitErrors(FormContent(), a).count, 6)
        XCTAssertEqual(FormValidation.submitErrors(FormContent(), b).count, 3)
    }

    func testDerivedSummary() {
        let a = Self.template(.A)
        XCTAssertEqual(FormSummary.derive(complete(.A), a), .good)
        var c = complete(.A)
        c.grades[3] = 2
        XCTAssertEqual(FormSummary.derive(c, a), .satisfactory)
        c.grades[5] = 3
        XCTAssertEqual(FormSummary.derive(c, a), .needsImprovement)
        c.grades[1] = nil
        XCTAssertNil(FormSummary.derive(c, a), "no summary of an incomplete form")
        XCTAssertTrue(FormSummary.rule.hasPrefix("derived"))
    }
}
