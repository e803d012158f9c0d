import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing

@testable import RenderService

@Suite("RESP codec")
struct RESPCodecTests {
    static let frames: [(String, RESPValue)] = [
        ("+OK\r\n", .simpleString("OK")),
        ("-ERR unknown command\r\n", .error("ERR unknown command")),
        (":1000\r\n", .integer(1000)),
        (":-42\r\n", .integer(-42)),
        ("$5\r\nhello\r\n", .bulkString(ByteBuffer(string: "hello"))),
        ("$0\r\n\r\n", .bulkString(ByteBuffer())),
        ("$-1\r\n", .bulkString(nil)),
        ("*-1\r\n", .array(nil)),
        ("*0\r\n", .array([])),
        ("*2\r\n$3\r\nfoo\r\n:7\r\n", .array([.bulkString(ByteBuffer(string: "foo")), .integer(7)])),
        ("*2\r\n*1\r\n+a\r\n$-1\r\n", .array([.array([.simpleString("a")]), .bulkString(nil)])),
        // Binary-safe: CRLF inside a bulk string is data.
        ("$4\r\na\r\nb\r\n", .bulkString(ByteBuffer(string: "a\r\nb"))),
    ]

    @Test func decodesEveryTypeFedWholeOrOneByteAtATime() throws {
        for (wire, expected) in Self.frames {
            // Whole.
            var decoder = RESPDecoder()
            var buffer = ByteBuffer(string: wire)
            #expect(try decoder.decode(buffer: &buffer) == expected, "\(wire.debugDescription)")
            #expect(buffer.readableBytes == 0)
            // One byte at a time through a channel: nothing until the last byte.
            let channel = EmbeddedChannel(handler: ByteToMessageHandler(RESPDecoder()))
            let bytes = Array(wire.utf8)
            for (index, byte) in bytes.enumerated() {
                try channel.writeInbound(ByteBuffer(bytes: [byte]))
                let output = try channel.readInbound(as: RESPValue.self)
                if index < bytes.count - 1 {
                    #expect(output == nil, "\(wire.debugDescription) produced a value before its last byte")
                } else {
                    #expect(output == expected)
                }
            }
            _ = try channel.finish()
        }
    }

    @Test func passesNIOsDecoderVerifier() throws {
        let pairs = Self.frames.map { (ByteBuffer(string: $0.0), [$0.1]) }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) { RESPDecoder() }
    }

    @Test func pipelinedFramesComeOutInOrder() throws {
        var decoder = RESPDecoder()
        var buffer = ByteBuffer(string: "+OK\r\n:1\r\n$2\r\nhi\r\n")
        #expect(try decoder.decode(buffer: &buffer) == .simpleString("OK"))
        #expect(try decoder.decode(buffer: &buffer) == .integer(1))
        #expect(try decoder.decode(buffer: &buffer) == .bulkString(ByteBuffer(string: "hi")))
        #expect(try decoder.decode(buffer: &buffer) == nil)
    }

    @Test(
        "hostile frames are refused, not buffered forever",
        arguments: [
            "$99999999999\r\n",  // bulk far over the limit
            "*5000000\r\n",  // array count over the limit
            "$abc\r\n",  // not a number
            "$-2\r\n",  // negative length
            "?what\r\n",  // unknown type
            "$3\r\nabcXY",  // bulk not terminated by CRLF
            ":12x\r\n",  // bad integer
        ])
    func rejectsHostileFrames(wire: String) throws {
        var decoder = RESPDecoder(maxBulkLength: 1 << 20, maxArrayCount: 1000)
        var buffer = ByteBuffer(string: wire)
        #expect(throws: RESPError.self) { try decoder.decode(buffer: &buffer) }
    }

    @Test func nestingDepthIsBounded() throws {
        var decoder = RESPDecoder(maxDepth: 4)
        var deep = ByteBuffer(string: String(repeating: "*1\r\n", count: 10) + ":1\r\n")
        #expect(throws: RESPError.self) { try decoder.decode(buffer: &deep) }
        var ok = ByteBuffer(string: String(repeating: "*1\r\n", count: 3) + ":1\r\n")
        #expect(try decoder.decode(buffer: &ok) != nil)
    }

    @Test func overlongLinesAreRefused() throws {
        var decoder = RESPDecoder()
        var buffer = ByteBuffer(string: "+" + String(repeating: "x", count: 70_000))
        #expect(throws: RESPError.self) { try decoder.decode(buffer: &buffer) }
    }

    @Test func commandsAreEncodedAsArraysOfBulkStrings() throws {
        let channel = EmbeddedChannel(handler: MessageToByteHandler(RESPCommandEncoder()))
        try channel.writeOutbound([ByteBuffer(string: "SET"), ByteBuffer(string: "key"), ByteBuffer(string: "a\r\nb")])
        let written = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(String(buffer: written) == "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$4\r\na\r\nb\r\n")
        _ = try channel.finish()
    }
}
