import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs a command to completion with stdin from /dev/null and stdout+stderr captured through a
/// temporary file (never a pipe: the postmaster that `pg_ctl start` leaves behind must not hold
/// it), all other descriptors closed in the child, working directory "/".
enum Subprocess {
    struct Result {
        var status: Int32
        var output: String
    }

    /// uid/gid to drop to (via setpriv or runuser) when running as root; nil when not root.
    static let unprivilegedUser: (uid: UInt32, gid: UInt32, name: String)? = {
        guard geteuid() == 0 else { return nil }
        if let pw = getpwnam("nobody") {
            return (pw.pointee.pw_uid, pw.pointee.pw_gid, "nobody")
        }
        return (65534, 65534, "nobody")
    }()

    static func which(_ name: String, extra: [String] = []) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":").map(String.init) + extra {
            let p = dir + "/" + name
            if access(p, X_OK) == 0 { return p }
        }
        return nil
    }

    /// Wraps `argv` so it runs as the unprivileged user when we are root.
    static func unprivileged(_ argv: [String]) -> [String] {
        guard let user = unprivilegedUser else { return argv }
        if let setpriv = which("setpriv", extra: ["/usr/bin", "/bin", "/usr/sbin", "/sbin"]) {
            return [setpriv, "--reuid=\(user.uid)", "--regid=\(user.gid)", "--clear-groups"] + argv
        }
        if let runuser = which("runuser", extra: ["/usr/sbin", "/sbin", "/usr/bin"]) {
            return [runuser, "-u", user.name, "--"] + argv
        }
        return argv
    }

    #if os(Linux)
    typealias FileActionsPointer = UnsafeMutablePointer<posix_spawn_file_actions_t>
    #else
    typealias FileActionsPointer = UnsafeMutablePointer<posix_spawn_file_actions_t?>
    #endif
    typealias AddClosefrom = @convention(c) (FileActionsPointer, Int32) -> Int32
    typealias AddChdir = @convention(c) (FileActionsPointer, UnsafePointer<CChar>) -> Int32

    // glibc ≥ 2.34 / 2.29 have these; the Glibc module does not export them, so look them up.
    static let addClosefrom: AddClosefrom? = {
        guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(sym, to: AddClosefrom.self)
    }()
    static let addChdir: AddChdir? = {
        guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addchdir_np") else { return nil }
        return unsafeBitCast(sym, to: AddChdir.self)
    }()

    static func run(_ argv: [String], workingDirectory: String = "/") throws -> Result {
        precondition(!argv.isEmpty)
        var template = Array("/tmp/bl-cmd-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw EmbeddedClusterError.commandFailed(command: argv.joined(separator: " "), status: -1, output: "mkstemp failed: errno \(errno)") }
        let outPath = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        defer {
            close(fd)
            unlink(outPath)
        }

        #if os(Linux)
        var actions = posix_spawn_file_actions_t()
        #else
        var actions: posix_spawn_file_actions_t? = nil
        #endif
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fd, 1)
        posix_spawn_file_actions_adddup2(&actions, fd, 2)
        var argv = argv
        if let closefrom = Subprocess.addClosefrom {
            _ = closefrom(&actions, 3)
        }
        if let chdir = Subprocess.addChdir {
            _ = chdir(&actions, workingDirectory)
        } else {
            argv = ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", workingDirectory] + argv
        }

        #if os(Linux)
        var attr = posix_spawnattr_t()
        #else
        var attr: posix_spawnattr_t? = nil
        #endif
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        // Reset signal mask and SIGPIPE/SIGTERM dispositions the server may have changed.
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attr, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        sigaddset(&defaults, SIGTERM)
        sigaddset(&defaults, SIGINT)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let cArgs = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, &attr, cArgs, environ)
        guard rc == 0 else {
            throw EmbeddedClusterError.commandFailed(command: argv.joined(separator: " "), status: -1, output: "posix_spawn failed: \(String(cString: strerror(rc)))")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { break }
        }
        let exitStatus: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        let output = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        return Result(status: exitStatus, output: output)
    }
}
