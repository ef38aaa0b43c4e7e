// A small persistent thread pool for splitting rows and images.
#pragma once

#include <functional>

namespace ev {

// Number of hardware threads (at least 1).
int hardware_threads();

// Runs fn(i) for every i in [0, n) on up to `threads` threads, the calling
// thread included, and returns when all are done. Safe to call from several
// threads at once: a call that finds the pool busy runs on its own thread.
// Safe after fork(): the child builds a fresh pool. An exception thrown by
// fn is rethrown in the caller.
void parallel_for(int n, int threads, const std::function<void(int)>& fn);

}  // namespace ev
