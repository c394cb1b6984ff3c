import Foundation
import Postgres

/// The comment form (phiếu nhận xét, domain.md §3.4) as an A4 Vietnamese page: header (commune
/// party organization and residential branch | ĐẢNG CỘNG SẢN VIỆT NAM, place, date), title, the
/// opening sentence naming the meeting with the Front work committee, the items with every grade
/// printed and the chosen one marked, other comments, the branch's signature block and the
/// commune's confirmation block. Until the branch submits, it prints as a draft.
enum AssessmentFormDocument {
    static func html(_ db: Connection, _ r: AssessmentRequest, _ c: FormContent) throws -> String {
        let t = try FormTemplates.load(db, r.variant, version: r.formVersion)
        guard let d = try db.queryRow("""
            SELECT cm.name, COALESCE(pr.name, ''), b.name, m.full_name, m.birth_date::text, w.name, COALESCE(m.residence_address, ''),
                   g.held_on::text, g.front_attendees, COALESCE(r.confirmed_on, r.submitted_on, hcm_today())::text
            FROM assessment_requests r
            JOIN members m ON m.id = r.member_id
            JOIN organizations cm ON cm.id = r.commune_id
            LEFT JOIN organizations pr ON pr.id = cm.parent_id
            LEFT JOIN organizations b ON b.id = r.branch_id
            JOIN organizations w ON w.id = r.requester_org_id
            LEFT JOIN assessment_meetings g ON g.id = r.meeting_id
            WHERE r.id = $1
            """, r.id) else { throw APIError.notFound("assessment request") }
        let e = HTML.esc
        let commune = try d.decode(String.self, 0), province = try d.decode(String.self, 1)
        let branch = try d.decode(String?.self, 2) ?? "…………………………"
        let meetingOn = try d.decode(String?.self, 7)
        let dated = try d.decode(String.self, 9).split(separator: "-")
        let draft = [.requested, .forwarded].contains(r.status)

        var items = ""
        for item in t.items {
            switch item.kind {
            case .graded:
                let chosen = c.grades[item.number]
                items += row(item, labels: item.gradeLabels.enumerated().map { ($0.offset + 1 == chosen, $0.element) })
            case .proposal:
                items += row(item, labels: FormProposal.allCases.map { (c.proposal == $0, item.gradeLabels[$0.index]) })
            case .remarks:
                items += """
                <tr><td class="center">\(item.number)</td><td><div class="bold">\(e(item.textVi))</div>
                <div>\(c.remarks.map { e($0).replacingOccurrences(of: "\n", with: "<br>") } ?? "<span class=\"dots\">&nbsp;</span>")</div></td></tr>
                """
            }
        }
        let summary = FormSummary.derive(c, t).map {
            "<p class=\"italic\">Tổng hợp (do hệ thống tự suy ra từ các mục trên, không phải một mục của phiếu): \(e($0.labelVi)).</p>"
        } ?? ""
        let confirmation = r.confirmedOn.map { "<div>Đã xác nhận ngày \(HTML.date($0.description))</div>" } ?? ""
        let body = """
        \(draft ? "<p class=\"marker center\">BẢN NHÁP: chi bộ chưa gửi phiếu này</p>" : "")
        <div class="head">
          <div><div class="upper">\(e(IntroductionLetter.committee(commune)))</div><div class="upper bold">Chi bộ \(e(branch))</div><div>*</div></div>
          <div><div class="bold upper">Đảng Cộng sản Việt Nam</div><div>&nbsp;</div>
               <div class="italic">\(e(province.isEmpty ? "" : IntroductionLetter.place(province) + ",")) ngày \(dated.count == 3 ? String(dated[2]) : "…") tháng \(dated.count == 3 ? String(dated[1]) : "…") năm \(dated.first.map(String.init) ?? "…")</div></div>
        </div>
        <div class="title">PHIẾU NHẬN XÉT</div>
        <div class="center bold">Đảng viên đang công tác thường xuyên giữ mối liên hệ với tổ chức đảng và nhân dân nơi cư trú</div>
        \(r.variant == .B ? "<p class=\"center italic\">(Đảng viên được miễn sinh hoạt nơi cư trú theo Hướng dẫn số 33-HD/BTCTW, mục 1.1)</p>" : "")
        <p>Chi ủy chi bộ \(e(branch)), sau khi họp với Ban công tác Mặt trận khu dân cư\(meetingOn.map { " ngày \(HTML.date($0))" } ?? " ngày …/…/……"),
           thống nhất nhận xét đảng viên:</p>
        <p>Đồng chí: <span class="bold">\(e(r.member.fullName))</span> &nbsp; Sinh ngày: \(HTML.date(try d.decode(String.self, 4)))</p>
        <p>Đơn vị công tác: \(e(try d.decode(String.self, 5)))</p>
        <p>Nơi cư trú: \(e(try d.decode(String.self, 6))), \(e(commune))\(province.isEmpty ? "" : ", " + e(province))</p>
        <p>Nội dung nhận xét như sau:</p>
        <style>body { font-size: 12.5pt; line-height: 1.35; } p { margin: 3pt 0; } .title { margin: 10pt 0 4pt; } .sign { margin-top: 10pt; } table.grades { font-size: 11.5pt; line-height: 1.25; } table.grades td, table.grades th { padding: 2pt 5pt; } .opts { margin-top: 2pt; } .opts span { margin-right: 14pt; white-space: nowrap; }</style>
        <table class="grades"><tr><th>Mục</th><th>Nội dung nhận xét (đánh dấu ☒ vào mức đã thống nhất)</th></tr>
        \(items)
        </table>
        \(summary)
        <div class="sign">
          <div><div class="bold upper">Xác nhận của Đảng ủy xã, phường, thị trấn</div>\(confirmation)<div class="italic">(Ký, ghi rõ họ tên, đóng dấu)</div></div>
          <div><div class="bold upper">T/M Chi bộ</div><div>Bí thư</div><div class="italic">(Ký, ghi rõ họ tên)</div></div>
        </div>
        """
        return HTML.page(title: "Phiếu nhận xét đảng viên \(r.member.fullName)", body: body)
    }

    /// One item with every label printed on one line under its text, the chosen one marked ☒ (in
    /// bold), the others ☐, as on the paper form where the branch ticks one box.
    private static func row(_ item: FormTemplate.Item, labels: [(chosen: Bool, label: String)]) -> String {
        let options = labels.map { l in
            l.chosen ? "<span class=\"bold\" data-chosen=\"true\">☒ \(HTML.esc(l.label))</span>" : "<span>☐ \(HTML.esc(l.label))</span>"
        }.joined(separator: " ")
        return "<tr><td class=\"center\">\(item.number)</td><td>\(HTML.esc(item.textVi))<div class=\"opts\">\(options)</div></td></tr>"
    }
}
