// Coding of a frame's quantized DCT coefficients with context models learned while coding: every value is
// decomposed into binary decisions whose probabilities come from adaptive counters in several contexts (the
// neighbouring blocks' coefficients at the same frequency, the block's own already-coded coefficients, its count
// of nonzeros, the quantizer), mixed by an online logistic mixer and coded with a binary arithmetic coder.
// Integer arithmetic throughout: the same bytes decode to the same coefficients on every machine.
#pragma once

#include <cstdint>
#include <vector>

#include "format.hpp"

namespace jpegcm {

std::vector<uint8_t> encode_coefficients(const Frame& frame);

// Fills the (zeroed) coefficient arrays of `frame`. Reading past the end of `data` reads zeros: damaged data
// decodes to wrong coefficients (caught by the file hash), never to unbounded work.
void decode_coefficients(const uint8_t* data, size_t size, Frame& frame);

}  // namespace jpegcm
