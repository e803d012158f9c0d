import Foundation
import Testing

@testable import RenderService

@Suite("SigV4 signing")
struct SigV4Tests {
    /// The AWS SigV4 test suite's credentials and time.
    static let suite = SigV4Signer(accessKey: "AKIDEXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", region: "us-east-1", service: "service")
    static let suiteDate = Date(timeIntervalSince1970: 1_440_938_160)  // 2015-08-30T12:36:00Z

    @Test(
        "AWS SigV4 test-suite vectors",
        arguments: [
            (
                "get-vanilla", "GET", "/", [(String, String)](), [(String, String)](), "host;x-amz-date",
                "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
            ),
            ("post-vanilla", "POST", "/", [], [], "host;x-amz-date", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
            (
                "get-vanilla-query-order-key-case", "GET", "/", [("Param2", "value2"), ("Param1", "value1")], [], "host;x-amz-date",
                "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
            ),
            (
                "post-header-value-case", "POST", "/", [], [("My-Header1", "VALUE1")], "host;my-header1;x-amz-date",
                "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"
            ),
            (
                "get-header-key-duplicate", "GET", "/", [], [("My-Header1", "value2"), ("My-Header1", "value2"), ("My-Header1", "value1")],
                "host;my-header1;x-amz-date", "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"
            ),
            (
                "get-unreserved", "GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", [], [], "host;x-amz-date",
                "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"
            ),
        ] as [(String, String, String, [(String, String)], [(String, String)], String, String)])
    func testSuiteVectors(name: String, method: String, path: String, query: [(String, String)], headers: [(String, String)], signed: String, signature: String)
    {
        let added = Self.suite.sign(
            method: method, path: path, query: query, headers: [("Host", "example.amazonaws.com")] + headers,
            payloadHash: SigV4Signer.emptyPayloadHash, date: Self.suiteDate)
        let authorization = added.first { $0.0 == "Authorization" }?.1
        #expect(
            authorization == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=\(signed), Signature=\(signature)",
            "\(name)")
        #expect(added.first { $0.0 == "x-amz-date" }?.1 == "20150830T123600Z")
    }

    /// AWS's S3 documentation examples (GET Object with Range; a presigned URL).
    static let docs = SigV4Signer(accessKey: "AKIAIOSFODNN7EXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", region: "us-east-1")
    static let docsDate = Date(timeIntervalSince1970: 1_369_353_600)  // 2013-05-24T00:00:00Z

    @Test func s3DocumentationGetObjectExample() {
        let added = Self.docs.sign(
            method: "GET", path: "/test.txt", query: [], headers: [("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9")],
            payloadHash: SigV4Signer.emptyPayloadHash, date: Self.docsDate)
        #expect(
            added.first { $0.0 == "Authorization" }?.1
                == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        )
    }

    @Test func s3DocumentationPresignedURLExample() {
        let url = Self.docs.presign(scheme: "https", host: "examplebucket.s3.amazonaws.com", path: "/test.txt", expires: 86400, date: Self.docsDate)
        #expect(url.absoluteString.hasSuffix("&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"), "\(url)")
        #expect(url.absoluteString.contains("X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"))
    }

    /// The same presigned URL from botocore (generated at test time with the same key, time,
    /// credentials and response-content-disposition), path-style, explicit region.
    @Test func presignedURLsMatchBotocore() throws {
        let signer = SigV4Signer(accessKey: "minio-access", secretKey: "minio-secret/+key", region: "eu-west-2")
        let date = Date(timeIntervalSince1970: 1_764_000_000)
        let key = "renders/3fa85f64-5717-4562-b3fc-2c963f66afa6/output.tiff"
        let disposition = FilesContentDisposition.header("watercolor-9x12-3fa85f64-5717-4562-b3fc-2c963f66afa6.tiff")
        let ours = signer.presign(
            scheme: "http", host: "render.example.com:9000", path: "/render-assets/\(key)",
            extraQuery: [("response-content-disposition", disposition)], expires: 604800, date: date)
        let script = """
            import sys, datetime
            from unittest import mock
            import botocore.session
            from botocore.config import Config
            fixed = datetime.datetime(2025, 11, 24, 16, 0, 0)
            session = botocore.session.get_session()
            client = session.create_client('s3', region_name='eu-west-2', endpoint_url='http://render.example.com:9000',
                aws_access_key_id='minio-access', aws_secret_access_key='minio-secret/+key',
                config=Config(signature_version='s3v4', s3={'addressing_style': 'path'}))
            with mock.patch('botocore.auth.get_current_datetime', return_value=fixed):
                print(client.generate_presigned_url('get_object', Params={'Bucket': 'render-assets', 'Key': sys.argv[1],
                    'ResponseContentDisposition': sys.argv[2]}, ExpiresIn=604800))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, key, disposition]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "botocore is installed by make test")
        let theirs = try #require(URLComponents(string: output))
        let mine = try #require(URLComponents(url: ours, resolvingAgainstBaseURL: false))
        #expect(mine.host == theirs.host && mine.port == theirs.port && mine.percentEncodedPath == theirs.percentEncodedPath)
        func items(_ c: URLComponents) -> [String: String] {
            Dictionary(uniqueKeysWithValues: (c.queryItems ?? []).map { ($0.name, $0.value ?? "") })
        }
        let (a, b) = (items(mine), items(theirs))
        #expect(a["X-Amz-Date"] == "20251124T160000Z" && a["X-Amz-Date"] == b["X-Amz-Date"])
        #expect(a["X-Amz-Credential"] == b["X-Amz-Credential"])
        #expect(a["response-content-disposition"] == b["response-content-disposition"])
        #expect(a["X-Amz-Signature"] == b["X-Amz-Signature"], "signature matches botocore's:\nours   \(ours)\nbotocore \(output)")
    }

    @Test func pathsAndQueriesAreEncodedTheS3Way() {
        #expect(SigV4Signer.encodePath("/bucket/renders/a b+c/ü.tiff") == "/bucket/renders/a%20b%2Bc/%C3%BC.tiff")
        #expect(SigV4Signer.canonicalQuery([("b", "2"), ("a", "x y"), ("a", "1")]) == "a=1&a=x%20y&b=2")
        #expect(SigV4Signer.canonicalQuery([("uploads", "")]) == "uploads=")
    }
}
