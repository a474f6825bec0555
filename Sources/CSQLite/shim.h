#include <sqlite3.h>

#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

/// Lowers the calling thread's CPU priority (its nice value) by `increment`, on Linux, where a
/// nice value belongs to a thread: the replica's background copies of its database (snapshots,
/// backups, state hashes) yield the CPU to its runtime and request threads. Returns 0, or -1
/// with errno set; does nothing elsewhere.
static inline int rampart_lower_thread_priority(int increment) {
#ifdef __linux__
    pid_t thread = (pid_t)syscall(SYS_gettid);
    int current = getpriority(PRIO_PROCESS, (id_t)thread);
    return setpriority(PRIO_PROCESS, (id_t)thread, current + increment);
#else
    (void)increment;
    return 0;
#endif
}
