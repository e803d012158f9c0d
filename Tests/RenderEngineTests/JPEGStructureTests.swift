import Foundation
import Testing

@testable import RenderEngine

/// The upload-time JPEG check walks markers instead of decoding: whole files (baseline,
/// progressive, with data after EOI) pass; files cut anywhere, cut and zero-padded, or with
/// garbage inside a scan are refused.
@Suite("JPEG structure check")
struct JPEGStructureTests {
    /// The dune photo as libvips writes it: baseline and progressive.
    static func variants(in directory: String) throws -> [(name: String, data: Data)] {
        let dune = try Photos.require(Photos.dune)
        var variants = [("baseline", try Data(contentsOf: URL(fileURLWithPath: dune)))]
        let progressive = "\(directory)/progressive.jpg"
        try Tools.vips("copy", dune, "\(progressive)[interlace,Q=90]")
        variants.append(("progressive", try Data(contentsOf: URL(fileURLWithPath: progressive))))
        return variants
    }

    static func finding(_ data: Data) -> JPEGStructure.Finding {
        data.withUnsafeBytes { JPEGStructure.check($0.bindMemory(to: UInt8.self)) }
    }

    static func refused(_ finding: JPEGStructure.Finding) -> Bool {
        switch finding {
        case .complete: false
        case .truncated, .corrupt: true
        }
    }

    @Test func wholeFilesPass() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for (name, data) in try Self.variants(in: directory) {
            #expect(Self.finding(data) == .complete, "\(name)")
            // A motion photo or MPO carries more after the first image's EOI.
            #expect(Self.finding(data + Data("ftypmp42 and a video".utf8)) == .complete, "\(name) with trailing data")
        }
    }

    /// Cut at any point — in the headers, in a scan, just before EOI — it is refused.
    @Test func filesCutAnywhereAreRefused() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for (name, data) in try Self.variants(in: directory) {
            var cuts = Array(stride(from: 0, to: data.count, by: max(1, data.count / 97)))
            cuts += [data.count - 1, data.count - 2, 1, 3, 300]
            for cut in cuts {
                #expect(Self.refused(Self.finding(data.prefix(cut))), "\(name) cut at \(cut) of \(data.count)")
            }
        }
    }

    /// A cut file padded with zeros to its size (an interrupted, preallocated download), or
    /// with 4 KB of garbage inside a scan, is refused; libjpeg's decode accepts the first.
    @Test func paddedAndGarbledFilesAreRefused() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for (name, data) in try Self.variants(in: directory) {
            let padded = data.prefix(data.count * 6 / 10) + Data(count: data.count - data.count * 6 / 10)
            #expect(Self.finding(padded) == .truncated("scan data runs to the end of the file"), "\(name) zero-padded")
            var garbled = [UInt8](data)
            var state: UInt32 = 12345
            for index in (data.count / 2)..<(data.count / 2 + 4096) {
                state = state &* 1_103_515_245 &+ 12345
                garbled[index] = UInt8(truncatingIfNeeded: state >> 16)
            }
            #expect(Self.refused(Self.finding(Data(garbled))), "\(name) garbled")
        }
        // What the upload check did before: a low-resolution decode passes the padded file
        // (when zero bits decode as short codes in the photo's Huffman tables, as in this one).
        let flower = try Data(contentsOf: URL(fileURLWithPath: try Photos.require(Photos.flower)))
        let padded = "\(directory)/padded.jpg"
        try (flower.prefix(flower.count * 6 / 10) + Data(count: flower.count - flower.count * 6 / 10)).write(to: URL(fileURLWithPath: padded))
        #expect(throws: Never.self) { try ImageProbe.verifyDecodes(path: padded, format: .jpeg) }
        #expect(throws: RenderError.self) { try ImageProbe.verifyUpload(path: padded, format: .jpeg) }
    }

    @Test func notAJPEGIsCorrupt() {
        #expect(Self.finding(Data("GIF89a".utf8)) == .corrupt("no SOI marker"))
        #expect(Self.finding(Data([0xFF, 0xD8, 0xFF, 0xD9])) == .corrupt("EOI before any scan"))
        #expect(Self.refused(Self.finding(Data([0xFF, 0xD8, 0x12, 0x34]))))
    }
}
