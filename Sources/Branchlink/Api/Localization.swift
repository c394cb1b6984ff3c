/// Problem titles in Vietnamese and English, chosen by `Accept-Language` (default Vietnamese: the
/// users are Vietnamese party offices; integrations ask for `en`).
public enum Localization {
    public enum Language: String, Sendable { case vi, en }

    public static func language(_ header: String?) -> Language {
        guard let header else { return .vi }
        var best: (Language, Double)? = nil
        for part in header.split(separator: ",") {
            let pieces = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard let tag = pieces.first else { continue }
            let q = pieces.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            let lang: Language? = tag.hasPrefix("vi") ? .vi : tag.hasPrefix("en") ? .en : nil
            if let lang, q > 0, q > (best?.1 ?? -1) { best = (lang, q) }
        }
        return best?.0 ?? .vi
    }

    static let titles: [String: (vi: String, en: String)] = [
        "bad_request": ("Yêu cầu không hợp lệ", "Bad request"),
        "malformed_json": ("Nội dung JSON không hợp lệ", "Malformed JSON"),
        "validation_failed": ("Dữ liệu không hợp lệ", "Validation failed"),
        "invalid_parameter": ("Tham số không hợp lệ", "Invalid parameter"),
        "invalid_cursor": ("Con trỏ phân trang không hợp lệ", "Invalid cursor"),
        "unauthenticated": ("Chưa xác thực", "Unauthenticated"),
        "forbidden": ("Không có quyền", "Forbidden"),
        "not_found": ("Không tìm thấy", "Not found"),
        "conflict": ("Xung đột", "Conflict"),
        "already_exists": ("Đã tồn tại", "Already exists"),
        "concurrent_update": ("Cập nhật đồng thời", "Concurrent update"),
        "precondition_failed": ("Phiên bản đã thay đổi", "Precondition failed"),
        "idempotency_key_reused": ("Khóa Idempotency-Key đã dùng cho yêu cầu khác", "Idempotency key reused"),
        "idempotency_in_progress": ("Yêu cầu cùng khóa đang được xử lý", "Idempotent request in progress"),
        "invalid_idempotency_key": ("Khóa Idempotency-Key không hợp lệ", "Invalid idempotency key"),
        "account_disabled": ("Tài khoản đã bị vô hiệu hóa", "Account disabled"),
        "unsupported_media_type": ("Kiểu nội dung không được hỗ trợ", "Unsupported media type"),
        "not_acceptable": ("Không có định dạng phù hợp", "Not acceptable"),
        "rate_limited": ("Vượt quá giới hạn tần suất", "Too many requests"),
        "database_unavailable": ("Cơ sở dữ liệu tạm thời không truy cập được", "Database unavailable"),
        "database_timeout": ("Cơ sở dữ liệu phản hồi quá chậm", "Database timeout"),
        "import_failed": ("Nhập dữ liệu không thành công", "Import failed"),
        "unknown_column": ("Cột không xác định", "Unknown column"),
        "missing_column": ("Thiếu cột bắt buộc", "Missing column"),
        "duplicate_column": ("Cột bị lặp", "Duplicate column"),
        "missing_header": ("Thiếu dòng tiêu đề", "Missing header"),
        "malformed_csv": ("Tệp CSV không hợp lệ", "Malformed CSV"),
        "invalid_encoding": ("Mã hóa ký tự không hợp lệ", "Invalid encoding"),
        "not_your_action": ("Không thuộc thẩm quyền của bên này", "Not your action"),
        "invalid_transition": ("Không thể chuyển trạng thái", "Invalid transition"),
        "live_introduction_exists": ("Đảng viên đã có giấy giới thiệu còn hiệu lực", "Live introduction exists"),
        "member_exempt_from_introduction": ("Đảng viên thuộc diện miễn giới thiệu", "Member exempt from introduction"),
        "no_live_introduction": ("Đảng viên chưa được giới thiệu về nơi cư trú", "No live introduction"),
        "invalid_commune": ("Xã/phường không hợp lệ", "Invalid commune"),
        "invalid_branch": ("Chi bộ không hợp lệ", "Invalid branch"),
        "invalid_workplace": ("Nơi công tác không hợp lệ", "Invalid workplace"),
        "pdf_unavailable": ("Không tạo được bản PDF", "PDF unavailable"),
        "organization_closed": ("Tổ chức đã giải thể hoặc hợp nhất", "Organization closed"),
        "invalid_parent": ("Tổ chức cấp trên không phù hợp", "Invalid parent"),
        "invalid_merge": ("Không thể hợp nhất", "Invalid merge"),
        "no_active_link": ("Đảng viên chưa được chi bộ nơi cư trú tiếp nhận", "No active residence link"),
        "link_not_active": ("Liên hệ nơi cư trú của đảng viên không còn hiệu lực", "Residence link no longer active"),
        "not_a_member_of_branch": ("Không phải đảng viên sinh hoạt ở chi bộ này", "Not a member of this branch"),
        "front_meeting_required": ("Chưa có cuộc họp với Ban công tác Mặt trận", "Meeting with the Front work committee required"),
        "form_incomplete": ("Phiếu nhận xét chưa đầy đủ", "Form incomplete"),
        "form_not_available": ("Phiếu nhận xét chưa được chuyển đến", "Form not available yet"),
        "annual_from_campaign": ("Phiếu hằng năm được tạo từ đợt nhận xét", "Annual requests come from campaigns"),
        "invalid_campaign_org": ("Tổ chức không chạy được đợt nhận xét", "Invalid campaign organization"),
        "invalid_year": ("Năm không hợp lệ", "Invalid year"),
        "date_in_past": ("Ngày đã qua", "Date in the past"),
        "invalid_date": ("Ngày không hợp lệ", "Invalid date"),
        "invalid_meeting": ("Cuộc họp không hợp lệ", "Invalid meeting"),
        "form_template_missing": ("Thiếu mẫu phiếu nhận xét", "Form template missing"),
        "internal_error": ("Lỗi máy chủ", "Internal server error"),
    ]

    public static func title(code: String, status: Int, lang: Language) -> String {
        if let t = titles[code] { return lang == .vi ? t.vi : t.en }
        return HTTPStatusText.reason(status)
    }
}

import HTTP
typealias HTTPStatusText = HTTPStatus
