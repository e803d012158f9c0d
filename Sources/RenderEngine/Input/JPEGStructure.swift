import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Walks a JPEG's markers from SOI to EOI without decoding a pixel: every segment must fit in
/// the file, each scan's entropy-coded data must end at a marker that may follow a scan, and
/// an EOI must be reached. A file cut short (or cut and padded with zeros, as an interrupted
/// preallocated download leaves it) runs out before its EOI.
///
/// It reads the file once at memory speed, where even a shrink-on-load decode must walk every
/// Huffman code of every block (0.25 s for a 22 MB photo). libjpeg itself (with
/// `fail_on=error`) only notices a cut that leaves blocks undecoded: it decodes zero padding
/// and accepts a scan that ends early or has garbage in it, with a warning.
enum JPEGStructure {
    enum Finding: Equatable {
        case complete
        case truncated(String)
        case corrupt(String)
    }

    static func check(path: String) -> Finding {
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) else {
            return .corrupt("cannot read the file")
        }
        return data.withUnsafeBytes { raw in check(raw.bindMemory(to: UInt8.self)) }
    }

    static func check(_ bytes: UnsafeBufferPointer<UInt8>) -> Finding {
        let size = bytes.count
        guard size >= 2 else { return .truncated("no SOI") }
        guard bytes[0] == 0xFF, bytes[1] == 0xD8 else { return .corrupt("no SOI marker") }
        var at = 2
        var frame = false
        var scans = 0
        while true {
            guard at < size else { return .truncated("ends before EOI") }
            guard bytes[at] == 0xFF else { return .corrupt(String(format: "0x%02X where a marker should be, at byte %d", bytes[at], at)) }
            while at < size, bytes[at] == 0xFF { at += 1 }  // fill bytes
            guard at < size else { return .truncated("ends before EOI") }
            let marker = bytes[at]
            at += 1
            switch marker {
            case 0xD9:
                return scans > 0 ? .complete : .corrupt("EOI before any scan")
            case 0x01:
                continue  // TEM: no length
            case 0x00, 0xD0...0xD8:
                return .corrupt(String(format: "stray marker 0x%02X at byte %d", marker, at - 1))
            default:
                break
            }
            // After the first scan only tables, restart intervals, comments, application data,
            // the next scan or EOI may come (DAC, DNL included).
            if scans > 0, !(marker == 0xC4 || marker == 0xCC || (0xDA...0xDD).contains(marker) || marker == 0xFE || (0xE0...0xEF).contains(marker)) {
                return .corrupt(String(format: "marker 0x%02X after a scan, at byte %d", marker, at - 1))
            }
            guard at + 2 <= size else { return .truncated("ends inside a marker") }
            let length = Int(bytes[at]) << 8 | Int(bytes[at + 1])
            guard length >= 2 else { return .corrupt(String(format: "marker 0x%02X with length %d", marker, length)) }
            guard at + length <= size else { return .truncated(String(format: "marker 0x%02X runs past the end", marker)) }
            if (0xC0...0xCF).contains(marker), marker != 0xC4, marker != 0xC8, marker != 0xCC { frame = true }
            guard marker == 0xDA else {
                at += length
                continue
            }
            let components = length >= 3 ? Int(bytes[at + 2]) : 0
            guard frame, (1...4).contains(components), length == 6 + 2 * components else { return .corrupt("malformed scan header") }
            at += length
            scans += 1
            // Entropy-coded data: 0xFF only as FF00 (a stuffed byte) or FFD0–FFD7 (restart)
            // until the marker that ends the scan.
            guard let base = bytes.baseAddress else { return .truncated("empty") }
            while true {
                guard at < size, let found = memchr(base + at, 0xFF, size - at) else { return .truncated("scan data runs to the end of the file") }
                at = base.distance(to: found.assumingMemoryBound(to: UInt8.self)) + 1
                guard at < size else { return .truncated("scan data runs to the end of the file") }
                let next = bytes[at]
                if next == 0x00 || (0xD0...0xD7).contains(next) {
                    at += 1
                    continue
                }
                at -= 1  // the marker (or its fill bytes) that ends the scan
                break
            }
        }
    }
}
