/// Change notices (DESIGN.md §2): what each kind does to the member's residence link. Pure rules,
/// table-tested in ChangeNoticeModelTests.
public enum ChangeNoticeKind: String, CaseIterable, Sendable, Codable {
    case positionChange = "position_change", workTransfer = "work_transfer", expelled, removed
    case leftParty = "left_party", disciplined, residenceChange = "residence_change", retired, deceased
    case exemptionChange = "exemption_change", dataCorrection = "data_correction"

    /// What sending a notice of this kind does to the live introduction it is addressed through.
    public enum Effect: Equatable, Sendable {
        /// The link stays; the residence sees the updated details.
        case keepsLink
        /// The link ends now (in the sending transaction).
        case endsLink
        /// The link ends and the workplace must introduce the member to the new commune.
        case endsLinkAndReintroduce
        /// The link ends when the new workplace is another committee, which must re-introduce.
        case endsLinkIfOtherCommittee
    }

    public var effect: Effect {
        switch self {
        case .positionChange, .disciplined, .exemptionChange, .dataCorrection: .keepsLink
        case .expelled, .removed, .leftParty, .deceased, .retired: .endsLink
        case .residenceChange: .endsLinkAndReintroduce
        case .workTransfer: .endsLinkIfOtherCommittee
        }
    }

    /// Kind-specific `details` fields: which a notice must carry, and which it may.
    public var details: (required: Set<String>, optional: Set<String>) {
        switch self {
        case .positionChange: (["new_position"], ["previous_position"])
        case .workTransfer: (["new_workplace_org_id"], ["new_position"])
        case .residenceChange: (["new_commune_id", "new_address_line"], [])
        case .disciplined: (["sanction"], [])
        case .exemptionChange: (["new_exemption"], ["exemption_ground"])
        // At least one of the optional fields (checked by the route).
        case .dataCorrection: ([], ["full_name", "birth_date", "residence_address"])
        case .expelled, .removed, .leftParty, .retired, .deceased: ([], [])
        }
    }
}

public enum ChangeNoticeStatus: String, CaseIterable, Sendable, Codable {
    case sent, acknowledged
}

public enum ChangeNoticeStateMachine {
    /// A notice is acknowledged once, by the commune or the branch it was addressed to.
    public static func acknowledge(_ status: ChangeNoticeStatus, by side: ExchangeSide) -> Result<ChangeNoticeStatus, TransitionRefusal> {
        guard side == .commune || side == .branch else { return .failure(.wrongSide(required: .commune)) }
        guard status == .sent else { return .failure(.invalidState(current: status.rawValue)) }
        return .success(.acknowledged)
    }
}
