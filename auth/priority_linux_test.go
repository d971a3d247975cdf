package auth

import (
	"runtime"
	"syscall"
	"testing"
)

// A hash's thread runs at a lower priority than the process's other threads, and the calling
// thread keeps its own.
func TestHashThreadRunsAtALowerPriority(t *testing.T) {
	nice := func() int {
		p, err := syscall.Getpriority(syscall.PRIO_PROCESS, syscall.Gettid())
		if err != nil {
			t.Fatal(err)
		}
		return 20 - p
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := nice()
	got := make(chan int, 1)
	go func() {
		runtime.LockOSThread()
		lowerThreadPriority()
		got <- nice()
	}()
	if n := <-got; n != min(before+hashNiceness, 19) {
		t.Errorf("hash thread nice %d, want %d", n, min(before+hashNiceness, 19))
	}
	if n := nice(); n != before {
		t.Errorf("the caller's thread changed priority: nice %d, was %d", n, before)
	}
}
