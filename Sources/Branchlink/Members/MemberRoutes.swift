import Foundation
import HTTP
import Postgres

/// `/v1/members`: the register of working party members. A member is in scope of the accounts of
/// its workplace organization and its ancestors, and of the residence side while a link is live
/// (`Policy.memberScopeSQL`); members
/// exempt from introduction are never shown to residence-side accounts
/// (`Policy.memberVisibilitySQL` in every query). Officers and admins register and correct members
/// of their subtree; viewers only read.
enum MemberRoutes {
    static func register(on router: Router<AppContext>) {
        router.post("/v1/members", create)
        router.get("/v1/members", list)
        router.get("/v1/members/{id}", get)
        router.patch("/v1/members/{id}", patch)
    }

    /// Loads a member visible to the caller (404 otherwise).
    static func load(_ db: Connection, _ id: UUID, for p: Principal, forUpdate: Bool = false) throws -> Member {
        guard let row = try db.queryRow("""
            SELECT \(Member.columns) FROM members m
            WHERE m.id = $1 AND \(Policy.memberScopeSQL(alias: "m", param: 2)) AND \(Policy.memberVisibilitySQL(p, exemptionColumn: "m.exemption"))
            """ + (forUpdate ? " FOR UPDATE OF m" : ""), id, p.orgPath) else {
            throw APIError.notFound("member")
        }
        return try Member(row: row)
    }

    static func pathID(_ request: Request) throws -> UUID {
        try request.pathUUID(notFound: "member")
    }

    // MARK: - Reading the body

    /// The writable fields as read from a body; nil means "not in the body" (PATCH) and `.some(nil)`
    /// an explicit null where null is allowed.
    struct Fields {
        var partyCardNumber: String?
        var fullName: String?
        var sex: MemberSex?
        var birthDate: PGDate?
        var admittedOn: PGDate??
        var fullMemberOn: PGDate??
        var workplaceOrgID: UUID?
        var residence: ResidenceFields??
        var exemption: MemberExemption?
        var exemptionGround: String??
    }

    struct ResidenceFields {
        var provinceID: UUID??
        var communeID: UUID??
        var addressLine: String??
    }

    /// Reads the fields present in the body; `create` makes the required ones required.
    static func read(_ input: inout JSONInput, create: Bool) -> Fields {
        var f = Fields()
        func present(_ key: String) -> Bool { create || input.has(key) }
        if present("party_card_number") { f.partyCardNumber = input.string("party_card_number", maxLength: 20, pattern: MemberRules.cardNumberPattern) }
        if present("full_name") { f.fullName = input.string("full_name", maxLength: 200).map(MemberRules.normalizeName) }
        if present("sex") { f.sex = input.enumeration("sex", MemberSex.self) }
        if present("birth_date") { f.birthDate = input.date("birth_date") }
        if input.has("admitted_on") { f.admittedOn = .some(input.date("admitted_on", required: false)) }
        if input.has("full_member_on") { f.fullMemberOn = .some(input.date("full_member_on", required: false)) }
        if present("workplace_org_id") { f.workplaceOrgID = input.uuid("workplace_org_id") }
        if input.has("residence") {
            if input.isNull("residence") {
                _ = input.object("residence", required: false)
                f.residence = .some(nil)
            } else if var r = input.object("residence") {
                var rf = ResidenceFields()
                // On create the object is the whole residence; on PATCH its fields merge into the
                // stored one (JSON merge patch), so only the present ones are read.
                if create || r.has("province_id") { rf.provinceID = .some(r.uuid("province_id")) }
                if create || r.has("commune_id") { rf.communeID = .some(r.uuid("commune_id")) }
                if r.has("address_line") { rf.addressLine = .some(r.string("address_line", required: false, maxLength: 500)) }
                input.absorb(r, under: "residence")
                f.residence = .some(rf)
            }
        }
        if present("exemption") { f.exemption = input.enumeration("exemption", MemberExemption.self, required: !create) }
        if input.has("exemption_ground") { f.exemptionGround = .some(input.string("exemption_ground", required: false, maxLength: 500)) }
        return f
    }

    /// The complete new state of a member, validated before it is written.
    struct State: Equatable {
        var partyCardNumber: String
        var fullName: String
        var sex: String
        var birthDate: PGDate
        var admittedOn: PGDate?
        var fullMemberOn: PGDate?
        var workplaceOrgID: UUID
        var provinceID: UUID?
        var communeID: UUID?
        var addressLine: String?
        var exemption: MemberExemption
        var exemptionGround: String?

        init(_ m: Member) {
            partyCardNumber = m.partyCardNumber; fullName = m.fullName; sex = m.sex; birthDate = m.birthDate
            admittedOn = m.admittedOn; fullMemberOn = m.fullMemberOn; workplaceOrgID = m.workplaceOrgId
            provinceID = m.residence?.provinceId; communeID = m.residence?.communeId; addressLine = m.residence?.addressLine
            exemption = MemberExemption(rawValue: m.exemption) ?? .none; exemptionGround = m.exemptionGround
        }

        init(partyCardNumber: String, fullName: String, sex: MemberSex, birthDate: PGDate, workplaceOrgID: UUID) {
            self.partyCardNumber = partyCardNumber; self.fullName = fullName; self.sex = sex.rawValue
            self.birthDate = birthDate; self.workplaceOrgID = workplaceOrgID; exemption = .none
        }

        /// Applies the body's fields. A change of exemption without a new ground drops the old
        /// ground (it justified another exemption), so a new non-`none` exemption needs its ground.
        mutating func apply(_ f: Fields) {
            if let v = f.partyCardNumber { partyCardNumber = v }
            if let v = f.fullName { fullName = v }
            if let v = f.sex { sex = v.rawValue }
            if let v = f.birthDate { birthDate = v }
            if let v = f.admittedOn { admittedOn = v }
            if let v = f.fullMemberOn { fullMemberOn = v }
            if let v = f.workplaceOrgID { workplaceOrgID = v }
            if let r = f.residence {
                if let r {
                    if let v = r.provinceID { provinceID = v }
                    if let v = r.communeID { communeID = v }
                    if let v = r.addressLine { addressLine = v }
                } else {
                    provinceID = nil; communeID = nil; addressLine = nil
                }
            }
            if let e = f.exemption, e != exemption {
                exemption = e
                exemptionGround = nil
            }
            if let g = f.exemptionGround { exemptionGround = g }
        }

        /// Rules that need no database, for the groups of fields the body touches (all on create):
        /// a PATCH of one group never fails on another group's stored values (rows may come from
        /// imports of older data).
        func errors(today: PGDate, touching f: Fields? = nil) -> [FieldError] {
            var errors: [FieldError] = []
            if f == nil || f?.birthDate != nil || f?.admittedOn != nil || f?.fullMemberOn != nil {
                errors += MemberRules.dateErrors(birthDate: birthDate, admittedOn: admittedOn, fullMemberOn: fullMemberOn, today: today)
            }
            if f == nil || f?.exemption != nil || f?.exemptionGround != nil {
                errors += MemberRules.exemptionErrors(exemption: exemption, ground: exemptionGround)
            }
            if f == nil || f?.residence != nil {
                if provinceID == nil && communeID == nil && addressLine != nil {
                    errors.append(FieldError(pointer: "/residence/commune_id", code: "required", message: "is required with an address line"))
                }
                if (provinceID == nil) != (communeID == nil) {
                    let missing = provinceID == nil ? "province_id" : "commune_id"
                    errors.append(FieldError(pointer: "/residence/\(missing)", code: "required", message: "is required"))
                }
            }
            return errors
        }

        /// Names of the fields that differ from `old` (never their values).
        func changedFields(from old: State) -> [String] {
            var changed: [String] = []
            if partyCardNumber != old.partyCardNumber { changed.append("party_card_number") }
            if fullName != old.fullName { changed.append("full_name") }
            if sex != old.sex { changed.append("sex") }
            if birthDate != old.birthDate { changed.append("birth_date") }
            if admittedOn != old.admittedOn { changed.append("admitted_on") }
            if fullMemberOn != old.fullMemberOn { changed.append("full_member_on") }
            if workplaceOrgID != old.workplaceOrgID { changed.append("workplace_org_id") }
            if provinceID != old.provinceID { changed.append("residence.province_id") }
            if communeID != old.communeID { changed.append("residence.commune_id") }
            if addressLine != old.addressLine { changed.append("residence.address_line") }
            if exemption != old.exemption { changed.append("exemption") }
            if exemptionGround != old.exemptionGround { changed.append("exemption_ground") }
            return changed
        }
    }

    static func validationFailed(_ errors: [FieldError]) -> APIError {
        APIError(status: 422, code: "validation_failed", detail: "The request body has invalid fields.", errors: errors)
    }

    // MARK: - Checks against the tree

    /// Locks and checks the workplace organization: 404 (with the field's pointer) when it is not
    /// in the caller's subtree, never revealing whether it exists; otherwise the workplace rule.
    /// Returns its path, or nil after recording a rule violation in `errors`. The row is locked
    /// (FOR SHARE) so a concurrent move or merge waits for this transaction and then rewrites the
    /// member's `workplace_path` with the others.
    static func checkWorkplace(_ db: Connection, _ id: UUID, for p: Principal, errors: inout [FieldError]) throws -> String? {
        let row = try db.queryRow("""
            SELECT o.kind, o.sector, o.path::text, o.valid_to IS NOT NULL, parent.kind
            FROM organizations o LEFT JOIN organizations parent ON parent.id = o.parent_id
            WHERE o.id = $1 FOR SHARE OF o
            """, id)
        let path = try row?.decode(String.self, 2)
        guard let row, let path, Policy.contains(p, path: path) else {
            throw APIError(status: 404, code: "not_found", detail: "No organization with this id is visible to you.",
                           errors: [FieldError(pointer: "/workplace_org_id", code: "not_found", message: "is not an organization in your scope")])
        }
        if let refusal = MemberRules.workplaceRefusal(kind: try row.decode(String.self, 0), sector: try row.decode(String.self, 1),
                                                      parentKind: try row.decode(String?.self, 4), closed: try row.decode(Bool.self, 3)) {
            errors.append(FieldError(pointer: "/workplace_org_id", code: refusal.rawValue, message: refusal.message))
            return nil
        }
        return path
    }

    /// The residence may be anywhere in the country (not only in the caller's subtree): the
    /// province must be a province, the commune an open commune inside it. The commune row is
    /// locked (FOR SHARE) so a concurrent commune merge waits and then carries this member along.
    static func checkResidence(_ db: Connection, provinceID: UUID?, communeID: UUID?, errors: inout [FieldError]) throws {
        guard let provinceID, let communeID else { return }
        let province = try db.queryRow("SELECT kind, path::text FROM organizations WHERE id = $1", provinceID)
        var provincePath: String? = nil
        if let province {
            if try province.decode(String.self, 0) == OrgKind.province.rawValue {
                provincePath = try province.decode(String.self, 1)
            } else {
                errors.append(FieldError(pointer: "/residence/province_id", code: "not_a_province", message: "is not a province"))
            }
        } else {
            errors.append(FieldError(pointer: "/residence/province_id", code: "not_found", message: "is not an organization"))
        }
        guard let commune = try db.queryRow("""
            SELECT kind, path::text, valid_to IS NOT NULL FROM organizations WHERE id = $1 FOR SHARE
            """, communeID) else {
            errors.append(FieldError(pointer: "/residence/commune_id", code: "not_found", message: "is not an organization"))
            return
        }
        let communePath = try commune.decode(String.self, 1)
        if try commune.decode(String.self, 0) != OrgKind.commune.rawValue {
            errors.append(FieldError(pointer: "/residence/commune_id", code: "not_a_commune", message: "is not a commune or ward"))
        } else if let provincePath, !communePath.hasPrefix(provincePath + ".") {
            errors.append(FieldError(pointer: "/residence/commune_id", code: "not_in_province", message: "is not in residence.province_id"))
        } else if try commune.decode(Bool.self, 2) {
            errors.append(FieldError(pointer: "/residence/commune_id", code: "organization_closed", message: "is closed (merged or dissolved)"))
        }
    }

    /// A residence-side account (commune, residential branch) must never see a member exempt from
    /// introduction, so it cannot make one either.
    static func checkExemptionAllowed(_ p: Principal, _ s: State, errors: inout [FieldError]) {
        if p.isResidenceSide && s.exemption == .introduction {
            errors.append(FieldError(pointer: "/exemption", code: "not_allowed",
                                     message: "cannot be introduction for an account of a residence-side organization"))
        }
    }

    static func duplicateCard() -> APIError {
        APIError(status: 409, code: "already_exists", detail: "A member with this party card number already exists.",
                 errors: [FieldError(pointer: "/party_card_number", code: "already_exists", message: "is already registered")])
    }

    // MARK: - Handlers

    static func create(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        try Policy.require(p, .act)
        var input = try JSONInput(request)
        let f = read(&input, create: true)
        try input.finish()
        guard let card = f.partyCardNumber, let name = f.fullName, let sex = f.sex, let birth = f.birthDate,
              let workplaceID = f.workplaceOrgID else { throw validationFailed(input.errors) }
        var state = State(partyCardNumber: card, fullName: name, sex: sex, birthDate: birth, workplaceOrgID: workplaceID)
        state.apply(f)
        var ruleErrors = state.errors(today: MemberRules.today())
        checkExemptionAllowed(p, state, errors: &ruleErrors)

        return try ctx.db.transaction { db in
            // One 422 lists the rule violations and the tree checks together.
            var errors = ruleErrors
            let path = try checkWorkplace(db, workplaceID, for: p, errors: &errors)
            try checkResidence(db, provinceID: state.provinceID, communeID: state.communeID, errors: &errors)
            guard errors.isEmpty, let path else { throw validationFailed(errors) }
            let id = UUID()
            do {
                try db.execute("""
                    INSERT INTO members (id, party_card_number, full_name, sex, birth_date, admitted_on, full_member_on,
                        workplace_org_id, workplace_path, residence_province_id, residence_commune_id, residence_address,
                        exemption, exemption_ground)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::ltree, $10, $11, $12, $13, $14)
                    """, id, state.partyCardNumber, state.fullName, state.sex, state.birthDate, state.admittedOn, state.fullMemberOn,
                    state.workplaceOrgID, path, state.provinceID, state.communeID, state.addressLine,
                    state.exemption.rawValue, state.exemptionGround)
            } catch let e as PostgresError where e.kind == .uniqueViolation {
                throw duplicateCard()
            }
            try EventLog.append(db, type: "member.created", entityType: "member", entityID: id,
                                orgIDs: [state.workplaceOrgID], actor: p, requestID: request.requestID)
            let member = try load(db, id, for: p)
            return JSONOutput.resource(json: member.encoded(), status: 201, version: member.version, location: "/v1/members/\(id.lower)")
        }
    }

    static func get(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let member = try load(ctx.db, try pathID(request), for: p)
        if let notModified = ETag.notModified(request, version: member.version) { return notModified }
        return JSONOutput.resource(json: member.encoded(), version: member.version)
    }

    static func patch(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let id = try pathID(request)
        var input = try JSONInput(request)
        let f = read(&input, create: false)
        try input.finish()

        return try ctx.db.transaction { db in
            let member = try load(db, id, for: p, forUpdate: true)
            try Policy.requireMemberWrite(p, workplacePath: member.workplacePath)
            try ETag.checkIfMatch(request, version: member.version)
            let old = State(member)
            var new = old
            new.apply(f)
            let changed = new.changedFields(from: old)
            if changed.isEmpty { return JSONOutput.resource(json: member.encoded(), version: member.version) }

            var errors = new.errors(today: MemberRules.today(), touching: f)
            checkExemptionAllowed(p, new, errors: &errors)
            var path = member.workplacePath
            if new.workplaceOrgID != old.workplaceOrgID {
                path = try checkWorkplace(db, new.workplaceOrgID, for: p, errors: &errors) ?? path
            }
            if new.provinceID != old.provinceID || new.communeID != old.communeID {
                try checkResidence(db, provinceID: new.provinceID, communeID: new.communeID, errors: &errors)
            }
            if !errors.isEmpty { throw validationFailed(errors) }
            do {
                try db.execute("""
                    UPDATE members SET party_card_number = $2, full_name = $3, sex = $4, birth_date = $5, admitted_on = $6,
                        full_member_on = $7, workplace_org_id = $8, workplace_path = $9::ltree, residence_province_id = $10,
                        residence_commune_id = $11, residence_address = $12, exemption = $13, exemption_ground = $14,
                        updated_at = now(), version = version + 1
                    WHERE id = $1
                    """, id, new.partyCardNumber, new.fullName, new.sex, new.birthDate, new.admittedOn, new.fullMemberOn,
                    new.workplaceOrgID, path, new.provinceID, new.communeID, new.addressLine,
                    new.exemption.rawValue, new.exemptionGround)
            } catch let e as PostgresError where e.kind == .uniqueViolation {
                throw duplicateCard()
            }
            try EventLog.append(db, type: "member.updated", entityType: "member", entityID: id,
                                orgIDs: [old.workplaceOrgID, new.workplaceOrgID], actor: p, requestID: request.requestID,
                                data: ["fields": changed])
            let updated = try load(db, id, for: p)
            return JSONOutput.resource(json: updated.encoded(), version: updated.version)
        }
    }

    // MARK: - List

    static func list(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        var query = MemberListQuery(scopePath: p.orgPath, visibilitySQL: Policy.memberVisibilitySQL(p, exemptionColumn: "m.exemption"))
        if let v = request.query("exemption") {
            guard let e = MemberExemption(rawValue: v) else {
                throw APIError.invalidParameter("exemption", "must be one of " + MemberExemption.allCases.map(\.rawValue).joined(separator: ", "))
            }
            query.exemption = e
        }
        if let v = request.query("link_status") {
            guard ["none", "sent", "received", "assigned", "active"].contains(v) else {
                throw APIError.invalidParameter("link_status", "must be one of none, sent, received, assigned, active")
            }
            query.linkStatus = v
        }
        if let q = request.query("q") { query.search = try MemberSearch.parse(q) }
        var orgMissing = false
        if let v = request.query("org_id") {
            guard let orgID = UUID(uuidString: v) else { throw APIError.invalidParameter("org_id", "must be a UUID") }
            // An unknown organization gives an empty list, like one outside the caller's scope.
            if let row = try ctx.db.queryRow("SELECT path::text FROM organizations WHERE id = $1", orgID) {
                query.orgPath = try row.decode(String.self, 0)
            } else {
                orgMissing = true
            }
        }
        if let format = TableOutput.format(request) {
            let db = SameThread(ctx.db), q = query, empty = orgMissing
            return TableOutput.stream(format, filename: "members", header: Member.csvHeader) { emit in
                if !empty { try q.stream(db.value) { try emit($0.map(\.csvRow)) } }
            }
        }
        let page = try Page(request, keyCount: query.keyCount)
        if orgMissing { return Page.response(request, items: [], nextKeys: nil) }
        let (members, next) = try query.fetch(ctx.db, after: page.after, limit: page.limit)
        return Page.response(request, items: members.map { $0.encoded() }, nextKeys: next)
    }
}
