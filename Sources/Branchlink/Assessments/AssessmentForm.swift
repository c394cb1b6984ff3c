import Foundation
import Postgres
import Synchronization

/// The comment form (phiếu nhận xét, domain.md §3.4): variant A (five graded items, the proposal
/// to the workplace committee as item 6, other comments) for regular working members, variant B
/// (three graded items, other comments) for members exempt from residence activities. The texts and
/// grade labels are rows of `assessment_form_items` (migration 0007), loaded once per process: a
/// template version never changes once seeded; a new edition is a new version.
public struct FormTemplate: Sendable, Equatable {
    public enum Variant: String, CaseIterable, Sendable { case A, B }

    public struct Item: Sendable, Equatable {
        public enum Kind: String, Sendable { case graded, proposal, remarks }
        public var number: Int
        public var kind: Kind
        public var textVi: String
        public var textEn: String
        /// Label of grade g at index g-1 (1 = best); for the proposal: commend, none, consider_handling.
        public var gradeLabels: [String]

        public init(number: Int, kind: Kind, textVi: String, textEn: String, gradeLabels: [String]) {
            self.number = number; self.kind = kind; self.textVi = textVi; self.textEn = textEn; self.gradeLabels = gradeLabels
        }
    }

    public var variant: Variant
    public var version: Int
    public var items: [Item]

    public init(variant: Variant, version: Int, items: [Item]) {
        self.variant = variant; self.version = version; self.items = items
    }

    public var gradedItems: [Item] { items.filter { $0.kind == .graded } }
    public var hasProposal: Bool { items.contains { $0.kind == .proposal } }

    public func item(_ number: Int) -> Item? { items.first { $0.number == number } }
}

public enum FormProposal: String, CaseIterable, Sendable {
    case commend, none, considerHandling = "consider_handling"

    /// Position in the proposal item's labels.
    var index: Int { Self.allCases.firstIndex(of: self)! }
}

/// What the branch fills in: a grade per graded item, the proposal (variant A) and free remarks.
public struct FormContent: Sendable, Equatable {
    public var grades: [Int: Int]
    public var proposal: FormProposal?
    public var remarks: String?
    /// Item number → its index in the body's `items` array, for error pointers.
    public var itemIndex: [Int: Int]

    public init(grades: [Int: Int] = [:], proposal: FormProposal? = nil, remarks: String? = nil, itemIndex: [Int: Int] = [:]) {
        self.grades = grades; self.proposal = proposal; self.remarks = remarks; self.itemIndex = itemIndex
    }
}

/// Validation of a form against its template, as pure functions (table-tested in
/// AssessmentFormTests). A draft may be incomplete but never wrong; a submitted form is complete.
public enum FormValidation {
    public static let maxRemarks = 4000

    /// Problems that make even a draft unacceptable: unknown items, grades outside the item's
    /// labels, a proposal on a variant without one. Pointers are relative to the body.
    public static func draftErrors(_ c: FormContent, _ t: FormTemplate) -> [FieldError] {
        var errors: [FieldError] = []
        for (number, grade) in c.grades.sorted(by: { $0.key < $1.key }) {
            let at = c.itemIndex[number].map { "/items/\($0)" } ?? "/items"
            guard let item = t.item(number), item.kind == .graded else {
                errors.append(FieldError(pointer: at + "/item", code: "unknown_item",
                                         message: "item \(number) is not a graded item of form \(t.variant.rawValue)"))
                continue
            }
            if !(1...item.gradeLabels.count).contains(grade) {
                errors.append(FieldError(pointer: at + "/grade", code: "invalid_grade",
                                         message: "item \(number): grade must be 1 (best) to \(item.gradeLabels.count)"))
            }
        }
        if c.proposal != nil && !t.hasProposal {
            errors.append(FieldError(pointer: "/proposal", code: "not_in_variant", message: "form \(t.variant.rawValue) has no proposal item"))
        }
        if let r = c.remarks, r.count > maxRemarks {
            errors.append(FieldError(pointer: "/remarks", code: "too_long", message: "must be at most \(maxRemarks) characters"))
        }
        return errors
    }

    /// Everything `draftErrors` finds, plus every graded item without a grade and a missing
    /// proposal (variant A): the branch submits a complete form or nothing.
    public static func submitErrors(_ c: FormContent, _ t: FormTemplate) -> [FieldError] {
        var errors = draftErrors(c, t).map { FieldError(pointer: "/form" + $0.pointer, code: $0.code, message: $0.message) }
        for item in t.gradedItems where c.grades[item.number] == nil {
            errors.append(FieldError(pointer: "/form/items", code: "required", message: "item \(item.number) has no grade"))
        }
        if t.hasProposal && c.proposal == nil {
            errors.append(FieldError(pointer: "/form/proposal", code: "required", message: "the proposal to the workplace committee is required"))
        }
        return errors
    }
}

/// The form has no overall grade (domain.md §3.4); dashboards want one, so it is derived, labelled
/// as derived, and never stored: all graded items at the best grade → good; any at the lowest →
/// needs improvement; otherwise satisfactory. Nil while the form is incomplete.
public enum FormSummary: String, Sendable {
    case good, satisfactory, needsImprovement = "needs_improvement"

    public static let rule = "derived: good when every graded item has the best grade, needs_improvement when any has the lowest, satisfactory otherwise"

    public static func derive(_ c: FormContent, _ t: FormTemplate) -> FormSummary? {
        let graded = t.gradedItems
        guard graded.allSatisfy({ c.grades[$0.number] != nil }) else { return nil }
        if graded.contains(where: { c.grades[$0.number] == $0.gradeLabels.count }) { return .needsImprovement }
        if graded.allSatisfy({ c.grades[$0.number] == 1 }) { return .good }
        return .satisfactory
    }

    public var labelVi: String {
        switch self {
        case .good: "Tốt"
        case .satisfactory: "Đạt"
        case .needsImprovement: "Còn hạn chế"
        }
    }
}

/// Templates from the database, cached per process (they are immutable once seeded).
enum FormTemplates {
    private static let cache = Mutex<[String: FormTemplate]>([:])

    static func current(_ db: Connection, _ variant: FormTemplate.Variant) throws -> FormTemplate {
        guard let row = try db.queryRow("SELECT max(version) FROM assessment_form_items WHERE variant = $1", variant.rawValue),
              let v = try row.decode(Int?.self, 0) else { throw APIError(status: 500, code: "form_template_missing", detail: "No form template.") }
        return try load(db, variant, version: v)
    }

    static func load(_ db: Connection, _ variant: FormTemplate.Variant, version: Int) throws -> FormTemplate {
        let key = "\(variant.rawValue)\(version)"
        if let t = cache.withLock({ $0[key] }) { return t }
        let rows = try db.query("""
            SELECT item, kind, text_vi, text_en, grade_labels FROM assessment_form_items WHERE variant = $1 AND version = $2 ORDER BY item
            """, variant.rawValue, version)
        let items = try rows.map { r in
            FormTemplate.Item(number: try r.decode(Int.self, 0), kind: FormTemplate.Item.Kind(rawValue: try r.decode(String.self, 1)) ?? .remarks,
                              textVi: try r.decode(String.self, 2), textEn: try r.decode(String.self, 3),
                              gradeLabels: try r.decode([String].self, 4))
        }
        guard !items.isEmpty else { throw APIError(status: 500, code: "form_template_missing", detail: "No form template.") }
        let t = FormTemplate(variant: variant, version: version, items: items)
        cache.withLock { $0[key] = t }
        return t
    }
}
