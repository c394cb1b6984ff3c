import CPosix
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Accept: one listener on loop 0 hands new connections round-robin to the loops. A single
/// listener (rather than SO_REUSEPORT per loop) keeps a second server on the same port an error.
extension EventLoop {

    func listen(host: String, port: Int) throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ServerError.system("socket", errno) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else { close(fd); throw ServerError.invalidHost(host) }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { let e = errno; close(fd); throw ServerError.system("bind \(host):\(port)", e) }
        guard Glibc.listen(fd, SOMAXCONN) == 0 else { let e = errno; close(fd); throw ServerError.system("listen", e) }
        var bound = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        listenFd = fd
        register(fd, events: EPOLLIN.rawValue)
        return Int(UInt16(bigEndian: bound.sin_port))
    }

    func acceptBatch() {
        for _ in 0..<64 {
            var addr = sockaddr_in()
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            let fd = withUnsafeMutablePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    cposix_accept4(listenFd, $0, &len, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
                }
            }
            if fd < 0 {
                let e = errno
                switch e {
                case EAGAIN, EWOULDBLOCK: return
                case EINTR, ECONNABORTED, EPROTO, EPERM: continue
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    shedWhenOutOfDescriptors()
                    return
                default:
                    server.config.logger.error("accept failed", metadata: ["errno": "\(e)"])
                    return
                }
            }
            if server.metrics.openConnections.load(ordering: .relaxed) >= limits.maxConnections || draining {
                rejectOverCap(fd)
                continue
            }
            server.metrics.openConnections.add(1, ordering: .relaxed)
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let remote = Self.format(addr)
            let loops = server.loops
            let target = loops[nextAcceptTarget % loops.count]
            nextAcceptTarget &+= 1
            if target === self { adopt(fd: fd, remote: remote) } else { target.post(.adopt(fd: fd, remote: remote)) }
        }
    }

    /// Out of descriptors: free the reserve, accept and close the waiting client so it is not left
    /// hanging, take the reserve back, and stop accepting for 100 ms (the reserve-fd trick).
    func shedWhenOutOfDescriptors() {
        server.metrics.recordRejectedConnection()
        if reserveFd >= 0 { close(reserveFd); reserveFd = -1 }
        let fd = cposix_accept4(listenFd, nil, nil, Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue))
        if fd >= 0 {
            // Tell the client why instead of a bare reset: it may retry after Retry-After.
            Canned.overCapResponse.withUnsafeBytes { _ = send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            close(fd)
        }
        reserveFd = open("/dev/null", O_RDONLY | O_CLOEXEC)
        _ = epoll_ctl(epfd, EPOLL_CTL_DEL, listenFd, nil)
        acceptPausedUntil = System.now() + 100_000_000
        server.logDescriptorExhaustion()
    }


    func rejectOverCap(_ fd: Int32) {
        server.metrics.recordRejectedConnection()
        Canned.overCapResponse.withUnsafeBytes { _ = send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        close(fd)
    }

    static func format(_ addr: sockaddr_in) -> String {
        var a = addr.sin_addr
        var buf = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
        inet_ntop(AF_INET, &a, &buf, socklen_t(buf.count))
        return String(cString: buf) + ":" + String(UInt16(bigEndian: addr.sin_port))
    }

    func adopt(fd: Int32, remote: String) {
        if draining { close(fd); server.metrics.openConnections.subtract(1, ordering: .relaxed); return }
        if Int(fd) >= conns.count { conns.append(contentsOf: repeatElement(nil, count: Int(fd) + 1 - conns.count + 64)) }
        generationCounter &+= 1
        let c = Connection<Context>(fd: fd, generation: generationCounter, remoteAddress: remote, limits: limits)
        conns[Int(fd)] = c
        connectionCount += 1
        c.interest = Self.readInterest
        register(fd, events: c.interest)
        setDeadline(c, .idle, System.now() + UInt64(limits.headerTimeoutMs) * 1_000_000)
    }
}
