// rcodec._native: Python bindings for the native bitstream and entropy coding layer.
//
// Arrays cross as numpy buffers without copies where the dtype and layout already fit; the GIL is released
// while coding, hashing and converting.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <memory>
#include <mutex>
#include <string>

#include "checksum.hpp"
#include "errors.hpp"
#include "rans.hpp"
#include "varint.hpp"

namespace py = pybind11;
using namespace rcodec;

namespace {

using I32Array = py::array_t<int32_t, py::array::c_style | py::array::forcecast>;
using U64Array = py::array_t<uint64_t, py::array::c_style | py::array::forcecast>;

// A contiguous read-only view of any bytes-like object (bytes, bytearray, memoryview, numpy array).
struct ByteView {
    py::buffer_info info;
    explicit ByteView(const py::buffer& b) : info(b.request()) {
        if (!PyBuffer_IsContiguous(info.view(), 'C')) throw py::value_error("buffer must be contiguous");
    }
    const uint8_t* data() const { return static_cast<const uint8_t*>(info.ptr); }
    size_t size() const { return static_cast<size_t>(info.size * info.itemsize); }
};

const int32_t* optional_indexes(const py::object& indexes, I32Array& holder, size_t n) {
    if (indexes.is_none()) return nullptr;
    holder = I32Array::ensure(indexes);
    if (!holder) throw py::type_error("indexes must be an integer array");
    if (static_cast<size_t>(holder.size()) != n) throw py::value_error("values and indexes differ in length");
    return holder.data();
}

std::shared_ptr<RansTables> make_tables(const I32Array& cdf, const I32Array& lengths, const I32Array& offsets,
                                        int precision, bool escape) {
    if (cdf.ndim() != 2 || lengths.ndim() != 1 || offsets.ndim() != 1 || lengths.shape(0) != cdf.shape(0) ||
        offsets.shape(0) != cdf.shape(0))
        throw py::value_error("CDF table arrays have inconsistent shapes");
    return std::make_shared<RansTables>(cdf.data(), cdf.shape(0), cdf.shape(1), lengths.data(), offsets.data(),
                                        precision, escape);
}

class PyEncoder {
public:
    void push(const std::shared_ptr<RansTables>& tables, const I32Array& values, const py::object& indexes) {
        I32Array holder;
        const size_t n = static_cast<size_t>(values.size());
        const int32_t* idx = optional_indexes(indexes, holder, n);
        py::gil_scoped_release release;
        std::lock_guard<std::mutex> lock(mutex_);
        encoder_.push(tables, values.data(), idx, n);
    }

    py::bytes finish() {
        py::object result;  // declared first so it is released with the GIL held
        {
            py::gil_scoped_release release;
            std::lock_guard<std::mutex> lock(mutex_);
            // The stream is written straight into the bytes object: no intermediate buffer or copy.
            encoder_.finish([&result](size_t size) {
                py::gil_scoped_acquire acquire;
                PyObject* bytes = PyBytes_FromStringAndSize(nullptr, static_cast<py::ssize_t>(size));
                if (bytes == nullptr) {
                    PyErr_Clear();
                    throw std::bad_alloc();
                }
                result = py::reinterpret_steal<py::object>(bytes);
                return reinterpret_cast<uint8_t*>(PyBytes_AS_STRING(bytes));
            });
        }
        return py::reinterpret_borrow<py::bytes>(result);
    }

    void push_ranges(const py::array_t<uint32_t, py::array::c_style | py::array::forcecast>& start,
                     const py::array_t<uint32_t, py::array::c_style | py::array::forcecast>& freq, int precision) {
        if (start.ndim() != 1 || freq.ndim() != 1 || start.shape(0) != freq.shape(0))
            throw py::value_error("start and freq must be 1-D arrays of the same length");
        py::gil_scoped_release release;
        std::lock_guard<std::mutex> lock(mutex_);
        encoder_.push_ranges(start.data(), freq.data(), static_cast<size_t>(start.shape(0)), precision);
    }

    size_t symbols() const { return encoder_.symbols(); }

private:
    RansEncoder encoder_;
    std::mutex mutex_;  // one call at a time even if Python threads share the object
};

class PyDecoder {
public:
    explicit PyDecoder(py::bytes data)
        : data_(std::move(data)),
          decoder_(reinterpret_cast<const uint8_t*>(PyBytes_AS_STRING(data_.ptr())),
                   static_cast<size_t>(PyBytes_GET_SIZE(data_.ptr()))) {}

    py::array_t<int32_t> decode(const RansTables& tables, const py::object& indexes, py::ssize_t count) {
        I32Array holder;
        const int32_t* idx = nullptr;
        size_t n;
        if (indexes.is_none()) {
            if (count < 0) throw py::value_error("decode needs indexes or a non-negative count");
            n = static_cast<size_t>(count);
        } else {
            holder = I32Array::ensure(indexes);
            if (!holder) throw py::type_error("indexes must be an integer array");
            n = static_cast<size_t>(holder.size());
            idx = holder.data();
        }
        py::array_t<int32_t> out(static_cast<py::ssize_t>(n));
        int32_t* dst = out.mutable_data();
        {
            py::gil_scoped_release release;
            std::lock_guard<std::mutex> lock(mutex_);
            decoder_.decode(tables, idx, n, dst);
        }
        return out;
    }

    py::array_t<int32_t> decode_rows(const I32Array& cdf, int precision) {
        if (cdf.ndim() != 2) throw py::value_error("cdf must be a (symbols, width) array");
        const size_t n = static_cast<size_t>(cdf.shape(0));
        py::array_t<int32_t> out(static_cast<py::ssize_t>(n));
        int32_t* dst = out.mutable_data();
        {
            py::gil_scoped_release release;
            std::lock_guard<std::mutex> lock(mutex_);
            decoder_.decode_rows(cdf.data(), static_cast<size_t>(cdf.shape(1)), n, precision, dst);
        }
        return out;
    }

    bool exhausted() {
        std::lock_guard<std::mutex> lock(mutex_);
        return decoder_.exhausted();
    }
    int lanes() const { return decoder_.lanes(); }

private:
    py::bytes data_;  // keeps the bytes the decoder reads alive and immutable
    RansDecoder decoder_;
    std::mutex mutex_;
};

}  // namespace

PYBIND11_MODULE(_native, m) {
    m.doc() = "rcodec native layer: bit I/O, varints, checksums and interleaved rANS";
    m.attr("ABI_VERSION") = 1;
    m.attr("RANS_MAX_LANES") = kMaxLanes;
    m.attr("RANS_MAX_PRECISION") = kMaxPrecision;

    static py::exception<FormatError> format_error(m, "FormatError", PyExc_ValueError);
    format_error.doc() = "Compressed bytes that cannot be decoded (truncated, damaged or hostile).";
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const FormatError& e) {
            py::set_error(format_error, e.what());
        }
    });

    m.def(
        "crc32",
        [](const py::buffer& data, uint32_t init) {
            ByteView v(data);
            py::gil_scoped_release release;
            return crc32(v.data(), v.size(), init);
        },
        py::arg("data"), py::arg("init") = 0, "CRC32 of a bytes-like object, equal to zlib.crc32(data, init).");
    m.def(
        "xxh64",
        [](const py::buffer& data, uint64_t seed) {
            ByteView v(data);
            py::gil_scoped_release release;
            return xxh64(v.data(), v.size(), seed);
        },
        py::arg("data"), py::arg("seed") = 0, "XXH64 of a bytes-like object, equal to xxhash.xxh64_intdigest.");

    m.def(
        "varint_encode",
        [](const U64Array& values) {
            std::vector<uint8_t> out;
            {
                py::gil_scoped_release release;
                out.reserve(static_cast<size_t>(values.size()) * 2);
                for (py::ssize_t i = 0; i < values.size(); ++i) varint_append(out, values.data()[i]);
            }
            return py::bytes(reinterpret_cast<const char*>(out.data()), out.size());
        },
        py::arg("values"), "LEB128 encoding of an array of unsigned 64-bit integers.");
    m.def(
        "varint_decode_from",
        [](const py::buffer& data, py::ssize_t count, py::ssize_t offset) {
            ByteView v(data);
            if (count < 0) throw py::value_error("count must be non-negative");
            if (offset < 0 || static_cast<size_t>(offset) > v.size()) throw py::value_error("offset out of range");
            // Each varint takes at least one byte: refuse before allocating for a count the data cannot hold.
            if (static_cast<size_t>(count) > v.size() - static_cast<size_t>(offset))
                throw FormatError("truncated varint");
            U64Array out(count);
            uint64_t* dst = out.mutable_data();
            const uint8_t* p = v.data() + offset;
            {
                py::gil_scoped_release release;
                for (py::ssize_t i = 0; i < count; ++i) dst[i] = varint_read(p, v.data() + v.size());
            }
            return py::make_tuple(out, static_cast<py::ssize_t>(p - v.data()));
        },
        py::arg("data"), py::arg("count"), py::arg("offset") = 0,
        "Reads `count` varints starting at `offset`: (uint64 array, offset after the last one).");
    m.def(
        "varint_decode",
        [](const py::buffer& data, py::ssize_t count) {
            ByteView v(data);
            if (count < 0) throw py::value_error("count must be non-negative");
            if (static_cast<size_t>(count) > v.size()) throw FormatError("truncated varint");
            U64Array out(count);
            uint64_t* dst = out.mutable_data();
            const uint8_t* p = v.data();
            {
                py::gil_scoped_release release;
                for (py::ssize_t i = 0; i < count; ++i) dst[i] = varint_read(p, v.data() + v.size());
            }
            return out;
        },
        py::arg("data"), py::arg("count"), "The first `count` varints of `data` as a uint64 array.");

    py::class_<RansTables, std::shared_ptr<RansTables>>(m, "RansTables",
                                                        "A validated native copy of a CdfTables set.")
        .def(py::init(&make_tables), py::arg("cdf"), py::arg("lengths"), py::arg("offsets"), py::arg("precision"),
             py::arg("escape"))
        .def_property_readonly("count", &RansTables::count)
        .def_property_readonly("precision", &RansTables::precision)
        .def_property_readonly("escape", &RansTables::escape)
        .def_property_readonly("lut_bits", &RansTables::lut_bits);

    py::class_<PyEncoder>(m, "RansEncoder", "Queues calls; finish() codes them into one self-delimiting stream.")
        .def(py::init<>())
        .def("push", &PyEncoder::push, py::arg("tables"), py::arg("values"), py::arg("indexes") = py::none())
        .def("push_ranges", &PyEncoder::push_ranges, py::arg("start"), py::arg("freq"), py::arg("precision"),
             "Queue symbols given by their ranges [start, start + freq) of 2**precision (one model per symbol).")
        .def("finish", &PyEncoder::finish)
        .def_property_readonly("symbols", &PyEncoder::symbols);

    py::class_<PyDecoder>(m, "RansDecoder", "Decodes a stream call by call, in the order it was encoded.")
        .def(py::init<py::bytes>(), py::arg("data"))
        .def("decode", &PyDecoder::decode, py::arg("tables"), py::arg("indexes") = py::none(),
             py::arg("count") = -1)
        .def("decode_rows", &PyDecoder::decode_rows, py::arg("cdf"), py::arg("precision"),
             "The next cdf.shape[0] symbols, symbol i decoded with its own CDF row cdf[i] (push_ranges' counterpart).")
        .def_property_readonly("exhausted", &PyDecoder::exhausted)
        .def_property_readonly("lanes", &PyDecoder::lanes);
}
