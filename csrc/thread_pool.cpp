#include "thread_pool.hpp"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace ev {
namespace {

class Pool {
public:
    explicit Pool(int workers) {
        for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { worker(); });
        for (auto& t : threads_) t.detach();  // the pool lives until exit
    }

    int workers() const { return int(threads_.size()); }

    // Returns false if another job holds the pool.
    bool try_run(int n, int threads, const std::function<void(int)>& fn) {
        std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
        if (!busy.owns_lock()) return false;
        {
            std::lock_guard<std::mutex> lk(m_);
            fn_ = &fn;
            n_ = n;
            next_.store(0);
            slots_ = threads - 1;
            active_ = 0;
            error_ = nullptr;
            ++gen_;
        }
        cv_.notify_all();
        drain(fn, n);
        std::exception_ptr err;
        {
            std::unique_lock<std::mutex> lk(m_);
            slots_ = 0;
            done_.wait(lk, [this] { return active_ == 0; });
            err = error_;
            fn_ = nullptr;
        }
        if (err) std::rethrow_exception(err);
        return true;
    }

private:
    void drain(const std::function<void(int)>& fn, int n) {
        for (int i; (i = next_.fetch_add(1)) < n;) {
            try {
                fn(i);
            } catch (...) {
                std::lock_guard<std::mutex> lk(m_);
                if (!error_) error_ = std::current_exception();
            }
        }
    }

    void worker() {
        uint64_t seen = 0;
        std::unique_lock<std::mutex> lk(m_);
        for (;;) {
            cv_.wait(lk, [&] { return gen_ != seen; });
            seen = gen_;
            if (slots_ <= 0 || fn_ == nullptr) continue;
            --slots_;
            ++active_;
            const std::function<void(int)>* fn = fn_;
            const int n = n_;
            lk.unlock();
            drain(*fn, n);
            lk.lock();
            if (--active_ == 0) done_.notify_all();
        }
    }

    std::mutex busy_;
    std::mutex m_;
    std::condition_variable cv_, done_;
    uint64_t gen_ = 0;
    const std::function<void(int)>* fn_ = nullptr;
    int n_ = 0;
    std::atomic<int> next_{0};
    int slots_ = 0;
    int active_ = 0;
    std::exception_ptr error_;
    std::vector<std::thread> threads_;
};

std::mutex g_pool_mu;
Pool* g_pool = nullptr;

// fork() copies only the calling thread: the child must not inherit g_pool_mu
// locked, and the parent's workers do not exist there. The old pool object is
// abandoned in the child on purpose (its own mutexes may be held).
void atfork_prepare() { g_pool_mu.lock(); }
void atfork_parent() { g_pool_mu.unlock(); }
void atfork_child() {
    g_pool = nullptr;
    g_pool_mu.unlock();
}

Pool* get_pool() {
    static const int registered = pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
    (void)registered;
    std::lock_guard<std::mutex> lk(g_pool_mu);
    if (g_pool == nullptr) g_pool = new Pool(hardware_threads() - 1);
    return g_pool;
}

}  // namespace

int hardware_threads() {
    static const int n = std::max(1u, std::thread::hardware_concurrency());
    return int(n);
}

void parallel_for(int n, int threads, const std::function<void(int)>& fn) {
    threads = std::min(std::min(threads, n), hardware_threads());
    if (threads > 1 && get_pool()->try_run(n, threads, fn)) return;
    for (int i = 0; i < n; ++i) fn(i);
}

}  // namespace ev
