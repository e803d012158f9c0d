import Foundation

/// Process memory figures from /proc (Linux).
public enum MemoryUsage {
    /// Peak resident set size (VmHWM) in bytes, 0 where /proc is unavailable.
    public static func peakResidentBytes() -> Int { statusField("VmHWM:") }

    /// Current resident set size (VmRSS) in bytes.
    public static func residentBytes() -> Int { statusField("VmRSS:") }

    private static func statusField(_ name: String) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix(name) {
            let kilobytes = line.dropFirst(name.count).split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap { Int($0) } ?? 0
            return kilobytes * 1024
        }
        return 0
    }
}
