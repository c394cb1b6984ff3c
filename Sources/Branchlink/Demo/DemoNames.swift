import Foundation

/// Vocabulary of the demo data: Vietnamese personal names with realistic frequencies, place names,
/// streets, and names of agencies, enterprises and units. All strings are NFC.
enum DemoNames {
    /// Family names with their approximate share of the population (per cent; Nguyễn ≈ 38 %).
    /// Hoàng/Huỳnh and Vũ/Võ are the northern/southern forms of the same names.
    static let families = WeightedTable<String>([
        ("Nguyễn", 38.4), ("Trần", 12.1), ("Lê", 9.5), ("Phạm", 7.0), ("Hoàng", 3.0), ("Huỳnh", 2.1),
        ("Phan", 4.5), ("Vũ", 2.0), ("Võ", 1.9), ("Đặng", 2.1), ("Bùi", 2.0), ("Đỗ", 1.4), ("Hồ", 1.3),
        ("Ngô", 1.3), ("Dương", 1.0), ("Lý", 0.5), ("Đinh", 0.8), ("Đoàn", 0.7), ("Trịnh", 0.6),
        ("Trương", 0.6), ("Lương", 0.5), ("Mai", 0.5), ("Đào", 0.4), ("Cao", 0.4), ("Lâm", 0.4),
        ("Hà", 0.4), ("Phùng", 0.3), ("Lưu", 0.3), ("Tạ", 0.3), ("Chu", 0.3), ("Kiều", 0.2),
        ("Quách", 0.2), ("Tô", 0.2), ("Vương", 0.2), ("Triệu", 0.2), ("Châu", 0.2), ("Thái", 0.2),
        ("Nông", 0.2), ("Lò", 0.1), ("Hứa", 0.1), ("La", 0.1), ("Tăng", 0.1), ("Khổng", 0.05),
    ])

    static let maleMiddles = WeightedTable<String>([
        ("Hữu", 6), ("Đức", 7), ("Minh", 8), ("Quang", 6), ("Công", 5), ("Xuân", 4), ("Đình", 5),
        ("Ngọc", 4), ("Thành", 4), ("Quốc", 4), ("Anh", 3), ("Tuấn", 2), ("Trọng", 3), ("Mạnh", 2),
        ("Duy", 3), ("Hoàng", 2), ("Gia", 2), ("Bá", 2), ("Thanh", 3), ("Việt", 2), ("Huy", 2), ("Tiến", 2),
    ])

    static let femaleMiddles = WeightedTable<String>([
        ("Ngọc", 8), ("Thu", 6), ("Thanh", 6), ("Minh", 4), ("Phương", 4), ("Hồng", 5), ("Kim", 4),
        ("Thúy", 3), ("Mai", 3), ("Bích", 3), ("Khánh", 2), ("Diệu", 2), ("Hải", 2), ("Lan", 2),
        ("Quỳnh", 2), ("Bảo", 2), ("Như", 2), ("Thùy", 3), ("Hoài", 2), ("Tuyết", 1),
    ])

    /// Second middle names after "Thị" ("Nguyễn Thị Thu Hà").
    static let femaleSecondMiddles = ["Thu", "Thanh", "Ngọc", "Minh", "Hồng", "Kim", "Bích", "Mai", "Thúy", "Phương"]

    static let maleGiven = WeightedTable<String>([
        ("Hùng", 6), ("Dũng", 6), ("Tuấn", 6), ("Minh", 6), ("Hải", 5), ("Nam", 5), ("Sơn", 5), ("Thắng", 4),
        ("Long", 4), ("Quân", 3), ("Hiếu", 3), ("Trung", 4), ("Cường", 4), ("Đức", 4), ("Hoàng", 3), ("Huy", 4),
        ("Khoa", 2), ("Phong", 3), ("Tùng", 3), ("Thành", 4), ("Bình", 4), ("Hòa", 3), ("Lâm", 2), ("Việt", 3),
        ("Anh", 5), ("Đạt", 3), ("Kiên", 2), ("Vinh", 3), ("Phúc", 2), ("Toàn", 2), ("Tâm", 2), ("Thịnh", 2),
        ("Quang", 3), ("Duy", 2), ("Khánh", 2), ("Nghĩa", 2), ("Lợi", 2), ("Tiến", 3), ("Hưng", 3), ("Thái", 2),
        ("Tân", 2), ("Chiến", 2), ("Thanh", 2), ("Bảo", 1), ("Khôi", 1), ("Lộc", 2), ("Trí", 1), ("Sỹ", 1),
    ])

    static let femaleGiven = WeightedTable<String>([
        ("Lan", 5), ("Hương", 6), ("Hoa", 5), ("Mai", 4), ("Linh", 5), ("Trang", 5), ("Hà", 5), ("Thảo", 4),
        ("Ngọc", 3), ("Nga", 4), ("Hạnh", 4), ("Huyền", 4), ("Thủy", 4), ("Yến", 3), ("Phương", 4), ("Dung", 3),
        ("Hằng", 4), ("Loan", 3), ("Nhung", 3), ("Oanh", 2), ("Vân", 3), ("Thúy", 3), ("Giang", 3), ("Liên", 3),
        ("Anh", 4), ("Chi", 2), ("Quỳnh", 2), ("Ánh", 2), ("Tuyết", 2), ("Hiền", 3), ("Nhàn", 2), ("Thu", 3),
        ("Hồng", 3), ("Duyên", 2), ("Diệp", 1), ("Uyên", 1), ("Vy", 1), ("Trinh", 2), ("Nhi", 1), ("Tâm", 2),
    ])

    /// The 34 provinces and centrally governed cities after the 2025 reorganization (names only:
    /// everything under them is invented).
    static let provinces = [
        "Tuyên Quang", "Cao Bằng", "Lai Châu", "Lào Cai", "Thái Nguyên", "Điện Biên", "Lạng Sơn", "Sơn La",
        "Phú Thọ", "Bắc Ninh", "Quảng Ninh", "Hà Nội", "Hải Phòng", "Hưng Yên", "Ninh Bình", "Thanh Hóa",
        "Nghệ An", "Hà Tĩnh", "Quảng Trị", "Huế", "Đà Nẵng", "Quảng Ngãi", "Gia Lai", "Đắk Lắk",
        "Khánh Hòa", "Lâm Đồng", "Đồng Nai", "Tây Ninh", "Hồ Chí Minh", "Đồng Tháp", "An Giang", "Vĩnh Long",
        "Cần Thơ", "Cà Mau",
    ]

    static let cities: Set<String> = ["Hà Nội", "Hải Phòng", "Huế", "Đà Nẵng", "Hồ Chí Minh", "Cần Thơ"]

    /// Commune and ward names (two-syllable auspicious place names, as most are).
    static let places = [
        "An Phú", "Tân Lập", "Hòa Bình", "Thanh Xuân", "Đông Hưng", "Phú Mỹ", "Bình An", "Tân Tiến",
        "Quang Trung", "Hưng Đạo", "Đồng Tâm", "Thống Nhất", "Yên Thế", "Minh Khai", "Tiên Phong", "Hồng Phong",
        "Nam Sơn", "Bắc Hà", "Vĩnh Phúc", "Long Biên", "Phú Lương", "Tân Hòa", "An Khánh", "Định Công",
        "Hợp Thành", "Kim Liên", "Mỹ Đức", "Ngọc Lâm", "Phúc Thịnh", "Quảng Phú", "Sơn Tây", "Tam Hiệp",
        "Thạch Bàn", "Thanh Lương", "Thuận An", "Trung Hòa", "Vạn Phúc", "Xuân Phương", "Yên Hòa", "Hoàng Văn Thụ",
        "Lê Lợi", "Nghĩa Đô", "Phú Lãm", "Tây Mỗ", "Đại Mỗ", "Cát Linh", "Hiệp Hòa", "Lạc Long",
        "Hải Châu", "Thanh Khê", "Bình Thạnh", "Tân Định", "Phước Long", "Long Thạnh", "Mỹ Tho", "Cái Răng",
        "Ninh Kiều", "An Bình", "Tân Phú", "Hòa Khánh", "Thạch Thang", "Vĩnh Ninh", "Phú Hội", "Kim Long",
    ]

    static let placeSuffixes = ["Đông", "Tây", "Nam", "Bắc", "Thượng", "Hạ", "Trung"]

    /// Village (thôn) names of rural residential branches.
    static let villages = [
        "Đông", "Tây", "Nam", "Bắc", "Thượng", "Hạ", "Trung", "An Lạc", "Phú Mỹ", "Tân Thành",
        "Hòa Lạc", "Bình Minh", "Đồng Xuân", "Yên Lộc", "Phúc Lâm", "Cẩm Văn",
    ]

    static let streets = [
        "Lê Lợi", "Trần Hưng Đạo", "Nguyễn Trãi", "Hai Bà Trưng", "Lý Thường Kiệt", "Quang Trung", "Hùng Vương",
        "Phan Đình Phùng", "Nguyễn Du", "Lê Duẩn", "Điện Biên Phủ", "Bà Triệu", "Lê Thánh Tông", "Nguyễn Huệ",
        "Hoàng Diệu", "Trần Phú", "Ngô Quyền", "Phan Chu Trinh", "Võ Thị Sáu", "Nguyễn Thị Minh Khai",
        "Lý Tự Trọng", "Nguyễn Văn Cừ", "Tôn Đức Thắng", "Lê Hồng Phong", "Chu Văn An", "Nguyễn Chí Thanh",
        "Lạc Long Quân", "Âu Cơ", "Trường Chinh", "Võ Nguyên Giáp",
    ]

    static let agencies = [
        "Văn phòng Tỉnh ủy", "Ban Tổ chức Tỉnh ủy", "Ủy ban Kiểm tra Tỉnh ủy", "Ban Tuyên giáo và Dân vận Tỉnh ủy",
        "Văn phòng Ủy ban nhân dân tỉnh", "Sở Tài chính", "Sở Nội vụ", "Sở Tư pháp", "Sở Y tế",
        "Sở Giáo dục và Đào tạo", "Sở Xây dựng", "Sở Công Thương", "Sở Nông nghiệp và Môi trường",
        "Sở Khoa học và Công nghệ", "Sở Văn hóa, Thể thao và Du lịch", "Sở Dân tộc và Tôn giáo", "Thanh tra tỉnh",
        "Tòa án nhân dân tỉnh", "Viện Kiểm sát nhân dân tỉnh", "Thuế tỉnh", "Kho bạc Nhà nước khu vực",
        "Bảo hiểm xã hội tỉnh", "Sở Ngoại vụ", "Văn phòng Đoàn đại biểu Quốc hội và Hội đồng nhân dân tỉnh",
    ]

    /// Name templates per workplace sector; "#" is replaced by a place name.
    static let workplaceTemplates: [String: [String]] = [
        "agency": ["Phòng Kinh tế #", "Trung tâm Phục vụ hành chính công #", "Chi cục Thuế khu vực #", "Đội Quản lý thị trường #"],
        "public_service": ["Bệnh viện Đa khoa #", "Trường Trung học phổ thông #", "Trung tâm Y tế #",
                           "Trường Cao đẳng Kỹ thuật #", "Đài Phát thanh và Truyền hình #", "Trung tâm Văn hóa #"],
        "enterprise_state": ["Công ty TNHH MTV Thủy lợi #", "Công ty Điện lực #", "Công ty TNHH MTV Môi trường đô thị #"],
        "enterprise_jsc": ["Công ty cổ phần Xi măng #", "Công ty cổ phần Cấp nước #", "Công ty cổ phần Vận tải #",
                           "Công ty cổ phần Dược phẩm #"],
        "enterprise_private": ["Công ty TNHH May mặc #", "Công ty TNHH Xây dựng #"],
        "enterprise_fdi": ["Công ty TNHH Điện tử # Việt Nam", "Công ty TNHH Cơ khí chính xác #"],
        "army": ["Bộ Chỉ huy Quân sự tỉnh", "Trung đoàn bộ binh #", "Ban Chỉ huy Phòng thủ khu vực #"],
        "police": ["Công an tỉnh", "Trại tạm giam #", "Phòng Cảnh sát cơ động #"],
    ]

    /// Names of the branches inside a workplace committee, per sector.
    static let workplaceBranches: [String: [String]] = [
        "agency": ["Văn phòng", "Phòng Tổ chức cán bộ", "Phòng Kế hoạch - Tài chính", "Thanh tra", "Phòng Nghiệp vụ 1",
                   "Phòng Nghiệp vụ 2"],
        "public_service": ["Khối hành chính", "Khoa Nội", "Khoa Ngoại", "Tổ Chuyên môn 1", "Tổ Chuyên môn 2", "Phòng Kỹ thuật"],
        "enterprise_state": ["Văn phòng", "Phòng Kỹ thuật", "Phòng Kinh doanh", "Phân xưởng 1", "Phân xưởng 2", "Đội Vận hành"],
        "enterprise_jsc": ["Khối văn phòng", "Phòng Kỹ thuật", "Phòng Kinh doanh", "Phân xưởng 1", "Phân xưởng 2", "Chi nhánh"],
        "enterprise_private": ["Khối văn phòng", "Xưởng sản xuất 1", "Xưởng sản xuất 2", "Phòng Kinh doanh", "Kho vận", "Đội Thi công"],
        "enterprise_fdi": ["Khối văn phòng", "Xưởng 1", "Xưởng 2", "Phòng Chất lượng", "Phòng Nhân sự", "Kho vận"],
        "army": ["Ban Tham mưu", "Ban Chính trị", "Ban Hậu cần - Kỹ thuật", "Đại đội 1", "Đại đội 2", "Đại đội 3"],
        "police": ["Phòng Tham mưu", "Phòng An ninh chính trị nội bộ", "Phòng Cảnh sát hình sự", "Phòng Cảnh sát giao thông",
                   "Phòng Xây dựng phong trào", "Đội Cơ động"],
    ]

    /// Sectors of the workplace committees of one province, cycled in this order (sizes roughly as
    /// the Thái Bình figures in reference/domain.md §8.2: agencies and public services first).
    static let workplaceSectors = [
        "agency", "agency", "public_service", "agency", "enterprise_state", "agency", "public_service", "police",
        "agency", "enterprise_jsc", "agency", "public_service", "army", "agency", "enterprise_jsc", "public_service",
        "agency", "enterprise_state", "agency", "police", "public_service", "enterprise_private", "agency",
        "enterprise_jsc", "army", "agency", "public_service", "enterprise_fdi", "agency", "enterprise_state",
    ]

    static let activitiesGrounds = [
        "Thường xuyên công tác lưu động, xa nơi cư trú (HD 33 §1.1)",
        "Cán bộ luân chuyển, ở nhà công vụ, không thường xuyên về nơi cư trú (HD 33 §1.1)",
        "Học tập trung 12 tháng trong năm, xa nơi cư trú (HD 33 §1.1)",
    ]

    static let armedActivitiesGrounds = [
        "Ở trong doanh trại sau giờ làm việc, không thường xuyên về nơi cư trú (HD 33 §1.1)",
        "Công tác xa nhà, ở nhà công vụ của đơn vị (HD 33 §1.1)",
    ]

    static let introductionGrounds = [
        "Làm nhiệm vụ đặc biệt, phải giữ bí mật danh tính (HD 33 §1.2)",
        "Đơn vị thường trực sẵn sàng chiến đấu (HD 33 §1.2)",
    ]
}
