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
        "internal_error": ("Lỗi máy chủ", "Internal server error"),
    ]

    public static func title(code: String, status: Int, lang: Language) -> String {
        if let t = titles[code] { return lang == .vi ? t.vi : t.en }
        return HTTPStatusText.reason(status)
    }
}

import HTTP
typealias HTTPStatusText = HTTPStatus
