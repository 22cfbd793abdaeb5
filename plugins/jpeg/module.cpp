// rcodec.plugins.jpeg._jpegcm: exact JPEG recompression kernels (parse + verify + model, and the inverse).
#include <pybind11/pybind11.h>

#include <cstring>
#include <string>
#include <vector>

#include "format.hpp"
#include "model.hpp"

namespace py = pybind11;

namespace {

std::string as_string(const py::bytes& b) { return std::string(b); }

py::bytes to_bytes(const std::vector<uint8_t>& v) {
    return py::bytes(reinterpret_cast<const char*>(v.data()), v.size());
}

// Parse a JPEG file, check that re-encoding its coefficients gives back every byte, and code the coefficients.
// Returns (skeleton, coded coefficients, facts). Raises Unsupported for anything not reproduced exactly.
py::tuple analyze(const py::bytes& data) {
    std::string in = as_string(data);
    jpegcm::Frame frame;
    std::vector<uint8_t> skeleton, coded;
    {
        py::gil_scoped_release release;
        const auto* d = reinterpret_cast<const uint8_t*>(in.data());
        jpegcm::parse(d, in.size(), frame, skeleton);
        std::vector<uint8_t> rebuilt;
        try {
            rebuilt = jpegcm::rebuild(skeleton.data(), skeleton.size(), frame, in.size());
        } catch (const jpegcm::Corrupt& e) {
            throw jpegcm::Unsupported(std::string("re-encoding fails: ") + e.what());
        }
        if (rebuilt.size() != in.size() || std::memcmp(rebuilt.data(), d, in.size()) != 0)
            throw jpegcm::Unsupported("re-encoding the coefficients does not reproduce the file");
        coded = jpegcm::encode_coefficients(frame);
    }
    py::dict facts;
    facts["width"] = frame.width;
    facts["height"] = frame.height;
    facts["components"] = int(frame.comps.size());
    facts["progressive"] = frame.progressive;
    return py::make_tuple(to_bytes(skeleton), to_bytes(coded), facts);
}

// The inverse of analyze: the original file from the skeleton and the coded coefficients. `file_size` is the
// original's size (from the container header): it bounds memory, work and output.
py::bytes restore(const py::bytes& skeleton, const py::bytes& coded, size_t file_size) {
    std::string skel = as_string(skeleton), cm = as_string(coded);
    std::vector<uint8_t> out;
    {
        py::gil_scoped_release release;
        jpegcm::Frame frame;
        const auto* s = reinterpret_cast<const uint8_t*>(skel.data());
        jpegcm::read_frame(s, skel.size(), file_size, frame);
        jpegcm::decode_coefficients(reinterpret_cast<const uint8_t*>(cm.data()), cm.size(), frame);
        out = jpegcm::rebuild(s, skel.size(), frame, file_size);
    }
    return to_bytes(out);
}

}  // namespace

PYBIND11_MODULE(_jpegcm, m) {
    m.doc() = "Exact JPEG recompression: Huffman-coded JPEG <-> skeleton + context-modelled DCT coefficients";
    py::register_exception<jpegcm::Unsupported>(m, "Unsupported", PyExc_ValueError);
    py::register_exception<jpegcm::Corrupt>(m, "Corrupt", PyExc_ValueError);
    m.def("analyze", &analyze, py::arg("data"));
    m.def("restore", &restore, py::arg("skeleton"), py::arg("coded"), py::arg("file_size"));
}
