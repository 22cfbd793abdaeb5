// rcodec.plugins.lossless._lpc: the one sequential loop of the lossless audio decoder.
//
// x[n] = r[n] + ((sum_j c[j] * x[n-1-j]) >> shift) depends on the samples just restored, so it cannot be
// vectorised in numpy. Samples are clamped to the int32 range, which keeps every product and sum inside int64
// (|c| < 2^15, order <= 32) even for hostile input; valid streams never reach the clamp.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <vector>

namespace py = pybind11;

namespace {

constexpr int kMaxOrder = 32;
constexpr int kMaxShift = 31;
constexpr int64_t kSampleMin = INT32_MIN;
constexpr int64_t kSampleMax = INT32_MAX;

using I64Array = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;

py::array_t<int64_t> restore(I64Array residual, I64Array coefs, int shift, I64Array history) {
    const auto order = static_cast<int>(coefs.size());
    if (order > kMaxOrder || shift < 0 || shift > kMaxShift) throw std::invalid_argument("LPC order or shift out of range");
    if (history.size() < order) throw std::invalid_argument("LPC history shorter than the order");
    for (int j = 0; j < order; ++j) {
        if (coefs.data()[j] < -(1 << 15) || coefs.data()[j] >= (1 << 15)) throw std::invalid_argument("LPC coefficient out of range");
    }
    const auto n = residual.size();
    py::array_t<int64_t> out(n);
    const int64_t* r = residual.data();
    const int64_t* c = coefs.data();
    int64_t* x = out.mutable_data();
    // Work buffer: the last `order` samples before the block, then the block itself.
    std::vector<int64_t> buf(static_cast<size_t>(order + n));
    const int64_t* h = history.data() + (history.size() - order);
    for (int j = 0; j < order; ++j) buf[j] = std::clamp<int64_t>(h[j], kSampleMin, kSampleMax);
    {
        py::gil_scoped_release release;
        for (py::ssize_t i = 0; i < n; ++i) {
            int64_t acc = 0;
            const int64_t* past = buf.data() + order + i - 1;  // x[i-1]
            for (int j = 0; j < order; ++j) acc += c[j] * past[-j];
            const int64_t rv = std::clamp<int64_t>(r[i], -(int64_t{1} << 56), int64_t{1} << 56);
            const int64_t value = std::clamp<int64_t>(rv + (acc >> shift), kSampleMin, kSampleMax);
            buf[order + i] = value;
            x[i] = value;
        }
    }
    return out;
}

}  // namespace

PYBIND11_MODULE(_lpc, m) {
    m.doc() = "Integer LPC synthesis for the lossless audio codec";
    m.def("restore", &restore, py::arg("residual"), py::arg("coefs"), py::arg("shift"), py::arg("history"),
          "Invert the integer LPC residual: x[n] = r[n] + ((sum_j coefs[j] * x[n-1-j]) >> shift).");
}
