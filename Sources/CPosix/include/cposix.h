#ifndef CPOSIX_H
#define CPOSIX_H
// Glibc's Swift module does not export epoll, eventfd or accept4 (and accept4 stays hidden even
// with _GNU_SOURCE because <sys/socket.h> was already imported), so this shim wraps them.
// Keep this header small: redefining feature macros or pulling headers Glibc's module already
// owns (sys/resource.h, sys/select.h) makes clang reject the two modules as inconsistent.
#include <sys/socket.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

int cposix_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
int cposix_errno(void);

/// Installs SIGTERM/SIGINT handlers that write to `eventfd` (async-signal-safe), so one event loop
/// can observe them with epoll. A second signal exits at once with status 130. Unlike signalfd this
/// does not require the signals to be blocked in every thread, which libraries may have started
/// before us.
int cposix_install_term_handler(int eventfd);

/// CPUs this process may run on (sched_getaffinity), so `taskset -c 1` means one loop.
int cposix_available_cpus(void);

/// Names the calling thread (visible in top/gdb); at most 15 bytes are kept.
void cposix_set_thread_name(const char *name);

/// Monotonic clock in nanoseconds.
unsigned long long cposix_monotonic_ns(void);

/// Raises RLIMIT_NOFILE's soft limit to its hard limit; returns the new soft limit.
long cposix_raise_nofile(void);
#endif
