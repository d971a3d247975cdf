package auth

import "syscall"

// hashNiceness is how much less CPU priority a password hash's thread gets than the rest of
// the process: under contention the kernel then gives Argon2id about a tenth of what the voice
// line, the other requests and PostgreSQL on the same machine get (CFS weights 110 vs 1024).
const hashNiceness = 10

// lowerThreadPriority lowers the calling OS thread's priority (Linux keeps a nice value per
// thread). Best effort: a thread already as low as it may go stays as it is.
func lowerThreadPriority() {
	tid := syscall.Gettid()
	cur, err := syscall.Getpriority(syscall.PRIO_PROCESS, tid)
	if err != nil {
		return
	}
	// The raw getpriority reports 20 - nice.
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, tid, min(20-cur+hashNiceness, 19))
}
