#if canImport(Glibc)
import Glibc
#endif

/// Bounded multi-producer multi-consumer queue: loops push without blocking (false when full, so the
/// loop can shed load with 503), handler threads block in `pop`. A pthread mutex and condition:
/// `Synchronization.Mutex` has no condition variable.
final class JobQueue<Element>: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var nonEmpty = pthread_cond_t()
    private var buffer: [Element?]
    private var head = 0
    private var count = 0
    private var closed = false
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(1, capacity)
        buffer = Array(repeating: nil, count: self.capacity)
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&nonEmpty, nil)
    }

    deinit {
        pthread_mutex_destroy(&mutex)
        pthread_cond_destroy(&nonEmpty)
    }

    var depth: Int {
        pthread_mutex_lock(&mutex); defer { pthread_mutex_unlock(&mutex) }
        return count
    }

    /// Non-blocking; false when full or closed.
    func tryPush(_ e: Element) -> Bool {
        pthread_mutex_lock(&mutex)
        if closed || count == capacity { pthread_mutex_unlock(&mutex); return false }
        buffer[(head + count) % capacity] = e
        count += 1
        pthread_mutex_unlock(&mutex)
        pthread_cond_signal(&nonEmpty)
        return true
    }

    /// Blocks until an element is available; nil once closed and empty.
    func pop() -> Element? {
        pthread_mutex_lock(&mutex)
        while count == 0 && !closed { pthread_cond_wait(&nonEmpty, &mutex) }
        if count == 0 { pthread_mutex_unlock(&mutex); return nil }
        let e = buffer[head]
        buffer[head] = nil
        head = (head + 1) % capacity
        count -= 1
        pthread_mutex_unlock(&mutex)
        return e
    }

    /// Wakes every consumer; queued elements are still handed out, then `pop` returns nil.
    func close() {
        pthread_mutex_lock(&mutex)
        closed = true
        pthread_mutex_unlock(&mutex)
        pthread_cond_broadcast(&nonEmpty)
    }
}
