import Foundation

/// The first IFD of a TIFF file, read byte by byte: what a print lab's software sees,
/// independent of libvips' interpretation.
struct TIFFTags {
    struct Entry {
        let type: UInt16
        let count: UInt32
        let valueOffset: UInt32
        let inline: [UInt8]
    }

    let entries: [UInt16: Entry]
    private let data: Data
    private let little: Bool

    enum Tag {
        static let imageWidth: UInt16 = 256, imageLength: UInt16 = 257, bitsPerSample: UInt16 = 258
        static let compression: UInt16 = 259, photometric: UInt16 = 262, orientation: UInt16 = 274
        static let samplesPerPixel: UInt16 = 277, xResolution: UInt16 = 282, yResolution: UInt16 = 283
        static let resolutionUnit: UInt16 = 296, software: UInt16 = 305, dateTime: UInt16 = 306
        static let predictor: UInt16 = 317, extraSamples: UInt16 = 338, xmp: UInt16 = 700
        static let iptc: UInt16 = 33723, exifIFD: UInt16 = 34665, iccProfile: UInt16 = 34675, gpsIFD: UInt16 = 34853
    }

    init(path: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard data.count > 8 else { throw Tools.Failure(description: "not a TIFF") }
        let little = data[0] == 0x49
        self.data = data
        self.little = little
        let bytes = [UInt8](data)
        func u16(_ o: Int) -> UInt16 { little ? UInt16(bytes[o]) | UInt16(bytes[o + 1]) << 8 : UInt16(bytes[o]) << 8 | UInt16(bytes[o + 1]) }
        func u32(_ o: Int) -> UInt32 {
            let b = (UInt32(bytes[o]), UInt32(bytes[o + 1]), UInt32(bytes[o + 2]), UInt32(bytes[o + 3]))
            return little ? b.0 | b.1 << 8 | b.2 << 16 | b.3 << 24 : b.0 << 24 | b.1 << 16 | b.2 << 8 | b.3
        }
        guard u16(2) == 42 else { throw Tools.Failure(description: "not a classic TIFF") }
        let ifd = Int(u32(4))
        let count = Int(u16(ifd))
        var found: [UInt16: Entry] = [:]
        for i in 0..<count {
            let o = ifd + 2 + i * 12
            found[u16(o)] = Entry(type: u16(o + 2), count: u32(o + 4), valueOffset: u32(o + 8), inline: Array(bytes[(o + 8)..<(o + 12)]))
        }
        entries = found
    }

    func has(_ tag: UInt16) -> Bool { entries[tag] != nil }

    /// SHORT or LONG value (first of the array).
    func integer(_ tag: UInt16) -> Int? {
        guard let e = entries[tag] else { return nil }
        if e.type == 3 {
            // Up to two SHORTs sit in the entry itself; longer arrays at the offset.
            let b = e.count > 2 ? [UInt8](data[Int(e.valueOffset)..<Int(e.valueOffset) + 2]) : e.inline
            return Int(little ? UInt16(b[0]) | UInt16(b[1]) << 8 : UInt16(b[0]) << 8 | UInt16(b[1]))
        }
        return Int(e.valueOffset)
    }

    /// RATIONAL value.
    func rational(_ tag: UInt16) -> Double? {
        guard let e = entries[tag], e.type == 5 else { return nil }
        let o = Int(e.valueOffset)
        let bytes = [UInt8](data[o..<(o + 8)])
        func u32(_ i: Int) -> UInt32 {
            let b = (UInt32(bytes[i]), UInt32(bytes[i + 1]), UInt32(bytes[i + 2]), UInt32(bytes[i + 3]))
            return little ? b.0 | b.1 << 8 | b.2 << 16 | b.3 << 24 : b.0 << 24 | b.1 << 16 | b.2 << 8 | b.3
        }
        return Double(u32(0)) / Double(u32(4))
    }
}
