#!/usr/bin/env python3
"""Realistic member-search fragments typed without diacritics, one request path per line.

    python3 bench/search_queries.py [--count 200] [--seed 7] [--limit N] > paths.txt

Names are drawn with the frequencies of the demo generator's vocabulary
(Sources/Branchlink/Demo/DemoNames.swift: Nguyễn ≈ 38 %, "Văn"/"Thị" common), then stripped of
their marks (NFD, combining marks removed, đ→d) and lower-cased, as people type them:
  35 %  family + middle + given     "tran thi hoa", "nguyen van hung"
  25 %  family + middle             "nguyen van", "le minh", "pham duc"
  15 %  middle + given              "thi lan", "van hung"
  15 %  family + given              "nguyen hung" (no middle: usually no substring match)
  10 %  given name alone            "huong", "thang"
Deterministic for a seed. Each line is `/v1/members?q=<url-encoded fragment>` (plus `&limit=N`).
"""
import argparse
import random
import sys
import unicodedata
import urllib.parse

FAMILIES = [
    ("Nguyễn", 38.4), ("Trần", 12.1), ("Lê", 9.5), ("Phạm", 7.0), ("Hoàng", 3.0), ("Huỳnh", 2.1),
    ("Phan", 4.5), ("Vũ", 2.0), ("Võ", 1.9), ("Đặng", 2.1), ("Bùi", 2.0), ("Đỗ", 1.4), ("Hồ", 1.3),
    ("Ngô", 1.3), ("Dương", 1.0), ("Lý", 0.5), ("Đinh", 0.8), ("Đoàn", 0.7), ("Trịnh", 0.6),
    ("Trương", 0.6), ("Lương", 0.5), ("Mai", 0.5), ("Đào", 0.4), ("Cao", 0.4), ("Lâm", 0.4),
]
MALE_MIDDLES = [
    ("Văn", 40), ("Hữu", 6), ("Đức", 7), ("Minh", 8), ("Quang", 6), ("Công", 5), ("Xuân", 4), ("Đình", 5),
    ("Ngọc", 4), ("Thành", 4), ("Quốc", 4), ("Anh", 3), ("Tuấn", 2), ("Trọng", 3), ("Mạnh", 2), ("Duy", 3),
]
FEMALE_MIDDLES = [
    ("Thị", 45), ("Ngọc", 8), ("Thu", 6), ("Thanh", 6), ("Minh", 4), ("Phương", 4), ("Hồng", 5), ("Kim", 4),
    ("Thúy", 3), ("Mai", 3), ("Bích", 3),
]
MALE_GIVEN = [
    ("Hùng", 6), ("Dũng", 6), ("Tuấn", 6), ("Minh", 6), ("Hải", 5), ("Nam", 5), ("Sơn", 5), ("Thắng", 4),
    ("Long", 4), ("Quân", 3), ("Hiếu", 3), ("Trung", 4), ("Cường", 4), ("Đức", 4), ("Huy", 4), ("Thành", 4),
    ("Bình", 4), ("Hòa", 3), ("Việt", 3), ("Anh", 5), ("Đạt", 3), ("Vinh", 3), ("Tiến", 3), ("Hưng", 3),
]
FEMALE_GIVEN = [
    ("Lan", 5), ("Hương", 6), ("Hoa", 5), ("Mai", 4), ("Linh", 5), ("Trang", 5), ("Hà", 5), ("Thảo", 4),
    ("Ngọc", 3), ("Nga", 4), ("Hạnh", 4), ("Huyền", 4), ("Thủy", 4), ("Yến", 3), ("Phương", 4), ("Dung", 3),
    ("Hằng", 4), ("Loan", 3), ("Nhung", 3), ("Vân", 3), ("Giang", 3), ("Liên", 3), ("Hiền", 3), ("Thu", 3),
]


def plain(s):
    """Without diacritics, lower case: what search_key() compares against."""
    s = s.replace("đ", "d").replace("Đ", "D")
    s = "".join(c for c in unicodedata.normalize("NFD", s) if unicodedata.category(c) != "Mn")
    return s.lower()


def pick(rng, table):
    names, weights = zip(*table)
    return rng.choices(names, weights=weights, k=1)[0]


def fragment(rng):
    female = rng.random() < 0.45
    family = pick(rng, FAMILIES)
    middle = pick(rng, FEMALE_MIDDLES if female else MALE_MIDDLES)
    given = pick(rng, FEMALE_GIVEN if female else MALE_GIVEN)
    r = rng.random()
    if r < 0.35:
        words = [family, middle, given]
    elif r < 0.60:
        words = [family, middle]
    elif r < 0.75:
        words = [middle, given]
    elif r < 0.90:
        words = [family, given]
    else:
        words = [given]
    q = plain(" ".join(words))
    # Single short given names ("ha", "an") are below the 3-letter minimum: lengthen them.
    if len(q.replace(" ", "")) < 3:
        q = plain(family + " " + middle)
    return q


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--limit", type=int, default=0, help="add &limit=N (0: the API's default page size)")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    for _ in range(args.count):
        line = "/v1/members?q=" + urllib.parse.quote(fragment(rng))
        if args.limit:
            line += "&limit=%d" % args.limit
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
