// libFuzzer harness for the JPEG recompression kernel (plugins/jpeg), linked without Python; see README.md.
//
// The first input byte picks a mode. Mode 0 treats the rest as a JPEG file: parsing may only succeed or throw
// Unsupported; when it succeeds, the rebuilt file must equal the input or throw (that is the encoder's check),
// and the coded coefficients must decode back to a file equal to the input. Mode 1 splits the rest into a
// hostile skeleton and coefficient stream and restores a "file" of an input-chosen size: only success or
// Corrupt is allowed, within the bounds. Anything else (a crash, a sanitizer report, another exception, a wrong
// round trip) is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "format.hpp"
#include "model.hpp"

using namespace jpegcm;

namespace {

void file_mode(const uint8_t* data, size_t size) {
    Frame frame;
    std::vector<uint8_t> skeleton;
    try {
        parse(data, size, frame, skeleton);
    } catch (const Unsupported&) {
        return;
    }
    std::vector<uint8_t> rebuilt;
    try {
        rebuilt = rebuild(skeleton.data(), skeleton.size(), frame, size);
    } catch (const Corrupt&) {
        return;  // not reproducible: the encoder stores such a file as it is
    }
    if (rebuilt.size() != size || std::memcmp(rebuilt.data(), data, size) != 0) return;
    std::vector<uint8_t> coded;
    try {
        coded = encode_coefficients(frame);
    } catch (const Unsupported&) {
        return;
    }
    Frame back;
    read_frame(skeleton.data(), skeleton.size(), size, back);
    decode_coefficients(coded.data(), coded.size(), back);
    std::vector<uint8_t> restored = rebuild(skeleton.data(), skeleton.size(), back, size);
    if (restored != rebuilt) std::abort();
}

void hostile_mode(const uint8_t* data, size_t size) {
    if (size < 6) return;
    size_t file_size = (size_t(data[0]) << 16 | size_t(data[1]) << 8 | data[2]) + 1;
    size_t split = (size_t(data[3]) << 8 | data[4]) % (size - 5);
    const uint8_t* skel = data + 5;
    try {
        Frame frame;
        read_frame(skel, split, file_size, frame);
        decode_coefficients(skel + split, size - 5 - split, frame);
        std::vector<uint8_t> out = rebuild(skel, split, frame, file_size);
        if (out.size() > file_size) std::abort();
    } catch (const Corrupt&) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    if (data[0] & 1)
        hostile_mode(data + 1, size - 1);
    else
        file_mode(data + 1, size - 1);
    return 0;
}

#ifdef FUZZ_STANDALONE
// Without libFuzzer (g++ with sanitizers): run each file named on the command line once.
#include <fstream>
#include <iterator>

int main(int argc, char** argv) {
    for (int i = 1; i < argc; i++) {
        std::ifstream in(argv[i], std::ios::binary);
        std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
    }
    return 0;
}
#endif
