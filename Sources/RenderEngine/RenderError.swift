/// Why a render or probe failed, in words a customer or integrator can act on.
///
/// `code` says what kind of failure it was (the API maps it to a status code); `message` is
/// the sentence to show; `detail` carries libvips' own text for logs and debugging.
public struct RenderError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Failure kinds. A struct with static members rather than an enum, so new kinds can be
    /// added without breaking callers that switch over the known ones.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The bytes are not an image format we accept (sniffed from magic bytes).
        public static let unsupportedFormat = Code("unsupported_format")
        /// The file has no bytes at all.
        public static let emptyFile = Code("empty_file")
        /// A supported format, but the data is truncated or corrupt.
        public static let corruptImage = Code("corrupt_image")
        /// The header declares more pixels than the configured limit (decompression bomb guard).
        public static let tooManyPixels = Code("too_many_pixels")
        /// The input file could not be read, or an output could not be written.
        public static let io = Code("io")
        /// A request value (style parameter, size, policy) is out of range or unknown.
        public static let invalidRequest = Code("invalid_request")
        /// The render was stopped on request at a checkpoint.
        public static let canceled = Code("canceled")
        /// Something inside the engine failed; not the customer's fault.
        public static let internalFailure = Code("internal")
    }

    public let code: Code
    public let message: String
    public let detail: String

    public init(_ code: Code, _ message: String, detail: String = "") {
        self.code = code
        self.message = message
        self.detail = detail
    }

    public var description: String {
        detail.isEmpty ? message : "\(message) (\(detail))"
    }
}
