// rcodec._native: Python bindings for the native bitstream and entropy coding layer.
#include <pybind11/pybind11.h>

namespace py = pybind11;

PYBIND11_MODULE(_native, m) {
    m.doc() = "rcodec native layer: bit I/O, varints, checksums and interleaved rANS";
    m.attr("ABI_VERSION") = 1;
}
