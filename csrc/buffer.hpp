// A growable array that leaves new elements uninitialised, on huge pages when large.
//
// std::vector::resize zero-fills, which for the coder's per-symbol buffers is a whole extra pass over memory that
// is overwritten right after. And on first touch every 4 KiB page of a fresh allocation costs a page fault
// (measured at about 2 us each in a VM, i.e. ~2 ns per coded symbol for a uint32 per symbol): large buffers are
// 2 MiB-aligned and advised as transparent huge pages, as numpy does for its arrays.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <type_traits>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace rcodec {

namespace detail {

constexpr size_t kHugePage = size_t{1} << 21;

inline void* allocate_bytes(size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (bytes >= 2 * kHugePage) {
        const size_t rounded = (bytes + kHugePage - 1) & ~(kHugePage - 1);
        if (void* p = std::aligned_alloc(kHugePage, rounded)) {
            madvise(p, rounded, MADV_HUGEPAGE);  // a hint: failure only costs speed
            return p;
        }
    }
#endif
    void* p = std::malloc(bytes ? bytes : 1);
    if (!p) throw std::bad_alloc();
    return p;
}

struct FreeDeleter {
    void operator()(void* p) const { std::free(p); }
};

}  // namespace detail

template <class T>
class RawArray {
    static_assert(std::is_trivially_copyable<T>::value, "RawArray holds plain data only");

public:
    RawArray() = default;
    explicit RawArray(size_t n) { resize(n); }

    size_t size() const { return size_; }
    T* data() { return data_.get(); }
    const T* data() const { return data_.get(); }

    void resize(size_t n) {
        if (n > capacity_) {
            if (n > SIZE_MAX / sizeof(T) / 2) throw std::bad_alloc();
            const size_t capacity = std::max(n, 2 * capacity_);
            std::unique_ptr<T, detail::FreeDeleter> grown(static_cast<T*>(detail::allocate_bytes(capacity * sizeof(T))));
            if (size_) std::memcpy(grown.get(), data_.get(), size_ * sizeof(T));
            data_ = std::move(grown);
            capacity_ = capacity;
        }
        size_ = n;
    }

private:
    std::unique_ptr<T, detail::FreeDeleter> data_;
    size_t size_ = 0, capacity_ = 0;
};

}  // namespace rcodec
