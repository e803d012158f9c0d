import Foundation

/// Writes a file under a temporary name in the same directory and renames it into place, so
/// readers never see a half-written print and a failure leaves nothing behind.
enum AtomicFile {
    /// - Returns: the size of the written file in bytes.
    static func write(to path: String, _ body: (String) throws(RenderError) -> Void) throws(RenderError) -> Int {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw RenderError(.io, "The output directory could not be created", detail: "\(error)")
        }
        // The real extension stays last: libvips picks nothing from it, but people inspecting
        // a crashed run's directory can open the file.
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).partial.\(url.pathExtension)").path
        do {
            try body(temporary)
        } catch {
            unlink(temporary)
            throw error
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw RenderError(.io, "The output file could not be moved into place", detail: reason)
        }
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : 0
    }
}
