// Token amounts as text: "12.5" tokens <-> 12'500'000 micro-tokens, exactly,
// with no floating point anywhere.
#pragma once

#include <string>

#include "common/job_spec.h"
#include "common/status.h"

namespace gm {

// Parses a non-negative decimal amount of tokens with at most 6 decimals.
// `what` names the value in error messages ("--price").
Result<Micros> ParseTokens(const std::string& text, const std::string& what);

// Formats micro-tokens as a decimal with 6 decimals: "12.500000", "-0.000001".
std::string FormatTokens(Micros micros);

}  // namespace gm
