import Testing

/// Under `make test` every production case must run: a missing server is a failure that says
/// which, not a suite that silently disappears.
@Suite("Required test servers", .enabled(if: TestServers.required))
struct RequiredServersTests {
    @Test(arguments: ["TEST_PG_HOST", "TEST_PG_PORT", "TEST_PG_PASSWORD", "TEST_REDIS_HOST", "TEST_REDIS_PORT", "TEST_REDIS_TLS_PORT", "TEST_S3_ENDPOINT"])
    func serverIsConfigured(_ variable: String) {
        #expect(TestServers.environment[variable] != nil, "\(variable) is missing: scripts/test-servers.sh did not start its server")
    }
}
