import Foundation
import HTTP
import Postgres

/// `GET /v1/introductions/{id}/letter`: the introduction letter (giấy giới thiệu đảng viên về nơi cư
/// trú, domain.md §3.1) as an A4 HTML page in Vietnamese, or as PDF with `Accept: application/pdf`.
/// The commune's receipt block is filled in once the commune has received and assigned it.
enum IntroductionLetter {
    static func register(on router: Router<AppContext>) {
        router.get("/v1/introductions/{id}/letter", letter)
    }

    struct Data {
        var number, superior, issuer, commune, province: String
        var branch: String?
        var fullName, sex, birthDate: String
        var admittedOn, fullMemberOn: String?
        var workplaceBranch, address: String
        var exemptionMarker: Bool
        var issuedOn: String
        var receivedOn, assignedBranch: String?
        var status: String
        var issuerIsBranch: Bool
    }

    static func letter(_ request: Request, _ ctx: AppContext) throws -> Response {
        let p = try ctx.caller()
        let intro = try IntroductionRoutes.load(ctx.db, try IntroductionRoutes.pathID(request), for: p)
        guard let row = try ctx.db.queryRow("""
            SELECT i.number, COALESCE(wp.name, ''), w.name, c.name, COALESCE(pr.name, ''), b.name,
                   m.full_name, m.sex, m.birth_date::text, m.admitted_on::text, m.full_member_on::text, mw.name,
                   COALESCE(m.residence_address, ''), i.exemption_marker, (i.created_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date::text,
                   i.received_on::text, i.status, w.kind IN ('branch', 'grassroots_branch')
            FROM introductions i
            JOIN members m ON m.id = i.member_id
            JOIN organizations w ON w.id = i.workplace_id
            LEFT JOIN organizations wp ON wp.id = w.parent_id
            JOIN organizations c ON c.id = i.commune_id
            LEFT JOIN organizations pr ON pr.id = c.parent_id
            LEFT JOIN organizations b ON b.id = i.branch_id
            JOIN organizations mw ON mw.id = m.workplace_org_id
            WHERE i.id = $1
            """, intro.id) else { throw APIError.notFound("introduction") }
        let d = Data(number: try row.decode(String.self, 0), superior: try row.decode(String.self, 1), issuer: try row.decode(String.self, 2),
                     commune: try row.decode(String.self, 3), province: try row.decode(String.self, 4),
                     branch: try row.decode(String?.self, 5), fullName: try row.decode(String.self, 6),
                     sex: try row.decode(String.self, 7) == "female" ? "Nữ" : "Nam", birthDate: try row.decode(String.self, 8),
                     admittedOn: try row.decode(String?.self, 9), fullMemberOn: try row.decode(String?.self, 10),
                     workplaceBranch: try row.decode(String.self, 11), address: try row.decode(String.self, 12),
                     exemptionMarker: try row.decode(Bool.self, 13), issuedOn: try row.decode(String.self, 14),
                     receivedOn: try row.decode(String?.self, 15),
                     assignedBranch: ["assigned", "active", "ended"].contains(try row.decode(String.self, 16)) ? try row.decode(String?.self, 5) : nil,
                     status: try row.decode(String.self, 16), issuerIsBranch: try row.decode(Bool.self, 17))
        let html = render(d)
        return try PrintOutput.respond(request, html: html, filename: "giay-gioi-thieu-\(intro.number.replacingOccurrences(of: "/", with: "-"))")
    }

    /// "Đảng ủy X" unless the organization's name already names its committee ("Đảng bộ phường …").
    static func committee(_ name: String) -> String {
        name.hasPrefix("Đảng") ? name : "Đảng ủy \(name)"
    }

    /// The place in the date line: the province without its party prefix ("Tuyên Quang").
    static func place(_ province: String) -> String {
        var p = province
        for prefix in ["Đảng bộ ", "tỉnh ", "Tỉnh ", "thành phố ", "Thành phố "] where p.hasPrefix(prefix) { p.removeFirst(prefix.count) }
        return p
    }

    static func render(_ d: Data) -> String {
        let e = HTML.esc
        let issued = d.issuedOn.split(separator: "-")
        let receipt: String
        if let received = d.receivedOn {
            receipt = """
            <p>Tiếp nhận ngày \(HTML.date(received)).</p>
            <p>Đã giới thiệu về sinh hoạt tại chi bộ: <span class="bold">\(e(d.assignedBranch ?? "…………………………"))</span></p>
            """
        } else {
            receipt = """
            <p>Tiếp nhận ngày …/…/……</p>
            <p>Đã giới thiệu về sinh hoạt tại chi bộ: <span class="dots">&nbsp;</span></p>
            """
        }
        let body = """
        <div class="head">
          <div><div class="upper">\(e(d.superior))</div><div class="upper bold">\(e(d.issuer))</div><div>*</div>
               <div>Số \(e(d.number))</div></div>
          <div><div class="bold upper">Đảng Cộng sản Việt Nam</div><div>&nbsp;</div>
               <div class="italic">\(e(d.province.isEmpty ? "" : place(d.province) + ",")) ngày \(issued.count == 3 ? String(issued[2]) : "…") tháng \(issued.count == 3 ? String(issued[1]) : "…") năm \(issued.first.map(String.init) ?? "…")</div></div>
        </div>
        <div class="title">GIẤY GIỚI THIỆU</div>
        <div class="center italic">Đảng viên đang công tác về giữ mối liên hệ với tổ chức đảng và nhân dân nơi cư trú</div>
        <p class="center">Kính gửi: <span class="bold">\(e(committee(d.commune)))</span>\(d.branch.map { ", <span class=\"bold\">\(e($0))</span>" } ?? "")</p>
        <p>Thực hiện Quy định số 213-QĐ/TW, ngày 02/01/2020 của Bộ Chính trị về trách nhiệm của đảng viên đang công tác thường xuyên
           giữ mối liên hệ với tổ chức đảng và nhân dân nơi cư trú, \(e(d.issuer)) trân trọng giới thiệu:</p>
        <p>Đồng chí: <span class="bold">\(e(d.fullName))</span> &nbsp; Giới tính: \(e(d.sex)) &nbsp; Sinh ngày: \(HTML.date(d.birthDate))</p>
        <p>Ngày vào Đảng: \(HTML.date(d.admittedOn)) &nbsp; Ngày chính thức: \(HTML.date(d.fullMemberOn))</p>
        <p>Hiện đang sinh hoạt tại chi bộ: \(e(d.workplaceBranch))</p>
        <p>Nơi cư trú: \(e(d.address)), \(e(d.commune))\(d.province.isEmpty ? "" : ", " + e(d.province))</p>
        \(d.exemptionMarker ? "<p class=\"marker\">Thuộc đối tượng giới thiệu nhưng được miễn sinh hoạt nơi cư trú (Hướng dẫn số 33-HD/BTCTW, mục 1.1).</p>" : "")
        <p>Đề nghị \(e(committee(d.commune))) tiếp nhận và tạo điều kiện để đồng chí hoàn thành nhiệm vụ của người đảng viên nơi cư trú.</p>
        <div class="sign">
          <div>&nbsp;</div>
          <div><div class="bold upper">T/M \(d.issuerIsBranch ? "Chi ủy" : "Đảng ủy")</div><div>Bí thư</div><div class="italic">(Ký, ghi rõ họ tên, đóng dấu)</div></div>
        </div>
        <div class="box">
          <div class="bold upper center">Đảng ủy nơi cư trú</div>
          \(receipt)
          <div class="sign"><div>&nbsp;</div><div><div class="bold">T/M ĐẢNG ỦY</div><div class="italic">(Ký, ghi rõ họ tên, đóng dấu)</div></div></div>
        </div>
        """
        return HTML.page(title: "Giấy giới thiệu \(d.number)", body: body)
    }
}
