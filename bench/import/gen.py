#!/usr/bin/env python3
"""Deterministic CSV files for the import benchmark (standard library only).

    python3 bench/import/gen.py --out DIR [--members 100000] [--bad-percent 1] [--seed 213]

Writes DIR/organizations.csv (two provinces BP and BQ, communes, workplace committees and their
branches) and DIR/members.csv (UTF-8 with BOM, CRLF, RFC 4180 quoting) where exactly
--bad-percent of the data rows fail, each for one of several reasons (bad date, unknown or
out-of-tree workplace, invalid sex, missing name, commune outside the province, duplicate card
number), and DIR/expected.json with the row counts the import must report.
"""
import argparse
import csv
import json
import os
import random

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô",
          "Dương", "Lý", "Đinh", "Lò", "Hà", "Trịnh"]
MIDDLE_M = ["Văn", "Đức", "Hữu", "Quang", "Minh", "Công", "Xuân", "Thành"]
MIDDLE_F = ["Thị", "Ngọc", "Thu", "Thanh", "Kim", "Mai", "Hồng"]
GIVEN_M = ["An", "Bình", "Cường", "Dũng", "Hùng", "Hải", "Khánh", "Long", "Nam", "Phong", "Quân", "Sơn", "Thắng", "Tuấn", "Việt"]
GIVEN_F = ["Anh", "Chi", "Dung", "Hà", "Hằng", "Hoa", "Hương", "Lan", "Linh", "Loan", "Mai", "Nga", "Thảo", "Trang", "Yến"]
STREETS = ["Lê Lợi", "Trần Hưng Đạo", "Nguyễn Trãi", "Hai Bà Trưng", "Lý Thường Kiệt", "Phan Đình Phùng", "Quang Trung"]

HEADER = ["party_card_number", "full_name", "sex", "birth_date", "admitted_on", "full_member_on", "workplace_code",
          "residence_province_code", "residence_commune_code", "residence_address", "exemption", "exemption_ground"]


def organizations():
    rows = [["BP", "Tỉnh Bắc Phú", "province", "province", "TW", "2025-07-01"],
            ["BQ", "Tỉnh Quảng Bắc", "province", "province", "TW", "2025-07-01"],
            ["BQ-C01", "Xã Quảng Một", "commune", "commune", "BQ", "2025-07-01"]]
    for c in range(1, 21):
        rows.append([f"BP-C{c:02d}", f"{'Phường' if c % 3 == 0 else 'Xã'} Bắc Phú {c}", "commune",
                     "ward" if c % 3 == 0 else "commune", "BP", "2025-07-01"])
        for b in range(1, 4):
            rows.append([f"BP-C{c:02d}-B{b}", f"Chi bộ khu dân cư số {b}", "branch", "other", f"BP-C{c:02d}", ""])
    sectors = ["agency", "enterprise_state", "enterprise_jsc", "public_service", "police", "army"]
    for w in range(1, 31):
        rows.append([f"BP-W{w:02d}", f"Đảng ủy cơ quan số {w}", "grassroots_committee", sectors[w % len(sectors)], "BP", ""])
        for b in range(1, 4):
            rows.append([f"BP-W{w:02d}-B{b}", f"Chi bộ phòng {b}", "branch", sectors[w % len(sectors)], f"BP-W{w:02d}", ""])
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--members", type=int, default=100_000)
    ap.add_argument("--bad-percent", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=213)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    os.makedirs(a.out, exist_ok=True)

    orgs = organizations()
    with open(os.path.join(a.out, "organizations.csv"), "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(["code", "name", "kind", "sector", "parent_code", "valid_from"])
        w.writerows(orgs)
    workplaces = [o[0] for o in orgs if o[0].startswith("BP-W")]
    communes = [o[0] for o in orgs if o[2] == "commune" and o[0].startswith("BP-")]

    n = a.members
    bad_every = round(100 / a.bad_percent) if a.bad_percent > 0 else 0
    kinds = ["bad_date", "unknown_workplace", "bad_sex", "missing_name", "commune_elsewhere", "duplicate"]
    bad_rows = 0
    previous_bad_card = None
    with open(os.path.join(a.out, "members.csv"), "w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(HEADER)
        for i in range(1, n + 1):
            female = rnd.random() < 0.45
            name = " ".join([rnd.choice(FAMILY), rnd.choice(MIDDLE_F if female else MIDDLE_M),
                             rnd.choice(GIVEN_F if female else GIVEN_M)])
            by = rnd.randint(1950, 2002)
            birth = f"{by}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}"
            ay = min(by + rnd.randint(18, 40), 2024)
            admitted = f"{ay}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}"
            full = f"{ay + 1}-{admitted[5:]}"
            commune = rnd.choice(communes)
            address = f"Số {rnd.randint(1, 300)}, đường {rnd.choice(STREETS)}, tổ {rnd.randint(1, 40)}"
            exemption, ground = ("activities", "Tuổi cao, sức khỏe yếu, được miễn sinh hoạt") if rnd.random() < 0.03 else ("none", "")
            row = [f"B{i:08d}", name, "female" if female else "male", birth, admitted, full, rnd.choice(workplaces),
                   "BP", commune, address, exemption, ground]
            if bad_every and i % bad_every == 0:
                kind = kinds[bad_rows % len(kinds)]
                bad_rows += 1
                if kind == "bad_date":
                    row[3] = f"{by}-02-30"
                elif kind == "unknown_workplace":
                    row[6] = "BP-W99"
                elif kind == "bad_sex":
                    row[2] = "x"
                elif kind == "missing_name":
                    row[1] = ""
                elif kind == "commune_elsewhere":
                    row[8] = "BQ-C01"
                elif kind == "duplicate":
                    # Repeats the card of the previous bad row (which fails anyway): one more bad row.
                    row[0] = previous_bad_card
                previous_bad_card = row[0]
            w.writerow(row)
    with open(os.path.join(a.out, "expected.json"), "w") as f:
        json.dump({"organizations": len(orgs), "rows": n, "failed": bad_rows, "ok": n - bad_rows}, f)
    print(json.dumps({"organizations": len(orgs), "rows": n, "failed": bad_rows, "ok": n - bad_rows}))


if __name__ == "__main__":
    main()
