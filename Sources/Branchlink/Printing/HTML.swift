/// Escaping for the printable documents (letters, forms). Every value from the database goes
/// through `esc`, so a name can never inject markup.
enum HTML {
    static func esc(_ s: String?) -> String {
        guard let s else { return "" }
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    /// "dd/MM/yyyy", as Vietnamese documents write dates.
    static func date(_ iso: String?) -> String {
        guard let iso, iso.count == 10 else { return "…/…/……" }
        let p = iso.split(separator: "-")
        return "\(p[2])/\(p[1])/\(p[0])"
    }

    /// Shared A4 page frame: Times New Roman 13pt, 2 cm / 1.5 cm margins, as administrative documents.
    static func page(title: String, body: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="vi"><head><meta charset="utf-8"><title>\(esc(title))</title>
        <style>
        @page { size: A4; margin: 20mm 15mm 20mm 30mm; }
        body { font-family: "Times New Roman", "DejaVu Serif", serif; font-size: 13pt; line-height: 1.45; margin: 0; color: #000; }
        .head { display: flex; justify-content: space-between; text-align: center; }
        .head > div { width: 48%; }
        .upper { text-transform: uppercase; }
        .bold { font-weight: bold; }
        .title { text-align: center; font-weight: bold; font-size: 15pt; margin: 18pt 0 6pt; }
        .center { text-align: center; }
        .italic { font-style: italic; }
        .sign { display: flex; justify-content: space-between; margin-top: 18pt; text-align: center; }
        .sign > div { width: 48%; }
        .box { border: 1px solid #000; padding: 8pt 12pt; margin-top: 18pt; }
        .marker { border: 1px dashed #000; padding: 4pt 8pt; margin: 8pt 0; font-style: italic; }
        table.grades { border-collapse: collapse; width: 100%; margin-top: 8pt; }
        table.grades td, table.grades th { border: 1px solid #000; padding: 4pt 6pt; vertical-align: top; }
        .dots { border-bottom: 1px dotted #000; min-width: 8em; display: inline-block; }
        </style></head><body>
        \(body)
        </body></html>
        """
    }
}
