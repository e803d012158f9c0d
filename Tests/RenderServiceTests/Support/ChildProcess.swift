import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Runs a short command to completion without Foundation's `Process`, whose `waitUntilExit`
/// can miss a child's exit on Linux when that child leaves a daemon behind (redis-server
/// `--daemonize`, `pg_ctl start`), hanging the test. posix_spawn + polled `waitpid` cannot.
enum ChildProcess {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Exit status of `executable arguments…` with `environment` added; standard output and
    /// error written to `outputPath` (created or truncated), or discarded.
    @discardableResult
    static func run(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:], timeout: Duration = .seconds(60), outputPath: String? = nil
    ) async throws -> Int32 {
        var fileActions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fileActions)
        defer { posix_spawn_file_actions_destroy(&fileActions) }
        posix_spawn_file_actions_addopen(&fileActions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&fileActions, 1, outputPath ?? "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&fileActions, 1, 2)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let merged = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for argument in argv { free(argument) }
            for variable in envp { free(variable) }
        }
        // The test process blocks or ignores some signals (for graceful shutdown); a daemon
        // started from here would inherit that and ignore SIGTERM, so reset both.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t(), allSignals = sigset_t()
        sigemptyset(&noSignals)
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &fileActions, &attributes, argv, envp)
        guard spawned == 0 else { throw Failure(description: "cannot run \(executable): \(String(cString: strerror(spawned)))") }
        let deadline = ContinuousClock.now + timeout
        while true {
            var status: Int32 = 0
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid { return (status >> 8) & 0xff }
            if reaped < 0 { throw Failure(description: "waitpid \(executable): \(String(cString: strerror(errno)))") }
            guard ContinuousClock.now < deadline else {
                Glibc.kill(pid, SIGKILL)
                throw Failure(description: "\(executable) \(arguments.joined(separator: " ")) did not finish within \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}
