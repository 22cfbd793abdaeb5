// A growable array that leaves new elements uninitialised. std::vector::resize zero-fills, which for the coder's
// per-symbol buffers is a whole extra pass over memory that is overwritten right after.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <type_traits>

namespace rcodec {

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
            const size_t capacity = std::max(n, 2 * capacity_);
            std::unique_ptr<T[]> grown(new T[capacity]);  // default-initialised: no zeroing
            if (size_) std::memcpy(grown.get(), data_.get(), size_ * sizeof(T));
            data_ = std::move(grown);
            capacity_ = capacity;
        }
        size_ = n;
    }

private:
    std::unique_ptr<T[]> data_;
    size_t size_ = 0, capacity_ = 0;
};

}  // namespace rcodec
